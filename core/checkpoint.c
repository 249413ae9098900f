/* checkpoint.c - state-dict containers and dtype conversion, mapping a state dict onto the parameter
 * store with an mmcv-style report, delta checkpoints and training-state checkpoints (see checkpoint.h).
 * The format readers are in safetensors.c and pickle.c. */
#include <cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt_internal.h"

/* ---- dtypes ---- */

static const struct {
    const char *name;
    int size;
} dtypes[DT_COUNT] = {{"F32", 4}, {"F16", 2}, {"BF16", 2}, {"F64", 8}, {"I64", 8},
                      {"I32", 4}, {"I16", 2}, {"I8", 1},   {"U8", 1},  {"BOOL", 1}};

int ckpt_dtype_size(ckpt_dtype d) { return dtypes[d].size; }
const char *ckpt_dtype_name(ckpt_dtype d) { return dtypes[d].name; }
int ckpt_dtype_from_name(const char *s) {
    for (int i = 0; i < DT_COUNT; i++)
        if (strcmp(s, dtypes[i].name) == 0) return i;
    return -1;
}

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) bits = sign;
        else { /* subnormal: normalise */
            int e = -1;
            do {
                e++;
                man <<= 1;
            } while (!(man & 0x400));
            bits = sign | ((uint32_t)(127 - 15 - e) << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) bits = sign | 0x7f800000u | (man << 13);
    else bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void ckpt_convert(ckpt_dtype d, const void *src, float *dst, int64_t n) {
    const unsigned char *p = src;
    switch (d) {
    case DT_F32: memcpy(dst, p, sizeof(float) * (size_t)n); break;
    case DT_F16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            dst[i] = half_to_float(h);
        }
        break;
    case DT_BF16:
        for (int64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, p + 2 * i, 2);
            uint32_t b = (uint32_t)h << 16;
            memcpy(&dst[i], &b, 4);
        }
        break;
    case DT_F64:
        for (int64_t i = 0; i < n; i++) {
            double x;
            memcpy(&x, p + 8 * i, 8);
            dst[i] = (float)x;
        }
        break;
    case DT_I64:
        for (int64_t i = 0; i < n; i++) {
            int64_t x;
            memcpy(&x, p + 8 * i, 8);
            dst[i] = (float)x;
        }
        break;
    case DT_I32:
        for (int64_t i = 0; i < n; i++) {
            int32_t x;
            memcpy(&x, p + 4 * i, 4);
            dst[i] = (float)x;
        }
        break;
    case DT_I16:
        for (int64_t i = 0; i < n; i++) {
            int16_t x;
            memcpy(&x, p + 2 * i, 2);
            dst[i] = (float)x;
        }
        break;
    case DT_I8:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)(int8_t)p[i];
        break;
    case DT_U8:
        for (int64_t i = 0; i < n; i++) dst[i] = (float)p[i];
        break;
    case DT_BOOL:
        for (int64_t i = 0; i < n; i++) dst[i] = p[i] ? 1.0f : 0.0f;
        break;
    default: DB_ASSERT(0, "bad dtype %d", (int)d);
    }
}

/* ---- containers ---- */

void ckpt_tensors_init(ckpt_tensors *sd) { memset(sd, 0, sizeof *sd); }

void ckpt_tensors_free(ckpt_tensors *sd) {
    for (int i = 0; i < sd->n; i++) {
        free(sd->t[i].name);
        free(sd->t[i].data);
    }
    free(sd->t);
    for (int i = 0; i < sd->n_meta; i++) {
        free(sd->meta_key[i]);
        free(sd->meta_val[i]);
    }
    free(sd->meta_key);
    free(sd->meta_val);
    memset(sd, 0, sizeof *sd);
}

