/* fuzz_ade20k_label.c - libFuzzer harness for ADE20K label maps: PNG decode in label mode (datasets/image.h),
 * reduce_zero_label and the range check (make fuzz). The first byte picks the reduction and class count. */
#include <stddef.h>
#include <stdint.h>

#include "../ade20k.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    image im;
    int reduce = data[0] & 1, ncls = data[0] & 2 ? 150 : 256;
    if (seg_decode_label(data + 1, size - 1, "fuzz.png", reduce, ncls, &im) == 0) {
        volatile unsigned s = 0;
        for (size_t i = 0; i < (size_t)im.w * im.h; i++) s += im.data[i];
        (void)s;
        image_free(&im);
    }
    return 0;
}
