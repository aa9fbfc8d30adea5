#!/usr/bin/python3
"""Builds the synthetic ONNX test models in this folder and their reference outputs.

Run with Debian's python (python3-torch, python3-onnx, python3-numpy):
    /usr/bin/python3 tests/data/synthetic/make_synthetic_onnx.py

Every model here is SYNTHETIC: random weights, made by this script, not by Custom Vision. They
cover the ONNX ops and export patterns of modern (2020+) exports that no real file in
tests/data shows: depthwise convs, Relu6/Clip, HardSwish (native and as HardSigmoid * x),
squeeze-excitation, residual Add, ceil_mode pooling, SAME_UPPER/SAME_LOWER, the
Shape->Gather->Unsqueeze->Concat->Reshape sub-graphs torch writes, BatchNormalization, Cast,
float16 weights, legacy (opset < 11/13) attribute forms.

expected_outputs.txt holds, per model, the output computed here by an independent framework
(PyTorch) for a deterministic input, so the C++ tests can check import + normalisation
numerically. It also holds reference outputs for the two real ONNX exports in
tests/data/cv-exports, computed by a small ONNX-in-PyTorch evaluator below (torch's own conv,
pooling and ceil-mode arithmetic; nothing shared with the C++ importer).

The deterministic input (same formula in the C++ tests): u[i] = ((i * 1103515245 + 12345)
mod 2^32) >> 16 & 255 for i over the NCHW tensor; synthetic models get u / 127.5 - 1, real
exports get u (0..255, like BGR pixels).
"""

import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))


def lcg_input(shape, real):
    n = int(np.prod(shape))
    i = np.arange(n, dtype=np.uint64)
    u = ((((i * 1103515245 + 12345) & 0xFFFFFFFF) >> 16) & 0xFF).astype(np.float32)
    x = u if real else u / np.float32(127.5) - np.float32(1.0)
    return x.reshape(shape).astype(np.float32)


def fmt(values):
    return " ".join("%.9g" % v for v in np.asarray(values, dtype=np.float64).ravel())


# ---------------------------------------------------------------------------------------------
# torch-exported MobileNet-class model (the patterns real torch exports have)


class SqueezeExcite(nn.Module):
    def __init__(self, c, r):
        super().__init__()
        self.fc1 = nn.Conv2d(c, r, 1)
        self.fc2 = nn.Conv2d(r, c, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        s = F.relu(self.fc1(s))
        s = F.hardsigmoid(self.fc2(s))
        return x * s


class TinyMobileNet(nn.Module):
    def __init__(self, classes=5):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, 2, 1, bias=False)
        self.stem_bn = nn.BatchNorm2d(16)
        self.dw = nn.Conv2d(16, 16, 3, 1, 1, groups=16, bias=False)
        self.dw_bn = nn.BatchNorm2d(16)
        self.se = SqueezeExcite(16, 8)
        self.pw = nn.Conv2d(16, 16, 1, bias=False)
        self.pw_bn = nn.BatchNorm2d(16)
        self.expand = nn.Conv2d(16, 24, 3, 2, 1)
        self.branch1 = nn.Conv2d(24, 12, 1)
        self.branch3 = nn.Conv2d(24, 12, 3, 1, padding=2, dilation=2)
        self.fc1 = nn.Linear(24, 32)
        self.drop = nn.Dropout(0.2)
        self.fc2 = nn.Linear(32, classes)

    def forward(self, x):
        x = F.hardswish(self.stem_bn(self.stem(x)))
        y = F.relu6(self.dw_bn(self.dw(x)))
        y = self.se(y)
        y = self.pw_bn(self.pw(y))
        x = x + y  # residual
        x = F.leaky_relu(self.expand(x), 0.1)
        x = F.max_pool2d(x, 3, 2, ceil_mode=True)
        x = torch.cat([F.relu(self.branch1(x)), F.relu(self.branch3(x))], dim=1)
        x = F.avg_pool2d(x, 3, 1, padding=1, count_include_pad=False)
        x = F.adaptive_avg_pool2d(x, 1)
        x = x.view(x.size(0), -1)  # Shape -> Gather -> Unsqueeze -> Concat -> Reshape
        x = self.drop(F.hardswish(self.fc1(x)))
        return torch.softmax(self.fc2(x), dim=1)


