/* safetensors.c - reading and writing the .safetensors format (8-byte little-endian header length,
 * JSON header, raw little-endian tensor data), see checkpoint.h. */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt_internal.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "checkpoint readers assume a little-endian host"
#endif

/* A JSON number that is a non-negative integer below 2^53. */
static int json_u64(const cJSON *j, int64_t *out) {
    if (!cJSON_IsNumber(j)) return -1;
    double v = j->valuedouble;
    if (!(v >= 0 && v <= 9007199254740992.0) || v != floor(v)) return -1;
    *out = (int64_t)v;
    return 0;
}

/* the header's __metadata__ object: string -> string */
static int meta_read(const cJSON *md, const char *path, ckpt_tensors *out) {
    if (!cJSON_IsObject(md)) return err_set("%s: header entry __metadata__ is not an object", path);
    const cJSON *m;
    cJSON_ArrayForEach(m, md) {
        if (!cJSON_IsString(m)) return err_set("%s: __metadata__.%s is not a string", path, m->string);
        ckpt_tensors_add_meta(out, m->string, m->valuestring);
    }
    return 0;
}

int ckpt_read_safetensors(const char *path, ckpt_tensors *out) {
    ckpt_tensors_init(out);
    int fd = open(path, O_RDONLY);
    if (fd < 0) return err_set("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return err_set("%s: cannot stat: %s", path, strerror(e));
    }
    size_t fsize = (size_t)st.st_size;
    if (fsize < 8) {
        close(fd);
        return err_set("%s: not a safetensors file: %zu bytes, shorter than the 8-byte header length", path, fsize);
    }
    unsigned char *map = mmap(NULL, fsize, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return err_set("%s: cannot map: %s", path, strerror(errno));
    int rc = -1;
    cJSON *h = NULL;
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | map[i];
    if (hlen > fsize - 8) {
        err_set("%s: header length %llu runs past the end of the file (%zu bytes): truncated or not safetensors",
                path, (unsigned long long)hlen, fsize);
        goto done;
    }
    h = cJSON_ParseWithLength((const char *)map + 8, (size_t)hlen);
    if (!h || !cJSON_IsObject(h)) {
        err_set("%s: the header (bytes 8..%llu) is not a JSON object", path, (unsigned long long)(8 + hlen));
        goto done;
    }
    const unsigned char *data = map + 8 + hlen;
    size_t dlen = fsize - 8 - (size_t)hlen;
    const cJSON *it;
    cJSON_ArrayForEach(it, h) {
        const char *name = it->string;
        if (strcmp(name, "__metadata__") == 0) {
            if (meta_read(it, path, out)) goto done;
            continue;
        }
        const cJSON *jd = cJSON_GetObjectItemCaseSensitive(it, "dtype");
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(it, "shape");
        const cJSON *jo = cJSON_GetObjectItemCaseSensitive(it, "data_offsets");
        if (!cJSON_IsObject(it) || !cJSON_IsString(jd) || !cJSON_IsArray(js) || !cJSON_IsArray(jo) ||
            cJSON_GetArraySize(jo) != 2) {
            err_set("%s: header entry '%s' lacks dtype (string), shape (array) or data_offsets (2 integers)", path, name);
            goto done;
        }
        int d = ckpt_dtype_from_name(jd->valuestring);
        if (d < 0) {
            err_set("%s: tensor '%s': dtype %s is not supported (F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL)",
                    path, name, jd->valuestring);
            goto done;
        }
        int nd = cJSON_GetArraySize(js);
        if (nd > CKPT_MAX_DIMS) {
            err_set("%s: tensor '%s' has %d dimensions (at most %d supported)", path, name, nd, CKPT_MAX_DIMS);
            goto done;
        }
        int64_t shape[CKPT_MAX_DIMS], n = 1;
        int k = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, js) {
            if (json_u64(e, &shape[k]) || (shape[k] > 0 && n > INT64_MAX / 16 / shape[k])) {
                err_set("%s: tensor '%s': shape[%d] is not a valid size", path, name, k);
                goto done;
            }
            n *= shape[k];
            k++;
        }
        int64_t b, en;
        if (json_u64(cJSON_GetArrayItem(jo, 0), &b) || json_u64(cJSON_GetArrayItem(jo, 1), &en) || b > en ||
            (uint64_t)en > dlen) {
            err_set("%s: tensor '%s': data_offsets are invalid or run past the end of the data (%zu bytes): truncated file?",
                    path, name, dlen);
            goto done;
        }
        int64_t want = n * ckpt_dtype_size((ckpt_dtype)d);
        if (en - b != want) {
            err_set("%s: tensor '%s': data_offsets span %lld bytes, shape and dtype need %lld", path, name,
                    (long long)(en - b), (long long)want);
            goto done;
        }
        float *buf = n ? xmalloc_aligned(sizeof(float) * (size_t)n) : NULL;
        if (n) ckpt_convert((ckpt_dtype)d, data + b, buf, n);
        ckpt_tensors_push(out, name, (ckpt_dtype)d, nd, shape, buf);
    }
    rc = 0;
done:
    cJSON_Delete(h);
    munmap(map, fsize);
    if (rc) ckpt_tensors_free(out);
    return rc;
}

