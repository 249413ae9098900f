/* coco_pipeline.c - mmdet 2.11's COCO instance pipeline of the authors' Cascade Mask R-CNN config (see
 * coco_pipeline.h). */
#include "coco_pipeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../metrics/coco_json.h"
#include "../metrics/mask.h"

void coco_pipeline_cfg_default(coco_pipeline_cfg *c) {
    memset(c, 0, sizeof *c);
    c->flip_ratio = 0.5f;
    c->n_ms = 11; /* (480, 1333), (512, 1333), ..., (800, 1333) */
    for (int i = 0; i < c->n_ms; i++) c->ms_scales[i][0] = 480 + 32 * i, c->ms_scales[i][1] = 1333;
    c->n_pre = 3;
    for (int i = 0; i < c->n_pre; i++) c->pre_scales[i][0] = 400 + 100 * i, c->pre_scales[i][1] = 1333;
    c->crop_lo = 384, c->crop_hi = 600;
    c->allow_negative_crop = 1;
    c->n_policies = 2;
    c->test_long = 1333, c->test_short = 800;
    memcpy(c->mean, dense_imagenet_mean, sizeof c->mean);
    memcpy(c->std, dense_imagenet_std, sizeof c->std);
    c->size_divisor = 32;
}

int coco_sample_annotate(const coco_dataset *ds, int image, int with_mask, dense_sample *s) {
    if (image < 0 || image >= ds->n_images) return err_set("coco_sample_annotate: image index %d of %d", image, ds->n_images);
    const coco_image *im = &ds->images[image];
    int n_all = im->n_anns > 0 ? im->n_anns : 1, n_gt = 0;
    float *boxes = xmalloc(sizeof(float) * 4 * n_all);
    int *labels = xmalloc(sizeof(int) * n_all), *ann = xmalloc(sizeof(int) * n_all);
    if (coco_image_targets(ds, image, boxes, labels, ann, &n_gt) < 0) {
        free(boxes), free(labels), free(ann);
        return -1;
    }
    uint8_t *masks = NULL;
    if (with_mask) {
        int h = im->height, w = im->width;
        if (s->img.w != w || s->img.h != h) {
            free(boxes), free(labels), free(ann);
            return err_set("COCO image %lld (%s): the file is %dx%d but the annotations say %dx%d", (long long)im->id,
                           im->file_name, s->img.w, s->img.h, w, h);
        }
        size_t plane = (size_t)w * h;
        masks = xmalloc(plane * (n_gt ? n_gt : 1));
        uint8_t *col = xmalloc(plane ? plane : 1);
        for (int i = 0; i < n_gt; i++) {
            const coco_ann *a = &ds->anns[ann[i]];
            rle r;
            int rc = coco_seg_to_rle(&a->seg, h, w, &r);
            if (!rc && (r.h != (uint32_t)h || r.w != (uint32_t)w))
                rc = err_set("mask size %ux%u differs from the image's %dx%d", r.h, r.w, h, w);
            if (!rc) rc = rle_decode(&r, col);
            rle_free(&r);
            if (rc) {
                free(boxes), free(labels), free(ann), free(masks), free(col);
                return err_prefix("COCO image %lld (%s), annotation id %lld", (long long)im->id, im->file_name,
                                  (long long)a->id);
            }
            uint8_t *m = masks + plane * i; /* column-major -> row-major */
            for (int x = 0; x < w; x++)
                for (int y = 0; y < h; y++) m[(size_t)y * w + x] = col[(size_t)x * h + y];
        }
        free(col);
    }
    free(s->boxes), free(s->labels), free(s->masks);
    s->n_boxes = n_gt;
    s->boxes = boxes;
    s->labels = labels;
    s->n_masks = with_mask ? n_gt : 0;
    s->masks = masks;
    free(ann);
    return 0;
}

int coco_sample_load(const coco_dataset *ds, const char *img_dir, int img_index, int with_mask, dense_sample *s) {
    if (img_index < 0 || img_index >= ds->n_images) return err_set("coco_sample_load: image index %d of %d", img_index, ds->n_images);
    char path[4096];
    int k = snprintf(path, sizeof path, "%s/%s", img_dir, ds->images[img_index].file_name);
    if (k < 0 || (size_t)k >= sizeof path) return err_set("%s/%s: path too long", img_dir, ds->images[img_index].file_name);
    image img;
    if (image_read(path, IMG_RGB, &img)) return -1;
    dense_sample_init(s, &img);
    if (coco_sample_annotate(ds, img_index, with_mask, s)) {
        dense_sample_free(s);
        return err_prefix("%s", path);
    }
    return 0;
}

