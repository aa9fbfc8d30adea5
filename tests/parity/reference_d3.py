#!/usr/bin/python3
"""Runs a Docker 2.2 (D3) export's real predict.py and captures the model input.

Usage (Debian's /usr/bin/python3 with python3-pil and python3-numpy):
    reference_d3.py IMAGE --out tensor.npy [--size 224] [--app DIR]

The export's app/ folder (predict.py, third-party code) is never copied into
this repository. It is looked up in --app, else $EDGEVISION_D3_APP_DIR,
else <repo>/../shared/cv-exports/docker22-appleorange-tflite/app. Exit code
77 means it is absent (CTest's "skipped").

Only the TFLite runtime is replaced: a fake `tflite_runtime.interpreter`
module whose Interpreter reports one float32 input [1, size, size, 3] and
one output [1, labels], records the array passed to set_tensor and returns
zeros. predict.initialize() runs with the export's own labels.txt and
predict.predict_image(Image.open(path)) is called exactly as app.py does.

The tensor is written as float32 HxWx3 .npy: what the model would be fed
(before the batch dimension predict.py adds), in predict.py's channel order
(IS_BGR) on the 0-255 scale.
"""

import argparse
import contextlib
import importlib.util
import io
import os
import pathlib
import sys
import types

import numpy as np
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKIP = 77


def app_dir(explicit=None):
    if explicit:
        return explicit
    env = os.environ.get("EDGEVISION_D3_APP_DIR")
    if env:
        return env
    return os.path.join(REPO, "..", "shared", "cv-exports", "docker22-appleorange-tflite", "app")


class _Capture:
    def __init__(self):
        self.tensor = None
        self.size = 224
        self.outputs = 2


def _fake_tflite(capture):
    """A `tflite_runtime.interpreter` stand-in with just what predict.py touches."""

    class Interpreter:
        def __init__(self, model_path=None, **kwargs):
            self.model_path = model_path

        def allocate_tensors(self):
            pass

        def get_input_details(self):
            return [{"index": 0, "shape": np.array([1, capture.size, capture.size, 3], np.int32),
                     "dtype": np.float32}]

        def get_output_details(self):
            return [{"index": 1, "shape": np.array([1, capture.outputs], np.int32),
                     "dtype": np.float32}]

        def set_tensor(self, index, value):
            assert index == 0
            capture.tensor = np.array(value, copy=True)

        def invoke(self):
            pass

        def get_tensor(self, index):
            return np.zeros((1, capture.outputs), np.float32)

    package = types.ModuleType("tflite_runtime")
    module = types.ModuleType("tflite_runtime.interpreter")
    module.Interpreter = Interpreter
    package.interpreter = module
    return package, module


def load_predict(folder=None, size=224):
    """Imports the real predict.py with the fake runtime and initialises it
    with the export's labels. Returns (module, capture)."""
    folder = app_dir(folder)
    path = os.path.join(folder, "predict.py")
    if not os.path.isfile(path):
        raise FileNotFoundError(path)
    capture = _Capture()
    capture.size = size
    package, module = _fake_tflite(capture)
    sys.modules["tflite_runtime"] = package
    sys.modules["tflite_runtime.interpreter"] = module
    spec = importlib.util.spec_from_file_location("predict_d3", path)
    predict = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(predict)
    predict.MODEL_PATH = pathlib.Path(folder) / "model.tflite"
    predict.LABELS_PATH = pathlib.Path(folder) / "labels.txt"
    capture.outputs = len(predict.LABELS_PATH.read_text().splitlines())
    predict.initialize()
    return predict, capture


def run(predict, capture, image_path):
    """predict_image on one file, as app.py calls it. Returns dict(tensor or error)."""
    capture.tensor = None
    info = {"image": image_path}
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            predict.predict_image(Image.open(image_path))
        except Exception as e:  # app.py answers 'Error processing image', 500
            info["error"] = "%s: %s" % (type(e).__name__, e)
            return info
    batch = capture.tensor
    assert batch is not None and batch.shape[0] == 1, "predict.py feeds a batch of one"
    info["tensor"] = batch[0].astype(np.float32, copy=False)
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("image")
    ap.add_argument("--out", required=True, help="where to write the HxWx3 float32 .npy")
    ap.add_argument("--size", type=int, default=224, help="the model's input side")
    ap.add_argument("--app", help="the export's app/ folder")
    args = ap.parse_args()
    try:
        predict, capture = load_predict(args.app, args.size)
    except FileNotFoundError as e:
        print("reference predict.py not found (%s): skipping" % e, file=sys.stderr)
        return SKIP
    info = run(predict, capture, args.image)
    if "error" in info:
        print(info["error"], file=sys.stderr)
        return 1
    np.save(args.out, info["tensor"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
