#!/usr/bin/python3
"""Writes the synthetic S1 (SSD-style) detector as TensorFlow exports: a frozen
GraphDef with the S1 TensorFlow contract, as a bare TensorFlow export, as
the 2023 Dockerfile export (model.pb), as a SavedModel and as TF.js.

Usage (Debian's /usr/bin/python3 with python3-onnx, python3-protobuf,
python3-numpy; protoc from protobuf-compiler):
    make_s1_tf.py            # (re)write tests/data/synthetic/s1_formats/
    make_s1_tf.py --check    # rebuild in a temporary folder, compare

The network and its weights are tests/data/synthetic/s1_fruit.onnx's
(make_s1_onnx.py, read from that file): colour features, 16-pixel cells,
a box head and a class head. The contract is the S1 TensorFlow one
(docker-s1-pb-2023's predict.py: input `image_tensor:0`, its shape [1:3]
the resize target; outputs `detected_boxes:0`, `detected_scores:0`,
`detected_classes:0` without a batch dimension; research §2.2):
  image_tensor [1,320,320,3] NHWC, RGB 0..255
  -> boxes [400,4] (x1,y1,x2,y2) and scores [400,3] (Reshape of NHWC maps)
  -> per class c (unrolled, as TensorFlow's object-detection code builds
     its multi-class NMS): GatherV2(scores, c, axis 1);
     NonMaxSuppressionV3(boxes, scores_c, 20, 0.45, 0.3); GatherV2 of the
     boxes, the scores and a constant column of c by the selected indices
  -> ConcatV2 over the classes, then the rows sorted by score (Shape,
     Reshape to a scalar, TopKV2, GatherV2), classes Cast to int64
  -> detected_boxes [N,4], detected_scores [N], detected_classes [N] int64
(s1_fruit.onnx does the same with ONNX's multi-class NonMaxSuppression:
same rows, same order, so its golden, s1_fruit.json, made by both S1
containers' own code with ONNX Runtime as their runtime, is this graph's
too; the two suppression rules differ only at IoU exactly 0.45.)

Two more frozen graphs end in TensorFlow's CombinedNonMaxSuppression instead
(tf.image.combined_non_max_suppression with its defaults: boxes [1,400,1,4],
scores [1,400,3], 20 per class, max_total_size 44, IoU 0.45, score 0.3,
pad_per_class False, clip_boxes True), the batch squeezed away and the float
classes Cast to int64: `tf-combined` Slices each output to valid_detections
rows; `tf-combined-padded` returns all 44 rows (zeros past the valid ones).
Their goldens (--golden) are the 2023 S1 container's app.py with TensorFlow
replaced by ONNX Runtime for the network (s1_fruit.onnx cut at its NMS
inputs) and by this script's numpy reimplementation of TensorFlow 2.0's
CombinedNonMaxSuppression kernel for the tail:
  tests/data/detection/golden/s1_fruit_combined.json,
  tests/data/detection/golden/s1_fruit_combined_padded.json
    make_s1_tf.py --golden          # (re)write the folders and the goldens
    make_s1_tf.py --check --golden  # compare both (77 without ../shared)

Writes tests/data/synthetic/s1_formats/:
  tf/                 model.pb + labels.txt (apple, banana, fruit),
                      cvexport.manifest (TensorFlow, DomainType
                      ObjectDetection), the real S1 metadata_properties.json
  savedmodel/         the same graph as a SavedModel (weights as resource
                      variables, signature `serving_default` naming
                      `image_tensor` and the three detected_* outputs)
  tfjs/               the same graph as a TF.js graph model
  tf-combined/, tf-combined-padded/
                      the CombinedNonMaxSuppression graphs, bare TensorFlow
                      exports (side files as tf/)
  docker-s1-pb-2023/  app/model.pb beside the real 2023 S1 Dockerfile
                      export's manifest, the S1 metadata and the labels; a
                      Dockerfile stand-in written here (not Microsoft's)
  docker-s1-pb-2023.zip
                      that folder zipped under one top-level folder, as
                      downloaded (fixed timestamps: reproducible)
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
import make_format_copies as mfc  # noqa: E402

REPO = mfc.REPO
ONNX_MODEL = os.path.join(REPO, "tests", "data", "synthetic", "s1_fruit.onnx")
OUT = os.path.join(REPO, "tests", "data", "synthetic", "s1_formats")
EXPORTS = os.path.join(REPO, "tests", "data", "detection", "exports")
METADATA = os.path.join(EXPORTS, "docker-s1-tflite-2024", "metadata_properties.json")
LABELS = ["apple", "banana", "fruit"]
CELLS = 20
MAX_PER_CLASS, IOU, SCORE_MIN = 20, 0.45, 0.3
COMBINED_TOTAL = 44  # max_total_size: cuts two photos' rows, pads the others
COMBINED = {"tf-combined": "combined", "tf-combined-padded": "combined-padded"}
GOLDENS = {ending: os.path.join(REPO, "tests", "data", "detection", "golden",
                                "s1_fruit_%s.json" % ending.replace("-", "_")) for ending in COMBINED.values()}


def onnx_weights():
    import onnx
    from onnx import numpy_helper
    m = onnx.load(ONNX_MODEL)
    return {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}


def build_graph(pb, ending="v3"):
    """The S1 graph; `ending` is its NMS: "v3" (per class, unrolled), "combined" (CombinedNonMaxSuppression,
    rows cut to valid_detections) or "combined-padded" (CombinedNonMaxSuppression, all max_total_size rows)."""
    w = onnx_weights()
    tg = mfc.TfGraph(pb)
    F = ("type", pb.DT_FLOAT)
    I32 = ("type", pb.DT_INT32)
    tg.node("image_tensor", "Placeholder", dtype=F, shape=("shape", [1, 320, 320, 3]))

    def conv(name, x, stride, padding):
        k = tg.const(name + "/weights", w[name + "_w"].transpose(2, 3, 1, 0).astype(np.float32),  # OIHW -> HWIO
                     weight=True)
        b = tg.const(name + "/biases", w[name + "_b"].astype(np.float32), weight=True)
        y = tg.node(name + "/Conv2D", "Conv2D", [x, k], T=F, strides=("ints", [1, stride, stride, 1]),
                    padding=padding, data_format=b"NHWC", dilations=("ints", [1, 1, 1, 1]))
        return tg.node(name + "/BiasAdd", "BiasAdd", [y, b], T=F, data_format=b"NHWC")

    def i32(name, value):
        return tg.const(name, np.array(value, np.int32))

    x = conv("feat", "image_tensor", 4, b"VALID")
    x = tg.node("feat/LeakyRelu", "LeakyRelu", [x], T=F, alpha=0.1)
    x = tg.node("cells", "AvgPool", [x], T=F, ksize=("ints", [1, 4, 4, 1]), strides=("ints", [1, 4, 4, 1]),
                padding=b"VALID", data_format=b"NHWC")
    x = conv("ctx", x, 1, b"SAME")
    ctx = tg.node("ctx/LeakyRelu", "LeakyRelu", [x], T=F, alpha=0.1)
    box = tg.node("box/Sigmoid", "Sigmoid", [conv("box", ctx, 1, b"SAME")], T=F)
    centres = tg.const("cell_centres", w["cell_centres"].transpose(0, 2, 3, 1).astype(np.float32), weight=True)
    corners = tg.node("corners", "AddV2", [conv("geom", box, 1, b"SAME"), centres], T=F)
    boxes = tg.node("boxes", "Reshape", [corners, i32("boxes/shape", [CELLS * CELLS, 4])], T=F, Tshape=I32)
    cls = tg.node("cls/Sigmoid", "Sigmoid", [conv("cls", ctx, 1, b"SAME")], T=F)
    scores = tg.node("scores", "Reshape", [cls, i32("scores/shape", [CELLS * CELLS, len(LABELS)])], T=F, Tshape=I32)

    if ending != "v3":
        return combined_ending(tg, pb, boxes, scores, ending == "combined-padded"), None

    # The multi-class NMS, unrolled per class.
    max_out = i32("nms/max_output_size", MAX_PER_CLASS)
    iou = tg.const("nms/iou_threshold", np.array(IOU, np.float32))
    score_min = tg.const("nms/score_threshold", np.array(SCORE_MIN, np.float32))
    axis0, axis1 = i32("nms/axis0", 0), i32("nms/axis1", 1)
    parts = {"boxes": [], "scores": [], "classes": []}
    for c in range(len(LABELS)):
        p = "nms/class_%d/" % c
        s = tg.node(p + "scores", "GatherV2", [scores, i32(p + "column", c), axis1], Tparams=F, Tindices=I32,
                    Taxis=I32, batch_dims=0)
        sel = tg.node(p + "NonMaxSuppressionV3", "NonMaxSuppressionV3", [boxes, s, max_out, iou, score_min], T=F)
        parts["boxes"].append(tg.node(p + "boxes", "GatherV2", [boxes, sel, axis0], Tparams=F, Tindices=I32,
                                      Taxis=I32, batch_dims=0))
        parts["scores"].append(tg.node(p + "selected_scores", "GatherV2", [s, sel, axis0], Tparams=F,
                                       Tindices=I32, Taxis=I32, batch_dims=0))
        ids = i32(p + "class_ids", [c] * (CELLS * CELLS))
        parts["classes"].append(tg.node(p + "classes", "GatherV2", [ids, sel, axis0], Tparams=I32, Tindices=I32,
                                        Taxis=I32, batch_dims=0))
    cat = {}
    for k, T in (("boxes", F), ("scores", F), ("classes", I32)):
        cat[k] = tg.node("nms/concat_" + k, "ConcatV2", parts[k] + [axis0], T=T, N=len(LABELS), Tidx=I32)
    count = tg.node("sort/count", "Shape", [cat["scores"]], T=F, out_type=I32)
    k = tg.node("sort/k", "Reshape", [count, i32("sort/scalar", [])], T=I32, Tshape=I32)
    top = tg.node("sort/TopKV2", "TopKV2", [cat["scores"], k], T=F, sorted=True)
    order = top + ":1"
    tg.node("detected_boxes", "GatherV2", [cat["boxes"], order, axis0], Tparams=F, Tindices=I32, Taxis=I32,
            batch_dims=0)
    tg.node("detected_scores", "Identity", [top], T=F)
    classes = tg.node("sort/classes", "GatherV2", [cat["classes"], order, axis0], Tparams=I32, Tindices=I32,
                      Taxis=I32, batch_dims=0)
    tg.node("detected_classes", "Cast", [classes], SrcT=I32, DstT=("type", pb.DT_INT64), Truncate=False)
    signature = {"input": ("image_tensor", "image_tensor", [1, 320, 320, 3]),
                 "outputs": [("detected_boxes", "detected_boxes", pb.DT_FLOAT, [-1, 4]),
                             ("detected_scores", "detected_scores", pb.DT_FLOAT, [-1]),
                             ("detected_classes", "detected_classes", pb.DT_INT64, [-1])],
                 "domain": "ObjectDetection"}
    return tg, signature


def combined_ending(tg, pb, boxes, scores, padded):
    """tf.image.combined_non_max_suppression(boxes[None, :, None, :], scores[None], 20, COMBINED_TOTAL, 0.45,
    0.3) with TensorFlow's defaults (pad_per_class False, clip_boxes True), the batch squeezed away and the
    float classes cast to int64; unless `padded`, each output Sliced to valid_detections rows."""
    F = ("type", pb.DT_FLOAT)
    I32 = ("type", pb.DT_INT32)

    def i32(name, value):
        return tg.const(name, np.array(value, np.int32))

    q = tg.node("nms/boxes_q", "ExpandDims", [boxes, i32("nms/axis1", 1)], T=F, Tdim=I32)
    b4 = tg.node("nms/boxes_batch", "ExpandDims", [q, i32("nms/axis0", 0)], T=F, Tdim=I32)
    s3 = tg.node("nms/scores_batch", "ExpandDims", [scores, "nms/axis0"], T=F, Tdim=I32)
    nms = tg.node("nms/CombinedNonMaxSuppression", "CombinedNonMaxSuppression",
                  [b4, s3, i32("nms/max_output_size_per_class", MAX_PER_CLASS),
                   i32("nms/max_total_size", COMBINED_TOTAL), tg.const("nms/iou_threshold", np.array(IOU, np.float32)),
                   tg.const("nms/score_threshold", np.array(SCORE_MIN, np.float32))],
                  pad_per_class=False, clip_boxes=True)
    if padded:
        tg.node("detected_boxes", "Squeeze", [nms], T=F, squeeze_dims=("ints", [0]))
        tg.node("detected_scores", "Squeeze", [nms + ":1"], T=F, squeeze_dims=("ints", [0]))
        classes = tg.node("nms/classes", "Squeeze", [nms + ":2"], T=F, squeeze_dims=("ints", [0]))
    else:
        valid = nms + ":3"
        rows = {}
        for k, what in enumerate(("boxes", "scores", "classes")):
            rows[what] = tg.node("nms/all_" + what, "Squeeze", [nms + (":%d" % k if k else "")], T=F,
                                 squeeze_dims=("ints", [0]))
        size2 = tg.node("nms/boxes_size", "ConcatV2", [valid, i32("nms/to_the_end", [-1]), "nms/axis0"], T=I32, N=2,
                        Tidx=I32)
        tg.node("detected_boxes", "Slice", [rows["boxes"], i32("nms/begin2", [0, 0]), size2], T=F, Index=I32)
        tg.node("detected_scores", "Slice", [rows["scores"], i32("nms/begin1", [0]), valid], T=F, Index=I32)
        classes = tg.node("nms/classes", "Slice", [rows["classes"], "nms/begin1", valid], T=F, Index=I32)
    tg.node("detected_classes", "Cast", [classes], SrcT=F, DstT=("type", pb.DT_INT64), Truncate=False)
    return tg


# --- the golden: the 2023 S1 container's code, TensorFlow replaced by ONNX Runtime (the network) and a numpy
# reimplementation of TensorFlow 2.0's CombinedNonMaxSuppression CPU kernel (the tail) ----------------------------

def tf_iou(a, b):
    """TensorFlow's IOU (non_max_suppression_op.cc), in float32: corners in either order, 0 without area."""
    f = np.float32
    ay0, ax0, ay1, ax1 = min(a[0], a[2]), min(a[1], a[3]), max(a[0], a[2]), max(a[1], a[3])
    by0, bx0, by1, bx1 = min(b[0], b[2]), min(b[1], b[3]), max(b[0], b[2]), max(b[1], b[3])
    area_a, area_b = f((ay1 - ay0) * (ax1 - ax0)), f((by1 - by0) * (bx1 - bx0))
    if area_a <= 0 or area_b <= 0:
        return f(0)
    inter = f(max(f(min(ay1, by1) - max(ay0, by0)), f(0)) * max(f(min(ax1, bx1) - max(ax0, bx0)), f(0)))
    return f(inter / f(f(area_a + area_b) - inter))


