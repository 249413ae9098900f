/* test_coco_pipeline.c - the COCO data path of the authors' Cascade Mask R-CNN config (mmdet 2.11): the box
 * parsing rules of _parse_ann_info on hand cases, masks decoded and kept aligned with their boxes through
 * flip / resize / crop, the drawn scales and crops against the config's lists, the test sizes, determinism,
 * and batches of a synth_coco_write set. */
#include "test_util.h"

#include "../core/common.h"
#include "../datasets/coco.h"
#include "../datasets/coco_pipeline.h"
#include "../datasets/synth_dense.h"
#include "../metrics/mask.h"

/* column-major runs of a w x h mask that is 1 on [x0, x1) x [y0, y1), written as a JSON list */
static void rect_rle_json(char *out, size_t cap, int w, int h, int x0, int y0, int x1, int y1) {
    size_t k = 0;
    uint32_t zeros = (uint32_t)(x0 * h + y0);
    k += snprintf(out + k, cap - k, "[%u", zeros);
    for (int x = x0; x < x1; x++) {
        k += snprintf(out + k, cap - k, ",%d", y1 - y0);
        int z = (x + 1 < x1) ? h - (y1 - y0) : (h - y1) + (w - x1) * h;
        k += snprintf(out + k, cap - k, ",%d", z);
    }
    snprintf(out + k, cap - k, "]");
}

static void blank_sample(dense_sample *s, int w, int h) {
    image im;
    assert_int_equal(image_alloc(&im, w, h, 3), 0);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++) image_px(&im, x, y)[c] = (uint8_t)(x * 7 + y * 3 + c * 50);
    dense_sample_init(s, &im);
}

