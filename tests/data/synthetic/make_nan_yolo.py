#!/usr/bin/python3
"""Writes yolo_compact_fruit_nan.onnx: yolo_compact_fruit.onnx (make_yolo_onnx.py) with its head's
bias (`head_b`) set to NaN. It loads and compiles like the original, but every output is NaN, so
every prediction fails ("the detector output a non-finite value", a model error): the model that
fails its probation after a delivery (delivery_e2e_test).

    /usr/bin/python3 tests/data/synthetic/make_nan_yolo.py          # (re)write
    /usr/bin/python3 tests/data/synthetic/make_nan_yolo.py --check  # rebuild in memory, compare
"""

import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

import write_or_check

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "yolo_compact_fruit.onnx")
OUT = os.path.join(HERE, "yolo_compact_fruit_nan.onnx")


def build():
    model = onnx.load(SRC)
    for i, init in enumerate(model.graph.initializer):
        if init.name == "head_b":
            nan = np.full(numpy_helper.to_array(init).shape, np.nan, np.float32)
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(nan, "head_b"))
    model.producer_name = "edgevision make_nan_yolo.py (SYNTHETIC)"
    onnx.checker.check_model(model)
    return model.SerializeToString()


if __name__ == "__main__":
    sys.exit(write_or_check.main(OUT, build()))
