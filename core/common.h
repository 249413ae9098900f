/* common.h - error reporting, checked allocation, atomic file writes and timing shared by every module.
 *
 * Error policy: library code never exits. A function that can fail returns a negative value (or NULL),
 * after recording a message with err_set() that names the file and the place in it. The CLI prints
 * err_msg() and exits non-zero. Programming errors (violated invariants) use DB_ASSERT, which aborts
 * with file and line. */
#ifndef DB_COMMON_H
#define DB_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define DB_SCHEMA_VERSION 1

/* Record an error message (printf format); the message is thread-local. Returns -1 for convenience. */
int err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prepend context to the current message: "context: previous message". Returns -1. */
int err_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *err_msg(void);
void err_clear(void);

/* Invariant checks: abort with file and line. Not for bad input (use err_set for that). */
#define DB_ASSERT(cond, ...)                                                                          \
    do {                                                                                              \
        if (!(cond)) db_fatal(__FILE__, __LINE__, "assertion failed: " #cond " " __VA_ARGS__);       \
    } while (0)
void db_fatal(const char *file, int line, const char *fmt, ...) __attribute__((noreturn));

/* Checked allocation: out of memory aborts with file and line (there is nothing sane to continue with). */
#define xmalloc(n) db_xmalloc((n), __FILE__, __LINE__)
#define xcalloc(n, s) db_xcalloc((n), (s), __FILE__, __LINE__)
#define xrealloc(p, n) db_xrealloc((p), (n), __FILE__, __LINE__)
#define xstrdup(s) db_xstrdup((s), __FILE__, __LINE__)
void *db_xmalloc(size_t n, const char *file, int line);
void *db_xcalloc(size_t n, size_t s, const char *file, int line);
void *db_xrealloc(void *p, size_t n, const char *file, int line);
char *db_xstrdup(const char *s, const char *file, int line);
/* 64-byte aligned allocation for float buffers; free with free(). */
void *db_xmalloc_aligned(size_t n, const char *file, int line);
#define xmalloc_aligned(n) db_xmalloc_aligned((n), __FILE__, __LINE__)

/* Atomic file writing: write to "<path>.tmp.<pid>", then rename over <path>.
 * atomic_begin fills tmp (size >= strlen(path)+32) with the temporary name. atomic_commit fsyncs and
 * renames; atomic_abort removes the temporary. */
int atomic_tmpname(const char *path, char *tmp, size_t tmp_size);
int atomic_commit(const char *tmp, const char *path);
void atomic_abort(const char *tmp);
/* Write a whole buffer to path atomically. */
int file_write_atomic(const char *path, const void *buf, size_t n);
/* Read a whole file; returns malloc'd buffer (NUL-terminated, length in *n) or NULL with err_set. */
char *file_read_all(const char *path, size_t *n);
int file_exists(const char *path);
/* mkdir -p */
int mkdir_p(const char *path);

/* Wall-clock seconds (monotonic). */
double time_now(void);
/* Peak resident set size of this process in bytes (from getrusage). */
size_t mem_peak_rss(void);

/* Deterministic random numbers: a small counter-free generator (xoshiro128+ style, splitmix seeding). */
typedef struct rng_t {
    uint64_t s[2];
} rng_t;
void rng_seed(rng_t *r, uint64_t seed);
uint64_t rng_u64(rng_t *r);
float rng_uniform(rng_t *r);            /* [0,1) */
/* u[i] = rng_uniform(r) for i = 0..n-1 (the same stream, with the state in registers: ~4x faster) */
void rng_uniform_fill(rng_t *r, float *u, int64_t n);
float rng_normal(rng_t *r);             /* N(0,1), Box-Muller */
uint32_t rng_below(rng_t *r, uint32_t n); /* [0,n) */

/* The git commit the binary was built from (set by the Makefile), or "unknown". */
const char *build_commit(void);

#endif