ckpt_tensor *ckpt_tensors_push(ckpt_tensors *sd, const char *name, ckpt_dtype d, int ndim, const int64_t *shape,
                               float *data) {
    if (sd->n == sd->cap) {
        sd->cap = sd->cap ? 2 * sd->cap : 64;
        sd->t = xrealloc(sd->t, sizeof(ckpt_tensor) * (size_t)sd->cap);
    }
    ckpt_tensor *t = &sd->t[sd->n++];
    memset(t, 0, sizeof *t);
    t->name = xstrdup(name);
    snprintf(t->dtype, sizeof t->dtype, "%s", ckpt_dtype_name(d));
    t->ndim = ndim;
    t->n = 1;
    for (int i = 0; i < ndim; i++) {
        t->shape[i] = shape[i];
        t->n *= shape[i];
    }
    t->data = data;
    return t;
}

void ckpt_tensors_add_meta(ckpt_tensors *sd, const char *key, const char *val) {
    sd->meta_key = xrealloc(sd->meta_key, sizeof(char *) * (size_t)(sd->n_meta + 1));
    sd->meta_val = xrealloc(sd->meta_val, sizeof(char *) * (size_t)(sd->n_meta + 1));
    sd->meta_key[sd->n_meta] = xstrdup(key);
    sd->meta_val[sd->n_meta] = xstrdup(val);
    sd->n_meta++;
}

const ckpt_tensor *ckpt_tensors_find(const ckpt_tensors *sd, const char *name) {
    for (int i = 0; i < sd->n; i++)
        if (strcmp(sd->t[i].name, name) == 0) return &sd->t[i];
    return NULL;
}

const char *ckpt_meta_get(const ckpt_tensors *sd, const char *key) {
    for (int i = 0; i < sd->n_meta; i++)
        if (strcmp(sd->meta_key[i], key) == 0) return sd->meta_val[i];
    return NULL;
}

int ckpt_load_state_dict(const char *path, ckpt_tensors *out) {
    size_t l = strlen(path);
    if (l >= 12 && strcmp(path + l - 12, ".safetensors") == 0) return ckpt_read_safetensors(path, out);
    FILE *f = fopen(path, "rb");
    if (!f) {
        ckpt_tensors_init(out);
        return err_set("%s: cannot open: %s", path, strerror(errno));
    }
    unsigned char h[9] = {0};
    size_t k = fread(h, 1, 9, f);
    fclose(f);
    if (k == 9 && h[8] == '{' && memcmp(h, "PK", 2) != 0) return ckpt_read_safetensors(path, out);
    return ckpt_read_pth(path, out);
}

/* ---- mapping onto the store ---- */

static void str_push(char ***arr, int *n, const char *s) {
    *arr = xrealloc(*arr, sizeof(char *) * (size_t)(*n + 1));
    (*arr)[(*n)++] = xstrdup(s);
}

void ckpt_report_free(ckpt_report *rep) {
    if (!rep) return;
    for (int i = 0; i < rep->n_unexpected; i++) free(rep->unexpected[i]);
    for (int i = 0; i < rep->n_missing; i++) free(rep->missing[i]);
    for (int i = 0; i < rep->n_mismatch; i++) free(rep->mismatch[i]);
    free(rep->unexpected);
    free(rep->missing);
    free(rep->mismatch);
    memset(rep, 0, sizeof *rep);
}

/* torch.Size([2, 3]) as torch prints it */
static void shape_str(char *buf, size_t n, int ndim, const int64_t *s) {
    size_t k = (size_t)snprintf(buf, n, "torch.Size([");
    for (int d = 0; d < ndim && k < n; d++) k += (size_t)snprintf(buf + k, n - k, d ? ", %lld" : "%lld", (long long)s[d]);
    if (k < n) snprintf(buf + k, n - k, "])");
}

static const char *strip(const char *k, const char *pre) {
    size_t l = pre ? strlen(pre) : 0;
    return l && strncmp(k, pre, l) == 0 ? k + l : k;
}

typedef struct {
    char *buf;
    size_t len, cap;
} sbuf;