def combined_nms(boxes, scores, max_per_class, max_total, iou_threshold, score_threshold, pad_per_class=False,
                 clip_boxes=True):
    """TensorFlow 2.0's CombinedNonMaxSuppression on boxes [B,N,q,4], scores [B,N,C] (float32). The kernel
    std::sorts (unstable) by score; equal scores would make the order implementation-defined, so they are
    refused here rather than guessed."""
    boxes, scores = np.asarray(boxes, np.float32), np.asarray(scores, np.float32)
    batches, n, q, _ = boxes.shape
    classes = scores.shape[2]
    per_batch = min(max_total, max_per_class * classes) if pad_per_class else max_total
    out_boxes = np.zeros((batches, per_batch, 4), np.float32)
    out_scores = np.zeros((batches, per_batch), np.float32)
    out_classes = np.zeros((batches, per_batch), np.float32)
    valid = np.zeros((batches,), np.int32)
    iou_t, score_t = np.float32(iou_threshold), np.float32(score_threshold)
    for b in range(batches):
        results = []
        for c in range(classes):
            col = c if q > 1 else 0
            cand = [(i, scores[b, i, c]) for i in range(n) if scores[b, i, c] > score_t]
            assert len({s for _, s in cand}) == len(cand), "equal scores: the kernel's order is not defined"
            cand.sort(key=lambda t: -t[1])
            selected = []
            for i, sc in cand:
                if len(selected) >= min(max_per_class, n):
                    break
                if all(not (tf_iou(boxes[b, i, col], boxes[b, j, col]) > iou_t) for j in reversed(selected)):
                    selected.append(i)
                    results.append((sc, c, boxes[b, i, col]))
        assert len({r[0] for r in results}) == len(results), "equal scores across classes"
        results.sort(key=lambda r: -r[0])
        kept = min(len(results), per_batch)
        valid[b] = kept
        for k, (sc, c, box) in enumerate(results[:kept]):
            out_boxes[b, k] = np.clip(box, 0, 1) if clip_boxes else box
            out_scores[b, k] = sc
            out_classes[b, k] = c
    return out_boxes, out_scores, out_classes, valid


