/* test_util.h - helpers shared by the cmocka tests: where the goldens are, relative-error checks. */
#ifndef DB_TEST_UTIL_H
#define DB_TEST_UTIL_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

/* Directory of the shared reference material (../shared unless DB_SHARED says otherwise). */
static inline const char *test_shared_dir(void) {
    const char *d = getenv("DB_SHARED");
    return d && *d ? d : "../shared";
}

/* path = shared_dir + "/" + rel, into a static buffer (one at a time). */
static inline const char *test_shared_path(const char *rel) {
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", test_shared_dir(), rel);
    return buf;
}

/* max|a-b| / max|b| (0 when b is all zero and a equals it). */
static inline double test_rel_err(const float *a, const float *b, int64_t n) {
    double md = 0, mb = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > md || isnan(d)) md = isnan(d) ? INFINITY : d;
        if (fabs((double)b[i]) > mb) mb = fabs((double)b[i]);
    }
    return mb > 0 ? md / mb : md;
}

/* A scratch directory for a test, created fresh: build/tmp/<name>. */
static inline const char *test_tmp_dir(const char *name) {
    static char buf[1024];
    snprintf(buf, sizeof buf, "build/tmp/%s", name);
    char cmd[2 * sizeof buf + 64];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", buf, buf);
    if (system(cmd) != 0) fail_msg("cannot create %s", buf);
    return buf;
}

#endif
