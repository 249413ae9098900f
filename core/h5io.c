/* h5io.c - checked HDF5 helpers (see h5io.h). */
#include "h5io.h"

#include <stdlib.h>
#include <string.h>

#include "common.h"

static char *file_name(hid_t f, char *buf, size_t n) {
    if (H5Fget_name(f, buf, n) < 0) snprintf(buf, n, "<hdf5>");
    return buf;
}

#define H5FAIL(f, ...)                                                                                  \
    do {                                                                                                \
        char fn_[1024];                                                                                 \
        err_set(__VA_ARGS__);                                                                           \
        err_prefix("%s", file_name((f), fn_, sizeof fn_));                                             \
    } while (0)

hid_t h5_open_read(const char *path) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* we report errors ourselves */
    if (!file_exists(path)) {
        err_set("%s: no such file", path);
        return -1;
    }
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) err_set("%s: not a readable HDF5 file", path);
    return f;
}

void h5_close(hid_t f) {
    if (f >= 0) H5Fclose(f);
}

int h5_exists(hid_t f, const char *path) {
    char buf[1024];
    size_t n = strlen(path);
    if (n >= sizeof buf) return 0;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (H5Lexists(f, buf, H5P_DEFAULT) <= 0) return 0;
            buf[i] = c;
        }
    }
    return 1;
}

static hid_t open_dataset(hid_t f, const char *path, int *ndim, int64_t *shape, int64_t *count) {
    if (!h5_exists(f, path)) {
        H5FAIL(f, "missing dataset '%s'", path);
        return -1;
    }
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    if (d < 0) {
        H5FAIL(f, "cannot open dataset '%s'", path);
        return -1;
    }
    hid_t s = H5Dget_space(d);
    int nd = H5Sget_simple_extent_ndims(s);
    if (nd < 0 || nd > 8) {
        H5Sclose(s);
        H5Dclose(d);
        H5FAIL(f, "dataset '%s' has unsupported rank", path);
        return -1;
    }
    hsize_t dims[8];
    H5Sget_simple_extent_dims(s, dims, NULL);
    H5Sclose(s);
    int64_t c = 1;
    for (int i = 0; i < nd; i++) {
        shape[i] = (int64_t)dims[i];
        c *= (int64_t)dims[i];
    }
    *ndim = nd;
    *count = c;
    return d;
}

float *h5_read_f32(hid_t f, const char *path, int *ndim, int64_t *shape) {
    int64_t c;
    hid_t d = open_dataset(f, path, ndim, shape, &c);
    if (d < 0) return NULL;
    float *buf = xmalloc(sizeof(float) * (size_t)(c ? c : 1));
    if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        free(buf);
        H5Dclose(d);
        H5FAIL(f, "cannot read dataset '%s' as float32", path);
        return NULL;
    }
    H5Dclose(d);
    return buf;
}

int64_t *h5_read_i64(hid_t f, const char *path, int *ndim, int64_t *shape) {
    int64_t c;
    hid_t d = open_dataset(f, path, ndim, shape, &c);
    if (d < 0) return NULL;
    int64_t *buf = xmalloc(sizeof(int64_t) * (size_t)(c ? c : 1));
    if (H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
        free(buf);
        H5Dclose(d);
        H5FAIL(f, "cannot read dataset '%s' as int64", path);
        return NULL;
    }
    H5Dclose(d);
    return buf;
}

int h5_read_strings(hid_t f, const char *path, char ***out) {
    int ndim;
    int64_t shape[8], c;
    hid_t d = open_dataset(f, path, &ndim, shape, &c);
    if (d < 0) return -1;
    hid_t ft = H5Dget_type(d);
    if (H5Tget_class(ft) != H5T_STRING) {
        H5Tclose(ft);
        H5Dclose(d);
        H5FAIL(f, "dataset '%s' is not a string list", path);
        return -1;
    }
    char **res = xcalloc((size_t)(c ? c : 1), sizeof(char *));
    int rc = 0;
    if (H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char **tmp = xcalloc((size_t)(c ? c : 1), sizeof(char *));
        if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) < 0) rc = -1;
        else {
            for (int64_t i = 0; i < c; i++) res[i] = xstrdup(tmp[i] ? tmp[i] : "");
            hid_t s = H5Dget_space(d);
            H5Dvlen_reclaim(mt, s, H5P_DEFAULT, tmp);
            H5Sclose(s);
        }
        free(tmp);
        H5Tclose(mt);
    } else {
        size_t sz = H5Tget_size(ft);
        char *tmp = xcalloc((size_t)(c ? c : 1), sz + 1);
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, sz);
        if (H5Dread(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp) < 0) rc = -1;
        else
            for (int64_t i = 0; i < c; i++) {
                res[i] = xcalloc(1, sz + 1);
                memcpy(res[i], tmp + i * sz, sz);
            }
        free(tmp);
        H5Tclose(mt);
    }
    H5Tclose(ft);
    H5Dclose(d);
    if (rc) {
        h5_free_strings(res, (int)c);
        H5FAIL(f, "cannot read strings '%s'", path);
        return -1;
    }
    *out = res;
    return (int)c;
}

