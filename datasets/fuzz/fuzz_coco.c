/* fuzz_coco.c - libFuzzer harness for the COCO JSON reader and its tokenizer (make fuzz). The first byte
 * picks strict or skip_bad mode; the rest is the file. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "../coco.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    coco_options o = {.skip_bad = data[0] & 1};
    coco_dataset ds;
    if (coco_parse((const char *)data + 1, size - 1, "fuzz.json", &o, &ds) == 0) {
        volatile double s = 0;
        for (int i = 0; i < ds.n_images; i++) {
            const coco_image *im = &ds.images[i];
            s += im->file_name[0] + im->width;
            for (int j = 0; j < im->n_anns; j++) s += ds.anns[ds.ann_index[im->ann_first + j]].bbox[0];
        }
        for (int i = 0; i < ds.n_categories; i++) s += ds.categories[i].name[0] + ds.categories[i].supercategory[0];
        for (int i = 0; i < ds.n_anns; i++) {
            const coco_seg *g = &ds.anns[i].seg;
            if (g->kind == COCO_SEG_POLY) {
                int off = 0;
                for (int p = 0; p < g->n_polys; p++) off += g->poly_len[p];
                if (off) s += g->xy[off - 1];
            } else if (g->kind == COCO_SEG_RLE && g->n_counts) {
                s += g->counts[g->n_counts - 1];
            } else if (g->kind == COCO_SEG_RLE_STR) {
                s += g->rle[0];
            }
            s += coco_find_image(&ds, ds.anns[i].image_id);
        }
        if (ds.n_images > 0) {
            int n = ds.images[0].n_anns + 1;
            float boxes[4 * 64];
            int labels[64], idx[64], ngt;
            if (n <= 64) s += coco_image_targets(&ds, 0, boxes, labels, idx, &ngt);
        }
        (void)s;
        coco_free(&ds);
    }
    return 0;
}
