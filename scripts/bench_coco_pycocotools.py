#!/usr/bin/env python3
"""bench_coco_pycocotools.py - the reference peer of `deltabench eval bench-coco --write DIR`: times
pycocotools' COCOeval (loadRes + evaluate + accumulate + summarize, and evaluate..summarize alone) on the
same files and prints its twelve numbers, so both the time and the values can be compared.

pycocotools is built outside the repository from github.com/cocodataset/cocoapi (PythonAPI):
  python3 setup.py build_ext --inplace        (Debian cython3, python3-numpy)
Usage: COCOAPI=/tmp/ref/cocoapi/PythonAPI python3 scripts/bench_coco_pycocotools.py DIR bbox|segm"""
import json, os, sys, time, types

sys.path.insert(0, os.environ.get("COCOAPI", "/tmp/ref/cocoapi/PythonAPI"))
import numpy as np
np.float = float  # the pinned pycocotools uses np.float, removed in NumPy 1.24
for m in ["matplotlib", "matplotlib.pyplot", "matplotlib.collections", "matplotlib.patches"]:
    sys.modules[m] = types.ModuleType(m)
sys.modules["matplotlib.collections"].PatchCollection = None
sys.modules["matplotlib.patches"].Polygon = None
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

d, it = sys.argv[1], sys.argv[2]
t0 = time.time()
gt = COCO(os.path.join(d, "gt.json"))
dt = gt.loadRes(os.path.join(d, "dt_%s.json" % it))
t1 = time.time()
E = COCOeval(gt, dt, it)
E.evaluate(); E.accumulate(); E.summarize()
t2 = time.time()
print(json.dumps({"iou_type": it, "load_s": round(t1 - t0, 3), "eval_s": round(t2 - t1, 3),
                  "total_s": round(t2 - t0, 3), "stats": [float(v) for v in E.stats]}))
