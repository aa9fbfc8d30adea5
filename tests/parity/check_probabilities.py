#!/usr/bin/python3
"""Probabilities: edgevision's engine vs an independent engine on the same tensor.

Usage (Debian's Python: /usr/bin/python3 with python3-opencv, python3-onnx,
python3-numpy, python3-protobuf; protoc from protobuf-compiler):
    check_probabilities.py --edgevision build/src/cli/edgevision [--tolerance 1e-4] [--json OUT]

For every real export in tests/data/cv-exports and every sample image:
  1. `edgevision tensor` writes the exact tensor the model is fed (its
     preprocessing is checked bit-exact against predict.py elsewhere);
  2. OpenCV 4.6 DNN (the independent engine) runs the SAME model file on that
     tensor;
  3. `edgevision predict` (XNNPACK engine) classifies the image;
and the two probability vectors are compared (max |diff| <= tolerance).

OpenCV 4.6 cannot load three of the exports as shipped (that is why
edgevision exists); for the reference side only, this script rewrites them in
memory into graphs OpenCV accepts, with the same maths:
  - iotedge-applebanana-tf: OpenCV refuses the constant data_bn block; the
    graph is re-wired Placeholder -> conv1 and the data_bn affine
    ((x - mean) * rsqrt(var + eps), constants read from the file) is applied
    to the tensor in numpy;
  - winml-food-onnx: the ZipMap/ArgMax tail is dropped, LegacyPadding +
    MaxPool(VALID) becomes MaxPool(ceil_mode=1), experimental FC becomes
    Gemm(transB=1), legacy broadcast attributes become numpy broadcasting,
    nodes are topologically sorted;
  - uwp-catdog-onnx12: the ZipMap tail is dropped and initializers are
    removed from the graph inputs.
android-fruit-tflite has no independent TFLite engine in Debian: it is
compared with OpenCV's output for android-fruit-tf, which has the same
trained weights.

Prints a table and exits 0 when every image is within tolerance, 1 otherwise.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import cv2
import numpy as np
import onnx
from onnx import helper, TensorProto

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_peer_rewrite import peer_onnx  # noqa: E402  (shared with bench/prepare_models.py)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXPORTS = os.path.join(REPO, "tests", "data", "cv-exports")
FRUIT = sorted(glob.glob(os.path.join(EXPORTS, "iotedge-applebanana-tf", "images", "*.jpg")))
KITTEN = [os.path.join(EXPORTS, "uwp-catdog-onnx12", "images", "kitten_224.png")]
FOOD = sorted(glob.glob(os.path.join(EXPORTS, "winml-food-onnx", "images", "*", "*.jpg")))


def tf_graph_module(workdir):
    """Python classes for edgevision's own GraphDef schema subset."""
    schemas = os.path.join(REPO, "src", "model", "schemas")
    subprocess.run(["protoc", "--python_out=" + workdir, "-I" + schemas,
                    os.path.join(schemas, "tf_graph.proto")], check=True)
    sys.path.insert(0, workdir)
    import tf_graph_pb2  # noqa: E402
    return tf_graph_pb2


def opencv_tf(path, tf_pb2):
    """An OpenCV net for a TF export, plus a numpy pre-step (data_bn) if needed."""
    g = tf_pb2.GraphDef()
    with open(path, "rb") as f:
        g.ParseFromString(f.read())
    names = {n.name: n for n in g.node}
    if "data_bn/mean" not in names:
        return cv2.dnn.readNetFromTensorflow(path), lambda x: x

    def const(name):
        t = names[name].attr["value"].tensor
        if t.tensor_content:
            return np.frombuffer(t.tensor_content, dtype=np.float32)
        return np.array(t.float_val, dtype=np.float32)

    mean, var = const("data_bn/mean"), const("data_bn/variance")
    eps = const("data_bn/data_bn/add/y")[0]
    scale = (1.0 / np.sqrt(var + eps)).astype(np.float32)
    for n in g.node:  # conv1 reads the Placeholder directly
        if n.op == "Conv2D" and n.input[0] == "data_bn/data_bn/add_1":
            n.input[0] = "Placeholder"
    keep = [n for n in g.node if not n.name.startswith("data_bn/")]
    del g.node[:]
    g.node.extend(keep)
    net = cv2.dnn.readNetFromTensorflowBuffer(g.SerializeToString()) if hasattr(
        cv2.dnn, "readNetFromTensorflowBuffer") else cv2.dnn.readNetFromTensorflow(bytearray(g.SerializeToString()))
    return net, lambda x: ((x - mean) * scale).astype(np.float32)


