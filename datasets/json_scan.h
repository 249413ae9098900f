/* json_scan.h - a small pull tokenizer for JSON held in memory, for readers of very large files (COCO
 * instances_train2017.json is 448 MB) where building a full cJSON tree costs too much time and memory.
 * The caller walks the structure it expects and skips everything else with js_skip (iterative, so deep
 * nesting cannot overflow the stack). Strict RFC 8259 grammar; numbers are parsed to the correctly
 * rounded double. Every error names the source, line and byte offset. The buffer need not be
 * NUL-terminated. */
#ifndef DB_JSON_SCAN_H
#define DB_JSON_SCAN_H

#include <stddef.h>

typedef struct jscan {
    const char *start, *p, *end;
    const char *src; /* name used in messages */
} jscan;

void js_init(jscan *s, const char *buf, size_t n, const char *src);
/* Record "<src>:<line>: byte <off>: <what>" and return -1. */
int js_error(jscan *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The next non-blank character without consuming it, or -1 at the end. */
int js_peek(jscan *s);
/* Consume the end: only whitespace may remain. */
int js_finish(jscan *s);
/* Objects: js_obj_begin consumes '{'; then js_obj_key returns 1 with the next key (decoded, truncated to
 * ksz-1 bytes; *truncated set when longer) and the ':' consumed, 0 at the closing '}', -1 on error.
 * `first` must be a variable set to 1 before the loop. */
int js_obj_begin(jscan *s);
int js_obj_key(jscan *s, int *first, char *key, size_t ksz);
/* Arrays: js_arr_begin consumes '['; js_arr_next returns 1 when a value follows, 0 at ']', -1 on error. */
int js_arr_begin(jscan *s);
int js_arr_next(jscan *s, int *first);
/* Values. */
int js_number(jscan *s, double *v);
/* A string, decoded (escapes, \u surrogate pairs to UTF-8), malloc'd into *out (length in *len if not NULL). */
int js_string(jscan *s, char **out, size_t *len);
/* true/false -> 1/0 */
int js_bool(jscan *s, int *v);
/* null: returns 1 and consumes it when the next value is null, else 0 */
int js_null(jscan *s);
/* Skip one value of any kind. */
int js_skip(jscan *s);

#endif
