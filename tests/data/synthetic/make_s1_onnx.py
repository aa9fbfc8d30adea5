#!/usr/bin/python3
"""Builds a SYNTHETIC "General (compact) [S1]" (SSD-style) detector graph with Custom Vision's S1
I/O contract, for the load path (Debian's python3-onnx, python3-numpy):

    /usr/bin/python3 tests/data/synthetic/make_s1_onnx.py          # (re)write s1_nms_contract.onnx
    /usr/bin/python3 tests/data/synthetic/make_s1_onnx.py --check  # rebuild in memory, compare

No S1 model file small enough to obtain exists (docs/models.md, "Object detection"). The contract,
from the S1 containers' predict.py and the TF.js runtime: one image input, 320x320, RGB 0..255
(`data`, NCHW here); three outputs read by name, `detected_boxes` [N, 4] (x1, y1, x2, y2,
normalised), `detected_scores` [N], `detected_classes` [N] (int64); NMS inside the graph. Here: a
32x32/32 average pool and a 1x1 conv make a 10x10 grid of boxes (sigmoid) and two class scores (sigmoid) per cell,
ONNX NonMaxSuppression selects (at most 10 per class, IoU 0.5, score 0.1), and Gather /
GatherND pick the selected rows. Hand-set weights; nothing here was trained or exported by
Custom Vision. edgevision recognises the family and refuses the export (its engine does not run
NonMaxSuppression); the test pins that message (model_detector_test).
"""

import io
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "s1_nms_contract.onnx")


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
    graph = helper.make_graph(
        nodes, "synthetic_s1_detector",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 320, 320])],
        [helper.make_tensor_value_info("detected_boxes", TensorProto.FLOAT, ["N", 4]),
         helper.make_tensor_value_info("detected_scores", TensorProto.FLOAT, ["N"]),
         helper.make_tensor_value_info("detected_classes", TensorProto.INT64, ["N"])],
        initializer=inits)
    model = helper.make_model(graph, producer_name="edgevision make_s1_onnx.py (SYNTHETIC)",
                              opset_imports=[helper.make_opsetid("", 11)])
    model.ir_version = 6
    onnx.checker.check_model(model)
    return model.SerializeToString()


def main():
    data = build()
    if "--check" in sys.argv:
        with open(OUT, "rb") as f:
            same = f.read() == data
        print("s1_nms_contract.onnx", "ok" if same else "DIFFERS")
        return 0 if same else 1
    with open(OUT, "wb") as f:
        f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
