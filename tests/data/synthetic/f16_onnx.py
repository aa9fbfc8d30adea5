"""The ONNX Float16 ("OnnxFloat16") flavour of a float32 ONNX model, written as Microsoft's float16
converter (onnxconverter-common / onnxmltools `convert_float_to_float16`, default arguments) writes
it. Not a copy of that code (it is not a Debian package): the same rules, re-implemented here.

- every float32 initializer becomes float16 (values below 1e-7 in magnitude become +-1e-7, above
  1e4 become +-1e4, as the converter clamps them; 0, inf and NaN unchanged);
- every float32 graph input, output and value_info becomes float16 (keep_io_types=False, the
  default: the model takes and gives float16, as the WinML report "Model variable data expects
  Float16[-1, 3, 416, 416]" for a Custom Vision compact detector shows,
  microsoft/Cognitive-CustomVision-Windows#24), and `Cast(to=FLOAT)` becomes `Cast(to=FLOAT16)`;
- the operators on the converter's default block list that appear in detectors (NonMaxSuppression,
  TopK) stay float32: each float16 input gets a `Cast(to=FLOAT)` named `<node>_input_cast<i>`
  (output `<node>_input_cast_<i>`), each float output a `Cast(to=FLOAT16)` named
  `<node>_output_cast<i>`, appended after the other nodes as the converter does (the graph is then
  not topologically sorted; ONNX Runtime sorts it, so must edgevision).
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BLOCKED = {"NonMaxSuppression", "TopK"}  # the block-listed ops a detector has
MIN_POSITIVE, MAX_FINITE = 1e-7, 1e4


def _to_half(values):
    a = np.asarray(values, np.float32)
    a = np.where((a > 0) & (a < MIN_POSITIVE), MIN_POSITIVE, a)
    a = np.where((a < 0) & (a > -MIN_POSITIVE), -MIN_POSITIVE, a)
    a = np.where((a > MAX_FINITE) & np.isfinite(a), MAX_FINITE, a)
    a = np.where((a < -MAX_FINITE) & np.isfinite(a), -MAX_FINITE, a)
    return a.astype(np.float16)


def to_float16(model):
    """A float16 copy of `model` (onnx.ModelProto; every node of a blocked type must have a name)."""
    model = onnx.shape_inference.infer_shapes(model)
    g = model.graph
    half = set()  # names of float16 tensors
    for t in g.initializer:
        if t.data_type == TensorProto.FLOAT:
            t.CopyFrom(numpy_helper.from_array(_to_half(numpy_helper.to_array(t)), t.name))
            half.add(t.name)
    for v in list(g.input) + list(g.output) + list(g.value_info):
        if v.type.tensor_type.elem_type == TensorProto.FLOAT:
            v.type.tensor_type.elem_type = TensorProto.FLOAT16
            half.add(v.name)
    blocked = []
    for n in g.node:
        if n.op_type in BLOCKED:
            assert n.name, "name the %s node" % n.op_type
            blocked.append(n)
        elif n.op_type == "Cast":
            for a in n.attribute:
                if a.name == "to" and a.i == TensorProto.FLOAT:
                    a.i = TensorProto.FLOAT16
        for a in n.attribute:
            if a.type == onnx.AttributeProto.TENSOR and a.t.data_type == TensorProto.FLOAT:
                a.t.CopyFrom(numpy_helper.from_array(_to_half(numpy_helper.to_array(a.t))))
    casts = []
    for n in blocked:
        for i, name in enumerate(n.input):
            if name in half:
                cast_out = "%s_input_cast_%d" % (n.name, i)
                casts.append(helper.make_node("Cast", [name], [cast_out], to=TensorProto.FLOAT,
                                              name="%s_input_cast%d" % (n.name, i)))
                n.input[i] = cast_out
        for i, name in enumerate(n.output):
            if name in half:
                cast_in = "%s_output_cast_%d" % (n.name, i)
                casts.append(helper.make_node("Cast", [cast_in], [name], to=TensorProto.FLOAT16,
                                              name="%s_output_cast%d" % (n.name, i)))
                n.output[i] = cast_in
    g.node.extend(casts)
    _check_sorted_copy(model)
    return model


def _check_sorted_copy(model):
    """onnx.checker on a topologically sorted copy (the checker refuses unsorted graphs)."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    made = {i.name for i in copy.graph.input} | {t.name for t in copy.graph.initializer}
    pending, ordered = list(copy.graph.node), []
    while pending:
        ready = [n for n in pending if all(not i or i in made for i in n.input)]
        assert ready, "the graph has a cycle or an input nothing makes"
        for n in ready:
            ordered.append(n)
            made.update(n.output)
        pending = [n for n in pending if n not in ready]
    del copy.graph.node[:]
    copy.graph.node.extend(ordered)
    onnx.checker.check_model(copy)
