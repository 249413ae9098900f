/* json_scan.c - pull tokenizer for in-memory JSON (see json_scan.h). */
#include "json_scan.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"

void js_init(jscan *s, const char *buf, size_t n, const char *src) {
    s->start = s->p = buf;
    s->end = buf + n;
    s->src = src ? src : "<memory>";
}

int js_error(jscan *s, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    long line = 1;
    for (const char *q = s->start; q < s->p && q < s->end; q++) line += *q == '\n';
    return err_set("%s:%ld: byte %ld: %s", s->src, line, (long)(s->p - s->start), msg);
}

static inline void js_ws(jscan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t')) s->p++;
}

int js_peek(jscan *s) {
    js_ws(s);
    return s->p < s->end ? (unsigned char)*s->p : -1;
}

int js_finish(jscan *s) {
    js_ws(s);
    if (s->p != s->end) return js_error(s, "unexpected data after the top-level value");
    return 0;
}

static int js_expect(jscan *s, char c) {
    js_ws(s);
    if (s->p >= s->end) return js_error(s, "unexpected end of file, expected '%c'", c);
    if (*s->p != c) return js_error(s, "expected '%c', found '%c'", c, *s->p);
    s->p++;
    return 0;
}

int js_obj_begin(jscan *s) { return js_expect(s, '{'); }
int js_arr_begin(jscan *s) { return js_expect(s, '['); }

int js_arr_next(jscan *s, int *first) {
    int c = js_peek(s);
    if (c < 0) return js_error(s, "unexpected end of file inside an array");
    if (c == ']') {
        s->p++;
        return 0;
    }
    if (!*first) {
        if (c != ',') return js_error(s, "expected ',' or ']' in an array, found '%c'", c);
        s->p++;
        c = js_peek(s);
        if (c < 0) return js_error(s, "unexpected end of file inside an array");
        if (c == ']') return js_error(s, "trailing ',' in an array");
    }
    *first = 0;
    return 1;
}

/* decode a string body at s->p (just after the opening quote) into dst (if not NULL, at most dcap-1
 * bytes kept); returns the full decoded length or -1 */
static long js_string_body(jscan *s, char *dst, size_t dcap, int *truncated) {
    size_t n = 0;
    if (truncated) *truncated = 0;
#define PUT(ch)                                                    \
    do {                                                           \
        if (dst && n + 1 < dcap) dst[n] = (char)(ch);              \
        else if (truncated) *truncated = 1;                        \
        n++;                                                       \
    } while (0)
    for (;;) {
        if (s->p >= s->end) return js_error(s, "unexpected end of file inside a string");
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            s->p++;
            break;
        }
        if (c < 0x20) return js_error(s, "control character 0x%02x inside a string", c);
        if (c != '\\') {
            PUT(c);
            s->p++;
            continue;
        }
        s->p++;
        if (s->p >= s->end) return js_error(s, "unexpected end of file inside a string");
        c = (unsigned char)*s->p++;
        switch (c) {
        case '"': PUT('"'); break;
        case '\\': PUT('\\'); break;
        case '/': PUT('/'); break;
        case 'b': PUT('\b'); break;
        case 'f': PUT('\f'); break;
        case 'n': PUT('\n'); break;
        case 'r': PUT('\r'); break;
        case 't': PUT('\t'); break;
        case 'u': {
            uint32_t cp = 0;
            for (int pass = 0; pass < 2; pass++) {
                uint32_t u = 0;
                if (s->end - s->p < 4) return js_error(s, "truncated \\u escape");
                for (int k = 0; k < 4; k++) {
                    char h = s->p[k];
                    int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                          : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                    if (d < 0) return js_error(s, "bad hex digit in a \\u escape");
                    u = u * 16 + (uint32_t)d;
                }
                s->p += 4;
                if (pass == 0) {
                    cp = u;
                    if (u >= 0xD800 && u <= 0xDBFF) {
                        if (s->end - s->p >= 6 && s->p[0] == '\\' && s->p[1] == 'u') {
                            s->p += 2;
                            continue;
                        }
                        cp = 0xFFFD; /* lone high surrogate */
                    } else if (u >= 0xDC00 && u <= 0xDFFF) {
                        cp = 0xFFFD;
                    }
                    break;
                } else {
                    if (u >= 0xDC00 && u <= 0xDFFF) cp = 0x10000 + ((cp - 0xD800) << 10) + (u - 0xDC00);
                    else return js_error(s, "high surrogate not followed by a low surrogate");
                }
            }
            if (cp < 0x80) PUT(cp);
            else if (cp < 0x800) {
                PUT(0xC0 | (cp >> 6));
                PUT(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
                PUT(0xE0 | (cp >> 12));
                PUT(0x80 | ((cp >> 6) & 0x3F));
                PUT(0x80 | (cp & 0x3F));
            } else {
                PUT(0xF0 | (cp >> 18));
                PUT(0x80 | ((cp >> 12) & 0x3F));
                PUT(0x80 | ((cp >> 6) & 0x3F));
                PUT(0x80 | (cp & 0x3F));
            }
            break;
        }
        default: s->p--; return js_error(s, "bad escape '\\%c' in a string", c);
        }
    }
#undef PUT
    if (dst && dcap) dst[n < dcap ? n : dcap - 1] = 0;
    return (long)n;
}

