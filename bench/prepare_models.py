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
      exports as shipped). The rewrite is the one tests/parity/
      check_probabilities.py uses for OpenCV, with the same maths:
        * the ZipMap / ArgMax / ArrayFeatureExtractor tail is dropped: the
          output is the float score vector that fed the ZipMap;
        * WinMLTools' com.microsoft.LegacyPadding + MaxPool(VALID) becomes
          MaxPool(ceil_mode=1) (Caffe's ceil pooling, what LegacyPadding means);
        * the experimental FC op becomes Gemm(transB=1);
        * ImageScaler(scale=1, no bias) becomes Identity; legacy 'broadcast'
          and 'spatial' attributes are dropped (numpy broadcasting, the same
          values); nodes are sorted topologically; initializers are removed
          from the graph inputs; opset 1 is raised to 11.
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
  models.json
      what was written, for the harness.

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


def peer_onnx(path, outputs):
    """The rewrite described above; returns an onnx.ModelProto."""
    m = onnx.load(path)
    g = m.graph
    tail = {"ZipMap", "ArgMax", "ArrayFeatureExtractor"}
    legacy = {n.output[0]: n.input[0] for n in g.node if n.op_type == "LegacyPadding"}
    score = [n.input[0] for n in g.node if n.op_type == "ZipMap"][0]
    broadcast_consts = set()
    nodes = []
    for n in g.node:
        if n.op_type in tail or n.op_type == "LegacyPadding":
            continue
        if n.op_type == "Constant" and n.attribute[0].t.data_type == TensorProto.STRING:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        if n.op_type == "FC":
            n = helper.make_node("Gemm", list(n.input), list(n.output), transB=1, name=n.name)
        elif n.op_type == "ImageScaler" and attrs.get("scale", 1.0) == 1.0 and not any(attrs.get("bias", [])):
            n = helper.make_node("Identity", [n.input[0]], list(n.output), name=n.name)
        elif n.op_type == "MaxPool" and n.input[0] in legacy:
            n = helper.make_node("MaxPool", [legacy[n.input[0]]], list(n.output), name=n.name,
                                 kernel_shape=attrs["kernel_shape"], strides=attrs["strides"], ceil_mode=1)
        elif n.op_type in ("Mul", "Add") and attrs.get("broadcast") == 1:
            broadcast_consts.add(n.input[1])
            n = helper.make_node(n.op_type, list(n.input), list(n.output), name=n.name)
        elif n.op_type == "BatchNormalization" and "spatial" in attrs:
            n = helper.make_node(n.op_type, list(n.input), list(n.output), name=n.name,
                                 epsilon=attrs.get("epsilon", 1e-5))
        nodes.append(n)
    inits = {i.name for i in g.initializer}
    avail = inits | {i.name for i in g.input}
    ordered = []
    while nodes:
        for i, n in enumerate(nodes):
            if all(x in avail or x == "" for x in n.input):
                ordered.append(n)
                avail |= set(n.output)
                nodes.pop(i)
                break
        else:
            raise SystemExit(path + ": cycle")
    del g.node[:]
    g.node.extend(ordered)
    for init in g.initializer:
        if init.name in broadcast_consts and len(init.dims) == 1:
            init.dims[:] = [1, init.dims[0], 1, 1]
    inputs = [i for i in g.input if i.name not in inits]
    for i in inputs:  # batch 1, as every engine here is timed
        dims = i.type.tensor_type.shape.dim
        if dims and not dims[0].dim_value:
            dims[0].dim_value = 1
    del g.input[:]
    g.input.extend(inputs)
    del g.output[:]
    g.output.append(helper.make_tensor_value_info(score, TensorProto.FLOAT, [1, outputs]))
    del g.value_info[:]
    opset = max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
    del m.opset_import[:]
    # Opset 1 (WinMLTools) becomes 11 (MaxPool ceil_mode needs >= 10); opset 7
    # exports keep theirs (their Pad nodes are opset-7 Pads).
    m.opset_import.append(helper.make_opsetid("", opset if opset >= 7 else 11))
    m.ir_version = 7
    onnx.checker.check_model(m)
    return m


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


def main():
    out = os.path.abspath(sys.argv[1])
    os.makedirs(os.path.join(out, "peer"), exist_ok=True)
    made = {}
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
    made.update(torch_models(out))
    with open(os.path.join(out, "models.json"), "w") as f:
        json.dump(made, f, indent=2)
    print("prepare_models: wrote", ", ".join(made))


if __name__ == "__main__":
    main()
