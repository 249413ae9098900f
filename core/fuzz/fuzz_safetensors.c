/* fuzz_safetensors.c - libFuzzer harness for the .safetensors reader (make fuzz): the input is the whole
 * file. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "../checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static char path[64];
    if (!path[0]) snprintf(path, sizeof path, "/tmp/fuzz_st_%ld.safetensors", (long)getpid());
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    size_t w = fwrite(data, 1, size, f);
    fclose(f);
    if (w != size) return 0;
    ckpt_tensors sd;
    if (ckpt_read_safetensors(path, &sd) == 0) {
        volatile float acc = 0;
        for (int i = 0; i < sd.n; i++)
            for (int64_t j = 0; j < sd.t[i].n; j++) acc += sd.t[i].data[j];
        for (int i = 0; i < sd.n_meta; i++) acc += sd.meta_val[i][0];
        (void)acc;
        ckpt_tensors_free(&sd);
    }
    return 0;
}
