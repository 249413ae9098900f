/* cls_dataset.c - classification dataset readers: Flowers102 (.mat via libmatio), Oxford-IIIT Pets,
 * VOC2007 turned single-label, the authors' mmcls list files and an image-folder layout. The split
 * rules are documented in cls_dataset.h and written into ds->description. */
#include "cls_dataset.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <matio.h>

#include "../core/common.h"
#include "voc_xml.h"

const char *const cls_voc_classes[20] = {"aeroplane",   "bicycle", "bird",  "boat",      "bottle",
                                         "bus",         "car",     "cat",   "chair",     "cow",
                                         "diningtable", "dog",     "horse", "motorbike", "person",
                                         "pottedplant", "sheep",   "sofa",  "train",     "tvmonitor"};

static const char *const fmt_names[CLS_FMT_COUNT] = {"flowers102", "pets", "voc2007", "list", "folder"};

int cls_format_parse(const char *name, cls_format *out) {
    static const struct {
        const char *s;
        cls_format f;
    } al[] = {{"flowers102", CLS_FMT_FLOWERS102}, {"flowers", CLS_FMT_FLOWERS102}, {"oxford_flower", CLS_FMT_FLOWERS102},
              {"pets", CLS_FMT_PETS},             {"oxford_pets", CLS_FMT_PETS},    {"oxford_pet", CLS_FMT_PETS},
              {"voc2007", CLS_FMT_VOC2007},       {"voc", CLS_FMT_VOC2007},         {"list", CLS_FMT_LIST},
              {"mmcls", CLS_FMT_LIST},            {"folder", CLS_FMT_FOLDER},       {"imagefolder", CLS_FMT_FOLDER}};
    for (size_t i = 0; i < sizeof al / sizeof al[0]; i++)
        if (name && !strcasecmp(name, al[i].s)) {
            *out = al[i].f;
            return 0;
        }
    return err_set("unknown classification dataset format '%s' (flowers102, pets, voc2007, list, folder)",
                   name ? name : "(null)");
}

const char *cls_format_name(cls_format f) { return (f >= 0 && f < CLS_FMT_COUNT) ? fmt_names[f] : "unknown"; }

/* ---- small helpers ---- */

typedef struct item_list {
    int n, cap;
    char **paths;
    int *labels;
} item_list;

static void items_add(item_list *l, char *path_owned, int label) {
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 256;
        l->paths = xrealloc(l->paths, sizeof(char *) * l->cap);
        l->labels = xrealloc(l->labels, sizeof(int) * l->cap);
    }
    l->paths[l->n] = path_owned;
    l->labels[l->n] = label;
    l->n++;
}
static void items_free(item_list *l) {
    for (int i = 0; i < l->n; i++) free(l->paths[i]);
    free(l->paths);
    free(l->labels);
    memset(l, 0, sizeof *l);
}

