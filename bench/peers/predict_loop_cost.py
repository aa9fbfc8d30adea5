#!/usr/bin/python3
"""What the exported container's per-pixel Python resize costs.

predict.py builds the 256x256 square with a Python loop calling a per-pixel
bilinear function 65,536 times; bench/peers/flask_server.py computes the same
values vectorised. This times such a loop (our own code, the same arithmetic)
on a decoded image, best of --repeat, and prints one JSON line, so the
report can add it to the Flask peer's latency.

    predict_loop_cost.py IMAGE [--repeat 3]
"""
import argparse
import json
import time

import numpy as np
from PIL import Image


def pixel(img, x, y, ratio, xo, yo):
    h, w = img.shape[:2]
    xd = (x + 0.5) * ratio - 0.5
    x0 = int(xd)
    xd -= x0
    x0 += xo
    if x0 < 0:
        x0, x1, xd = 0, 0, 0.0
    elif x0 >= w - 1:
        x0, x1, xd = w - 1, w - 1, 0.0
    else:
        x1 = x0 + 1
    yd = (y + 0.5) * ratio - 0.5
    y0 = int(yd)
    yd -= y0
    y0 += yo
    if y0 < 0:
        y0, y1, yd = 0, 0, 0.0
    elif y0 >= h - 1:
        y0, y1, yd = h - 1, h - 1, 0.0
    else:
        y1 = y0 + 1
    b = xd * img[y0, x1] + (1. - xd) * img[y0, x0]
    t = xd * img[y1, x1] + (1. - xd) * img[y1, x0]
    return yd * t + (1. - yd) * b


def square_256_loop(img):
    h, w = img.shape[:2]
    det = w * 256 - h * 256
    if det < 0:
        ratio, xo, yo = w / 256.0, 0, int(0.5 * (h - (w / 256.0) * 256))
    elif det > 0:
        ratio, xo, yo = h / 256.0, int(0.5 * (w - (h / 256.0) * 256)), 0
    else:
        ratio, xo, yo = h / 256.0, 0, 0
    out = np.empty((256, 256, 3), dtype=np.float32)
    for y in range(256):
        for x in range(256):
            out[y, x] = pixel(img, x, y, ratio, xo, yo)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("image")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    img = np.array(Image.open(args.image).convert("RGB"))[:, :, (2, 1, 0)]
    best = float("inf")
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        square_256_loop(img)
        best = min(best, time.perf_counter() - t0)
    print(json.dumps({"image": args.image, "loop_ms": best * 1e3}))


if __name__ == "__main__":
    main()
