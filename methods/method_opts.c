/* method_opts.c - method specs "name[:key=value...]": parsing against the method's option table, the
 * canonical spec (defaults filled) and the file-safe key (method.h). */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "method.h"

#include "../core/checkpoint.h"

static const char *type_word(const method_opt *o) {
    switch (o->type) {
    case MOPT_INT: return "an integer";
    case MOPT_FLOAT: return "a number";
    case MOPT_BOOL: return "on or off";
    default: return "a comma-separated list of integers";
    }
}

void method_opt_describe(const method_opt *o, char *buf, int n) {
    switch (o->type) {
    case MOPT_INT: snprintf(buf, n, "an integer in %g..%g%s", o->lo, o->hi, o->odd ? ", odd" : ""); break;
    case MOPT_FLOAT: snprintf(buf, n, "a number in %g..%g", o->lo, o->hi); break;
    case MOPT_BOOL: snprintf(buf, n, "on or off"); break;
    case MOPT_INT_LIST:
        snprintf(buf, n, "1 to %d comma-separated integers in %g..%g%s", o->max_len, o->lo, o->hi, o->odd ? ", odd" : "");
        break;
    }
}

/* One integer of the whole text s (no sign games: strtol, then nothing left). */
static int parse_int(const char *s, const char *end, long *v) {
    if (s == end || isspace((unsigned char)*s)) return -1;
    char tmp[64];
    if (end - s >= (long)sizeof tmp) return -1;
    memcpy(tmp, s, (size_t)(end - s));
    tmp[end - s] = 0;
    char *e;
    errno = 0;
    *v = strtol(tmp, &e, 10);
    return *e || errno ? -1 : 0;
}

static int in_range(const method_opt *o, double v) { return v >= o->lo && v <= o->hi; }

/* Parse value text v for option o of method mname into *out. */
static int parse_value(const char *mname, const method_opt *o, const char *v, method_value *out) {
    char acc[160];
    method_opt_describe(o, acc, sizeof acc);
    memset(out, 0, sizeof *out);
    out->n = 1;
    if (!*v) return err_set("method '%s': option '%s' has an empty value (expected %s)", mname, o->key, acc);
    if (o->type == MOPT_BOOL) {
        if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "1")) out->i[0] = 1;
        else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "0")) out->i[0] = 0;
        else return err_set("method '%s': %s=%s: expected on or off", mname, o->key, v);
        return 0;
    }
    if (o->type == MOPT_FLOAT) {
        char *e;
        errno = 0;
        double f = strtod(v, &e);
        if (*e || errno || isspace((unsigned char)*v) || !isfinite(f))
            return err_set("method '%s': %s=%s is not a number (expected %s)", mname, o->key, v, acc);
        if (!in_range(o, f)) return err_set("method '%s': %s=%s is out of range (expected %s)", mname, o->key, v, acc);
        out->f = f;
        return 0;
    }
    /* integers and lists */
    int max = o->type == MOPT_INT ? 1 : o->max_len;
    out->n = 0;
    for (const char *p = v;;) {
        const char *e = strchr(p, ',');
        if (!e) e = p + strlen(p);
        if (o->type == MOPT_INT && *e) return err_set("method '%s': %s=%s: expected %s", mname, o->key, v, acc);
        long x;
        if (parse_int(p, e, &x))
            return err_set("method '%s': %s=%s: '%.*s' is not %s (expected %s)", mname, o->key, v, (int)(e - p), p,
                           o->type == MOPT_INT ? type_word(o) : "an integer", acc);
        if (out->n == max) return err_set("method '%s': %s=%s has more than %d values (expected %s)", mname, o->key, v, max, acc);
        if (!in_range(o, (double)x) || (o->odd && x % 2 == 0))
            return err_set("method '%s': %s=%s: %ld is out of range (expected %s)", mname, o->key, v, x, acc);
        out->i[out->n++] = (int)x;
        if (!*e) break;
        p = e + 1;
    }
    return 0;
}

/* value as written in the canonical spec (list_sep ',') or in the key ('-') */
static void value_str(const method_opt *o, const method_value *v, char sep, char *buf, int n) {
    buf[0] = 0;
    if (o->type == MOPT_BOOL) snprintf(buf, n, "%s", v->i[0] ? "on" : "off");
    else if (o->type == MOPT_FLOAT) {
        /* the shortest form that reads back as the same double, so the canonical spec is exact */
        for (int prec = 1; prec <= 17; prec++) {
            snprintf(buf, n, "%.*g", prec, v->f);
            if (strtod(buf, NULL) == v->f) break;
        }
        if (sep == '-') /* "1e+06" -> "1e06": '+' is not a key character */
            for (char *s = buf, *d = buf;; s++)
                if (*s != '+' && !(*d++ = *s)) break;
    } else
        for (int k = 0; k < v->n; k++) snprintf(buf + strlen(buf), n - strlen(buf), "%s%d", k ? (char[]){sep, 0} : "", v->i[k]);
}

static int value_same(const method_opt *o, const method_value *a, const method_value *b) {
    if (o->type == MOPT_FLOAT) return a->f == b->f;
    if (a->n != b->n) return 0;
    for (int k = 0; k < a->n; k++)
        if (a->i[k] != b->i[k]) return 0;
    return 1;
}

