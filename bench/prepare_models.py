#!/usr/bin/python3
"""Builds the model files bench/run.sh times (Debian's /usr/bin/python3 with
python3-torch, python3-torchvision, python3-onnx).

    prepare_models.py OUT_DIR

Writes, under OUT_DIR:
  mobilenet_v2/, mobilenet_v3_small/, mobilenet_v3_large/
      model.onnx + labels.txt: torchvision's architectures at 224x224 with
      RANDOM weights (torch.manual_seed(0); no pretrained weights are
      downloaded), exported by torch.onnx (opset 13), eval mode (BatchNorm
      folded by edgevision at load). Speed depends on the architecture, not on
      the weight values. edgevision loads these files as they are.
  peer/<export>.onnx
      the real Custom Vision ONNX exports rewritten so ONNX Runtime 1.30 and
      OpenCV 4.6 accept them (PEER side only; edgevision always loads the
      exports as shipped): tests/parity/onnx_peer_rewrite.py, the rewrite
      the parity check uses for OpenCV, with the same maths.
  peer/<tf export>.pb
      iotedge-applebanana-tf for OpenCV: its constant data_bn block (which
      OpenCV refuses) is removed and conv1 reads the Placeholder. The affine
      data_bn applied is per-channel on the input: it costs nothing
      measurable, and the peers are timed without it.
      android-fruit-tf loads in OpenCV as shipped (copied).
  peer/<mobilenet>.opencv.onnx
      torch's export with each Identity-of-an-initializer replaced by a copy
      of the initializer (OpenCV 4.6 refuses those Identity nodes) and each
      Clip(x, min, max) of opset 11+ written as the opset-6 Clip(x) with
      min/max attributes (OpenCV 4.6 reads only that form). Same maths.
  detector_mobilenet_v2/
      a compact (YOLO) OBJECT DETECTOR of realistic work at ~512^2: torchvision
      mobilenet_v2's feature extractor (stride 32, RANDOM weights) and a 1x1
      conv to 5 anchors x (5 + 2 classes), exported with Custom Vision's
      compact ONNX contract (input `data` [1,3,448,608], output
      `model_outputs0` [1,35,14,19]) plus labels.txt, a manifest
      (DomainType ObjectDetection) and metadata (Postprocess.Method Yolo).
      Both engines run it at 448x608, the size of a 4:3 photo's input.
  formats/onnx/model.onnx (+ the other formats)
      the real Docker 2.2 export (docker22-appleorange-tflite) written out as
      ONNX float32 by tests/parity/make_format_copies.py, the same weights
      (float16 values widened): ONNX Runtime runs it, edgevision runs the
      export as shipped (its model.tflite). OpenCV 4.6 cannot run it (its
      Permute layer refuses the 5-D channel-shuffle Transpose).
  models.json
      what was written, for the harness.

`prepare_models.py OUT_DIR --only detector` writes only the detector (and
models.json with it).

ONNX Runtime has no TensorFlow reader: the TF exports are covered for it
by the ONNX exports, which have the same architecture (the harness checks
that edgevision counts the same multiply-adds for all of them).
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import onnx
from onnx import TensorProto, helper

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
EXPORTS = os.path.join(REPO, "tests", "data", "cv-exports")
sys.path.insert(0, os.path.join(REPO, "tests", "parity"))
from onnx_peer_rewrite import peer_onnx  # noqa: E402  (shared with the parity check)


def opencv_torch(path, out):
    """OpenCV 4.6 refuses Identity nodes that read an initializer (torch's
    exporter emits them for de-duplicated constants): each becomes a copy of
    that initializer under the Identity's output name. Same maths."""
    m = onnx.load(path)
    g = m.graph
    from onnx import numpy_helper
    inits = {i.name: i for i in g.initializer}
    consts = {n.output[0]: float(numpy_helper.to_array(n.attribute[0].t))
              for n in g.node if n.op_type == "Constant"}
    keep = []
    for n in g.node:
        if n.op_type == "Clip" and len(n.input) > 1:
            lo = consts.get(n.input[1], float("-inf")) if n.input[1] else float("-inf")
            hi = consts.get(n.input[2], float("inf")) if len(n.input) > 2 and n.input[2] else float("inf")
            keep.append(helper.make_node("Clip", [n.input[0]], list(n.output), name=n.name, min=lo, max=hi))
        elif n.op_type == "Identity" and n.input[0] in inits:
            copy = onnx.TensorProto()
            copy.CopyFrom(inits[n.input[0]])
            copy.name = n.output[0]
            g.initializer.append(copy)
        else:
            keep.append(n)
    del g.node[:]
    g.node.extend(keep)
    onnx.save(m, out)


def peer_tf_without_data_bn(path, out):
    """iotedge-applebanana-tf minus its constant data_bn block (see above)."""
    schemas = os.path.join(REPO, "src", "model", "schemas")
    with tempfile.TemporaryDirectory() as work:
        subprocess.run(["protoc", "--python_out=" + work, "-I" + schemas,
                        os.path.join(schemas, "tf_graph.proto")], check=True)
        sys.path.insert(0, work)
        import tf_graph_pb2  # noqa: E402
        g = tf_graph_pb2.GraphDef()
        with open(path, "rb") as f:
            g.ParseFromString(f.read())
        for n in g.node:
            if n.op == "Conv2D" and n.input[0] == "data_bn/data_bn/add_1":
                n.input[0] = "Placeholder"
        keep = [n for n in g.node if not n.name.startswith("data_bn/")]
        del g.node[:]
        g.node.extend(keep)
        with open(out, "wb") as f:
            f.write(g.SerializeToString())


