/* det_pipeline.c - mmdet 2.11's VOC detection pipeline, sampler and collation (see det_pipeline.h). */
#include "det_pipeline.h"

#include "../core/tensor.h"

#include <stdlib.h>
#include <string.h>

void det_pipeline_cfg_default(det_pipeline_cfg *c) {
    memset(c, 0, sizeof *c);
    c->scale_long = 1000, c->scale_short = 600;
    c->keep_ratio = 1;
    c->flip_ratio = 0.5f;
    memcpy(c->mean, dense_imagenet_mean, sizeof c->mean);
    memcpy(c->std, dense_imagenet_std, sizeof c->std);
    c->size_divisor = 32;
}

int det_sample_load_voc(const voc_det_image *im, dense_sample *s) {
    image img;
    if (image_read(im->image_path, IMG_RGB, &img)) return -1;
    dense_sample_init(s, &img);
    s->n_boxes = im->n_gt;
    s->boxes = xmalloc(sizeof(float) * 4 * (im->n_gt ? im->n_gt : 1));
    s->labels = xmalloc(sizeof(int) * (im->n_gt ? im->n_gt : 1));
    memcpy(s->boxes, im->boxes, sizeof(float) * 4 * im->n_gt); /* gt first, the difficult ones after them */
    memcpy(s->labels, im->labels, sizeof(int) * im->n_gt);
    return 0;
}

int det_pipeline_apply(const det_pipeline_cfg *c, int train, dense_sample *s, rng_t *r, det_img_meta *meta) {
    if (dense_resize(s, c->scale_long, c->scale_short, c->keep_ratio)) return -1;
    if (train && c->flip_ratio > 0) {
        float probs[3] = {c->flip_ratio, 0, 0};
        dense_random_flip(s, r, probs);
    } else
        s->flip = DENSE_FLIP_NONE;
    if (dense_normalize_pad(s, c->mean, c->std, c->size_divisor)) return -1;
    memset(meta, 0, sizeof *meta);
    meta->ori_h = s->ori_h, meta->ori_w = s->ori_w;
    meta->img_h = s->img_h, meta->img_w = s->img_w;
    meta->pad_h = s->pad_h, meta->pad_w = s->pad_w;
    meta->scale_factor[0] = meta->scale_factor[2] = s->scale_w;
    meta->scale_factor[1] = meta->scale_factor[3] = s->scale_h;
    meta->flip = s->flip == DENSE_FLIP_H;
    return 0;
}

void det_batch_free(det_batch *b) {
    if (b->gts)
        for (int i = 0; i < b->n; i++) free(b->gts[i].boxes), free(b->gts[i].labels), free(b->gts[i].masks);
    free(b->images), free(b->metas), free(b->gts), free(b->index);
    memset(b, 0, sizeof *b);
}

static void shuffle(int *a, int n, rng_t *r) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rng_u64(r) % (uint64_t)(i + 1)), t = a[i];
        a[i] = a[j], a[j] = t;
    }
}

int det_group_sampler_flags(const uint8_t *flag, int n, int batch, uint64_t seed, int epoch, int **order, int *n_out) {
    if (n < 1 || batch < 1) return err_set("detection sampler: %d images, batch %d", n, batch);
    rng_t r;
    rng_seed(&r, seed * 1000003ULL + (uint64_t)epoch * 7919ULL + 11);
    int n_chunks = 0, total = 0;
    int cnt[2] = {0, 0};
    for (int i = 0; i < n; i++) cnt[flag[i] != 0]++;
    for (int g = 0; g < 2; g++)
        if (cnt[g]) total += (cnt[g] + batch - 1) / batch * batch;
    int *out = xmalloc(sizeof(int) * total), k = 0;
    for (int g = 0; g < 2; g++) {
        if (!cnt[g]) continue;
        int m = (cnt[g] + batch - 1) / batch * batch, base = k;
        for (int i = 0; i < n; i++)
            if ((flag[i] != 0) == g) out[k++] = i;
        shuffle(out + base, cnt[g], &r);
        for (int e = cnt[g]; e < m; e++) out[k++] = out[base + (int)(rng_u64(&r) % (uint64_t)cnt[g])]; /* random repeats */
        n_chunks += m / batch;
    }
    /* shuffle the batches */
    int *perm = xmalloc(sizeof(int) * n_chunks), *res = xmalloc(sizeof(int) * total);
    for (int i = 0; i < n_chunks; i++) perm[i] = i;
    shuffle(perm, n_chunks, &r);
    for (int i = 0; i < n_chunks; i++) memcpy(res + (size_t)i * batch, out + (size_t)perm[i] * batch, sizeof(int) * batch);
    free(perm), free(out);
    *order = res;
    *n_out = total;
    return 0;
}

