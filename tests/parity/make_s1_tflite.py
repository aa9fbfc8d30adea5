#!/usr/bin/python3
"""Writes the synthetic S1 (SSD-style) detector as TFLite exports: a bare
TensorFlow Lite export and the 2024 Docker 2.2 S1 export (app/model.tflite,
folder and zip), and (--golden) the docker-s1-tflite-2024 container's own
answers on four photos with Google's TFLite C runtime as its runtime.

Usage (Debian's /usr/bin/python3 with python3-onnx, python3-numpy,
python3-pil, python3-flask; flatc from flatbuffers-compiler):
    make_s1_tflite.py                   # (re)write tests/data/synthetic/s1_formats/{tflite,docker-s1-tflite-2024}
    make_s1_tflite.py --check           # rebuild in a temporary folder, compare
    make_s1_tflite.py --golden          # also (re)write detection/golden/s1_fruit_tflite.json
    make_s1_tflite.py --golden --check  # ... and compare it (exit 77 without ../shared or the runtime)

What a real S1 TFLite file ends in is not known (every one is >= 4 MiB,
research §3). What the shipped 2024 Docker 2.2 S1 code
(docker-s1-tflite-2024/app/predict.py) requires of it: outputs named
detected_boxes / detected_scores / detected_classes, read by name; no batch
dimension (it zips the three outputs row by row); integer classes (it
indexes the labels list with them). TFLite_Detection_PostProcess gives none
of these (outputs [1,N,4], float classes, named after the op), so the file is
written as an S1 TensorFlow graph (make_s1_tf.py's) converted plausibly
looks (no converter runs here to confirm it): its per-class
NonMaxSuppressionV3 as TFLite's builtin NON_MAX_SUPPRESSION_V4 (outputs
padded to max_output_size, plus the count of valid ones), followed by a
SLICE to that count. Class 2 here uses
NON_MAX_SUPPRESSION_V5 (soft_nms_sigma 0) and its selected_scores output
instead, so both builtins are exercised.

The network and weights are tests/data/synthetic/s1_fruit.onnx's
(make_s1_onnx.py), written NHWC:
  image_tensor [1,320,320,3] RGB 0..255
  -> CONV_2D 4x4/4 VALID, LEAKY_RELU, AVERAGE_POOL_2D 4x4/4, CONV_2D 3x3 SAME,
     LEAKY_RELU; box head CONV_2D 1x1, LOGISTIC, CONV_2D 1x1, ADD cell centres;
     class head CONV_2D 1x1, LOGISTIC
  -> RESHAPE boxes [400,4] (x1,y1,x2,y2) and scores [400,3]
  -> per class c: GATHER(scores, c, axis 1); NON_MAX_SUPPRESSION_V4/V5
     (boxes, scores_c, 20, IoU 0.45, score 0.3); SLICE of the indices (and
     V5's scores) to the valid count; GATHER of the boxes, the scores and a
     constant column of c
  -> CONCATENATION over the classes; SHAPE; TOPK_V2 sorting by score;
     GATHER of boxes and classes by its indices; CAST classes to int64
  -> detected_boxes [N,4], detected_scores [N], detected_classes [N] int64
The subgraph lists its outputs as scores, boxes, classes: readers must go
by name, as predict.py does.

Writes tests/data/synthetic/s1_formats/:
  tflite/                   model.tflite + labels.txt (apple, banana, fruit),
                            cvexport.manifest (TensorFlow/TensorFlowLite,
                            ObjectDetection), the real S1 metadata_properties.json
  tflite-batched/           the same with a batch dimension on the three outputs
                            (EXPAND_DIMS after the sort; the 2024 container's
                            code could not read it, so its golden is tflite's)
  docker-s1-tflite-2024/    app/model.tflite beside the real 2024 S1 Docker 2.2
                            export's manifest and metadata, the labels, a
                            Dockerfile stand-in written here (not Microsoft's)
  docker-s1-tflite-2024.zip the same folder zipped
  tflite-refused/           three copies a reader must refuse naming the operator
                            (refused_variants: soft NMS, UNIQUE after NMS,
                            TFLite_Detection_PostProcess)
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_detector_copies  # noqa: E402
import make_format_copies as mfc  # noqa: E402

REPO = mfc.REPO
ONNX_MODEL = os.path.join(REPO, "tests", "data", "synthetic", "s1_fruit.onnx")
OUT = os.path.join(REPO, "tests", "data", "synthetic", "s1_formats")
EXPORTS = os.path.join(REPO, "tests", "data", "detection", "exports")
DOCKER_SIDE = os.path.join(EXPORTS, "docker-s1-tflite-2024")
GOLDEN = os.path.join(REPO, "tests", "data", "detection", "golden", "s1_fruit_tflite.json")
LABELS = ["apple", "banana", "fruit"]
CELLS = 20
MAX_PER_CLASS, IOU, SCORE_MIN = 20, 0.45, 0.3
V5_CLASSES = {2}  # classes whose NMS is NON_MAX_SUPPRESSION_V5 (its selected_scores read)

# BuiltinOperator values of TensorFlow's schema.fbs (src/model/schemas/tflite.fbs).
CODES = {"CONV_2D": 3, "AVERAGE_POOL_2D": 1, "LEAKY_RELU": 98, "LOGISTIC": 14, "ADD": 0, "RESHAPE": 22,
         "GATHER": 36, "NON_MAX_SUPPRESSION_V4": 120, "NON_MAX_SUPPRESSION_V5": 121, "SLICE": 65,
         "CONCATENATION": 2, "SHAPE": 77, "TOPK_V2": 48, "CAST": 53, "EXPAND_DIMS": 70}
OPTIONS = {"CONV_2D": "Conv2DOptions", "AVERAGE_POOL_2D": "Pool2DOptions", "LEAKY_RELU": "LeakyReluOptions",
           "ADD": "AddOptions", "RESHAPE": "ReshapeOptions", "GATHER": "GatherOptions",
           "NON_MAX_SUPPRESSION_V4": "NonMaxSuppressionV4Options",
           "NON_MAX_SUPPRESSION_V5": "NonMaxSuppressionV5Options", "SLICE": "SliceOptions",
           "CONCATENATION": "ConcatenationOptions", "SHAPE": "ShapeOptions", "TOPK_V2": "TopKV2Options",
           "CAST": "CastOptions", "EXPAND_DIMS": "ExpandDimsOptions"}


def onnx_weights():
    import onnx
    from onnx import numpy_helper
    m = onnx.load(ONNX_MODEL)
    return {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}


class Flat:
    """A TFLite subgraph as flatc's JSON."""

    def __init__(self):
        self.tensors, self.buffers, self.operators, self.codes = [], [{}], [], []

    def tensor(self, name, shape, dtype="FLOAT32", data=None, signature=None):
        entry = {"shape": list(shape), "type": dtype, "buffer": 0, "name": name}
        if signature is not None:
            entry["shape_signature"] = list(signature)
        if data is not None:
            np_type = {"FLOAT32": "<f4", "INT32": "<i4"}[dtype]
            self.buffers.append({"data": list(np.ascontiguousarray(data, dtype=np_type).tobytes())})
            entry["buffer"] = len(self.buffers) - 1
        self.tensors.append(entry)
        return len(self.tensors) - 1

    def const(self, name, array, dtype="FLOAT32"):
        array = np.asarray(array)
        return self.tensor(name, array.shape, dtype, array)

    def dynamic(self, name, shape, dtype="FLOAT32"):
        """A tensor whose length the data decides (-1 in shape_signature, 1 in shape, as the
        converter writes them)."""
        return self.tensor(name, [1 if d < 0 else d for d in shape], dtype, signature=shape)

    def op(self, kind, inputs, outputs, **options):
        if kind not in self.codes:
            self.codes.append(kind)
        entry = {"opcode_index": self.codes.index(kind), "inputs": list(inputs), "outputs": list(outputs)}
        if kind in OPTIONS:
            entry.update(builtin_options_type=OPTIONS[kind], builtin_options=options)
        self.operators.append(entry)
        return outputs[0] if len(outputs) == 1 else outputs

    def document(self, inputs, outputs, description):
        return {"version": 3,
                "operator_codes": [{"deprecated_builtin_code": CODES[c], "builtin_code": c, "version": 1}
                                   for c in self.codes],
                "subgraphs": [{"tensors": self.tensors, "inputs": inputs, "outputs": outputs,
                               "operators": self.operators, "name": "main"}],
                "description": description, "buffers": self.buffers}


