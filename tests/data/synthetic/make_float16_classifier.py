#!/usr/bin/python3
"""Builds a SYNTHETIC ONNX Float16 ("OnnxFloat16") classifier and ONNX Runtime's answers on it:

    /usr/bin/python3 tests/data/synthetic/make_float16_classifier.py                 # (re)write all
    /usr/bin/python3 tests/data/synthetic/make_float16_classifier.py --check-models  # rebuild the model, compare
    /usr/bin/python3 tests/data/synthetic/make_float16_classifier.py --check         # and the golden
                                                                        # (CTest parity_float16_classifier_live)

(Debian's python3-onnx, python3-numpy; node + npm onnxruntime-node from $NODE_PATH or bench/node.)

A small ShuffleNet-like network with random weights (seeded; it classifies nothing), built with
onnx.helper and put through f16_onnx.py (Microsoft's float16 converter's rules: float16 weights,
float16 input and output). Input `data` float16 [1, 3, 64, 64] with the embedded metadata of an
S1 ONNX export (Rgb8, Normalized_0_1: the input is x / 255, not a half value); Conv 3x3/2 + Relu;
a channel split (two Slices), one half through Conv 1x1 + Relu, Concat, the channel shuffle
(Reshape -> Transpose -> Reshape), Conv 3x3/2 + Relu, GlobalAveragePool, Flatten, Gemm, Softmax
-> `model_outputs` float16 [1, 3]. Where ONNX Runtime's CPU provider stores float16 values
(model/onnx_float16.h): the input (fed as float16), the first Slice's input and the Concat's
second input (a Slice and a Concat run on float16 and are not isolated: the shuffle after the
Concat runs on float16 too), the output; not the second Slice's input nor the Flatten's (both
isolated between float32-computing nodes).

Writes:
  classifier_float16/model.onnx, labels.txt, cvexport.manifest  the export folder (Flavor OnnxFloat16)
  ../golden/classifier_float16.json
      for 4 tensors (NHWC, element [h][w][c] = ((7h + 13w + 29c + 41k) mod 256) / 255 in float32,
      k = 0..3): ONNX Runtime's output on the float16 model (input cast to float16, output widened)
      and on the float32 network it was made from; `ort_float16_stores`: the tensors ONNX Runtime
      casts to float16 in its optimized graph (Cast nodes it inserts, to=FLOAT16)
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import f16_onnx  # noqa: E402
import make_s1_onnx  # noqa: E402
import write_or_check  # noqa: E402

ROOT = make_s1_onnx.ROOT
sys.path.insert(0, os.path.join(ROOT, "tests"))
import support  # noqa: E402  (tests/support.py)

FOLDER = os.path.join(HERE, "classifier_float16")
GOLDEN = os.path.join(ROOT, "tests", "data", "golden", "classifier_float16.json")
SIDE = 64
LABELS = ["alpha", "beta", "gamma"]
TENSORS = 4
MANIFEST = {
    "DomainType": "Classification",
    "Platform": "ONNX",
    "Flavor": "OnnxFloat16",
    "ExporterVersion": "2.0",
    "ExportedDate": "2025-07-23T00:00:00.0000000Z",
    "IterationId": "00000000-0000-0000-0000-000000000016",
    "ModelFileName": "model.onnx",
    "LabelFileName": "labels.txt",
    "SchemaVersion": "1.0",
}


def float32_model():
    rng = np.random.default_rng(16)

    def w(name, shape, gain=2.0):
        fan_in = int(np.prod(shape[1:]))
        return numpy_helper.from_array((rng.standard_normal(shape) * np.sqrt(gain / fan_in)).astype(np.float32), name)

    def b(name, n):
        return numpy_helper.from_array((rng.standard_normal(n) * 0.1).astype(np.float32), name)

    def ints(name, values):
        return numpy_helper.from_array(np.array(values, np.int64), name)

    inits = [
        w("conv1_w", (8, 3, 3, 3)), b("conv1_b", 8),
        w("conv2_w", (4, 4, 1, 1)), b("conv2_b", 4),
        w("conv3_w", (16, 8, 3, 3)), b("conv3_b", 16),
        numpy_helper.from_array((rng.standard_normal((3, 16)) * 0.5).astype(np.float32), "fc_w"), b("fc_b", 3),
        ints("starts_a", [0]), ints("ends_a", [4]), ints("starts_b", [4]), ints("ends_b", [8]), ints("axes", [1]),
        ints("shape5", [1, 2, 4, SIDE // 2, SIDE // 2]), ints("shape4", [1, 8, SIDE // 2, SIDE // 2]),
    ]
    nodes = [
        helper.make_node("Conv", ["data", "conv1_w", "conv1_b"], ["conv1"], name="conv1", strides=[2, 2],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv1"], ["relu1"], name="relu1"),
        helper.make_node("Slice", ["relu1", "starts_a", "ends_a", "axes"], ["half_a"], name="slice_a"),
        helper.make_node("Slice", ["relu1", "starts_b", "ends_b", "axes"], ["half_b"], name="slice_b"),
        helper.make_node("Conv", ["half_b", "conv2_w", "conv2_b"], ["conv2"], name="conv2"),
        helper.make_node("Relu", ["conv2"], ["relu2"], name="relu2"),
        helper.make_node("Concat", ["half_a", "relu2"], ["concat"], name="concat", axis=1),
        helper.make_node("Reshape", ["concat", "shape5"], ["groups"], name="shuffle_reshape1"),
        helper.make_node("Transpose", ["groups"], ["swapped"], name="shuffle_transpose", perm=[0, 2, 1, 3, 4]),
        helper.make_node("Reshape", ["swapped", "shape4"], ["shuffled"], name="shuffle_reshape2"),
        helper.make_node("Conv", ["shuffled", "conv3_w", "conv3_b"], ["conv3"], name="conv3", strides=[2, 2],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv3"], ["relu3"], name="relu3"),
        helper.make_node("GlobalAveragePool", ["relu3"], ["pool"], name="pool"),
        helper.make_node("Flatten", ["pool"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], name="fc", transB=1),
        helper.make_node("Softmax", ["logits"], ["model_outputs"], name="softmax", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "synthetic_float16_classifier",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, SIDE, SIDE])],
        [helper.make_tensor_value_info("model_outputs", TensorProto.FLOAT, [1, len(LABELS)])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="edgevision-tests")
    model.ir_version = 8
    for key, value in (("Image.BitmapPixelFormat", "Rgb8"), ("Image.NominalPixelRange", "Normalized_0_1")):
        model.metadata_props.add(key=key, value=value)
    return model


def tensor(k):
    """The k-th test tensor, NHWC float32 (the C++ test computes the same)."""
    h, w, c = np.meshgrid(np.arange(SIDE), np.arange(SIDE), np.arange(3), indexing="ij")
    return (((7 * h + 13 * w + 29 * c + 41 * k) % 256).astype(np.float32) / np.float32(255))[np.newaxis]


def ort_float16_stores(model_path):
    """The tensors ONNX Runtime casts to float16 in its optimized graph (the outputs of the Cast
    nodes its InsertCastTransformer adds, which keep the original tensor names)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "optimized.onnx")
        script = ("const ort = require('onnxruntime-node');"
                  "ort.InferenceSession.create(process.argv[1], {executionProviders: ['cpu'],"
                  " graphOptimizationLevel: 'basic', optimizedModelFilePath: process.argv[2]})"
                  ".catch((e) => { console.error(String(e)); process.exit(1); });")
        subprocess.run(["node", "-e", script, model_path, out], check=True,
                       env=dict(os.environ, NODE_PATH=make_s1_onnx.ort_node_path()))
        optimized = onnx.load(out)
    return sorted(n.output[0] for n in optimized.graph.node
                  if n.op_type == "Cast" and n.name.startswith("InsertedPrecisionFreeCast_") and
                  any(a.name == "to" and a.i == TensorProto.FLOAT16 for a in n.attribute))


