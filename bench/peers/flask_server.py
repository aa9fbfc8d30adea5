#!/usr/bin/python3
"""The Python peer server for bench/run.sh: what the exported Custom Vision
container does for POST /image (Flask + PIL + numpy), with OpenCV 4.6 DNN in
place of TensorFlow — the container needs TensorFlow 2.x, which Debian 12 does
not package and this machine cannot install. Written for this benchmark (not
copied from the container's app.py/predict.py); it follows the same steps:

  PIL.Image.open -> EXIF orientation -> downscale to <= 1600 (PIL BILINEAR or
  BICUBIC) -> RGB->BGR numpy -> centre square + bilinear resize to 256 ->
  centre crop to the model size -> inference -> predict.py's result list ->
  flask.jsonify, on Flask's own threaded development server (what the
  container's `app.run` uses).

One difference, measured separately by the harness: predict.py resizes with
a Python loop over all 65,536 output pixels; this server computes the same
float64 arithmetic vectorised with numpy (same values), so the container is
SLOWER than this peer by the loop's cost (bench/peers/predict_loop_cost.py).

    flask_server.py --model FILE(.onnx|.pb) --labels labels.txt --port P [--threads N] [--size 227]
"""
import argparse
import io
import threading
import uuid
from datetime import datetime

import cv2
import numpy as np
from flask import Flask, jsonify, request
from PIL import Image

EXIF_ORIENTATION = 0x0112


def orient(image):
    if not hasattr(image, "_getexif"):
        return image
    exif = image._getexif()
    if not exif or EXIF_ORIENTATION not in exif:
        return image
    o = exif.get(EXIF_ORIENTATION, 1) - 1
    if o >= 4:
        image = image.transpose(Image.TRANSPOSE)
    if o in (2, 3, 6, 7):
        image = image.transpose(Image.FLIP_TOP_BOTTOM)
    if o in (1, 2, 5, 6):
        image = image.transpose(Image.FLIP_LEFT_RIGHT)
    return image


def downscale(image, limit=1600):
    w, h = image.size
    if h < limit and w < limit:
        return image
    size = (limit * w // h, limit) if h > w else (limit, limit * h // w)
    method = Image.BILINEAR if max(size) / max(image.size) >= 0.5 else Image.BICUBIC
    return image.resize(size, method)


def taps(n, ratio, origin, size):
    """Per-axis bilinear taps with predict.py's truncation and clamping."""
    d = (np.arange(n, dtype=np.float64) + 0.5) * ratio - 0.5
    i0 = np.trunc(d).astype(np.int64)
    d = d - i0
    i0 = i0 + origin
    i1 = i0 + 1
    low, high = i0 < 0, i0 >= size - 1
    i0 = np.where(low, 0, np.where(high, size - 1, i0))
    i1 = np.where(low, 0, np.where(high, size - 1, i1))
    d = np.where(low | high, 0.0, d)
    return i0, i1, d


def square_256(img):
    """extract_and_resize(img, (256, 256)) in float64, vectorised."""
    h, w = img.shape[:2]
    det = w * 256 - h * 256
    if det < 0:
        ratio, xo, yo = w / 256.0, 0, int(0.5 * (h - (w / 256.0) * 256))
    elif det > 0:
        ratio, xo, yo = h / 256.0, int(0.5 * (w - (h / 256.0) * 256)), 0
    else:
        ratio, xo, yo = h / 256.0, 0, 0
    x0, x1, xd = taps(256, ratio, xo, w)
    y0, y1, yd = taps(256, ratio, yo, h)
    xd = xd[None, :, None]
    yd = yd[:, None, None]
    bl, br = img[y0][:, x0], img[y0][:, x1]
    tl, tr = img[y1][:, x0], img[y1][:, x1]
    b = xd * br + (1. - xd) * bl
    t = xd * tr + (1. - xd) * tl
    return (yd * t + (1. - yd) * b).astype(np.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--labels", required=True)
    ap.add_argument("--port", type=int, default=8082)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--size", type=int, default=227)
    args = ap.parse_args()
    cv2.setNumThreads(args.threads)
    net = cv2.dnn.readNet(args.model)
    lock = threading.Lock()  # one net, like the container's one TF session graph
    with open(args.labels, encoding="utf-8") as f:
        labels = [l.strip() for l in f.readlines()]

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 4 * 1024 * 1024

    @app.route("/")
    def index():
        return "CustomVision.ai model host harness"

    @app.route("/image", methods=["POST"])
    def image():
        try:
            img = Image.open(io.BytesIO(request.get_data()))
            img = downscale(orient(img))
            arr = np.array(img.convert("RGB"))[:, :, (2, 1, 0)]
            square = square_256(arr)
            s = args.size
            start = max(0, 128 - s // 2)
            crop = square[start:start + s, start:start + s]
            blob = np.ascontiguousarray(crop.transpose(2, 0, 1)[np.newaxis])
            with lock:
                net.setInput(blob)
                scores = net.forward().reshape(-1)
            predictions = []
            for i, p in enumerate(scores):
                q = float(np.round(np.float32(p), 8))
                if q > 1e-8:
                    predictions.append({"tagName": labels[i], "tagId": "", "probability": q,
                                        "boundingBox": None})
            predictions.sort(key=lambda r: r["probability"], reverse=True)
            return jsonify({"id": str(uuid.uuid4()), "project": "", "iteration": "",
                            "created": datetime.utcnow().isoformat(), "predictions": predictions})
        except Exception as e:  # the container answers 500 with a text body
            print("EXCEPTION:", e)
            return "Error processing image", 500

    app.run(host="127.0.0.1", port=args.port, threaded=True)


if __name__ == "__main__":
    main()