def opencv_onnx(path, outputs):
    m = peer_onnx(path, outputs)
    return cv2.dnn.readNetFromONNXBuffer(m.SerializeToString()) if hasattr(
        cv2.dnn, "readNetFromONNXBuffer") else cv2.dnn.readNetFromONNX(bytearray(m.SerializeToString()))


def labels(model_dir):
    with open(os.path.join(model_dir, "labels.txt"), encoding="utf-8") as f:
        return [l.strip() for l in f if l.strip()]


def edgevision_tensor(binary, model, image, workdir):
    out = os.path.join(workdir, "t.npy")
    subprocess.run([binary, "tensor", "--model", model, image, "--out", out], check=True,
                   capture_output=True, timeout=120)
    return np.load(out)


def edgevision_scores(binary, model, images, tags):
    proc = subprocess.run([binary, "predict", "--model", model] + images, check=True,
                          capture_output=True, text=True, timeout=600)
    rows = []
    for line in proc.stdout.splitlines():
        doc = json.loads(line)
        by_tag = {p["tagName"]: p["probability"] for p in doc["predictions"]}
        rows.append([by_tag.get(t, 0.0) for t in tags])  # absent = rounded to <= 1e-8
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgevision", required=True)
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    failures = 0
    figures = {}
    with tempfile.TemporaryDirectory() as workdir:
        tf_pb2 = tf_graph_module(workdir)
        cases = [
            ("iotedge-applebanana-tf", FRUIT + KITTEN, "tf", "iotedge-applebanana-tf/model.pb"),
            ("android-fruit-tf", FRUIT + KITTEN, "tf", "android-fruit-tf/model.pb"),
            ("android-fruit-tflite", FRUIT + KITTEN, "tf", "android-fruit-tf/model.pb"),
            ("winml-food-onnx", FOOD, "onnx", "winml-food-onnx/model.onnx"),
            ("uwp-catdog-onnx12", KITTEN + FRUIT, "onnx", "uwp-catdog-onnx12/model.onnx"),
        ]
        print("%-24s %-28s %-12s %-12s %s" % ("model", "image", "max|diff|", "top", "reference top"))
        for name, images, kind, reference_file in cases:
            model = os.path.join(EXPORTS, name)
            tags = labels(model)
            ref_path = os.path.join(EXPORTS, reference_file)
            if kind == "tf":
                net, pre = opencv_tf(ref_path, tf_pb2)
            else:
                net, pre = opencv_onnx(ref_path, len(tags)), lambda x: x
            ours = edgevision_scores(args.edgevision, model, images, tags)
            worst = 0.0
            for image, our in zip(images, ours):
                x = pre(edgevision_tensor(args.edgevision, model, image, workdir))
                blob = x.transpose(2, 0, 1)[np.newaxis] if kind == "onnx" else x[np.newaxis]
                if kind == "tf":  # OpenCV's TF importer takes NCHW blobs too
                    blob = x.transpose(2, 0, 1)[np.newaxis]
                net.setInput(np.ascontiguousarray(blob, dtype=np.float32))
                ref = net.forward().reshape(-1)
                diff = float(np.max(np.abs(np.array(our) - ref)))
                worst = max(worst, diff)
                ok = diff <= args.tolerance
                failures += not ok
                print("%-24s %-28s %-12.2e %-12s %s%s" % (name, os.path.basename(image), diff,
                                                          tags[int(np.argmax(our))], tags[int(np.argmax(ref))],
                                                          "" if ok else "  FAIL"))
            figures[name] = {"images": len(images), "max_abs_diff": worst}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=2)
    print("worst per model:", json.dumps(figures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
