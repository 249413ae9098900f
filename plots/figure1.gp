# figure1.gp - the paper's Figure 1: ADE20K mIoU (x) against COCO box AP (y), one labelled point per method, in two
# panels with their own axes (the embedded default's numbers and the paper's are on different scales): left the
# measured points (Mona in red), right the paper's; full fine-tuning's values as dashed lines in each, so a method
# above and right of them beats full fine-tuning on both tasks.
# Variables: term, outfile, datafile, subtitle, npoints (measured points), fx, fy (measured full), fpx, fpy (paper
# full; -1 = missing).
width = 1400; height = 700
load scriptdir.'/common.gp'
set multiplot layout 1, 2 title "Figure 1: ADE20K mIoU against COCO box AP per method\n{/*0.8 ".subtitle."}"
set xlabel 'ADE20K mIoU (%)'
set ylabel 'COCO AP box (%)'
set grid lc rgb '#dddddd'
set key bottom right box opaque
set offsets graph 0.15, graph 0.25, graph 0.12, graph 0.12
set title 'measured (this harness)'
if (fx >= 0) { set arrow 1 from first fx, graph 0 to first fx, graph 1 nohead dt 2 lw 1.5 lc rgb '#0072B2' }
if (fy >= 0) { set arrow 2 from graph 0, first fy to graph 1, first fy nohead dt 2 lw 1.5 lc rgb '#0072B2' }
if (npoints == 0) { set label 10 'no method has both a measured mIoU and box AP yet' at graph 0.5, graph 0.5 center; set xrange [0:100]; set yrange [0:100] }
plot datafile using 2:3 with points pt 7 ps 1.8 lc rgb '#0072B2' title 'measured', \
     '' using 2:(strcol(1) eq 'Mona' ? column(3) : NaN) with points pt 7 ps 1.8 lc rgb '#D55E00' notitle, \
     '' using 2:3:1 with labels offset char 0.8,0.7 left font ',9' notitle, \
     NaN with lines dt 2 lw 1.5 lc rgb '#0072B2' title 'full fine-tuning'
unset arrow 1; unset arrow 2; unset label 10; set autoscale x; set autoscale y
set title 'paper (Swin-L UperNet / Swin-B Cascade Mask R-CNN)'
if (fpx >= 0) { set arrow 3 from first fpx, graph 0 to first fpx, graph 1 nohead dt 2 lw 1.5 lc rgb '#999999' }
if (fpy >= 0) { set arrow 4 from graph 0, first fpy to graph 1, first fpy nohead dt 2 lw 1.5 lc rgb '#999999' }
plot datafile using 4:5 with points pt 6 ps 2.2 lw 2 lc rgb '#000000' title 'paper', \
     '' using 4:5:1 with labels offset char 0.8,0.7 left font ',9' tc rgb '#333333' notitle, \
     NaN with lines dt 2 lw 1.5 lc rgb '#999999' title 'full fine-tuning'
unset multiplot
