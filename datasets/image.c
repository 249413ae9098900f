/* image.c - JPEG (libjpeg-turbo) and PNG (libpng) decoding and encoding for 8-bit HWC images.
 *
 * Both libraries report fatal errors through callbacks; here those callbacks record the library's
 * message and longjmp back to the decoding function, which frees what it allocated and returns -1 with
 * err_set(). Nothing is printed by the libraries. A JPEG that ends early (libjpeg's "premature end of
 * data" warning, after which it would silently fill the rest with gray) is treated as an error, as
 * Pillow does; other JPEG warnings (e.g. extraneous bytes before a marker) are tolerated, as in cv2. */
#include "image.h"

#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

#include "../core/common.h"

/* Refuse absurd sizes from corrupt headers before allocating (1 GiB of pixels). */
#define IMG_MAX_DIM 65535
#define IMG_MAX_BYTES ((size_t)1 << 30)

int image_alloc(image *im, int w, int h, int c) {
    memset(im, 0, sizeof *im);
    if (w <= 0 || h <= 0 || w > IMG_MAX_DIM || h > IMG_MAX_DIM || (c != 1 && c != 3))
        return err_set("image_alloc: bad image size %dx%dx%d (need 1..%d pixels per side, 1 or 3 channels)", w, h,
                       c, IMG_MAX_DIM);
    if ((size_t)w * h * c > IMG_MAX_BYTES) return err_set("image_alloc: image %dx%dx%d is too large", w, h, c);
    im->w = w;
    im->h = h;
    im->c = c;
    im->data = xcalloc((size_t)w * h * c, 1);
    return 0;
}

void image_free(image *im) {
    if (!im) return;
    free(im->data);
    memset(im, 0, sizeof *im);
}

image_format image_sniff(const uint8_t *buf, size_t n) {
    if (n >= 3 && buf[0] == 0xFF && buf[1] == 0xD8 && buf[2] == 0xFF) return IMG_FMT_JPEG;
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (n >= 8 && !memcmp(buf, png_sig, 8)) return IMG_FMT_PNG;
    return IMG_FMT_UNKNOWN;
}

int image_decode(const uint8_t *buf, size_t n, const char *name, image_mode mode, image *out) {
    memset(out, 0, sizeof *out);
    if (n == 0) return err_set("%s: empty file (0 bytes), expected a JPEG or PNG image", name);
    switch (image_sniff(buf, n)) {
    case IMG_FMT_JPEG: return image_decode_jpeg(buf, n, name, mode, out);
    case IMG_FMT_PNG: return image_decode_png(buf, n, name, mode, out);
    default:
        return err_set("%s: not a JPEG or PNG image (first bytes %02x %02x %02x %02x); the file is corrupt or of "
                       "another format",
                       name, buf[0], n > 1 ? buf[1] : 0, n > 2 ? buf[2] : 0, n > 3 ? buf[3] : 0);
    }
}

