/* coco_eval.c - COCO AP/AR with pycocotools' COCOeval semantics (evaluate + accumulate + summarize),
 * parallel over categories. See coco_eval.h and ../shared/reference/metrics.md B.1. */
#include "coco_eval.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"

#define T_ 10
#define R_ 101
#define A_ 4
#define M_ 3
static const int max_dets[M_] = {1, 10, 100};
static const double area_rng[A_][2] = {{0, 1e10}, {0, 1024}, {1024, 9216}, {9216, 1e10}};

/* numpy.linspace(start, stop, num): i * ((stop - start) / (num - 1)) + start, last element = stop. */
static void linspace(double start, double stop, int num, double *out) {
    double step = (stop - start) / (num - 1);
    for (int i = 0; i < num; i++) out[i] = (double)i * step + start;
    out[num - 1] = stop;
}

typedef struct id_index {
    int64_t id;
    int idx;
} id_index;

static int cmp_id_index(const void *a, const void *b) {
    int64_t x = ((const id_index *)a)->id, y = ((const id_index *)b)->id;
    return x > y ? 1 : x < y ? -1 : 0;
}

static int lookup(const id_index *tab, int n, int64_t id) {
    int lo = 0, hi = n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (tab[mid].id == id) return tab[mid].idx;
        if (tab[mid].id < id)
            lo = mid + 1;
        else
            hi = mid - 1;
    }
    return -1;
}

/* (bucket key, original position) for stable bucketing */
typedef struct keyed {
    int64_t key;
    int pos;
} keyed;

static int cmp_keyed(const void *a, const void *b) {
    const keyed *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? 1 : -1;
    return x->pos > y->pos ? 1 : x->pos < y->pos ? -1 : 0;
}

/* detection order inside one (image, category): score descending, stable */
typedef struct scored {
    double score;
    int pos;
} scored;

static int cmp_scored(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    return x->pos > y->pos ? 1 : x->pos < y->pos ? -1 : 0;
}

typedef struct eval_ctx {
    const coco_gt *gt;
    const coco_det *dt;
    int iou_type;
    int I, K;
    /* per category: CSR over images of gt and det indices (gt: file order; det: file order) */
    int *gt_start, *gt_idx; /* gt_start[k*(I+1) + i] */
    int *dt_start, *dt_idx;
    double iou_thrs[T_], rec_thrs[R_];
    coco_summary *out;
} eval_ctx;

