/* cls_dataset.h - single-label image classification datasets in their official download layouts.
 *
 * One call, cls_dataset_open(format, root, split, &ds), gives the list of (image path, label) pairs of
 * one split plus the class names and a one-line description of the split rule, which callers should
 * print and store with their results. Nothing is decoded here (see image.h / cls_loader.h); every
 * listed image file is checked to exist, so a broken extraction fails at open time with the list file
 * and line that names the missing image.
 *
 * Formats and split rules (the split argument is a ROLE, "train" or "test"; some formats also take
 * their own subset names, listed below):
 *   flowers102  root/jpg/image_%05d.jpg, root/imagelabels.mat ("labels", 1..102), root/setid.mat
 *               ("trnid", "valid", "tstid", 1-based image ids; read with libmatio).
 *               train = trnid + valid (2040 images), test = tstid (6149 images): the standard protocol
 *               (the authors' own list files are not published). Subsets "trnid"/"valid"/"tstid" too.
 *               Class names "0".."101" as the authors' OxfordFlowerMona.CLASSES.
 *   pets        root/images/<name>.jpg, root/annotations/trainval.txt (train, 3680) and test.txt
 *               (test, 3669); each line "<name> <class 1..37> <species> <breed id>", class id is
 *               1-based in the file and 0-based here. Class names are the breed prefixes of the image
 *               names ("Abyssinian", "american_bulldog", ...).
 *   voc2007     root/JPEGImages/<id>.jpg, root/Annotations/<id>.xml, root/ImageSets/Main/<set>.txt.
 *               train = trainval.txt (5011), test = test.txt (4952); any other <set> name is read as
 *               ImageSets/Main/<set>.txt. Single-label rule: the label of an image is the class of its
 *               largest non-difficult object by box area ((xmax-xmin+1)*(ymax-ymin+1), VOC's inclusive
 *               pixel boxes); ties go to the object listed first; if every object is difficult, all
 *               objects are considered; an image without objects is an error. Classes: the 20 VOC names
 *               in the standard (alphabetical) order, aeroplane=0 .. tvmonitor=19.
 *   list        the authors' mmcls list format: root/train2mmcls.txt (train) and root/test2mmcls.txt
 *               (test), or root/<split>2mmcls.txt, or a split naming a .txt file under root. One
 *               "<path relative to root> <label>" per line (label 0-based, the last space-separated
 *               field, as mmcls' rsplit(' ', 1)). Class names from root/classes.txt (one per line) if
 *               present, else "0".."K-1" with K = 1 + the largest label in the train and test lists.
 *   folder      image-folder layout: root/<split>/<class name>/<image>.{jpg,jpeg,png} (any case).
 *               Classes are the sorted subfolder names of root/train (or of root/<split> when there is
 *               no root/train); files are taken in sorted order.
 */
#ifndef DB_CLS_DATASET_H
#define DB_CLS_DATASET_H

typedef enum {
    CLS_FMT_FLOWERS102 = 0,
    CLS_FMT_PETS = 1,
    CLS_FMT_VOC2007 = 2,
    CLS_FMT_LIST = 3,
    CLS_FMT_FOLDER = 4,
    CLS_FMT_COUNT = 5
} cls_format;

typedef struct cls_dataset {
    cls_format format;
    char *root;          /* as given */
    char *split;         /* as given */
    int n;               /* number of items */
    char **paths;        /* n full image paths (root joined) */
    int *labels;         /* n labels in 0..n_classes-1 */
    int n_classes;
    char **class_names;  /* n_classes names */
    char *description;   /* one line: format, root, split rule, counts; print it and store it with results */
} cls_dataset;

/* "flowers102" (or "flowers"), "pets" (or "oxford_pets"), "voc2007" (or "voc"), "list", "folder". */
int cls_format_parse(const char *name, cls_format *out);
const char *cls_format_name(cls_format f);

/* Guess the layout of a root from its contents: imagelabels.mat -> flowers102, annotations/trainval.txt
 * -> pets, ImageSets/Main -> voc2007, train2mmcls.txt -> list, train/ -> folder. -1 when none fits. */
int cls_format_detect(const char *root, cls_format *out);

/* Open a split. Returns 0, or -1 with err_msg() naming the file and line/entry at fault. */
int cls_dataset_open(cls_format format, const char *root, const char *split, cls_dataset *ds);
void cls_dataset_free(cls_dataset *ds);

/* Counts per class (caller frees): n_classes ints. */
int *cls_dataset_class_counts(const cls_dataset *ds);

/* The VOC2007 single-label rule on one parsed annotation: the class index (0..19) or -1 with err_set.
 * Exposed for tests and for the synthetic writer. */
struct voc_annotation;
int cls_voc_single_label(const struct voc_annotation *a, const char *name);
extern const char *const cls_voc_classes[20];

#endif