int js_obj_key(jscan *s, int *first, char *key, size_t ksz) {
    int c = js_peek(s);
    if (c < 0) return js_error(s, "unexpected end of file inside an object");
    if (c == '}') {
        s->p++;
        return 0;
    }
    if (!*first) {
        if (c != ',') return js_error(s, "expected ',' or '}' in an object, found '%c'", c);
        s->p++;
        c = js_peek(s);
        if (c == '}') return js_error(s, "trailing ',' in an object");
    }
    *first = 0;
    if (c != '"') return c < 0 ? js_error(s, "unexpected end of file inside an object")
                               : js_error(s, "expected a string key, found '%c'", c);
    s->p++;
    int trunc = 0;
    if (js_string_body(s, key, ksz, &trunc) < 0) return -1;
    if (trunc && ksz) key[0] = 0x7f; /* never equal to a known key */
    if (js_expect(s, ':') < 0) return -1;
    return 1;
}

int js_string(jscan *s, char **out, size_t *len) {
    *out = NULL;
    int c = js_peek(s);
    if (c != '"') return c < 0 ? js_error(s, "unexpected end of file, expected a string")
                               : js_error(s, "expected a string, found '%c'", c);
    s->p++;
    const char *body = s->p;
    /* measure (and validate), then decode into an exact-size buffer */
    long n = js_string_body(s, NULL, 0, NULL);
    if (n < 0) return -1;
    char *buf = xmalloc((size_t)n + 1);
    const char *after = s->p;
    s->p = body;
    js_string_body(s, buf, (size_t)n + 1, NULL);
    s->p = after;
    *out = buf;
    if (len) *len = (size_t)n;
    return 0;
}