/* the parsing rules of mmdet 2.11 CocoDataset._parse_ann_info, and the masks of the kept boxes */
static void test_parse_rules(void **state) {
    (void)state;
    enum { W = 64, H = 48 };
    char rle_a[8192], rle_b[8192], js[32768];
    rect_rle_json(rle_a, sizeof rle_a, W, H, 5, 6, 25, 30);  /* box (5, 6, 20, 24) */
    rect_rle_json(rle_b, sizeof rle_b, W, H, 40, 10, 60, 20); /* box (40, 10, 20, 10) */
    snprintf(js, sizeof js,
             "{\"images\": [{\"id\": 3, \"file_name\": \"a.jpg\", \"width\": %d, \"height\": %d}],"
             "\"categories\": [{\"id\": 7, \"name\": \"x\"}, {\"id\": 2, \"name\": \"y\"}],"
             "\"annotations\": ["
             /* 0 kept: RLE rectangle, category 2 -> label 1 */
             "{\"id\": 1, \"image_id\": 3, \"category_id\": 2, \"bbox\": [5, 6, 20, 24], \"area\": 480, \"iscrowd\": 0,"
             " \"segmentation\": {\"size\": [%d, %d], \"counts\": %s}},"
             /* 1 ignore flag: skipped */
             "{\"id\": 2, \"image_id\": 3, \"category_id\": 7, \"bbox\": [1, 1, 10, 10], \"area\": 100, \"ignore\": 1,"
             " \"segmentation\": [[1, 1, 11, 1, 11, 11, 1, 11]]},"
             /* 2 crowd: to the ignore list, not a gt, no mask */
             "{\"id\": 3, \"image_id\": 3, \"category_id\": 7, \"bbox\": [2, 2, 8, 8], \"area\": 64, \"iscrowd\": 1,"
             " \"segmentation\": {\"size\": [%d, %d], \"counts\": [100, 20, %d]}},"
             /* 3 w < 1: skipped */
             "{\"id\": 4, \"image_id\": 3, \"category_id\": 7, \"bbox\": [3, 3, 0.9, 10], \"area\": 9,"
             " \"segmentation\": [[3, 3, 3.9, 3, 3.9, 13, 3, 13]]},"
             /* 4 h < 1: skipped */
             "{\"id\": 5, \"image_id\": 3, \"category_id\": 7, \"bbox\": [3, 3, 10, 0.5], \"area\": 5,"
             " \"segmentation\": [[3, 3, 13, 3, 13, 3.5, 3, 3.5]]},"
             /* 5 area 0: skipped */
             "{\"id\": 6, \"image_id\": 3, \"category_id\": 7, \"bbox\": [3, 3, 10, 10], \"area\": 0,"
             " \"segmentation\": [[3, 3, 13, 3, 13, 13, 3, 13]]},"
             /* 6 outside the image (no overlap): skipped */
             "{\"id\": 7, \"image_id\": 3, \"category_id\": 7, \"bbox\": [64, 0, 10, 10], \"area\": 100,"
             " \"segmentation\": [[64, 0, 74, 0, 74, 10, 64, 10]]},"
             /* 7 kept: polygon, fractional box, x2 = x + w (no -1 in mmdet 2.11) */
             "{\"id\": 8, \"image_id\": 3, \"category_id\": 7, \"bbox\": [10.5, 20.25, 12.5, 7.5], \"area\": 93.75,"
             " \"segmentation\": [[10.5, 20.25, 23, 20.25, 23, 27.75, 10.5, 27.75]]},"
             /* 8 kept: RLE rectangle, annotation id 0 is valid */
             "{\"id\": 0, \"image_id\": 3, \"category_id\": 7, \"bbox\": [40, 10, 20, 10], \"area\": 200,"
             " \"segmentation\": {\"size\": [%d, %d], \"counts\": %s}}"
             "]}",
             W, H, H, W, rle_a, H, W, W * H - 120, H, W, rle_b);
    coco_dataset ds;
    if (coco_parse(js, strlen(js), "hand.json", NULL, &ds) < 0) fail_msg("%s", err_msg());
    dense_sample s;
    blank_sample(&s, W, H);
    if (coco_sample_annotate(&ds, 0, 1, &s) < 0) fail_msg("%s", err_msg());
    assert_int_equal(s.n_boxes, 3);
    assert_int_equal(s.n_masks, 3);
    const float want[3][4] = {{5, 6, 25, 30}, {10.5f, 20.25f, 23, 27.75f}, {40, 10, 60, 20}};
    const int want_lab[3] = {1, 0, 0};
    for (int i = 0; i < 3; i++) {
        for (int k = 0; k < 4; k++) assert_true(s.boxes[4 * i + k] == want[i][k]);
        assert_int_equal(s.labels[i], want_lab[i]);
    }
    /* RLE masks decoded exactly: their tight boxes are the rectangles */
    float tb[4];
    assert_int_equal(coco_mask_tight_box(s.masks, W, H, tb), 1);
    for (int k = 0; k < 4; k++) assert_true(tb[k] == want[0][k]);
    assert_int_equal(coco_mask_tight_box(s.masks + 2 * W * H, W, H, tb), 1);
    for (int k = 0; k < 4; k++) assert_true(tb[k] == want[2][k]);
    long on = 0;
    for (int i = 0; i < W * H; i++) on += s.masks[i];
    assert_int_equal(on, 20 * 24);
    /* the polygon mask is pycocotools' rasterisation (metrics/mask.h), row-major */
    rle r;
    const double xy[8] = {10.5, 20.25, 23, 20.25, 23, 27.75, 10.5, 27.75};
    assert_int_equal(rle_from_poly(&r, xy, 4, H, W), 0);
    uint8_t *col = malloc(W * H);
    assert_int_equal(rle_decode(&r, col), 0);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) assert_int_equal(s.masks[W * H + y * W + x], col[x * H + y]);
    free(col);
    rle_free(&r);
    /* without masks: the same boxes, no masks */
    assert_int_equal(coco_sample_annotate(&ds, 0, 0, &s), 0);
    assert_int_equal(s.n_boxes, 3);
    assert_int_equal(s.n_masks, 0);
    dense_sample_free(&s);
    /* an image whose file size differs from the annotated size is refused when masks are needed */
    blank_sample(&s, W + 1, H);
    assert_int_equal(coco_sample_annotate(&ds, 0, 1, &s), -1);
    assert_non_null(strstr(err_msg(), "65x48"));
    dense_sample_free(&s);
    coco_free(&ds);
}

