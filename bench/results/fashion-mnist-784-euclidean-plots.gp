# drawn by shoal-bench; redraw with: cd /tmp/bench-out && gnuplot fashion-mnist-784-euclidean-plots.gp
set terminal pngcairo size 1000,650
set termoption noenhanced
set output 'fashion-mnist-784-euclidean-recall-qps-c1.png'
set title "fashion-mnist-784-euclidean: recall@10 vs QPS, 1 client (up and right is better)"
set xlabel 'recall@10'
set ylabel 'queries per second'
set logscale y
set grid
set key bottom left
set xrange [*:1.0]
plot 'fashion-mnist-784-euclidean-shoal-c1.dat' using 1:2 with linespoints lw 2 lc rgb '#1f77b4' pt 7 title 'shoal', 'fashion-mnist-784-euclidean-pgvector-c1.dat' using 1:2 with linespoints lw 2 lc rgb '#d62728' pt 5 title 'pgvector', 'fashion-mnist-784-euclidean-faiss-c1.dat' using 1:2 with linespoints lw 2 lc rgb '#2ca02c' pt 9 title 'faiss', 'fashion-mnist-784-euclidean-worker-c1.dat' using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' pt 11 title 'worker'
unset output
set terminal pngcairo size 1000,650
set termoption noenhanced
set output 'fashion-mnist-784-euclidean-recall-qps-c4.png'
set title "fashion-mnist-784-euclidean: recall@10 vs QPS, 4 clients (up and right is better)"
set xlabel 'recall@10'
set ylabel 'queries per second'
set logscale y
set grid
set key bottom left
set xrange [*:1.0]
plot 'fashion-mnist-784-euclidean-shoal-c4.dat' using 1:2 with linespoints lw 2 lc rgb '#1f77b4' pt 7 title 'shoal', 'fashion-mnist-784-euclidean-pgvector-c4.dat' using 1:2 with linespoints lw 2 lc rgb '#d62728' pt 5 title 'pgvector', 'fashion-mnist-784-euclidean-faiss-c4.dat' using 1:2 with linespoints lw 2 lc rgb '#2ca02c' pt 9 title 'faiss', 'fashion-mnist-784-euclidean-worker-c4.dat' using 1:2 with linespoints lw 2 lc rgb '#ff7f0e' pt 11 title 'worker'
unset output
