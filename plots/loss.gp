# loss.gp - training loss against iteration, one line per method (the paper's Figure 3 style): the moving
# average (column 3) as a solid line (Mona thicker) over the raw logged loss (column 2) as faint dots.
# Variables: term, outfile, datafile, titles (space-separated method labels, one per block), nblocks,
# plottitle, subtitle.
width = 1100; height = 620
load scriptdir.'/common.gp'
set title plottitle."\n{/*0.8 ".subtitle." - lines: moving average of the logged loss}"
set xlabel 'iteration'
set ylabel 'training loss'
set grid lc rgb '#dddddd'
set key outside right top vertical
if (nblocks == 0) {
    set label 1 'no training curves in the results file' at graph 0.5, graph 0.5 center
    set xrange [0:1]; set yrange [0:1]
    plot NaN notitle
} else {
    plot for [b=0:nblocks-1] datafile index b using 1:2 with dots lc rgb palette[(b % 12)+1] notitle, \
         for [b=0:nblocks-1] datafile index b using 1:3 with lines lw (word(titles, b+1) eq 'Mona' ? 3.5 : 1.8) lc rgb palette[(b % 12)+1] title word(titles, b+1)
}