/* a sample with rectangle masks exactly matching integer boxes */
static void rect_sample(dense_sample *s, int w, int h, int n, const int (*rects)[4]) {
    blank_sample(s, w, h);
    s->n_boxes = s->n_masks = n;
    s->boxes = malloc(sizeof(float) * 4 * n);
    s->labels = malloc(sizeof(int) * n);
    s->masks = calloc((size_t)n * w * h, 1);
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < 4; k++) s->boxes[4 * i + k] = (float)rects[i][k];
        s->labels[i] = i;
        for (int y = rects[i][1]; y < rects[i][3]; y++)
            for (int x = rects[i][0]; x < rects[i][2]; x++) s->masks[(size_t)i * w * h + (size_t)y * w + x] = 1;
    }
}

/* max |tight box of mask i - box i| over the boxes; masks are mw x mh (padded planes allowed) */
static double mask_box_err(const dense_sample *s, int mw, int mh) {
    double e = 0;
    for (int i = 0; i < s->n_boxes; i++) {
        float tb[4];
        const float *b = s->boxes + 4 * i;
        if (!coco_mask_tight_box(s->masks + (size_t)i * mw * mh, mw, mh, tb)) {
            /* a sliver box whose mask fell between sample points */
            double d = fmin(b[2] - b[0], b[3] - b[1]);
            if (d > e) e = d;
            continue;
        }
        for (int k = 0; k < 4; k++) e = fmax(e, fabs(tb[k] - b[k]));
    }
    return e;
}

static const int rects5[5][4] = {{10, 20, 110, 90}, {300, 5, 400, 300}, {0, 0, 40, 40}, {560, 400, 640, 480}, {200, 200, 201, 260}};

static void test_masks_follow_boxes(void **state) {
    (void)state;
    dense_sample s;
    /* flip: exact */
    rect_sample(&s, 640, 480, 5, rects5);
    dense_flip(&s, DENSE_FLIP_H);
    assert_true(mask_box_err(&s, 640, 480) == 0);
    assert_true(s.boxes[0] == 530 && s.boxes[2] == 630);
    /* resize up and down: within one pixel (nearest sampling of the mask, exact scaling of the box) */
    dense_resize(&s, 1333, 800, 1);
    assert_int_equal(s.img_w, 1067);
    assert_int_equal(s.img_h, 800);
    assert_true(mask_box_err(&s, s.img_w, s.img_h) < 1.0);
    dense_sample_free(&s);
    rect_sample(&s, 640, 480, 5, rects5);
    dense_resize(&s, 1333, 400, 1);
    assert_int_equal(s.img_w, 533);
    assert_true(mask_box_err(&s, s.img_w, s.img_h) < 1.0);
    /* crop: exact against the cropped mask (boxes shifted and clipped, masks cut with them) */
    dense_sample_free(&s);
    rect_sample(&s, 640, 480, 5, rects5);
    assert_int_equal(dense_crop(&s, 50, 30, 400, 300), 0);
    /* kept: rect 0 (clipped), rect 1 (clipped), rect 4; rect 2 and 3 leave the crop */
    assert_int_equal(s.n_boxes, 3);
    assert_int_equal(s.n_masks, 3);
    assert_true(mask_box_err(&s, 400, 300) == 0);
    assert_true(s.boxes[0] == 0 && s.boxes[1] == 0 && s.boxes[2] == 60 && s.boxes[3] == 60);
    assert_int_equal(s.labels[2], 4);
    dense_sample_free(&s);
    /* the whole train pipeline, many seeds: masks stay with their boxes (to within the rounding of the
     * nearest resizes, scaled by a second resize after the crop), padded to pad_shape */
    coco_pipeline_cfg c;
    coco_pipeline_cfg_default(&c);
    int seen_policy[2] = {0, 0}, seen_flip[2] = {0, 0};
    for (int seed = 0; seed < 60; seed++) {
        rect_sample(&s, 640, 480, 5, rects5);
        rng_t r;
        rng_seed(&r, 1000 + seed);
        det_img_meta m;
        coco_aug_trace t;
        if (coco_pipeline_train(&c, &s, &r, &m, &t) < 0) fail_msg("%s", err_msg());
        seen_policy[t.policy]++, seen_flip[t.flip]++;
        assert_int_equal(s.n_masks, s.n_boxes);
        assert_int_equal(m.pad_w, s.pad_w);
        assert_int_equal(m.pad_h, s.pad_h);
        double tol = t.policy == 0 ? 1.0 : 1.0 + 1.0 * fmax(m.scale_factor[0], m.scale_factor[1]) + 1e-3;
        double e = mask_box_err(&s, s.pad_w, s.pad_h);
        if (e >= tol) fail_msg("seed %d policy %d: mask/box misalignment %.3f (tolerance %.3f)", seed, t.policy, e, tol);
        /* nothing of any mask in the padding */
        for (int i = 0; i < s.n_masks; i++)
            for (int y = 0; y < s.pad_h; y++)
                for (int x = 0; x < s.pad_w; x++)
                    if (x >= s.img_w || y >= s.img_h) assert_int_equal(s.masks[(size_t)i * s.pad_w * s.pad_h + (size_t)y * s.pad_w + x], 0);
        /* boxes inside the image */
        for (int i = 0; i < s.n_boxes; i++) {
            const float *b = s.boxes + 4 * i;
            assert_true(b[0] >= 0 && b[1] >= 0 && b[2] <= s.img_w && b[3] <= s.img_h && b[2] > b[0] && b[3] > b[1]);
        }
        dense_sample_free(&s);
    }
    assert_true(seen_policy[0] > 10 && seen_policy[1] > 10);
    assert_true(seen_flip[0] > 10 && seen_flip[1] > 10);
}

