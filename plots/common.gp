# common.gp - terminal setup shared by the deltabench figure scripts (loaded by each of them).
# Expects: term ('png' or 'svg'), outfile, width, height.
if (term eq 'svg') {
    set terminal svg size width,height dynamic enhanced font 'DejaVu Sans,12' background rgb 'white'
} else {
    if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
        set terminal pngcairo size width,height enhanced font 'DejaVu Sans,11' background rgb 'white'
    } else {
        set terminal png size width,height font 'DejaVu Sans,11' background rgb 'white'
    }
}
set output outfile
set encoding utf8
set datafile missing 'NaN'
# eight distinguishable colours (Okabe-Ito), then greys
array palette[12] = ['#0072B2', '#E69F00', '#009E73', '#CC79A7', '#56B4E9', '#D55E00', '#F0E442', '#000000', \
                     '#777777', '#AA4499', '#332288', '#88CCEE']
