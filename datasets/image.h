/* image.h - 8-bit images (HWC, 1 or 3 channels) and their JPEG (libjpeg-turbo) and PNG (libpng) codecs.
 *
 * Decoding never crashes on bad input: a missing, truncated or corrupt file gives -1 and an err_msg()
 * naming the file and what is wrong. Encoders write atomically (temporary file + rename).
 *
 * Decoding modes (what each source becomes):
 *   IMG_RGB    always 3 channels. Gray is replicated, alpha is dropped (as cv2/Pillow "color" reads do),
 *              palette PNGs are expanded through their palette, 16-bit samples are scaled to 8 bits
 *              (high byte), CMYK/YCCK JPEGs are converted to RGB.
 *   IMG_LABEL  always 1 channel, for segmentation label maps, matching mmseg's pillow "unchanged" read:
 *              a palette PNG gives the palette INDEX of each pixel (not its colour), a gray PNG (8-bit)
 *              gives its value. RGB/RGBA/16-bit PNGs and JPEGs are an error in this mode.
 *   IMG_ANY    the source's own layout: gray (and gray+alpha) -> 1 channel, everything else -> 3 channels
 *              (alpha dropped, palette expanded).
 */
#ifndef DB_IMAGE_H
#define DB_IMAGE_H

#include <stddef.h>
#include <stdint.h>

typedef struct image {
    int w, h, c;      /* width, height, channels (1 or 3) */
    uint8_t *data;    /* h*w*c bytes, row-major, channels interleaved (HWC); owned, free with image_free */
} image;

typedef enum { IMG_RGB = 0, IMG_LABEL = 1, IMG_ANY = 2 } image_mode;

typedef enum { IMG_FMT_UNKNOWN = 0, IMG_FMT_JPEG = 1, IMG_FMT_PNG = 2 } image_format;

/* Allocate a zeroed w x h x c image (c = 1 or 3). Returns 0, or -1 for bad sizes. */
int image_alloc(image *im, int w, int h, int c);
void image_free(image *im);
/* Pixel address (no bounds check). */
static inline uint8_t *image_px(const image *im, int x, int y) { return im->data + ((size_t)y * im->w + x) * im->c; }

/* Format from the first bytes (magic numbers), not the file name. */
image_format image_sniff(const uint8_t *buf, size_t n);

/* Read and decode a JPEG or PNG file (format sniffed from its content). name is used in messages. */
int image_read(const char *path, image_mode mode, image *out);
/* Decode from memory; name (a path or a label) is used in error messages. */
int image_decode(const uint8_t *buf, size_t n, const char *name, image_mode mode, image *out);
int image_decode_jpeg(const uint8_t *buf, size_t n, const char *name, image_mode mode, image *out);
int image_decode_png(const uint8_t *buf, size_t n, const char *name, image_mode mode, image *out);

/* 16-bit (or 8-bit) single-channel PNG as uint16 samples, e.g. depth or 16-bit label maps.
 * *out is malloc'd (w*h values); free() it. */
int image_read_png_gray16(const char *path, uint16_t **out, int *w, int *h);

/* Header only: size and channels (as IMG_ANY would give) without decoding the pixels. */
int image_read_info(const char *path, int *w, int *h, int *c);

/* Encoders (atomic). JPEG: quality 1..100, 4:2:0 chroma subsampling for 3 channels, baseline.
 * PNG: 8-bit gray (c=1) or RGB (c=3). image_write_png_palette writes a c=1 image as an indexed PNG
 * whose pixel values are palette indices (palette: n_colors RGB triples, n_colors <= 256). */
int image_write_jpeg(const char *path, const image *im, int quality);
int image_write_png(const char *path, const image *im);
int image_write_png_palette(const char *path, const image *im, const uint8_t *palette, int n_colors);
/* Same, into a malloc'd memory buffer (*out, *n). */
int image_encode_jpeg(const image *im, int quality, uint8_t **out, size_t *n);
int image_encode_png(const image *im, const uint8_t *palette, int n_colors, uint8_t **out, size_t *n);

#endif
