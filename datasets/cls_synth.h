/* cls_synth.h - the embedded default data: procedurally drawn classification datasets standing in for
 * Flowers102, Oxford-IIIT Pets and VOC2007, and a separate upstream pretraining dataset.
 *
 * All four draw from one set of visual primitives (anti-aliased polar shapes, boxes, capsules, stripe/
 * spot/checker/radial textures, value-noise and room/sky backgrounds) and composite "objects" built
 * from them (flowers, animals, cars, bottles, people, ...), so features learnt upstream transfer:
 *   flowers   16 fine-grained flower classes: petal count x petal hue x petal shape x centre colour,
 *             on foliage noise, with leaves, extra same-class flowers and small distractor flowers.
 *   pets      12 "breeds": species (cat: pointed ears / dog: hanging ears) x coat colour x coat pattern,
 *             in rooms with furniture clutter.
 *   voc       10 object categories with VOC names (aeroplane, bird, boat, bottle, car, cat, chair,
 *             person, pottedplant, tvmonitor); 1-3 objects per scene in random colours; the label is
 *             the largest object (the rule cls_dataset.h uses for VOC2007), person twice as frequent.
 *   upstream  40 classes in four families: 16 shape x texture (random colours), 8 single objects,
 *             8 flower forms (petal count x shape, random hue), 8 animal forms (ears x pattern).
 * Class definitions are fixed per kind; the seed changes the images. Every image is drawn from its own
 * generator seeded by (seed, kind, split, index), so the output is identical for any thread count.
 *
 * Output (the authors' list format, read back by cls_dataset_open(CLS_FMT_LIST, out_dir, ...)):
 *   out_dir/train2mmcls.txt, test2mmcls.txt   "images/<split>/<kind>_<index>.jpg <label>" per line
 *   out_dir/classes.txt                        one class name per line
 *   out_dir/images/<split>/<kind>_<i>.jpg         JPEG, quality opts.jpeg_quality
 *   out_dir/synth.json                         kind, seed, sizes, generator version (written last)
 * A directory whose synth.json matches the request is reused without rewriting (unless opts.force). */
#ifndef DB_CLS_SYNTH_H
#define DB_CLS_SYNTH_H

#include <stdint.h>

typedef enum { SYNTH_FLOWERS = 0, SYNTH_PETS = 1, SYNTH_VOC = 2, SYNTH_UPSTREAM = 3, SYNTH_COUNT = 4 } synth_kind;

typedef struct synth_opts {
    int n_train_per_class; /* 0 = kind default (flowers 20, pets 30, voc 35 on average, upstream 300) */
    int n_test_per_class;  /* 0 = kind default (flowers 15, pets 20, voc 25, upstream 25) */
    int img_min, img_max;  /* image sides drawn uniformly in [min, max] (0 = kind default 96..128; upstream 80..112) */
    int jpeg_quality;      /* 0 = 90 */
    int force;             /* rewrite even when synth.json matches */
    int quiet;             /* no progress line on stderr */
} synth_opts;

#define SYNTH_VERSION 3

int synth_kind_parse(const char *name, synth_kind *out); /* flowers | pets | voc | upstream */
const char *synth_kind_name(synth_kind k);
int synth_n_classes(synth_kind k);
/* Class name of class c of kind k (static storage). */
const char *synth_class_name(synth_kind k, int c);

/* Write a dataset (atomic per file; synth.json last). Returns 0 or -1 with err_msg(). */
int cls_synth_write(synth_kind kind, const char *out_dir, uint64_t seed, const synth_opts *opts);

/* Draw one image into a malloc'd w*h*3 RGB buffer (for tests and previews). */
uint8_t *cls_synth_render(synth_kind kind, int cls, uint64_t image_seed, int w, int h);

/* Detection scenes drawn from the same objects (the VOC-named things of the voc kind, eight of which are
 * upstream classes too), for the synthetic VOC detection set:
 * cls_synth_object_count() kinds (10), named by cls_synth_object_name(k) in VOC's spelling (aeroplane, bird,
 * boat, bottle, car, cat, chair, person, pottedplant, tvmonitor).
 * cls_synth_render_objects draws a w x h scene from its own generator (seed): the voc kind's background
 * (sky over ground when the first object flies or floats, else a room or any background), then object i of
 * kind kinds[i] centred at (cx[i], cy[i]) with size s[i] (about its span in pixels), mirrored where flip[i],
 * in order (later ones in front), in random colours, then the camera (gain, noise, quantisation). inst
 * (w*h ints, or NULL) receives i where object i covers a pixel at alpha >= 0.5 and -1 elsewhere; area[i]
 * (or NULL) the pixels object i covered when it was drawn (before later objects hid any). Returns a malloc'd
 * RGB buffer, or NULL for bad sizes or kinds. */
int cls_synth_object_count(void);
const char *cls_synth_object_name(int k);
uint8_t *cls_synth_render_objects(int w, int h, int n, const int *kinds, const float *cx, const float *cy,
                                  const float *s, const int *flip, uint64_t seed, int *inst, long *area);

#endif
