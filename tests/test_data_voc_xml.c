/* test_data_voc_xml.c - the Pascal VOC XML reader on hand-written annotations (values read off the text),
 * including VOC2012 <part> boxes, float coordinates and malformed files. */
#include "test_util.h"

#include "../core/common.h"
#include "../datasets/voc_xml.h"

static const char *good =
    "<annotation>\n"
    "  <folder>VOC2007</folder>\n"
    "  <filename>000005.jpg</filename>\n"
    "  <source><database>The VOC2007 Database</database></source>\n"
    "  <size><width>500</width><height>375</height><depth>3</depth></size>\n"
    "  <segmented>0</segmented>\n"
    "  <object>\n"
    "    <name>chair</name><pose>Rear</pose><truncated>0</truncated><difficult>0</difficult>\n"
    "    <bndbox><xmin>263</xmin><ymin>211</ymin><xmax>324</xmax><ymax>339</ymax></bndbox>\n"
    "  </object>\n"
    "  <object>\n"
    "    <name> person </name><truncated>1</truncated><difficult>1</difficult>\n"
    "    <bndbox><xmin>1.5</xmin><ymin>2</ymin><xmax>100.25</xmax><ymax>375</ymax></bndbox>\n"
    "    <part><name>head</name><bndbox><xmin>10</xmin><ymin>11</ymin><xmax>12</xmax><ymax>13</ymax></bndbox></part>\n"
    "  </object>\n"
    "  <object><name>dog</name><bndbox><ymax>9</ymax><xmax>8</xmax><ymin>7</ymin><xmin>6</xmin></bndbox></object>\n"
    "</annotation>\n";

static void test_voc_xml_good(void **state) {
    (void)state;
    voc_annotation a;
    assert_int_equal(voc_xml_parse(good, strlen(good), "good.xml", &a), 0);
    assert_string_equal(a.filename, "000005.jpg");
    assert_string_equal(a.folder, "VOC2007");
    assert_int_equal(a.width, 500);
    assert_int_equal(a.height, 375);
    assert_int_equal(a.depth, 3);
    assert_int_equal(a.has_size, 1);
    assert_int_equal(a.n_objects, 3);
    assert_string_equal(a.objects[0].name, "chair");
    assert_string_equal(a.objects[0].pose, "Rear");
    assert_true(a.objects[0].xmin == 263 && a.objects[0].ymin == 211);
    assert_true(a.objects[0].xmax == 324 && a.objects[0].ymax == 339);
    assert_int_equal(a.objects[0].difficult, 0);
    assert_string_equal(a.objects[1].name, "person");
    assert_true(a.objects[1].xmin == 1.5 && a.objects[1].ymin == 2 && a.objects[1].xmax == 100.25);
    assert_true(a.objects[1].ymax == 375); /* the <part> box does not overwrite the object's */
    assert_int_equal(a.objects[1].difficult, 1);
    assert_int_equal(a.objects[1].truncated, 1);
    assert_string_equal(a.objects[2].name, "dog");
    assert_true(a.objects[2].xmin == 6 && a.objects[2].ymin == 7 && a.objects[2].xmax == 8 &&
                a.objects[2].ymax == 9);
    assert_string_equal(a.objects[2].pose, "");
    voc_annotation_free(&a);
}

static void expect_error(const char *xml, const char *needle1, const char *needle2) {
    voc_annotation a;
    assert_int_equal(voc_xml_parse(xml, strlen(xml), "bad.xml", &a), -1);
    const char *m = err_msg();
    if (!strstr(m, needle1) || (needle2 && !strstr(m, needle2))) fail_msg("unexpected message: %s", m);
    assert_non_null(strstr(m, "bad.xml:"));
    assert_int_equal(a.n_objects, 0);
    assert_null(a.objects);
}

static void test_voc_xml_bad(void **state) {
    (void)state;
    expect_error("<annotation><object><name>a</name>", "malformed XML", NULL);
    expect_error("<foo/>", "expected <annotation>", NULL);
    expect_error("<annotation><object><name>a</name><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax>"
                 "</bndbox></object></annotation>", "<object> number 1", "ymax");
    expect_error("<annotation><object><bndbox><xmin>1</xmin><ymin>1</ymin><xmax>2</xmax><ymax>3</ymax>"
                 "</bndbox></object></annotation>", "has no <name>", NULL);
    expect_error("<annotation><object><name>a</name><bndbox><xmin>1x</xmin></bndbox></object></annotation>",
                 "object/bndbox/xmin", "'1x'");
    expect_error("<annotation>\n<size><width>-3</width></size></annotation>", "bad.xml:2:", "size/width");
    expect_error("<annotation><object><name>a</name><difficult>yes</difficult></object></annotation>",
                 "object/difficult", NULL);
    expect_error("", "malformed XML", NULL);
}

static void test_voc_xml_file(void **state) {
    (void)state;
    const char *dir = test_tmp_dir("voc_xml");
    char path[2048];
    snprintf(path, sizeof path, "%s/000005.xml", dir);
    assert_int_equal(file_write_atomic(path, good, strlen(good)), 0);
    voc_annotation a;
    assert_int_equal(voc_xml_load(path, &a), 0);
    assert_int_equal(a.n_objects, 3);
    voc_annotation_free(&a);
    snprintf(path, sizeof path, "%s/missing.xml", dir);
    assert_int_equal(voc_xml_load(path, &a), -1);
    assert_non_null(strstr(err_msg(), "missing.xml"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_voc_xml_good),
        cmocka_unit_test(test_voc_xml_bad),
        cmocka_unit_test(test_voc_xml_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