def randomise_batchnorm(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.data = torch.rand(c, generator=gen) + 0.5
            m.bias.data = torch.randn(c, generator=gen) * 0.2
            m.running_mean.data = torch.randn(c, generator=gen) * 0.3
            m.running_var.data = torch.rand(c, generator=gen) + 0.5


def export_torch(model, path, opset, preserve_bn):
    x = torch.from_numpy(lcg_input((1, 3, 32, 32), real=False))
    kwargs = {}
    if preserve_bn:
        kwargs = dict(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
    torch.onnx.export(model, x, path, opset_version=opset, input_names=["data"],
                      output_names=["scores"], dynamic_axes={"data": {0: "N"}}, **kwargs)
    with torch.no_grad():
        return model(x).numpy()


# ---------------------------------------------------------------------------------------------
# hand-made models for attribute forms and ops torch does not write


def init(name, array, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(array, dtype=dtype), name)


def save(model, path):
    onnx.checker.check_model(model)
    onnx.save(model, path)


def handmade_opset10(rng):
    """opset 10: SAME_UPPER/SAME_LOWER, legacy Clip/Pad attributes, grouped conv, ceil_mode,
    count_include_pad, Transpose, Softmax coerced to 2-D, Concat with a constant, Flatten of a
    4-D tensor with H,W > 1, Unsqueeze/Squeeze attributes, MatMul, Identity, Dropout."""
    H, W = 17, 11
    x = lcg_input((1, 3, H, W), real=False)
    mul_c = rng.uniform(0.5, 1.5, (3, 1, 1)).astype(np.float32)
    sub_c = rng.uniform(-0.3, 0.3, (1, 3, 1, 1)).astype(np.float32)
    w1 = rng.normal(0, 0.4, (6, 3, 3, 3)).astype(np.float32)
    b1 = rng.normal(0, 0.1, 6).astype(np.float32)
    bn = [rng.uniform(0.5, 1.5, 6), rng.normal(0, 0.2, 6), rng.normal(0, 0.2, 6),
          rng.uniform(0.5, 1.5, 6)]
    bn = [a.astype(np.float32) for a in bn]
    w2 = rng.normal(0, 0.3, (6, 3, 3, 3)).astype(np.float32)  # groups = 2
    w3 = rng.normal(0, 0.3, (8, 6, 2, 2)).astype(np.float32)
    b3 = rng.normal(0, 0.1, 8).astype(np.float32)
    extra = rng.normal(0, 1, (1, 2, 3, 4)).astype(np.float32)
    K = 10 * 3 * 4
    wm = rng.normal(0, 0.1, (K, 7)).astype(np.float32)
    bm = rng.normal(0, 0.1, 7).astype(np.float32)

    nodes = [
        helper.make_node("Mul", ["data", "mul_c"], ["scaled"], name="scale"),
        helper.make_node("Sub", ["scaled", "sub_c"], ["centred"], name="centre"),
        helper.make_node("Conv", ["centred", "w1", "b1"], ["c1"], name="conv_same_upper",
                         kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER"),
        helper.make_node("BatchNormalization", ["c1", "bn_s", "bn_b", "bn_m", "bn_v"], ["bn1"],
                         name="bn1", epsilon=1e-3),
        helper.make_node("Clip", ["bn1"], ["relu6"], name="relu6", min=0.0, max=6.0),
        helper.make_node("Pad", ["relu6"], ["padded"], name="pad0", mode="constant",
                         pads=[0, 0, 1, 0, 0, 0, 0, 2], value=0.0),
        helper.make_node("Conv", ["padded", "w2"], ["c2"], name="conv_grouped",
                         kernel_shape=[3, 3], group=2),
        helper.make_node("Conv", ["c2", "w3", "b3"], ["c3"], name="conv_same_lower",
                         kernel_shape=[2, 2], auto_pad="SAME_LOWER"),
        helper.make_node("LeakyRelu", ["c3"], ["lrelu"], name="lrelu", alpha=0.2),
        helper.make_node("MaxPool", ["lrelu"], ["mp"], name="maxpool_ceil", kernel_shape=[3, 3],
                         strides=[2, 2], pads=[1, 1, 0, 0], ceil_mode=1),
        helper.make_node("AveragePool", ["mp"], ["ap"], name="avgpool_incl", kernel_shape=[2, 2],
                         pads=[0, 0, 1, 1], count_include_pad=1),
        helper.make_node("Transpose", ["ap"], ["tr"], name="swap_hw", perm=[0, 1, 3, 2]),
        helper.make_node("Softmax", ["tr"], ["sm"], name="softmax_coerced", axis=1),
        helper.make_node("Mul", ["sm", "hundred"], ["sm100"], name="sm_scale"),
        helper.make_node("Add", ["tr", "sm100"], ["mixed"], name="mix"),
        helper.make_node("Concat", ["mixed", "extra"], ["cat"], name="cat_const", axis=1),
        helper.make_node("Flatten", ["cat"], ["flat"], name="flatten4d", axis=1),
        helper.make_node("Unsqueeze", ["flat"], ["unsq"], name="unsqueeze", axes=[2, 3]),
        helper.make_node("Squeeze", ["unsq"], ["sq"], name="squeeze", axes=[2, 3]),
        helper.make_node("Identity", ["sq"], ["ident"], name="identity"),
        helper.make_node("Dropout", ["ident"], ["dropped"], name="dropout", ratio=0.5),
        helper.make_node("MatMul", ["dropped", "wm"], ["mm"], name="matmul"),
        helper.make_node("Add", ["mm", "bm"], ["logits"], name="bias"),
        helper.make_node("Sigmoid", ["logits"], ["scores"], name="sigmoid"),
    ]
    inits = [init("mul_c", mul_c), init("sub_c", sub_c), init("w1", w1), init("b1", b1),
             init("bn_s", bn[0]), init("bn_b", bn[1]), init("bn_m", bn[2]),
             init("bn_v", bn[3]), init("w2", w2), init("w3", w3), init("b3", b3),
             init("hundred", [100.0]), init("extra", extra), init("wm", wm), init("bm", bm)]
    graph = helper.make_graph(
        nodes, "handmade_opset10",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, H, W])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 7])], inits)
    model = helper.make_model(graph, producer_name="edgevision-synthetic",
                              opset_imports=[helper.make_opsetid("", 10)])
    model.ir_version = 5

    # Reference in torch.
    t = torch.from_numpy
    v = t(x) * t(mul_c) - t(sub_c)
    # SAME_UPPER, k3 s2 on 17x11: out 9x6, pads total 2 and 2 -> 1 begin, 1 end.
    def same_pads(size, k, s):
        out = (size + s - 1) // s
        total = max(0, (out - 1) * s + k - size)
        return total // 2, total - total // 2
    ph, pw = same_pads(H, 3, 2), same_pads(W, 3, 2)
    v = F.conv2d(F.pad(v, (pw[0], pw[1], ph[0], ph[1])), t(w1), t(b1), stride=2)
    v = F.batch_norm(v, t(bn[2]), t(bn[3]), t(bn[0]), t(bn[1]), eps=1e-3)
    v = torch.clamp(v, 0, 6)
    v = F.pad(v, (0, 2, 1, 0))  # H begin 1, W end 2
    v = F.conv2d(v, t(w2), groups=2)
    # SAME_LOWER k2 s1: total 1 -> begin 1, end 0.
    v = F.conv2d(F.pad(v, (1, 0, 1, 0)), t(w3), t(b3))
    v = F.leaky_relu(v, 0.2)
    v = F.max_pool2d(F.pad(v, (1, 0, 1, 0), value=-np.inf), 3, 2, ceil_mode=True)
    v = F.avg_pool2d(F.pad(v, (0, 1, 0, 1)), 2, 1)  # count_include_pad=1 == zeros counted
    v = v.transpose(2, 3)
    sm = torch.softmax(v.reshape(1, -1), dim=1).reshape(v.shape)
    v = v + sm * 100.0
    v = torch.cat([v, t(extra)], dim=1)
    v = v.reshape(1, -1)
    v = torch.sigmoid(v @ t(wm) + t(bm))
    assert v.shape == (1, 7), v.shape
    return model, x, v.numpy()


