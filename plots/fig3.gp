# fig3.gp - the paper's Figure 3: training loss against iteration for Full, Fixed, Adapter, LoRA,
# AdaptFormer and Mona, drawn as mmdet's log plots are: one point per logging interval holding the mean
# loss of its iterations (solid, Mona thicker), the raw per-iteration loss faint beneath.
# Data: per method two blocks (2b raw, 2b+1 interval means). Variables: term, outfile, datafile, titles
# (space-separated labels, one per method), nblocks, interval, plottitle, subtitle.
width = 1100; height = 620
load scriptdir.'/common.gp'
set title plottitle."\n{/*0.8 ".subtitle." - lines: mean of each ".interval."-iteration logging interval}"
set xlabel 'iteration'
set ylabel 'training loss (loss\_cls + loss\_bbox)'
set grid lc rgb '#dddddd'
set key outside right top vertical
if (nblocks == 0) {
    set label 1 'no training curves of the six methods in the results file' at graph 0.5, graph 0.5 center
    set xrange [0:1]; set yrange [0:1]
    plot NaN notitle
} else {
    # the y range follows the interval means (single raw spikes, up to 10x the mean early on, would flatten them)
    ymax = 0
    do for [b=0:nblocks-1] {
        stats datafile index 2*b+1 using 2 nooutput
        if (STATS_max > ymax) { ymax = STATS_max }
    }
    set yrange [0:1.4*ymax]
    plot for [b=0:nblocks-1] datafile index 2*b using 1:2 with dots lc rgb palette[(b % 12)+1] notitle, \
         for [b=0:nblocks-1] datafile index 2*b+1 using 1:2 with lines lw (word(titles, b+1) eq 'Mona' ? 3.5 : 1.8) lc rgb palette[(b % 12)+1] title word(titles, b+1)
}