def network_engine(work):
    """ONNX Runtime (npm onnxruntime-node, tests/parity/ort_run.js) on s1_fruit.onnx cut at its NMS inputs:
    nhwc [1,320,320,3] -> (boxes [400,4], scores [400,3]), as this graph's `boxes` and `scores`."""
    import onnx
    from onnx import TensorProto, helper
    sys.path.insert(0, os.path.join(REPO, "tests", "data", "synthetic"))
    import make_s1_onnx
    m = onnx.load(ONNX_MODEL)
    del m.graph.output[:]
    m.graph.output.extend([helper.make_tensor_value_info("boxes", TensorProto.FLOAT, None),
                           helper.make_tensor_value_info("scores", TensorProto.FLOAT, None)])
    cut = os.path.join(work, "s1_fruit_network.onnx")
    onnx.save(m, cut)
    env = dict(os.environ, NODE_PATH=make_s1_onnx.ort_node_path())
    runner = os.path.join(REPO, "tests", "parity", "ort_run.js")

    def run(nhwc):
        nchw = np.ascontiguousarray(np.asarray(nhwc, np.float32).transpose(0, 3, 1, 2))
        path = os.path.join(work, "input.f32")
        with open(path, "wb") as f:
            f.write(nchw.tobytes())
        out = subprocess.run(["node", runner, cut, path, ",".join(map(str, nchw.shape))], check=True,
                             capture_output=True, text=True, env=env).stdout
        doc = json.loads(out)
        boxes = np.array(doc["boxes"]["data"], np.float32).reshape(doc["boxes"]["dims"])[0]     # [1,400,4]
        scores = np.array(doc["scores"]["data"], np.float32).reshape(doc["scores"]["dims"])[0]  # [1,3,400]
        return boxes, np.ascontiguousarray(scores.T)
    return run


