/* fuzz_voc_xml.c - libFuzzer harness for the Pascal VOC XML reader (make fuzz). */
#include <stddef.h>
#include <stdint.h>

#include "../voc_xml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    voc_annotation a;
    if (voc_xml_parse((const char *)data, size, "fuzz.xml", &a) == 0) {
        /* touch every field so the sanitizers see any bad pointer */
        volatile double s = a.width + a.height + a.depth + (a.filename[0] + a.folder[0]);
        for (int i = 0; i < a.n_objects; i++)
            s += a.objects[i].xmin + a.objects[i].ymax + a.objects[i].name[0] + a.objects[i].pose[0] +
                 a.objects[i].difficult;
        (void)s;
        voc_annotation_free(&a);
    }
    return 0;
}