void h5_free_strings(char **s, int n) {
    if (!s) return;
    for (int i = 0; i < n; i++) free(s[i]);
    free(s);
}

static hid_t open_attr(hid_t f, const char *obj, const char *name, int64_t *count) {
    if (H5Aexists_by_name(f, obj, name, H5P_DEFAULT) <= 0) {
        H5FAIL(f, "missing attribute '%s' on '%s'", name, obj);
        return -1;
    }
    hid_t a = H5Aopen_by_name(f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) {
        H5FAIL(f, "cannot open attribute '%s'", name);
        return -1;
    }
    hid_t s = H5Aget_space(a);
    hssize_t n = H5Sget_simple_extent_npoints(s);
    H5Sclose(s);
    *count = (int64_t)n;
    return a;
}

int h5_attr_i64(hid_t f, const char *obj, const char *name, int64_t *out, int max) {
    int64_t c;
    hid_t a = open_attr(f, obj, name, &c);
    if (a < 0) return -1;
    int64_t *tmp = xmalloc(sizeof(int64_t) * (size_t)(c ? c : 1));
    herr_t r = H5Aread(a, H5T_NATIVE_INT64, tmp);
    H5Aclose(a);
    if (r < 0) {
        free(tmp);
        H5FAIL(f, "attribute '%s' is not an integer", name);
        return -1;
    }
    int k = (int)(c < max ? c : max);
    memcpy(out, tmp, sizeof(int64_t) * k);
    free(tmp);
    return k;
}

int h5_attr_f64(hid_t f, const char *obj, const char *name, double *out, int max) {
    int64_t c;
    hid_t a = open_attr(f, obj, name, &c);
    if (a < 0) return -1;
    double *tmp = xmalloc(sizeof(double) * (size_t)(c ? c : 1));
    herr_t r = H5Aread(a, H5T_NATIVE_DOUBLE, tmp);
    H5Aclose(a);
    if (r < 0) {
        free(tmp);
        H5FAIL(f, "attribute '%s' is not a number", name);
        return -1;
    }
    int k = (int)(c < max ? c : max);
    memcpy(out, tmp, sizeof(double) * k);
    free(tmp);
    return k;
}

int h5_attr_str(hid_t f, const char *obj, const char *name, char *buf, int n) {
    int64_t c;
    hid_t a = open_attr(f, obj, name, &c);
    if (a < 0) return -1;
    hid_t ft = H5Aget_type(a);
    int rc = 0;
    if (H5Tget_class(ft) != H5T_STRING) rc = -1;
    else if (H5Tis_variable_str(ft) > 0) {
        hid_t mt = H5Tcopy(H5T_C_S1);
        H5Tset_size(mt, H5T_VARIABLE);
        H5Tset_cset(mt, H5Tget_cset(ft));
        char *s = NULL;
        if (H5Aread(a, mt, &s) < 0) rc = -1;
        else {
            snprintf(buf, n, "%s", s ? s : "");
            H5free_memory(s);
        }
        H5Tclose(mt);
    } else {
        size_t sz = H5Tget_size(ft);
        char *tmp = xcalloc(1, sz + 1);
        if (H5Aread(a, ft, tmp) < 0) rc = -1;
        else snprintf(buf, n, "%s", tmp);
        free(tmp);
    }
    H5Tclose(ft);
    H5Aclose(a);
    if (rc) H5FAIL(f, "attribute '%s' is not a string", name);
    return rc;
}

typedef struct list_ctx {
    char **names;
    int n, cap;
} list_ctx;

static herr_t list_cb(hid_t obj, const char *name, const H5O_info_t *info, void *op) {
    list_ctx *lc = op;
    if (info->type != H5O_TYPE_DATASET) return 0;
    if (lc->n == lc->cap) {
        lc->cap = lc->cap ? lc->cap * 2 : 64;
        lc->names = xrealloc(lc->names, sizeof(char *) * lc->cap);
    }
    lc->names[lc->n++] = xstrdup(name);
    return 0;
}

int h5_list_datasets(hid_t f, const char *group, char ***out) {
    if (!h5_exists(f, group) && strcmp(group, "/")) {
        H5FAIL(f, "missing group '%s'", group);
        return -1;
    }
    hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
    if (g < 0) {
        H5FAIL(f, "cannot open group '%s'", group);
        return -1;
    }
    list_ctx lc = {0};
    herr_t r = H5Ovisit2(g, H5_INDEX_NAME, H5_ITER_INC, list_cb, &lc, H5O_INFO_BASIC);
    H5Gclose(g);
    if (r < 0) {
        h5_free_strings(lc.names, lc.n);
        H5FAIL(f, "cannot list group '%s'", group);
        return -1;
    }
    *out = lc.names;
    return lc.n;
}