/* Evaluate and accumulate one category. Returns 0 or -1 (err_set). */
static int eval_category(const eval_ctx *c, int k) {
    const int I = c->I, K = c->K;
    const int *gs = c->gt_start + (size_t)k * (I + 1), *ds = c->dt_start + (size_t)k * (I + 1);
    int n_dt = ds[I] - ds[0];
    /* slots: per image, its detections sorted by score and cut at 100 */
    int max_slots = n_dt;
    double *slot_score = xmalloc((size_t)(max_slots + 1) * sizeof(double));
    int *slot_rank = xmalloc((size_t)(max_slots + 1) * sizeof(int));
    uint8_t *code = xcalloc((size_t)A_ * T_ * (max_slots + 1), 1); /* 1 tp, 2 fp, 0 neither */
    int npig[A_] = {0, 0, 0, 0};
    int n_slots = 0;
    int max_g = 0, max_d = 0;
    for (int i = 0; i < I; i++) {
        int g = gs[i + 1] - gs[i], d = ds[i + 1] - ds[i];
        if (g > max_g) max_g = g;
        if (d > max_d) max_d = d;
    }
    scored *order = xmalloc((size_t)(max_d + 1) * sizeof(scored));
    double *ious = xmalloc((size_t)(max_d + 1) * (max_g + 1) * sizeof(double));
    int *gtind = xmalloc((size_t)(max_g + 1) * sizeof(int));
    uint8_t *gig = xmalloc((size_t)max_g + 1);
    int64_t *gtm = xmalloc((size_t)(max_g + 1) * sizeof(int64_t));
    int rc = 0;

    for (int i = 0; i < I && !rc; i++) {
        const int *G = c->gt_idx + gs[i];
        int ng = gs[i + 1] - gs[i];
        int nd_all = ds[i + 1] - ds[i];
        if (ng == 0 && nd_all == 0) continue;
        for (int d = 0; d < nd_all; d++) {
            order[d].score = c->dt->dets[c->dt_idx[ds[i] + d]].score;
            order[d].pos = c->dt_idx[ds[i] + d];
        }
        qsort(order, nd_all, sizeof(scored), cmp_scored);
        int nd = nd_all < max_dets[M_ - 1] ? nd_all : max_dets[M_ - 1];
        /* IoU matrix [d][g] in the ground truth's file order */
        for (int d = 0; d < nd; d++) {
            const coco_dt_ann *D = &c->dt->dets[order[d].pos];
            for (int g = 0; g < ng; g++) {
                const coco_gt_ann *Ga = &c->gt->anns[G[g]];
                double v;
                if (c->iou_type == COCO_IOU_SEGM)
                    v = rle_iou(&D->mask, &Ga->mask, Ga->iscrowd != 0);
                else
                    v = bbox_iou(D->bbox, Ga->bbox, Ga->iscrowd != 0);
                ious[(size_t)d * ng + g] = v;
            }
        }
        int base = n_slots;
        for (int d = 0; d < nd; d++) {
            slot_score[base + d] = order[d].score;
            slot_rank[base + d] = d;
        }
        n_slots += nd;
        for (int a = 0; a < A_; a++) {
            double lo = area_rng[a][0], hi = area_rng[a][1];
            int nn = 0;
            for (int g = 0; g < ng; g++) {
                const coco_gt_ann *Ga = &c->gt->anns[G[g]];
                gig[g] = Ga->iscrowd || Ga->area < lo || Ga->area > hi;
                if (!gig[g]) gtind[nn++] = g;
            }
            npig[a] += nn;
            for (int g = 0, q = nn; g < ng; g++)
                if (gig[g]) gtind[q++] = g;
            for (int t = 0; t < T_; t++) {
                for (int g = 0; g < ng; g++) gtm[g] = 0;
                uint8_t *cd = code + ((size_t)a * T_ + t) * (max_slots + 1) + base;
                for (int d = 0; d < nd; d++) {
                    const coco_dt_ann *D = &c->dt->dets[order[d].pos];
                    double best = c->iou_thrs[t] < 1 - 1e-10 ? c->iou_thrs[t] : 1 - 1e-10;
                    int m = -1;
                    for (int q = 0; q < ng; q++) {
                        int g = gtind[q];
                        const coco_gt_ann *Ga = &c->gt->anns[G[g]];
                        if (gtm[g] > 0 && !Ga->iscrowd) continue;
                        if (m > -1 && !gig[m] && gig[g]) break;
                        double v = ious[(size_t)d * ng + g];
                        if (v < best) continue;
                        best = v;
                        m = g;
                    }
                    int64_t dtm = 0;
                    int ig = 0;
                    if (m >= 0) {
                        ig = gig[m];
                        dtm = c->gt->anns[G[m]].id; /* an id of 0 reads as "unmatched", as in pycocotools */
                        gtm[m] = (int64_t)order[d].pos + 1;
                    }
                    if (dtm == 0 && (D->area < lo || D->area > hi)) ig = 1;
                    cd[d] = ig ? 0 : dtm != 0 ? 1 : 2;
                }
            }
        }
    }

    /* accumulate: global score order over the category's slots (ties: image order, then rank) */
    scored *glob = xmalloc((size_t)(n_slots + 1) * sizeof(scored));
    for (int s = 0; s < n_slots; s++) {
        glob[s].score = slot_score[s];
        glob[s].pos = s;
    }
    qsort(glob, n_slots, sizeof(scored), cmp_scored);
    int *sel = xmalloc((size_t)(n_slots + 1) * sizeof(int));
    double *pr = xmalloc((size_t)(n_slots + 1) * sizeof(double));
    double *rcl = xmalloc((size_t)(n_slots + 1) * sizeof(double));
    coco_summary *o = c->out;
    for (int a = 0; a < A_; a++) {
        if (npig[a] == 0) continue;
        for (int mi = 0; mi < M_; mi++) {
            int ns = 0;
            for (int s = 0; s < n_slots; s++)
                if (slot_rank[glob[s].pos] < max_dets[mi]) sel[ns++] = glob[s].pos;
            for (int t = 0; t < T_; t++) {
                const uint8_t *cd = code + ((size_t)a * T_ + t) * (max_slots + 1);
                double ctp = 0, cfp = 0;
                for (int s = 0; s < ns; s++) {
                    uint8_t v = cd[sel[s]];
                    if (v == 1) ctp += 1;
                    if (v == 2) cfp += 1;
                    rcl[s] = ctp / npig[a];
                    pr[s] = ctp / (cfp + ctp + 2.220446049250313e-16);
                }
                o->recall[((size_t)t * K + k) * A_ * M_ + a * M_ + mi] = ns ? rcl[ns - 1] : 0;
                for (int s = ns - 1; s > 0; s--)
                    if (pr[s] > pr[s - 1]) pr[s - 1] = pr[s];
                int s = 0;
                for (int r = 0; r < R_; r++) {
                    while (s < ns && rcl[s] < c->rec_thrs[r]) s++;
                    double q = s < ns ? pr[s] : 0;
                    o->precision[(((size_t)t * R_ + r) * K + k) * A_ * M_ + a * M_ + mi] = q;
                }
            }
        }
    }
    free(glob);
    free(sel);
    free(pr);
    free(rcl);
    free(slot_score);
    free(slot_rank);
    free(code);
    free(order);
    free(ious);
    free(gtind);
    free(gig);
    free(gtm);
    return rc;
}

