#!/usr/bin/python3
"""OpenCV 4.6 DNN engine timer: the peer of `edgevision bench`.

    opencv_bench.py --model FILE(.onnx|.pb) [--threads N] [--runs N] [--warmup N] [--size S]

Same protocol as `edgevision bench`: batch 1, a fixed seeded input, warm-up
runs, then `runs` timed net.forward() calls (setInput included: it is a
pointer hand-over); cv2.setNumThreads(N). Prints one JSON line.
"""
import argparse
import json
import time

import cv2
import numpy as np


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--range", type=float, default=1.0)
    args = ap.parse_args()
    cv2.setNumThreads(args.threads)
    net = cv2.dnn.readNet(args.model)
    net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
    net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
    rng = np.random.default_rng(1234)
    blob = (rng.random((1, 3, args.size, args.size), dtype=np.float32) * args.range).astype(np.float32)
    for _ in range(args.warmup):
        net.setInput(blob)
        net.forward()
    ms = []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        net.setInput(blob)
        net.forward()
        ms.append((time.perf_counter() - t0) * 1e3)
    ms.sort()
    pick = lambda p: ms[min(len(ms) - 1, int(round(p * (len(ms) - 1))))]
    print(json.dumps({"engine": "opencv-dnn", "version": cv2.__version__, "model": args.model,
                      "threads": args.threads, "runs": args.runs, "warmup": args.warmup,
                      "median_ms": pick(0.5), "p90_ms": pick(0.9), "min_ms": ms[0], "max_ms": ms[-1],
                      "mean_ms": sum(ms) / len(ms)}))


if __name__ == "__main__":
    main()
