/* init.c - parameter initialisers (see init.h). */
#include "init.h"

void init_const(tensor *t, float v) {
    for (int64_t i = 0; i < t->n; i++) t->data[i] = v;
}

void init_trunc_normal(tensor *t, float std, rng_t *r) {
    for (int64_t i = 0; i < t->n; i++) {
        float v;
        do v = rng_normal(r) * std;
        while (v < -2.0f || v > 2.0f);
        t->data[i] = v;
    }
}

void init_uniform(tensor *t, float bound, rng_t *r) {
    for (int64_t i = 0; i < t->n; i++) t->data[i] = (2.0f * rng_uniform(r) - 1.0f) * bound;
}
