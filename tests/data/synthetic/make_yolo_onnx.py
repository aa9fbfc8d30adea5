#!/usr/bin/python3
"""Builds a SYNTHETIC "General (compact)" (YOLO-style) detector with Custom Vision's exact I/O
contract, a test photo for it, and the shipped reference code's answer on that photo.

    /usr/bin/python3 tests/data/synthetic/make_yolo_onnx.py          # (re)write the files below
    /usr/bin/python3 tests/data/synthetic/make_yolo_onnx.py --check  # rebuild in a temp dir, compare

(Debian's python3-onnx, python3-numpy, python3-pil, python3-opencv; the reference answer also
needs ../shared/cv-exports/od-reference, see tests/parity/detection_reference.py.)

No Custom Vision detector file small enough to obtain exists, so this network is made by hand:
hand-set weights, not trained, not exported by Custom Vision. Its contract is the compact
detector's (ONNX export, NoliAlonso/CustomVisionONNX's ObjectDetection.cs and
onnxruntime_predict.py): input `data` NCHW [1, 3, H, W], BGR, 0..255; output `model_outputs0`
[1, 5 * (5 + C), H/32, W/32], channel a*(5+C)+k = anchor a's tx, ty, tw, th, objectness, class
logits. Two tags, "apple" and "banana". The ops are the compact family's kind (Conv, LeakyRelu,
pooling): a 4x4/4 conv computing colour features (how much red, yellow and green against the
blue channel, i.e. fruit against the white or grey background), an 8x8/8 average pool (now
32x32 cells), a 3x3 conv mixing each cell with its neighbours, a 1x1 conv to the 35 outputs:
objectness grows with "fruit colour" in and around a cell, the class logits are red-vs-yellow,
and the box offsets and sizes lean on the neighbourhood, so every fruit lights up several cells
and anchors with overlapping boxes of both classes (what the container's NMS has to sort out).

Writes (tests/data/synthetic/ and tests/data/detection/):
  yolo_compact_fruit.onnx       the model, input fixed at [1, 3, 448, 608] (what the reference's
                                preprocessing makes of a 608x448 photo: the ~512^2 pixel-count
                                rule with sides rounded up to multiples of 32)
  detection/fruit_scene.png     608x448 test photo: the apple/banana sample photos of
                                cv-exports/iotedge-applebanana-tf pasted on a light background
  detection/golden/fruit_scene_opencv_raw.npy
                                OpenCV DNN's output (an independent engine) for the exact input
                                the reference builds, as (H/32, W/32, 35) HWC
  detection/golden/fruit_scene.json
                                onnxruntime_predict.ONNXRuntimeObjectDetection.predict_image on
                                the photo, with ONNX Runtime replaced by OpenCV DNN: the golden
  detection/golden/photos.json  the same for three photos of other sizes (apple1, banana2 and
                                apple2 of the IoT Edge sample): the reference resizes each to its
                                own ~512^2 input, the model runs at that size
"""

import argparse
import filecmp
import json
import os
import shutil
import sys
import tempfile

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
DATA = os.path.join(ROOT, "tests", "data")
MODEL = os.path.join(HERE, "yolo_compact_fruit.onnx")
PHOTO = os.path.join(DATA, "detection", "fruit_scene.png")
GOLDEN = os.path.join(DATA, "detection", "golden")
LABELS = ["apple", "banana"]
WIDTH, HEIGHT = 608, 448
ANCHORS = np.array([[0.573, 0.677], [1.87, 2.06], [3.34, 5.47], [7.88, 3.53], [9.77, 9.17]])


def make_photo(path):
    """The apple and banana sample photos (MIT, Microsoft's IoT Edge sample) on a light canvas."""
    images = os.path.join(DATA, "cv-exports", "iotedge-applebanana-tf", "images")
    canvas = Image.new("RGB", (WIDTH, HEIGHT), (236, 236, 230))
    placements = [("apple1.jpg", (24, 30), 1.0), ("banana1.jpg", (280, 20), 1.0),
                  ("apple2.jpg", (330, 220), 0.8), ("banana2.jpg", (40, 300), 0.7)]
    for name, (x, y), scale in placements:
        im = Image.open(os.path.join(images, name)).convert("RGB")
        im = im.resize((int(im.width * scale), int(im.height * scale)), Image.BILINEAR)
        canvas.paste(im, (x, y))
    canvas.save(path, format="PNG", optimize=True)


def conv(name, x, w, b, stride=1, pad=0, out=None):
    inits = [numpy_helper.from_array(w.astype(np.float32), name + "_w"),
             numpy_helper.from_array(b.astype(np.float32), name + "_b")]
    k = w.shape[2]
    node = helper.make_node("Conv", [x, name + "_w", name + "_b"], [out or name], kernel_shape=[k, k],
                            strides=[stride, stride], pads=[pad] * 4)
    return node, inits


