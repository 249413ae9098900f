/* voc_xml.h - Pascal VOC annotation XML reader (one Annotations/<id>.xml file) built on expat.
 *
 * Reads <filename>, <folder>, <size> (width/height/depth) and every top-level <object> (name, pose,
 * bndbox xmin/ymin/xmax/ymax exactly as written in the file, difficult, truncated). <part> boxes inside an
 * object (VOC2012 person layout) are ignored. The 1-based pixel convention is NOT applied here: the
 * coordinates are the file's numbers; see voc_det.h for what mmdet 2.x does with them. */
#ifndef DB_VOC_XML_H
#define DB_VOC_XML_H

#include <stddef.h>

typedef struct voc_object {
    char *name;                    /* class name, e.g. "person" (surrounding whitespace trimmed) */
    char *pose;                    /* "" when absent */
    double xmin, ymin, xmax, ymax; /* as written in the file (VOC: 1-based inclusive pixel indices) */
    int difficult;                 /* 0 when absent */
    int truncated;                 /* 0 when absent */
    int occluded;                  /* 0 when absent */
} voc_object;

typedef struct voc_annotation {
    char *filename;                /* <filename>, "" when absent */
    char *folder;                  /* <folder>, "" when absent */
    int width, height, depth;      /* <size>; 0 when absent */
    int has_size;                  /* 1 when <size><width> and <height> were both present */
    int n_objects;
    voc_object *objects;
} voc_annotation;

/* Parse an annotation from memory. `name` is used in error messages (usually the file path).
 * On error: err_set("<name>:<line>: <element>: what is wrong"), returns -1 and *out is left empty. */
int voc_xml_parse(const char *buf, size_t n, const char *name, voc_annotation *out);
/* Read and parse a file. */
int voc_xml_load(const char *path, voc_annotation *out);
void voc_annotation_free(voc_annotation *a);

#endif
