# drawn by shoal-bench; redraw with: cd /tmp/bench-out && gnuplot gen-clustered-100000x128-migrate.gp
set terminal pngcairo size 1000,650
set termoption noenhanced
set output 'gen-clustered-100000x128-migrate-latency.png'
set title "gen-clustered-100000x128: latency while a tenant moves (0 = move started)"
set xlabel 'seconds from the start of the move'
set ylabel 'latency ms (log)'
set logscale y
set grid
set key top left
set arrow from 0.001, graph 0 to 0.001, graph 1 nohead lc rgb '#888888' dt 2
set label 'creating' at 0.001, graph 0.97 rotate by 90 right font ',9'
set arrow from 0.056, graph 0 to 0.056, graph 1 nohead lc rgb '#888888' dt 2
set label 'copying' at 0.056, graph 0.97 rotate by 90 right font ',9'
set arrow from 2.587, graph 0 to 2.587, graph 1 nohead lc rgb '#888888' dt 2
set label 'cutover' at 2.587, graph 0.97 rotate by 90 right font ',9'
set arrow from 2.788, graph 0 to 2.788, graph 1 nohead lc rgb '#888888' dt 2
set label 'cleanup' at 2.788, graph 0.97 rotate by 90 right font ',9'
set arrow from 4.798, graph 0 to 4.798, graph 1 nohead lc rgb '#888888' dt 2
set label 'done' at 4.798, graph 0.97 rotate by 90 right font ',9'
set arrow from 12.800, graph 0 to 12.800, graph 1 nohead lc rgb '#888888' dt 2
set label 'creating' at 12.800, graph 0.97 rotate by 90 right font ',9'
set arrow from 12.850, graph 0 to 12.850, graph 1 nohead lc rgb '#888888' dt 2
set label 'copying' at 12.850, graph 0.97 rotate by 90 right font ',9'
set arrow from 28.102, graph 0 to 28.102, graph 1 nohead lc rgb '#888888' dt 2
set label 'cutover' at 28.102, graph 0.97 rotate by 90 right font ',9'
set arrow from 28.354, graph 0 to 28.354, graph 1 nohead lc rgb '#888888' dt 2
set label 'cleanup' at 28.354, graph 0.97 rotate by 90 right font ',9'
set arrow from 30.365, graph 0 to 30.365, graph 1 nohead lc rgb '#888888' dt 2
set label 'done' at 30.365, graph 0.97 rotate by 90 right font ',9'
plot 'gen-clustered-100000x128-migrate-searches.dat' using 1:2 with points pt 7 ps 0.3 lc rgb '#1f77b4' title 'search', 'gen-clustered-100000x128-migrate-writes.dat' using 1:2 with points pt 5 ps 0.5 lc rgb '#d62728' title 'upsert (10 points)'
unset output
