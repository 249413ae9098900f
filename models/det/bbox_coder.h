/* bbox_coder.h - mmdet 2.11's DeltaXYWHBBoxCoder (mmdet/core/bbox/coder/delta_xywh_bbox_coder.py): boxes
 * (x1, y1, x2, y2) <-> deltas (dx, dy, dw, dh) normalised by means/stds, widths without +1. Encode in float32
 * (bbox2delta casts to float), decode in double rounded once (delta2bbox), with its backward w.r.t. the
 * deltas. */
#ifndef DB_BBOX_CODER_H
#define DB_BBOX_CODER_H

typedef struct delta_coder {
    float means[4], stds[4];
    float wh_ratio_clip; /* dw, dh clamped to +-|log(wh_ratio_clip)| */
    int clip_border;     /* clip decoded boxes to [0, W] x [0, H] when a max shape is given */
} delta_coder;

/* means 0, stds 1, wh_ratio_clip 16/1000, clip_border 1 (RetinaNet, RPN). */
void delta_coder_default(delta_coder *c);
/* deltas (n, 4) of gts (n, 4) w.r.t. props (n, 4): dx = (gx - px) / pw, dy = (gy - py) / ph,
 * dw = log(gw / pw), dh = log(gh / ph), then (d - mean) / std, float32. */
void delta_encode(const delta_coder *c, const float *props, const float *gts, int n, float *deltas);
/* rois (n, 4), deltas (n, 4*k) (k boxes per roi, class-wise) -> out (n, 4*k): d = delta * std + mean,
 * dw, dh clamped, gw = pw exp(dw), gx = px + pw dx, (gx -+ gw/2, gy -+ gh/2), clipped to [0, max_w] x
 * [0, max_h] when clip_border and max_h, max_w > 0 (max_h or max_w <= 0: no clipping). */
void delta_decode(const delta_coder *c, const float *rois, const float *deltas, int n, int k, float max_h, float max_w, float *out);
/* d(out) (n, 4*k) -> d(deltas), accumulated into ddeltas (n, 4*k). Clamp and clip pass the gradient where
 * the value is inside the bounds, bounds included (torch.clamp's backward), and give 0 outside. */
void delta_decode_bwd(const delta_coder *c, const float *rois, const float *deltas, int n, int k, float max_h, float max_w,
                      const float *dout, float *ddeltas);

#endif