def golden(float32_bytes, float16_bytes):
    with tempfile.TemporaryDirectory() as tmp:
        f32, f16 = os.path.join(tmp, "float32.onnx"), os.path.join(tmp, "float16.onnx")
        for path, data in ((f32, float32_bytes), (f16, float16_bytes)):
            with open(path, "wb") as f:
                f.write(data)
        rows = []
        for k in range(TENSORS):
            nchw = tensor(k).transpose(0, 3, 1, 2)
            half = make_s1_onnx.ort_run(f16, nchw, half=True)["model_outputs"]
            full = make_s1_onnx.ort_run(f32, nchw)["model_outputs"]
            rows.append({"tensor": k, "float16": [float(v) for v in half.reshape(-1)],
                         "float32": [float(v) for v in full.reshape(-1)]})
        stores = ort_float16_stores(f16)
    doc = {"model": "tests/data/synthetic/classifier_float16/model.onnx",
           "runtime": "ONNX Runtime (npm onnxruntime-node, CPU provider, 1 thread)",
           "labels": LABELS, "ort_float16_stores": stores, "tensors": rows}
    return (json.dumps(doc, indent=1) + "\n").encode()


def main():
    check = "--check" in sys.argv or "--check-models" in sys.argv
    f32 = float32_model()
    f16 = f16_onnx.to_float16(f32)
    outputs = {
        os.path.join(FOLDER, "model.onnx"): f16.SerializeToString(),
        os.path.join(FOLDER, "labels.txt"): ("\n".join(LABELS) + "\n").encode(),
        os.path.join(FOLDER, "cvexport.manifest"): (json.dumps(MANIFEST, indent=2) + "\n").encode(),
    }
    if "--check-models" not in sys.argv:
        if shutil.which("node") is None or (not os.environ.get("NODE_PATH") and shutil.which("npm") is None):
            return support.skip_or_fail("node and npm (onnxruntime-node) are needed for the golden")
        outputs[GOLDEN] = golden(f32.SerializeToString(), outputs[os.path.join(FOLDER, "model.onnx")])
    return write_or_check.files(outputs, check, ROOT)


if __name__ == "__main__":
    sys.exit(main())