void method_opts_default(const method *m, method_opts *o) {
    memset(o, 0, sizeof *o);
    o->m = m;
    DB_ASSERT(m->n_opts <= METHOD_MAX_OPTS, "method %s: too many options", m->name);
    for (int k = 0; k < m->n_opts; k++)
        if (parse_value(m->name, &m->opts[k], m->opts[k].def, &o->v[k])) {
            fprintf(stderr, "method table: bad default: %s\n", err_msg());
            abort();
        }
}

const method_opts *method_opts_get(const void *ctx, const method *m, method_opts *tmp) {
    if (ctx) {
        const method_opts *o = ctx;
        DB_ASSERT(o->m == m, "method %s: plug-in context of another method", m->name);
        return o;
    }
    method_opts_default(m, tmp);
    return tmp;
}

static void method_names(char *buf, int n) {
    buf[0] = 0;
    for (int i = 0; i < method_count; i++)
        snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", i ? ", " : "", method_table[i]->name);
}

static void option_names(const method *m, char *buf, int n) {
    buf[0] = 0;
    for (int k = 0; k < m->n_opts; k++) snprintf(buf + strlen(buf), n - strlen(buf), "%s%s", k ? ", " : "", m->opts[k].key);
}

int method_spec_parse(const char *text, method_spec *out) {
    memset(out, 0, sizeof *out);
    if (!text || !*text) return err_set("empty method spec (expected name[:key=value...])");
    if (strlen(text) >= METHOD_SPEC_MAX) return err_set("method spec '%.40s...' is longer than %d characters", text, METHOD_SPEC_MAX - 1);
    char buf[METHOD_SPEC_MAX], names[256];
    snprintf(buf, sizeof buf, "%s", text);
    char *rest = strchr(buf, ':');
    if (rest) *rest++ = 0;
    const method *m = method_find(buf);
    if (!m) {
        method_names(names, sizeof names);
        return err_set("unknown method '%s' in spec '%s' (methods: %s)", buf, text, names);
    }
    out->m = m;
    method_opts_default(m, &out->o);
    int given[METHOD_MAX_OPTS] = {0};
    option_names(m, names, sizeof names);
    while (rest) {
        char *seg = rest;
        rest = strchr(seg, ':');
        if (rest) *rest++ = 0;
        if (!m->n_opts) return err_set("method '%s' takes no options (spec '%s')", m->name, text);
        if (!*seg) return err_set("method '%s': empty option in spec '%s' (expected key=value; options: %s)", m->name, text, names);
        char *eq = strchr(seg, '=');
        if (eq) *eq = 0;
        int k = 0;
        while (k < m->n_opts && strcmp(m->opts[k].key, seg)) k++;
        if (k == m->n_opts) return err_set("method '%s': unknown option '%s' (options: %s)", m->name, seg, names);
        if (!eq) {
            char acc[160];
            method_opt_describe(&m->opts[k], acc, sizeof acc);
            return err_set("method '%s': option '%s' needs a value, %s=<%s>", m->name, seg, seg, acc);
        }
        if (given[k]++) return err_set("method '%s': option '%s' given twice in spec '%s'", m->name, seg, text);
        if (parse_value(m->name, &m->opts[k], eq + 1, &out->o.v[k])) return -1;
    }
    /* canonical spec and key */
    method_opts def;
    method_opts_default(m, &def);
    snprintf(out->spec, sizeof out->spec, "%s", m->name);
    snprintf(out->key, sizeof out->key, "%s", m->name);
    for (int k = 0; k < m->n_opts; k++) {
        char v[128];
        value_str(&m->opts[k], &out->o.v[k], ',', v, sizeof v);
        snprintf(out->spec + strlen(out->spec), sizeof out->spec - strlen(out->spec), ":%s=%s", m->opts[k].key, v);
        if (!value_same(&m->opts[k], &out->o.v[k], &def.v[k])) {
            value_str(&m->opts[k], &out->o.v[k], '-', v, sizeof v);
            snprintf(out->key + strlen(out->key), sizeof out->key - strlen(out->key), "_%s%s", m->opts[k].key, v);
        }
    }
    if (strlen(out->spec) >= sizeof out->spec - 1 || strlen(out->key) >= sizeof out->key - 1)
        return err_set("method spec '%s': the canonical form is too long", text);
    out->plug = m->plug;
    out->plug.ctx = &out->o;
    return 0;
}

int method_spec_canonical(const char *text, char *buf, int n) {
    method_spec sp;
    if (method_spec_parse(text, &sp)) return -1;
    snprintf(buf, n, "%s", sp.spec);
    return 0;
}

int method_load_delta(const char *path, params *ps, const method_spec *sp, char **metadata_json) {
    if (metadata_json) *metadata_json = NULL;
    ckpt_tensors h;
    if (ckpt_read_safetensors_meta(path, &h)) return -1;
    const char *saved = ckpt_meta_get(&h, "method");
    char canon[METHOD_SPEC_MAX];
    int rc = 0;
    if (!saved) rc = err_set("%s: the delta checkpoint records no method (expected '%s')", path, sp->spec);
    else if (method_spec_canonical(saved, canon, sizeof canon))
        rc = err_prefix("%s: the delta checkpoint's method", path);
    else if (strcmp(canon, sp->spec))
        rc = err_set("%s: a delta checkpoint of method '%s', this model is built with '%s'", path, canon, sp->spec);
    ckpt_tensors_free(&h);
    return rc ? -1 : ckpt_load_delta(path, ps, metadata_json);
}
