/* sha256.h - SHA-256 (FIPS 180-4) of buffers and files, for the checksums recorded in results files
 * (pretrained weights, paper-number CSV). Plain C, no dependency; checked against the NIST vectors. */
#ifndef DB_SHA256_H
#define DB_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct sha256_ctx {
    uint32_t h[8];
    uint64_t len; /* bytes hashed so far */
    uint8_t buf[64];
    size_t nbuf;
} sha256_ctx;

void sha256_init(sha256_ctx *c);
void sha256_update(sha256_ctx *c, const void *data, size_t n);
void sha256_final(sha256_ctx *c, uint8_t out[32]);
/* Digest of a buffer as 64 lowercase hex characters plus NUL. */
void sha256_hex(const void *data, size_t n, char hex[65]);
/* Digest of a whole file as hex. Returns 0, or -1 with err_set naming the file. */
int sha256_file_hex(const char *path, char hex[65]);

#endif
