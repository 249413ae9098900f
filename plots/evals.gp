# evals.gp - the headline metric at each evaluation against the iteration, one line per method (as the authors'
# ADE20K logs report mIoU every 16k iterations); Mona thicker.
# Variables: term, outfile, datafile, titles (space-separated method labels, one per block), nblocks, ylab,
# plottitle, subtitle.
width = 1100; height = 620
load scriptdir.'/common.gp'
set title plottitle."\n{/*0.8 ".subtitle."}"
set xlabel 'iteration'
set ylabel ylab
set grid lc rgb '#dddddd'
set key outside right top vertical
if (nblocks == 0) {
    set label 1 'no evaluations in the results file' at graph 0.5, graph 0.5 center
    set xrange [0:1]; set yrange [0:1]
    plot NaN notitle
} else {
    plot for [b=0:nblocks-1] datafile index b using 1:2 with linespoints pt 7 ps 0.8 lw (word(titles, b+1) eq 'Mona' ? 3.5 : 1.8) lc rgb palette[(b % 12)+1] title word(titles, b+1)
}
