#!/usr/bin/python3
"""Writes the real Docker 2.2 export's graph and weights out in every other
Custom Vision export format, with each format's I/O contract and side files.

Usage (Debian's /usr/bin/python3 with python3-onnx, python3-protobuf,
python3-numpy; flatc and protoc from flatbuffers-compiler/protobuf-compiler):
    make_format_copies.py --out DIR [--tflite tests/data/cv-exports/docker22-appleorange-tflite/app/model.tflite]

No TensorFlow exists on Debian 12, so the files are written from the formats'
published schemas: the TFLite flatbuffer is read with `flatc --json` against
src/model/schemas/tflite.fbs; TensorFlow protobufs are written with classes
protoc generates from src/model/schemas/tf_graph.proto plus the SavedModel,
signature and tensor-bundle messages declared in tf_saved_model.proto (field
numbers as in TensorFlow's own protos). Every copy carries exactly the
weights of the real model (float16 values widened to float32, or kept as
float16 for the Float16 flavours), so every format must give the same
probabilities on the same tensor.

Writes, under DIR (each a folder as the export zip unpacks, with labels.txt,
cvexport.manifest and metadata_properties.json as shipped by that export):
  onnx/            model.onnx, float32, NCHW input `data` [1,3,224,224] ->
                   `model_outputs` [1,2]; metadata_props copied from
                   metadata_properties.json except Image.BitmapPixelFormat =
                   Bgr8 and Image.NominalPixelRange = NominalRange_0_255 (the
                   contract the weights need: their first layer subtracts the
                   BGR means 104/117/123 from 0-255 values)
  onnx-float16/    the same with float16 initializers, float16 input and
                   output (the OnnxFloat16 flavour)
  tf/              model.pb, frozen GraphDef, compact names: `Placeholder`
                   [-1,224,224,3] -> `loss` (Softmax) -> `model_outputs`
                   (Identity)
  tf-s1names/      model.pb with S1 names: `data` [1,224,224,3] ->
                   `model_output` (Softmax); edgevision treats it as S1 (RGB)
  savedmodel/      saved_model.pb (MetaGraphDef tagged `serve`, signature
                   `serving_default`, weights as resource variables read by
                   ReadVariableOp, plus the save/restore sub-graph) and
                   variables/variables.{index,data-00000-of-00001} (a
                   TensorBundle: an SSTable index and the raw tensors)
  tfjs/            model.json (graph model, `Placeholder` -> `model_outputs`)
                   + group1-shard1of2.bin, group1-shard2of2.bin (float32,
                   4 MiB shards as tensorflowjs_converter writes them)
  tflite-float16/  model.tflite (the real file: float16 weights behind
                   DEQUANTIZE, the TensorFlowLiteFloat16 flavour)
"""

import argparse
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCHEMAS = os.path.join(REPO, "src", "model", "schemas")
EXPORT = os.path.join(REPO, "tests", "data", "cv-exports", "docker22-appleorange-tflite")
DEFAULT_TFLITE = os.path.join(EXPORT, "app", "model.tflite")
SHARD_BYTES = 4 * 1024 * 1024
# Dates and ids for the manifests (fixed so the files are reproducible).
EXPORTED_DATE = "2025-06-01T00:00:00.0000000Z"
ITERATION_ID = "00000000-0000-0000-0000-000000000012"


# --------------------------------------------------------------------------
# Reading the TFLite model into a small list of ops with numpy constants.