def to_f16(a):
    return np.asarray(a, dtype=np.float32).astype(np.float16)


def handmade_float16_opset12(rng):
    """The OnnxFloat16 flavour: float32 input cast to float16, float16 weights, float16
    activations, cast back to float32 at the end; Clip with (float16) inputs; Gemm with
    transB = 0, alpha and beta."""
    x = lcg_input((1, 3, 8, 8), real=False)
    w = to_f16(rng.normal(0, 0.5, (4, 3, 3, 3)))
    b = to_f16(rng.normal(0, 0.2, 4))
    gb = to_f16(rng.normal(0, 0.5, (4, 3)))
    gc = to_f16(rng.normal(0, 0.5, (1, 3)))
    nodes = [
        helper.make_node("Cast", ["data"], ["data16"], name="to_half", to=TensorProto.FLOAT16),
        helper.make_node("Conv", ["data16", "w", "b"], ["c"], name="conv", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["c", "lo", "hi"], ["r6"], name="clip"),
        helper.make_node("GlobalAveragePool", ["r6"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "gb", "gc"], ["logits16"], name="gemm", alpha=0.5,
                         beta=2.0),
        helper.make_node("Cast", ["logits16"], ["logits"], name="to_float", to=TensorProto.FLOAT),
        helper.make_node("Softmax", ["logits"], ["scores"], name="softmax", axis=1),
    ]
    inits = [init("w", w, np.float16), init("b", b, np.float16), init("gb", gb, np.float16),
             init("gc", gc, np.float16), init("lo", 0.0, np.float16), init("hi", 6.0, np.float16)]
    graph = helper.make_graph(
        nodes, "handmade_float16",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 3])], inits)
    model = helper.make_model(graph, producer_name="edgevision-synthetic",
                              opset_imports=[helper.make_opsetid("", 12)])
    model.ir_version = 7
    # Reference in float32 on the float16-rounded weights (edgevision computes in float32).
    t = lambda a: torch.from_numpy(np.asarray(a, dtype=np.float32))
    v = F.conv2d(t(x), t(w), t(b), padding=1).clamp(0, 6)
    v = v.mean((2, 3))
    v = torch.softmax(0.5 * (v @ t(gb)) + 2.0 * t(gc), dim=1)
    return model, x, v.numpy()


