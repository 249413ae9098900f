/* roi_extractor.c - mmdet 2.11's SingleRoIExtractor: level mapping and RoIAlign per level (see roi_extractor.h). */
#include "roi_extractor.h"

#include <math.h>
#include <string.h>

#include "../../core/ops_nn.h"

void roi_extractor_config_default(roi_extractor_config *c, int out_size) {
    memset(c, 0, sizeof *c);
    c->out_size = out_size;
    c->sampling_ratio = 0;
    c->aligned = 1;
    c->n_levels = 4;
    for (int l = 0; l < 4; l++) c->strides[l] = (float)(4 << l);
    c->finest_scale = 56.0f;
}

void roi_extractor_map_levels(const roi_extractor_config *c, const float *rois, int K, int num_levels, int *level) {
    for (int k = 0; k < K; k++) {
        const float *r = rois + (int64_t)k * 5;
        float scale = sqrtf((r[3] - r[1]) * (r[4] - r[2]));
        float t = floorf(log2f(scale / c->finest_scale + 1e-6f));
        if (isnan(t)) {
            level[k] = -1;
            continue;
        }
        if (t < 0) t = 0;
        if (t > num_levels - 1) t = (float)(num_levels - 1);
        level[k] = (int)t;
    }
}

tensor *roi_extractor_forward(const roi_extractor_config *c, graph *g, tensor *const *feats, int n_feats, const tensor *rois) {
    DB_ASSERT(n_feats >= 1 && n_feats <= c->n_levels && rois->ndim == 2 && rois->shape[1] == 5,
              "roi_extractor: %d feature levels (config %d), rois %d-d", n_feats, c->n_levels, rois->ndim);
    int K = rois->shape[0];
    float scales[ROI_MAX_LEVELS];
    for (int l = 0; l < n_feats; l++) scales[l] = 1.0f / c->strides[l];
    int *level = NULL;
    if (n_feats > 1) {
        level = arena_alloc(&g->mem, sizeof(int) * (size_t)(K ? K : 1));
        roi_extractor_map_levels(c, rois->data, K, n_feats, level);
    }
    return op_roi_align_levels(g, feats, n_feats, scales, rois, level, c->out_size, c->out_size, c->sampling_ratio, c->aligned);
}
