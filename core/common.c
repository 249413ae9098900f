/* common.c - error messages, checked allocation, atomic writes, timing and random numbers. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char err_buf[2048];

int err_set(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    return -1;
}

int err_prefix(const char *fmt, ...) {
    char old[sizeof err_buf];
    memcpy(old, err_buf, sizeof old);
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    if (k >= 0 && (size_t)k < sizeof err_buf - 2) {
        size_t rest = sizeof err_buf - (size_t)k;
        memcpy(err_buf + k, ": ", 2);
        size_t m = strnlen(old, rest - 3);
        memcpy(err_buf + k + 2, old, m);
        err_buf[k + 2 + m] = 0;
    }
    return -1;
}

const char *err_msg(void) { return err_buf[0] ? err_buf : "unknown error"; }
void err_clear(void) { err_buf[0] = 0; }

void db_fatal(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "deltabench: fatal at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

void *db_xmalloc(size_t n, const char *file, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) db_fatal(file, line, "out of memory allocating %zu bytes", n);
    return p;
}
void *db_xcalloc(size_t n, size_t s, const char *file, int line) {
    void *p = calloc(n ? n : 1, s ? s : 1);
    if (!p) db_fatal(file, line, "out of memory allocating %zu x %zu bytes", n, s);
    return p;
}
void *db_xrealloc(void *q, size_t n, const char *file, int line) {
    void *p = realloc(q, n ? n : 1);
    if (!p) db_fatal(file, line, "out of memory reallocating %zu bytes", n);
    return p;
}
char *db_xstrdup(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *p = db_xmalloc(n, file, line);
    memcpy(p, s, n);
    return p;
}
void *db_xmalloc_aligned(size_t n, const char *file, int line) {
    void *p = NULL;
    size_t m = (n + 63) & ~(size_t)63;
    if (posix_memalign(&p, 64, m ? m : 64) != 0) db_fatal(file, line, "out of memory allocating %zu bytes", n);
    return p;
}

int atomic_tmpname(const char *path, char *tmp, size_t tmp_size) {
    int k = snprintf(tmp, tmp_size, "%s.tmp.%ld", path, (long)getpid());
    if (k < 0 || (size_t)k >= tmp_size) return err_set("%s: path too long", path);
    return 0;
}

int atomic_commit(const char *tmp, const char *path) {
    int fd = open(tmp, O_RDONLY);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return err_set("%s: cannot rename %s into place: %s", path, tmp, strerror(e));
    }
    return 0;
}

void atomic_abort(const char *tmp) { unlink(tmp); }

int file_write_atomic(const char *path, const void *buf, size_t n) {
    char tmp[4096];
    if (atomic_tmpname(path, tmp, sizeof tmp)) return -1;
    FILE *f = fopen(tmp, "wb");
    if (!f) return err_set("%s: cannot write: %s", tmp, strerror(errno));
    if (n && fwrite(buf, 1, n, f) != n) {
        fclose(f);
        atomic_abort(tmp);
        return err_set("%s: write failed: %s", tmp, strerror(errno));
    }
    if (fclose(f) != 0) {
        atomic_abort(tmp);
        return err_set("%s: close failed: %s", tmp, strerror(errno));
    }
    return atomic_commit(tmp, path);
}

char *file_read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        size_t k = fread(buf + len, 1, cap - len, f);
        len += k;
        if (len < cap) break;
        cap *= 2;
        buf = xrealloc(buf, cap + 1);
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        err_set("%s: read error", path);
        return NULL;
    }
    buf[len] = 0;
    if (n) *n = len;
    return buf;
}

int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int mkdir_p(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf) return err_set("%s: path too long", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0775) != 0 && errno != EEXIST) return err_set("%s: cannot create directory: %s", buf, strerror(errno));
            buf[i] = c;
        }
    }
    return 0;
}

double time_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

size_t mem_peak_rss(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (size_t)ru.ru_maxrss * 1024;
}

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
void rng_seed(rng_t *r, uint64_t seed) {
    uint64_t x = seed;
    r->s[0] = splitmix64(&x);
    r->s[1] = splitmix64(&x);
}
uint64_t rng_u64(rng_t *r) { /* xoroshiro128+ */
    uint64_t s0 = r->s[0], s1 = r->s[1], res = s0 + s1;
    s1 ^= s0;
    r->s[0] = ((s0 << 24) | (s0 >> 40)) ^ s1 ^ (s1 << 16);
    r->s[1] = (s1 << 37) | (s1 >> 27);
    return res;
}
float rng_uniform(rng_t *r) { return (float)(rng_u64(r) >> 40) * (1.0f / 16777216.0f); }
void rng_uniform_fill(rng_t *r, float *u, int64_t n) {
    uint64_t s0 = r->s[0], s1 = r->s[1];
    for (int64_t i = 0; i < n; i++) { /* rng_u64, then rng_uniform's scaling */
        uint64_t res = s0 + s1;
        s1 ^= s0;
        s0 = ((s0 << 24) | (s0 >> 40)) ^ s1 ^ (s1 << 16);
        s1 = (s1 << 37) | (s1 >> 27);
        u[i] = (float)(res >> 40) * (1.0f / 16777216.0f);
    }
    r->s[0] = s0;
    r->s[1] = s1;
}
float rng_normal(rng_t *r) {
    float u1 = rng_uniform(r), u2 = rng_uniform(r);
    if (u1 < 1e-12f) u1 = 1e-12f;
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853071795864f * u2);
}
uint32_t rng_below(rng_t *r, uint32_t n) { return (uint32_t)((rng_u64(r) >> 32) % n); }

#ifndef DB_COMMIT
#define DB_COMMIT "unknown"
#endif
const char *build_commit(void) { return DB_COMMIT; }
