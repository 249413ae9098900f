/* h5io.h - small checked wrappers over HDF5 for the goldens (read) and the results files (write).
 * Every HDF5 call is checked; failures set err_msg() naming the file and the object, and return -1/NULL. */
#ifndef DB_H5IO_H
#define DB_H5IO_H

#include <hdf5.h>
#include <stdint.h>

/* ---- reading ---- */
hid_t h5_open_read(const char *path);          /* < 0 with err_set on failure */
void h5_close(hid_t f);
int h5_exists(hid_t f, const char *path);       /* 1 if the link path exists (intermediate groups too) */
/* Read a float dataset (any stored float/int type converted to float32). *ndim, shape filled
 * (shape has room for 8). Returns malloc'd data or NULL. */
float *h5_read_f32(hid_t f, const char *path, int *ndim, int64_t *shape);
/* Same into int64. */
int64_t *h5_read_i64(hid_t f, const char *path, int *ndim, int64_t *shape);
/* Read a 1-D dataset of strings (variable or fixed length). Returns count or -1; *out is malloc'd
 * array of malloc'd strings (free with h5_free_strings). */
int h5_read_strings(hid_t f, const char *path, char ***out);
void h5_free_strings(char **s, int n);
/* Attributes on an object (obj "/" for the root). Integer/float arrays: returns count (<= max) or -1. */
int h5_attr_i64(hid_t f, const char *obj, const char *name, int64_t *out, int max);
int h5_attr_f64(hid_t f, const char *obj, const char *name, double *out, int max);
/* String attribute into buf (truncated to n-1). Returns 0 or -1. */
int h5_attr_str(hid_t f, const char *obj, const char *name, char *buf, int n);
/* List the names of the members of a group (recursively, datasets only, paths relative to the group
 * joined with '/'). Returns count or -1; free with h5_free_strings. */
int h5_list_datasets(hid_t f, const char *group, char ***out);

/* ---- writing ---- */
hid_t h5_create(const char *path);              /* truncating create */
/* Create intermediate groups as needed. */
int h5_write_f32(hid_t f, const char *path, int ndim, const int64_t *shape, const float *data);
int h5_write_f64(hid_t f, const char *path, int ndim, const int64_t *shape, const double *data);
int h5_write_i64(hid_t f, const char *path, int ndim, const int64_t *shape, const int64_t *data);
int h5_write_strings(hid_t f, const char *path, int n, const char *const *s);
int h5_set_attr_str(hid_t f, const char *obj, const char *name, const char *value);
int h5_set_attr_i64(hid_t f, const char *obj, const char *name, const int64_t *v, int n);
int h5_set_attr_f64(hid_t f, const char *obj, const char *name, const double *v, int n);
/* Create a group (and parents) if missing. */
int h5_ensure_group(hid_t f, const char *path);

#endif