/* mmdet Resize(keep_ratio) to a (short, long) pair; remembers the factor of this resize alone */
static int resize_to(dense_sample *s, const int sc[2], float *fw, float *fh) {
    int w = s->img.w, h = s->img.h;
    if (dense_resize(s, sc[1], sc[0], 1)) return -1;
    *fw = (float)s->img.w / w, *fh = (float)s->img.h / h;
    return 0;
}

static void fill_meta(const dense_sample *s, float fw, float fh, det_img_meta *meta) {
    memset(meta, 0, sizeof *meta);
    meta->ori_h = s->ori_h, meta->ori_w = s->ori_w;
    meta->img_h = s->img_h, meta->img_w = s->img_w;
    meta->pad_h = s->pad_h, meta->pad_w = s->pad_w;
    meta->scale_factor[0] = meta->scale_factor[2] = fw;
    meta->scale_factor[1] = meta->scale_factor[3] = fh;
    meta->flip = s->flip == DENSE_FLIP_H;
}

int coco_pipeline_train(const coco_pipeline_cfg *c, dense_sample *s, rng_t *r, det_img_meta *meta, coco_aug_trace *trace) {
    coco_aug_trace t;
    memset(&t, 0, sizeof t);
    t.scale_idx[0] = t.scale_idx[1] = -1;
    if (c->n_ms < 1 || c->n_ms > COCO_PIPE_MAX_SCALES || (c->n_policies > 1 && (c->n_pre < 1 || c->n_pre > COCO_PIPE_MAX_SCALES)))
        return err_set("COCO pipeline: %d multi-scale and %d pre-crop scales (1..%d each)", c->n_ms, c->n_pre, COCO_PIPE_MAX_SCALES);
    /* 1. RandomFlip (before the resize: the flip uses the loaded image's width) */
    float probs[3] = {c->flip_ratio, 0, 0};
    t.flip = dense_random_flip(s, r, probs) == DENSE_FLIP_H;
    /* 2. AutoAugment */
    t.policy = c->n_policies > 1 ? (int)rng_below(r, (uint32_t)c->n_policies) : 0;
    float fw = 1, fh = 1;
    if (t.policy == 0) {
        t.scale_idx[0] = (int)rng_below(r, (uint32_t)c->n_ms);
        if (resize_to(s, c->ms_scales[t.scale_idx[0]], &fw, &fh)) return -1;
    } else {
        t.scale_idx[0] = (int)rng_below(r, (uint32_t)c->n_pre);
        if (resize_to(s, c->pre_scales[t.scale_idx[0]], &fw, &fh)) return -1;
        t.w_before_crop = s->img.w, t.h_before_crop = s->img.h;
        /* RandomCrop absolute_range: crop_h, crop_w, offset_h, offset_w (dense_random_crop_det draws the same) */
        rng_t peek = *r;
        int h = s->img.h, w = s->img.w;
        int hlo = c->crop_lo < h ? c->crop_lo : h, hhi = c->crop_hi < h ? c->crop_hi : h;
        int wlo = c->crop_lo < w ? c->crop_lo : w, whi = c->crop_hi < w ? c->crop_hi : w;
        t.crop_h = hlo + (int)rng_below(&peek, (uint32_t)(hhi - hlo + 1));
        t.crop_w = wlo + (int)rng_below(&peek, (uint32_t)(whi - wlo + 1));
        t.crop_y = (int)rng_below(&peek, (uint32_t)(h - t.crop_h) + 1);
        t.crop_x = (int)rng_below(&peek, (uint32_t)(w - t.crop_w) + 1);
        int rc = dense_random_crop_det(s, r, c->crop_lo, c->crop_hi, c->allow_negative_crop);
        if (rc < 0) return -1;
        if (rc == 0) /* mmdet returns None and the dataset draws another image; the default config never does */
            return err_set("COCO pipeline: the crop kept no box (allow_negative_crop is off)");
        DB_ASSERT(s->img.w == t.crop_w && s->img.h == t.crop_h);
        /* the override Resize draws anew and replaces scale and scale_factor */
        t.scale_idx[1] = (int)rng_below(r, (uint32_t)c->n_ms);
        if (resize_to(s, c->ms_scales[t.scale_idx[1]], &fw, &fh)) return -1;
    }
    if (dense_normalize_pad(s, c->mean, c->std, c->size_divisor)) return -1;
    fill_meta(s, fw, fh, meta);
    if (trace) *trace = t;
    return 0;
}

