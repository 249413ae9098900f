/* textbuf.c - growable text for the report writers (textbuf.h). */
#include "textbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "../core/common.h"

void tb_printf(textbuf *b, const char *fmt, ...) {
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = b->cap - b->n;
        int k = vsnprintf(b->s ? b->s + b->n : NULL, b->s ? room : 0, fmt, ap);
        va_end(ap);
        if (k < 0) return;
        if (b->s && (size_t)k < room) {
            b->n += (size_t)k;
            return;
        }
        b->cap = (b->cap + (size_t)k + 1) * 2;
        b->s = xrealloc(b->s, b->cap);
        if (b->n == 0) b->s[0] = 0;
    }
}

void tb_md(textbuf *b, const char *s) {
    for (; s && *s; s++) {
        if (*s == '|') tb_printf(b, "\\|");
        else if (*s == '\n') tb_printf(b, " ");
        else tb_printf(b, "%c", *s);
    }
}

void tb_tex(textbuf *b, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '_': case '%': case '&': case '#': case '$': case '{': case '}': tb_printf(b, "\\%c", *s); break;
        case '~': tb_printf(b, "\\textasciitilde{}"); break;
        case '^': tb_printf(b, "\\textasciicircum{}"); break;
        case '\\': tb_printf(b, "\\textbackslash{}"); break;
        default: tb_printf(b, "%c", *s);
        }
    }
}

void tb_number(double v, char *buf, size_t n) {
    for (int p = 0; p <= 12; p++) {
        snprintf(buf, n, "%.*f", p, v);
        if (strtod(buf, NULL) == v) return;
    }
    snprintf(buf, n, "%.17g", v);
}