def labels(model_dir):
    with open(os.path.join(model_dir, "labels.txt"), encoding="utf-8") as f:
        return [l.strip() for l in f if l.strip()]


def torch_models(out):
    import torch
    import torchvision
    made = {}
    for name in ("mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large"):
        folder = os.path.join(out, name)
        os.makedirs(folder, exist_ok=True)
        path = os.path.join(folder, "model.onnx")
        if not os.path.exists(path):
            torch.manual_seed(0)
            model = getattr(torchvision.models, name)()  # random weights: nothing downloaded
            model.eval()
            x = torch.randn(1, 3, 224, 224)
            with torch.no_grad():
                torch.onnx.export(model, x, path + ".tmp", opset_version=13, input_names=["data"],
                                  output_names=["scores"], do_constant_folding=True)
            os.replace(path + ".tmp", path)
            with open(os.path.join(folder, "labels.txt"), "w") as f:
                f.write("".join("class%d\n" % i for i in range(1000)))
        opencv_path = os.path.join(out, "peer", name + ".opencv.onnx")
        opencv_torch(path, opencv_path)
        made[name] = {"edgevision": folder, "peer_onnx": path, "peer_opencv": opencv_path,
                      "layout": "nchw", "size": 224, "weights": "random (torch.manual_seed(0))"}
    return made


def detector_model(out):
    import torch
    import torchvision
    name = "detector_mobilenet_v2"
    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, "model.onnx")
    if not os.path.exists(path):
        torch.manual_seed(0)

        class CompactDetector(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.features = torchvision.models.mobilenet_v2().features  # random weights
                self.head = torch.nn.Conv2d(1280, 5 * (5 + 2), 1)
                with torch.no_grad():
                    self.head.weight.mul_(0.01)  # keep exp(tw), exp(th) finite on 0..255 input

            def forward(self, x):
                return self.head(self.features(x))

        model = CompactDetector().eval()
        x = torch.rand(1, 3, 448, 608) * 255
        with torch.no_grad():
            torch.onnx.export(model, x, path + ".tmp", opset_version=13, input_names=["data"],
                              output_names=["model_outputs0"], do_constant_folding=True)
        os.replace(path + ".tmp", path)
    with open(os.path.join(folder, "labels.txt"), "w") as f:
        f.write("apple\nbanana\n")
    with open(os.path.join(folder, "cvexport.manifest"), "w") as f:
        json.dump({"DomainType": "ObjectDetection", "Platform": "ONNX", "ModelFileName": "model.onnx",
                   "LabelFileName": "labels.txt", "MetadataPropsFileName": "metadata_properties.json"}, f)
    with open(os.path.join(folder, "metadata_properties.json"), "w") as f:
        json.dump({"CustomVision.Postprocess.Method": "Yolo"}, f)
    return {name: {"edgevision": folder, "peer_onnx": path, "layout": "nchw", "size": [448, 608],
                   "detector": True, "weights": "random (torch.manual_seed(0))"}}


def main():
    out = os.path.abspath(sys.argv[1])
    os.makedirs(os.path.join(out, "peer"), exist_ok=True)
    made = {}
    if sys.argv[2:4] == ["--only", "detector"]:
        made.update(detector_model(out))
        with open(os.path.join(out, "models.json"), "w") as f:
            json.dump(made, f, indent=2)
        print("prepare_models: wrote", ", ".join(made))
        return
    for name in ("winml-food-onnx", "uwp-catdog-onnx12"):
        folder = os.path.join(EXPORTS, name)
        path = os.path.join(out, "peer", name + ".onnx")
        onnx.save(peer_onnx(os.path.join(folder, "model.onnx"), len(labels(folder))), path)
        made[name] = {"edgevision": folder, "peer_onnx": path, "peer_opencv": path,
                      "layout": "nchw", "size": 227, "weights": "real export"}
    apple = os.path.join(out, "peer", "iotedge-applebanana-tf.pb")
    peer_tf_without_data_bn(os.path.join(EXPORTS, "iotedge-applebanana-tf", "model.pb"), apple)
    made["iotedge-applebanana-tf"] = {"edgevision": os.path.join(EXPORTS, "iotedge-applebanana-tf"),
                                      "peer_onnx": None, "peer_opencv": apple, "layout": "nchw",
                                      "size": 227, "weights": "real export"}
    fruit = os.path.join(out, "peer", "android-fruit-tf.pb")
    shutil.copyfile(os.path.join(EXPORTS, "android-fruit-tf", "model.pb"), fruit)
    made["android-fruit-tf"] = {"edgevision": os.path.join(EXPORTS, "android-fruit-tf"),
                                "peer_onnx": None, "peer_opencv": fruit, "layout": "nchw",
                                "size": 227, "weights": "real export"}
    formats = os.path.join(out, "peer", "formats")
    subprocess.run([sys.executable, os.path.join(REPO, "tests", "parity", "make_format_copies.py"),
                    "--out", formats], check=True, stdout=subprocess.DEVNULL)
    made["docker22-appleorange-tflite"] = {
        "edgevision": os.path.join(EXPORTS, "docker22-appleorange-tflite"),
        "peer_onnx": os.path.join(formats, "onnx", "model.onnx"), "peer_opencv": None,
        "layout": "nchw", "size": 224, "weights": "real export (ONNX copy for the peer)"}
    made.update(torch_models(out))
    made.update(detector_model(out))
    with open(os.path.join(out, "models.json"), "w") as f:
        json.dump(made, f, indent=2)
    print("prepare_models: wrote", ", ".join(made))


if __name__ == "__main__":
    main()