def combined_graph_outputs(boxes, scores, padded):
    """What the combined graph's tail computes from the network's boxes [400,4] and scores [400,3]."""
    nb, ns, nc, valid = combined_nms(boxes[None, :, None, :], scores[None], MAX_PER_CLASS, COMBINED_TOTAL, IOU,
                                     SCORE_MIN)
    rows = nb.shape[1] if padded else int(valid[0])
    return nb[0, :rows], ns[0, :rows], nc[0, :rows].astype(np.int64)


def golden(ending, work):
    """The golden's text for `ending` ("combined" or "combined-padded"); None without the reference code."""
    sys.path.insert(0, HERE)
    import detection_reference as ref
    sys.path.insert(0, os.path.join(REPO, "tests", "data", "synthetic"))
    from make_s1_onnx import PHOTOS, DATA
    if not ref.available():
        print("reference code absent: golden not made", file=sys.stderr)
        return None
    network = network_engine(work)
    seen = []

    def engine(nhwc):
        out = combined_graph_outputs(*network(nhwc), ending == "combined-padded")
        seen.append(out)
        return out
    rows = "all max_total_size rows" if ending == "combined-padded" else "rows cut to valid_detections"
    doc = {"description": "tests/data/synthetic/s1_formats/tf-%s (SYNTHETIC: CombinedNonMaxSuppression, %s) on "
                          "photos; the 2023 S1 Dockerfile container's app.py (POST /image: Image.resize to "
                          "320x320, RGB 0..255; the 2024 container's code gives the same) with TensorFlow replaced "
                          "by ONNX Runtime (onnxruntime-node) for the network and a numpy reimplementation of "
                          "TensorFlow 2.0's CombinedNonMaxSuppression kernel for the tail "
                          "(tests/parity/make_s1_tf.py). raw: those outputs (hex floats)" % (ending, rows),
           "labels": LABELS, "photos": []}
    for name, path in PHOTOS:
        with open(path, "rb") as f:
            predictions, body = ref.ssd_photo_agreed(f.read(), LABELS, engine, name)
        doc["photos"].append(ref.s1_golden_photo(name, path, DATA, seen[-1], predictions, body))
    return json.dumps(doc, indent=1) + "\n"


