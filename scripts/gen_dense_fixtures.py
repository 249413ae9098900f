#!/usr/bin/python3
"""gen_dense_fixtures.py - reference numbers for tests/test_data_cv2_ref.c, produced by OpenCV (Debian
python3-opencv 4.6.0) as mmrotate / mmcv / mmseg call it:
  poly2obb.txt   cv2.minAreaRect of float32 4-point polygons, then mmrotate 0.x poly2obb_np_le90 / _oc
                 (the conversion formulas are mmrotate's, restated here); a missing result is written as 'none'.
  resize.txt     cv2.resize INTER_LINEAR (mmcv imresize 'bilinear') and INTER_NEAREST of small uint8 images.
  hsv.txt        cv2.cvtColor RGB2HSV and HSV2RGB (uint8), as mmseg PhotoMetricDistortion uses them.
usage: /usr/bin/python3 scripts/gen_dense_fixtures.py tests/fixtures/dense"""
import math, os, sys
import numpy as np
import cv2

out = sys.argv[1]
rng = np.random.RandomState(1234)


def le90(x, y, w, h, a):
    if w < 2 or h < 2:
        return None
    a = a / 180 * np.pi
    if w < h:
        w, h = h, w
        a += np.pi / 2
    while not np.pi / 2 > a >= -np.pi / 2:
        if a >= np.pi / 2:
            a -= np.pi
        else:
            a += np.pi
    return x, y, w, h, a


def oc(x, y, w, h, a):
    if w < 2 or h < 2:
        return None
    while not 0 < a <= 90:
        if a == -90:
            a += 180
        else:
            a += 90
            w, h = h, w
    a = a / 180 * np.pi
    return x, y, w, h, a


with open(os.path.join(out, "poly2obb.txt"), "w") as f:
    f.write("# x1 y1 x2 y2 x3 y3 x4 y4 | le90: x y w h a | oc: x y w h a   (cv2 %s)\n" % cv2.__version__)
    for i in range(300):
        cx, cy = rng.uniform(50, 1000, 2)
        L, S = rng.uniform(1, 200), rng.uniform(1, 120)
        t = rng.uniform(-np.pi, np.pi) if i % 5 else rng.choice([0, np.pi / 2, np.pi / 4, -np.pi / 2])
        c, s = math.cos(t), math.sin(t)
        pts = []
        for (u, v) in [(L / 2, S / 2), (L / 2, -S / 2), (-L / 2, -S / 2), (-L / 2, S / 2)]:
            pts += [cx + c * u - s * v, cy + s * u + c * v]
        pts = np.array(pts)
        if i % 3 == 0:  # annotator noise: not a perfect rectangle
            pts = pts + rng.uniform(-3, 3, 8)
        if i % 7 == 0:
            pts = np.round(pts)
        poly = pts.astype(np.float32)
        r = cv2.minAreaRect(poly.reshape(4, 2))
        vals = (r[0][0], r[0][1], r[1][0], r[1][1], r[2])
        a, b = le90(*vals), oc(*vals)
        line = " ".join("%.9g" % v for v in poly)
        line += " | " + ("none" if a is None else " ".join("%.9g" % v for v in a))
        line += " | " + ("none" if b is None else " ".join("%.9g" % v for v in b))
        f.write(line + "\n")

with open(os.path.join(out, "resize.txt"), "w") as f:
    f.write("# sw sh dw dh | src (sh*sw*3 uint8) | linear (dh*dw*3) | nearest (dh*dw*3)\n")
    for (sw, sh, dw, dh) in [(7, 5, 13, 9), (16, 12, 5, 4), (9, 9, 9, 20), (11, 3, 4, 7)]:
        img = rng.randint(0, 256, (sh, sw, 3)).astype(np.uint8)
        lin = cv2.resize(img, (dw, dh), interpolation=cv2.INTER_LINEAR)
        nea = cv2.resize(img, (dw, dh), interpolation=cv2.INTER_NEAREST)
        f.write("%d %d %d %d | %s | %s | %s\n" % (sw, sh, dw, dh, " ".join(map(str, img.ravel())),
                                                 " ".join(map(str, lin.ravel())), " ".join(map(str, nea.ravel()))))

with open(os.path.join(out, "hsv.txt"), "w") as f:
    f.write("# r g b | h s v (cv2 RGB2HSV) ; then h s v | r g b (cv2 HSV2RGB)\n")
    cols = np.array([[r, g, b] for r in range(0, 256, 34) for g in range(0, 256, 34) for b in range(0, 256, 34)],
                    dtype=np.uint8).reshape(1, -1, 3)
    hsv = cv2.cvtColor(cols, cv2.COLOR_RGB2HSV)
    for c, h in zip(cols[0], hsv[0]):
        f.write("F %d %d %d %d %d %d\n" % (c[0], c[1], c[2], h[0], h[1], h[2]))
    hs = np.array([[h, s, v] for h in range(0, 180, 9) for s in range(0, 256, 51) for v in range(0, 256, 51)],
                  dtype=np.uint8).reshape(1, -1, 3)
    rgb = cv2.cvtColor(hs, cv2.COLOR_HSV2RGB)
    for h, c in zip(hs[0], rgb[0]):
        f.write("B %d %d %d %d %d %d\n" % (h[0], h[1], h[2], c[0], c[1], c[2]))
