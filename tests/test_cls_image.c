/* test_cls_image.c - JPEG/PNG decoding and encoding (datasets/image.c).
 *
 * The PNG decoder is checked against PNG files assembled by hand in this test (zlib + CRC, written
 * byte by byte from the PNG specification, independent of libpng): palette, gray, RGBA, 16-bit and
 * 4-bit palette images with known pixel values. The JPEG path is checked on images whose decoded values
 * are known up to the codec's loss (flat colours, a black/white split). Corrupt, truncated, empty and
 * missing files must give an error naming the file, never a crash. */
#include "test_util.h"

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "../core/common.h"
#include "../datasets/image.h"

/* ---- hand-made PNG files ---- */
typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;
static void b_put(bytes *b, const void *src, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void b_u32(bytes *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    b_put(b, x, 4);
}
static void png_chunk(bytes *b, const char *type, const uint8_t *data, uint32_t n) {
    b_u32(b, n);
    size_t start = b->n;
    b_put(b, type, 4);
    if (n) b_put(b, data, n);
    b_u32(b, (uint32_t)crc32(0, b->p + start, (uInt)(n + 4)));
}
/* raw: h rows of rowbytes each (filter byte 0 is added here). */
static bytes make_png(int w, int h, int depth, int ctype, const uint8_t *raw, size_t rowbytes, const uint8_t *plte,
                      int ncol) {
    bytes b = {0};
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    b_put(&b, sig, 8);
    uint8_t ihdr[13] = {0};
    for (int i = 0; i < 4; i++) ihdr[i] = (uint8_t)(w >> (24 - 8 * i)), ihdr[4 + i] = (uint8_t)(h >> (24 - 8 * i));
    ihdr[8] = (uint8_t)depth;
    ihdr[9] = (uint8_t)ctype;
    png_chunk(&b, "IHDR", ihdr, 13);
    if (plte) png_chunk(&b, "PLTE", plte, (uint32_t)(3 * ncol));
    size_t fl = (rowbytes + 1) * h;
    uint8_t *filt = calloc(fl, 1);
    for (int y = 0; y < h; y++) memcpy(filt + y * (rowbytes + 1) + 1, raw + y * rowbytes, rowbytes);
    uLongf zn = compressBound(fl);
    uint8_t *z = malloc(zn);
    assert_int_equal(compress(z, &zn, filt, fl), Z_OK);
    png_chunk(&b, "IDAT", z, (uint32_t)zn);
    png_chunk(&b, "IEND", NULL, 0);
    free(filt);
    free(z);
    return b;
}

static const uint8_t PAL[4 * 3] = {0, 0, 0, 128, 0, 0, 0, 128, 0, 10, 20, 30};

static void test_png_palette_gives_index(void **state) {
    (void)state;
    uint8_t idx[3 * 4] = {0, 1, 2, 3, 3, 2, 1, 0, 1, 1, 3, 3}; /* 4 wide, 3 high */
    bytes b = make_png(4, 3, 8, 3, idx, 4, PAL, 4);
    image im;
    assert_int_equal(image_decode(b.p, b.n, "pal.png", IMG_LABEL, &im), 0);
    assert_int_equal(im.w, 4);
    assert_int_equal(im.h, 3);
    assert_int_equal(im.c, 1);
    assert_memory_equal(im.data, idx, 12);
    image_free(&im);
    assert_int_equal(image_decode(b.p, b.n, "pal.png", IMG_RGB, &im), 0);
    assert_int_equal(im.c, 3);
    for (int i = 0; i < 12; i++) assert_memory_equal(im.data + 3 * i, PAL + 3 * idx[i], 3);
    image_free(&im);
    assert_int_equal(image_decode(b.p, b.n, "pal.png", IMG_ANY, &im), 0);
    assert_int_equal(im.c, 3);
    image_free(&im);
    free(b.p);

    /* 4-bit palette: two indices per byte, high nibble first */
    uint8_t packed[2 * 2] = {0x12, 0x30, 0x03, 0x21}; /* 3 wide (last nibble padding), 2 high */
    b = make_png(3, 2, 4, 3, packed, 2, PAL, 4);
    assert_int_equal(image_decode(b.p, b.n, "pal4.png", IMG_LABEL, &im), 0);
    uint8_t want[6] = {1, 2, 3, 0, 3, 2};
    assert_memory_equal(im.data, want, 6);
    image_free(&im);
    free(b.p);
}

static void test_png_gray_rgba_16(void **state) {
    (void)state;
    image im;
    uint8_t g[2 * 2] = {0, 7, 200, 255};
    bytes b = make_png(2, 2, 8, 0, g, 2, NULL, 0);
    assert_int_equal(image_decode(b.p, b.n, "g.png", IMG_LABEL, &im), 0);
    assert_memory_equal(im.data, g, 4);
    image_free(&im);
    assert_int_equal(image_decode(b.p, b.n, "g.png", IMG_ANY, &im), 0);
    assert_int_equal(im.c, 1);
    image_free(&im);
    assert_int_equal(image_decode(b.p, b.n, "g.png", IMG_RGB, &im), 0);
    assert_int_equal(im.c, 3);
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++) assert_int_equal(im.data[3 * i + k], g[i]);
    image_free(&im);
    free(b.p);

    uint8_t rgba[2 * 8] = {1, 2, 3, 0, 4, 5, 6, 255, 7, 8, 9, 128, 10, 11, 12, 1};
    b = make_png(2, 2, 8, 6, rgba, 8, NULL, 0);
    assert_int_equal(image_decode(b.p, b.n, "rgba.png", IMG_RGB, &im), 0);
    uint8_t want[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    assert_memory_equal(im.data, want, 12);
    image_free(&im);
    assert_int_equal(image_decode(b.p, b.n, "rgba.png", IMG_LABEL, &im), -1);
    assert_non_null(strstr(err_msg(), "rgba.png"));
    assert_non_null(strstr(err_msg(), "RGBA"));
    free(b.p);

    /* 16-bit gray, big-endian samples 0x1234, 0xff00, 0x0001 */
    uint8_t g16[6] = {0x12, 0x34, 0xff, 0x00, 0x00, 0x01};
    b = make_png(3, 1, 16, 0, g16, 6, NULL, 0);
    const char *dir = test_tmp_dir("cls_image16");
    char path[1200];
    snprintf(path, sizeof path, "%s/g16.png", dir);
    assert_int_equal(file_write_atomic(path, b.p, b.n), 0);
    uint16_t *v = NULL;
    int w, h;
    assert_int_equal(image_read_png_gray16(path, &v, &w, &h), 0);
    assert_int_equal(w, 3);
    assert_int_equal(h, 1);
    assert_int_equal(v[0], 0x1234);
    assert_int_equal(v[1], 0xff00);
    assert_int_equal(v[2], 0x0001);
    free(v);
    assert_int_equal(image_read(path, IMG_RGB, &im), 0); /* high byte */
    assert_int_equal(im.data[0], 0x12);
    assert_int_equal(im.data[3], 0xff);
    assert_int_equal(im.data[6], 0x00);
    image_free(&im);
    assert_int_equal(image_read(path, IMG_LABEL, &im), -1);
    free(b.p);
}

static void fill_test_image(image *im) {
    for (int y = 0; y < im->h; y++)
        for (int x = 0; x < im->w; x++)
            for (int k = 0; k < im->c; k++) image_px(im, x, y)[k] = (uint8_t)(x * 13 + y * 7 + k * 50);
}

static void test_png_encode_roundtrip(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("cls_image_png");
    char path[1200];
    snprintf(path, sizeof path, "%s/rgb.png", dir);
    image a, b;
    assert_int_equal(image_alloc(&a, 17, 9, 3), 0);
    fill_test_image(&a);
    assert_int_equal(image_write_png(path, &a), 0);
    assert_int_equal(image_read(path, IMG_RGB, &b), 0); /* lossless: decoder verified on hand-made files above */
    assert_int_equal(b.w, 17);
    assert_int_equal(b.h, 9);
    assert_memory_equal(a.data, b.data, 17 * 9 * 3);
    image_free(&b);
    int w, h, c;
    assert_int_equal(image_read_info(path, &w, &h, &c), 0);
    assert_int_equal(w * 100 + h * 10 + c, 1700 + 90 + 3);
    image_free(&a);

    /* palette writer: values are indices */
    assert_int_equal(image_alloc(&a, 5, 4, 1), 0);
    for (int i = 0; i < 20; i++) a.data[i] = (uint8_t)(i % 4);
    snprintf(path, sizeof path, "%s/pal.png", dir);
    assert_int_equal(image_write_png_palette(path, &a, PAL, 4), 0);
    assert_int_equal(image_read(path, IMG_LABEL, &b), 0);
    assert_memory_equal(a.data, b.data, 20);
    image_free(&b);
    assert_int_equal(image_read(path, IMG_RGB, &b), 0);
    assert_memory_equal(b.data + 3 * 3, PAL + 9, 3);
    image_free(&b);
    a.data[7] = 9; /* index past the palette */
    assert_int_equal(image_write_png_palette(path, &a, PAL, 4), -1);
    image_free(&a);
    /* nothing left behind by the atomic writes */
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "test -z \"$(ls %s | grep tmp)\"", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_jpeg_values(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("cls_image_jpg");
    char path[1200];
    snprintf(path, sizeof path, "%s/flat.jpg", dir);
    image a, b;
    assert_int_equal(image_alloc(&a, 32, 24, 3), 0);
    for (int i = 0; i < 32 * 24; i++) a.data[3 * i] = 200, a.data[3 * i + 1] = 50, a.data[3 * i + 2] = 30;
    assert_int_equal(image_write_jpeg(path, &a, 95), 0);
    assert_int_equal(image_read(path, IMG_RGB, &b), 0);
    assert_int_equal(b.w, 32);
    assert_int_equal(b.h, 24);
    assert_int_equal(b.c, 3);
    for (int i = 0; i < 32 * 24 * 3; i++) assert_true(abs((int)b.data[i] - (int)a.data[i]) <= 3);
    image_free(&b);
    assert_int_equal(image_read(path, IMG_LABEL, &b), -1); /* JPEG is never a label map */
    image_free(&a);

    /* gray JPEG: 1 channel in IMG_ANY, replicated in IMG_RGB; left half black, right half white */
    assert_int_equal(image_alloc(&a, 32, 16, 1), 0);
    for (int y = 0; y < 16; y++)
        for (int x = 16; x < 32; x++) a.data[y * 32 + x] = 255;
    snprintf(path, sizeof path, "%s/gray.jpg", dir);
    assert_int_equal(image_write_jpeg(path, &a, 90), 0);
    assert_int_equal(image_read(path, IMG_ANY, &b), 0);
    assert_int_equal(b.c, 1);
    assert_true(b.data[5 * 32 + 3] < 8);
    assert_true(b.data[5 * 32 + 28] > 247);
    image_free(&b);
    assert_int_equal(image_read(path, IMG_RGB, &b), 0);
    assert_int_equal(b.c, 3);
    for (int i = 0; i < 32 * 16; i++) {
        assert_int_equal(b.data[3 * i], b.data[3 * i + 1]);
        assert_int_equal(b.data[3 * i], b.data[3 * i + 2]);
    }
    image_free(&b);
    image_free(&a);
}

static void write_bytes(const char *path, const void *p, size_t n) {
    assert_int_equal(file_write_atomic(path, p, n), 0);
}

static void test_corrupt_and_missing(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("cls_image_bad");
    char path[1200], good[1200];
    image im, a;
    /* missing */
    snprintf(path, sizeof path, "%s/nope.jpg", dir);
    assert_int_equal(image_read(path, IMG_RGB, &im), -1);
    assert_non_null(strstr(err_msg(), "nope.jpg"));
    assert_null(im.data);
    /* empty */
    snprintf(path, sizeof path, "%s/empty.jpg", dir);
    write_bytes(path, "", 0);
    assert_int_equal(image_read(path, IMG_RGB, &im), -1);
    assert_non_null(strstr(err_msg(), "empty"));
    /* not an image */
    snprintf(path, sizeof path, "%s/text.jpg", dir);
    write_bytes(path, "hello world", 11);
    assert_int_equal(image_read(path, IMG_RGB, &im), -1);
    assert_non_null(strstr(err_msg(), "not a JPEG or PNG"));

    /* truncated JPEG */
    assert_int_equal(image_alloc(&a, 64, 64, 3), 0);
    fill_test_image(&a);
    snprintf(good, sizeof good, "%s/good.jpg", dir);
    assert_int_equal(image_write_jpeg(good, &a, 90), 0);
    size_t n;
    uint8_t *buf = (uint8_t *)file_read_all(good, &n);
    assert_non_null(buf);
    snprintf(path, sizeof path, "%s/trunc.jpg", dir);
    write_bytes(path, buf, n / 2);
    assert_int_equal(image_read(path, IMG_RGB, &im), -1);
    assert_non_null(strstr(err_msg(), "trunc.jpg"));
    assert_non_null(strstr(err_msg(), "truncated"));
    assert_null(im.data);
    /* header cut inside the markers */
    write_bytes(path, buf, 40);
    assert_int_equal(image_read(path, IMG_RGB, &im), -1);
    /* corrupt SOF: zero the whole first kilobyte after the SOI marker */
    uint8_t *bad = malloc(n);
    memcpy(bad, buf, n);
    memset(bad + 3, 0, 400);
    snprintf(path, sizeof path, "%s/corrupt.jpg", dir);
    write_bytes(path, bad, n);
    assert_int_equal(image_read(path, IMG_RGB, &im), -1);
    assert_non_null(strstr(err_msg(), "corrupt.jpg"));
    /* every prefix and many random byte flips: never a crash, every failure has a message */
    rng_t r;
    rng_seed(&r, 5);
    for (size_t k = 0; k < n; k += 7) {
        if (image_decode(buf, k, "prefix", IMG_RGB, &im) == 0) image_free(&im);
        else assert_true(strlen(err_msg()) > 0);
    }
    for (int t = 0; t < 300; t++) {
        memcpy(bad, buf, n);
        for (int f = 0; f < 4; f++) bad[3 + rng_below(&r, (uint32_t)(n - 3))] = (uint8_t)rng_u64(&r);
        if (image_decode(bad, n, "flip", IMG_RGB, &im) == 0) image_free(&im);
    }
    free(bad);
    free(buf);

    /* truncated and corrupt PNG */
    snprintf(good, sizeof good, "%s/good.png", dir);
    assert_int_equal(image_write_png(good, &a), 0);
    buf = (uint8_t *)file_read_all(good, &n);
    snprintf(path, sizeof path, "%s/trunc.png", dir);
    write_bytes(path, buf, n - 30);
    assert_int_equal(image_read(path, IMG_RGB, &im), -1);
    assert_non_null(strstr(err_msg(), "trunc.png"));
    assert_non_null(strstr(err_msg(), "truncated"));
    bad = malloc(n);
    memcpy(bad, buf, n);
    bad[20] ^= 0x40; /* inside IHDR: CRC mismatch */
    snprintf(path, sizeof path, "%s/crc.png", dir);
    write_bytes(path, bad, n);
    assert_int_equal(image_read(path, IMG_RGB, &im), -1);
    assert_non_null(strstr(err_msg(), "crc.png"));
    assert_non_null(strstr(err_msg(), "corrupt PNG"));
    for (size_t k = 0; k < n; k += 11)
        if (image_decode(buf, k, "prefix", IMG_LABEL, &im) == 0) image_free(&im);
    for (int t = 0; t < 300; t++) {
        memcpy(bad, buf, n);
        for (int f = 0; f < 3; f++) bad[8 + rng_below(&r, (uint32_t)(n - 8))] = (uint8_t)rng_u64(&r);
        if (image_decode(bad, n, "flip", IMG_RGB, &im) == 0) image_free(&im);
    }
    free(bad);
    free(buf);
    image_free(&a);

    /* encoder: unwritable directory gives an error and leaves nothing */
    assert_int_equal(image_alloc(&a, 4, 4, 3), 0);
    snprintf(path, sizeof path, "%s/no/such/dir/x.jpg", dir);
    assert_int_equal(image_write_jpeg(path, &a, 90), -1);
    assert_non_null(strstr(err_msg(), "no/such/dir"));
    assert_int_equal(image_write_jpeg(good, &a, 0), -1); /* bad quality */
    image_free(&a);
    assert_int_equal(image_alloc(&a, 0, 4, 3), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_png_palette_gives_index), cmocka_unit_test(test_png_gray_rgba_16),
        cmocka_unit_test(test_png_encode_roundtrip),    cmocka_unit_test(test_jpeg_values),
        cmocka_unit_test(test_corrupt_and_missing),
    };
    return cmocka_run_group_tests_name("cls_image", tests, NULL, NULL);
}