/* the drawn scales belong to the policies' lists, crops within 384..600 of the image, sizes as mmcv */
static void test_scales_and_crops(void **state) {
    (void)state;
    coco_pipeline_cfg c;
    coco_pipeline_cfg_default(&c);
    /* the config's numbers */
    assert_int_equal(c.n_ms, 11);
    for (int i = 0; i < 11; i++) assert_true(c.ms_scales[i][0] == 480 + 32 * i && c.ms_scales[i][1] == 1333);
    assert_int_equal(c.ms_scales[10][0], 800);
    assert_int_equal(c.n_pre, 3);
    assert_true(c.pre_scales[0][0] == 400 && c.pre_scales[1][0] == 500 && c.pre_scales[2][0] == 600 && c.pre_scales[2][1] == 1333);
    assert_true(c.crop_lo == 384 && c.crop_hi == 600 && c.allow_negative_crop == 1);
    assert_true(c.flip_ratio == 0.5f && c.size_divisor == 32 && c.test_long == 1333 && c.test_short == 800);
    const int sizes[4][2] = {{640, 480}, {480, 640}, {500, 333}, {1000, 200}};
    int count_scale[11] = {0}, count_pre[3] = {0}, n_pol[2] = {0, 0};
    for (int si = 0; si < 4; si++) {
        int W = sizes[si][0], H = sizes[si][1];
        for (int seed = 0; seed < 120; seed++) {
            dense_sample s;
            blank_sample(&s, W, H);
            rng_t r;
            rng_seed(&r, (uint64_t)seed * 31 + si);
            det_img_meta m;
            coco_aug_trace t;
            if (coco_pipeline_train(&c, &s, &r, &m, &t) < 0) fail_msg("%s", err_msg());
            n_pol[t.policy]++;
            int ew, eh;
            if (t.policy == 0) {
                assert_true(t.scale_idx[0] >= 0 && t.scale_idx[0] < 11 && t.scale_idx[1] == -1);
                count_scale[t.scale_idx[0]]++;
                dense_rescale_size(W, H, 1333, c.ms_scales[t.scale_idx[0]][0], &ew, &eh);
            } else {
                assert_true(t.scale_idx[0] >= 0 && t.scale_idx[0] < 3 && t.scale_idx[1] >= 0 && t.scale_idx[1] < 11);
                count_pre[t.scale_idx[0]]++;
                count_scale[t.scale_idx[1]]++;
                int pw, ph;
                dense_rescale_size(W, H, 1333, c.pre_scales[t.scale_idx[0]][0], &pw, &ph);
                assert_int_equal(t.w_before_crop, pw);
                assert_int_equal(t.h_before_crop, ph);
                int lo_h = ph < 384 ? ph : 384, hi_h = ph < 600 ? ph : 600, lo_w = pw < 384 ? pw : 384, hi_w = pw < 600 ? pw : 600;
                assert_true(t.crop_h >= lo_h && t.crop_h <= hi_h);
                assert_true(t.crop_w >= lo_w && t.crop_w <= hi_w);
                assert_true(t.crop_x >= 0 && t.crop_x + t.crop_w <= pw && t.crop_y >= 0 && t.crop_y + t.crop_h <= ph);
                dense_rescale_size(t.crop_w, t.crop_h, 1333, c.ms_scales[t.scale_idx[1]][0], &ew, &eh);
                /* the meta's scale_factor is the last Resize's alone */
                assert_true(m.scale_factor[0] == (float)ew / t.crop_w && m.scale_factor[1] == (float)eh / t.crop_h);
            }
            assert_int_equal(m.img_w, ew);
            assert_int_equal(m.img_h, eh);
            assert_int_equal(m.pad_w, (ew + 31) / 32 * 32);
            assert_int_equal(m.pad_h, (eh + 31) / 32 * 32);
            assert_true(m.ori_w == W && m.ori_h == H);
            /* a chosen scale: the short side reaches it, or the long side hits 1333 */
            int sh = ew < eh ? ew : eh, lg = ew < eh ? eh : ew;
            int S = c.ms_scales[t.policy == 0 ? t.scale_idx[0] : t.scale_idx[1]][0];
            assert_true(abs(sh - S) <= 1 || (lg <= 1333 && lg >= 1332));
            dense_sample_free(&s);
        }
    }
    assert_true(n_pol[0] > 180 && n_pol[1] > 180);
    for (int i = 0; i < 11; i++) assert_true(count_scale[i] > 10);
    for (int i = 0; i < 3; i++) assert_true(count_pre[i] > 20);
}