int det_group_sampler(const voc_det_dataset *ds, int batch, uint64_t seed, int epoch, int **order, int *n_out) {
    uint8_t *flag = xmalloc((size_t)(ds->n > 0 ? ds->n : 1));
    for (int i = 0; i < ds->n; i++) flag[i] = ds->images[i].width > ds->images[i].height;
    int rc = det_group_sampler_flags(flag, ds->n, batch, seed, epoch, order, n_out);
    free(flag);
    return rc;
}

/* sample i of a batch: the pipeline applied (flip drawn from r), its ground truths copied into b->gts[i] */
static int batch_add_sample(const det_pipeline_cfg *c, int train, dense_sample *s, rng_t *r, det_batch *b, int i) {
    if (det_pipeline_apply(c, train, s, r, &b->metas[i])) return -1;
    det_gt *g = &b->gts[i];
    g->n = s->n_boxes;
    g->boxes = xmalloc(sizeof(float) * 4 * (g->n ? g->n : 1));
    g->labels = xmalloc(sizeof(int) * (g->n ? g->n : 1));
    memcpy(g->boxes, s->boxes, sizeof(float) * 4 * g->n);
    memcpy(g->labels, s->labels, sizeof(int) * g->n);
    return 0;
}

static void batch_begin(det_batch *b, int n) {
    memset(b, 0, sizeof *b);
    b->metas = xcalloc(n, sizeof *b->metas);
    b->gts = xcalloc(n, sizeof *b->gts);
    b->index = xmalloc(sizeof(int) * n);
    b->n = n;
}

