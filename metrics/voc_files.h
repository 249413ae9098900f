/* voc_files.h - Pascal VOC evaluation from files: a VOCdevkit year folder (Annotations/<id>.xml,
 * ImageSets/Main/<split>.txt, read with datasets/voc_xml.h) and the devkit's per-class detection files
 * (<prefix><class>.txt, lines "image_id score x1 y1 x2 y2", 1-based pixel coordinates). */
#ifndef DB_VOC_FILES_H
#define DB_VOC_FILES_H

#include "voc_eval.h"

extern const char *const voc_class_names[20];

/* det_prefix NULL means "comp4_det_<split>_". A missing class file means no detections of that class.
 * mmdet protocol: ground-truth coordinates truncated to integers and both gt and detections shifted by -1
 * (mmdet's 0-based frame; IoU is unchanged up to float32 rounding); devkit: the file's numbers.
 * Returns 0 or -1 with err_set naming the file and line. */
int voc_eval_files(const char *root, const char *split, const char *det_dir, const char *det_prefix, int protocol,
                   int ap_mode, double iou_thr, voc_result *out);

#endif