def read_tflite(path, work):
    subprocess.run(["flatc", "--json", "--strict-json", "--raw-binary", "-o", work,
                    os.path.join(SCHEMAS, "tflite.fbs"), "--", path], check=True)
    with open(os.path.join(work, os.path.splitext(os.path.basename(path))[0] + ".json")) as f:
        m = json.load(f)
    sg = m["subgraphs"][0]
    tensors = sg["tensors"]
    codes = [c.get("builtin_code", "ADD") for c in m["operator_codes"]]
    dtypes = {"FLOAT32": np.float32, "FLOAT16": np.float16, "INT32": np.int32}

    def const(i):
        t = tensors[i]
        data = m["buffers"][t["buffer"]].get("data")
        if data is None:
            return None
        a = np.frombuffer(bytes(data), dtypes[t.get("type", "FLOAT32")])
        return a.reshape(t.get("shape", []))

    consts = {}  # tensor index -> numpy array (float16 kept as float16)
    ops = []
    for op in sg["operators"]:
        kind = codes[op.get("opcode_index", 0)]
        ins, outs = op["inputs"], op["outputs"]
        if kind == "DEQUANTIZE":
            consts[outs[0]] = const(ins[0])
            continue
        for i in ins:
            if i >= 0 and i not in consts:
                c = const(i)
                if c is not None:
                    consts[i] = c
        ops.append({"kind": kind, "in": [i for i in ins if i >= 0], "out": outs,
                    "opt": op.get("builtin_options", {})})
    names = {i: t["name"] for i, t in enumerate(tensors)}
    shapes = {i: t.get("shape", []) for i, t in enumerate(tensors)}
    return {"ops": ops, "consts": consts, "names": names, "shapes": shapes,
            "input": sg["inputs"][0], "output": sg["outputs"][0]}


def f32(a):
    return np.asarray(a, dtype=np.float32)


# --------------------------------------------------------------------------
# Side files.

def side_files(folder, platform, flavor, model_file, model_bytes, labels_from, metadata,
               domain="Classification"):
    os.makedirs(folder, exist_ok=True)
    shutil.copyfile(labels_from, os.path.join(folder, "labels.txt"))
    with open(os.path.join(folder, "metadata_properties.json"), "w") as f:
        json.dump(metadata, f, indent=4)
    manifest = {
        "DomainType": domain,
        "Platform": platform,
        "Flavor": flavor,
        "ExporterVersion": "2.1" if platform == "TensorFlow" and flavor is None else "2.0",
        "ExportedDate": EXPORTED_DATE,
        "IterationId": ITERATION_ID,
        "ModelFileName": model_file,
        "LabelFileName": "labels.txt",
        "MetadataPropsFileName": "metadata_properties.json",
        "ModelFileSHA1": hashlib.sha1(model_bytes).hexdigest(),
        "SchemaVersion": "1.0",
    }
    with open(os.path.join(folder, "cvexport.manifest"), "w") as f:
        json.dump(manifest, f, indent=2)


# --------------------------------------------------------------------------
# ONNX (NCHW).