static void test_test_pipeline_and_determinism(void **state) {
    (void)state;
    coco_pipeline_cfg c;
    coco_pipeline_cfg_default(&c);
    const int cases[4][6] = {/* w, h -> img w, h, pad w, h */
                             {640, 480, 1067, 800, 1088, 800},
                             {480, 640, 800, 1067, 800, 1088},
                             {2000, 500, 1333, 333, 1344, 352},
                             {427, 640, 800, 1199, 800, 1216}};
    for (int i = 0; i < 4; i++) {
        dense_sample s;
        blank_sample(&s, cases[i][0], cases[i][1]);
        det_img_meta m;
        assert_int_equal(coco_pipeline_test(&c, &s, &m), 0);
        assert_int_equal(m.img_w, cases[i][2]);
        assert_int_equal(m.img_h, cases[i][3]);
        assert_int_equal(m.pad_w, cases[i][4]);
        assert_int_equal(m.pad_h, cases[i][5]);
        assert_int_equal(m.flip, 0);
        assert_true(m.scale_factor[0] == (float)cases[i][2] / cases[i][0]);
        assert_true(m.scale_factor[3] == (float)cases[i][3] / cases[i][1]);
        dense_sample_free(&s);
    }
    /* same generator state: the same sample, bit for bit */
    for (int seed = 0; seed < 8; seed++) {
        dense_sample a, b;
        rect_sample(&a, 640, 480, 5, rects5);
        rect_sample(&b, 640, 480, 5, rects5);
        rng_t ra, rb;
        rng_seed(&ra, seed), rng_seed(&rb, seed);
        det_img_meta ma, mb;
        coco_aug_trace ta, tb;
        assert_int_equal(coco_pipeline_train(&c, &a, &ra, &ma, &ta), 0);
        assert_int_equal(coco_pipeline_train(&c, &b, &rb, &mb, &tb), 0);
        assert_memory_equal(&ta, &tb, sizeof ta);
        assert_memory_equal(&ma, &mb, sizeof ma);
        assert_int_equal(a.n_boxes, b.n_boxes);
        assert_memory_equal(a.boxes, b.boxes, sizeof(float) * 4 * a.n_boxes);
        assert_memory_equal(a.norm, b.norm, sizeof(float) * 3 * a.pad_w * a.pad_h);
        if (a.n_masks) assert_memory_equal(a.masks, b.masks, (size_t)a.n_masks * a.pad_w * a.pad_h);
        dense_sample_free(&a), dense_sample_free(&b);
    }
}

