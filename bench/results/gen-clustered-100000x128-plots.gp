# drawn by shoal-bench; redraw with: cd /tmp/bench-out && gnuplot gen-clustered-100000x128-plots.gp
set terminal pngcairo size 1000,650
set termoption noenhanced
set output 'gen-clustered-100000x128-recall-qps-c1.png'
set title "gen-clustered-100000x128: recall@10 vs QPS, 1 client (up and right is better)"
set xlabel 'recall@10'
set ylabel 'queries per second'
set logscale y
set grid
set key bottom left
set xrange [*:1.0]
plot 'gen-clustered-100000x128-shoal-c1.dat' using 1:2 with linespoints lw 2 lc rgb '#1f77b4' pt 7 title 'shoal', 'gen-clustered-100000x128-pgvector-c1.dat' using 1:2 with linespoints lw 2 lc rgb '#d62728' pt 5 title 'pgvector', 'gen-clustered-100000x128-faiss-c1.dat' using 1:2 with linespoints lw 2 lc rgb '#2ca02c' pt 9 title 'faiss', 'gen-clustered-100000x128-worker-c1.dat' using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' pt 11 title 'worker'
unset output
set terminal pngcairo size 1000,650
set termoption noenhanced
set output 'gen-clustered-100000x128-recall-qps-c4.png'
set title "gen-clustered-100000x128: recall@10 vs QPS, 4 clients (up and right is better)"
set xlabel 'recall@10'
set ylabel 'queries per second'
set logscale y
set grid
set key bottom left
set xrange [*:1.0]
plot 'gen-clustered-100000x128-shoal-c4.dat' using 1:2 with linespoints lw 2 lc rgb '#1f77b4' pt 7 title 'shoal', 'gen-clustered-100000x128-pgvector-c4.dat' using 1:2 with linespoints lw 2 lc rgb '#d62728' pt 5 title 'pgvector', 'gen-clustered-100000x128-faiss-c4.dat' using 1:2 with linespoints lw 2 lc rgb '#2ca02c' pt 9 title 'faiss', 'gen-clustered-100000x128-worker-c4.dat' using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' pt 11 title 'worker'
unset output