def handmade_opset17(rng):
    """opset 17: Pad with pads/constant_value inputs (-inf before MaxPool), Reshape with 0 and
    -1, ReduceMean keepdims=0 over H,W, Squeeze/Unsqueeze with axes inputs, Softmax over the
    last axis, Div by a constant, Gemm transB=1, HardSwish, Sum."""
    x = lcg_input((1, 3, 12, 12), real=False)
    w = rng.normal(0, 0.4, (8, 3, 3, 3)).astype(np.float32)
    gw = rng.normal(0, 0.3, (5, 8)).astype(np.float32)
    gb = rng.normal(0, 0.1, 5).astype(np.float32)
    i64 = lambda name, vals: init(name, vals, np.int64)
    nodes = [
        helper.make_node("Conv", ["data", "w"], ["c"], name="conv", kernel_shape=[3, 3],
                         pads=[1, 1, 1, 1]),
        helper.make_node("HardSwish", ["c"], ["hs"], name="hardswish"),
        helper.make_node("Pad", ["hs", "pads", "neg_inf"], ["padded"], name="pad_inf"),
        helper.make_node("MaxPool", ["padded"], ["mp"], name="maxpool", kernel_shape=[2, 2],
                         strides=[2, 2]),
        helper.make_node("Sum", ["mp", "mp", "mp"], ["tripled"], name="sum3"),
        helper.make_node("Div", ["tripled", "three"], ["mean3"], name="div3"),
        helper.make_node("Reshape", ["mean3", "shape0"], ["r"], name="reshape_0_m1"),
        helper.make_node("Reshape", ["r", "shape_back"], ["back"], name="reshape_back"),
        helper.make_node("ReduceMean", ["back"], ["gap"], name="mean_hw", axes=[2, 3],
                         keepdims=0),
        helper.make_node("Unsqueeze", ["gap", "axes1"], ["u"], name="unsqueeze"),
        helper.make_node("Squeeze", ["u", "axes1"], ["s"], name="squeeze"),
        helper.make_node("Gemm", ["s", "gw", "gb"], ["logits"], name="gemm", transB=1),
        helper.make_node("Softmax", ["logits"], ["scores"], name="softmax"),
    ]
    inits = [init("w", w), i64("pads", [0, 0, 0, 0, 0, 0, 1, 1]), init("neg_inf", -np.inf),
             init("three", [3.0]), i64("shape0", [0, 8, -1]), i64("shape_back", [0, 0, 6, 6]),
             i64("axes1", [1]), init("gw", gw), init("gb", gb)]
    graph = helper.make_graph(
        nodes, "handmade_opset17",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 12, 12])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 5])], inits)
    model = helper.make_model(graph, producer_name="edgevision-synthetic",
                              opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    t = torch.from_numpy
    v = F.hardswish(F.conv2d(t(x), t(w), padding=1))
    v = F.max_pool2d(F.pad(v, (0, 1, 0, 1), value=-np.inf), 2, 2)
    v = v.mean((2, 3))
    v = torch.softmax(v @ t(gw).T + t(gb), dim=1)
    return model, x, v.numpy()


# ---------------------------------------------------------------------------------------------
# reference outputs for the real exports: a small ONNX evaluator built on torch's own kernels


def eval_real_onnx(path, x):
    m = onnx.load(path)
    opset = {o.domain: o.version for o in m.opset_import}.get("", 1)
    env = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy()) for i in m.graph.initializer}
    env[[i.name for i in m.graph.input if i.name not in env][0]] = torch.from_numpy(x)
    nodes = list(m.graph.node)
    pending = nodes
    while pending:  # the WinMLTools file is not topologically ordered
        later = []
        for n in pending:
            if not all(i in env for i in n.input if i):
                later.append(n)
                continue
            a = {k.name: helper.get_attribute_value(k) for k in n.attribute}
            ins = [env[i] for i in n.input]
            op = n.op_type
            if op == "ImageScaler":
                y = ins[0] * a["scale"] + torch.tensor(a["bias"]).reshape(1, -1, 1, 1)
            elif op == "BatchNormalization":
                y = F.batch_norm(ins[0], ins[3], ins[4], ins[1], ins[2], eps=a["epsilon"])
            elif op in ("Mul", "Add"):
                b = ins[1]
                if a.get("broadcast") and opset < 7:
                    b = b.reshape([-1] + [1] * (ins[0].dim() - a["axis"] - b.dim()))
                y = ins[0] * b if op == "Mul" else ins[0] + b
            elif op == "Conv":
                pads = a.get("pads", [0, 0, 0, 0])
                y = F.conv2d(F.pad(ins[0], (pads[1], pads[3], pads[0], pads[2])), ins[1],
                             ins[2] if len(ins) > 2 else None, stride=a["strides"],
                             dilation=a.get("dilations", [1, 1]), groups=a.get("group", 1))
            elif op == "Relu":
                y = F.relu(ins[0])
            elif op == "LegacyPadding":
                # Caffe ceil-mode pooling, left to torch's ceil_mode: the following VALID
                # MaxPool is skipped by passing the already pooled tensor through.
                y = ("caffe_pool", ins[0], a)
            elif op == "MaxPool":
                src = ins[0]
                if isinstance(src, tuple):
                    _, t0, la = src
                    y = F.max_pool2d(t0, la["kernel_shape"], la["strides"],
                                     padding=la["pads"][:2], ceil_mode=True)
                else:
                    y = F.max_pool2d(src, a["kernel_shape"], a["strides"])
            elif op == "Pad":
                p = a["pads"]
                y = F.pad(ins[0], (p[3], p[7], p[2], p[6]), value=a.get("value", 0.0))
            elif op == "Concat":
                y = torch.cat(ins, dim=a["axis"])
            elif op == "GlobalAveragePool":
                y = F.adaptive_avg_pool2d(ins[0], 1)
            elif op == "Flatten":
                y = ins[0].reshape(ins[0].shape[0], -1)
            elif op == "FC":
                y = ins[0] @ ins[1].T + ins[2]
            elif op == "Gemm":
                y = ins[0] @ (ins[1].T if a.get("transB") else ins[1]) + ins[2]
            elif op == "Sigmoid":
                y = torch.sigmoid(ins[0])
            elif op == "Softmax":
                y = torch.softmax(ins[0], dim=1)
            elif op in ("Constant", "ArgMax", "ArrayFeatureExtractor", "ZipMap"):
                continue  # the classifier tail
            else:
                raise RuntimeError("reference evaluator lacks " + op)
            env[n.output[0]] = y
        if len(later) == len(pending):
            break
        pending = later
    zipmap = [n for n in nodes if n.op_type == "ZipMap"][0]
    last = [n for n in nodes if n.output[0] == zipmap.input[0]][0]  # the Sigmoid / Softmax
    return env[zipmap.input[0]].numpy(), env[last.input[0]].numpy()