static void sb_add(sbuf *b, const char *s) {
    size_t l = strlen(s);
    if (b->len + l + 1 > b->cap) {
        b->cap = (b->len + l + 1) * 2;
        b->buf = xrealloc(b->buf, b->cap);
    }
    memcpy(b->buf + b->len, s, l + 1);
    b->len += l;
}

static void sb_list(sbuf *b, const char *head, char **items, int n) {
    if (!n) return;
    sb_add(b, head);
    for (int i = 0; i < n; i++) {
        if (i) sb_add(b, ", ");
        sb_add(b, items[i]);
    }
    sb_add(b, "\n");
}

char *ckpt_report_str(const ckpt_report *rep) {
    /* mmcv's load_state_dict: torch's size-mismatch messages, then unexpected, then missing keys, each
     * entry ending in '\n', joined with '\n' under a header line */
    sbuf b = {xstrdup(""), 0, 1};
    if (!rep->n_mismatch && !rep->n_unexpected && !rep->n_missing) return b.buf;
    sb_add(&b, "The model and loaded state dict do not match exactly\n");
    for (int i = 0; i < rep->n_mismatch; i++) {
        sb_add(&b, "\nsize mismatch for ");
        sb_add(&b, rep->mismatch[i]);
    }
    if (rep->n_unexpected) sb_add(&b, "\n");
    sb_list(&b, "unexpected key in source state_dict: ", rep->unexpected, rep->n_unexpected);
    if (rep->n_missing) sb_add(&b, "\n");
    sb_list(&b, "missing keys in source state_dict: ", rep->missing, rep->n_missing);
    return b.buf;
}

int ckpt_apply_ex(params *ps, const ckpt_tensors *sd, const char *source, const ckpt_apply_opts *opts,
                  ckpt_report *rep) {
    ckpt_apply_opts o0 = {0};
    if (!opts) opts = &o0;
    if (!source) source = "state dict";
    if (!ps->allocated) return err_set("%s: the parameter store is not allocated (call params_alloc first)", source);
    ckpt_report r;
    memset(&r, 0, sizeof r);
    int *loaded_from = xmalloc(sizeof(int) * (size_t)(ps->n ? ps->n : 1));
    for (int i = 0; i < ps->n; i++) loaded_from[i] = -1;
    const char *tp = opts->target_prefix ? opts->target_prefix : "";
    size_t tpl = strlen(tp);
    int dup = -1, dup_other = -1;
    size_t cap = 256;
    char *name = xmalloc(cap);
    for (int i = 0; i < sd->n; i++) {
        const ckpt_tensor *t = &sd->t[i];
        const char *k0 = strip(t->name, "module.");
        int pi = params_index(ps, k0); /* a key naming a parameter exactly is taken as it is */
        if (pi < 0) {
            const char *k = strip(strip(k0, "backbone."), opts->strip_prefix);
            size_t need = tpl + strlen(k) + 1;
            if (need > cap) {
                cap = 2 * need;
                name = xrealloc(name, cap);
            }
            snprintf(name, cap, "%s%s", tp, k);
            pi = params_index(ps, name);
        }
        if (pi < 0) {
            str_push(&r.unexpected, &r.n_unexpected, t->name);
            continue;
        }
        param *p = ps->p[pi];
        int same = p->t.ndim == t->ndim;
        for (int d = 0; same && d < t->ndim; d++) same = p->t.shape[d] == t->shape[d];
        if (!same) {
            int64_t ms[TENSOR_MAX_DIMS];
            for (int d = 0; d < p->t.ndim; d++) ms[d] = p->t.shape[d];
            char a[160], b2[160], msg[1024];
            shape_str(a, sizeof a, t->ndim, t->shape);
            shape_str(b2, sizeof b2, p->t.ndim, ms);
            snprintf(msg, sizeof msg, "%s: copying a param with shape %s from checkpoint, the shape in current model is %s.",
                     p->name, a, b2);
            str_push(&r.mismatch, &r.n_mismatch, msg);
            continue;
        }
        if (loaded_from[pi] >= 0) {
            if (dup < 0) {
                dup = i;
                dup_other = loaded_from[pi];
            }
            continue;
        }
        loaded_from[pi] = i;
        if (t->n) memcpy(p->t.data, t->data, sizeof(float) * (size_t)t->n);
        r.n_loaded++;
        r.n_loaded_elems += t->n;
    }
    free(name);
    for (int i = 0; i < ps->n; i++)
        if (loaded_from[i] < 0) {
            str_push(&r.missing, &r.n_missing, ps->p[i]->name);
            if (strncmp(ps->p[i]->name, tp, tpl) == 0) r.n_missing_in_scope++;
        }
    free(loaded_from);
    int rc = 0;
    if (dup >= 0)
        rc = err_set("%s: keys '%s' and '%s' both map to the parameter of the same name", source, sd->t[dup_other].name,
                     sd->t[dup].name);
    else if (r.n_mismatch)
        rc = err_set("%s: size mismatch for %s%s", source, r.mismatch[0], r.n_mismatch > 1 ? " (and more)" : "");
    else if (r.n_missing_in_scope && !opts->allow_missing) {
        char first[3][256];
        int nf = 0;
        for (int i = 0; i < r.n_missing && nf < 3; i++)
            if (strncmp(r.missing[i], tp, tpl) == 0) snprintf(first[nf++], 256, "%s", r.missing[i]);
        rc = err_set("%s: missing keys in source state_dict: %s%s%s%s%s%s (%d missing; allow missing keys to load anyway)",
                     source, first[0], nf > 1 ? ", " : "", nf > 1 ? first[1] : "", nf > 2 ? ", " : "",
                     nf > 2 ? first[2] : "", r.n_missing_in_scope > 3 ? ", ..." : "", r.n_missing_in_scope);
    }
    if (rep) *rep = r;
    else ckpt_report_free(&r);
    return rc;
}

