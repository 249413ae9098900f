/* textbuf.h - growable text for the report writers (tables, captions, figure scripts): printf onto the end, and
 * copies escaped for a Markdown table cell or for LaTeX. */
#ifndef DB_TEXTBUF_H
#define DB_TEXTBUF_H

#include <stddef.h>

typedef struct textbuf {
    char *s; /* NUL-terminated once anything was written; free() it */
    size_t n, cap;
} textbuf;

void tb_printf(textbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s (NULL: nothing) with '|' escaped and newlines as spaces, for a Markdown table cell */
void tb_md(textbuf *b, const char *s);
/* s (NULL: nothing) with LaTeX's special characters escaped */
void tb_tex(textbuf *b, const char *s);
/* the shortest fixed-point text of v that reads back as v ("100", "87.3", "99.5772"; %.17g past 12 decimals) */
void tb_number(double v, char *buf, size_t n);

#endif