/* a small synth_coco_write set through the loader and the batch collation */
static void test_synth_batches(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("coco_pipeline");
    char root[2048], ann[4096], img_dir[4096];
    snprintf(root, sizeof root, "%s/coco", dir);
    synth_coco_cfg cfg = {.split = "train2017", .n_images = 6, .crowd_prob = 0.5f, .seed = 5};
    synth_summary sum;
    if (synth_coco_write(root, &cfg, &sum) < 0) fail_msg("%s", err_msg());
    snprintf(ann, sizeof ann, "%s/annotations/instances_train2017.json", root);
    snprintf(img_dir, sizeof img_dir, "%s/train2017", root);
    coco_dataset ds;
    if (coco_load(ann, NULL, &ds) < 0) fail_msg("%s", err_msg());
    /* loaded: each gt mask's tight box is its box to within the polygon rasteriser's pixel */
    int n_gt_total = 0;
    for (int i = 0; i < ds.n_images; i++) {
        dense_sample s;
        if (coco_sample_load(&ds, img_dir, i, 1, &s) < 0) fail_msg("%s", err_msg());
        assert_int_equal(s.img.w, ds.images[i].width);
        assert_int_equal(s.n_masks, s.n_boxes);
        n_gt_total += s.n_boxes;
        double e = mask_box_err(&s, s.img.w, s.img.h);
        if (e > 1.0) fail_msg("image %d: mask/box %.3f", i, e);
        dense_sample_free(&s);
    }
    assert_true(n_gt_total > 0 && n_gt_total <= sum.n_objects - sum.n_crowd);
    /* the group sampler over the kept images: batches of one aspect group, every image, per (seed, epoch) */
    int keep[16], n_keep = coco_filter_images(&ds, 1, 32, keep);
    assert_true(n_keep >= 4);
    int *ord, n_ord, *ord2, n_ord2;
    assert_int_equal(coco_group_sampler(&ds, keep, n_keep, 2, 9, 0, &ord, &n_ord), 0);
    assert_true(n_ord % 2 == 0 && n_ord >= n_keep && n_ord <= n_keep + 2);
    for (int k = 0; k < n_keep; k++) {
        int found = 0;
        for (int q = 0; q < n_ord; q++) found |= ord[q] == keep[k];
        assert_true(found);
    }
    for (int q = 0; q < n_ord; q += 2) {
        const coco_image *a = &ds.images[ord[q]], *b2i = &ds.images[ord[q + 1]];
        assert_int_equal(a->width > a->height, b2i->width > b2i->height);
    }
    assert_int_equal(coco_group_sampler(&ds, keep, n_keep, 2, 9, 0, &ord2, &n_ord2), 0);
    assert_int_equal(n_ord2, n_ord);
    assert_memory_equal(ord, ord2, sizeof(int) * n_ord);
    free(ord), free(ord2);
    coco_pipeline_cfg c;
    coco_pipeline_cfg_default(&c);
    int idx[3] = {0, 3, 5};
    det_batch b, b2;
    if (coco_batch_load(&ds, img_dir, &c, 1, idx, 3, 77, &b) < 0) fail_msg("%s", err_msg());
    assert_int_equal(b.n, 3);
    assert_true(b.H % 32 == 0 && b.W % 32 == 0);
    for (int i = 0; i < 3; i++) {
        const det_img_meta *m = &b.metas[i];
        const det_gt *g = &b.gts[i];
        assert_int_equal(b.index[i], idx[i]);
        assert_true(m->pad_w <= b.W && m->pad_h <= b.H && m->pad_w % 32 == 0 && m->pad_h % 32 == 0);
        assert_true(m->ori_w == ds.images[idx[i]].width && m->ori_h == ds.images[idx[i]].height);
        assert_non_null(g->masks);
        assert_true(g->mask_w == m->pad_w && g->mask_h == m->pad_h);
        for (int j = 0; j < g->n; j++) {
            assert_true(g->labels[j] >= 0 && g->labels[j] < SYNTH_COCO_N_CLASSES);
            const float *bb = g->boxes + 4 * j;
            assert_true(bb[0] >= 0 && bb[2] <= m->img_w && bb[1] >= 0 && bb[3] <= m->img_h);
            float tb[4];
            /* a crop can cut a non-convex mask so that its tight box shrinks inside the clipped box (mmdet
             * does not recompute boxes either): the mask stays inside its box, to within the rounding */
            if (coco_mask_tight_box(g->masks + (size_t)j * g->mask_w * g->mask_h, g->mask_w, g->mask_h, tb)) {
                double tol = 1.0 + 2.0 * (1.0 + fmax(m->scale_factor[0], m->scale_factor[1]));
                if (tb[0] < bb[0] - tol || tb[1] < bb[1] - tol || tb[2] > bb[2] + tol || tb[3] > bb[3] + tol)
                    fail_msg("batch image %d box %d: mask box %g %g %g %g outside box %g %g %g %g", i, j, tb[0], tb[1], tb[2],
                             tb[3], bb[0], bb[1], bb[2], bb[3]);
            }
        }
    }
    /* the same seed: the same batch; another seed: another */
    if (coco_batch_load(&ds, img_dir, &c, 1, idx, 3, 77, &b2) < 0) fail_msg("%s", err_msg());
    assert_true(b2.H == b.H && b2.W == b.W);
    assert_memory_equal(b.images, b2.images, sizeof(float) * 3 * 3 * b.H * b.W);
    det_batch_free(&b2);
    int differs = 0;
    for (uint64_t sd = 78; sd < 82 && !differs; sd++) {
        if (coco_batch_load(&ds, img_dir, &c, 1, idx, 3, sd, &b2) < 0) fail_msg("%s", err_msg());
        differs = b2.H != b.H || b2.W != b.W || memcmp(b.images, b2.images, sizeof(float) * 3 * 3 * b.H * b.W) != 0;
        det_batch_free(&b2);
    }
    assert_true(differs);
    det_batch_free(&b);
    /* test mode: (1333, 800), boxes scaled, no masks */
    if (coco_batch_load(&ds, img_dir, &c, 0, idx, 3, 0, &b) < 0) fail_msg("%s", err_msg());
    for (int i = 0; i < 3; i++) {
        int ew, eh;
        dense_rescale_size(ds.images[idx[i]].width, ds.images[idx[i]].height, 1333, 800, &ew, &eh);
        assert_true(b.metas[i].img_w == ew && b.metas[i].img_h == eh && b.metas[i].flip == 0);
        assert_null(b.gts[i].masks);
    }
    det_batch_free(&b);
    coco_free(&ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_rules),
        cmocka_unit_test(test_masks_follow_boxes),
        cmocka_unit_test(test_scales_and_crops),
        cmocka_unit_test(test_test_pipeline_and_determinism),
        cmocka_unit_test(test_synth_batches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