int ckpt_apply(params *ps, const ckpt_tensors *sd, const char *strip_prefix, int allow_missing, ckpt_report *rep) {
    ckpt_apply_opts o = {strip_prefix, NULL, allow_missing};
    return ckpt_apply_ex(ps, sd, NULL, &o, rep);
}

int ckpt_load_pretrained(params *ps, const char *path, const ckpt_apply_opts *opts, FILE *log) {
    ckpt_tensors sd;
    if (ckpt_load_state_dict(path, &sd)) return -1;
    ckpt_report rep;
    int rc = ckpt_apply_ex(ps, &sd, path, opts, &rep);
    if (log) {
        char *s = ckpt_report_str(&rep);
        fprintf(log, "load checkpoint from %s: %d tensors loaded (%lld values)\n%s", path, rep.n_loaded,
                (long long)rep.n_loaded_elems, s);
        free(s);
    }
    ckpt_report_free(&rep);
    ckpt_tensors_free(&sd);
    return rc;
}

/* ---- delta and training-state checkpoints ---- */

typedef struct {
    char **k, **v;
    int n;
} kvlist;

static void kv_set(kvlist *m, const char *k, const char *v) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->k[i], k) == 0) {
            free(m->v[i]);
            m->v[i] = xstrdup(v);
            return;
        }
    str_push(&m->k, &m->n, k);
    m->n--;
    str_push(&m->v, &m->n, v);
}

static void kv_free(kvlist *m) {
    for (int i = 0; i < m->n; i++) {
        free(m->k[i]);
        free(m->v[i]);
    }
    free(m->k);
    free(m->v);
}

