/* fuzz_dota.c - libFuzzer harness for the DOTA/STAR labelTxt reader and the rotated-box geometry applied to
 * whatever it reads (poly2obb both conventions, IoU, NMS, window split) (make fuzz). */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../dota.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    dota_options o = {.skip_bad = data[0] & 1};
    const char *const *cls = data[0] & 2 ? star_classes : dota_classes_v10;
    int ncls = data[0] & 2 ? 48 : 15;
    dota_ann a;
    int skipped = 0;
    if (dota_parse_txt((const char *)data + 1, size - 1, "fuzz.txt", cls, ncls, &o, &a, &skipped) < 0) return 0;
    rbox boxes[32];
    float scores[32];
    int nb = 0;
    for (int i = 0; i < a.n_objects && nb < 32; i++) {
        rbox b;
        if (poly_to_rbox(a.objects[i].poly, RBOX_OC, &b)) {
            float p[8];
            rbox_to_poly(&b, p);
        }
        if (poly_to_rbox(a.objects[i].poly, RBOX_LE90, &b)) {
            boxes[nb] = b;
            scores[nb] = (float)(i % 7) / 7;
            nb++;
        }
    }
    int keep[32];
    volatile int k = rbox_nms(boxes, scores, nb, 0.1f, keep);
    (void)k;
    int win[4 * 64];
    int nw = dota_split_windows(2000, 1500, 1024, 200, 0.6, win, 64);
    for (int w = 0; w < nw; w++) {
        dota_ann sub;
        dota_window_objects(&a, win + 4 * w, 0.7, &sub);
        dota_ann_free(&sub);
    }
    char name[256], orig[64];
    size_t n = size - 1 < sizeof name - 1 ? size - 1 : sizeof name - 1;
    memcpy(name, data + 1, n);
    name[n] = 0;
    int x, y;
    dota_patch_name_parse(name, orig, sizeof orig, &x, &y);
    dota_ann_free(&a);
    return 0;
}
