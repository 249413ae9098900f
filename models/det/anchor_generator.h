/* anchor_generator.h - mmdet 2.11's AnchorGenerator (mmdet/core/anchor/anchor_generator.py): per level a set
 * of base anchors around (center_offset * base_size) and their grid over a feature map, plus the valid flags
 * of a padded image. Everything in float32, in the reference's operation order, so the anchors match it
 * bit for bit. Boxes are (x1, y1, x2, y2). */
#ifndef DB_ANCHOR_GENERATOR_H
#define DB_ANCHOR_GENERATOR_H

#include <stdint.h>

#define ANCHOR_MAX_LEVELS 8
#define ANCHOR_MAX_BASE 32

typedef struct anchor_gen {
    int n_levels, n_base;                          /* n_base = nr * ns anchors per position */
    float strides[ANCHOR_MAX_LEVELS];
    float base[ANCHOR_MAX_LEVELS][ANCHOR_MAX_BASE * 4]; /* (n_base, 4) per level */
    float center_offset;
} anchor_gen;

/* Base anchors of every level: base size w = h = base_sizes[l] (NULL: the strides), h_ratio = sqrt(ratio),
 * w_ratio = 1 / h_ratio; scale_major (mmdet's default): rows ratio-major, scale fastest, ws = w * w_ratio *
 * scale; otherwise scale-major, ratio fastest, ws = w * scale * w_ratio. Anchor (c - ws/2, c - hs/2,
 * c + ws/2, c + hs/2), c = center_offset * w. 0, or -1 (err_set) on bad sizes. */
int anchor_gen_init(anchor_gen *a, int n_levels, const float *strides, const float *base_sizes, const float *ratios, int nr,
                    const float *scales, int ns, int scale_major, float center_offset);
/* Scales from mmdet's octave form: octave_base_scale * 2^(k / scales_per_octave), k < scales_per_octave,
 * computed in double and rounded to float32 as numpy -> torch.Tensor does. Returns the count (<= max). */
int anchor_octave_scales(double octave_base_scale, int scales_per_octave, float *scales, int max);
/* RetinaNet: octave_base_scale 4, scales_per_octave 3, ratios 0.5 1 2, strides 8 16 32 64 128. */
void anchor_gen_init_retina(anchor_gen *a);
/* Anchors of one level on an H x W feature map: out (H*W*A, 4), row (y*W + x)*A + a = base[a] +
 * (x*stride, y*stride, x*stride, y*stride). */
void anchor_gen_grid(const anchor_gen *a, int level, int H, int W, float *out);
/* Valid flags (H*W*A) of an image padded to pad_h x pad_w: 1 iff x < min(ceil(pad_w / stride), W) and
 * y < min(ceil(pad_h / stride), H). */
void anchor_gen_valid(const anchor_gen *a, int level, int H, int W, int pad_h, int pad_w, uint8_t *out);

/* The anchors an anchor head trains on (AnchorHead.get_targets' bookkeeping, shared by RetinaHead and RPNHead):
 * every level's grid concatenated in (level, y, x, a) order, then per image those valid for its pad shape and
 * inside its img_shape by allowed_border (anchor_inside_flags; < 0: every valid anchor). */
typedef struct anchor_set {
    int L, total;                       /* levels, anchors per image */
    int level_off[ANCHOR_MAX_LEVELS + 1];
    int H[ANCHOR_MAX_LEVELS], W[ANCHOR_MAX_LEVELS];
    float *anchors;                     /* (total, 4) */
    uint8_t *valid;                     /* (total) scratch */
    float *inside;                      /* (total, 4): the last image's inside anchors */
    int *inside_idx;                    /* (total): their indices into anchors */
} anchor_set;
/* Levels of H[l] x W[l] positions with A = a->n_base anchors each. */
void anchor_set_build(anchor_set *s, const anchor_gen *a, int L, const int *H, const int *W);
/* The inside anchors of an image with img_shape (img_h, img_w) padded to (pad_h, pad_w) into s->inside and
 * s->inside_idx; returns their count. */
int anchor_set_inside(anchor_set *s, const anchor_gen *a, int img_h, int img_w, int pad_h, int pad_w, int allowed_border);
void anchor_set_free(anchor_set *s);
/* The per-anchor target arrays of B images x total anchors in g's arena: labels (uninitialised), label
 * weights, box targets (x 4) and box weights (x 4) zeroed. */
struct graph;
void anchor_targets_alloc(struct graph *g, int B, int total, int **labels, float **label_weights, float **bbox_targets,
                          float **bbox_weights);

#endif