def build_model(batched=False):
    """The S1 TFLite graph; `batched`: its three outputs carry a batch dimension ([1, N, 4], [1, N],
    [1, N], by EXPAND_DIMS after the sort), the other layout the issue names ("with or without a
    batch dimension"; the TF Object Detection API's and the ONNX sample's)."""
    w = onnx_weights()
    g = Flat()
    image = g.tensor("image_tensor", [1, 320, 320, 3])

    def conv(name, x, out_hw, stride, padding):
        k = g.const(name + "/weights", w[name + "_w"].transpose(0, 2, 3, 1).astype(np.float32))  # OIHW -> OHWI
        b = g.const(name + "/biases", w[name + "_b"].astype(np.float32))
        y = g.tensor(name + "/BiasAdd", [1, out_hw, out_hw, w[name + "_w"].shape[0]])
        return g.op("CONV_2D", [x, k, b], [y], padding=padding, stride_w=stride, stride_h=stride,
                    fused_activation_function="NONE")

    def unary(kind, name, x, shape, **options):
        return g.op(kind, [x], [g.tensor(name, shape)], **options)

    x = conv("feat", image, 80, 4, "VALID")
    x = unary("LEAKY_RELU", "feat/LeakyRelu", x, [1, 80, 80, 3], alpha=0.1)
    x = unary("AVERAGE_POOL_2D", "cells", x, [1, 20, 20, 3], padding="VALID", stride_w=4, stride_h=4,
              filter_width=4, filter_height=4, fused_activation_function="NONE")
    x = conv("ctx", x, 20, 1, "SAME")
    ctx = unary("LEAKY_RELU", "ctx/LeakyRelu", x, [1, 20, 20, 6], alpha=0.1)
    box = unary("LOGISTIC", "box/Sigmoid", conv("box", ctx, 20, 1, "SAME"), [1, 20, 20, 4])
    centres = g.const("cell_centres", w["cell_centres"].transpose(0, 2, 3, 1).astype(np.float32))
    corners = g.op("ADD", [conv("geom", box, 20, 1, "SAME"), centres], [g.tensor("corners", [1, 20, 20, 4])],
                   fused_activation_function="NONE")
    cls = unary("LOGISTIC", "cls/Sigmoid", conv("cls", ctx, 20, 1, "SAME"), [1, 20, 20, len(LABELS)])

    def i32(name, value):
        return g.const(name, np.array(value, np.int32), "INT32")

    n = CELLS * CELLS
    boxes = g.op("RESHAPE", [corners, i32("boxes/shape", [n, 4])], [g.tensor("boxes", [n, 4])],
                 new_shape=[n, 4])
    scores = g.op("RESHAPE", [cls, i32("scores/shape", [n, len(LABELS)])],
                  [g.tensor("scores", [n, len(LABELS)])], new_shape=[n, len(LABELS)])

    max_out = i32("nms/max_output_size", MAX_PER_CLASS)
    iou = g.const("nms/iou_threshold", np.array(IOU, np.float32))
    score_min = g.const("nms/score_threshold", np.array(SCORE_MIN, np.float32))
    sigma = g.const("nms/soft_nms_sigma", np.array(0.0, np.float32))
    begin, one = i32("nms/begin", [0]), i32("nms/count_shape", [1])
    parts = {"boxes": [], "scores": [], "classes": []}
    for c in range(len(LABELS)):
        p = "nms/class_%d/" % c
        s = g.op("GATHER", [scores, i32(p + "column", c)], [g.tensor(p + "scores", [n])], axis=1, batch_dims=0)
        padded = g.tensor(p + "NonMaxSuppression", [MAX_PER_CLASS], "INT32")
        valid = g.tensor(p + "NonMaxSuppression:" + ("2" if c in V5_CLASSES else "1"), [], "INT32")
        if c in V5_CLASSES:
            padded_scores = g.tensor(p + "NonMaxSuppression:1", [MAX_PER_CLASS])
            g.op("NON_MAX_SUPPRESSION_V5", [boxes, s, max_out, iou, score_min, sigma],
                 [padded, padded_scores, valid])
        else:
            g.op("NON_MAX_SUPPRESSION_V4", [boxes, s, max_out, iou, score_min], [padded, valid])
        count = g.op("RESHAPE", [valid, one], [g.tensor(p + "count", [1], "INT32")], new_shape=[1])
        sel = g.op("SLICE", [padded, begin, count], [g.dynamic(p + "selected", [-1], "INT32")])
        parts["boxes"].append(g.op("GATHER", [boxes, sel], [g.dynamic(p + "boxes", [-1, 4])], axis=0))
        if c in V5_CLASSES:
            parts["scores"].append(g.op("SLICE", [padded_scores, begin, count],
                                        [g.dynamic(p + "selected_scores", [-1])]))
        else:
            parts["scores"].append(g.op("GATHER", [s, sel], [g.dynamic(p + "selected_scores", [-1])], axis=0))
        parts["classes"].append(g.op("GATHER", [i32(p + "class_ids", [c] * n), sel],
                                     [g.dynamic(p + "classes", [-1], "INT32")], axis=0))
    cat = {}
    for k, (shape, dtype) in {"boxes": ([-1, 4], "FLOAT32"), "scores": ([-1], "FLOAT32"),
                              "classes": ([-1], "INT32")}.items():
        cat[k] = g.op("CONCATENATION", parts[k], [g.dynamic("nms/concat_" + k, shape, dtype)], axis=0,
                      fused_activation_function="NONE")
    k = g.op("SHAPE", [cat["scores"]], [g.tensor("sort/count", [1], "INT32")], out_type="INT32")
    inner = (lambda name: name + "/unbatched") if batched else (lambda name: name)
    det_scores = g.dynamic(inner("detected_scores"), [-1])
    order = g.dynamic("sort/TopKV2:1", [-1], "INT32")
    g.op("TOPK_V2", [cat["scores"], k], [det_scores, order])
    det_boxes = g.op("GATHER", [cat["boxes"], order], [g.dynamic(inner("detected_boxes"), [-1, 4])], axis=0)
    classes = g.op("GATHER", [cat["classes"], order], [g.dynamic("sort/classes", [-1], "INT32")], axis=0)
    det_classes = g.op("CAST", [classes], [g.dynamic(inner("detected_classes"), [-1])], in_data_type="INT32",
                       out_data_type="INT64")
    g.tensors[det_classes]["type"] = "INT64"
    outputs = [det_scores, det_boxes, det_classes]
    if batched:
        axis = g.const("batch/axis", np.array(0, np.int32), "INT32")
        outputs = [g.op("EXPAND_DIMS", [t, axis], [g.dynamic(name, shape, dtype)])
                   for t, name, shape, dtype in ((det_scores, "detected_scores", [1, -1], "FLOAT32"),
                                                 (det_boxes, "detected_boxes", [1, -1, 4], "FLOAT32"),
                                                 (det_classes, "detected_classes", [1, -1], "INT64"))]
    return g.document([image], outputs,
                      "edgevision make_s1_tflite.py (SYNTHETIC S1 detector)")


