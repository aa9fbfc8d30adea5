#!/usr/bin/python3
"""Writes the TensorFlowLiteFloat16 flavour of both SYNTHETIC TFLite detectors, and the shipped code's
answers on them with Google's TFLite C runtime running the float16 files.

Usage (Debian's /usr/bin/python3 with python3-numpy, python3-pil, python3-flask; flatc from
flatbuffers-compiler; the goldens also need ../shared/cv-exports/od-reference and the TFLite C runtime,
see tflite/run.sh):
    make_float16_tflite.py                    # (re)write the two folders below
    make_float16_tflite.py --check            # rebuild in a temporary folder, compare
    make_float16_tflite.py --golden [--check] # also (re)write or compare the two goldens
                                              # (tflite/run.sh --float16 --golden --check:
                                              #  CTest parity_float16_tflite_live)

TensorFlow's float16 post-training quantization (converter.target_spec.supported_types = [tf.float16])
stores every float32 constant as FLOAT16 and puts a DEQUANTIZE (float16 -> float32) before its
readers; input, output and arithmetic stay float32. That is what the one real float16 Custom Vision
file here shows (docs/models.md, the Docker 2.2 model.tflite: 116 FLOAT16 tensors behind 116
DEQUANTIZE, weights, biases and the input MUL/ADD constants). This script does the same to the
committed float32 files: each float32 constant tensor keeps its name and becomes the DEQUANTIZE's
output; a new FLOAT16 tensor `<name>_float16` holds the rounded values; the DEQUANTIZE operators come
first. The NMS thresholds are float32 constants too and are converted alike.

Writes tests/data/synthetic/:
  yolo_formats/tflite-float16/  from yolo_formats/tflite/model.tflite (compact, `Placeholder`
                                [1,416,416,3] -> `model_outputs`), manifest Flavor
                                TensorFlowLiteFloat16, labels, the real compact metadata
  s1_formats/tflite-float16/    from s1_formats/tflite/model.tflite (S1, NON_MAX_SUPPRESSION_V4/V5
                                inside), manifest Flavor TensorFlowLiteFloat16, labels, the real S1
                                metadata
and with --golden tests/data/detection/golden/:
  photos_tflite_float16.json    the 2023 TFLite export's predict.py (its own resize_tensor_input to
                                each photo's ~512^2 size) on the four photos of photos_tflite.json,
                                tf.lite.Interpreter replaced by the TFLite C runtime 2.9 on the file
  s1_fruit_tflite_float16.json  the 2024 Docker 2.2 S1 container's app.py on the four photos of
                                s1_fruit_tflite.json, tflite_runtime being the TFLite C runtime 2.9
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
import make_s1_tflite  # noqa: E402

REPO = mfc.REPO
SYNTHETIC = os.path.join(REPO, "tests", "data", "synthetic")
DATA = os.path.join(REPO, "tests", "data")
GOLDEN = os.path.join(DATA, "detection", "golden")
MODELS = {  # output folder -> (float32 folder, domain labels)
    "yolo_formats/tflite-float16": "yolo_formats/tflite",
    "s1_formats/tflite-float16": "s1_formats/tflite",
}
DEQUANTIZE = 6  # BuiltinOperator DEQUANTIZE


def to_float16(doc):
    """The flatc JSON `doc` of a float32 TFLite model with every float32 constant behind DEQUANTIZE."""
    sg = doc["subgraphs"][0]
    tensors, buffers = sg["tensors"], doc["buffers"]
    codes = doc["operator_codes"]
    codes.append({"deprecated_builtin_code": DEQUANTIZE, "builtin_code": "DEQUANTIZE", "version": 3})
    dq = len(codes) - 1
    dequantize = []
    for i in range(len(tensors)):
        t = tensors[i]
        data = buffers[t.get("buffer", 0)].get("data") if t.get("buffer", 0) else None
        if t.get("type", "FLOAT32") != "FLOAT32" or not data:
            continue
        half = np.frombuffer(bytes(data), "<f4").astype("<f2")
        buffers.append({"data": list(half.tobytes())})
        tensors.append({"shape": t.get("shape", []), "type": "FLOAT16", "buffer": len(buffers) - 1,
                        "name": t["name"] + "_float16"})
        buffers[t["buffer"]] = {}
        t["buffer"] = 0
        dequantize.append({"opcode_index": dq, "inputs": [len(tensors) - 1], "outputs": [i]})
    sg["operators"] = dequantize + sg["operators"]
    doc["description"] = doc.get("description", "") + " -> float16 weights (make_float16_tflite.py)"
    return doc, len(dequantize)


def build(out, work):
    """Writes both folders under `out`. Returns {folder: model bytes}."""
    written = {}
    for folder, source in MODELS.items():
        src = os.path.join(SYNTHETIC, source)
        subprocess.run(["flatc", "--json", "--strict-json", "--raw-binary", "-o", work,
                        os.path.join(mfc.SCHEMAS, "tflite.fbs"), "--", os.path.join(src, "model.tflite")], check=True)
        with open(os.path.join(work, "model.json")) as f:
            doc, count = to_float16(json.load(f))
        assert count > 0
        with open(os.path.join(work, "model.json"), "w") as f:
            json.dump(doc, f)
        subprocess.run(["flatc", "--binary", "-o", work, os.path.join(mfc.SCHEMAS, "tflite.fbs"),
                        os.path.join(work, "model.json")], check=True)
        target = os.path.join(out, folder)
        os.makedirs(target, exist_ok=True)
        shutil.move(os.path.join(work, "model.tflite"), os.path.join(target, "model.tflite"))
        with open(os.path.join(target, "model.tflite"), "rb") as f:
            data = f.read()
        with open(os.path.join(src, "metadata_properties.json")) as f:
            metadata = json.load(f)
        mfc.side_files(target, "TensorFlow", "TensorFlowLiteFloat16", "model.tflite", data,
                       os.path.join(src, "labels.txt"), metadata, "ObjectDetection")
        written[folder] = data
    return written


def goldens(out):
    """{golden file name: text}, or None when the reference code or the runtime is absent."""
    from PIL import Image
    import detection_reference as ref
    import tflite_peer
    if not ref.available() or not tflite_peer.available():
        print("reference code or TFLite C runtime absent: goldens not made", file=sys.stderr)
        return None
    sys.path.insert(0, SYNTHETIC)
    import make_s1_onnx
    import make_yolo_onnx
    result = {}

    yolo = os.path.join(out, "yolo_formats", "tflite-float16", "model.tflite")
    doc = {"description": "tests/data/synthetic/yolo_formats/tflite-float16/model.tflite (SYNTHETIC, "
                          "TensorFlowLiteFloat16) on four photos; tflite-yolo-2023/predict.py (its own resize to "
                          "~512^2, multiples of 32, resize_tensor_input) with tf.lite.Interpreter replaced by "
                          "Google's TFLite C runtime 2.9 (npm tfjs-tflite-node, tflite_peer.py) on that file",
           "labels": make_yolo_onnx.LABELS, "photos": []}
    interpreter = tflite_peer.TfliteInterpreter(yolo)

    def runtime(nhwc):
        interpreter.resize_input(list(nhwc.shape))
        out_hw = (nhwc.shape[1] // 32, nhwc.shape[2] // 32)
        return interpreter.run(nhwc).reshape(1, out_hw[0], out_hw[1], -1)
    for name, photo in [("fruit_scene", make_yolo_onnx.PHOTO)] + make_yolo_onnx.MORE_PHOTOS:
        predictions, nhwc = ref.tflite_predict_image(Image.open(photo), make_yolo_onnx.LABELS, runtime)
        doc["photos"].append({"name": name, "photo": os.path.relpath(photo, DATA), "input_shape": list(nhwc.shape),
                              "predictions": predictions})
    result["photos_tflite_float16.json"] = json.dumps(doc, indent=1) + "\n"

    s1 = os.path.join(out, "s1_formats", "tflite-float16", "model.tflite")
    labels = make_s1_onnx.FRUIT_LABELS
    doc = {"description": "tests/data/synthetic/s1_formats/tflite-float16/model.tflite (SYNTHETIC, "
                          "TensorFlowLiteFloat16) on photos; the 2024 Docker 2.2 S1 container's app.py (POST /image) "
                          "with Google's TFLite C runtime 2.9 (npm tfjs-tflite-node, tflite_peer.py) as "
                          "tflite_runtime. raw: the runtime's outputs (hex floats)",
           "labels": labels, "photos": []}
    for name, photo in make_s1_onnx.PHOTOS:
        with open(photo, "rb") as f:
            predictions, body, raw = ref.ssd_tflite_container(
                f.read(), labels, lambda: tflite_peer.TfliteInterpreter(s1, any_output=True))
        raw = (raw["detected_boxes"], raw["detected_scores"], raw["detected_classes"])
        doc["photos"].append(ref.s1_golden_photo(name, photo, DATA, raw, predictions, body))
    result["s1_fruit_tflite_float16.json"] = json.dumps(doc, indent=1) + "\n"
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="rebuild in a temporary folder and compare, write nothing")
    ap.add_argument("--golden", action="store_true", help="also make the goldens (or --check them)")
    args = ap.parse_args()
    status = 0
    with tempfile.TemporaryDirectory() as work:
        out = os.path.join(work, "out") if args.check else SYNTHETIC
        build(out, work)
        if args.check:
            for folder in MODELS:
                status |= mfc.compare_trees(os.path.join(out, folder), os.path.join(SYNTHETIC, folder), REPO)
        if args.golden:
            texts = goldens(out)
            if texts is None:
                return 77 if args.check else status
            for name, text in texts.items():
                path = os.path.join(GOLDEN, name)
                if args.check:
                    same = os.path.exists(path) and make_s1_tflite.same_golden(open(path).read(), text)
                    print(os.path.relpath(path, REPO), "ok" if same else "DIFFERS")
                    status |= 0 if same else 1
                else:
                    with open(path, "w") as f:
                        f.write(text)
    return status


if __name__ == "__main__":
    sys.exit(main())