def main():
    os.chdir(HERE)
    torch.manual_seed(7)
    gen = torch.Generator().manual_seed(11)
    rng = np.random.default_rng(5)
    expected = []

    net = TinyMobileNet().eval()
    randomise_batchnorm(net, gen)
    for name, opset, preserve in [("torch_mobilenet_opset13.onnx", 13, False),
                                  ("torch_mobilenet_opset11_bn.onnx", 11, True),
                                  ("torch_mobilenet_opset14.onnx", 14, False)]:
        out = export_torch(net, name, opset, preserve)
        expected.append("synthetic/%s synthetic %d %s" % (name, out.size, fmt(out)))

    for build, name in [(handmade_opset10, "handmade_opset10.onnx"),
                        (handmade_float16_opset12, "handmade_float16_opset12.onnx"),
                        (handmade_opset17, "handmade_opset17.onnx")]:
        model, _, out = build(rng)
        save(model, name)
        expected.append("synthetic/%s synthetic %d %s" % (name, out.size, fmt(out)))

    for rel in ["cv-exports/winml-food-onnx/model.onnx", "cv-exports/uwp-catdog-onnx12/model.onnx"]:
        path = os.path.join(ROOT, "tests", "data", rel)
        if not os.path.exists(path):
            print("skipping", rel, file=sys.stderr)
            continue
        out, logits = eval_real_onnx(path, lcg_input((1, 3, 227, 227), real=True))
        expected.append("%s real %d %s" % (rel, out.size, fmt(out)))
        expected.append("%s#logits real %d %s" % (rel, logits.size, fmt(logits)))

    with open("expected_outputs.txt", "w") as f:
        f.write("# <model under tests/data>[#logits] <input: synthetic|real> <count> <values...>\n")
        f.write("# '#logits': the input of the final Sigmoid/Softmax instead of its output.\n")
        f.write("# Written by make_synthetic_onnx.py; see its docstring.\n")
        f.write("\n".join(expected) + "\n")
    print("\n".join(expected))


if __name__ == "__main__":
    main()