static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *str_printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static int is_dir(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}
static int is_file(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* Split a buffer into lines in place; calls fn(line, lineno) for each line (without \r\n). */
typedef int (*line_fn)(char *line, int lineno, void *ctx);
static int for_each_line(char *buf, line_fn fn, void *ctx) {
    int lineno = 0;
    char *p = buf;
    while (*p) {
        char *e = strchr(p, '\n');
        if (e) *e = 0;
        lineno++;
        size_t k = strlen(p);
        while (k && (p[k - 1] == '\r' || p[k - 1] == ' ' || p[k - 1] == '\t')) p[--k] = 0;
        if (fn(p, lineno, ctx)) return -1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

static int parse_int(const char *s, long *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end) return -1;
    *out = v;
    return 0;
}

/* ---- Flowers102 ---- */

static void mat_log_silent(int level, char *msg) {
    (void)level;
    (void)msg;
}

/* Read a numeric MAT variable as a vector of longs (all values must be integers). */
static int mat_read_ints(mat_t *mat, const char *file, const char *var, long **out, int *n) {
    matvar_t *v = Mat_VarRead(mat, var);
    if (!v) return err_set("%s: variable '%s' not found (is this the official Flowers102 file?)", file, var);
    int rc = 0;
    size_t cnt = 1;
    for (int d = 0; d < v->rank; d++) cnt *= v->dims[d];
    if (!v->data || v->isComplex || cnt == 0 || cnt > 10000000) {
        rc = err_set("%s: variable '%s' is not a non-empty real numeric array", file, var);
        goto done;
    }
    long *r = xmalloc(sizeof(long) * cnt);
    for (size_t i = 0; i < cnt && !rc; i++) {
        double x;
        switch (v->data_type) {
        case MAT_T_DOUBLE: x = ((const double *)v->data)[i]; break;
        case MAT_T_SINGLE: x = ((const float *)v->data)[i]; break;
        case MAT_T_INT8: x = ((const int8_t *)v->data)[i]; break;
        case MAT_T_UINT8: x = ((const uint8_t *)v->data)[i]; break;
        case MAT_T_INT16: x = ((const int16_t *)v->data)[i]; break;
        case MAT_T_UINT16: x = ((const uint16_t *)v->data)[i]; break;
        case MAT_T_INT32: x = ((const int32_t *)v->data)[i]; break;
        case MAT_T_UINT32: x = ((const uint32_t *)v->data)[i]; break;
        case MAT_T_INT64: x = (double)((const int64_t *)v->data)[i]; break;
        case MAT_T_UINT64: x = (double)((const uint64_t *)v->data)[i]; break;
        default: rc = err_set("%s: variable '%s' has an unsupported data type %d", file, var, (int)v->data_type); continue;
        }
        if (x != x || x < -1e9 || x > 1e9 || x != (double)(long)x) {
            rc = err_set("%s: %s[%zu] = %g is not an integer", file, var, i, x);
            continue;
        }
        r[i] = (long)x;
    }
    if (rc) {
        free(r);
        goto done;
    }
    *out = r;
    *n = (int)cnt;
done:
    Mat_VarFree(v);
    return rc;
}

static int mat_open_ro(const char *path, mat_t **mat) {
    Mat_LogInitFunc("deltabench", mat_log_silent);
    if (!is_file(path)) return err_set("%s: missing (expected the official Flowers102 file here)", path);
    *mat = Mat_Open(path, MAT_ACC_RDONLY);
    if (!*mat) return err_set("%s: not a readable MATLAB file (corrupt or truncated?)", path);
    return 0;
}

static int cmp_long(const void *a, const void *b) {
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

static int open_flowers(const char *root, const char *split, item_list *items, int *n_classes, char **desc) {
    char *lab_path = str_printf("%s/imagelabels.mat", root), *set_path = str_printf("%s/setid.mat", root);
    mat_t *m1 = NULL, *m2 = NULL;
    long *labels = NULL, *ids = NULL, *tmp = NULL;
    int n_labels = 0, n_ids = 0, rc = -1;
    const char *sets[2] = {NULL, NULL};
    const char *rule;
    if (!strcmp(split, "train")) sets[0] = "trnid", sets[1] = "valid", rule = "setid.mat trnid + valid";
    else if (!strcmp(split, "test") || !strcmp(split, "tstid")) sets[0] = "tstid", rule = "setid.mat tstid";
    else if (!strcmp(split, "trnid")) sets[0] = "trnid", rule = "setid.mat trnid";
    else if (!strcmp(split, "valid") || !strcmp(split, "val")) sets[0] = "valid", rule = "setid.mat valid";
    else {
        err_set("flowers102: unknown split '%s' (train = trnid+valid, test = tstid, or trnid/valid/tstid)", split);
        goto out;
    }
    if (mat_open_ro(lab_path, &m1) || mat_read_ints(m1, lab_path, "labels", &labels, &n_labels)) goto out;
    if (mat_open_ro(set_path, &m2)) goto out;
    for (int s = 0; s < 2 && sets[s]; s++) {
        int k = 0;
        if (mat_read_ints(m2, set_path, sets[s], &tmp, &k)) goto out;
        ids = xrealloc(ids, sizeof(long) * (n_ids + k));
        memcpy(ids + n_ids, tmp, sizeof(long) * k);
        n_ids += k;
        free(tmp);
        tmp = NULL;
    }
    long maxl = 0;
    for (int i = 0; i < n_labels; i++) {
        if (labels[i] < 1) {
            err_set("%s: labels[%d] = %ld, expected 1-based class ids", lab_path, i, labels[i]);
            goto out;
        }
        if (labels[i] > maxl) maxl = labels[i];
    }
    qsort(ids, n_ids, sizeof(long), cmp_long);
    for (int i = 0; i < n_ids; i++) {
        if (ids[i] < 1 || ids[i] > n_labels) {
            err_set("%s: image id %ld outside 1..%d (the number of labels in %s)", set_path, ids[i], n_labels,
                    lab_path);
            goto out;
        }
        if (i && ids[i] == ids[i - 1]) {
            err_set("%s: image id %ld listed twice in split '%s'", set_path, ids[i], split);
            goto out;
        }
        char *p = str_printf("%s/jpg/image_%05ld.jpg", root, ids[i]);
        if (!is_file(p)) {
            err_set("%s: missing image for id %ld (listed in %s)", p, ids[i], set_path);
            free(p);
            goto out;
        }
        items_add(items, p, (int)(labels[ids[i] - 1] - 1));
    }
    *n_classes = (int)maxl;
    *desc = str_printf("flowers102 at %s, split '%s' = %s (%d images, %d classes; train = trnid+valid, test = "
                       "tstid; labels = imagelabels.mat - 1)",
                       root, split, rule, items->n, (int)maxl);
    rc = 0;
out:
    if (m1) Mat_Close(m1);
    if (m2) Mat_Close(m2);
    free(labels);
    free(ids);
    free(tmp);
    free(lab_path);
    free(set_path);
    return rc;
}

/* ---- Oxford-IIIT Pets ---- */

typedef struct pets_ctx {
    const char *root, *list;
    item_list *items;
    char *names[256];
    int max_class;
} pets_ctx;

static int pets_line(char *line, int lineno, void *vctx) {
    pets_ctx *c = vctx;
    while (*line == ' ' || *line == '\t') line++;
    if (!*line || *line == '#') return 0;
    char *tok[4] = {0};
    int nt = 0;
    char *save = NULL;
    for (char *s = strtok_r(line, " \t", &save); s && nt < 4; s = strtok_r(NULL, " \t", &save)) tok[nt++] = s;
    long cls;
    if (nt < 2 || parse_int(tok[1], &cls))
        return err_set("%s:%d: expected '<image name> <class id 1..37> <species> <breed id>'", c->list, lineno);
    if (cls < 1 || cls > 255) return err_set("%s:%d: class id %ld outside 1..255 (the file's ids are 1-based)", c->list, lineno, cls);
    /* breed name = image name without its trailing _<number> */
    char *name = tok[0], *us = strrchr(name, '_');
    size_t blen = us ? (size_t)(us - name) : strlen(name);
    if (!c->names[cls - 1]) {
        c->names[cls - 1] = xmalloc(blen + 1);
        memcpy(c->names[cls - 1], name, blen);
        c->names[cls - 1][blen] = 0;
    } else if (strlen(c->names[cls - 1]) != blen || strncmp(c->names[cls - 1], name, blen)) {
        return err_set("%s:%d: image '%s' has class id %ld, which earlier lines gave to breed '%s'", c->list, lineno,
                       name, cls, c->names[cls - 1]);
    }
    char *p = str_printf("%s/images/%s.jpg", c->root, name);
    if (!is_file(p)) {
        err_set("%s: missing image (listed at %s:%d)", p, c->list, lineno);
        free(p);
        return -1;
    }
    items_add(c->items, p, (int)cls - 1);
    if (cls > c->max_class) c->max_class = (int)cls;
    return 0;
}

static int open_pets(const char *root, const char *split, item_list *items, int *n_classes, char ***class_names,
                     char **desc) {
    const char *file;
    if (!strcmp(split, "train") || !strcmp(split, "trainval")) file = "trainval.txt";
    else if (!strcmp(split, "test")) file = "test.txt";
    else return err_set("pets: unknown split '%s' (train = annotations/trainval.txt, test = annotations/test.txt)", split);
    pets_ctx c;
    memset(&c, 0, sizeof c);
    char *list = str_printf("%s/annotations/%s", root, file);
    c.root = root;
    c.list = list;
    c.items = items;
    size_t n;
    char *buf = file_read_all(list, &n);
    int rc = -1;
    if (!buf) {
        err_prefix("pets");
        goto out;
    }
    if (for_each_line(buf, pets_line, &c)) goto out;
    if (items->n == 0) {
        err_set("%s: no images listed", list);
        goto out;
    }
    *n_classes = c.max_class;
    *class_names = xcalloc(c.max_class, sizeof(char *));
    for (int k = 0; k < c.max_class; k++) {
        (*class_names)[k] = c.names[k] ? c.names[k] : str_printf("class_%d", k + 1);
        c.names[k] = NULL;
    }
    *desc = str_printf("pets at %s, split '%s' = annotations/%s (%d images, %d classes; train = trainval.txt, "
                       "test = test.txt; label = class id - 1)",
                       root, split, file, items->n, c.max_class);
    rc = 0;
out:
    for (int k = 0; k < 256; k++) free(c.names[k]);
    free(buf);
    free(list);
    return rc;
}

/* ---- VOC2007 ---- */

int cls_voc_single_label(const voc_annotation *a, const char *name) {
    if (a->n_objects == 0) return err_set("%s: no <object> in the annotation; cannot give it a class", name);
    int any_easy = 0;
    for (int i = 0; i < a->n_objects; i++)
        if (!a->objects[i].difficult) any_easy = 1;
    int best = -1;
    double best_area = -1;
    for (int i = 0; i < a->n_objects; i++) {
        const voc_object *o = &a->objects[i];
        int k = -1;
        for (int c = 0; c < 20; c++)
            if (!strcmp(o->name, cls_voc_classes[c])) k = c;
        if (k < 0) return err_set("%s: object %d has unknown class '%s' (not one of the 20 VOC classes)", name, i, o->name);
        if (any_easy && o->difficult) continue;
        double w = o->xmax - o->xmin + 1, h = o->ymax - o->ymin + 1;
        double area = (w > 0 && h > 0) ? w * h : 0;
        if (area > best_area) best_area = area, best = k;
    }
    return best;
}

typedef struct voc_ctx {
    const char *root, *list;
    item_list *items;
} voc_ctx;

static int voc_line(char *line, int lineno, void *vctx) {
    voc_ctx *c = vctx;
    while (*line == ' ' || *line == '\t') line++;
    if (!*line) return 0;
    char *sp = strpbrk(line, " \t");
    if (sp) *sp = 0; /* per-class lists (<class>_trainval.txt) carry a second column; the id is the first */
    char *xml = str_printf("%s/Annotations/%s.xml", c->root, line);
    voc_annotation a;
    if (voc_xml_load(xml, &a)) {
        err_prefix("%s:%d: image '%s'", c->list, lineno, line);
        free(xml);
        return -1;
    }
    int k = cls_voc_single_label(&a, xml);
    voc_annotation_free(&a);
    free(xml);
    if (k < 0) return err_prefix("%s:%d", c->list, lineno);
    char *p = str_printf("%s/JPEGImages/%s.jpg", c->root, line);
    if (!is_file(p)) {
        err_set("%s: missing image (listed at %s:%d)", p, c->list, lineno);
        free(p);
        return -1;
    }
    items_add(c->items, p, k);
    return 0;
}

static int open_voc(const char *root, const char *split, item_list *items, char **desc) {
    const char *set = !strcmp(split, "train") ? "trainval" : split;
    for (const char *q = set; *q; q++)
        if (*q == '/' || *q == '.') return err_set("voc2007: bad split name '%s'", split);
    char *list = str_printf("%s/ImageSets/Main/%s.txt", root, set);
    size_t n;
    char *buf = file_read_all(list, &n);
    int rc = -1;
    if (!buf) {
        err_prefix("voc2007 split '%s' (train = trainval.txt, test = test.txt)", split);
        goto out;
    }
    voc_ctx c = {root, list, items};
    if (for_each_line(buf, voc_line, &c)) goto out;
    if (items->n == 0) {
        err_set("%s: no images listed", list);
        goto out;
    }
    *desc = str_printf("voc2007 at %s, split '%s' = ImageSets/Main/%s.txt (%d images, 20 classes; train = "
                       "trainval, test = test; label = class of the largest non-difficult object)",
                       root, split, set, items->n);
    rc = 0;
out:
    free(buf);
    free(list);
    return rc;
}

/* ---- authors' list format ---- */

typedef struct list_ctx {
    const char *root, *list;
    item_list *items; /* NULL: only scan labels */
    int max_label;
} list_ctx;

static int list_line(char *line, int lineno, void *vctx) {
    list_ctx *c = vctx;
    while (*line == ' ' || *line == '\t') line++;
    if (!*line) return 0;
    char *sp = strrchr(line, ' ');
    char *tab = strrchr(line, '\t');
    if (tab && (!sp || tab > sp)) sp = tab;
    long lab;
    if (!sp || parse_int(sp + 1, &lab))
        return err_set("%s:%d: expected '<image path> <label>' (label an integer, the last field)", c->list, lineno);
    if (lab < 0 || lab > 1000000) return err_set("%s:%d: label %ld is negative or absurd (labels are 0-based)", c->list, lineno, lab);
    *sp = 0;
    size_t k = strlen(line);
    while (k && (line[k - 1] == ' ' || line[k - 1] == '\t')) line[--k] = 0;
    if (lab > c->max_label) c->max_label = (int)lab;
    if (!c->items) return 0;
    char *p = line[0] == '/' ? xstrdup(line) : str_printf("%s/%s", c->root, line);
    if (!is_file(p)) {
        err_set("%s: missing image (listed at %s:%d)", p, c->list, lineno);
        free(p);
        return -1;
    }
    items_add(c->items, p, (int)lab);
    return 0;
}

static char *list_path_for(const char *root, const char *split) {
    size_t L = strlen(split);
    if (L > 4 && !strcmp(split + L - 4, ".txt")) return split[0] == '/' ? xstrdup(split) : str_printf("%s/%s", root, split);
    return str_printf("%s/%s2mmcls.txt", root, split);
}

static int read_lines(const char *path, char ***out, int *n) {
    size_t len;
    char *buf = file_read_all(path, &len);
    if (!buf) return -1;
    char **v = NULL;
    int k = 0;
    char *save = NULL;
    for (char *s = strtok_r(buf, "\r\n", &save); s; s = strtok_r(NULL, "\r\n", &save)) {
        while (*s == ' ') s++;
        size_t m = strlen(s);
        while (m && s[m - 1] == ' ') s[--m] = 0;
        if (!*s) continue;
        v = xrealloc(v, sizeof(char *) * (k + 1));
        v[k++] = xstrdup(s);
    }
    free(buf);
    *out = v;
    *n = k;
    return 0;
}

static int open_list(const char *root, const char *split, item_list *items, int *n_classes, char ***class_names,
                     char **desc) {
    char *list = list_path_for(root, split);
    size_t n;
    char *buf = file_read_all(list, &n);
    int rc = -1;
    char *cls_file = str_printf("%s/classes.txt", root);
    if (!buf) goto out;
    list_ctx c = {root, list, items, -1};
    if (for_each_line(buf, list_line, &c)) goto out;
    if (items->n == 0) {
        err_set("%s: no images listed", list);
        goto out;
    }
    int K = c.max_label + 1;
    const char *names_from;
    if (is_file(cls_file)) {
        char **names;
        int nn;
        if (read_lines(cls_file, &names, &nn)) goto out;
        if (nn < K) {
            for (int i = 0; i < nn; i++) free(names[i]);
            free(names);
            err_set("%s: %d class names, but %s uses label %d", cls_file, nn, list, K - 1);
            goto out;
        }
        *class_names = names;
        K = nn;
        names_from = "classes.txt";
    } else {
        /* the other standard list may hold a larger label: scan it too so train and test agree on K */
        const char *others[2] = {"train", "test"};
        for (int i = 0; i < 2; i++) {
            char *o = list_path_for(root, others[i]);
            if (strcmp(o, list) && is_file(o)) {
                size_t on;
                char *ob = file_read_all(o, &on);
                list_ctx oc = {root, o, NULL, -1};
                int orc = ob ? for_each_line(ob, list_line, &oc) : -1;
                free(ob);
                if (orc) {
                    free(o);
                    goto out;
                }
                if (oc.max_label + 1 > K) K = oc.max_label + 1;
            }
            free(o);
        }
        *class_names = xcalloc(K, sizeof(char *));
        for (int k = 0; k < K; k++) (*class_names)[k] = str_printf("%d", k);
        names_from = "labels 0..K-1";
    }
    *n_classes = K;
    const char *rel = strncmp(list, root, strlen(root)) ? list : list + strlen(root) + 1;
    *desc = str_printf("list at %s, split '%s' = %s (%d images, %d classes, names from %s; train = "
                       "train2mmcls.txt, test = test2mmcls.txt)",
                       root, split, rel, items->n, K, names_from);
    rc = 0;
out:
    free(cls_file);
    free(buf);
    free(list);
    return rc;
}

/* ---- image folder ---- */

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Sorted entry names of a directory: dirs_only = 1 subdirectories, 0 image files. */
static int list_dir(const char *dir, int dirs_only, char ***out, int *n) {
    DIR *d = opendir(dir);
    if (!d) return err_set("%s: cannot open directory: %s", dir, strerror(errno));
    char **v = NULL;
    int k = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *full = str_printf("%s/%s", dir, e->d_name);
        int keep;
        if (dirs_only) keep = is_dir(full);
        else {
            const char *dot = strrchr(e->d_name, '.');
            keep = dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png")) &&
                   is_file(full);
        }
        free(full);
        if (!keep) continue;
        v = xrealloc(v, sizeof(char *) * (k + 1));
        v[k++] = xstrdup(e->d_name);
    }
    closedir(d);
    if (k > 1) qsort(v, k, sizeof(char *), cmp_str);
    *out = v;
    *n = k;
    return 0;
}

static void free_strs(char **v, int n) {
    if (!v) return;
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

static int open_folder(const char *root, const char *split, item_list *items, int *n_classes, char ***class_names,
                       char **desc) {
    if (strchr(split, '/')) return err_set("folder: bad split name '%s'", split);
    char *train_dir = str_printf("%s/train", root), *dir = str_printf("%s/%s", root, split);
    char **classes = NULL, **sub = NULL;
    int nc = 0, ns = 0, rc = -1;
    const char *cls_src = is_dir(train_dir) ? train_dir : dir;
    if (!is_dir(dir)) {
        err_set("%s: missing (folder layout: %s/<split>/<class>/<image>)", dir, root);
        goto out;
    }
    if (list_dir(cls_src, 1, &classes, &nc)) goto out;
    if (nc == 0) {
        err_set("%s: no class subfolders", cls_src);
        goto out;
    }
    if (list_dir(dir, 1, &sub, &ns)) goto out;
    for (int s = 0; s < ns; s++) {
        char **hit = bsearch(&sub[s], classes, nc, sizeof(char *), cmp_str);
        if (!hit) {
            err_set("%s/%s: class folder not present in %s (classes come from the train folder)", dir, sub[s], cls_src);
            goto out;
        }
        int k = (int)(hit - classes);
        char *cdir = str_printf("%s/%s", dir, sub[s]);
        char **files;
        int nf;
        int lrc = list_dir(cdir, 0, &files, &nf);
        if (!lrc)
            for (int f = 0; f < nf; f++) items_add(items, str_printf("%s/%s", cdir, files[f]), k);
        if (!lrc) free_strs(files, nf);
        free(cdir);
        if (lrc) goto out;
    }
    if (items->n == 0) {
        err_set("%s: no .jpg/.jpeg/.png images in its class folders", dir);
        goto out;
    }
    /* items were added class by class in sorted class order: sorted by (class, file) */
    *n_classes = nc;
    *class_names = classes;
    classes = NULL;
    nc = 0;
    *desc = str_printf("folder at %s, split '%s' = %s/<class>/* (%d images, %d classes = sorted subfolders of %s)",
                       root, split, dir, items->n, nc, cls_src);
    rc = 0;
out:
    free_strs(classes, nc);
    free_strs(sub, ns);
    free(train_dir);
    free(dir);
    return rc;
}

/* ---- public ---- */

int cls_format_detect(const char *root, cls_format *out) {
    static const struct {
        const char *rel;
        int dir;
        cls_format f;
    } marks[] = {{"imagelabels.mat", 0, CLS_FMT_FLOWERS102}, {"annotations/trainval.txt", 0, CLS_FMT_PETS},
                 {"ImageSets/Main", 1, CLS_FMT_VOC2007},     {"train2mmcls.txt", 0, CLS_FMT_LIST},
                 {"test2mmcls.txt", 0, CLS_FMT_LIST},         {"train", 1, CLS_FMT_FOLDER}};
    if (!is_dir(root)) return err_set("%s: not a directory", root);
    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
        char *p = str_printf("%s/%s", root, marks[i].rel);
        int hit = marks[i].dir ? is_dir(p) : is_file(p);
        free(p);
        if (hit) {
            *out = marks[i].f;
            return 0;
        }
    }
    return err_set("%s: not a known classification layout (expected imagelabels.mat, annotations/trainval.txt, "
                   "ImageSets/Main/, train2mmcls.txt or train/<class>/)",
                   root);
}

int cls_dataset_open(cls_format format, const char *root, const char *split, cls_dataset *ds) {
    memset(ds, 0, sizeof *ds);
    if (!root || !*root) return err_set("%s: no dataset root given (set DATA_ROOT)", cls_format_name(format));
    if (!split || !*split) return err_set("%s: no split given (train or test)", cls_format_name(format));
    if (!is_dir(root)) return err_set("%s: dataset root is not a directory (%s layout expected)", root, cls_format_name(format));
    item_list items = {0};
    int n_classes = 0, rc;
    char **names = NULL, *desc = NULL;
    switch (format) {
    case CLS_FMT_FLOWERS102: rc = open_flowers(root, split, &items, &n_classes, &desc); break;
    case CLS_FMT_PETS: rc = open_pets(root, split, &items, &n_classes, &names, &desc); break;
    case CLS_FMT_VOC2007:
        rc = open_voc(root, split, &items, &desc);
        n_classes = 20;
        break;
    case CLS_FMT_LIST: rc = open_list(root, split, &items, &n_classes, &names, &desc); break;
    case CLS_FMT_FOLDER: rc = open_folder(root, split, &items, &n_classes, &names, &desc); break;
    default: rc = err_set("cls_dataset_open: bad format %d", (int)format);
    }
    if (rc) {
        items_free(&items);
        if (names)
            for (int k = 0; k < n_classes; k++) free(names[k]);
        free(names);
        free(desc);
        return -1;
    }
    if (!names) {
        names = xcalloc(n_classes, sizeof(char *));
        for (int k = 0; k < n_classes; k++)
            names[k] = format == CLS_FMT_VOC2007 ? xstrdup(cls_voc_classes[k]) : str_printf("%d", k);
    }
    for (int i = 0; i < items.n; i++)
        DB_ASSERT(items.labels[i] >= 0 && items.labels[i] < n_classes);
    ds->format = format;
    ds->root = xstrdup(root);
    ds->split = xstrdup(split);
    ds->n = items.n;
    ds->paths = xrealloc(items.paths, sizeof(char *) * (items.n ? items.n : 1));
    ds->labels = xrealloc(items.labels, sizeof(int) * (items.n ? items.n : 1));
    ds->n_classes = n_classes;
    ds->class_names = names;
    ds->description = desc;
    return 0;
}

void cls_dataset_free(cls_dataset *ds) {
    if (!ds) return;
    for (int i = 0; i < ds->n; i++) free(ds->paths[i]);
    for (int k = 0; k < ds->n_classes; k++)
        if (ds->class_names) free(ds->class_names[k]);
    free(ds->paths);
    free(ds->labels);
    free(ds->class_names);
    free(ds->description);
    free(ds->root);
    free(ds->split);
    memset(ds, 0, sizeof *ds);
}

int *cls_dataset_class_counts(const cls_dataset *ds) {
    int *c = xcalloc(ds->n_classes > 0 ? ds->n_classes : 1, sizeof(int));
    for (int i = 0; i < ds->n; i++) c[ds->labels[i]]++;
    return c;
}
