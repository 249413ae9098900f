/* voc_det.h - Pascal VOC detection dataset as mmdet 2.x's VOCDataset/XMLDataset reads it.
 *
 * Layout: <devkit>/VOC2007/{Annotations,ImageSets/Main,JPEGImages}, <devkit>/VOC2012/...  A split is
 * "VOC2007/trainval", "VOC2012/trainval", "VOC2007/test" (the file ImageSets/Main/<name>.txt). The paper
 * trains on 07+12 trainval (two splits concatenated, in that order) and tests on 2007 test.
 *
 * Per image (XMLDataset.get_ann_info): objects whose name is not one of the 20 classes are skipped; each box
 * is [int(float(xmin)), int(float(ymin)), int(float(xmax)), int(float(ymax))] - 1, i.e. the 1-based
 * inclusive VOC pixel indices become 0-based (x2 and y2 stay inclusive: mmdet 2.x's VOC evaluation uses
 * the legacy "+1" width/height, use_legacy_coordinate=True). difficult objects go to the ignore list.
 * Width/height come from <size>, or from the image header when the XML has none. In training mode
 * (test_mode = 0) images are filtered as _filter_imgs(min_size=32) with filter_empty_gt: shorter side >= 32
 * and at least one object of a known class (difficult ones count). */
#ifndef DB_VOC_DET_H
#define DB_VOC_DET_H

#define VOC_N_CLASSES 20
extern const char *const voc_classes[VOC_N_CLASSES];

typedef struct voc_det_image {
    char *id;          /* e.g. "000005" */
    char *image_path;  /* <devkit>/VOC2007/JPEGImages/000005.jpg */
    char *ann_path;    /* <devkit>/VOC2007/Annotations/000005.xml */
    int year;          /* 2007 or 2012 (from the split's folder name; 0 when neither) */
    int width, height;
    int n_gt, n_ignore;
    float *boxes;      /* (n_gt + n_ignore) x 4: x1 y1 x2 y2 (mmdet: file value truncated, minus 1); gt first */
    int *labels;       /* n_gt + n_ignore labels (index into voc_classes) */
} voc_det_image;

typedef struct voc_det_dataset {
    int n;
    voc_det_image *images;
    int n_skipped;       /* images skipped as bad (skip_bad) */
    int n_filtered;      /* images removed by the training filter */
    int n_unknown_class; /* objects skipped because their name is not a VOC class */
} voc_det_dataset;

/* Load the given splits, concatenated. skip_bad: a missing/malformed XML (or unreadable image when the
 * size must come from it) skips that image with a warning instead of failing. */
int voc_det_load(const char *devkit, const char *const *splits, int n_splits, int test_mode, int skip_bad,
                 voc_det_dataset *ds);
void voc_det_free(voc_det_dataset *ds);

/* Read an ImageSets list: one id per line (blank lines ignored, the first field kept). */
int voc_read_id_list(const char *path, char ***ids, int *n);

#endif
