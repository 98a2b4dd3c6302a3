# drawn by shoal-bench; redraw with: cd /tmp/bench-out && gnuplot fashion-mnist-784-euclidean-migrate.gp
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
set arrow from 10.947, graph 0 to 10.947, graph 1 nohead lc rgb '#888888' dt 2
set label 'cutover' at 10.947, graph 0.97 rotate by 90 right font ',9'
set arrow from 11.901, graph 0 to 11.901, graph 1 nohead lc rgb '#888888' dt 2
set label 'cleanup' at 11.901, graph 0.97 rotate by 90 right font ',9'
set arrow from 13.910, graph 0 to 13.910, graph 1 nohead lc rgb '#888888' dt 2
set label 'done' at 13.910, graph 0.97 rotate by 90 right font ',9'
set arrow from 21.913, graph 0 to 21.913, graph 1 nohead lc rgb '#888888' dt 2
set label 'creating' at 21.913, graph 0.97 rotate by 90 right font ',9'
set arrow from 21.963, graph 0 to 21.963, graph 1 nohead lc rgb '#888888' dt 2
set label 'copying' at 21.963, graph 0.97 rotate by 90 right font ',9'
set arrow from 91.902, graph 0 to 91.902, graph 1 nohead lc rgb '#888888' dt 2
set label 'cutover' at 91.902, graph 0.97 rotate by 90 right font ',9'
set arrow from 93.664, graph 0 to 93.664, graph 1 nohead lc rgb '#888888' dt 2
set label 'cleanup' at 93.664, graph 0.97 rotate by 90 right font ',9'
set arrow from 95.877, graph 0 to 95.877, graph 1 nohead lc rgb '#888888' dt 2
set label 'done' at 95.877, graph 0.97 rotate by 90 right font ',9'
plot 'fashion-mnist-784-euclidean-migrate-searches.dat' using 1:2 with points pt 7 ps 0.3 lc rgb '#1f77b4' title 'search', 'fashion-mnist-784-euclidean-migrate-writes.dat' using 1:2 with points pt 5 ps 0.5 lc rgb '#d62728' title 'upsert (10 points)'
unset output
