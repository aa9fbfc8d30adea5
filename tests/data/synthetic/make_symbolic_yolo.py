#!/usr/bin/python3
"""Writes yolo_compact_fruit_symbolic.onnx: yolo_compact_fruit.onnx (make_yolo_onnx.py) with its
input height and width named instead of fixed (`data` [1, 3, "H", "W"], output
[1, 35, "H/32", "W/32"]), as the ONNX export's onnxruntime_predict.py makes a compact detector's
(`dim[-1].dim_param = 'dim1'`, `dim[-2].dim_param = 'dim2'`). Same weights, same answers.

    /usr/bin/python3 tests/data/synthetic/make_symbolic_yolo.py          # (re)write
    /usr/bin/python3 tests/data/synthetic/make_symbolic_yolo.py --check  # rebuild in memory, compare
"""

import os
import sys

import onnx

import write_or_check

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "yolo_compact_fruit.onnx")
OUT = os.path.join(HERE, "yolo_compact_fruit_symbolic.onnx")


def build():
    model = onnx.load(SRC)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_param, dims[3].dim_param = "dim2", "dim1"
    out = model.graph.output[0].type.tensor_type.shape.dim
    out[2].dim_param, out[3].dim_param = "grid_h", "grid_w"
    model.producer_name = "edgevision make_symbolic_yolo.py (SYNTHETIC)"
    onnx.checker.check_model(model)
    return model.SerializeToString()


if __name__ == "__main__":
    sys.exit(write_or_check.main(OUT, build()))