DOCKERFILE = ("# edgevision test stand-in for a Custom Vision [S1] Dockerfile export (ExporterVersion 2.1,\n"
              "# model.pb); the real one installs TensorFlow 2.0 and runs app/app.py. Written by make_s1_tf.py.\n"
              "FROM python:3.7-slim\nCOPY app /app\nCMD python -u /app/app.py\n")


def build(out, work):
    pb, spb = mfc.tf_protos(work)
    graph = build_graph(pb)[0].g.SerializeToString(deterministic=True)
    with open(METADATA) as f:
        metadata = json.load(f)
    labels = os.path.join(work, "labels.txt")
    with open(labels, "w") as f:
        f.write("\n".join(LABELS) + "\n")
    folder = os.path.join(out, "tf")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "model.pb"), "wb") as f:
        f.write(graph)
    mfc.side_files(folder, "TensorFlow", None, "model.pb", graph, labels, metadata, "ObjectDetection")

    app = os.path.join(out, "docker-s1-pb-2023", "app")
    os.makedirs(app, exist_ok=True)
    with open(os.path.join(app, "model.pb"), "wb") as f:
        f.write(graph)
    shutil.copyfile(os.path.join(EXPORTS, "docker-s1-pb-2023", "cvexport.manifest"),
                    os.path.join(app, "cvexport.manifest"))
    shutil.copyfile(METADATA, os.path.join(app, "metadata_properties.json"))
    shutil.copyfile(labels, os.path.join(app, "labels.txt"))
    with open(os.path.join(out, "docker-s1-pb-2023", "Dockerfile"), "w") as f:
        f.write(DOCKERFILE)
    import make_detector_copies
    make_detector_copies.write_zip(os.path.join(out, "docker-s1-pb-2023"), os.path.join(out, "docker-s1-pb-2023.zip"),
                                   "s1_fruit.DockerFile.Linux")
    for folder_name, ending in COMBINED.items():
        folder = os.path.join(out, folder_name)
        os.makedirs(folder, exist_ok=True)
        data = build_graph(pb, ending)[0].g.SerializeToString(deterministic=True)
        with open(os.path.join(folder, "model.pb"), "wb") as f:
            f.write(data)
        mfc.side_files(folder, "TensorFlow", None, "model.pb", data, labels, metadata, "ObjectDetection")
    # Each writer turns the graph's weights into variables / shards: a fresh graph each.
    mfc.write_saved_model(None, pb, spb, os.path.join(out, "savedmodel"), labels, metadata, graph=build_graph(pb))
    mfc.write_tfjs(None, pb, os.path.join(out, "tfjs"), labels, metadata, graph=build_graph(pb))