int image_read(const char *path, image_mode mode, image *out) {
    memset(out, 0, sizeof *out);
    size_t n = 0;
    char *buf = file_read_all(path, &n);
    if (!buf) return -1;
    int rc = image_decode((const uint8_t *)buf, n, path, mode, out);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------------------------------------ */
/* JPEG                                                                                             */

typedef struct jpeg_err {
    struct jpeg_error_mgr pub;
    jmp_buf jb;
    int eof;                       /* saw "premature end of JPEG file" */
    char msg[JMSG_LENGTH_MAX];
} jpeg_err;

static void jpeg_err_exit(j_common_ptr ci) {
    jpeg_err *e = (jpeg_err *)ci->err;
    (*ci->err->format_message)(ci, e->msg);
    longjmp(e->jb, 1);
}
static void jpeg_err_output(j_common_ptr ci) { (void)ci; }
static void jpeg_err_emit(j_common_ptr ci, int level) {
    jpeg_err *e = (jpeg_err *)ci->err;
    if (level < 0) {
        if (ci->err->msg_code == JWRN_JPEG_EOF) e->eof = 1;
        ci->err->num_warnings++;
    }
}

static void jpeg_err_init(jpeg_err *e) {
    memset(e, 0, sizeof *e);
    jpeg_std_error(&e->pub);
    e->pub.error_exit = jpeg_err_exit;
    e->pub.output_message = jpeg_err_output;
    e->pub.emit_message = jpeg_err_emit;
}

int image_decode_jpeg(const uint8_t *buf, size_t n, const char *name, image_mode mode, image *out) {
    memset(out, 0, sizeof *out);
    if (mode == IMG_LABEL)
        return err_set("%s: is a JPEG; label maps must be PNG (lossy JPEG would corrupt the class ids)", name);
    if (n == 0) return err_set("%s: empty file (0 bytes)", name);
    struct jpeg_decompress_struct cinfo;
    jpeg_err jerr;
    jpeg_err_init(&jerr);
    cinfo.err = &jerr.pub;
    uint8_t *volatile data = NULL;
    uint8_t *volatile row = NULL;
    if (setjmp(jerr.jb)) {
        jpeg_destroy_decompress(&cinfo);
        free(data);
        free(row);
        return err_set("%s: corrupt JPEG: %s", name, jerr.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, buf, (unsigned long)n);
    jpeg_read_header(&cinfo, TRUE);
    int cmyk = 0, outc;
    if (cinfo.jpeg_color_space == JCS_GRAYSCALE) {
        outc = mode == IMG_ANY ? 1 : 3;
        cinfo.out_color_space = outc == 1 ? JCS_GRAYSCALE : JCS_RGB;
    } else if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        cmyk = 1;
        outc = 3;
        cinfo.out_color_space = JCS_CMYK;
    } else {
        outc = 3;
        cinfo.out_color_space = JCS_RGB;
    }
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height, comps = cinfo.output_components;
    if (w <= 0 || h <= 0 || (size_t)w * h * 4 > IMG_MAX_BYTES) {
        jpeg_destroy_decompress(&cinfo);
        return err_set("%s: JPEG size %dx%d is not supported", name, w, h);
    }
    if (comps != (cmyk ? 4 : outc)) {
        jpeg_destroy_decompress(&cinfo);
        return err_set("%s: JPEG decoder gave %d components, expected %d", name, comps, cmyk ? 4 : outc);
    }
    data = xmalloc((size_t)w * h * outc);
    if (cmyk) row = xmalloc((size_t)w * 4);
    int inverted = cmyk && cinfo.saw_Adobe_marker; /* Adobe writes CMYK inverted */
    while (cinfo.output_scanline < cinfo.output_height) {
        int y = (int)cinfo.output_scanline;
        JSAMPROW rp = cmyk ? (JSAMPROW)row : (JSAMPROW)(data + (size_t)y * w * outc);
        if (jpeg_read_scanlines(&cinfo, &rp, 1) != 1) break;
        if (cmyk) {
            uint8_t *d = data + (size_t)y * w * 3;
            for (int x = 0; x < w; x++) {
                int C = row[4 * x], M = row[4 * x + 1], Y = row[4 * x + 2], K = row[4 * x + 3];
                if (!inverted) C = 255 - C, M = 255 - M, Y = 255 - Y, K = 255 - K;
                d[3 * x] = (uint8_t)((C * K + 127) / 255);
                d[3 * x + 1] = (uint8_t)((M * K + 127) / 255);
                d[3 * x + 2] = (uint8_t)((Y * K + 127) / 255);
            }
        }
        if (jerr.eof) break;
    }
    int short_read = cinfo.output_scanline < cinfo.output_height;
    if (!jerr.eof && !short_read) jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    if (jerr.eof || short_read) {
        free(data);
        return err_set("%s: truncated JPEG: the data ends before the image is complete (%dx%d); re-download or "
                       "re-extract the file",
                       name, w, h);
    }
    out->w = w;
    out->h = h;
    out->c = outc;
    out->data = data;
    return 0;
}

int image_encode_jpeg(const image *im, int quality, uint8_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (!im || !im->data || (im->c != 1 && im->c != 3) || im->w <= 0 || im->h <= 0)
        return err_set("image_encode_jpeg: need a 1- or 3-channel image");
    if (quality < 1 || quality > 100) return err_set("image_encode_jpeg: quality %d outside 1..100", quality);
    struct jpeg_compress_struct cinfo;
    jpeg_err jerr;
    jpeg_err_init(&jerr);
    cinfo.err = &jerr.pub;
    unsigned char *volatile mem = NULL;
    unsigned long memsize = 0;
    if (setjmp(jerr.jb)) {
        /* the memory destination may have reallocated its buffer without updating mem: leak, never
         * double-free (only reachable through a libjpeg internal error; the inputs are checked above) */
        jpeg_destroy_compress(&cinfo);
        return err_set("JPEG encoder: %s", jerr.msg);
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, (unsigned char **)&mem, &memsize);
    cinfo.image_width = (JDIMENSION)im->w;
    cinfo.image_height = (JDIMENSION)im->h;
    cinfo.input_components = im->c;
    cinfo.in_color_space = im->c == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW rp = (JSAMPROW)(im->data + (size_t)cinfo.next_scanline * im->w * im->c);
        jpeg_write_scanlines(&cinfo, &rp, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *out = (uint8_t *)mem;
    *n = (size_t)memsize;
    return 0;
}

int image_write_jpeg(const char *path, const image *im, int quality) {
    uint8_t *buf;
    size_t n;
    if (image_encode_jpeg(im, quality, &buf, &n)) return err_prefix("%s", path);
    int rc = file_write_atomic(path, buf, n);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------------------------------------ */
/* PNG                                                                                              */

typedef struct png_ctx {
    jmp_buf jb;
    char msg[256];
    const uint8_t *buf; /* reading */
    size_t n, pos;
    uint8_t *obuf;      /* writing */
    size_t on, ocap;
} png_ctx;

static void png_ctx_error(png_structp p, png_const_charp msg) {
    png_ctx *c = png_get_error_ptr(p);
    snprintf(c->msg, sizeof c->msg, "%s", msg ? msg : "unknown libpng error");
    longjmp(c->jb, 1);
}
static void png_ctx_warning(png_structp p, png_const_charp msg) {
    (void)p;
    (void)msg;
}
static void png_ctx_read(png_structp p, png_bytep dst, size_t len) {
    png_ctx *c = png_get_io_ptr(p);
    if (len > c->n - c->pos) png_error(p, "unexpected end of data (the PNG file is truncated)");
    memcpy(dst, c->buf + c->pos, len);
    c->pos += len;
}
static void png_ctx_write(png_structp p, png_bytep src, size_t len) {
    png_ctx *c = png_get_io_ptr(p);
    if (c->on + len > c->ocap) {
        size_t cap = c->ocap ? c->ocap : 4096;
        while (cap < c->on + len) cap *= 2;
        c->obuf = xrealloc(c->obuf, cap);
        c->ocap = cap;
    }
    memcpy(c->obuf + c->on, src, len);
    c->on += len;
}
static void png_ctx_flush(png_structp p) { (void)p; }

/* what: 0 = 8-bit image by mode, 1 = 16-bit gray samples. */
static int png_decode_any(const uint8_t *buf, size_t n, const char *name, image_mode mode, int what, image *out,
                          uint16_t **out16, int *ow, int *oh, int info_only, int *oc) {
    png_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.buf = buf;
    ctx.n = n;
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, png_ctx_error, png_ctx_warning);
    if (!p) return err_set("%s: cannot create PNG reader", name);
    png_infop info = png_create_info_struct(p);
    if (!info) {
        png_destroy_read_struct(&p, NULL, NULL);
        return err_set("%s: cannot create PNG reader", name);
    }
    uint8_t *volatile data = NULL;
    png_bytep *volatile rows = NULL;
    if (setjmp(ctx.jb)) {
        png_destroy_read_struct(&p, &info, NULL);
        free(data);
        free(rows);
        return err_set("%s: corrupt PNG: %s", name, ctx.msg);
    }
    png_set_read_fn(p, &ctx, png_ctx_read);
    png_set_user_limits(p, IMG_MAX_DIM, IMG_MAX_DIM);
    png_read_info(p, info);
    png_uint_32 w = 0, h = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(p, info, &w, &h, &bit_depth, &color_type, &interlace, NULL, NULL);
    int is_gray = !(color_type & PNG_COLOR_MASK_COLOR);
    int is_pal = color_type == PNG_COLOR_TYPE_PALETTE;
    int has_alpha = (color_type & PNG_COLOR_MASK_ALPHA) != 0;
    const char *kind = is_pal ? "palette" : is_gray ? (has_alpha ? "gray+alpha" : "gray") : (has_alpha ? "RGBA" : "RGB");
    int outc;
    if (info_only) {
        png_destroy_read_struct(&p, &info, NULL);
        *ow = (int)w;
        *oh = (int)h;
        *oc = is_gray ? 1 : 3;
        return 0;
    }
    if (what == 1) { /* 16-bit gray samples */
        if (!is_gray || has_alpha) {
            png_destroy_read_struct(&p, &info, NULL);
            return err_set("%s: is a %d-bit %s PNG; expected a single-channel gray PNG", name, bit_depth, kind);
        }
        if (bit_depth < 8) png_set_expand_gray_1_2_4_to_8(p);
        outc = 1;
    } else if (mode == IMG_LABEL) {
        if (is_pal) {
            png_set_packing(p); /* 1/2/4-bit indices -> one byte each, values unchanged */
        } else if (is_gray && !has_alpha && bit_depth <= 8) {
            if (bit_depth < 8) png_set_expand_gray_1_2_4_to_8(p);
        } else {
            png_destroy_read_struct(&p, &info, NULL);
            return err_set("%s: is a %d-bit %s PNG; a label map must be an 8-bit palette or gray PNG (use "
                           "image_read_png_gray16 for 16-bit maps)",
                           name, bit_depth, kind);
        }
        outc = 1;
    } else {
        if (is_pal) png_set_palette_to_rgb(p);
        if (is_gray && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(p);
        if (bit_depth == 16) png_set_strip_16(p);
        if (has_alpha) png_set_strip_alpha(p);
        if (is_gray && mode == IMG_RGB) png_set_gray_to_rgb(p);
        outc = (is_gray && mode == IMG_ANY) ? 1 : 3;
    }
    png_set_interlace_handling(p);
    png_read_update_info(p, info);
    int bpp = (what == 1 && bit_depth == 16) ? 2 : 1;
    size_t rowbytes = png_get_rowbytes(p, info);
    if ((int)png_get_channels(p, info) != outc || rowbytes != (size_t)w * outc * bpp) {
        png_destroy_read_struct(&p, &info, NULL);
        return err_set("%s: unsupported PNG layout (%d-bit %s)", name, bit_depth, kind);
    }
    if ((size_t)w * h * outc * bpp > IMG_MAX_BYTES) {
        png_destroy_read_struct(&p, &info, NULL);
        return err_set("%s: PNG %ux%u is too large", name, (unsigned)w, (unsigned)h);
    }
    data = xmalloc((size_t)w * h * outc * bpp);
    rows = xmalloc(sizeof(png_bytep) * h);
    for (png_uint_32 y = 0; y < h; y++) rows[y] = data + (size_t)y * rowbytes;
    png_read_image(p, rows);
    png_read_end(p, NULL);
    png_destroy_read_struct(&p, &info, NULL);
    free(rows);
    if (what == 1) {
        uint16_t *v = xmalloc(sizeof(uint16_t) * (size_t)w * h);
        for (size_t i = 0; i < (size_t)w * h; i++)
            v[i] = bpp == 2 ? (uint16_t)((data[2 * i] << 8) | data[2 * i + 1]) : data[i];
        free(data);
        *out16 = v;
        *ow = (int)w;
        *oh = (int)h;
        return 0;
    }
    out->w = (int)w;
    out->h = (int)h;
    out->c = outc;
    out->data = data;
    return 0;
}

int image_decode_png(const uint8_t *buf, size_t n, const char *name, image_mode mode, image *out) {
    memset(out, 0, sizeof *out);
    if (n < 8 || image_sniff(buf, n) != IMG_FMT_PNG) return err_set("%s: not a PNG file (bad signature)", name);
    return png_decode_any(buf, n, name, mode, 0, out, NULL, NULL, NULL, 0, NULL);
}

int image_read_png_gray16(const char *path, uint16_t **out, int *w, int *h) {
    *out = NULL;
    size_t n = 0;
    char *buf = file_read_all(path, &n);
    if (!buf) return -1;
    int rc;
    if (image_sniff((const uint8_t *)buf, n) != IMG_FMT_PNG)
        rc = err_set("%s: not a PNG file (bad signature)", path);
    else
        rc = png_decode_any((const uint8_t *)buf, n, path, IMG_LABEL, 1, NULL, out, w, h, 0, NULL);
    free(buf);
    return rc;
}

int image_read_info(const char *path, int *w, int *h, int *c) {
    size_t n = 0;
    char *buf = file_read_all(path, &n);
    if (!buf) return -1;
    const uint8_t *b = (const uint8_t *)buf;
    int rc;
    image_format f = image_sniff(b, n);
    if (f == IMG_FMT_PNG) {
        rc = png_decode_any(b, n, path, IMG_ANY, 0, NULL, NULL, w, h, 1, c);
    } else if (f == IMG_FMT_JPEG) {
        struct jpeg_decompress_struct cinfo;
        jpeg_err jerr;
        jpeg_err_init(&jerr);
        cinfo.err = &jerr.pub;
        if (setjmp(jerr.jb)) {
            jpeg_destroy_decompress(&cinfo);
            free(buf);
            return err_set("%s: corrupt JPEG: %s", path, jerr.msg);
        }
        jpeg_create_decompress(&cinfo);
        jpeg_mem_src(&cinfo, b, (unsigned long)n);
        jpeg_read_header(&cinfo, TRUE);
        *w = (int)cinfo.image_width;
        *h = (int)cinfo.image_height;
        *c = cinfo.jpeg_color_space == JCS_GRAYSCALE ? 1 : 3;
        jpeg_destroy_decompress(&cinfo);
        rc = 0;
    } else {
        rc = err_set("%s: not a JPEG or PNG image", path);
    }
    free(buf);
    return rc;
}

int image_encode_png(const image *im, const uint8_t *palette, int n_colors, uint8_t **out, size_t *n) {
    *out = NULL;
    *n = 0;
    if (!im || !im->data || im->w <= 0 || im->h <= 0 || (im->c != 1 && im->c != 3))
        return err_set("image_encode_png: need a 1- or 3-channel image");
    if (palette && (im->c != 1 || n_colors < 1 || n_colors > 256))
        return err_set("image_encode_png: a palette PNG needs a 1-channel image and 1..256 colours");
    if (palette)
        for (size_t i = 0; i < (size_t)im->w * im->h; i++)
            if (im->data[i] >= n_colors)
                return err_set("image_encode_png: pixel %zu has index %d but the palette has %d colours", i,
                               im->data[i], n_colors);
    png_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, png_ctx_error, png_ctx_warning);
    if (!p) return err_set("cannot create PNG writer");
    png_infop info = png_create_info_struct(p);
    if (!info) {
        png_destroy_write_struct(&p, NULL);
        return err_set("cannot create PNG writer");
    }
    png_bytep *volatile rows = NULL;
    if (setjmp(ctx.jb)) {
        png_destroy_write_struct(&p, &info);
        free(rows);
        free(ctx.obuf);
        return err_set("PNG encoder: %s", ctx.msg);
    }
    png_set_write_fn(p, &ctx, png_ctx_write, png_ctx_flush);
    int ct = palette ? PNG_COLOR_TYPE_PALETTE : im->c == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB;
    png_set_IHDR(p, info, (png_uint_32)im->w, (png_uint_32)im->h, 8, ct, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (palette) {
        png_color pal[256];
        for (int i = 0; i < n_colors; i++) {
            pal[i].red = palette[3 * i];
            pal[i].green = palette[3 * i + 1];
            pal[i].blue = palette[3 * i + 2];
        }
        png_set_PLTE(p, info, pal, n_colors);
    }
    png_write_info(p, info);
    rows = xmalloc(sizeof(png_bytep) * im->h);
    for (int y = 0; y < im->h; y++) rows[y] = im->data + (size_t)y * im->w * im->c;
    png_write_image(p, rows);
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &info);
    free(rows);
    *out = ctx.obuf;
    *n = ctx.on;
    return 0;
}

static int png_write_file(const char *path, const image *im, const uint8_t *palette, int n_colors) {
    uint8_t *buf;
    size_t n;
    if (image_encode_png(im, palette, n_colors, &buf, &n)) return err_prefix("%s", path);
    int rc = file_write_atomic(path, buf, n);
    free(buf);
    return rc;
}

int image_write_png(const char *path, const image *im) { return png_write_file(path, im, NULL, 0); }

int image_write_png_palette(const char *path, const image *im, const uint8_t *palette, int n_colors) {
    if (!palette) return err_set("%s: image_write_png_palette needs a palette", path);
    return png_write_file(path, im, palette, n_colors);
}
