"""The real Custom Vision ONNX exports rewritten so an independent engine
(OpenCV 4.6 DNN, ONNX Runtime 1.30) accepts them, with the same maths.
Used by the parity check (tests/parity/check_probabilities.py) and the peer
benchmarks (bench/prepare_models.py). edgevision itself always loads the
exports as shipped; this is for the PEERS only.

  * the ZipMap / ArgMax / ArrayFeatureExtractor tail is dropped: the output is
    the float score vector that fed the ZipMap;
  * WinMLTools' com.microsoft.LegacyPadding + MaxPool(VALID) becomes
    MaxPool(ceil_mode=1) (Caffe's ceil pooling, what LegacyPadding means);
  * the experimental FC op becomes Gemm(transB=1);
  * ImageScaler(scale=1, no bias) becomes Identity; legacy 'broadcast' and
    'spatial' attributes are dropped (numpy broadcasting, the same values);
  * nodes are sorted topologically; initializers are removed from the graph
    inputs; the batch dimension is fixed to 1; opset 1 is raised to 11.
"""

import onnx
from onnx import TensorProto, helper


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
