/* fuzz_pth.c - libFuzzer harness for the torch.save pickle reader (make fuzz): the input is the pickle
 * (data.pkl), placed in a zip archive beside a few raw storages and read with ckpt_read_pth. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <zip.h>

#include "../checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    static float storage[64];
    if (!path[0]) {
        snprintf(path, sizeof path, "/tmp/fuzz_pth_%ld.pth", (long)getpid());
        for (int i = 0; i < 64; i++) storage[i] = (float)i;
    }
    int e = 0;
    zip_t *z = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &e);
    if (!z) return 0;
    zip_source_t *s = zip_source_buffer(z, data, size, 0);
    if (!s || zip_file_add(z, "archive/data.pkl", s, ZIP_FL_OVERWRITE) < 0) {
        zip_source_free(s);
        zip_discard(z);
        return 0;
    }
    for (int k = 0; k < 4; k++) { /* storages "0".."3" of 0, 16, 32, 48 floats */
        char name[32];
        snprintf(name, sizeof name, "archive/data/%d", k);
        zip_source_t *t = zip_source_buffer(z, storage, sizeof(float) * 16 * (size_t)k, 0);
        if (t && zip_file_add(z, name, t, ZIP_FL_OVERWRITE) < 0) zip_source_free(t);
    }
    if (zip_close(z) != 0) {
        zip_discard(z);
        return 0;
    }
    ckpt_tensors sd;
    if (ckpt_read_pth(path, &sd) == 0) {
        volatile float acc = 0;
        for (int i = 0; i < sd.n; i++)
            for (int64_t j = 0; j < sd.t[i].n; j++) acc += sd.t[i].data[j];
        (void)acc;
        ckpt_tensors_free(&sd);
    }
    return 0;
}
