# params.gp - trainable parameters (log x) vs average accuracy, one labelled point per method (the paper's
# Figure 1 style; Mona in red), with the paper's points (backbone %) as hollow black circles where it gives both numbers.
# Variables: term, outfile, datafile, plottitle, subtitle, ylabel, npoints (points with data; 0 = none yet).
width = 1000; height = 640
load scriptdir.'/common.gp'
set title plottitle."\n{/*0.8 ".subtitle."}"
set xlabel 'trainable parameters (% of the model, log scale)'
set ylabel ylabel
set logscale x
set grid lc rgb '#dddddd'
set key bottom right box opaque
set offsets graph 0.08, graph 0.15, graph 0.08, graph 0.08
if (npoints == 0) {
    set label 1 'no method has a value on every dataset yet' at graph 0.5, graph 0.5 center
    set xrange [0.01:100]; set yrange [0:100]
    unset key
}
plot datafile using 2:3 with points pt 7 ps 1.8 lc rgb '#0072B2' title 'ours (whole model incl. head)', \
     '' using 2:(strcol(6) eq 'Mona' ? column(3) : NaN) with points pt 7 ps 1.8 lc rgb '#D55E00' notitle, \
     '' using 2:3:6 with labels offset char 0.8,0.9 left font ',10' notitle, \
     '' using 4:5 with points pt 6 ps 2.2 lw 2 lc rgb '#000000' title 'paper (backbone %)', \
     '' using 4:5:6 with labels offset char 0.8,-0.9 left font ',10' tc rgb '#555555' notitle
