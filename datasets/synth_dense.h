/* synth_dense.h - seeded, deterministic synthetic datasets in the real on-disk formats of the dense tasks,
 * for the embedded defaults and the tests: each is read back through the real reader.
 *
 *   COCO    <root>/<split>/<%012d>.jpg + <root>/annotations/instances_<split>.json: 6 shape categories with
 *           random textures, painted in order so later objects occlude earlier ones; fully visible objects get
 *           their polygon, occluded ones a compressed RLE of the visible mask, crowd regions (clusters of small
 *           shapes) an uncompressed RLE with iscrowd 1; sizes log-uniform from tiny to large; bbox and area from
 *           the visible mask.
 *   VOC     <root>/VOC2007, <root>/VOC2012 with Annotations/, JPEGImages/, ImageSets/Main/{trainval,test}.txt;
 *           20 classes (shape and colour per class), boxes 1-based inclusive from the visible extent,
 *           difficult for tiny or mostly hidden objects, truncated at the border.
 *   ADE20K  <root>/ADEChallengeData2016/{images,annotations}/{training,validation}: scenes of bands (sky, wall,
 *           floor...) and many objects of the 150 classes, label maps as 8-bit gray PNG with 0 = other.
 *   DOTA    <root>/{images,labelTxt}: large PNG images with rotated rectangles of the 15 DOTA v1.0 classes
 *           (imagesource/gsd header lines, difficult flags), non-overlapping.
 * Same seed and config -> byte-identical files. */
#ifndef DB_SYNTH_DENSE_H
#define DB_SYNTH_DENSE_H

#include <stdint.h>

#define SYNTH_COCO_N_CLASSES 6
extern const char *const synth_coco_classes[SYNTH_COCO_N_CLASSES];

typedef struct synth_summary {
    int n_images;
    int n_objects;        /* annotations / objects written (crowd included) */
    int n_crowd;          /* COCO crowd annotations */
    int n_polygon;        /* COCO polygon annotations */
    int n_rle;            /* COCO compressed-RLE (occluded) annotations */
    int n_difficult;      /* VOC / DOTA difficult objects */
    long per_class[160];  /* objects per label (ADE20K: images containing the class) */
} synth_summary;

typedef struct synth_coco_cfg {
    const char *split; /* e.g. "train2017" */
    int n_images;
    int min_side, max_side; /* image side range (default 160..320) */
    int max_objects;        /* per image (default 8) */
    float crowd_prob;       /* probability of a crowd region per image (default 0.3) */
    uint64_t seed;
    int min_radius;         /* > 0: objects' radius log-uniform from this (px) instead of 3 (COCO's small objects) */
    int class_hue;          /* 1: each class's texture has one base colour (hues spread over the classes, as the VOC
                             * shapes style); 0 (default, output unchanged): random colours, the class is the shape */
} synth_coco_cfg;
int synth_coco_write(const char *root, const synth_coco_cfg *cfg, synth_summary *sum);

typedef struct synth_voc_cfg {
    int n_trainval07, n_test07, n_trainval12;
    int min_side, max_side; /* default 160..320 */
    int max_objects;        /* default 5 */
    int min_radius;         /* smallest object radius in pixels (default 5; radii log-uniform up to 0.4 x the short side) */
    int n_classes;          /* objects drawn from the first n_classes VOC classes only, their colours spread over the
                             * hue circle (1..20; 0 or 20: all twenty, the default, output unchanged); objects
                             * style: the first n_classes of its ten kinds (0: all ten) */
    int style;              /* SYNTH_VOC_SHAPES (0, default): textured polygons, shape and hue fixed per class;
                             * SYNTH_VOC_OBJECTS: the classification set's VOC-named objects (aeroplane, bird, boat,
                             * bottle, car, cat, chair, person, pottedplant, tvmonitor; cls_synth.h) in random
                             * colours on its backgrounds, spans from 2 min_radius to 0.8 of the short side, so the
                             * class is the object's form, which the upstream pretraining has seen */
    uint64_t seed;
} synth_voc_cfg;
enum { SYNTH_VOC_SHAPES = 0, SYNTH_VOC_OBJECTS = 1 };
int synth_voc_write(const char *root, const synth_voc_cfg *cfg, synth_summary *sum);

typedef struct synth_ade_cfg {
    int n_train, n_val;
    int min_side, max_side; /* default 128..256 */
    int max_objects;        /* default 20 */
    int n_classes;          /* classes drawn (objects below n_classes, bands folded into them); 0: all 150 */
    uint64_t seed;
} synth_ade_cfg;
int synth_ade20k_write(const char *root, const synth_ade_cfg *cfg, synth_summary *sum);

typedef struct synth_dota_cfg {
    int n_images;
    int min_side, max_side; /* default 1024..2048 */
    int max_objects;        /* default 40 */
    uint64_t seed;
} synth_dota_cfg;
int synth_dota_write(const char *root, const synth_dota_cfg *cfg, synth_summary *sum);

/* pycocotools' compressed RLE string (rleToString) of column-major run counts; malloc'd. */
char *coco_rle_to_string(const uint32_t *counts, int n);
/* Column-major runs (starting with a run of zeros) of a row-major h x w 0/1 mask; *n runs, malloc'd. */
uint32_t *mask_to_rle(const uint8_t *mask, int h, int w, int *n);

#endif