def refused_variants(doc):
    """Copies of the model a reader must refuse, naming the operator: {file name: document}.
    soft_nms.tflite: class 2's NON_MAX_SUPPRESSION_V5 with soft_nms_sigma 0.5;
    unique_after_nms.tflite: the TOPK_V2 sorting the rows is a UNIQUE;
    detection_postprocess.tflite: the first NMS is the custom op TFLite_Detection_PostProcess
    (the TF Object Detection API's SSD post-processing)."""
    import copy
    out = {}

    def variant(edit):
        d = copy.deepcopy(doc)
        edit(d)
        return d

    def sigma(d):
        t = next(t for t in d["subgraphs"][0]["tensors"] if t["name"] == "nms/soft_nms_sigma")
        d["buffers"][t["buffer"]]["data"] = list(np.array(0.5, "<f4").tobytes())
    out["soft_nms.tflite"] = variant(sigma)

    def recode(old, new):
        def edit(d):
            code = next(c for c in d["operator_codes"] if c["builtin_code"] == old)
            code.update(new)
        return edit
    out["unique_after_nms.tflite"] = variant(recode("TOPK_V2", {"builtin_code": "ADD", "deprecated_builtin_code": 103}))
    out["detection_postprocess.tflite"] = variant(recode("NON_MAX_SUPPRESSION_V4", {
        "builtin_code": "ADD", "deprecated_builtin_code": 32, "custom_code": "TFLite_Detection_PostProcess"}))
    return out