/* Mean of the entries > -1 of precision (ap=1) or recall over the chosen t / area / maxDets. */
static double summarize(const coco_summary *s, int ap, int t_sel, int a, int mi) {
    int K = s->n_cats;
    double sum = 0;
    long n = 0;
    for (int t = 0; t < T_; t++) {
        if (t_sel >= 0 && t != t_sel) continue;
        if (t_sel == -2) continue;
        for (int k = 0; k < K; k++) {
            if (ap) {
                for (int r = 0; r < R_; r++) {
                    double v = s->precision[(((size_t)t * R_ + r) * K + k) * A_ * M_ + a * M_ + mi];
                    if (v > -1) {
                        sum += v;
                        n++;
                    }
                }
            } else {
                double v = s->recall[((size_t)t * K + k) * A_ * M_ + a * M_ + mi];
                if (v > -1) {
                    sum += v;
                    n++;
                }
            }
        }
    }
    return n ? sum / n : -1;
}

int coco_eval_run(const coco_gt *gt, const coco_det *dt, int iou_type, int n_threads, coco_summary *out) {
    memset(out, 0, sizeof *out);
    if (iou_type != COCO_IOU_BBOX && iou_type != COCO_IOU_SEGM) return err_set("coco_eval_run: unknown iou type %d", iou_type);
    eval_ctx c;
    memset(&c, 0, sizeof c);
    c.gt = gt;
    c.dt = dt;
    c.iou_type = iou_type;
    int I = gt->n_images, K = gt->n_cats;
    c.I = I;
    c.K = K;
    linspace(0.5, 0.95, T_, c.iou_thrs);
    linspace(0.0, 1.0, R_, c.rec_thrs);
    id_index *img = xmalloc((size_t)(I + 1) * sizeof(id_index)), *cat = xmalloc((size_t)(K + 1) * sizeof(id_index));
    for (int i = 0; i < I; i++) img[i] = (id_index){gt->images[i].id, i};
    qsort(img, I, sizeof(id_index), cmp_id_index);
    for (int k = 0; k < K; k++) cat[k] = (id_index){gt->cat_ids[k], k};
    qsort(cat, K, sizeof(id_index), cmp_id_index);
    /* sorted position of each image / category (pycocotools sorts the ids) */
    int *img_rank = xmalloc((size_t)(I + 1) * sizeof(int)), *cat_rank = xmalloc((size_t)(K + 1) * sizeof(int));
    for (int i = 0; i < I; i++) img_rank[img[i].idx] = i;
    for (int k = 0; k < K; k++) cat_rank[cat[k].idx] = k;
    int rc = 0;
    for (int i = 1; i < I; i++)
        if (img[i].id == img[i - 1].id) {
            rc = err_set("ground truth: image id %lld appears twice", (long long)img[i].id);
            break;
        }
    /* bucket ground truth and detections by (category, image) */
    keyed *gk = xmalloc((size_t)(gt->n_anns + 1) * sizeof(keyed));
    int ngk = 0;
    for (int j = 0; j < gt->n_anns && !rc; j++) {
        const coco_gt_ann *a = &gt->anns[j];
        int ii = lookup(img, I, a->image_id), kk = lookup(cat, K, a->category_id);
        if (ii < 0 || kk < 0) continue; /* pycocotools only evaluates annotations of listed images/categories */
        if (iou_type == COCO_IOU_SEGM) {
            const coco_gt_image *im = &gt->images[ii];
            if (a->mask.h != (uint32_t)im->height || a->mask.w != (uint32_t)im->width)
                rc = err_set("ground-truth annotation %d (id %lld): mask is %ux%u but image %lld is %dx%d", j,
                             (long long)a->id, a->mask.h, a->mask.w, (long long)im->id, im->height, im->width);
        }
        gk[ngk++] = (keyed){(int64_t)cat_rank[kk] * (I + 1) + img_rank[ii], j};
    }
    keyed *dk = xmalloc((size_t)(dt->n + 1) * sizeof(keyed));
    int ndk = 0;
    for (int j = 0; j < dt->n && !rc; j++) {
        const coco_dt_ann *d = &dt->dets[j];
        int ii = lookup(img, I, d->image_id);
        if (ii < 0) {
            rc = err_set("detection %d: image_id %lld is not in the ground truth (results must refer to ground-truth images)",
                         j, (long long)d->image_id);
            break;
        }
        int kk = lookup(cat, K, d->category_id);
        if (kk < 0) continue;
        if (iou_type == COCO_IOU_SEGM) {
            const coco_gt_image *im = &gt->images[ii];
            if (d->mask.h != (uint32_t)im->height || d->mask.w != (uint32_t)im->width) {
                rc = err_set("detection %d: mask is %ux%u but image %lld is %dx%d", j, d->mask.h, d->mask.w,
                             (long long)im->id, im->height, im->width);
                break;
            }
        }
        dk[ndk++] = (keyed){(int64_t)cat_rank[kk] * (I + 1) + img_rank[ii], j};
    }
    if (rc) {
        free(img);
        free(cat);
        free(img_rank);
        free(cat_rank);
        free(gk);
        free(dk);
        return -1;
    }
    qsort(gk, ngk, sizeof(keyed), cmp_keyed);
    qsort(dk, ndk, sizeof(keyed), cmp_keyed);
    size_t nst = (size_t)K * (I + 1);
    c.gt_start = xcalloc(nst + 1, sizeof(int));
    c.dt_start = xcalloc(nst + 1, sizeof(int));
    c.gt_idx = xmalloc((size_t)(ngk + 1) * sizeof(int));
    c.dt_idx = xmalloc((size_t)(ndk + 1) * sizeof(int));
    /* start offsets: gt_start[k*(I+1)+i] = first entry with key >= k*(I+1)+i (the stride I+1 leaves an empty
     * slot per category, so gt_start[k*(I+1)+I] is where category k ends) */
    for (int j = 0; j < ngk; j++) c.gt_idx[j] = gk[j].pos;
    for (int j = 0; j < ndk; j++) c.dt_idx[j] = dk[j].pos;
    {
        size_t p = 0;
        for (size_t key = 0; key <= nst; key++) {
            while (p < (size_t)ngk && gk[p].key < (int64_t)key) p++;
            if (key < nst) c.gt_start[key] = (int)p;
        }
        p = 0;
        for (size_t key = 0; key <= nst; key++) {
            while (p < (size_t)ndk && dk[p].key < (int64_t)key) p++;
            if (key < nst) c.dt_start[key] = (int)p;
        }
    }
    out->n_cats = K;
    out->cat_ids = xmalloc((size_t)(K + 1) * sizeof(int64_t));
    for (int k = 0; k < K; k++) out->cat_ids[k] = cat[k].id;
    out->cat_ap = xmalloc((size_t)(K + 1) * sizeof(double));
    size_t np = (size_t)T_ * R_ * K * A_ * M_, nr = (size_t)T_ * K * A_ * M_;
    out->precision = xmalloc((np + 1) * sizeof(double));
    out->recall = xmalloc((nr + 1) * sizeof(double));
    for (size_t j = 0; j < np; j++) out->precision[j] = -1;
    for (size_t j = 0; j < nr; j++) out->recall[j] = -1;
    c.out = out;
    int nth = n_threads > 0 ? n_threads : 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nth > 0 ? nth : omp_get_max_threads())
    for (int k = 0; k < K; k++) eval_category(&c, k);
    free(img);
    free(cat);
    free(img_rank);
    free(cat_rank);
    free(gk);
    free(dk);
    free(c.gt_start);
    free(c.dt_start);
    free(c.gt_idx);
    free(c.dt_idx);
    /* summary numbers */
    int t75 = -2;
    for (int t = 0; t < T_; t++)
        if (c.iou_thrs[t] == 0.75) t75 = t;
    int t50 = -2;
    for (int t = 0; t < T_; t++)
        if (c.iou_thrs[t] == 0.5) t50 = t;
    out->stats[0] = summarize(out, 1, -1, 0, 2);
    out->stats[1] = summarize(out, 1, t50, 0, 2);
    out->stats[2] = summarize(out, 1, t75, 0, 2);
    out->stats[3] = summarize(out, 1, -1, 1, 2);
    out->stats[4] = summarize(out, 1, -1, 2, 2);
    out->stats[5] = summarize(out, 1, -1, 3, 2);
    out->stats[6] = summarize(out, 0, -1, 0, 0);
    out->stats[7] = summarize(out, 0, -1, 0, 1);
    out->stats[8] = summarize(out, 0, -1, 0, 2);
    out->stats[9] = summarize(out, 0, -1, 1, 2);
    out->stats[10] = summarize(out, 0, -1, 2, 2);
    out->stats[11] = summarize(out, 0, -1, 3, 2);
    for (int k = 0; k < K; k++) {
        double sum = 0;
        long n = 0;
        for (int t = 0; t < T_; t++)
            for (int r = 0; r < R_; r++) {
                double v = out->precision[(((size_t)t * R_ + r) * K + k) * A_ * M_ + 0 * M_ + 2];
                if (v > -1) {
                    sum += v;
                    n++;
                }
            }
        out->cat_ap[k] = n ? sum / n : -1;
    }
    return 0;
}