/* User metadata (a JSON object) into m; members that are not strings become compact JSON. */
static int kv_from_json(kvlist *m, const char *json, const char *path) {
    if (!json) return 0;
    cJSON *j = cJSON_Parse(json);
    if (!j || !cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return err_set("%s: checkpoint metadata is not a JSON object", path);
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, j) {
        if (cJSON_IsString(it)) kv_set(m, it->string, it->valuestring);
        else {
            char *s = cJSON_PrintUnformatted(it);
            kv_set(m, it->string, s);
            free(s);
        }
    }
    cJSON_Delete(j);
    return 0;
}

static char *meta_to_json(const ckpt_tensors *sd) {
    cJSON *j = cJSON_CreateObject();
    for (int i = 0; i < sd->n_meta; i++) cJSON_AddStringToObject(j, sd->meta_key[i], sd->meta_val[i]);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

typedef struct {
    st_entry *e;
    int64_t *shapes; /* TENSOR_MAX_DIMS per entry */
    char **names;
    int n, cap;
} entries;

static void ent_add(entries *E, const char *name, const param *p, const float *data) {
    if (E->n == E->cap) {
        E->cap = E->cap ? 2 * E->cap : 64;
        E->e = xrealloc(E->e, sizeof(st_entry) * (size_t)E->cap);
        E->shapes = xrealloc(E->shapes, sizeof(int64_t) * TENSOR_MAX_DIMS * (size_t)E->cap);
        E->names = xrealloc(E->names, sizeof(char *) * (size_t)E->cap);
    }
    int64_t *s = E->shapes + TENSOR_MAX_DIMS * E->n;
    for (int d = 0; d < p->t.ndim; d++) s[d] = p->t.shape[d];
    E->names[E->n] = xstrdup(name);
    E->e[E->n] = (st_entry){E->names[E->n], p->t.ndim, NULL, data};
    E->n++;
}

static int ent_write(entries *E, const char *path, kvlist *m) {
    for (int i = 0; i < E->n; i++) E->e[i].shape = E->shapes + TENSOR_MAX_DIMS * i;
    int rc = safetensors_write(path, E->e, E->n, (const char *const *)m->k, (const char *const *)m->v, m->n);
    for (int i = 0; i < E->n; i++) free(E->names[i]);
    free(E->names);
    free(E->e);
    free(E->shapes);
    return rc;
}

static void base_meta(kvlist *m, const char *schema, const params *ps) {
    char buf[64];
    kv_set(m, "schema", schema);
    kv_set(m, "commit", build_commit());
    kv_set(m, "format", "pt");
    snprintf(buf, sizeof buf, "%lld", (long long)ps->n_train);
    kv_set(m, "n_params", buf);
}

int ckpt_save_delta(const char *path, const params *ps, const char *metadata_json) {
    if (!ps->allocated) return err_set("%s: the parameter store is not allocated", path);
    kvlist m = {0};
    if (kv_from_json(&m, metadata_json, path)) {
        kv_free(&m);
        return -1;
    }
    base_meta(&m, CKPT_DELTA_SCHEMA, ps);
    entries E = {0};
    for (int i = 0; i < ps->n; i++)
        if (ps->p[i]->trainable) ent_add(&E, ps->p[i]->name, ps->p[i], ps->p[i]->t.data);
    for (int i = 0; i < ps->n_buffers; i++) ent_add(&E, ps->b[i]->name, ps->b[i], ps->b[i]->t.data); /* BN running stats */
    int rc = ent_write(&E, path, &m);
    kv_free(&m);
    return rc;
}

/* Copy tensor `name` of sd into dst (n floats) after checking its shape against p. */
static int take(const ckpt_tensors *sd, const char *path, const char *name, const param *p, float *dst) {
    const ckpt_tensor *t = ckpt_tensors_find(sd, name);
    if (!t) return err_set("%s: tensor '%s' is missing", path, name);
    int same = t->ndim == p->t.ndim && strcmp(t->dtype, "F32") == 0;
    for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == p->t.shape[d];
    if (!same) {
        int64_t ms[TENSOR_MAX_DIMS];
        for (int d = 0; d < p->t.ndim; d++) ms[d] = p->t.shape[d];
        char a[160], b[160];
        shape_str(a, sizeof a, t->ndim, t->shape);
        shape_str(b, sizeof b, p->t.ndim, ms);
        return err_set("%s: tensor '%s' has shape %s %s, the model's parameter %s F32", path, name, a, t->dtype, b);
    }
    if (t->n && dst) memcpy(dst, t->data, sizeof(float) * (size_t)t->n);
    return 0;
}

static int check_schema(const ckpt_tensors *sd, const char *path, const char *schema) {
    const char *s = ckpt_meta_get(sd, "schema");
    if (!s) return err_set("%s: no __metadata__.schema: not a deltabench checkpoint (expected %s)", path, schema);
    if (strcmp(s, schema) != 0) return err_set("%s: schema '%s', expected '%s'", path, s, schema);
    return 0;
}

int ckpt_load_delta(const char *path, params *ps, char **metadata_json) {
    if (metadata_json) *metadata_json = NULL;
    if (!ps->allocated) return err_set("%s: the parameter store is not allocated", path);
    ckpt_tensors sd;
    if (ckpt_read_safetensors(path, &sd)) return -1;
    int rc = check_schema(&sd, path, CKPT_DELTA_SCHEMA);
    for (int i = 0; !rc && i < sd.n; i++) {
        const param *p = params_find(ps, sd.t[i].name);
        if (!p || (!p->trainable && !p->is_buffer))
            rc = err_set("%s: tensor '%s' is not a trainable parameter of this model (%s): wrong method or backbone?", path,
                         sd.t[i].name, p ? "it is frozen here" : "no such parameter");
    }
    /* check everything before touching the store */
    for (int i = 0; !rc && i < ps->n; i++) {
        const param *p = ps->p[i];
        if (!p->trainable) continue;
        const ckpt_tensor *t = ckpt_tensors_find(&sd, p->name);
        if (!t) rc = err_set("%s: trainable parameter '%s' is not in the delta checkpoint: wrong method or backbone?", path, p->name);
        else {
            int same = t->ndim == p->t.ndim;
            for (int d = 0; same && d < t->ndim; d++) same = t->shape[d] == p->t.shape[d];
            if (!same) rc = err_set("%s: tensor '%s' has a different shape than the model's parameter", path, p->name);
        }
    }
    for (int i = 0; !rc && i < ps->n_buffers; i++) /* buffers (BN running stats): all of them, shapes checked */
        rc = take(&sd, path, ps->b[i]->name, ps->b[i], NULL);
    for (int i = 0; !rc && i < ps->n; i++)
        if (ps->p[i]->trainable) rc = take(&sd, path, ps->p[i]->name, ps->p[i], ps->p[i]->t.data);
    for (int i = 0; !rc && i < ps->n_buffers; i++) rc = take(&sd, path, ps->b[i]->name, ps->b[i], ps->b[i]->t.data);
    if (!rc && metadata_json) *metadata_json = meta_to_json(&sd);
    ckpt_tensors_free(&sd);
    return rc;
}

static const char *optim_kind_name(optim_kind k) { return k == OPTIM_ADAMW ? "adamw" : "sgd"; }

int ckpt_save_train_state(const char *path, const params *ps, const optim *o, const train_state *st,
                          const char *metadata_json) {
    if (!ps->allocated) return err_set("%s: the parameter store is not allocated", path);
    if (o && o->ps != ps) return err_set("%s: the optimiser belongs to another parameter store", path);
    if (st->n_rng < 0 || st->n_rng > CKPT_MAX_RNG) return err_set("%s: n_rng %d out of range", path, st->n_rng);
    kvlist m = {0};
    if (kv_from_json(&m, metadata_json, path)) {
        kv_free(&m);
        return -1;
    }
    base_meta(&m, CKPT_TRAIN_SCHEMA, ps);
    char buf[128];
    snprintf(buf, sizeof buf, "%" PRId64, st->iter);
    kv_set(&m, "iter", buf);
    snprintf(buf, sizeof buf, "%" PRId64, st->epoch);
    kv_set(&m, "epoch", buf);
    snprintf(buf, sizeof buf, "%d", st->n_rng);
    kv_set(&m, "n_rng", buf);
    for (int i = 0; i < st->n_rng; i++) {
        char key[32];
        snprintf(key, sizeof key, "rng%d", i);
        snprintf(buf, sizeof buf, "%016" PRIx64 ":%016" PRIx64, st->rng[i].s[0], st->rng[i].s[1]);
        kv_set(&m, key, buf);
    }
    kv_set(&m, "optim", o ? optim_kind_name(o->cfg.kind) : "none");
    snprintf(buf, sizeof buf, "%" PRId64, o ? o->step : 0);
    kv_set(&m, "optim_step", buf);
    for (int i = 0; o && i < ps->n; i++) /* parameters updated fewer times (skipped without a gradient) */
        if (ps->p[i]->trainable && o->param_step[i] != o->step) {
            char key[2048];
            snprintf(key, sizeof key, "optim_step.%s", ps->p[i]->name);
            snprintf(buf, sizeof buf, "%" PRId64, o->param_step[i]);
            kv_set(&m, key, buf);
        }
    entries E = {0};
    char name[2048];
    for (int i = 0; i < ps->n; i++) {
        const param *p = ps->p[i];
        if (!p->trainable) continue;
        ent_add(&E, p->name, p, p->t.data);
        if (o && o->exp_avg) {
            snprintf(name, sizeof name, "optim.%s.%s", o->cfg.kind == OPTIM_ADAMW ? "exp_avg" : "momentum_buffer", p->name);
            ent_add(&E, name, p, o->exp_avg + p->offset);
        }
        if (o && o->exp_avg_sq) {
            snprintf(name, sizeof name, "optim.exp_avg_sq.%s", p->name);
            ent_add(&E, name, p, o->exp_avg_sq + p->offset);
        }
    }
    for (int i = 0; i < ps->n_buffers; i++) ent_add(&E, ps->b[i]->name, ps->b[i], ps->b[i]->t.data); /* BN running stats */
    int rc = ent_write(&E, path, &m);
    kv_free(&m);
    return rc;
}

static int meta_i64(const ckpt_tensors *sd, const char *path, const char *key, int64_t *out) {
    const char *s = ckpt_meta_get(sd, key);
    char *end;
    if (!s) return err_set("%s: __metadata__.%s is missing", path, key);
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end) return err_set("%s: __metadata__.%s = '%s' is not an integer", path, key, s);
    *out = v;
    return 0;
}

