#!/usr/bin/env python3
"""gen_coco_large.py - write a synthetic COCO instances file shaped like instances_train2017.json
(118287 images, ~860k annotations, 80 categories, polygons of COCO-like length with 2-decimal
coordinates, ~1% crowd annotations with uncompressed RLE counts), to measure the reader's load time and
peak memory. Benchmark input only: nothing here is a reference number.
usage: gen_coco_large.py OUT.json [TARGET_MB=448] [SEED=0]"""
import json, random, sys

out = sys.argv[1]
target = int(sys.argv[2]) * 1000 * 1000 if len(sys.argv) > 2 else 448 * 1000 * 1000
rnd = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 0)
n_img = 118287
with open(out, "w") as f:
    f.write('{"info": {"description": "synthetic", "year": 2017}, "licenses": [{"id": 1, "name": "x"}],\n')
    f.write('"images": [')
    for i in range(n_img):
        w, h = rnd.choice([(640, 480), (480, 640), (640, 427), (500, 375)])
        f.write(('' if i == 0 else ',\n') + json.dumps({"license": 1, "file_name": "%012d.jpg" % (i + 1),
                "coco_url": "http://images.cocodataset.org/train2017/%012d.jpg" % (i + 1), "height": h, "width": w,
                "date_captured": "2013-11-14 16:28:13", "flickr_url": "http://farm4.staticflickr.com/x.jpg",
                "id": i + 1}))
    f.write('],\n"annotations": [')
    aid = 0
    while f.tell() < target - 20000:
        img = rnd.randrange(n_img) + 1
        crowd = rnd.random() < 0.01
        x, y = rnd.uniform(0, 500), rnd.uniform(0, 350)
        bw, bh = rnd.uniform(1, 140), rnd.uniform(1, 130)
        if crowd:
            runs, total = [], 480 * 640
            left = total
            while left > 0:
                r = min(left, rnd.randrange(1, 400))
                runs.append(r)
                left -= r
            seg = {"counts": runs, "size": [480, 640]}
        else:
            npts = max(3, int(rnd.expovariate(1 / 22.0)))
            polys = [[round(rnd.uniform(x, x + bw) if k % 2 == 0 else rnd.uniform(y, y + bh), 2)
                      for k in range(2 * npts)]]
            seg = polys
        ann = {"segmentation": seg, "area": round(bw * bh * 0.6, 5), "iscrowd": int(crowd), "image_id": img,
               "bbox": [round(x, 2), round(y, 2), round(bw, 2), round(bh, 2)],
               "category_id": rnd.randrange(1, 91) if False else [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16,
               17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46,
               47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76,
               77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90][rnd.randrange(80)], "id": aid}
        f.write(('' if aid == 0 else ',\n') + json.dumps(ann))
        aid += 1
    f.write('],\n"categories": [')
    ids = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 27, 28, 31, 32, 33,
           34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61,
           62, 63, 64, 65, 67, 70, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 84, 85, 86, 87, 88, 89, 90]
    f.write(",\n".join(json.dumps({"supercategory": "s", "id": c, "name": "cat%d" % c}) for c in ids))
    f.write("]}\n")
print(out, "annotations:", aid)
