# Plots for bench/run.sh: gnuplot -e "dir='OUT'" bench/plot.gp
# Reads OUT/latency.dat and OUT/throughput.dat (bench/harness.py), writes
# OUT/latency.svg and OUT/throughput.svg.
if (!exists("dir")) dir = "."
set terminal svg size 720,420 dynamic font "sans,12" background rgb "white"
set grid
set key top left

set output dir."/latency.svg"
set title "POST /image latency at concurrency 1 (winml-food-onnx, 2 cores)"
set xlabel "JPEG size (megapixels)"
set ylabel "latency (ms)"
set logscale y
set xtics ("320x240" 0.0768, "640x480" 0.3072, "1600x1200" 1.92)
set logscale x
plot dir."/latency.dat" using 2:3 with linespoints lw 2 pt 7 title "edgevision p50", \
     ""                 using 2:4 with linespoints lw 1 dt 2 pt 6 lc 1 title "edgevision p99", \
     ""                 using 2:5 with linespoints lw 2 pt 5 title "Node + ONNX Runtime p50", \
     ""                 using 2:6 with linespoints lw 1 dt 2 pt 4 lc 2 title "Node + ONNX Runtime p99", \
     ""                 using 2:7 with linespoints lw 2 pt 9 title "Flask + OpenCV DNN p50", \
     ""                 using 2:8 with linespoints lw 1 dt 2 pt 8 lc 3 title "Flask + OpenCV DNN p99"

set output dir."/throughput.svg"
set title "Throughput vs concurrency, 640x480 JPEG (winml-food-onnx, 2 cores)"
unset logscale
set logscale x 2
set xtics ("1" 1, "2" 2, "8" 8)
set xlabel "concurrent connections"
set ylabel "requests per second"
set yrange [0:*]
plot dir."/throughput.dat" using 1:2 with linespoints lw 2 pt 7 title "edgevision", \
     ""                    using 1:3 with linespoints lw 2 pt 5 title "Node + ONNX Runtime", \
     ""                    using 1:4 with linespoints lw 2 pt 9 title "Flask + OpenCV DNN"