void coco_summary_free(coco_summary *s) {
    free(s->cat_ids);
    free(s->cat_ap);
    free(s->precision);
    free(s->recall);
    memset(s, 0, sizeof *s);
}

void coco_summary_print(const coco_summary *s, int iou_type, FILE *f) {
    static const char *area_lbl[A_] = {"all", "small", "medium", "large"};
    (void)iou_type;
    struct {
        int ap;
        const char *iou;
        int a, m;
    } rows[12] = {{1, "0.50:0.95", 0, 100}, {1, "0.50", 0, 100},      {1, "0.75", 0, 100},
                  {1, "0.50:0.95", 1, 100}, {1, "0.50:0.95", 2, 100}, {1, "0.50:0.95", 3, 100},
                  {0, "0.50:0.95", 0, 1},   {0, "0.50:0.95", 0, 10},  {0, "0.50:0.95", 0, 100},
                  {0, "0.50:0.95", 1, 100}, {0, "0.50:0.95", 2, 100}, {0, "0.50:0.95", 3, 100}};
    for (int i = 0; i < 12; i++)
        fprintf(f, " %-18s %s @[ IoU=%-9s | area=%6s | maxDets=%3d ] = %0.3f\n",
                rows[i].ap ? "Average Precision" : "Average Recall", rows[i].ap ? "(AP)" : "(AR)", rows[i].iou,
                area_lbl[rows[i].a], rows[i].m, s->stats[i]);
}

void coco_gt_free(coco_gt *gt) {
    for (int j = 0; j < gt->n_anns; j++) rle_free(&gt->anns[j].mask);
    free(gt->anns);
    free(gt->images);
    free(gt->cat_ids);
    memset(gt, 0, sizeof *gt);
}

void coco_det_free(coco_det *dt) {
    for (int j = 0; j < dt->n; j++) rle_free(&dt->dets[j].mask);
    free(dt->dets);
    memset(dt, 0, sizeof *dt);
}