def flatc(doc, path, work):
    stem = os.path.splitext(os.path.basename(path))[0]
    js = os.path.join(work, stem + ".json")
    with open(js, "w") as f:
        json.dump(doc, f)
    subprocess.run(["flatc", "--binary", "-o", work, os.path.join(mfc.SCHEMAS, "tflite.fbs"), js], check=True)
    shutil.move(os.path.join(work, stem + ".tflite"), path)
    with open(path, "rb") as f:
        return f.read()


def write_tflite(path, work):
    doc = build_model()
    for name, variant in refused_variants(doc).items():
        os.makedirs(os.path.join(os.path.dirname(os.path.dirname(path)), "tflite-refused"), exist_ok=True)
        flatc(variant, os.path.join(os.path.dirname(os.path.dirname(path)), "tflite-refused", name), work)
    return flatc(doc, path, work)


DOCKERFILE = ("# edgevision test stand-in for a Custom Vision [S1] Dockerfile export (ExporterVersion 2.2,\n"
              "# model.tflite); the real one installs tflite-runtime and runs app/app.py. Written by\n"
              "# make_s1_tflite.py.\n"
              "FROM python:3.9-slim-bookworm\nCOPY app /app\nCMD python -u /app/app.py\n")


def build(out, work):
    with open(os.path.join(DOCKER_SIDE, "metadata_properties.json")) as f:
        metadata = json.load(f)
    labels = os.path.join(work, "labels.txt")
    with open(labels, "w") as f:
        f.write("\n".join(LABELS) + "\n")
    folder = os.path.join(out, "tflite")
    os.makedirs(folder, exist_ok=True)
    data = write_tflite(os.path.join(folder, "model.tflite"), work)
    mfc.side_files(folder, "TensorFlow", "TensorFlowLite", "model.tflite", data, labels, metadata, "ObjectDetection")

    batched = os.path.join(out, "tflite-batched")
    os.makedirs(batched, exist_ok=True)
    data = flatc(build_model(batched=True), os.path.join(batched, "model.tflite"), work)
    mfc.side_files(batched, "TensorFlow", "TensorFlowLite", "model.tflite", data, labels, metadata, "ObjectDetection")

    docker = os.path.join(out, "docker-s1-tflite-2024")
    app = os.path.join(docker, "app")
    os.makedirs(app, exist_ok=True)
    shutil.copyfile(os.path.join(folder, "model.tflite"), os.path.join(app, "model.tflite"))
    for name in ("cvexport.manifest", "metadata_properties.json"):
        shutil.copyfile(os.path.join(DOCKER_SIDE, name), os.path.join(app, name))
    shutil.copyfile(labels, os.path.join(app, "labels.txt"))
    with open(os.path.join(docker, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE)
    make_detector_copies.write_zip(docker, os.path.join(out, "docker-s1-tflite-2024.zip"), "s1_fruit.DockerFile.Linux")


PRODUCED = ("tflite", "tflite-batched", "tflite-refused", "docker-s1-tflite-2024", "docker-s1-tflite-2024.zip")


def golden(model_path):
    """s1_fruit_tflite.json's text: docker-s1-tflite-2024's app.py answering POST /image with each
    photo, tflite_runtime.interpreter.Interpreter being Google's TFLite C runtime (tflite_peer.py)
    on `model_path`. None when the reference code or the runtime is absent."""
    import detection_reference as ref
    import tflite_peer
    sys.path.insert(0, os.path.join(REPO, "tests", "data", "synthetic"))
    from make_s1_onnx import PHOTOS, DATA
    if not ref.available() or not tflite_peer.available():
        print("reference code or TFLite C runtime absent: golden not made", file=sys.stderr)
        return None
    doc = {"description": "tests/data/synthetic/s1_formats/tflite/model.tflite (SYNTHETIC) on photos; the 2024 "
                          "Docker 2.2 S1 container's app.py (POST /image: Image.resize to 320x320, RGB 0..255, "
                          "outputs read by name) with Google's TFLite C runtime 2.9 (npm tfjs-tflite-node, "
                          "tests/parity/tflite_peer.py) as tflite_runtime. raw: the runtime's outputs (hex floats)",
           "labels": LABELS, "photos": []}
    for name, path in PHOTOS:
        with open(path, "rb") as f:
            predictions, body, raw = ref.ssd_tflite_container(
                f.read(), LABELS, lambda: tflite_peer.TfliteInterpreter(model_path, any_output=True))
        raw = (raw["detected_boxes"], raw["detected_scores"], raw["detected_classes"])
        doc["photos"].append(ref.s1_golden_photo(name, path, DATA, raw, predictions, body))
    return json.dumps(doc, indent=1) + "\n"


def write_or_check_golden(path, text, check):
    """Writes the golden `text` to `path`, or with `check` compares it with what is there (same_golden,
    printed). Returns 1 when it differs, else 0."""
    if not check:
        with open(path, "w") as f:
            f.write(text)
        return 0
    with open(path) as f:
        same = same_golden(f.read(), text)
    print(os.path.relpath(path, REPO), "ok" if same else "DIFFERS")
    return 0 if same else 1


def same_golden(old_text, new_text):
    old, new = json.loads(old_text), json.loads(new_text)
    for d in (old, new):  # a container body's "created" is the time of the run
        for p in d["photos"]:
            p.get("container_body", {}).pop("created", None)
    return old == new


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="rebuild in a temporary folder and compare, write nothing")
    ap.add_argument("--golden", action="store_true", help="also make s1_fruit_tflite.json (or --check it)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        target = os.path.join(work, "out") if args.check else OUT
        if not args.check:
            for p in PRODUCED:
                path = os.path.join(OUT, p)
                shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else None
        os.makedirs(target, exist_ok=True)
        build(target, work)
        status = 0
        if args.check:
            for p in PRODUCED:
                a, b = os.path.join(target, p), os.path.join(OUT, p)
                if os.path.isdir(a):
                    status |= mfc.compare_trees(a, b, REPO)
                else:
                    with open(a, "rb") as fa, open(b, "rb") as fb:
                        same = fa.read() == fb.read()
                    print(os.path.relpath(b, REPO), "ok" if same else "DIFFERS")
                    status |= 0 if same else 1
        if args.golden:
            text = golden(os.path.join(target, "tflite", "model.tflite"))
            if text is None:
                return 77 if args.check else 0
            status |= write_or_check_golden(GOLDEN, text, args.check)
        return status


if __name__ == "__main__":
    sys.exit(main())