/* ---- writing ---- */
hid_t h5_create(const char *path) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) err_set("%s: cannot create HDF5 file", path);
    return f;
}

int h5_ensure_group(hid_t f, const char *path) {
    char buf[1024];
    size_t n = strlen(path);
    if (n >= sizeof buf) return err_set("hdf5 path too long: %s", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (H5Lexists(f, buf, H5P_DEFAULT) <= 0) {
                hid_t g = H5Gcreate2(f, buf, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
                if (g < 0) {
                    H5FAIL(f, "cannot create group '%s'", buf);
                    return -1;
                }
                H5Gclose(g);
            }
            buf[i] = c;
        }
    }
    return 0;
}

static int ensure_parent(hid_t f, const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return 0;
    char buf[1024];
    size_t n = (size_t)(slash - path);
    if (n >= sizeof buf) return err_set("hdf5 path too long: %s", path);
    memcpy(buf, path, n);
    buf[n] = 0;
    return h5_ensure_group(f, buf);
}

static int write_ds(hid_t f, const char *path, hid_t type, int ndim, const int64_t *shape, const void *data) {
    if (ensure_parent(f, path)) return -1;
    hsize_t dims[8];
    for (int i = 0; i < ndim; i++) dims[i] = (hsize_t)shape[i];
    hid_t s = ndim ? H5Screate_simple(ndim, dims, NULL) : H5Screate(H5S_SCALAR);
    if (H5Lexists(f, path, H5P_DEFAULT) > 0) H5Ldelete(f, path, H5P_DEFAULT);
    hid_t d = H5Dcreate2(f, path, type, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (d < 0 || H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) rc = -1;
    if (d >= 0) H5Dclose(d);
    H5Sclose(s);
    if (rc) H5FAIL(f, "cannot write dataset '%s'", path);
    return rc;
}

int h5_write_f32(hid_t f, const char *path, int ndim, const int64_t *shape, const float *data) {
    return write_ds(f, path, H5T_NATIVE_FLOAT, ndim, shape, data);
}
int h5_write_f64(hid_t f, const char *path, int ndim, const int64_t *shape, const double *data) {
    return write_ds(f, path, H5T_NATIVE_DOUBLE, ndim, shape, data);
}
int h5_write_i64(hid_t f, const char *path, int ndim, const int64_t *shape, const int64_t *data) {
    return write_ds(f, path, H5T_NATIVE_INT64, ndim, shape, data);
}

int h5_write_strings(hid_t f, const char *path, int n, const char *const *s) {
    if (ensure_parent(f, path)) return -1;
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hsize_t dims[1] = {(hsize_t)n};
    hid_t sp = H5Screate_simple(1, dims, NULL);
    if (H5Lexists(f, path, H5P_DEFAULT) > 0) H5Ldelete(f, path, H5P_DEFAULT);
    hid_t d = H5Dcreate2(f, path, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (d < 0 || (n > 0 && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) < 0)) rc = -1;
    if (d >= 0) H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
    if (rc) H5FAIL(f, "cannot write strings '%s'", path);
    return rc;
}

static int set_attr(hid_t f, const char *obj, const char *name, hid_t type, hid_t space, const void *v) {
    if (H5Aexists_by_name(f, obj, name, H5P_DEFAULT) > 0) H5Adelete_by_name(f, obj, name, H5P_DEFAULT);
    hid_t a = H5Acreate_by_name(f, obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (a < 0 || H5Awrite(a, type, v) < 0) rc = -1;
    if (a >= 0) H5Aclose(a);
    if (rc) H5FAIL(f, "cannot write attribute '%s' on '%s'", name, obj);
    return rc;
}

int h5_set_attr_str(hid_t f, const char *obj, const char *name, const char *value) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    hid_t s = H5Screate(H5S_SCALAR);
    int rc = set_attr(f, obj, name, t, s, &value);
    H5Sclose(s);
    H5Tclose(t);
    return rc;
}

int h5_set_attr_i64(hid_t f, const char *obj, const char *name, const int64_t *v, int n) {
    hsize_t d[1] = {(hsize_t)n};
    hid_t s = H5Screate_simple(1, d, NULL);
    int rc = set_attr(f, obj, name, H5T_NATIVE_INT64, s, v);
    H5Sclose(s);
    return rc;
}

int h5_set_attr_f64(hid_t f, const char *obj, const char *name, const double *v, int n) {
    hsize_t d[1] = {(hsize_t)n};
    hid_t s = H5Screate_simple(1, d, NULL);
    int rc = set_attr(f, obj, name, H5T_NATIVE_DOUBLE, s, v);
    H5Sclose(s);
    return rc;
}