int safetensors_write(const char *path, const st_entry *e, int n, const char *const *meta_key,
                      const char *const *meta_val, int n_meta) {
    cJSON *h = cJSON_CreateObject();
    if (n_meta > 0) {
        cJSON *m = cJSON_AddObjectToObject(h, "__metadata__");
        for (int i = 0; i < n_meta; i++) cJSON_AddStringToObject(m, meta_key[i], meta_val[i]);
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        cJSON *t = cJSON_AddObjectToObject(h, e[i].name);
        cJSON_AddStringToObject(t, "dtype", "F32");
        cJSON *s = cJSON_AddArrayToObject(t, "shape");
        uint64_t cnt = 1;
        for (int d = 0; d < e[i].ndim; d++) {
            cJSON_AddItemToArray(s, cJSON_CreateNumber((double)e[i].shape[d]));
            cnt *= (uint64_t)e[i].shape[d];
        }
        cJSON *o = cJSON_AddArrayToObject(t, "data_offsets");
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
        off += cnt * 4;
        cJSON_AddItemToArray(o, cJSON_CreateNumber((double)off));
    }
    char *js = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!js) return err_set("%s: cannot format the safetensors header", path);
    size_t jl = strlen(js);
    size_t padded = (jl + 7) / 8 * 8; /* data starts 8-byte aligned; pad the header with spaces */
    char tmp[4096];
    if (atomic_tmpname(path, tmp, sizeof tmp)) {
        free(js);
        return -1;
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        free(js);
        return err_set("%s: cannot write: %s", tmp, strerror(errno));
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(js, 1, jl, f) == jl;
    for (size_t i = jl; ok && i < padded; i++) ok = fputc(' ', f) != EOF;
    free(js);
    for (int i = 0; ok && i < n; i++) {
        size_t cnt = 1;
        for (int d = 0; d < e[i].ndim; d++) cnt *= (size_t)e[i].shape[d];
        if (cnt) ok = fwrite(e[i].data, sizeof(float), cnt, f) == cnt;
    }
    if (!ok) {
        int er = errno;
        fclose(f);
        atomic_abort(tmp);
        return err_set("%s: write failed: %s", tmp, strerror(er));
    }
    if (fclose(f) != 0) {
        atomic_abort(tmp);
        return err_set("%s: close failed: %s", tmp, strerror(errno));
    }
    return atomic_commit(tmp, path);
}

int ckpt_read_safetensors_meta(const char *path, ckpt_tensors *out) {
    ckpt_tensors_init(out);
    FILE *f = fopen(path, "rb");
    if (!f) return err_set("%s: cannot open: %s", path, strerror(errno));
    unsigned char lb[8];
    uint64_t hlen = 0;
    int rc = -1;
    char *buf = NULL;
    cJSON *h = NULL;
    if (fread(lb, 1, 8, f) != 8) {
        err_set("%s: not a safetensors file: shorter than the 8-byte header length", path);
        goto done;
    }
    for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | lb[i];
    if (hlen > (1u << 30)) {
        err_set("%s: header length %llu is implausible: truncated or not safetensors", path, (unsigned long long)hlen);
        goto done;
    }
    buf = xmalloc(hlen + 1);
    if (fread(buf, 1, hlen, f) != hlen) {
        err_set("%s: the header (%llu bytes) runs past the end of the file", path, (unsigned long long)hlen);
        goto done;
    }
    h = cJSON_ParseWithLength(buf, (size_t)hlen);
    if (!h || !cJSON_IsObject(h)) {
        err_set("%s: the header (bytes 8..%llu) is not a JSON object", path, (unsigned long long)(8 + hlen));
        goto done;
    }
    const cJSON *md = cJSON_GetObjectItemCaseSensitive(h, "__metadata__");
    if (md && meta_read(md, path, out)) goto done;
    rc = 0;
done:
    cJSON_Delete(h);
    free(buf);
    fclose(f);
    if (rc) ckpt_tensors_free(out);
    return rc;
}
