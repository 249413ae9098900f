/* voc_eval.c - Pascal VOC mAP with mmdet 2.x's or the devkit's rules (see voc_eval.h). */
#include "voc_eval.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"

double voc_average_precision(const double *rec, const double *prec, int n, int ap_mode) {
    if (ap_mode == VOC_AP_11POINTS) {
        double ap = 0;
        for (int i = 0; i <= 10; i++) {
            double thr = (double)i * 0.1; /* numpy.arange(0, 1.1, 0.1) */
            double best = 0;
            int any = 0;
            for (int j = 0; j < n; j++)
                if (rec[j] >= thr) {
                    if (!any || prec[j] > best) best = prec[j];
                    any = 1;
                }
            ap += best;
        }
        return ap / 11;
    }
    /* area: sentinels (0, 0) and (1, 0), envelope from the right, sum over recall changes */
    double *mrec = xmalloc((size_t)(n + 2) * sizeof(double)), *mpre = xmalloc((size_t)(n + 2) * sizeof(double));
    mrec[0] = 0;
    mpre[0] = 0;
    for (int j = 0; j < n; j++) {
        mrec[j + 1] = rec[j];
        mpre[j + 1] = prec[j];
    }
    mrec[n + 1] = 1;
    mpre[n + 1] = 0;
    for (int j = n + 1; j > 0; j--)
        if (mpre[j] > mpre[j - 1]) mpre[j - 1] = mpre[j];
    double ap = 0;
    for (int j = 0; j < n + 1; j++)
        if (mrec[j + 1] != mrec[j]) ap += (mrec[j + 1] - mrec[j]) * mpre[j + 1];
    free(mrec);
    free(mpre);
    return ap;
}

typedef struct rank_item {
    double score;
    long long tie;
    int pos;
} rank_item;

static int cmp_rank(const void *a, const void *b) {
    const rank_item *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    if (x->tie != y->tie) return x->tie > y->tie ? 1 : -1;
    return x->pos > y->pos ? 1 : x->pos < y->pos ? -1 : 0;
}

void voc_ap_from_marks(const double *score, const long long *tie, const unsigned char *tp, const unsigned char *fp, int n,
                       int n_pos, int ap_mode, int float32_precision, double *ap, double *final_recall) {
    rank_item *it = xmalloc((size_t)(n + 1) * sizeof(rank_item));
    for (int j = 0; j < n; j++) it[j] = (rank_item){score[j], tie ? tie[j] : j, j};
    qsort(it, n, sizeof(rank_item), cmp_rank);
    double *rec = xmalloc((size_t)(n + 1) * sizeof(double)), *prec = xmalloc((size_t)(n + 1) * sizeof(double));
    double ctp = 0, cfp = 0;
    double denom = n_pos > 0 ? (double)n_pos : (double)FLT_EPSILON;
    for (int j = 0; j < n; j++) {
        ctp += tp[it[j].pos];
        cfp += fp[it[j].pos];
        rec[j] = ctp / denom;
        if (float32_precision) {
            float s = (float)(ctp + cfp);
            prec[j] = (double)((float)ctp / (s > FLT_EPSILON ? s : FLT_EPSILON));
        } else {
            double s = ctp + cfp;
            prec[j] = ctp / (s > DBL_EPSILON ? s : DBL_EPSILON);
        }
    }
    *ap = voc_average_precision(rec, prec, n, ap_mode);
    if (float32_precision) *ap = (double)(float)*ap;
    *final_recall = n ? rec[n - 1] : 0;
    free(it);
    free(rec);
    free(prec);
}

/* IoU of one detection with one ground truth box under a protocol. */
static double box_iou_proto(const double *d, const double *g, int protocol) {
    if (protocol == VOC_PROTO_MMDET) {
        float d0 = (float)d[0], d1 = (float)d[1], d2 = (float)d[2], d3 = (float)d[3];
        float g0 = (float)g[0], g1 = (float)g[1], g2 = (float)g[2], g3 = (float)g[3];
        float ad = (d2 - d0) * (d3 - d1), ag = (g2 - g0) * (g3 - g1);
        float w = fminf(d2, g2) - fmaxf(d0, g0), h = fminf(d3, g3) - fmaxf(d1, g1);
        float ov = (w > 0 ? w : 0) * (h > 0 ? h : 0);
        float uni = ad + ag - ov;
        if (uni < 1e-6f) uni = 1e-6f;
        return (double)(ov / uni);
    }
    double iw = fmin(g[2], d[2]) - fmax(g[0], d[0]) + 1., ih = fmin(g[3], d[3]) - fmax(g[1], d[1]) + 1.;
    if (iw < 0) iw = 0;
    if (ih < 0) ih = 0;
    double inter = iw * ih;
    double uni = (d[2] - d[0] + 1.) * (d[3] - d[1] + 1.) + (g[2] - g[0] + 1.) * (g[3] - g[1] + 1.) - inter;
    return inter / uni;
}

void voc_result_alloc(voc_result *out, int n_classes) {
    memset(out, 0, sizeof *out);
    out->n_classes = n_classes;
    out->ap = xcalloc((size_t)n_classes + 1, sizeof(double));
    out->num_gts = xcalloc((size_t)n_classes + 1, sizeof(int));
    out->num_dets = xcalloc((size_t)n_classes + 1, sizeof(int));
    out->recall = xcalloc((size_t)n_classes + 1, sizeof(double));
}

int det_key_cmp(const void *a, const void *b) {
    const det_key *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? 1 : -1;
    if (x->score != y->score) return x->score < y->score ? 1 : -1; /* score descending inside a key */
    return x->pos > y->pos ? 1 : x->pos < y->pos ? -1 : 0;
}

