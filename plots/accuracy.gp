# accuracy.gp - grouped bars: the headline metric per method (x) and dataset (bar colour, last = average),
# with the paper's numbers as black diamonds where the paper gives one, and grey crosses where nothing was
# measured yet (missing run, or partial without a value); '*' over a bar = partial run.
# Variables (gnuplot -e): term, outfile, datafile (from `deltabench report plots`), groups (space-separated
# labels of the blocks), xticlist (gnuplot tic list: "Full" 0, "Fixed" 1, ...), nmethods, ngroups, plottitle, subtitle, ylabel,
# errbars (1: the file has several seeds, column 7 is the sd over them, drawn as error bars on the mean).
width = 1400; height = 560
load scriptdir.'/common.gp'
set title plottitle."\n{/*0.8 ".subtitle."; * = partial run}"
set ylabel ylabel
set xrange [-0.6:nmethods-0.4]
set yrange [0:105]
set ytics 10 nomirror
set grid ytics lc rgb '#dddddd'
set key outside right top vertical
set style fill solid 0.85 border lc rgb '#444444'
set boxwidth 0.8/ngroups
set xtics scale 0 nomirror
eval('set xtics ('.xticlist.')')
set border 3
if (!exists("errbars")) errbars = 0
if (errbars) {
plot for [g=0:ngroups-1] datafile index g using 2:3 with boxes lc rgb palette[g+1] title word(groups, g+1), \
     for [g=0:ngroups-1] datafile index g using 2:($3-$7):(0):(2*$7) with vectors heads size screen 0.004,90 lc rgb '#222222' title (g == 0 ? '± sd over seeds' : ''), \
     for [g=0:ngroups-1] datafile index g using 2:4 with points pt 13 ps 1.6 lc rgb '#000000' \
         title (g == 0 ? 'paper' : ''), \
     for [g=0:ngroups-1] datafile index g using 2:($6 == 1 ? 1.5 : NaN) with points pt 2 ps 1.0 lc rgb '#999999' \
         title (g == 0 ? 'no result yet' : ''), \
     for [g=0:ngroups-1] datafile index g using 2:($6 == 2 ? $3 + 2.5 : NaN):('*') with labels font ',16' notitle
} else {
plot for [g=0:ngroups-1] datafile index g using 2:3 with boxes lc rgb palette[g+1] title word(groups, g+1), \
     for [g=0:ngroups-1] datafile index g using 2:4 with points pt 13 ps 1.6 lc rgb '#000000' \
         title (g == 0 ? 'paper' : ''), \
     for [g=0:ngroups-1] datafile index g using 2:($6 == 1 ? 1.5 : NaN) with points pt 2 ps 1.0 lc rgb '#999999' \
         title (g == 0 ? 'no result yet' : ''), \
     for [g=0:ngroups-1] datafile index g using 2:($6 == 2 ? $3 + 2.5 : NaN):('*') with labels font ',16' notitle
}

