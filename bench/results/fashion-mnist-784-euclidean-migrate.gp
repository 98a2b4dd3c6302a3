# drawn by shoal-bench; redraw with: cd /work/main/bench/results && gnuplot fashion-mnist-784-euclidean-migrate.gp
set terminal pngcairo size 1000,650
set termoption noenhanced
set output 'fashion-mnist-784-euclidean-migrate-latency.png'
set title "fashion-mnist-784-euclidean: latency while a tenant moves (0 = move started)"
set xlabel 'seconds from the start of the move'
set ylabel 'latency ms (log)'
set logscale y
set grid
set key top left
set arrow from 0.001, graph 0 to 0.001, graph 1 nohead lc rgb '#888888' dt 2
set label 'creating' at 0.001, graph 0.97 rotate by 90 right font ',9'
set arrow from 0.052, graph 0 to 0.052, graph 1 nohead lc rgb '#888888' dt 2
set label 'copying' at 0.052, graph 0.97 rotate by 90 right font ',9'
set arrow from 7.320, graph 0 to 7.320, graph 1 nohead lc rgb '#888888' dt 2
set label 'cutover' at 7.320, graph 0.97 rotate by 90 right font ',9'
set arrow from 8.135, graph 0 to 8.135, graph 1 nohead lc rgb '#888888' dt 2
set label 'cleanup' at 8.135, graph 0.97 rotate by 90 right font ',9'
set arrow from 10.178, graph 0 to 10.178, graph 1 nohead lc rgb '#888888' dt 2
set label 'done' at 10.178, graph 0.97 rotate by 90 right font ',9'
plot 'fashion-mnist-784-euclidean-migrate-searches.dat' using 1:2 with points pt 7 ps 0.3 lc rgb '#1f77b4' title 'search', 'fashion-mnist-784-euclidean-migrate-writes.dat' using 1:2 with points pt 5 ps 0.5 lc rgb '#d62728' title 'upsert (10 points)'
unset output