def write_onnx(model, metadata, path, half):
    import onnx
    from onnx import helper, TensorProto, numpy_helper

    fdt = np.float16 if half else np.float32
    elem = TensorProto.FLOAT16 if half else TensorProto.FLOAT
    names, consts, shapes = model["names"], model["consts"], model["shapes"]
    inits, nodes = [], []

    def init(name, array):
        inits.append(numpy_helper.from_array(array, name))
        return name

    def val(i):
        return names[i]

    for k, op in enumerate(model["ops"]):
        kind, ins, out, opt = op["kind"], op["in"], names[op["out"][0]], op["opt"]
        x = val(ins[0])
        if kind in ("MUL", "ADD"):
            c = init(names[ins[1]], f32(consts[ins[1]]).reshape(1, -1, 1, 1).astype(fdt))
            nodes.append(helper.make_node("Mul" if kind == "MUL" else "Add", [x, c], [out], name=out))
        elif kind == "PAD":
            p = consts[ins[1]].astype(np.int64)  # [4,2] NHWC pairs
            nchw = [p[0], p[3], p[1], p[2]]
            pads = np.array([q[0] for q in nchw] + [q[1] for q in nchw], np.int64)
            nodes.append(helper.make_node("Pad", [x, init(out + "/pads", pads)], [out], name=out))
        elif kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w = f32(consts[ins[1]])  # CONV [O,H,W,I]; DEPTHWISE [1,H,W,C]
            if kind == "CONV_2D":
                w = w.transpose(0, 3, 1, 2)
                group = 1
            else:
                w = w.transpose(3, 0, 1, 2)
                group = w.shape[0]
            # The 2.2 model pads explicitly (PAD + VALID); its 1x1 stride-1
            # convolutions say SAME, which pads nothing.
            assert opt.get("padding", "SAME") == "VALID" or (
                w.shape[2:] == (1, 1) and opt.get("stride_h", 1) == 1), opt
            attrs = dict(kernel_shape=list(w.shape[2:]), strides=[opt.get("stride_h", 1), opt.get("stride_w", 1)],
                         pads=[0, 0, 0, 0], group=group)
            act = opt.get("fused_activation_function", "NONE")
            conv_out = out + "/conv" if act == "RELU" else out
            nodes.append(helper.make_node(
                "Conv", [x, init(out + "/W", w.astype(fdt)), init(out + "/B", f32(consts[ins[2]]).astype(fdt))],
                [conv_out], name=conv_out, **attrs))
            if act == "RELU":
                nodes.append(helper.make_node("Relu", [conv_out], [out], name=out))
            else:
                assert act == "NONE", act
        elif kind in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            nodes.append(helper.make_node(
                "MaxPool" if kind == "MAX_POOL_2D" else "AveragePool", [x], [out], name=out,
                kernel_shape=[opt["filter_height"], opt["filter_width"]],
                strides=[opt["stride_h"], opt["stride_w"]], pads=[0, 0, 0, 0]))
        elif kind == "CONCATENATION":
            assert opt["axis"] == 3
            nodes.append(helper.make_node("Concat", [val(i) for i in ins], [out], name=out, axis=1))
        elif kind == "RESHAPE":
            # Only the channel shuffles reshape: [1,H,W,C] -> [1,HW,G,C/G] and
            # back. In NCHW: [1,C,H,W] -> [1,G,C/G,H,W] -> Transpose -> [1,C,H,W].
            src, dst = shapes[ins[0]], shapes[op["out"][0]]
            if dst[1] == src[1] * src[2] and dst[2] * dst[3] == src[3]:  # [1,H,W,C] -> [1,HW,G,K]
                n, h, w, c = src
                g = dst[2]
                target = [n, g, c // g, h, w]
            else:  # [1,HW,K,G] -> [1,H,W,C]
                assert src[1] == dst[1] * dst[2] and src[2] * src[3] == dst[3], (src, dst)
                n, h, w, c = dst
                target = [n, c, h, w]
            nodes.append(helper.make_node("Reshape", [x, init(out + "/shape", np.array(target, np.int64))],
                                          [out], name=out))
        elif kind == "TRANSPOSE":
            assert list(consts[ins[1]]) == [0, 1, 3, 2]
            nodes.append(helper.make_node("Transpose", [x], [out], name=out, perm=[0, 2, 1, 3, 4]))
        elif kind == "SLICE":
            begin, size = list(consts[ins[1]]), list(consts[ins[2]])
            c = shapes[ins[0]][3]
            start = int(begin[3])
            end = c if size[3] == -1 else start + int(size[3])
            nodes.append(helper.make_node(
                "Slice", [x, init(out + "/starts", np.array([start], np.int64)),
                          init(out + "/ends", np.array([end], np.int64)),
                          init(out + "/axes", np.array([1], np.int64))], [out], name=out))
        elif kind == "FULLY_CONNECTED":
            flat = out + "/flatten"
            nodes.append(helper.make_node("Flatten", [x], [flat], name=flat, axis=1))
            nodes.append(helper.make_node(
                "Gemm", [flat, init(out + "/W", f32(consts[ins[1]]).astype(fdt)),
                         init(out + "/B", f32(consts[ins[2]]).astype(fdt))],
                [out], name=out, transB=1))
        elif kind == "SOFTMAX":
            nodes.append(helper.make_node("Softmax", [x], ["model_outputs"], name="model_outputs", axis=1))
        else:
            raise SystemExit("op %s not handled" % kind)
    # The graph input is `data` (NCHW), the output `model_outputs`.
    in_name = names[model["input"]]
    for n in nodes:
        n.input[:] = ["data" if i == in_name else i for i in n.input]
    n_out = shapes[model["output"]][1]
    graph = helper.make_graph(
        nodes, "CustomVision",
        [helper.make_tensor_value_info("data", elem, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("model_outputs", elem, [1, n_out])], inits)
    m = helper.make_model(graph, producer_name="edgevision make_format_copies.py",
                          opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    props = dict(metadata)
    props["Image.BitmapPixelFormat"] = "Bgr8"
    props["Image.NominalPixelRange"] = "NominalRange_0_255"
    helper.set_model_props(m, props)
    onnx.checker.check_model(m)
    data = m.SerializeToString()
    with open(path, "wb") as f:
        f.write(data)
    return data


# --------------------------------------------------------------------------
# TensorFlow protobufs.

def tf_protos(work):
    """Compiles tf_graph.proto and tf_saved_model.proto to Python classes."""
    subprocess.run(["protoc", "-I", SCHEMAS, "--python_out", work,
                    os.path.join(SCHEMAS, "tf_graph.proto"),
                    os.path.join(SCHEMAS, "tf_saved_model.proto")], check=True)
    sys.path.insert(0, work)
    import tf_graph_pb2
    import tf_saved_model_pb2
    return tf_graph_pb2, tf_saved_model_pb2


class TfGraph:
    """Builds a GraphDef with the ops the 2.2 model needs (NHWC)."""

    def __init__(self, pb):
        self.pb = pb
        self.g = pb.GraphDef()
        self.g.versions.producer = 440  # TensorFlow 2.3-era graphs
        self.weights = {}  # const name -> float32 array (what becomes a variable)

    def node(self, name, op, inputs=(), **attrs):
        n = self.g.node.add(name=name, op=op)
        n.input.extend(inputs)
        for k, v in attrs.items():
            a = n.attr[k]
            if isinstance(v, tuple) and v[0] == "type":
                a.type = v[1]
            elif isinstance(v, tuple) and v[0] == "shape":
                for d in v[1]:
                    a.shape.dim.add(size=d)
            elif isinstance(v, tuple) and v[0] == "ints":
                a.list.i.extend(v[1])
            elif isinstance(v, bytes):
                a.s = v
            elif isinstance(v, bool):
                a.b = v
            elif isinstance(v, int):
                a.i = v
            elif isinstance(v, float):
                a.f = v
            else:
                a.tensor.CopyFrom(v)
        return name

    def tensor(self, array):
        t = self.pb.TensorProto()
        if array.dtype == np.float32:
            t.dtype = self.pb.DT_FLOAT
        elif array.dtype == np.int32:
            t.dtype = self.pb.DT_INT32
        else:
            raise ValueError(array.dtype)
        for d in array.shape:
            t.tensor_shape.dim.add(size=d)
        t.tensor_content = array.astype(array.dtype.newbyteorder("<")).tobytes()
        return t

    def const(self, name, array, weight=False):
        array = np.ascontiguousarray(array) if np.ndim(array) else np.asarray(array)  # keeps a scalar 0-D
        if weight:
            self.weights[name] = array
        dt = self.pb.DT_FLOAT if array.dtype == np.float32 else self.pb.DT_INT32
        return self.node(name, "Const", value=self.tensor(array), dtype=("type", dt))


def build_tf(model, pb, s1_names=False, batch=-1):
    """The 2.2 model as a TensorFlow graph. Returns (TfGraph, input, output)."""
    tg = TfGraph(pb)
    names, consts, shapes = model["names"], model["consts"], model["shapes"]
    F = ("type", pb.DT_FLOAT)
    in_name = "data" if s1_names else "Placeholder"
    in_h, in_w = model.get("in_hw", (224, 224))
    tg.node(in_name, "Placeholder", dtype=F, shape=("shape", [batch, in_h, in_w, 3]))
    val = {model["input"]: in_name}

    def i32(a):
        return np.array(a, np.int32)

    for op in model["ops"]:
        kind, ins, opt = op["kind"], op["in"], op["opt"]
        out = names[op["out"][0]].split(";")[0]
        x = val[ins[0]]
        if kind in ("MUL", "ADD"):
            c = tg.const(out + "/y", f32(consts[ins[1]]), weight=True)
            y = tg.node(out, "Mul" if kind == "MUL" else "AddV2", [x, c], T=F)
        elif kind == "PAD":
            p = tg.const(out + "/paddings", i32(consts[ins[1]]))
            y = tg.node(out, "Pad", [x, p], T=F, Tpaddings=("type", pb.DT_INT32))
        elif kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            w = f32(consts[ins[1]])
            if kind == "CONV_2D":
                w = w.transpose(1, 2, 3, 0)  # [O,H,W,I] -> HWIO
                op_name = "Conv2D"
            else:
                w = w.transpose(1, 2, 3, 0)  # [1,H,W,C] -> [H,W,C,1]
                op_name = "DepthwiseConv2dNative"
            base = out.rsplit("/", 1)[0] if "/" in out else out
            wc = tg.const(base + "/weights", w, weight=True)
            bc = tg.const(base + "/biases", f32(consts[ins[2]]), weight=True)
            conv = tg.node(base + "/" + op_name, op_name, [x, wc], T=F,
                           strides=("ints", [1, opt.get("stride_h", 1), opt.get("stride_w", 1), 1]),
                           padding=opt.get("padding", "SAME").encode(), data_format=b"NHWC",
                           dilations=("ints", [1, 1, 1, 1]))
            y = tg.node(base + "/BiasAdd", "BiasAdd", [conv, bc], T=F, data_format=b"NHWC")
            if opt.get("fused_activation_function", "NONE") == "RELU":
                y = tg.node(base + "/Relu", "Relu", [y], T=F)
        elif kind == "LEAKY_RELU":
            y = tg.node(out, "LeakyRelu", [x], T=F, alpha=float(opt["alpha"]))
        elif kind in ("MAX_POOL_2D", "AVERAGE_POOL_2D"):
            y = tg.node(out, "MaxPool" if kind == "MAX_POOL_2D" else "AvgPool", [x], T=F,
                        ksize=("ints", [1, opt["filter_height"], opt["filter_width"], 1]),
                        strides=("ints", [1, opt["stride_h"], opt["stride_w"], 1]),
                        padding=b"VALID", data_format=b"NHWC")
        elif kind == "CONCATENATION":
            axis = tg.const(out + "/axis", np.array(3, np.int32))
            y = tg.node(out, "ConcatV2", [val[i] for i in ins] + [axis], T=F, N=len(ins),
                        Tidx=("type", pb.DT_INT32))
        elif kind == "RESHAPE":
            target = [int(v) for v in consts[ins[1]]]
            target[0] = -1
            s = tg.const(out + "/shape", i32(target))
            y = tg.node(out, "Reshape", [x, s], T=F, Tshape=("type", pb.DT_INT32))
        elif kind == "TRANSPOSE":
            p = tg.const(out + "/perm", i32(consts[ins[1]]))
            y = tg.node(out, "Transpose", [x, p], T=F, Tperm=("type", pb.DT_INT32))
        elif kind == "SLICE":
            size = [int(v) for v in consts[ins[2]]]
            size[0] = -1
            b = tg.const(out + "/begin", i32(consts[ins[1]]))
            s = tg.const(out + "/size", i32(size))
            y = tg.node(out, "Slice", [x, b, s], T=F, Index=("type", pb.DT_INT32))
        elif kind == "FULLY_CONNECTED":
            flat = tg.const("fc/flatten/shape", i32([-1, shapes[ins[1]][1]]))
            r = tg.node("fc/flatten", "Reshape", [x, flat], T=F, Tshape=("type", pb.DT_INT32))
            w = tg.const("fc/weights", f32(consts[ins[1]]).T, weight=True)
            b = tg.const("fc/biases", f32(consts[ins[2]]), weight=True)
            mm = tg.node("fc/MatMul", "MatMul", [r, w], T=F, transpose_a=False, transpose_b=False)
            y = tg.node("fc/fc", "BiasAdd", [mm, b], T=F, data_format=b"NHWC")
        elif kind == "SOFTMAX":
            if s1_names:
                y = tg.node("model_output", "Softmax", [x], T=F)
            else:
                y = tg.node("loss", "Softmax", [x], T=F)
                y = tg.node("model_outputs", "Identity", [y], T=F)
        else:
            raise SystemExit("op %s not handled" % kind)
        val[op["out"][0]] = y
    if model.get("domain") == "ObjectDetection":  # the compact detector's raw grid, by its export name
        val[model["output"]] = tg.node("model_outputs", "Identity", [val[model["output"]]], T=F)
    return tg, in_name, val[model["output"]]


# --------------------------------------------------------------------------
# SavedModel: resource variables + a TensorBundle checkpoint.

def crc32c(data, crc=0):
    table = crc32c.table
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _crc_table():
    t = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t


crc32c.table = _crc_table()


def masked_crc(data):
    c = crc32c(data)
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def sstable(entries):
    """A LevelDB-format table (TensorFlow's tensor-bundle index): one data
    block with a restart point at every entry, an empty metaindex block, an
    index block and the 48-byte footer. `entries`: sorted (key, value) bytes."""
    out = bytearray()

    def block(items):
        body = bytearray()
        restarts = []
        for k, v in items:
            restarts.append(len(body))
            body += varint(0) + varint(len(k)) + varint(len(v)) + k + v
        if not restarts:
            restarts = [0]
        for r in restarts:
            body += struct.pack("<I", r)
        body += struct.pack("<I", len(restarts))
        handle = varint(len(out)) + varint(len(body))
        out.extend(body)
        out.extend(b"\x00" + struct.pack("<I", masked_crc(bytes(body) + b"\x00")))
        return handle

    data_handle = block(entries)
    meta_handle = block([])
    index_handle = block([(entries[-1][0], data_handle)])
    footer = meta_handle + index_handle
    footer += b"\x00" * (40 - len(footer))
    footer += struct.pack("<II", 0x8B80FB57, 0xDB477524)
    out.extend(footer)
    return bytes(out)


def signature_of(model, pb, in_name, out_name):
    """The signature of a graph build_tf made: {input: (key, node, shape), outputs: [(key, node,
    dtype, shape)], domain}."""
    return {"input": ("Placeholder", in_name, [-1] + list(model.get("in_hw", (224, 224))) + [3]),
            "outputs": [("model_outputs", out_name, pb.DT_FLOAT, [-1] + list(model["shapes"][model["output"]][1:]))],
            "domain": model.get("domain", "Classification")}


def write_saved_model(model, pb, spb, folder, labels, metadata, graph=None):
    """`graph`: (TfGraph, signature_of(...)) of another graph than build_tf(model) (model unused)."""
    if graph is None:
        tg, in_name, out_name = build_tf(model, pb)
        signature = signature_of(model, pb, in_name, out_name)
    else:
        tg, signature = graph
    # Turn every weight constant into a resource variable read by ReadVariableOp.
    F = ("type", pb.DT_FLOAT)
    g = tg.g
    weights = tg.weights
    new_nodes = []
    for n in g.node:
        if n.op == "Const" and n.name in weights:
            w = weights[n.name]
            var = pb.NodeDef(name=n.name + "/var", op="VarHandleOp")
            var.attr["dtype"].type = pb.DT_FLOAT
            for d in w.shape:
                var.attr["shape"].shape.dim.add(size=d)
            var.attr["shared_name"].s = n.name.encode()
            var.attr["container"].s = b""
            read = pb.NodeDef(name=n.name, op="ReadVariableOp", input=[n.name + "/var"])
            read.attr["dtype"].type = pb.DT_FLOAT
            new_nodes += [var, read]
        else:
            new_nodes.append(n)
    del g.node[:]
    g.node.extend(new_nodes)
    # The restore sub-graph a SavedModel carries (never run for inference).
    keys = sorted(weights)
    tg.node("saver_filename", "Placeholder", dtype=("type", pb.DT_STRING), shape=("shape", []))
    names_t = pb.TensorProto(dtype=pb.DT_STRING)
    names_t.tensor_shape.dim.add(size=len(keys))
    names_t.string_val.extend(k.encode() for k in keys)
    tg.node("save/RestoreV2/tensor_names", "Const", value=names_t, dtype=("type", pb.DT_STRING))
    slices_t = pb.TensorProto(dtype=pb.DT_STRING)
    slices_t.tensor_shape.dim.add(size=len(keys))
    slices_t.string_val.extend(b"" for _ in keys)
    tg.node("save/RestoreV2/shape_and_slices", "Const", value=slices_t, dtype=("type", pb.DT_STRING))
    rn = g.node.add(name="save/RestoreV2", op="RestoreV2",
                    input=["saver_filename", "save/RestoreV2/tensor_names", "save/RestoreV2/shape_and_slices"])
    rn.attr["dtypes"].list.type.extend([pb.DT_FLOAT] * len(keys))
    assigns = []
    for i, k in enumerate(keys):
        a = g.node.add(name="save/AssignVariableOp_%d" % i, op="AssignVariableOp",
                       input=[k + "/var", "save/RestoreV2:%d" % i])
        a.attr["dtype"].type = pb.DT_FLOAT
        assigns.append("^" + a.name)
    g.node.add(name="save/restore_all", op="NoOp", input=assigns)

    sm = spb.SavedModel(saved_model_schema_version=1)
    mg = sm.meta_graphs.add()
    mg.meta_info_def.tags.append("serve")
    mg.meta_info_def.tensorflow_version = "2.3.0"
    mg.graph_def.CopyFrom(g)
    mg.saver_def.filename_tensor_name = "saver_filename:0"
    mg.saver_def.restore_op_name = "save/restore_all"
    sig = mg.signature_def["serving_default"]
    sig.method_name = "tensorflow/serving/predict"
    key, node, shape = signature["input"]
    ti = sig.inputs[key]
    ti.name = node + ":0"
    ti.dtype = pb.DT_FLOAT
    for d in shape:
        ti.tensor_shape.dim.add(size=d)
    for key, node, dtype, shape in signature["outputs"]:
        to = sig.outputs[key]
        to.name = node + ":0"
        to.dtype = dtype
        for d in shape:
            to.tensor_shape.dim.add(size=d)
    data = sm.SerializeToString(deterministic=True)
    os.makedirs(os.path.join(folder, "variables"), exist_ok=True)
    with open(os.path.join(folder, "saved_model.pb"), "wb") as f:
        f.write(data)

    # variables/: the TensorBundle.
    blob = bytearray()
    entries = []
    header = spb.BundleHeaderProto(num_shards=1, endianness=spb.BundleHeaderProto.LITTLE)
    header.version.producer = 1
    entries.append((b"", header.SerializeToString()))
    for k in keys:
        raw = weights[k].astype("<f4").tobytes()
        e = spb.BundleEntryProto(dtype=pb.DT_FLOAT, shard_id=0, offset=len(blob), size=len(raw),
                                 crc32c=masked_crc(raw))
        for d in weights[k].shape:
            e.shape.dim.add(size=d)
        entries.append((k.encode(), e.SerializeToString()))
        blob += raw
    entries.sort()
    with open(os.path.join(folder, "variables", "variables.index"), "wb") as f:
        f.write(sstable(entries))
    with open(os.path.join(folder, "variables", "variables.data-00000-of-00001"), "wb") as f:
        f.write(bytes(blob))
    side_files(folder, "TensorFlow", "TensorFlowSavedModel", "saved_model.pb", data, labels, metadata,
               signature["domain"])


# --------------------------------------------------------------------------
# TF.js graph model.

def write_tfjs(model, pb, folder, labels, metadata, graph=None):
    """`graph` as write_saved_model's."""
    from google.protobuf import json_format

    if graph is None:
        tg, in_name, out_name = build_tf(model, pb)
        signature = signature_of(model, pb, in_name, out_name)
    else:
        tg, signature = graph
    dtypes = {pb.DT_FLOAT: "DT_FLOAT", pb.DT_INT32: "DT_INT32", pb.DT_INT64: "DT_INT64"}
    weights = []
    blob = bytearray()
    for n in tg.g.node:
        if n.op != "Const":
            continue
        t = n.attr["value"].tensor
        dt = "float32" if t.dtype == pb.DT_FLOAT else "int32"
        raw = t.tensor_content
        weights.append({"name": n.name, "shape": [d.size for d in t.tensor_shape.dim], "dtype": dt})
        blob += raw
        # The converter keeps only dtype and shape in the topology.
        t.ClearField("tensor_content")
    nshards = (len(blob) + SHARD_BYTES - 1) // SHARD_BYTES
    paths = ["group1-shard%dof%d.bin" % (i + 1, nshards) for i in range(nshards)]
    os.makedirs(folder, exist_ok=True)
    for i, p in enumerate(paths):
        with open(os.path.join(folder, p), "wb") as f:
            f.write(bytes(blob[i * SHARD_BYTES:(i + 1) * SHARD_BYTES]))
    topology = json_format.MessageToDict(tg.g)
    doc = {
        "format": "graph-model",
        "generatedBy": "2.3.0",
        "convertedBy": "TensorFlow.js Converter v2.7.0",
        "signature": {
            "inputs": {signature["input"][1] + ":0": {
                "name": signature["input"][1] + ":0", "dtype": "DT_FLOAT",
                "tensorShape": {"dim": [{"size": str(d)} for d in signature["input"][2]]}}},
            "outputs": {node + ":0": {"name": node + ":0", "dtype": dtypes[dtype]}
                        for _, node, dtype, _ in signature["outputs"]},
        },
        "userDefinedMetadata": {},
        "modelTopology": topology,
        "weightsManifest": [{"paths": paths, "weights": weights}],
    }
    data = json.dumps(doc, sort_keys=True).encode()
    with open(os.path.join(folder, "model.json"), "wb") as f:
        f.write(data)
    side_files(folder, "TensorFlow", "TensorFlowJs", "model.json", data, labels, metadata,
               signature["domain"])


def compare_trees(new_dir, old_dir, repo):
    """Prints each file under new_dir against the same path under old_dir
    (ok / DIFFERS, paths relative to repo); returns the exit code: 1 if any
    file differs or is missing. The generators' --check mode."""
    import filecmp
    bad = 0
    for root, _, files in sorted(os.walk(new_dir)):
        for fn in sorted(files):
            new = os.path.join(root, fn)
            old = os.path.join(old_dir, os.path.relpath(new, new_dir))
            same = os.path.exists(old) and filecmp.cmp(new, old, shallow=False)
            print("%-60s %s" % (os.path.relpath(old, repo), "ok" if same else "DIFFERS"))
            bad += not same
    return 1 if bad else 0


# --------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tflite", default=DEFAULT_TFLITE)
    ap.add_argument("--labels", default=os.path.join(EXPORT, "app", "labels.txt"))
    ap.add_argument("--metadata", default=os.path.join(EXPORT, "app", "metadata_properties.json"))
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    with open(args.metadata) as f:
        metadata = json.load(f)
    os.makedirs(args.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        model = read_tflite(args.tflite, work)
        pb, spb = tf_protos(work)

        for name, half in (("onnx", False), ("onnx-float16", True)):
            folder = os.path.join(args.out, name)
            os.makedirs(folder, exist_ok=True)
            data = write_onnx(model, metadata, os.path.join(folder, "model.onnx"), half)
            side_files(folder, "ONNX", "OnnxFloat16" if half else None, "model.onnx", data,
                       args.labels, metadata)

        for name, s1 in (("tf", False), ("tf-s1names", True)):
            folder = os.path.join(args.out, name)
            os.makedirs(folder, exist_ok=True)
            tg, _, _ = build_tf(model, pb, s1_names=s1, batch=1 if s1 else -1)
            data = tg.g.SerializeToString(deterministic=True)
            with open(os.path.join(folder, "model.pb"), "wb") as f:
                f.write(data)
            side_files(folder, "TensorFlow", None, "model.pb", data, args.labels, metadata)

        write_saved_model(model, pb, spb, os.path.join(args.out, "savedmodel"), args.labels, metadata)
        write_tfjs(model, pb, os.path.join(args.out, "tfjs"), args.labels, metadata)

        folder = os.path.join(args.out, "tflite-float16")
        os.makedirs(folder, exist_ok=True)
        shutil.copyfile(args.tflite, os.path.join(folder, "model.tflite"))
        with open(args.tflite, "rb") as f:
            data = f.read()
        side_files(folder, "TensorFlow", "TensorFlowLiteFloat16", "model.tflite", data, args.labels, metadata)
    for root, _, files in sorted(os.walk(args.out)):
        for fn in sorted(files):
            p = os.path.join(root, fn)
            print("%10d %s" % (os.path.getsize(p), os.path.relpath(p, args.out)))


if __name__ == "__main__":
    main()