int ckpt_load_train_state(const char *path, params *ps, optim *o, train_state *st, char **metadata_json) {
    if (metadata_json) *metadata_json = NULL;
    if (!ps->allocated) return err_set("%s: the parameter store is not allocated", path);
    ckpt_tensors sd;
    if (ckpt_read_safetensors(path, &sd)) return -1;
    int rc = check_schema(&sd, path, CKPT_TRAIN_SCHEMA);
    int64_t iter = 0, epoch = 0, nrng = 0, ostep = 0;
    train_state s;
    memset(&s, 0, sizeof s);
    if (!rc) rc = meta_i64(&sd, path, "iter", &iter) || meta_i64(&sd, path, "epoch", &epoch) ||
                  meta_i64(&sd, path, "n_rng", &nrng) || meta_i64(&sd, path, "optim_step", &ostep) ? -1 : 0;
    if (!rc && (nrng < 0 || nrng > CKPT_MAX_RNG)) rc = err_set("%s: __metadata__.n_rng = %lld out of range", path, (long long)nrng);
    for (int i = 0; !rc && i < nrng; i++) {
        char key[32];
        snprintf(key, sizeof key, "rng%d", i);
        const char *v = ckpt_meta_get(&sd, key);
        unsigned long long a, b;
        int used = 0;
        if (!v || sscanf(v, "%16llx:%16llx%n", &a, &b, &used) != 2 || v[used])
            rc = err_set("%s: __metadata__.%s is missing or not 'hex:hex'", path, key);
        else {
            s.rng[i].s[0] = a;
            s.rng[i].s[1] = b;
        }
    }
    const char *ok = ckpt_meta_get(&sd, "optim");
    if (!rc && o) {
        if (!ok || strcmp(ok, optim_kind_name(o->cfg.kind)) != 0)
            rc = err_set("%s: optimiser state is '%s', the optimiser here is '%s'", path, ok ? ok : "(none)",
                         optim_kind_name(o->cfg.kind));
        else if (o->ps != ps) rc = err_set("%s: the optimiser belongs to another parameter store", path);
    }
    /* per-parameter step counts where they differ from optim_step (parameters skipped without a gradient) */
    int64_t *psteps = xcalloc(ps->n ? ps->n : 1, sizeof(int64_t));
    for (int i = 0; !rc && i < ps->n; i++) {
        if (!ps->p[i]->trainable) continue;
        char key[2048];
        snprintf(key, sizeof key, "optim_step.%s", ps->p[i]->name);
        psteps[i] = ostep;
        if (ckpt_meta_get(&sd, key) && !(rc = meta_i64(&sd, path, key, &psteps[i])) && (psteps[i] < 0 || psteps[i] > ostep))
            rc = err_set("%s: __metadata__.%s = %lld is outside [0, optim_step %lld]", path, key, (long long)psteps[i],
                         (long long)ostep);
    }
    /* the tensors: every trainable parameter and its state, nothing else; pass 0 checks them all,
     * pass 1 copies, so a bad file leaves the store untouched */
    int expected = 0;
    char name[2048];
    for (int pass = 0; pass < 2 && !rc; pass++) {
        expected = 0;
        for (int i = 0; !rc && i < ps->n; i++) {
            param *p = ps->p[i];
            if (!p->trainable) continue;
            rc = take(&sd, path, p->name, p, pass ? p->t.data : NULL);
            expected++;
            if (!rc && o && o->exp_avg) {
                snprintf(name, sizeof name, "optim.%s.%s", o->cfg.kind == OPTIM_ADAMW ? "exp_avg" : "momentum_buffer",
                         p->name);
                rc = take(&sd, path, name, p, pass ? o->exp_avg + p->offset : NULL);
                expected++;
            }
            if (!rc && o && o->exp_avg_sq) {
                snprintf(name, sizeof name, "optim.exp_avg_sq.%s", p->name);
                rc = take(&sd, path, name, p, pass ? o->exp_avg_sq + p->offset : NULL);
                expected++;
            }
        }
        for (int i = 0; !rc && i < ps->n_buffers; i++, expected++) /* buffers (BN running stats) */
            rc = take(&sd, path, ps->b[i]->name, ps->b[i], pass ? ps->b[i]->t.data : NULL);
        if (!rc && pass == 0 && sd.n != expected)
            rc = err_set("%s: %d tensors, %d expected for this model's trainable parameters and optimiser: wrong "
                         "method or optimiser settings?", path, sd.n, expected);
    }
    if (!rc) {
        s.iter = iter;
        s.epoch = epoch;
        s.n_rng = (int)nrng;
        *st = s;
        if (o) {
            o->step = ostep;
            for (int i = 0; i < ps->n; i++) o->param_step[i] = ps->p[i]->trainable ? psteps[i] : 0;
        }
        if (metadata_json) *metadata_json = meta_to_json(&sd);
    }
    free(psteps);
    ckpt_tensors_free(&sd);
    return rc;
}