PRODUCED = ("tf", "docker-s1-pb-2023", "savedmodel", "tfjs") + tuple(COMBINED)


def goldens(work, check):
    """Makes (or with `check` compares) the CombinedNonMaxSuppression graphs' goldens. 77 when the reference
    code is absent and `check`."""
    from make_s1_tflite import write_or_check_golden
    status = 0
    for ending, path in GOLDENS.items():
        text = golden(ending, work)
        if text is None:
            return 77 if check else 0
        status |= write_or_check_golden(path, text, check)
    return status


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="rebuild in a temporary folder and compare, write nothing")
    ap.add_argument("--golden", action="store_true",
                    help="also make the CombinedNonMaxSuppression graphs' goldens (or --check them)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        if not args.check:
            for produced in PRODUCED:  # make_s1_tflite.py writes the folder's TFLite copies
                shutil.rmtree(os.path.join(OUT, produced), ignore_errors=True)
            build(OUT, work)
            return goldens(work, False) if args.golden else 0
        tmp = os.path.join(work, "out")
        build(tmp, work)
        status = mfc.compare_trees(tmp, OUT, REPO)
        if args.golden:
            g = goldens(work, True)
            status = g if g == 77 and status == 0 else status | (g & 1)
        return status


if __name__ == "__main__":
    sys.exit(main())
