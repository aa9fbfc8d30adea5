#!/usr/bin/python3
"""Writes the synthetic compact (YOLO) detector in every TensorFlow-family
export format, with each format's I/O contract and side files.

Usage (Debian's /usr/bin/python3 with python3-onnx, python3-protobuf,
python3-numpy; flatc and protoc from flatbuffers-compiler/protobuf-compiler):
    make_detector_copies.py            # (re)write tests/data/synthetic/yolo_formats/
    make_detector_copies.py --check    # rebuild in a temporary folder, compare

The network is tests/data/synthetic/yolo_compact_fruit.onnx (make_yolo_onnx.py:
hand-set weights, 4x4/4 conv, LeakyRelu, 8x8/8 average pool, 3x3 conv,
LeakyRelu, 1x1 conv to 5 anchors x (5 + 2 classes)). Its weights are written
with make_format_copies.py's TensorFlow writers (shared, not copied) and a
TFLite writer (JSON through `flatc --binary` against
src/model/schemas/tflite.fbs), so every copy must give the ONNX copy's
answers. Contracts, as the compact exports' own code reads them (research
§1.2):
  tf/           model.pb, frozen GraphDef: `Placeholder` [-1,416,416,3] ->
                `model_outputs` (Identity) NHWC [1,13,13,35] (the 416 the
                real TF export declares; predict.py remaps it to
                [1,None,None,3] and runs each image at its own size)
  tflite/       model.tflite, input [1,416,416,3], output `model_outputs`
                [1,13,13,35] (predict.py calls resize_tensor_input)
  savedmodel/   saved_model.pb (tag `serve`, signature `serving_default`,
                resource variables) + variables/ TensorBundle
  tfjs/         model.json graph model + group1-shard1of1.bin
  docker-2022/  the Dockerfile export (ExporterVersion 2.1): app/model.pb
                (the tf/ graph) beside the real 2022 export's manifest and
                metadata (tests/data/detection/exports/docker-yolo-2022), a
                Dockerfile stand-in written here (not Microsoft's)
  docker-2022.zip  that folder zipped under one top-level folder, as
                downloaded (fixed timestamps: reproducible)
Also writes tests/data/detection/golden/photos_tflite.json (--golden; needs the
reference code, tests/parity/detection_reference.py, and python3-opencv): the
2023 TFLite export's own predict.py (TFLiteObjectDetection.predict_image and
object_detection.py, unmodified) on the fruit scene and the three photos of
make_yolo_onnx.py, tf.lite.Interpreter replaced by OpenCV DNN running
yolo_compact_fruit.onnx on the NHWC tensor it builds (transposed to NCHW):
the TensorFlow-family reference the copies are held to.

Each bare-format folder has labels.txt (apple, banana), cvexport.manifest
(DomainType ObjectDetection, the format's Platform/Flavor) and the real
compact exports' metadata_properties.json (Postprocess.Method Yolo).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_format_copies as mfc  # noqa: E402

REPO = mfc.REPO
ONNX_MODEL = os.path.join(REPO, "tests", "data", "synthetic", "yolo_compact_fruit.onnx")
OUT = os.path.join(REPO, "tests", "data", "synthetic", "yolo_formats")
EXPORTS = os.path.join(REPO, "tests", "data", "detection", "exports")
METADATA = os.path.join(EXPORTS, "tflite-yolo-2023", "metadata_properties.json")
DOCKER_SIDE = os.path.join(EXPORTS, "docker-yolo-2022")
LABELS = ["apple", "banana"]
IN_HW = (416, 416)


def read_onnx_detector(path):
    """The ONNX detector as make_format_copies' op list (TFLite kinds, NHWC constants)."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(path)
    g = m.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    index = {}

    def tensor(name):
        if name not in index:
            index[name] = len(index)
        return index[name]

    consts, ops = {}, []
    for n in g.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        ins = [tensor(i) for i in n.input]
        outs = [tensor(n.output[0])]
        if n.op_type == "Conv":
            w = inits[n.input[1]]  # OIHW -> TFLite's OHWI
            consts[ins[1]] = w.transpose(0, 2, 3, 1).astype(np.float32)
            consts[ins[2]] = inits[n.input[2]].astype(np.float32)
            k, s, p = attrs["kernel_shape"][0], attrs["strides"][0], attrs.get("pads", [0])[0]
            # pad (k-1)/2 at stride 1 is TensorFlow's SAME; no padding is VALID
            assert p == 0 or (s == 1 and 2 * p == k - 1), (n.name, k, s, p)
            opt = {"padding": "SAME" if p else "VALID", "stride_h": s, "stride_w": s}
            ops.append({"kind": "CONV_2D", "in": ins, "out": outs, "opt": opt})
        elif n.op_type == "LeakyRelu":
            ops.append({"kind": "LEAKY_RELU", "in": ins, "out": outs, "opt": {"alpha": attrs["alpha"]}})
        elif n.op_type == "AveragePool":
            k, s = attrs["kernel_shape"], attrs["strides"]
            opt = {"padding": "VALID", "filter_height": k[0], "filter_width": k[1], "stride_h": s[0], "stride_w": s[1]}
            ops.append({"kind": "AVERAGE_POOL_2D", "in": ins, "out": outs, "opt": opt})
        else:
            raise SystemExit("op %s not handled" % n.op_type)
    names = {i: name for name, i in index.items()}
    grid = [1, IN_HW[0] // 32, IN_HW[1] // 32, int(inits[g.node[-1].input[1]].shape[0])]
    out = tensor(g.output[0].name)
    return {"ops": ops, "consts": consts, "names": names, "shapes": {out: grid},
            "input": tensor(g.input[0].name), "output": out, "in_hw": IN_HW, "domain": "ObjectDetection"}


def write_tflite(model, path, work):
    """The op list as a TFLite flatbuffer (schema JSON -> flatc --binary)."""
    tensors, buffers, operators, codes = [], [{}], [], []
    index = {}

    def tensor(i, shape, name):
        if i in index:
            return index[i]
        entry = {"shape": list(shape), "type": "FLOAT32", "buffer": 0, "name": name}
        if i in model["consts"]:
            a = np.ascontiguousarray(model["consts"][i], dtype="<f4")
            buffers.append({"data": list(a.tobytes())})
            entry["buffer"] = len(buffers) - 1
        tensors.append(entry)
        index[i] = len(tensors) - 1
        return index[i]

    def code(kind):
        if kind not in codes:
            codes.append(kind)
        return codes.index(kind)

    h, w = model["in_hw"]
    shape = [1, h, w, 3]
    tensor(model["input"], shape, "Placeholder")
    options = {"CONV_2D": "Conv2DOptions", "LEAKY_RELU": "LeakyReluOptions", "AVERAGE_POOL_2D": "Pool2DOptions"}
    for k, op in enumerate(model["ops"]):
        kind, opt = op["kind"], dict(op["opt"])
        ins = [index[op["in"][0]]]
        if kind == "CONV_2D":
            wt = model["consts"][op["in"][1]]
            ins += [tensor(op["in"][1], wt.shape, "conv%d/weights" % k),
                    tensor(op["in"][2], model["consts"][op["in"][2]].shape, "conv%d/biases" % k)]
            s = opt["stride_h"]
            shape = [1, shape[1] // s if opt["padding"] == "SAME" else (shape[1] - wt.shape[1]) // s + 1,
                     shape[2] // s if opt["padding"] == "SAME" else (shape[2] - wt.shape[2]) // s + 1, wt.shape[0]]
        elif kind == "AVERAGE_POOL_2D":
            shape = [1, (shape[1] - opt["filter_height"]) // opt["stride_h"] + 1,
                     (shape[2] - opt["filter_width"]) // opt["stride_w"] + 1, shape[3]]
        last = op["out"][0] == model["output"]
        out = tensor(op["out"][0], shape, "model_outputs" if last else "op%d" % k)
        operators.append({"opcode_index": code(kind), "inputs": ins, "outputs": [out],
                          "builtin_options_type": options[kind], "builtin_options": opt})
    doc = {"version": 3,
           "operator_codes": [{"deprecated_builtin_code": {"CONV_2D": 3, "LEAKY_RELU": 98, "AVERAGE_POOL_2D": 1}[c],
                               "builtin_code": c, "version": 1} for c in codes],
           "subgraphs": [{"tensors": tensors, "inputs": [index[model["input"]]],
                          "outputs": [index[model["output"]]], "operators": operators, "name": "main"}],
           "description": "edgevision make_detector_copies.py (SYNTHETIC)",
           "buffers": buffers}
    js = os.path.join(work, "detector.json")
    with open(js, "w") as f:
        json.dump(doc, f)
    subprocess.run(["flatc", "--binary", "-o", work, os.path.join(mfc.SCHEMAS, "tflite.fbs"), js], check=True)
    shutil.move(os.path.join(work, "detector.tflite"), path)
    with open(path, "rb") as f:
        return f.read()


DOCKERFILE = ("# edgevision test stand-in for a Custom Vision Dockerfile export (ExporterVersion 2.1);\n"
              "# the real one installs TensorFlow and runs app/app.py. Written by make_detector_copies.py.\n"
              "FROM python:3.7-slim\nCOPY app /app\nCMD python -u /app/app.py\n")


def write_docker(graph_bytes, folder):
    app = os.path.join(folder, "app")
    os.makedirs(app, exist_ok=True)
    with open(os.path.join(app, "model.pb"), "wb") as f:
        f.write(graph_bytes)
    for name in ("cvexport.manifest", "metadata_properties.json"):
        shutil.copyfile(os.path.join(DOCKER_SIDE, name), os.path.join(app, name))
    with open(os.path.join(app, "labels.txt"), "w") as f:
        f.write("\n".join(LABELS) + "\n")
    with open(os.path.join(folder, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE)


def write_zip(folder, path, top):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for root, _, files in sorted(os.walk(folder)):
            for fn in sorted(files):
                p = os.path.join(root, fn)
                info = zipfile.ZipInfo(top + "/" + os.path.relpath(p, folder), date_time=(2022, 8, 30, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                with open(p, "rb") as f:
                    z.writestr(info, f.read())


def build(out):
    with open(METADATA) as f:
        metadata = json.load(f)
    with tempfile.TemporaryDirectory() as work:
        labels = os.path.join(work, "labels.txt")
        with open(labels, "w") as f:
            f.write("\n".join(LABELS) + "\n")
        model = read_onnx_detector(ONNX_MODEL)
        pb, spb = mfc.tf_protos(work)
        sides = dict(labels_from=labels, metadata=metadata, domain="ObjectDetection")

        folder = os.path.join(out, "tf")
        os.makedirs(folder, exist_ok=True)
        tg, _, _ = mfc.build_tf(model, pb)
        graph = tg.g.SerializeToString(deterministic=True)
        with open(os.path.join(folder, "model.pb"), "wb") as f:
            f.write(graph)
        mfc.side_files(folder, "TensorFlow", None, "model.pb", graph, **sides)

        folder = os.path.join(out, "tflite")
        os.makedirs(folder, exist_ok=True)
        data = write_tflite(model, os.path.join(folder, "model.tflite"), work)
        mfc.side_files(folder, "TensorFlow", "TensorFlowLite", "model.tflite", data, **sides)

        mfc.write_saved_model(model, pb, spb, os.path.join(out, "savedmodel"), labels, metadata)
        mfc.write_tfjs(model, pb, os.path.join(out, "tfjs"), labels, metadata)

        write_docker(graph, os.path.join(out, "docker-2022"))
        write_zip(os.path.join(out, "docker-2022"), os.path.join(out, "docker-2022.zip"),
                  "yolo_compact_fruit.DockerFile.Linux")


GOLDEN = os.path.join(REPO, "tests", "data", "detection", "golden", "photos_tflite.json")


def tflite_golden():
    """photos_tflite.json's text, or None when the reference code is absent."""
    import cv2
    from PIL import Image
    import detection_reference as ref
    if not ref.available():
        return None
    net = cv2.dnn.readNetFromONNX(ONNX_MODEL)

    def opencv(nhwc):  # the interpreter's stand-in: NHWC in, NHWC out
        net.setInput(np.ascontiguousarray(nhwc.transpose(0, 3, 1, 2)))
        return net.forward().transpose(0, 2, 3, 1)

    data = os.path.join(REPO, "tests", "data")
    photos = [("fruit_scene", "detection/fruit_scene.png")] + [
        (n, "cv-exports/iotedge-applebanana-tf/images/%s.jpg" % n) for n in ("apple1", "banana2", "apple2")]
    doc = {"description": "tests/data/synthetic/yolo_compact_fruit.onnx (SYNTHETIC) on four photos; "
                          "tflite-yolo-2023/predict.py (its own resize to ~512^2, multiples of 32, "
                          "resize_tensor_input) with tf.lite.Interpreter replaced by OpenCV DNN " + cv2.__version__,
           "labels": LABELS, "photos": []}
    for name, rel in photos:
        predictions, nhwc = ref.tflite_predict_image(Image.open(os.path.join(data, rel)), LABELS, opencv)
        doc["photos"].append({"name": name, "photo": rel, "input_shape": list(nhwc.shape),
                              "predictions": predictions})
    return json.dumps(doc, indent=1) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="rebuild in a temporary folder and compare, write nothing")
    ap.add_argument("--golden", action="store_true", help="also (re)write or --check photos_tflite.json")
    args = ap.parse_args()
    if args.golden:
        text = tflite_golden()
        if text is None:
            print("reference code absent: golden not made", file=sys.stderr)
            return 77
        if args.check:
            with open(GOLDEN) as f:
                same = f.read() == text
            print("%-60s %s" % (os.path.relpath(GOLDEN, REPO), "ok" if same else "DIFFERS"))
            if not same:
                return 1
        else:
            with open(GOLDEN, "w") as f:
                f.write(text)
    if not args.check:
        shutil.rmtree(OUT, ignore_errors=True)
        build(OUT)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        build(tmp)
        return mfc.compare_trees(tmp, OUT, REPO)


if __name__ == "__main__":
    sys.exit(main())