static const double js_pow10[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
                                    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

int js_number(jscan *s, double *v) {
    int c = js_peek(s);
    if (c < 0) return js_error(s, "unexpected end of file, expected a number");
    const char *b = s->p, *q = s->p, *e = s->end;
    int neg = 0;
    if (q < e && *q == '-') {
        neg = 1;
        q++;
    }
    if (q >= e || *q < '0' || *q > '9') return js_error(s, "expected a number, found '%c'", *s->p);
    uint64_t mant = 0;
    int ndig = 0, exp10 = 0, exact = 1;
    if (*q == '0') {
        q++;
    } else {
        while (q < e && *q >= '0' && *q <= '9') {
            if (ndig < 19) mant = mant * 10 + (uint64_t)(*q - '0'), ndig += mant != 0;
            else exact = 0, exp10++;
            q++;
        }
    }
    if (q < e && *q == '.') {
        q++;
        if (q >= e || *q < '0' || *q > '9') {
            s->p = q;
            return js_error(s, "digit expected after the decimal point");
        }
        while (q < e && *q >= '0' && *q <= '9') {
            if (ndig < 19) {
                mant = mant * 10 + (uint64_t)(*q - '0');
                ndig += mant != 0;
                exp10--;
            } else exact = 0;
            q++;
        }
    }
    if (q < e && (*q == 'e' || *q == 'E')) {
        q++;
        int eneg = 0;
        if (q < e && (*q == '+' || *q == '-')) eneg = *q++ == '-';
        if (q >= e || *q < '0' || *q > '9') {
            s->p = q;
            return js_error(s, "digit expected in the exponent");
        }
        long ex = 0;
        while (q < e && *q >= '0' && *q <= '9') {
            if (ex < 100000) ex = ex * 10 + (*q - '0');
            q++;
        }
        exp10 += (int)(eneg ? -ex : ex);
    }
    s->p = q;
    /* Clinger's fast path: exact when the mantissa fits 53 bits and the power of ten is exact */
    if (exact && mant < (1ull << 53) && exp10 >= -22 && exp10 <= 22) {
        double d = (double)mant;
        d = exp10 < 0 ? d / js_pow10[-exp10] : d * js_pow10[exp10];
        *v = neg ? -d : d;
        return 0;
    }
    size_t len = (size_t)(q - b);
    char small[128];
    char *tmp = len < sizeof small ? small : xmalloc(len + 1);
    memcpy(tmp, b, len);
    tmp[len] = 0;
    *v = strtod(tmp, NULL);
    if (tmp != small) free(tmp);
    return 0;
}

static int js_literal(jscan *s, const char *lit) {
    size_t n = strlen(lit);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, lit, n)) return js_error(s, "invalid literal");
    s->p += n;
    return 0;
}

int js_bool(jscan *s, int *v) {
    int c = js_peek(s);
    if (c == 't') {
        *v = 1;
        return js_literal(s, "true");
    }
    if (c == 'f') {
        *v = 0;
        return js_literal(s, "false");
    }
    return c < 0 ? js_error(s, "unexpected end of file, expected true or false")
                 : js_error(s, "expected true or false, found '%c'", c);
}

int js_null(jscan *s) {
    if (js_peek(s) == 'n' && s->end - s->p >= 4 && !memcmp(s->p, "null", 4)) {
        s->p += 4;
        return 1;
    }
    return 0;
}

/* iterative skip: a stack of container kinds as bits, so nesting depth costs no C stack */
int js_skip(jscan *s) {
    enum { MAXD = 100000 };
    static _Thread_local unsigned char kinds[MAXD]; /* 1 = object, 2 = array */
    int depth = 0;
    int first = 1;
    for (;;) {
        /* at the start of a value, or the next element / member of the current container */
        if (depth > 0) {
            int r;
            if (kinds[depth - 1] == 1) {
                char key[8];
                r = js_obj_key(s, &first, key, sizeof key);
            } else {
                r = js_arr_next(s, &first);
            }
            if (r < 0) return -1;
            if (r == 0) {
                depth--;
                first = 0;
                if (depth == 0) return 0;
                continue;
            }
        }
        int c = js_peek(s);
        if (c < 0) return js_error(s, "unexpected end of file, expected a value");
        if (c == '{' || c == '[') {
            if (depth >= MAXD) return js_error(s, "nesting deeper than %d", MAXD);
            s->p++;
            kinds[depth++] = c == '{' ? 1 : 2;
            first = 1;
            continue;
        }
        if (c == '"') {
            s->p++;
            if (js_string_body(s, NULL, 0, NULL) < 0) return -1;
        } else if (c == 't' || c == 'f') {
            int b;
            if (js_bool(s, &b) < 0) return -1;
        } else if (c == 'n') {
            if (!js_null(s)) return js_error(s, "invalid literal");
        } else {
            double d;
            if (js_number(s, &d) < 0) return -1;
        }
        first = 0;
        if (depth == 0) return 0;
    }
}