int voc_eval_map(const voc_gt_box *gt, int n_gt, const voc_det_box *dt, int n_dt, int n_images, int n_classes,
                 double iou_thr, int protocol, int ap_mode, voc_result *out) {
    memset(out, 0, sizeof *out);
    for (int j = 0; j < n_gt; j++)
        if (gt[j].image < 0 || gt[j].image >= n_images || gt[j].label < 0 || gt[j].label >= n_classes)
            return err_set("voc_eval_map: ground truth %d has image %d / label %d out of range", j, gt[j].image, gt[j].label);
    for (int j = 0; j < n_dt; j++)
        if (dt[j].image < 0 || dt[j].image >= n_images || dt[j].label < 0 || dt[j].label >= n_classes)
            return err_set("voc_eval_map: detection %d has image %d / label %d out of range", j, dt[j].image, dt[j].label);
    voc_result_alloc(out, n_classes);
    /* group gt and detections by (class, image) */
    det_key *gk = xmalloc((size_t)(n_gt + 1) * sizeof(det_key)), *dk = xmalloc((size_t)(n_dt + 1) * sizeof(det_key));
    for (int j = 0; j < n_gt; j++) gk[j] = (det_key){gt[j].label * n_images + gt[j].image, j, 0};
    for (int j = 0; j < n_dt; j++) dk[j] = (det_key){dt[j].label * n_images + dt[j].image, j, dt[j].score};
    /* gt: keep input order within (class, image) */
    for (int j = 0; j < n_gt; j++) gk[j].score = 0;
    qsort(gk, n_gt, sizeof(det_key), det_key_cmp);
    qsort(dk, n_dt, sizeof(det_key), det_key_cmp);
    unsigned char *tp = xcalloc((size_t)n_dt + 1, 1), *fp = xcalloc((size_t)n_dt + 1, 1);
    double *score = xmalloc((size_t)(n_dt + 1) * sizeof(double));
    long long *tie = xmalloc((size_t)(n_dt + 1) * sizeof(long long));
    int *order = xmalloc((size_t)(n_gt + 1) * sizeof(int));
    unsigned char *covered = xcalloc((size_t)n_gt + 1, 1);
    int gp = 0, dp = 0;
    double sum_ap = 0;
    int n_ap = 0;
    for (int c = 0; c < n_classes; c++) {
        int nd = 0, npos = 0;
        for (int i = 0; i < n_images; i++) {
            int key = c * n_images + i;
            int g0 = gp;
            while (gp < n_gt && gk[gp].key == key) gp++;
            int ng = gp - g0;
            /* mmdet stacks the non-difficult boxes first, then the ignored ones */
            int q = 0;
            for (int g = g0; g < gp; g++)
                if (!gt[gk[g].pos].difficult || protocol == VOC_PROTO_DEVKIT) order[q++] = gk[g].pos;
            if (protocol == VOC_PROTO_MMDET)
                for (int g = g0; g < gp; g++)
                    if (gt[gk[g].pos].difficult) order[q++] = gk[g].pos;
            for (int g = 0; g < ng; g++) {
                covered[g] = 0;
                if (!gt[order[g]].difficult) npos++;
            }
            while (dp < n_dt && dk[dp].key == key) {
                const voc_det_box *d = &dt[dk[dp].pos];
                double best = -INFINITY;
                int m = -1;
                for (int g = 0; g < ng; g++) {
                    double v = box_iou_proto(d->box, gt[order[g]].box, protocol);
                    if (v > best) {
                        best = v;
                        m = g;
                    }
                }
                int hit = m >= 0 && (protocol == VOC_PROTO_MMDET ? best >= iou_thr : best > iou_thr);
                tp[nd] = fp[nd] = 0;
                if (hit) {
                    if (!gt[order[m]].difficult) {
                        if (!covered[m]) {
                            covered[m] = 1;
                            tp[nd] = 1;
                        } else {
                            fp[nd] = 1;
                        }
                    }
                } else {
                    fp[nd] = 1;
                }
                score[nd] = d->score;
                /* mmdet ranks the per-image lists concatenated in image order; the devkit ranks the class's
                 * detection file: ties keep that order */
                tie[nd] = protocol == VOC_PROTO_MMDET ? (long long)i * (n_dt + 1) + nd : (long long)dk[dp].pos;
                nd++;
                dp++;
            }
        }
        out->num_gts[c] = npos;
        out->num_dets[c] = nd;
        voc_ap_from_marks(score, tie, tp, fp, nd, npos, ap_mode, protocol == VOC_PROTO_MMDET, &out->ap[c],
                          &out->recall[c]);
        if (protocol == VOC_PROTO_DEVKIT && npos == 0) {
            /* voc_eval's recall is tp / 0 = NaN: the 11-point rule finds no recall >= t (AP 0); the area rule's
             * sum carries the NaN when there is a detection. pascal_voc._do_python_eval averages it in. */
            out->ap[c] = ap_mode == VOC_AP_AREA && nd > 0 ? NAN : 0;
            out->no_positives++;
        }
        if (npos > 0 || protocol == VOC_PROTO_DEVKIT) {
            sum_ap += out->ap[c];
            n_ap++;
        }
    }
    out->map = n_ap ? sum_ap / n_ap : 0;
    free(gk);
    free(dk);
    free(tp);
    free(fp);
    free(score);
    free(tie);
    free(order);
    free(covered);
    return 0;
}

void voc_result_free(voc_result *r) {
    free(r->ap);
    free(r->num_gts);
    free(r->num_dets);
    free(r->recall);
    memset(r, 0, sizeof *r);
}
