/* data_inspect_cls.c - `data inspect --format cls ROOT`: open a classification dataset (layout detected from
 * ROOT), print its split rule, class counts and image sizes, decoding every image to catch corrupt files. */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/common.h"
#include "../datasets/cls_dataset.h"
#include "../datasets/image.h"
#include "data_inspect.h"

int data_inspect_cls(const data_inspect_args *a) {
    cls_format f;
    if (cls_format_detect(a->path, &f)) return -1;
    const char *split = a->split ? a->split : "test";
    cls_dataset ds;
    if (cls_dataset_open(f, a->path, split, &ds)) return -1;
    int wmin = 0, wmax = 0, hmin = 0, hmax = 0, bad = 0, gray = 0, rc = 0;
    for (int i = 0; i < ds.n; i++) {
        image im;
        if (image_read(ds.paths[i], IMG_ANY, &im)) {
            if (!a->skip_bad) {
                rc = -1;
                break;
            }
            fprintf(stderr, "deltabench: warning: %s (skipped)\n", err_msg());
            bad++;
            continue;
        }
        if (im.c == 1) gray++;
        if (i == bad || im.w < wmin) wmin = im.w;
        if (im.w > wmax) wmax = im.w;
        if (i == bad || im.h < hmin) hmin = im.h;
        if (im.h > hmax) hmax = im.h;
        image_free(&im);
    }
    if (rc) {
        cls_dataset_free(&ds);
        return -1;
    }
    int *cnt = cls_dataset_class_counts(&ds);
    if (a->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "format", cls_format_name(f));
        cJSON_AddStringToObject(o, "split", split);
        cJSON_AddStringToObject(o, "description", ds.description);
        cJSON_AddNumberToObject(o, "images", ds.n);
        cJSON_AddNumberToObject(o, "bad_images", bad);
        cJSON_AddNumberToObject(o, "gray_images", gray);
        cJSON_AddNumberToObject(o, "classes", ds.n_classes);
        cJSON *sz = cJSON_AddObjectToObject(o, "image_size");
        cJSON_AddNumberToObject(sz, "width_min", wmin);
        cJSON_AddNumberToObject(sz, "width_max", wmax);
        cJSON_AddNumberToObject(sz, "height_min", hmin);
        cJSON_AddNumberToObject(sz, "height_max", hmax);
        cJSON *arr = cJSON_AddArrayToObject(o, "per_class");
        for (int k = 0; k < ds.n_classes; k++) {
            cJSON *c = cJSON_CreateObject();
            cJSON_AddNumberToObject(c, "label", k);
            cJSON_AddStringToObject(c, "name", ds.class_names[k]);
            cJSON_AddNumberToObject(c, "images", cnt[k]);
            cJSON_AddItemToArray(arr, c);
        }
        char *s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (s) printf("%s\n", s);
        free(s);
    } else {
        printf("%s\n", ds.description);
        printf("  images %d (%d unreadable, %d gray), classes %d, width %d..%d, height %d..%d\n", ds.n, bad, gray,
               ds.n_classes, wmin, wmax, hmin, hmax);
        printf("  images per class:\n");
        for (int k = 0; k < ds.n_classes; k++) printf("    %3d %-32s %d\n", k, ds.class_names[k], cnt[k]);
    }
    free(cnt);
    cls_dataset_free(&ds);
    return 0;
}
