#!/usr/bin/python3
"""Golden input tensors of both detector families, from the preprocessing code Custom Vision
ships, run for real.

    /usr/bin/python3 tests/parity/make_detector_tensor_golden.py          # (re)write the golden
    /usr/bin/python3 tests/parity/make_detector_tensor_golden.py --check  # recompute and compare

Debian's python3-numpy and python3-pil; the reference code is read from
../shared/cv-exports/od-reference (tests/parity/detection_reference.py; never copied here).
--check exits 77 (CTest skip) when it is absent.

What runs, unmodified, with only the inference runtime replaced by a stub that keeps the tensor
it is fed:
  compact (YOLO): tflite-yolo-2023/predict.py predict_image (object_detection.py's preprocess,
                  then predict's RGB->BGR NHWC input) and onnx-yolo-2024/onnxruntime_predict.py
                  predict_image (the same steps in its 2024 wording, NCHW input); both must
                  agree, except on files PIL does not open as RGB, where the 2024 code fails
                  (ndarray.convert) and the 2023 one converts first
  S1 (SSD):       docker-s1-tflite-2024/app/predict.py ObjectDetection.predict_image
                  (convert RGB, stretch to the model's 320x320, RGB)

Writes tests/data/detection/golden/tensors.tsv: image, family, height, width and the SHA-256 of
the float32 HWC tensor (channels in the model's order). src/image/detector_preprocess_test.cc
requires edgevision's tensor to have the same bytes.
"""

import hashlib
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import detection_reference as ref  # noqa: E402

REPO = ref.REPO
OUT = os.path.join(REPO, "tests", "data", "detection", "golden", "tensors.tsv")
AB = "tests/data/cv-exports/iotedge-applebanana-tf/images/"
IMAGES = [
    "tests/data/detection/fruit_scene.png",  # 608x448: already its own size
    AB + "apple1.jpg",
    AB + "banana2.jpg",
    "tests/data/cv-exports/uwp-catdog-onnx12/images/kitten_224.png",  # upscaled
    "tests/data/images/exif/orientation_6.jpg",  # rotated by EXIF before the resize (YOLO only)
    "tests/data/images/exif/orientation_3.jpg",
    "tests/data/images/large/bicubic_portrait.jpg",  # large, portrait
    "tests/data/images/large/side_1601.jpg",
]
LABELS = ["a", "b"]


def yolo_onnx(image):
    seen = {}

    def run(nchw):
        seen["x"] = np.array(nchw, np.float32)
        return np.zeros((1, 35, 2, 2), np.float32)

    stubs = ref._fake_onnx_modules(run)
    with ref._workdir(LABELS):
        mod = ref._fresh_import(os.path.join(ref.reference_dir(), "onnx-yolo-2024"), "onnxruntime_predict", stubs)
        try:
            mod.ONNXRuntimeObjectDetection("model.onnx", LABELS).predict_image(image)
        except AttributeError:  # its preprocess calls ndarray.convert on a non-RGB image
            return None
    return np.ascontiguousarray(seen["x"][0].transpose((1, 2, 0)))


def yolo_tflite(image):
    seen = {}
    tf = ref._fake_tensorflow()
    with ref._workdir(LABELS):
        pred = ref._fresh_import(os.path.join(ref.reference_dir(), "tflite-yolo-2023"), "predict", {"tensorflow": tf})
        model = pred.TFLiteObjectDetection("model.tflite", LABELS)
        model.interpreter.set_tensor = lambda index, value: seen.setdefault("x", np.array(value, np.float32))
        ref.Feed.grid_hwc = np.zeros((2, 2, 35), np.float32)
        model.predict_image(image)
    return np.ascontiguousarray(seen["x"][0])


def s1_tflite(image):
    seen = {}
    stubs = ref._fake_tflite_runtime()
    with ref._workdir(LABELS):
        folder = os.path.join(ref.reference_dir(), "docker-s1-tflite-2024", "app")
        pred = ref._fresh_import(folder, "predict", stubs)
        model = pred.ObjectDetection("model.tflite")
        model._interpreter.set_tensor = lambda index, value: seen.setdefault("x", np.array(value, np.float32))
        ref.Feed.ssd = (np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), np.zeros((0,), np.int64))
        model.predict_image(image)
    return np.ascontiguousarray(seen["x"][0])


def rows():
    out = []
    for rel in IMAGES:
        path = os.path.join(REPO, rel)
        a = yolo_onnx(Image.open(path))
        b = yolo_tflite(Image.open(path))
        # The 2024 ONNX code fails on files PIL does not open as RGB; the 2023 TFLite code
        # converts them first.
        assert a is None or (a.shape == b.shape and np.array_equal(a, b)), rel
        s = s1_tflite(Image.open(path))
        for family, t in (("yolo", b), ("s1", s)):
            digest = hashlib.sha256(t.astype("<f4").tobytes()).hexdigest()
            out.append("\t".join([rel, family, str(t.shape[0]), str(t.shape[1]), digest]))
    return "# image\tfamily\theight\twidth\tsha256 of the float32 HWC tensor\n" + "\n".join(out) + "\n"


def main():
    check = "--check" in sys.argv
    if not ref.available():
        print("reference code not found at " + ref.reference_dir())
        sys.exit(ref.SKIP if check else 1)
    text = rows()
    if check:
        with open(OUT) as f:
            if f.read() != text:
                print("tensors.tsv differs from the reference's tensors:\n" + text)
                sys.exit(1)
        print("tensors.tsv matches the reference")
        return
    with open(OUT, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
