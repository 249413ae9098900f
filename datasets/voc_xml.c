/* voc_xml.c - Pascal VOC annotation XML reader on expat (see voc_xml.h). The parser keeps the stack of
 * open element names and the text of the innermost element, and acts on element ends whose path is one
 * of the few VOC paths it knows; everything else is skipped. */
#include "voc_xml.h"

#include <ctype.h>
#include <errno.h>
#include <expat.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"

#define VX_MAX_DEPTH 256
#define VX_NAME_LEN 32

typedef struct vx_state {
    XML_Parser p;
    const char *src;
    voc_annotation *out;
    int cap_objects;
    int depth;                             /* number of open elements */
    char names[VX_MAX_DEPTH][VX_NAME_LEN]; /* names of the open elements (truncated) */
    char *text;                            /* character data of the innermost element */
    size_t text_len, text_cap;
    int failed;
    /* the object being read */
    int in_object;
    long obj_line;
    int have_box[4];
    int have_name;
} vx_state;

static int vx_fail(vx_state *s, const char *fmt, const char *a, const char *b) {
    if (s->failed) return -1;
    char msg[512];
    snprintf(msg, sizeof msg, fmt, a, b);
    err_set("%s:%lu: %s", s->src, (unsigned long)XML_GetCurrentLineNumber(s->p), msg);
    s->failed = 1;
    XML_StopParser(s->p, XML_FALSE);
    return -1;
}

/* path check: the open elements are exactly the given names (depth-sized) */
static int vx_path(const vx_state *s, int depth, const char *a, const char *b, const char *c, const char *d) {
    const char *want[4] = {a, b, c, d};
    if (s->depth != depth) return 0;
    for (int i = 0; i < depth && i < 4; i++)
        if (strcmp(s->names[i], want[i])) return 0;
    return 1;
}

/* the trimmed text of the element, in place */
static char *vx_trim(vx_state *s) {
    char *t = s->text ? s->text : (char *)"";
    if (!s->text) return t;
    t[s->text_len] = 0;
    while (*t && isspace((unsigned char)*t)) t++;
    size_t n = strlen(t);
    while (n > 0 && isspace((unsigned char)t[n - 1])) t[--n] = 0;
    return t;
}

static int vx_number(vx_state *s, const char *elem, double *v) {
    char *t = vx_trim(s);
    if (!*t) return vx_fail(s, "<%s> is empty (expected a number)%s", elem, "");
    errno = 0;
    char *end;
    double x = strtod(t, &end);
    if (*end || errno == ERANGE || x != x || x > 1e9 || x < -1e9)
        return vx_fail(s, "<%s> is not a finite number: '%.60s'", elem, t);
    *v = x;
    return 0;
}

static int vx_int(vx_state *s, const char *elem, int *v) {
    char *t = vx_trim(s);
    if (!*t) return vx_fail(s, "<%s> is empty (expected an integer)%s", elem, "");
    errno = 0;
    char *end;
    long x = strtol(t, &end, 10);
    if (*end || errno == ERANGE || x > INT_MAX / 4 || x < -(INT_MAX / 4))
        return vx_fail(s, "<%s> is not an integer: '%.60s'", elem, t);
    *v = (int)x;
    return 0;
}

static void XMLCALL vx_start(void *ud, const XML_Char *name, const XML_Char **attrs) {
    (void)attrs;
    vx_state *s = ud;
    if (s->failed) return;
    if (s->depth == 0 && strcmp(name, "annotation")) {
        vx_fail(s, "root element is <%.40s>, expected <annotation>%s", name, "");
        return;
    }
    if (s->depth < VX_MAX_DEPTH) snprintf(s->names[s->depth], VX_NAME_LEN, "%s", name);
    s->depth++;
    s->text_len = 0;
    if (vx_path(s, 2, "annotation", "object", 0, 0)) {
        voc_annotation *a = s->out;
        if (a->n_objects == s->cap_objects) {
            s->cap_objects = s->cap_objects ? 2 * s->cap_objects : 8;
            a->objects = xrealloc(a->objects, (size_t)s->cap_objects * sizeof *a->objects);
        }
        voc_object *o = &a->objects[a->n_objects++];
        memset(o, 0, sizeof *o);
        s->in_object = 1;
        s->obj_line = (long)XML_GetCurrentLineNumber(s->p);
        memset(s->have_box, 0, sizeof s->have_box);
        s->have_name = 0;
    }
}

static void XMLCALL vx_text(void *ud, const XML_Char *t, int len) {
    vx_state *s = ud;
    if (s->failed || len <= 0) return;
    if (s->text_len + (size_t)len + 1 > s->text_cap) {
        s->text_cap = 2 * (s->text_len + (size_t)len + 1);
        s->text = xrealloc(s->text, s->text_cap);
    }
    memcpy(s->text + s->text_len, t, (size_t)len);
    s->text_len += (size_t)len;
}