def make_model(path):
    c = len(LABELS)
    per = 5 + c
    # 1. colour features over 4x4 patches; input channels are B, G, R (0..255):
    #    f0 fruit = R - B (both fruits against a white or grey background), f1 yellow = G - B,
    #    f2 red = R - G, f3 leaf = G - R, f4 brightness; LeakyRelu keeps mostly the positive part.
    w1 = np.zeros((8, 3, 4, 4))
    per_pixel = np.array([
        [-1.0, 0.0, 1.0],
        [-1.0, 1.0, 0.0],
        [0.0, -1.0, 1.0],
        [0.0, 1.0, -1.0],
        [1 / 3, 1 / 3, 1 / 3],
        [0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0],
        [0.0, 0.0, 0.0],
    ]) / 255.0
    for o in range(8):
        for i in range(3):
            w1[o, i] = per_pixel[o, i] / 16.0
    b1 = np.array([-0.05, -0.05, -0.05, -0.05, -0.5, 0.0, 0.0, 0.0])
    n1, i1 = conv("feat", "data", w1, b1, stride=4)
    a1 = helper.make_node("LeakyRelu", ["feat"], ["feat_act"], alpha=0.1)
    p1 = helper.make_node("AveragePool", ["feat_act"], ["cell"], kernel_shape=[8, 8], strides=[8, 8])
    # 2. 3x3 neighbourhood: channel o gathers feature o from the cell and (weaker) its neighbours,
    #    plus a horizontal and a vertical gradient of the "fruit" features (for tx, ty).
    w2 = np.zeros((8, 8, 3, 3))
    for o in range(5):  # weights sum to 1: a smoothed copy
        w2[o, o] = np.array([[0.5, 1, 0.5], [1, 3, 1], [0.5, 1, 0.5]]) / 9.0
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]) / 8.0
    w2[5, 0] = sobel        # d(fruit)/dx
    w2[6, 0] = sobel.T      # d(fruit)/dy
    w2[7, 0] = np.ones((3, 3)) / 9.0  # fruit mass around the cell (box size)
    n2, i2 = conv("ctx", "cell", w2, np.zeros(8), pad=1)
    a2 = helper.make_node("LeakyRelu", ["ctx"], ["ctx_act"], alpha=0.1)
    # 3. 1x1 to anchors x (tx, ty, tw, th, objectness, apple, banana).
    w3 = np.zeros((5 * per, 8, 1, 1))
    b3 = np.zeros(5 * per)
    for a in range(5):
        base = a * per
        w3[base + 0, 5] = 4.0      # tx follows the horizontal gradient
        w3[base + 1, 6] = 4.0      # ty the vertical one
        size = np.log(np.array([2.5, 3.5, 4.5, 6.0, 7.5])[a] / ANCHORS[a])  # tw, th bias: a box of ~N cells
        b3[base + 2], b3[base + 3] = size[0], size[1]
        w3[base + 2, 7] = 0.6
        w3[base + 3, 7] = 0.6
        w3[base + 4, 0] = 6.0      # objectness: fruit colour around the cell ...
        w3[base + 4, 2] = 6.0      # ... red counts double (apples are darker than bananas)
        b3[base + 4] = [-2.5, -2.0, -2.3, -3.0, -3.8][a]
        w3[base + 5, 2] = 10.0     # apple: red
        b3[base + 5] = -2.0
        w3[base + 6, 1] = 10.0     # banana: yellow
        b3[base + 6] = -2.0
    n3, i3 = conv("head", "ctx_act", w3.reshape(5 * per, 8, 1, 1), b3, out="model_outputs0")
    graph = helper.make_graph(
        [n1, a1, p1, n2, a2, n3], "synthetic_compact_detector",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, HEIGHT, WIDTH])],
        [helper.make_tensor_value_info("model_outputs0", TensorProto.FLOAT,
                                       [1, 5 * per, HEIGHT // 32, WIDTH // 32])],
        initializer=i1 + i2 + i3)
    model = helper.make_model(graph, producer_name="edgevision make_yolo_onnx.py (SYNTHETIC)",
                              opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 6
    helper.set_model_props(model, {"Image.BitmapPixelFormat": "Bgr8", "Image.NominalPixelRange": "NominalRange_0_255"})
    onnx.checker.check_model(model)
    onnx.save(model, path)


def opencv_runtime(net, seen):
    """ONNX Runtime's stand-in: OpenCV DNN on the input the reference builds (kept in seen)."""
    def run(chw_batch):
        seen["input"] = chw_batch
        net.setInput(chw_batch)
        return net.forward()
    return run


def reference_answer(model_path, photo_path):
    """The ONNX export's own code on the photo, with ONNX Runtime replaced by OpenCV DNN."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "parity"))
    import detection_reference as ref  # noqa: E402
    if not ref.available():
        print("reference code absent: model and photo written, golden not", file=sys.stderr)
        return None
    seen = {}
    opencv = opencv_runtime(cv2.dnn.readNetFromONNX(model_path), seen)
    results, raw = ref.onnx_predict_image(Image.open(photo_path), LABELS, opencv)
    return results, raw, seen["input"]


# More photos, of other aspect ratios: the reference resizes each to its own ~512^2 size (the
# model runs at 480x576, 640x448, ...), so these check edgevision's variable input size.
AB_IMAGES = os.path.join(DATA, "cv-exports", "iotedge-applebanana-tf", "images")
MORE_PHOTOS = [("apple1", os.path.join(AB_IMAGES, "apple1.jpg")), ("banana2", os.path.join(AB_IMAGES, "banana2.jpg")),
               ("apple2", os.path.join(AB_IMAGES, "apple2.jpg"))]


def more_photos(model_path, golden_dir):
    """photos.json: the ONNX export's code (OpenCV DNN as its runtime) on MORE_PHOTOS."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "parity"))
    import detection_reference as ref  # noqa: E402
    net = cv2.dnn.readNetFromONNX(model_path)
    doc = {"description": "tests/data/synthetic/yolo_compact_fruit.onnx (SYNTHETIC) on photos of other sizes; "
                          "onnx-yolo-2024/onnxruntime_predict.py (its own resize to ~512^2, multiples of 32) "
                          "with ONNX Runtime replaced by OpenCV DNN " + cv2.__version__,
           "labels": LABELS, "photos": []}
    for name, path in MORE_PHOTOS:
        seen = {}
        predictions, _ = ref.onnx_predict_image(Image.open(path), LABELS, opencv_runtime(net, seen))
        doc["photos"].append({"name": name, "photo": os.path.relpath(path, DATA),
                              "input_shape": list(seen["input"].shape), "predictions": predictions})
    with open(os.path.join(golden_dir, "photos.json"), "w") as f:
        f.write(json.dumps(doc, indent=1) + "\n")
    return ["photos.json"]


def build(model_path, photo_path, golden_dir):
    """Writes the model, the photo and (when the reference code is present) the golden. Returns
    the names of the files written in golden_dir."""
    make_photo(photo_path)
    make_model(model_path)
    answer = reference_answer(model_path, photo_path)
    if answer is None:
        return []
    predictions, raw_chw, model_input = answer
    assert model_input.shape == (1, 3, HEIGHT, WIDTH), model_input.shape
    raw_hwc = np.ascontiguousarray(raw_chw[0].transpose(1, 2, 0)).astype(np.float32)
    np.save(os.path.join(golden_dir, "fruit_scene_opencv_raw.npy"), raw_hwc)
    doc = {"case": "fruit_scene", "family": "yolo",
           "description": "tests/data/synthetic/yolo_compact_fruit.onnx (SYNTHETIC) on detection/fruit_scene.png; "
                          "onnx-yolo-2024/onnxruntime_predict.py with ONNX Runtime replaced by OpenCV DNN "
                          + cv2.__version__,
           "model": "synthetic/yolo_compact_fruit.onnx", "photo": "detection/fruit_scene.png",
           "labels": LABELS, "raw": "fruit_scene_opencv_raw.npy", "layout": "hwc", "shape": list(raw_hwc.shape),
           "input_shape": list(model_input.shape),
           "references": ["onnx-yolo-2024/onnxruntime_predict.py"], "predictions": predictions}
    with open(os.path.join(golden_dir, "fruit_scene.json"), "w") as f:
        f.write(json.dumps(doc, indent=1) + "\n")
    for p in predictions:
        b = p["boundingBox"]
        print("%-7s %.4f  left %.3f top %.3f width %.3f height %.3f" % (
            p["tagName"], p["probability"], b["left"], b["top"], b["width"], b["height"]))
    return ["fruit_scene_opencv_raw.npy", "fruit_scene.json"] + more_photos(model_path, golden_dir)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="rebuild in a temporary folder and compare, write nothing")
    args = ap.parse_args()
    if not args.check:
        build(MODEL, PHOTO, GOLDEN)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        golden = build(os.path.join(tmp, "m.onnx"), os.path.join(tmp, "p.png"), tmp)
        if not golden:
            return 77  # reference code absent: skipped
        pairs = [(os.path.join(tmp, "m.onnx"), MODEL), (os.path.join(tmp, "p.png"), PHOTO)]
        pairs += [(os.path.join(tmp, g), os.path.join(GOLDEN, g)) for g in golden]
        bad = 0
        for new, old in pairs:
            same = os.path.exists(old) and filecmp.cmp(new, old, shallow=False)
            print("%-60s %s" % (os.path.relpath(old, ROOT), "ok" if same else "DIFFERS"))
            bad += not same
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
