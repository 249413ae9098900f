/* seg_pipeline.c - mmseg 0.11's ADE20K train and test pipelines, sampler and batches (see seg_pipeline.h). */
#include "seg_pipeline.h"

#include <stdlib.h>
#include <string.h>

void seg_pipeline_cfg_default(seg_pipeline_cfg *c) {
    memset(c, 0, sizeof *c);
    c->scale_long = 2048, c->scale_short = 512;
    c->ratio_lo = 0.5f, c->ratio_hi = 2.0f;
    c->crop = 512;
    c->cat_max_ratio = 0.75f;
    c->flip_ratio = 0.5f;
    c->photometric = 1;
    c->reduce_zero_label = 1;
    c->n_classes = ADE20K_N_CLASSES;
    memcpy(c->mean, dense_imagenet_mean, sizeof c->mean);
    memcpy(c->std, dense_imagenet_std, sizeof c->std);
}

void seg_batch_free(seg_batch *b) {
    free(b->images), free(b->labels), free(b->index);
    memset(b, 0, sizeof *b);
}

int seg_sampler(int n, int batch, uint64_t seed, int epoch, int **order, int *n_out) {
    if (n < batch || batch < 1)
        return err_set("segmentation sampler: %d training images for batch %d (the last partial batch is dropped, so at least one "
                       "full batch is needed)", n, batch);
    rng_t r;
    rng_seed(&r, seed * 1000003ULL + (uint64_t)epoch * 7919ULL + 29);
    int *p = xmalloc(sizeof(int) * n);
    for (int i = 0; i < n; i++) p[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rng_u64(&r) % (uint64_t)(i + 1)), t = p[i];
        p[i] = p[j], p[j] = t;
    }
    *order = p;
    *n_out = n / batch * batch;
    return 0;
}

/* the image and its label map (reduce_zero_label applied, values checked) as a sample */
static int sample_load(const ade20k_dataset *ds, const seg_pipeline_cfg *c, int i, dense_sample *s) {
    image img, lab;
    if (image_read(ds->images[i], IMG_RGB, &img)) return -1;
    if (seg_read_label(ds->labels[i], c->reduce_zero_label, c->n_classes, &lab)) {
        image_free(&img);
        return -1;
    }
    if (lab.w != img.w || lab.h != img.h) {
        err_set("%s: label map is %dx%d but its image %s is %dx%d", ds->labels[i], lab.w, lab.h, ds->images[i], img.w, img.h);
        image_free(&img), image_free(&lab);
        return -1;
    }
    dense_sample_init(s, &img);
    s->seg = lab.data; /* the sample owns the label pixels now */
    return 0;
}

int seg_batch_load_train(const ade20k_dataset *ds, const seg_pipeline_cfg *c, const int *idx, int n, uint64_t seed, seg_batch *b) {
    memset(b, 0, sizeof *b);
    if (c->crop < 8) return err_set("segmentation pipeline: crop size %d (need >= 8)", c->crop);
    b->n = n, b->H = b->W = c->crop;
    size_t plane = (size_t)c->crop * c->crop;
    b->images = xcalloc((size_t)n * 3 * plane, sizeof(float));
    b->labels = xmalloc((size_t)n * plane);
    b->index = xmalloc(sizeof(int) * n);
    for (int i = 0; i < n; i++) {
        dense_sample s;
        if (sample_load(ds, c, idx[i], &s)) {
            seg_batch_free(b);
            return -1;
        }
        rng_t r;
        rng_seed(&r, seed ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1)));
        int L, S, rc = 0;
        dense_random_ratio_scale(&r, c->scale_long, c->scale_short, c->ratio_lo, c->ratio_hi, &L, &S);
        rc = dense_resize(&s, L, S, 1);
        if (!rc) rc = dense_random_crop_seg(&s, &r, c->crop, c->crop, c->cat_max_ratio);
        if (!rc && c->flip_ratio > 0) {
            float probs[3] = {c->flip_ratio, 0, 0};
            rc = dense_random_flip(&s, &r, probs) < 0 ? -1 : 0;
        }
        if (!rc && c->photometric) dense_photometric(&s, &r);
        /* Pad(size=crop): the crop is at most crop x crop, so a divisor of crop pads it to exactly that */
        if (!rc) rc = dense_normalize_pad(&s, c->mean, c->std, c->crop);
        if (!rc && (s.pad_w != c->crop || s.pad_h != c->crop))
            rc = err_set("segmentation pipeline: padded to %dx%d, expected the crop %d", s.pad_w, s.pad_h, c->crop);
        if (rc) {
            err_prefix("%s", ds->images[idx[i]]);
            dense_sample_free(&s);
            seg_batch_free(b);
            return -1;
        }
        memcpy(b->images + (size_t)i * 3 * plane, s.norm, sizeof(float) * 3 * plane);
        memcpy(b->labels + (size_t)i * plane, s.seg, plane);
        b->index[i] = idx[i];
        dense_sample_free(&s);
    }
    return 0;
}

int seg_batch_load_test(const ade20k_dataset *ds, const seg_pipeline_cfg *c, int i, seg_batch *b) {
    memset(b, 0, sizeof *b);
    dense_sample s;
    if (sample_load(ds, c, i, &s)) return -1;
    b->ori_w = s.img.w, b->ori_h = s.img.h;
    b->labels = xmalloc((size_t)b->ori_w * b->ori_h);
    memcpy(b->labels, s.seg, (size_t)b->ori_w * b->ori_h); /* before the resize: the evaluation's ground truth */
    int rc = dense_resize(&s, c->scale_long, c->scale_short, 1);
    if (!rc) rc = dense_normalize_pad(&s, c->mean, c->std, 1);
    if (rc) {
        err_prefix("%s", ds->images[i]);
        dense_sample_free(&s);
        seg_batch_free(b);
        return -1;
    }
    b->n = 1, b->H = s.pad_h, b->W = s.pad_w;
    b->images = xmalloc(sizeof(float) * 3 * (size_t)b->H * b->W);
    memcpy(b->images, s.norm, sizeof(float) * 3 * (size_t)b->H * b->W);
    b->index = xmalloc(sizeof(int));
    b->index[0] = i;
    dense_sample_free(&s);
    return 0;
}

int seg_batch_synthetic(const seg_pipeline_cfg *c, int n, int size, uint64_t seed, seg_batch *b) {
    memset(b, 0, sizeof *b);
    if (n < 1 || size < 8 || c->n_classes < 1)
        return err_set("synthetic segmentation batch: %d images of %d px, %d classes (need >= 1, >= 8, >= 1)", n, size, c->n_classes);
    rng_t r;
    rng_seed(&r, seed);
    size_t plane = (size_t)size * size;
    b->n = n, b->H = b->W = size;
    b->images = xmalloc(sizeof(float) * 3 * plane * n);
    b->labels = xmalloc(plane * n);
    b->index = xmalloc(sizeof(int) * n);
    for (int i = 0; i < n; i++) {
        b->index[i] = i;
        for (int ch = 0; ch < 3; ch++)
            for (size_t k = 0; k < plane; k++)
                b->images[((size_t)i * 3 + ch) * plane + k] = ((float)rng_below(&r, 256) - c->mean[ch]) / c->std[ch];
        for (size_t k = 0; k < plane; k++) b->labels[(size_t)i * plane + k] = (uint8_t)rng_below(&r, (uint32_t)c->n_classes);
    }
    return 0;
}