int coco_pipeline_test(const coco_pipeline_cfg *c, dense_sample *s, det_img_meta *meta) {
    float fw, fh;
    int sc[2] = {c->test_short, c->test_long};
    s->flip = DENSE_FLIP_NONE;
    if (resize_to(s, sc, &fw, &fh)) return -1;
    if (dense_normalize_pad(s, c->mean, c->std, c->size_divisor)) return -1;
    fill_meta(s, fw, fh, meta);
    return 0;
}

int coco_mask_tight_box(const uint8_t *m, int w, int h, float box[4]) {
    int x0 = w, y0 = h, x1 = -1, y1 = -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if (m[(size_t)y * w + x]) {
                if (x < x0) x0 = x;
                if (x > x1) x1 = x;
                if (y < y0) y0 = y;
                if (y > y1) y1 = y;
            }
    if (x1 < 0) {
        box[0] = box[1] = box[2] = box[3] = 0;
        return 0;
    }
    box[0] = (float)x0, box[1] = (float)y0, box[2] = (float)(x1 + 1), box[3] = (float)(y1 + 1);
    return 1;
}

int coco_group_sampler(const coco_dataset *ds, const int *keep, int n_keep, int batch, uint64_t seed, int epoch, int **order,
                       int *n_out) {
    uint8_t *flag = xmalloc((size_t)(n_keep > 0 ? n_keep : 1));
    for (int i = 0; i < n_keep; i++) {
        if (keep[i] < 0 || keep[i] >= ds->n_images) {
            free(flag);
            return err_set("coco_group_sampler: image index %d of %d", keep[i], ds->n_images);
        }
        flag[i] = ds->images[keep[i]].width > ds->images[keep[i]].height;
    }
    int rc = det_group_sampler_flags(flag, n_keep, batch, seed, epoch, order, n_out);
    free(flag);
    if (rc) return -1;
    for (int i = 0; i < *n_out; i++) (*order)[i] = keep[(*order)[i]];
    return 0;
}

int coco_batch_load(const coco_dataset *ds, const char *img_dir, const coco_pipeline_cfg *c, int train, const int *idx,
                    int n, uint64_t seed, det_batch *b) {
    if (n < 1) return err_set("coco_batch_load: %d images", n);
    memset(b, 0, sizeof *b);
    b->metas = xcalloc(n, sizeof *b->metas);
    b->gts = xcalloc(n, sizeof *b->gts);
    b->index = xmalloc(sizeof(int) * n);
    b->n = n;
    dense_sample *s = xcalloc(n, sizeof *s);
    dense_sample **sp = xmalloc(sizeof *sp * n);
    int rc = 0, loaded = 0;
    for (int i = 0; i < n; i++) {
        if (coco_sample_load(ds, img_dir, idx[i], train, &s[i])) {
            rc = -1;
            break;
        }
        loaded++;
        rng_t r;
        rng_seed(&r, seed ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(idx[i] + 1)));
        rc = train ? coco_pipeline_train(c, &s[i], &r, &b->metas[i], NULL) : coco_pipeline_test(c, &s[i], &b->metas[i]);
        if (rc) {
            rc = err_prefix("COCO image %lld (%s)", (long long)ds->images[idx[i]].id, ds->images[idx[i]].file_name);
            break;
        }
        det_gt *g = &b->gts[i];
        g->n = s[i].n_boxes;
        g->boxes = xmalloc(sizeof(float) * 4 * (g->n ? g->n : 1));
        g->labels = xmalloc(sizeof(int) * (g->n ? g->n : 1));
        memcpy(g->boxes, s[i].boxes, sizeof(float) * 4 * g->n);
        memcpy(g->labels, s[i].labels, sizeof(int) * g->n);
        if (train) { /* the padded masks move over */
            g->masks = s[i].masks ? s[i].masks : xmalloc(1);
            s[i].masks = NULL;
            s[i].n_masks = 0;
            g->mask_h = s[i].pad_h, g->mask_w = s[i].pad_w;
        }
        sp[i] = &s[i];
        b->index[i] = idx[i];
    }
    if (!rc) rc = dense_collate(sp, n, &b->images, &b->H, &b->W, NULL);
    for (int i = 0; i < loaded; i++) dense_sample_free(&s[i]);
    free(s), free(sp);
    if (rc) det_batch_free(b);
    return rc;
}