static void XMLCALL vx_end(void *ud, const XML_Char *name) {
    vx_state *s = ud;
    if (s->failed) return;
    voc_annotation *a = s->out;
    voc_object *o = a->n_objects ? &a->objects[a->n_objects - 1] : NULL;
    static const char *box_names[4] = {"xmin", "ymin", "xmax", "ymax"};
    if (vx_path(s, 2, "annotation", "filename", 0, 0)) {
        free(a->filename);
        a->filename = xstrdup(vx_trim(s));
    } else if (vx_path(s, 2, "annotation", "folder", 0, 0)) {
        free(a->folder);
        a->folder = xstrdup(vx_trim(s));
    } else if (vx_path(s, 3, "annotation", "size", "width", 0)) {
        if (vx_int(s, "size/width", &a->width) < 0) return;
        if (a->width <= 0) { vx_fail(s, "<size/width> must be positive%s%s", "", ""); return; }
    } else if (vx_path(s, 3, "annotation", "size", "height", 0)) {
        if (vx_int(s, "size/height", &a->height) < 0) return;
        if (a->height <= 0) { vx_fail(s, "<size/height> must be positive%s%s", "", ""); return; }
    } else if (vx_path(s, 3, "annotation", "size", "depth", 0)) {
        if (vx_int(s, "size/depth", &a->depth) < 0) return;
    } else if (s->in_object && o && s->depth == 3 && !strcmp(s->names[1], "object")) {
        if (!strcmp(name, "name")) {
            free(o->name);
            o->name = xstrdup(vx_trim(s));
            s->have_name = 1;
        } else if (!strcmp(name, "pose")) {
            free(o->pose);
            o->pose = xstrdup(vx_trim(s));
        } else if (!strcmp(name, "difficult")) {
            if (vx_int(s, "object/difficult", &o->difficult) < 0) return;
        } else if (!strcmp(name, "truncated")) {
            if (vx_int(s, "object/truncated", &o->truncated) < 0) return;
        } else if (!strcmp(name, "occluded")) {
            if (vx_int(s, "object/occluded", &o->occluded) < 0) return;
        }
    } else if (s->in_object && o && s->depth == 4 && !strcmp(s->names[1], "object") &&
               !strcmp(s->names[2], "bndbox")) {
        for (int k = 0; k < 4; k++)
            if (!strcmp(name, box_names[k])) {
                char elem[32];
                snprintf(elem, sizeof elem, "object/bndbox/%s", box_names[k]);
                double v;
                if (vx_number(s, elem, &v) < 0) return;
                (&o->xmin)[k] = v;
                s->have_box[k] = 1;
            }
    } else if (vx_path(s, 2, "annotation", "object", 0, 0) && o) {
        char where[64];
        snprintf(where, sizeof where, "%d (line %ld)", a->n_objects, s->obj_line);
        if (!s->have_name || !o->name[0]) {
            vx_fail(s, "<object> number %s has no <name>", where, "");
            return;
        }
        for (int k = 0; k < 4; k++)
            if (!s->have_box[k]) {
                vx_fail(s, "<object> number %s has no <bndbox>/<%s>", where, box_names[k]);
                return;
            }
        if (!o->pose) o->pose = xstrdup("");
        s->in_object = 0;
    }
    s->text_len = 0;
    s->depth--;
}

void voc_annotation_free(voc_annotation *a) {
    if (!a) return;
    for (int i = 0; i < a->n_objects; i++) {
        free(a->objects[i].name);
        free(a->objects[i].pose);
    }
    free(a->objects);
    free(a->filename);
    free(a->folder);
    memset(a, 0, sizeof *a);
}

int voc_xml_parse(const char *buf, size_t n, const char *name, voc_annotation *out) {
    memset(out, 0, sizeof *out);
    if (!name) name = "<memory>";
    if (n > (size_t)INT_MAX) return err_set("%s: file too large for an annotation (%zu bytes)", name, n);
    XML_Parser p = XML_ParserCreate(NULL);
    if (!p) return err_set("%s: cannot create an XML parser", name);
    vx_state *s = xcalloc(1, sizeof *s);
    s->p = p;
    s->src = name;
    s->out = out;
    XML_SetUserData(p, s);
    XML_SetElementHandler(p, vx_start, vx_end);
    XML_SetCharacterDataHandler(p, vx_text);
    enum XML_Status st = XML_Parse(p, buf, (int)n, XML_TRUE);
    int rc = 0;
    if (s->failed) {
        rc = -1;
    } else if (st != XML_STATUS_OK) {
        rc = err_set("%s:%lu: malformed XML: %s", name, (unsigned long)XML_GetCurrentLineNumber(p),
                     XML_ErrorString(XML_GetErrorCode(p)));
    } else {
        int size_seen = out->width > 0 && out->height > 0;
        out->has_size = size_seen;
        if (!out->filename) out->filename = xstrdup("");
        if (!out->folder) out->folder = xstrdup("");
        /* objects whose end tag never came cannot happen (the XML would be malformed) */
    }
    if (rc < 0) {
        /* the last object may be half-filled: give it the strings the free expects */
        voc_annotation_free(out);
    }
    free(s->text);
    free(s);
    XML_ParserFree(p);
    return rc;
}

int voc_xml_load(const char *path, voc_annotation *out) {
    memset(out, 0, sizeof *out);
    size_t n = 0;
    char *buf = file_read_all(path, &n);
    if (!buf) return -1;
    int rc = voc_xml_parse(buf, n, path, out);
    free(buf);
    return rc;
}
