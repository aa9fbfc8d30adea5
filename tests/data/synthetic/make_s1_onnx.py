#!/usr/bin/python3
"""Builds SYNTHETIC "General (compact) [S1]" (SSD-style) detectors with Custom Vision's S1 I/O
contract, and the shipped S1 containers' answers with ONNX Runtime as their runtime
(Debian's python3-onnx, python3-numpy, python3-pil, python3-flask; node + npm onnxruntime-node):

    /usr/bin/python3 tests/data/synthetic/make_s1_onnx.py                 # (re)write everything
    /usr/bin/python3 tests/data/synthetic/make_s1_onnx.py --check-models  # rebuild the models, compare
    /usr/bin/python3 tests/data/synthetic/make_s1_onnx.py --check         # and the golden (CTest parity_s1_live)

onnxruntime-node comes from $NODE_PATH, else bench/node/node_modules (`npm ci` there when missing).

No S1 model file small enough to obtain exists (docs/models.md, "Object detection"). The contract,
from the S1 containers' predict.py, Microsoft's ONNX S1 C# sample (customvision-export-samples
samples/csharp/onnx/object_detection_s1: input `image_tensor` {1, 3, 320, 320}, RGB 0..255;
outputs detectedBoxes[0, i, 0..3], detectedScores[0, i], detectedClasses[0, i] as long) and the TF.js
runtime: one image input, 320x320, RGB 0..255; three outputs read by name, `detected_boxes`
(x1, y1, x2, y2, normalised), `detected_scores`, `detected_classes` (int64); NMS inside the graph.
Hand-set weights; nothing here was trained or exported by Custom Vision.

Writes:
  s1_nms_contract.onnx   input `data` [1, 3, 320, 320]; outputs without a batch dimension ([N, 4],
                         [N], [N]); opset 11 (Squeeze with an axes attribute). A 32x32/32 average
                         pool and a 1x1 conv make a 10x10 grid of boxes (sigmoid) and two class
                         scores (sigmoid) per cell; NonMaxSuppression (at most 10 per class, IoU
                         0.5, score 0.1); Gather / GatherND pick the rows, in NMS order (by class).
  s1_fruit.onnx          input `image_tensor` [1, 3, 320, 320]; outputs with a batch dimension
                         ([1, N, 4], [1, N], [1, N]); opset 13 (axes as inputs). Colour features
                         (RGB) over 16x16-pixel cells find the apples (red) and bananas (yellow)
                         of ../detection/fruit_scene.png; each cell proposes a box around its
                         centre sized by the fruit mass nearby; scores for "apple", "banana" and
                         "fruit" (either), so one fruit yields overlapping boxes of several
                         classes. NonMaxSuppression (20 per class, IoU 0.45, score 0.3), then the
                         rows sorted by score (Shape + TopK + Gather), as SSD exports list them.
  ../detection/golden/s1_fruit.json
                         for fruit_scene.png and three sample photos of other sizes: both S1
                         containers' app.py (POST /image; docker-s1-pb-2023 and
                         docker-s1-tflite-2024 of ../shared/cv-exports/od-reference) with their
                         runtime replaced by ONNX Runtime running s1_fruit.onnx on the input
                         predict.py built: the raw outputs (hex floats) and the predictions
                         (both containers agree; the 2024 container's body is kept)
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import write_or_check  # noqa: E402

ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
DATA = os.path.join(ROOT, "tests", "data")
OUT = os.path.join(HERE, "s1_nms_contract.onnx")
FRUIT = os.path.join(HERE, "s1_fruit.onnx")
GOLDEN = os.path.join(DATA, "detection", "golden", "s1_fruit.json")
FRUIT_LABELS = ["apple", "banana", "fruit"]
AB_IMAGES = os.path.join(DATA, "cv-exports", "iotedge-applebanana-tf", "images")
PHOTOS = [("fruit_scene", os.path.join(DATA, "detection", "fruit_scene.png")),
          ("apple1", os.path.join(AB_IMAGES, "apple1.jpg")),
          ("banana2", os.path.join(AB_IMAGES, "banana2.jpg")),
          ("apple2", os.path.join(AB_IMAGES, "apple2.jpg"))]


def build():
    rng = np.random.RandomState(7)
    w = (rng.randn(6, 3, 1, 1) * 0.01).astype(np.float32)
    b = np.zeros(6, np.float32)
    inits = [numpy_helper.from_array(w, "head_w"), numpy_helper.from_array(b, "head_b"),
             numpy_helper.from_array(np.array([1, 100, 4], np.int64), "box_shape"),
             numpy_helper.from_array(np.array([1, 2, 100], np.int64), "score_shape"),
             numpy_helper.from_array(np.array([10], np.int64), "max_per_class"),
             numpy_helper.from_array(np.array([0.5], np.float32), "iou"),
             numpy_helper.from_array(np.array([0.1], np.float32), "score_min"),
             numpy_helper.from_array(np.array([1], np.int64), "col1"),
             numpy_helper.from_array(np.array([2], np.int64), "col2"),
             numpy_helper.from_array(np.array([0, 1], np.int64), "cols01")]
    nodes = [
        helper.make_node("AveragePool", ["data"], ["cells"], kernel_shape=[32, 32], strides=[32, 32]),
        helper.make_node("Conv", ["cells", "head_w", "head_b"], ["head"], kernel_shape=[1, 1]),
        helper.make_node("Sigmoid", ["head"], ["head_sig"]),
        helper.make_node("Split", ["head_sig"], ["box_raw", "score_raw"], axis=1, split=[4, 2]),
        helper.make_node("Transpose", ["box_raw"], ["box_hwc"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["box_hwc", "box_shape"], ["boxes"]),
        helper.make_node("Reshape", ["score_raw", "score_shape"], ["scores"]),
        helper.make_node("NonMaxSuppression", ["boxes", "scores", "max_per_class", "iou", "score_min"],
                         ["selected"]),
        # selected: [K, 3] = (batch, class, box)
        helper.make_node("Gather", ["selected", "col2"], ["box_index2d"], axis=1),
        helper.make_node("Squeeze", ["box_index2d"], ["box_index"], axes=[1]),
        helper.make_node("Squeeze", ["boxes"], ["boxes2d"], axes=[0]),
        helper.make_node("Gather", ["boxes2d", "box_index"], ["detected_boxes"], axis=0),
        helper.make_node("Gather", ["selected", "col1"], ["class2d"], axis=1),
        helper.make_node("Squeeze", ["class2d"], ["detected_classes"], axes=[1]),
        helper.make_node("Gather", ["selected", "cols01"], ["batch_class"], axis=1),
        helper.make_node("Concat", ["batch_class", "box_index2d"], ["score_index"], axis=1),
        helper.make_node("GatherND", ["scores", "score_index"], ["detected_scores"]),
    ]
    return s1_model(nodes, inits, "synthetic_s1_detector", "data", [], opset=11, ir_version=6)


def s1_model(nodes, inits, name, input_name, batch, opset, ir_version):
    """The serialized S1 graph: one [1, 3, 320, 320] input, the three detected_* outputs (with
    `batch` = [1] or without a batch dimension)."""
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [1, 3, 320, 320])],
        [helper.make_tensor_value_info("detected_boxes", TensorProto.FLOAT, batch + ["N", 4]),
         helper.make_tensor_value_info("detected_scores", TensorProto.FLOAT, batch + ["N"]),
         helper.make_tensor_value_info("detected_classes", TensorProto.INT64, batch + ["N"])],
        initializer=inits)
    model = helper.make_model(graph, producer_name="edgevision make_s1_onnx.py (SYNTHETIC)",
                              opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = ir_version
    onnx.checker.check_model(model)
    return model.SerializeToString()


def build_fruit():
    """s1_fruit.onnx (see the top of this file)."""
    f32 = np.float32
    inits = []

    def const(name, array):
        inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    # 1. colour features over 4x4 patches of the RGB 0..255 input: fruit = R - B, yellow = G - B,
    #    red = R - G; LeakyRelu keeps mostly the positive part. 2. 4x4 average: 16-pixel cells (20x20).
    per_pixel = np.array([[1, 0, -1], [0, 1, -1], [1, -1, 0]], f32) / 255.0
    w1 = np.zeros((3, 3, 4, 4), f32)
    for o in range(3):
        for i in range(3):
            w1[o, i] = per_pixel[o, i] / 16.0
    # 3. 3x3 neighbourhood: smoothed copies, the fruit mass around the cell, its x and y gradients.
    w2 = np.zeros((6, 3, 3, 3), f32)
    for o in range(3):
        w2[o, o] = np.array([[0.5, 1, 0.5], [1, 3, 1], [0.5, 1, 0.5]]) / 9.0
    w2[3, 0] = np.ones((3, 3)) / 9.0
    sobel = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]) / 8.0
    w2[4, 0] = sobel
    w2[5, 0] = sobel.T
    # 4. box head: sigmoid(dx, dy, sw, sh) -> corners around the cell centre.
    wb = np.zeros((4, 6, 1, 1), f32)
    bb = np.zeros(4, f32)
    wb[0, 4], wb[1, 5] = 6.0, 6.0            # the centre leans towards more fruit
    wb[2, 3], wb[3, 3] = 8.0, 7.0            # size grows with the fruit mass around
    bb[2], bb[3] = -1.0, -1.2
    geom = np.array([[0.1, 0, -0.175, 0], [0, 0.1, 0, -0.175], [0.1, 0, 0.175, 0], [0, 0.1, 0, 0.175]], f32)
    geom_b = np.array([-0.075, -0.075, -0.025, -0.025], f32)
    centre = np.zeros((1, 4, 20, 20), f32)
    cx = (np.arange(20, dtype=f32) + 0.5) / 20
    centre[0, 0] = centre[0, 2] = cx[None, :]
    centre[0, 1] = centre[0, 3] = cx[:, None]
    # 5. class head: apple = red, banana = yellow, fruit = either (both fire on every fruit).
    wc = np.zeros((3, 6, 1, 1), f32)
    bc = np.zeros(3, f32)
    wc[0, 2], bc[0] = 14.0, -2.5
    wc[1, 1], wc[1, 2], bc[1] = 12.0, -8.0, -2.5
    wc[2, 0], bc[2] = 9.0, -2.0
    nodes = [
        helper.make_node("Conv", ["image_tensor", const("feat_w", w1), const("feat_b", np.full(3, -0.05, f32))],
                         ["feat"], kernel_shape=[4, 4], strides=[4, 4]),
        helper.make_node("LeakyRelu", ["feat"], ["feat_act"], alpha=0.1),
        helper.make_node("AveragePool", ["feat_act"], ["cells"], kernel_shape=[4, 4], strides=[4, 4]),
        helper.make_node("Conv", ["cells", const("ctx_w", w2), const("ctx_b", np.zeros(6, f32))], ["ctx"],
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("LeakyRelu", ["ctx"], ["ctx_act"], alpha=0.1),
        helper.make_node("Conv", ["ctx_act", const("box_w", wb), const("box_b", bb)], ["box_raw"], kernel_shape=[1, 1]),
        helper.make_node("Sigmoid", ["box_raw"], ["box_sig"]),
        helper.make_node("Conv", ["box_sig", const("geom_w", geom.reshape(4, 4, 1, 1)), const("geom_b", geom_b)],
                         ["corner_offsets"], kernel_shape=[1, 1]),
        helper.make_node("Add", ["corner_offsets", const("cell_centres", centre)], ["corners"]),
        helper.make_node("Transpose", ["corners"], ["corners_hwc"], perm=[0, 2, 3, 1]),
        helper.make_node("Reshape", ["corners_hwc", const("box_shape", np.array([1, 400, 4], np.int64))], ["boxes"]),
        helper.make_node("Conv", ["ctx_act", const("cls_w", wc), const("cls_b", bc)], ["cls_raw"], kernel_shape=[1, 1]),
        helper.make_node("Sigmoid", ["cls_raw"], ["cls_sig"]),
        helper.make_node("Reshape", ["cls_sig", const("score_shape", np.array([1, 3, 400], np.int64))], ["scores"]),
        helper.make_node("NonMaxSuppression", ["boxes", "scores", const("max_per_class", np.array([20], np.int64)),
                                               const("iou", np.array([0.45], f32)),
                                               const("score_min", np.array([0.3], f32))], ["selected"]),
        # selected: [K, 3] = (batch, class, box)
        helper.make_node("GatherND", ["scores", "selected"], ["sel_scores"]),
        helper.make_node("Gather", ["selected", const("col2", np.array([2], np.int64))], ["box_index2d"], axis=1),
        helper.make_node("Squeeze", ["box_index2d", const("axis1", np.array([1], np.int64))], ["box_index"]),
        helper.make_node("Squeeze", ["boxes", const("axis0", np.array([0], np.int64))], ["boxes2d"]),
        helper.make_node("Gather", ["boxes2d", "box_index"], ["sel_boxes"], axis=0),
        helper.make_node("Gather", ["selected", const("col1", np.array([1], np.int64))], ["class2d"], axis=1),
        helper.make_node("Squeeze", ["class2d", "axis1"], ["sel_classes"]),
        # by score, highest first
        helper.make_node("Shape", ["sel_scores"], ["count"]),
        helper.make_node("TopK", ["sel_scores", "count"], ["sorted_scores", "order"], axis=0),
        helper.make_node("Gather", ["sel_boxes", "order"], ["sorted_boxes"], axis=0),
        helper.make_node("Gather", ["sel_classes", "order"], ["sorted_classes"], axis=0),
        helper.make_node("Cast", ["sorted_classes"], ["sorted_classes64"], to=TensorProto.INT64),
        helper.make_node("Unsqueeze", ["sorted_boxes", "axis0"], ["detected_boxes"]),
        helper.make_node("Unsqueeze", ["sorted_scores", "axis0"], ["detected_scores"]),
        helper.make_node("Unsqueeze", ["sorted_classes64", "axis0"], ["detected_classes"]),
    ]
    return s1_model(nodes, inits, "synthetic_s1_fruit_detector", "image_tensor", [1], opset=13, ir_version=7)


def ort_node_path():
    """Where onnxruntime-node is: $NODE_PATH, else bench/node/node_modules (installed now with
    `npm ci`, as bench/run.sh does, when missing)."""
    if os.environ.get("NODE_PATH"):
        return os.environ["NODE_PATH"]
    modules = os.path.join(ROOT, "bench", "node", "node_modules")
    if not os.path.isdir(os.path.join(modules, "onnxruntime-node")):
        env = dict(os.environ, ONNXRUNTIME_NODE_INSTALL="skip")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=os.path.dirname(modules), env=env,
                       check=True, stdout=subprocess.DEVNULL)
    return modules


def ort_run(model_path, nchw, half=False):
    """ONNX Runtime (npm onnxruntime-node, tests/parity/ort_run.js) on one NCHW input: {output name:
    array}, float16 outputs widened to float32. half: feed the input as float16 (the float16
    models' input type)."""
    env = dict(os.environ, NODE_PATH=ort_node_path())
    runner = os.path.join(ROOT, "tests", "parity", "ort_run.js")
    with tempfile.NamedTemporaryFile(suffix=".bin") as f:
        f.write(np.ascontiguousarray(nchw, np.float16 if half else np.float32).tobytes())
        f.flush()
        args = ["node", runner, model_path, f.name, ",".join(map(str, nchw.shape))] + (["float16"] if half else [])
        doc = json.loads(subprocess.run(args, check=True, capture_output=True, text=True, env=env).stdout)
    out = {}
    for name, t in doc.items():
        if t["type"] == "float16":
            a = np.array(t["data"], np.uint16).view(np.float16).astype(np.float32)
        elif t["type"] == "float32":
            a = np.array(t["data"], np.float32)
        else:
            a = np.array([int(v) for v in t["data"]], np.int64)
        out[name] = a.reshape(t["dims"])
    return out


def ort_engine(model_path, half=False):
    """ONNX Runtime as the S1 containers' runtime: NHWC [1, 320, 320, 3] in (cast to float16 for a
    float16 model), the outputs as TensorFlow/TFLite give them (no batch dimension, float32) out."""
    seen = []

    def run(nhwc):
        nchw = np.ascontiguousarray(np.asarray(nhwc, np.float32).transpose(0, 3, 1, 2))
        out = ort_run(model_path, nchw, half)
        boxes, scores = out["detected_boxes"][0], out["detected_scores"][0]
        seen.append((boxes, scores, out["detected_classes"][0]))
        return seen[-1]
    return run, seen


def golden(model_path):
    sys.path.insert(0, os.path.join(ROOT, "tests", "parity"))
    import detection_reference as ref  # noqa: E402
    if not ref.available():
        print("reference code absent: models written, golden not", file=sys.stderr)
        return None
    doc = {"description": "tests/data/synthetic/s1_fruit.onnx (SYNTHETIC) on photos; both S1 containers' app.py "
                          "(POST /image: Image.resize to 320x320, RGB 0..255) with ONNX Runtime (onnxruntime-node) "
                          "as their runtime. raw: ONNX Runtime's outputs (batch dimension dropped, hex floats)",
           "labels": FRUIT_LABELS, "photos": []}
    for name, path in PHOTOS:
        engine, seen = ort_engine(model_path)
        with open(path, "rb") as f:
            predictions, body = ref.ssd_photo_agreed(f.read(), FRUIT_LABELS, engine, name)
        doc["photos"].append(ref.s1_golden_photo(name, path, DATA, seen[-1], predictions, body))
    return (json.dumps(doc, indent=1) + "\n").encode()


def main():
    """--check-models: rebuild the models, compare. --check: also the golden (exit 77 without the
    reference code in ../shared, the one allowed skip)."""
    outputs = {OUT: build(), FRUIT: build_fruit()}
    if "--check-models" not in sys.argv:
        with tempfile.TemporaryDirectory() as tmp:
            fruit_tmp = os.path.join(tmp, "s1_fruit.onnx")
            with open(fruit_tmp, "wb") as f:
                f.write(outputs[FRUIT])
            g = golden(fruit_tmp)
        if g is None and "--check" in sys.argv:
            return 77
        if g is not None:
            outputs[GOLDEN] = g
    def same(path, data):
        if path == GOLDEN:  # the body's "created" is the time of the run
            with open(path) as f:
                old = json.load(f)
            new = json.loads(data)
            for d in (old, new):
                for p in d["photos"]:
                    p["container_body"].pop("created", None)
            return old == new
        with open(path, "rb") as f:
            return f.read() == data

    return write_or_check.files(outputs, "--check" in sys.argv or "--check-models" in sys.argv, ROOT, same)


if __name__ == "__main__":
    sys.exit(main())
