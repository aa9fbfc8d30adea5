#!/usr/bin/python3
"""Runs the exported container's real predict.py and captures the model input.

Usage (Debian's Python: /usr/bin/python3 with python3-pil and python3-numpy):
    reference_tensor.py IMAGE --size 227 --out tensor.npy [--stages stages.json]

The reference folder (app.py, predict.py) is third-party code and is never
copied into this repository. It is looked up in $EDGEVISION_REFERENCE_DIR,
else <repo>/../shared/cv-exports/iotedge-applebanana-tf/reference. Exit code
77 means it is absent (CTest's "skipped").

Only TensorFlow is replaced: a fake `tensorflow` module whose Session.run
records the array fed to 'Placeholder:0'. predict.network_input_size is set
and predict.predict_image(Image.open(path)) is called exactly as app.py does.
Two spies wrap predict.resize_down_to_1600_max_dim (calling the original) to
record the oriented RGB image it receives and the image it returns; they do
not change behaviour.

The tensor is written as float32 HxWx3 .npy: BGR, 0-255, exactly what the
model would be fed (before the batch dimension predict.py adds).
"""

import argparse
import contextlib
import hashlib
import importlib.util
import io
import json
import os
import sys
import types

import numpy as np
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKIP = 77


def reference_dir():
    env = os.environ.get("EDGEVISION_REFERENCE_DIR")
    if env:
        return env
    return os.path.join(REPO, "..", "shared", "cv-exports", "iotedge-applebanana-tf", "reference")


class _Capture:
    def __init__(self):
        self.tensor = None


def _fake_tensorflow(capture):
    """A `tensorflow` stand-in with just what predict.py touches."""

    class Session:
        def __init__(self, *args, **kwargs):
            self.graph = self

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def get_tensor_by_name(self, name):
            return name

        def run(self, fetches, feed_dict):
            batch = feed_dict["Placeholder:0"]
            assert len(batch) == 1, "predict.py feeds a batch of one"
            capture.tensor = np.asarray(batch[0])
            return [np.zeros(0, np.float32)]  # no labels loaded: no predictions

    class GraphDef:
        def ParseFromString(self, data):
            pass

    tf = types.ModuleType("tensorflow")
    tf.compat = types.SimpleNamespace(
        v1=types.SimpleNamespace(GraphDef=GraphDef, Session=Session, reset_default_graph=lambda: None))
    tf.import_graph_def = lambda *args, **kwargs: None
    return tf


def load_predict(ref_dir=None):
    """Imports the real predict.py with the fake TensorFlow. Returns (module, capture)."""
    ref_dir = ref_dir or reference_dir()
    path = os.path.join(ref_dir, "predict.py")
    if not os.path.isfile(path):
        raise FileNotFoundError(path)
    capture = _Capture()
    sys.modules["tensorflow"] = _fake_tensorflow(capture)
    spec = importlib.util.spec_from_file_location("predict", path)
    predict = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(predict)

    stages = {}
    original_resize = predict.resize_down_to_1600_max_dim

    def resize_spy(image):
        stages["oriented"] = image.copy()
        result = original_resize(image)
        stages["scaled"] = result.copy()
        return result

    predict.resize_down_to_1600_max_dim = resize_spy
    capture.stages = stages
    return predict, capture


def sha256_rgb(image):
    return hashlib.sha256(np.ascontiguousarray(np.array(image.convert("RGB"))).tobytes()).hexdigest()


def run(predict, capture, image_path, size):
    """predict_image on one file. Returns dict(tensor or error, stages)."""
    predict.network_input_size = size
    capture.tensor = None
    capture.stages.clear()
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            result = predict.predict_image(Image.open(image_path))  # as app.py does
        except Exception as e:  # Image.open failures happen outside predict_image
            result = "Error: %s: %s" % (type(e).__name__, e)
    info = {"image": image_path, "size": size}
    if isinstance(result, str):
        info["error"] = result
    else:
        info["tensor"] = capture.tensor.astype(np.float32, copy=False)
    for name in ("oriented", "scaled"):
        im = capture.stages.get(name)
        if im is not None:
            info[name] = {"width": im.size[0], "height": im.size[1], "sha256": sha256_rgb(im)}
    return info


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("image")
    ap.add_argument("--size", type=int, default=227, help="predict.network_input_size")
    ap.add_argument("--out", required=True, help="where to write the HxWx3 float32 .npy")
    ap.add_argument("--stages", help="also write the intermediate images' sizes and SHA-256 as JSON")
    args = ap.parse_args()
    try:
        predict, capture = load_predict()
    except FileNotFoundError as e:
        print("reference predict.py not found (%s): skipping" % e, file=sys.stderr)
        return SKIP
    info = run(predict, capture, args.image, args.size)
    if args.stages:
        with open(args.stages, "w") as f:
            json.dump({k: v for k, v in info.items() if k != "tensor"}, f, indent=1)
    if "error" in info:
        print(info["error"], file=sys.stderr)
        return 1
    np.save(args.out, info["tensor"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
