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

Writes tests/data/synthetic/s1_formats/:
  tf/                 model.pb + labels.txt (apple, banana, fruit),
                      cvexport.manifest (TensorFlow, DomainType
                      ObjectDetection), the real S1 metadata_properties.json
  savedmodel/         the same graph as a SavedModel (weights as resource
                      variables, signature `serving_default` naming
                      `image_tensor` and the three detected_* outputs)
  tfjs/               the same graph as a TF.js graph model
  docker-s1-pb-2023/  app/model.pb beside the real 2023 S1 Dockerfile
                      export's manifest, the S1 metadata and the labels; a
                      Dockerfile stand-in written here (not Microsoft's)
"""

import argparse
import json
import os
import shutil
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


def onnx_weights():
    import onnx
    from onnx import numpy_helper
    m = onnx.load(ONNX_MODEL)
    return {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}


def build_graph(pb):
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
    # Each writer turns the graph's weights into variables / shards: a fresh graph each.
    mfc.write_saved_model(None, pb, spb, os.path.join(out, "savedmodel"), labels, metadata, graph=build_graph(pb))
    mfc.write_tfjs(None, pb, os.path.join(out, "tfjs"), labels, metadata, graph=build_graph(pb))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="rebuild in a temporary folder and compare, write nothing")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        if not args.check:
            shutil.rmtree(OUT, ignore_errors=True)
            build(OUT, work)
            return 0
        tmp = os.path.join(work, "out")
        build(tmp, work)
        return mfc.compare_trees(tmp, OUT, REPO)


if __name__ == "__main__":
    sys.exit(main())
