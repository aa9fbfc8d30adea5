#!/usr/bin/python3
"""Builds the ONNX Float16 ("OnnxFloat16") flavour of both SYNTHETIC detectors, and the shipped
reference code's answers on them with ONNX Runtime running the float16 files:

    /usr/bin/python3 tests/data/synthetic/make_float16_detectors.py                 # (re)write all
    /usr/bin/python3 tests/data/synthetic/make_float16_detectors.py --check-models  # rebuild models, compare
    /usr/bin/python3 tests/data/synthetic/make_float16_detectors.py --check         # and the goldens
                                                                       # (CTest parity_float16_detectors_live)

(Debian's python3-onnx, python3-numpy, python3-pil, python3-flask; node + npm onnxruntime-node from
$NODE_PATH or bench/node; the goldens need ../shared/cv-exports/od-reference.)

Each model is its float32 sibling put through the float16 rules of f16_onnx.py (Microsoft's float16
converter's defaults: float16 weights, float16 input and output, NonMaxSuppression and TopK kept in
float32 behind Cast nodes). Nothing here was trained or exported by Custom Vision.

Writes:
  yolo_compact_fruit_float16.onnx   from yolo_compact_fruit.onnx: input `data` float16
                                    [1, 3, 448, 608], output `model_outputs0` float16
  s1_fruit_float16.onnx             from s1_fruit.onnx: input `image_tensor` float16
                                    [1, 3, 320, 320]; detected_boxes / detected_scores float16,
                                    detected_classes int64; Cast to float before
                                    NonMaxSuppression and TopK, to float16 after
  ../detection/golden/photos_float16.json
                                    the ONNX export's onnxruntime_predict.py (onnx-yolo-2024; its
                                    own float16 path: `is_fp16`, input cast to float16, output
                                    widened) on fruit_scene.png and the three photos of
                                    photos.json, with ONNX Runtime running the float16 model
                                    with the input size named, as that code does
  ../detection/golden/s1_fruit_float16.json
                                    both S1 containers' app.py (POST /image) on the four photos of
                                    s1_fruit.json, their runtime replaced by ONNX Runtime running
                                    the float16 model (input cast to float16, outputs widened)
"""

import json
import os
import sys
import tempfile

import numpy as np
import onnx
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import f16_onnx  # noqa: E402
import make_s1_onnx  # noqa: E402
import make_yolo_onnx  # noqa: E402
import write_or_check  # noqa: E402

ROOT = make_s1_onnx.ROOT
DATA = make_s1_onnx.DATA
sys.path.insert(0, os.path.join(ROOT, "tests", "parity"))
import detection_reference as ref  # noqa: E402

YOLO = os.path.join(HERE, "yolo_compact_fruit_float16.onnx")
S1 = os.path.join(HERE, "s1_fruit_float16.onnx")
YOLO_GOLDEN = os.path.join(DATA, "detection", "golden", "photos_float16.json")
S1_GOLDEN = os.path.join(DATA, "detection", "golden", "s1_fruit_float16.json")
YOLO_PHOTOS = [("fruit_scene", make_yolo_onnx.PHOTO)] + make_yolo_onnx.MORE_PHOTOS


def float16_model(float32_path):
    model = onnx.load(float32_path)
    for n in model.graph.node:  # the converter names its Casts after the node
        if n.op_type in f16_onnx.BLOCKED and not n.name:
            n.name = n.op_type
    model = f16_onnx.to_float16(model)
    model.producer_name += " -> float16 (tests/data/synthetic/f16_onnx.py)"
    return model.SerializeToString()


def yolo_golden(model_bytes):
    """The ONNX export's code on YOLO_PHOTOS, ONNX Runtime running the float16 model."""
    model = onnx.load_from_string(model_bytes)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    dims[-1].dim_param, dims[-2].dim_param = "dim1", "dim2"  # as onnxruntime_predict.py does
    doc = {"description": "tests/data/synthetic/yolo_compact_fruit_float16.onnx (SYNTHETIC, OnnxFloat16) on "
                          "photos; onnx-yolo-2024/onnxruntime_predict.py (its float16 path) with ONNX Runtime "
                          "(onnxruntime-node) running that file, its input size named as the code does",
           "labels": make_yolo_onnx.LABELS, "photos": []}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        onnx.save(model, path)
        for name, photo in YOLO_PHOTOS:
            seen = {}

            def engine(nchw):
                assert nchw.dtype == np.float16, nchw.dtype  # the code's own cast
                seen["shape"] = list(nchw.shape)
                out = make_s1_onnx.ort_run(path, nchw.astype(np.float32), half=True)["model_outputs0"]
                return out.astype(np.float16)  # the model's output type (ort_run widened it)
            predictions, _ = ref.onnx_predict_image(Image.open(photo), make_yolo_onnx.LABELS, engine,
                                                    "tensor(float16)")
            doc["photos"].append({"name": name, "photo": os.path.relpath(photo, DATA),
                                  "input_shape": seen["shape"], "predictions": predictions})
    return (json.dumps(doc, indent=1) + "\n").encode()


def s1_golden(model_bytes):
    """Both S1 containers on the four photos, ONNX Runtime running the float16 model."""
    doc = {"description": "tests/data/synthetic/s1_fruit_float16.onnx (SYNTHETIC, OnnxFloat16) on photos; both S1 "
                          "containers' app.py (POST /image) with ONNX Runtime (onnxruntime-node) as their runtime, "
                          "the input cast to float16. raw: ONNX Runtime's float16 outputs widened (batch dimension "
                          "dropped, hex floats)",
           "labels": make_s1_onnx.FRUIT_LABELS, "photos": []}
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.onnx")
        with open(path, "wb") as f:
            f.write(model_bytes)
        for name, photo in make_s1_onnx.PHOTOS:
            engine, seen = make_s1_onnx.ort_engine(path, half=True)
            with open(photo, "rb") as f:
                predictions, body = ref.ssd_photo_agreed(f.read(), make_s1_onnx.FRUIT_LABELS, engine, name)
            doc["photos"].append(ref.s1_golden_photo(name, photo, DATA, seen[-1], predictions, body))
    return (json.dumps(doc, indent=1) + "\n").encode()


def same_golden(path, data):
    """Golden equality, ignoring the container body's `created` (the time of the run)."""
    with open(path) as f:
        old = json.load(f)
    new = json.loads(data)
    for d in (old, new):
        for p in d["photos"]:
            p.get("container_body", {}).pop("created", None)
    return old == new


def main():
    check = "--check" in sys.argv or "--check-models" in sys.argv
    outputs = {YOLO: float16_model(make_yolo_onnx.MODEL), S1: float16_model(make_s1_onnx.FRUIT)}
    if "--check-models" not in sys.argv:
        if not ref.available():
            print("reference code absent: models written, goldens not", file=sys.stderr)
            if check:
                return 77
        else:
            outputs[YOLO_GOLDEN] = yolo_golden(outputs[YOLO])
            outputs[S1_GOLDEN] = s1_golden(outputs[S1])
    def same(path, data):
        if path.endswith(".json"):
            return same_golden(path, data)
        with open(path, "rb") as f:
            return f.read() == data

    return write_or_check.files(outputs, check, ROOT, same)


if __name__ == "__main__":
    sys.exit(main())