int det_batch_load(const voc_det_dataset *ds, const det_pipeline_cfg *c, int train, const int *idx, int n, uint64_t seed, det_batch *b) {
    batch_begin(b, n);
    dense_sample *s = xcalloc(n, sizeof *s);
    dense_sample **sp = xmalloc(sizeof *sp * n);
    int rc = 0, loaded = 0;
    for (int i = 0; i < n && !rc; i++) {
        const voc_det_image *im = &ds->images[idx[i]];
        if (det_sample_load_voc(im, &s[i])) {
            rc = -1;
            break;
        }
        loaded++;
        rng_t r;
        rng_seed(&r, seed ^ (0x9E3779B97F4A7C15ULL * (uint64_t)(idx[i] + 1)));
        if (batch_add_sample(c, train, &s[i], &r, b, i)) {
            rc = err_prefix("%s", im->image_path);
            break;
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

int det_batch_synthetic(const det_pipeline_cfg *c, int n, int size, int n_boxes, int num_classes, uint64_t seed, det_batch *b) {
    return det_batch_synthetic_wh(c, n, size, size, n_boxes, num_classes, seed, b);
}

int det_batch_synthetic_wh(const det_pipeline_cfg *c, int n, int width, int height, int n_boxes, int num_classes, uint64_t seed,
                           det_batch *b) {
    if (n < 1 || width < 8 || height < 8 || n_boxes < 1 || num_classes < 1)
        return err_set("synthetic detection batch: %d images of %dx%d px with %d boxes of %d classes (need >= 1, >= 8, >= 1, >= 1)",
                       n, width, height, n_boxes, num_classes);
    batch_begin(b, n);
    dense_sample *s = xcalloc(n, sizeof *s);
    dense_sample **sp = xmalloc(sizeof *sp * n);
    rng_t r;
    rng_seed(&r, seed);
    int rc = 0, made = 0;
    for (int i = 0; i < n && !rc; i++) {
        image img;
        if (image_alloc(&img, width, height, 3)) {
            rc = err_set("synthetic detection batch: cannot allocate a %dx%d px image", width, height);
            break;
        }
        for (size_t k = 0; k < (size_t)width * height * 3; k++) img.data[k] = (uint8_t)rng_below(&r, 256);
        dense_sample_init(&s[i], &img);
        made++;
        s[i].n_boxes = n_boxes;
        s[i].boxes = xmalloc(sizeof(float) * 4 * n_boxes);
        s[i].labels = xmalloc(sizeof(int) * n_boxes);
        for (int j = 0; j < n_boxes; j++) { /* sides in [width/8, width/2] and [height/8, height/2], inside the image */
            float w = width / 8.0f + rng_uniform(&r) * (width * 3 / 8.0f), h = height / 8.0f + rng_uniform(&r) * (height * 3 / 8.0f);
            float x = rng_uniform(&r) * (width - w), y = rng_uniform(&r) * (height - h);
            float *o = s[i].boxes + 4 * j;
            o[0] = x, o[1] = y, o[2] = x + w, o[3] = y + h;
            s[i].labels[j] = (int)rng_below(&r, (uint32_t)num_classes);
        }
        if (batch_add_sample(c, 1, &s[i], &r, b, i)) {
            rc = err_prefix("synthetic detection image %d", i);
            break;
        }
        sp[i] = &s[i];
        b->index[i] = i;
    }
    if (!rc) rc = dense_collate(sp, n, &b->images, &b->H, &b->W, NULL);
    for (int i = 0; i < made; i++) dense_sample_free(&s[i]);
    free(s), free(sp);
    if (rc) det_batch_free(b);
    return rc;
}

void det_batch_shard_view(const det_batch *b, int rank, int ns, det_batch *v) {
    int per = b->n / ns, off = rank * per;
    *v = *b;
    v->n = per;
    v->images = b->images + (size_t)off * 3 * b->H * b->W;
    v->metas = b->metas + off, v->gts = b->gts + off, v->index = b->index + off;
}

int det_batch_count(const void *batch) { return ((const det_batch *)batch)->n; }

uint64_t det_batch_plan_key(const void *batch) {
    const det_batch *b = batch;
    return (uint64_t)b->n << 40 | (uint64_t)b->H << 20 | (uint64_t)b->W;
}

tensor *det_batch_tensor(graph *g, const det_batch *b) {
    tensor *x = tensor_new4(g, b->n, 3, b->H, b->W, 0);
    memcpy(x->data, b->images, sizeof(float) * x->n);
    return x;
}

void det_test_size(int w, int h, int long_edge, int short_edge, int keep_ratio, int *tw, int *th) {
    if (keep_ratio) dense_rescale_size(w, h, long_edge, short_edge, tw, th);
    else *tw = long_edge, *th = short_edge;
}

int det_test_batches(const int *w, const int *h, int n, int size_divisor, int batch, int *order, int *start) {
    int d = size_divisor > 0 ? size_divisor : 1, nb = 0, q = 0;
    if (batch < 1) batch = 1;
    uint8_t *done = xcalloc((size_t)(n > 0 ? n : 1), 1);
    for (int i = 0; i < n; i++) {
        if (done[i]) continue;
        int pw = (w[i] + d - 1) / d, ph = (h[i] + d - 1) / d, in_batch = 0;
        for (int j = i; j < n; j++) {
            if (done[j] || (w[j] + d - 1) / d != pw || (h[j] + d - 1) / d != ph) continue;
            if (in_batch == 0) start[nb++] = q;
            order[q++] = j, done[j] = 1;
            if (++in_batch == batch) in_batch = 0;
        }
    }
    start[nb] = q;
    free(done);
    return nb;
}
