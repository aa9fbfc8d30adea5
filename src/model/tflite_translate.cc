// TFLite importer: the operators (tflite_importer_internal.h). Translate
// dispatches on the builtin code; each translator checks its operator's
// inputs, options and output shape against the file, then emits IR nodes.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "graph/shape_inference.h"
#include "model/tflite_importer_internal.h"

namespace edgevision::model::tflite_import {

namespace {

// Checks the window op's output size against the file's own output shape.
Status CheckWindowOutput(const std::string& where, int64_t in, int64_t k, int64_t s, int64_t d,
                         int64_t pad_begin, int64_t pad_end, int64_t out) {
  const int64_t expect = graph::WindowOutputSize(in, k, s, d, pad_begin, pad_end);
  if (expect != out) {
    return Corrupt(where + ": output size " + std::to_string(out) + " does not follow from input " +
                   std::to_string(in) + ", window " + std::to_string((k - 1) * d + 1) +
                   ", stride " + std::to_string(s) + " and padding " +
                   std::to_string(pad_begin + pad_end));
  }
  return Status::Ok();
}

}  // namespace

Status TfliteImporter::TranslateConv(const OpContext& c, const tfl::Operator& op, bool depthwise) {
  tfl::Padding padding;
  int sh, sw, dh, dw;
  tfl::ActivationFunctionType act;
  if (depthwise) {
    const tfl::DepthwiseConv2DOptions* o = op.builtin_options_as_DepthwiseConv2DOptions();
    if (!o) return CorruptAt(c, "DepthwiseConv2DOptions missing");
    padding = o->padding();
    sh = o->stride_h(), sw = o->stride_w(), dh = o->dilation_h_factor(),
    dw = o->dilation_w_factor();
    act = o->fused_activation_function();
  } else {
    const tfl::Conv2DOptions* o = op.builtin_options_as_Conv2DOptions();
    if (!o) return CorruptAt(c, "Conv2DOptions missing");
    padding = o->padding();
    sh = o->stride_h(), sw = o->stride_w(), dh = o->dilation_h_factor(),
    dw = o->dilation_w_factor();
    act = o->fused_activation_function();
  }
  for (int v : {sh, sw, dh, dw}) {
    if (v < 1 || v > kMaxWindow) return CorruptAt(c, "stride or dilation out of range");
  }
  EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(c, xi));
  EV_ASSIGN_OR_RETURN(int32_t wi, InputIndex(c, op, 1));
  EV_ASSIGN_OR_RETURN(ConstTensor w, ConstOf(c, wi));
  EV_ASSIGN_OR_RETURN(int32_t bi, InputIndex(c, op, 2, /*optional=*/true));
  const Shape in = ShapeOf(x);
  if (in.size() != 4 || in[1] <= 0 || in[2] <= 0 || in[3] <= 0) {
    return CorruptAt(c, "input is not a static NHWC tensor: " + ShapeToString(in));
  }
  if (!w.is_float || w.shape.size() != 4 || w.f.empty()) {
    return CorruptAt(c,
                     "weights must be a non-empty 4-D float tensor, got " + ShapeToString(w.shape));
  }
  const int64_t channels = in[3];
  graph::Attrs attrs;
  attrs.stride_h = sh;
  attrs.stride_w = sw;
  attrs.dilation_h = dh;
  attrs.dilation_w = dw;
  EV_RETURN_IF_ERROR(SetActivation(c, act, &attrs));
  int64_t out_channels, kh, kw;
  std::vector<float> ohwi;
  Shape ohwi_shape;
  if (depthwise) {
    // [1,H,W,C*M] -> [C*M,H,W,1]: output channel o reads input channel o / M.
    if (w.shape[0] != 1)
      return CorruptAt(c, "depthwise weights " + ShapeToString(w.shape) + " are not [1,H,W,C*M]");
    kh = w.shape[1], kw = w.shape[2], out_channels = w.shape[3];
    if (out_channels % channels != 0) {
      return CorruptAt(c, std::to_string(out_channels) + " output channels for " +
                              std::to_string(channels) + " input channels");
    }
    ohwi.resize(w.f.size());
    for (int64_t h = 0; h < kh; ++h)
      for (int64_t x2 = 0; x2 < kw; ++x2)
        for (int64_t o = 0; o < out_channels; ++o)
          ohwi[(o * kh + h) * kw + x2] = w.f[(h * kw + x2) * out_channels + o];
    ohwi_shape = {out_channels, kh, kw, 1};
    attrs.groups = static_cast<int>(channels);
  } else {
    out_channels = w.shape[0], kh = w.shape[1], kw = w.shape[2];
    const int64_t per_group = w.shape[3];
    if (channels % per_group != 0 || out_channels % (channels / per_group) != 0) {
      return CorruptAt(c, "weights " + ShapeToString(w.shape) + " do not fit an input with " +
                              std::to_string(channels) + " channels");
    }
    attrs.groups = static_cast<int>(channels / per_group);
    ohwi = std::move(w.f);  // TFLite convolution weights are already OHWI
    ohwi_shape = w.shape;
  }
  if (kh > kMaxWindow || kw > kMaxWindow) return CorruptAt(c, "kernel too large");
  if (padding == tfl::Padding::SAME) {
    std::tie(attrs.pad_top, attrs.pad_bottom) = SamePadding(in[1], kh, sh, dh);
    std::tie(attrs.pad_left, attrs.pad_right) = SamePadding(in[2], kw, sw, dw);
  } else if (padding != tfl::Padding::VALID) {
    return CorruptAt(c, "unknown padding");
  }
  EV_ASSIGN_OR_RETURN(const tfl::Tensor* wt, TensorAt(wi));
  const ValueId wid =
      graph_.AddConstant(TensorName(*wt) + (depthwise ? "/OHWI" : ""), ohwi_shape, std::move(ohwi));
  ValueId bid = graph::kNoValue;
  if (bi >= 0) {
    EV_ASSIGN_OR_RETURN(ConstTensor b, ConstOf(c, bi));
    if (!b.is_float || b.shape.size() != 1 || b.shape[0] != out_channels) {
      return CorruptAt(c, "bias " + ShapeToString(b.shape) + " does not match " +
                              std::to_string(out_channels) + " output channels");
    }
    if (first_conv_op_ == c.index) {
      for (float v : b.f) first_conv_max_bias_ = std::max(first_conv_max_bias_, std::fabs(v));
    }
    EV_ASSIGN_OR_RETURN(const tfl::Tensor* bt, TensorAt(bi));
    bid = graph_.AddConstant(TensorName(*bt), b.shape, std::move(b.f));
  }
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  const Shape& out = ShapeOf(y);
  if (out.size() != 4 || out[3] != out_channels) {
    return CorruptAt(c, "output " + ShapeToString(out) + " does not have " +
                            std::to_string(out_channels) + " channels");
  }
  EV_RETURN_IF_ERROR(
      CheckWindowOutput(Where(c), in[1], kh, sh, dh, attrs.pad_top, attrs.pad_bottom, out[1]));
  EV_RETURN_IF_ERROR(
      CheckWindowOutput(Where(c), in[2], kw, sw, dw, attrs.pad_left, attrs.pad_right, out[2]));
  Emit(Op::kConv2D, c.name, {x, wid, bid}, y, attrs);
  return Status::Ok();
}

Status TfliteImporter::TranslatePool(const OpContext& c, const tfl::Operator& op, bool max) {
  const tfl::Pool2DOptions* o = op.builtin_options_as_Pool2DOptions();
  if (!o) return CorruptAt(c, "Pool2DOptions missing");
  for (int v : {o->stride_h(), o->stride_w(), o->filter_height(), o->filter_width()}) {
    if (v < 1 || v > kMaxWindow) return CorruptAt(c, "window or stride out of range");
  }
  EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(c, xi));
  const Shape in = ShapeOf(x);
  if (in.size() != 4 || in[1] <= 0 || in[2] <= 0)
    return CorruptAt(c, "input is not a static NHWC tensor");
  graph::Attrs attrs;
  attrs.kernel_h = o->filter_height();
  attrs.kernel_w = o->filter_width();
  attrs.stride_h = o->stride_h();
  attrs.stride_w = o->stride_w();
  attrs.count_include_pad = false;  // TFLite averages over the valid cells only
  if (o->padding() == tfl::Padding::SAME) {
    std::tie(attrs.pad_top, attrs.pad_bottom) =
        SamePadding(in[1], attrs.kernel_h, attrs.stride_h, 1);
    std::tie(attrs.pad_left, attrs.pad_right) =
        SamePadding(in[2], attrs.kernel_w, attrs.stride_w, 1);
  } else if (o->padding() != tfl::Padding::VALID) {
    return CorruptAt(c, "unknown padding");
  }
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  const Shape& out = ShapeOf(y);
  if (out.size() != 4 || out[3] != in[3])
    return CorruptAt(c, "output " + ShapeToString(out) + " does not match the input channels");
  EV_RETURN_IF_ERROR(CheckWindowOutput(Where(c), in[1], attrs.kernel_h, attrs.stride_h, 1,
                                       attrs.pad_top, attrs.pad_bottom, out[1]));
  EV_RETURN_IF_ERROR(CheckWindowOutput(Where(c), in[2], attrs.kernel_w, attrs.stride_w, 1,
                                       attrs.pad_left, attrs.pad_right, out[2]));
  return EmitWithSeparateActivation(c, max ? Op::kMaxPool2D : Op::kAvgPool2D, {x}, y, attrs,
                                    o->fused_activation_function());
}

Status TfliteImporter::TranslateFullyConnected(const OpContext& c, const tfl::Operator& op) {
  const tfl::FullyConnectedOptions* o = op.builtin_options_as_FullyConnectedOptions();
  graph::Attrs attrs;
  if (o) {
    if (o->weights_format() != tfl::FullyConnectedOptionsWeightsFormat::DEFAULT) {
      return UnsupportedAt(c, "shuffled (quantized) weight format");
    }
    EV_RETURN_IF_ERROR(SetActivation(c, o->fused_activation_function(), &attrs));
  }
  EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(c, xi));
  EV_ASSIGN_OR_RETURN(int32_t wi, InputIndex(c, op, 1));
  EV_ASSIGN_OR_RETURN(ValueId w, ValueOf(c, wi));
  EV_ASSIGN_OR_RETURN(int32_t bi, InputIndex(c, op, 2, /*optional=*/true));
  const graph::Value& wv = graph_.values[w];
  if (!wv.is_constant || wv.dtype != graph::DataType::kFloat32 || wv.shape.size() != 2 ||
      wv.f32.empty()) {
    return UnsupportedAt(c, "weights must be a constant 2-D float tensor [O,K]");
  }
  const int64_t o_count = wv.shape[0], k = wv.shape[1];
  ValueId bid = graph::kNoValue;
  if (bi >= 0) {
    EV_ASSIGN_OR_RETURN(bid, ValueOf(c, bi));
    const graph::Value& bv = graph_.values[bid];
    if (!bv.is_constant || bv.dtype != graph::DataType::kFloat32 || bv.shape != Shape{o_count}) {
      return CorruptAt(c, "bias must be a constant float tensor [" + std::to_string(o_count) + "]");
    }
  }
  // TFLite flattens the input to [-1, K]; the graph's FullyConnected takes
  // [N,K] or [N,1,1,K], anything else gets an explicit Reshape.
  const Shape in = ShapeOf(x);
  int64_t elements = 1;
  for (size_t i = 1; i < in.size(); ++i) elements *= in[i];
  if (in.empty() || elements != k) {
    return CorruptAt(c,
                     "input " + ShapeToString(in) + " does not flatten to K=" + std::to_string(k));
  }
  if (o && o->keep_num_dims() && in.size() > 2)
    return UnsupportedAt(c, "keep_num_dims on a rank > 2 input");
  const bool direct = in.size() == 2 || (in.size() == 4 && in[1] == 1 && in[2] == 1);
  if (!direct) {
    const ValueId flat = graph_.AddActivation(c.name + "/flatten", Shape{-1, k});
    graph::Attrs r;
    r.ints = {-1, k};
    Emit(Op::kReshape, c.name + "/flatten", {x}, flat, r);
    x = flat;
  }
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  if (ShapeOf(y).size() != 2 || ShapeOf(y)[1] != o_count) {
    return CorruptAt(
        c, "output " + ShapeToString(ShapeOf(y)) + " is not [N," + std::to_string(o_count) + "]");
  }
  Emit(Op::kFullyConnected, c.name, {x, w, bid}, y, attrs);
  return Status::Ok();
}

Status TfliteImporter::TranslateBinary(const OpContext& c, const tfl::Operator& op, Op gop,
                                       tfl::ActivationFunctionType act) {
  EV_ASSIGN_OR_RETURN(int32_t ai, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(int32_t bi, InputIndex(c, op, 1));
  EV_ASSIGN_OR_RETURN(ValueId a, ValueOf(c, ai));
  EV_ASSIGN_OR_RETURN(ValueId b, ValueOf(c, bi));
  for (ValueId v : {a, b}) {
    if (graph_.values[v].dtype != graph::DataType::kFloat32) {
      return UnsupportedAt(c, "operand '" + graph_.values[v].name + "' is not float32");
    }
  }
  graph::Attrs attrs;
  EV_RETURN_IF_ERROR(SetActivation(c, act, &attrs));
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  Emit(gop, c.name, {a, b}, y, attrs);
  return Status::Ok();
}

Status TfliteImporter::TranslateUnary(const OpContext& c, const tfl::Operator& op, Op gop,
                                      graph::Attrs attrs) {
  EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(c, xi));
  if (graph_.values[x].dtype != graph::DataType::kFloat32)
    return UnsupportedAt(c, "operand is not float32");
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  Emit(gop, c.name, {x}, y, std::move(attrs));
  return Status::Ok();
}

Status TfliteImporter::TranslateConcat(const OpContext& c, const tfl::Operator& op) {
  const tfl::ConcatenationOptions* o = op.builtin_options_as_ConcatenationOptions();
  if (!o) return CorruptAt(c, "ConcatenationOptions missing");
  if (!op.inputs() || op.inputs()->size() == 0) return CorruptAt(c, "no inputs");
  std::vector<ValueId> xs;
  for (flatbuffers::uoffset_t i = 0; i < op.inputs()->size(); ++i) {
    EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, static_cast<int>(i)));
    EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(c, xi));
    xs.push_back(x);
  }
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  const int64_t rank = static_cast<int64_t>(ShapeOf(y).size());
  int64_t axis = o->axis();
  if (axis < -rank || axis >= rank)
    return CorruptAt(c, "axis " + std::to_string(axis) + " out of range");
  graph::Attrs attrs;
  attrs.axis = static_cast<int>(axis < 0 ? axis + rank : axis);
  return EmitWithSeparateActivation(c, Op::kConcat, std::move(xs), y, attrs,
                                    o->fused_activation_function());
}

// RESHAPE and SQUEEZE: the target is the file's output shape with the batch
// made -1.
Status TfliteImporter::TranslateReshape(const OpContext& c, const tfl::Operator& op) {
  EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(c, xi));
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  const Shape in = ShapeOf(x);
  const Shape& out = ShapeOf(y);
  int64_t in_count = 1, out_count = 1;
  for (size_t i = in.size() >= 2 ? 1 : 0; i < in.size(); ++i) in_count *= in[i];
  for (size_t i = out.size() >= 2 ? 1 : 0; i < out.size(); ++i) out_count *= out[i];
  if (out.empty() || in_count != out_count || (in.size() >= 2) != (out.size() >= 2)) {
    return UnsupportedAt(c, "reshape " + ShapeToString(in) + " -> " + ShapeToString(out) +
                                " (only reshapes that keep the batch are supported)");
  }
  graph::Attrs attrs;
  attrs.ints = out;
  Emit(Op::kReshape, c.name, {x}, y, attrs);
  return Status::Ok();
}

Status TfliteImporter::TranslateMean(const OpContext& c, const tfl::Operator& op) {
  const tfl::ReducerOptions* o = op.builtin_options_as_ReducerOptions();
  EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(c, xi));
  EV_ASSIGN_OR_RETURN(ConstTensor axes, ConstInput(c, op, 1));
  if (axes.is_float || axes.shape.size() > 1 || axes.i.size() > static_cast<size_t>(kMaxRank)) {
    return CorruptAt(c, "axes must be a small integer tensor");
  }
  const int64_t rank = static_cast<int64_t>(ShapeOf(x).size());
  graph::Attrs attrs;
  attrs.keep_dims = o && o->keep_dims();
  for (int64_t a : axes.i) {
    if (a < -rank || a >= rank) return CorruptAt(c, "axis " + std::to_string(a) + " out of range");
    attrs.ints.push_back(a < 0 ? a + rank : a);
  }
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  Emit(Op::kReduceMean, c.name, {x}, y, attrs);
  return Status::Ok();
}

Status TfliteImporter::TranslatePad(const OpContext& c, const tfl::Operator& op, bool v2) {
  EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(c, xi));
  EV_ASSIGN_OR_RETURN(ConstTensor pads, ConstInput(c, op, 1));
  const int64_t rank = static_cast<int64_t>(ShapeOf(x).size());
  if (pads.is_float || pads.shape != Shape{rank, 2}) {
    return CorruptAt(c, "paddings must be an integer [" + std::to_string(rank) + ",2] tensor");
  }
  graph::Attrs attrs;
  if (v2) {
    EV_ASSIGN_OR_RETURN(int32_t vi, InputIndex(c, op, 2, /*optional=*/true));
    if (vi >= 0) {
      EV_ASSIGN_OR_RETURN(ConstTensor value, ConstOf(c, vi));
      if (!value.is_float || value.f.size() != 1)
        return CorruptAt(c, "constant_values must be one float");
      attrs.pad_value = value.f[0];
    }
  }
  Result<std::vector<int64_t>> ints = PadsFromPairs(pads.i, rank);
  if (!ints.ok()) return ints.status().WithContext(Where(c));
  attrs.ints = std::move(ints).value();
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  Emit(Op::kPad, c.name, {x}, y, attrs);
  return Status::Ok();
}

// DEQUANTIZE of a float16 constant (the TensorFlowLiteFloat16 flavour): the
// output tensor becomes a float32 constant; no graph node.
Status TfliteImporter::TranslateDequantize(const OpContext& c, const tfl::Operator& op) {
  EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(const tfl::Tensor* t, TensorAt(xi));
  if (t->type() != tfl::TensorType::FLOAT16) {
    return UnsupportedAt(c, std::string("dequantizing ") + tfl::EnumNameTensorType(t->type()) +
                                " (integer-quantized models are not supported)");
  }
  EV_ASSIGN_OR_RETURN(ConstTensor k, ReadConst(c, xi));
  if (!op.outputs() || op.outputs()->size() != 1) return CorruptAt(c, "needs one output");
  const int32_t oi = op.outputs()->Get(0);
  EV_ASSIGN_OR_RETURN(const tfl::Tensor* ot, TensorAt(oi));
  EV_ASSIGN_OR_RETURN(Shape oshape, TensorShape(*ot));
  if (ot->type() != tfl::TensorType::FLOAT32 || oshape != k.shape) {
    return CorruptAt(c, "output does not match the float16 constant's shape");
  }
  if (tensor_value_[oi] != graph::kNoValue) return CorruptAt(c, "output tensor produced twice");
  tensor_value_[oi] = graph_.AddConstant(TensorName(*ot), k.shape, std::move(k.f));
  ++dequantized_;
  return Status::Ok();
}

// TRANSPOSE by a constant permutation.
Status TfliteImporter::TranslateTranspose(const OpContext& c, const tfl::Operator& op) {
  EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(c, xi));
  EV_ASSIGN_OR_RETURN(ConstTensor perm, ConstInput(c, op, 1));
  const int64_t rank = static_cast<int64_t>(ShapeOf(x).size());
  if (perm.is_float || perm.shape.size() != 1 || perm.shape[0] != rank) {
    return CorruptAt(c, "permutation must be an integer [" + std::to_string(rank) + "] tensor");
  }
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t p : perm.i) {
    if (p < 0 || p >= rank || seen[p]) return CorruptAt(c, "permutation is not one");
    seen[p] = true;
  }
  graph::Attrs attrs;
  attrs.ints = perm.i;
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  Emit(Op::kTranspose, c.name, {x}, y, attrs);
  return Status::Ok();
}

// SLICE by constant begin and size (size -1: to the end of the axis).
Status TfliteImporter::TranslateSlice(const OpContext& c, const tfl::Operator& op) {
  EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(c, xi));
  EV_ASSIGN_OR_RETURN(ConstTensor begin, ConstInput(c, op, 1));
  EV_ASSIGN_OR_RETURN(ConstTensor size, ConstInput(c, op, 2));
  const Shape in = ShapeOf(x);
  const int64_t rank = static_cast<int64_t>(in.size());
  for (const ConstTensor* t : {&begin, &size}) {
    if (t->is_float || t->shape.size() != 1 || t->shape[0] != rank) {
      return CorruptAt(c, "begin and size must be integer [" + std::to_string(rank) + "] tensors");
    }
  }
  graph::Attrs attrs;
  attrs.ints.resize(static_cast<size_t>(2 * rank));
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t b = begin.i[d], n = size.i[d];
    const bool batch = d == 0 && in[0] < 0;
    if (batch) {  // the batch axis: the whole of it, whatever the file wrote
      if (b != 0) return UnsupportedAt(c, "slicing the batch axis");
      attrs.ints[d] = 0;
      attrs.ints[rank + d] = -1;
      continue;
    }
    if (b < 0 || b >= in[d] || n == 0 || n < -1 || (n > 0 && n > in[d] - b)) {
      return CorruptAt(c, "begin " + std::to_string(b) + " size " + std::to_string(n) +
                              " do not fit axis " + std::to_string(d) + " of " + ShapeToString(in));
    }
    attrs.ints[d] = b;
    attrs.ints[rank + d] = n;
  }
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  Emit(Op::kSlice, c.name, {x}, y, attrs);
  return Status::Ok();
}

Status TfliteImporter::Translate(int index, const tfl::Operator& op) {
  const auto* codes = model_.operator_codes();
  if (!codes || op.opcode_index() >= codes->size()) {
    return Corrupt(label_ + ": operator #" + std::to_string(index) + " has opcode index " +
                   std::to_string(op.opcode_index()) + " out of range");
  }
  const tfl::OperatorCode* code = codes->Get(op.opcode_index());
  const int32_t builtin = tflite_tail::BuiltinCode(*code);
  OpContext c{index, BuiltinName(builtin), ""};
  if (builtin == static_cast<int32_t>(tfl::BuiltinOperator::CUSTOM)) {
    c.op = "CUSTOM:" + (code->custom_code() ? code->custom_code()->str() : std::string("?"));
  }
  ++source_ops_[c.op];
  if (op.outputs() && op.outputs()->size() > 0) {
    EV_ASSIGN_OR_RETURN(const tfl::Tensor* t, TensorAt(op.outputs()->Get(0)));
    c.name = TensorName(*t);
  }
  using B = tfl::BuiltinOperator;
  switch (static_cast<B>(builtin)) {
    case B::CONV_2D:
    case B::DEPTHWISE_CONV_2D: {
      if (first_conv_op_ < 0) {
        first_conv_op_ = index;
        first_conv_reads_input_ =
            op.inputs() && op.inputs()->size() > 0 && op.inputs()->Get(0) == input_tensor_;
      }
      return TranslateConv(c, op, builtin == static_cast<int32_t>(B::DEPTHWISE_CONV_2D));
    }
    case B::MAX_POOL_2D: return TranslatePool(c, op, true);
    case B::AVERAGE_POOL_2D: return TranslatePool(c, op, false);
    case B::FULLY_CONNECTED: return TranslateFullyConnected(c, op);
    case B::CONCATENATION: return TranslateConcat(c, op);
    case B::ADD: {
      const auto* o = op.builtin_options_as_AddOptions();
      return TranslateBinary(
          c, op, Op::kAdd, o ? o->fused_activation_function() : tfl::ActivationFunctionType::NONE);
    }
    case B::SUB: {
      const auto* o = op.builtin_options_as_SubOptions();
      return TranslateBinary(
          c, op, Op::kSub, o ? o->fused_activation_function() : tfl::ActivationFunctionType::NONE);
    }
    case B::MUL: {
      const auto* o = op.builtin_options_as_MulOptions();
      return TranslateBinary(
          c, op, Op::kMul, o ? o->fused_activation_function() : tfl::ActivationFunctionType::NONE);
    }
    case B::DIV: {
      const auto* o = op.builtin_options_as_DivOptions();
      return TranslateBinary(
          c, op, Op::kDiv, o ? o->fused_activation_function() : tfl::ActivationFunctionType::NONE);
    }
    case B::RESHAPE:
    case B::SQUEEZE: return TranslateReshape(c, op);
    case B::LOGISTIC: return TranslateUnary(c, op, Op::kSigmoid);
    case B::SOFTMAX: {
      const auto* o = op.builtin_options_as_SoftmaxOptions();
      if (o && o->beta() != 1.0f)
        return UnsupportedAt(c, "softmax beta " + std::to_string(o->beta()));
      graph::Attrs a;
      a.axis = -1;
      return TranslateUnary(c, op, Op::kSoftmax, a);
    }
    case B::RELU: return TranslateUnary(c, op, Op::kRelu);
    case B::RELU6:
    case B::RELU_N1_TO_1: {
      graph::Attrs a;
      a.act_min = builtin == static_cast<int32_t>(B::RELU6) ? 0.0f : -1.0f;
      a.act_max = builtin == static_cast<int32_t>(B::RELU6) ? 6.0f : 1.0f;
      return TranslateUnary(c, op, Op::kClamp, a);
    }
    case B::HARD_SWISH: return TranslateUnary(c, op, Op::kHardSwish);
    case B::LEAKY_RELU: {
      const auto* o = op.builtin_options_as_LeakyReluOptions();
      graph::Attrs a;
      a.alpha = o ? o->alpha() : 0.0f;
      return TranslateUnary(c, op, Op::kLeakyRelu, a);
    }
    case B::MEAN: return TranslateMean(c, op);
    case B::PAD: return TranslatePad(c, op, false);
    case B::PADV2: return TranslatePad(c, op, true);
    case B::DEQUANTIZE: return TranslateDequantize(c, op);
    case B::TRANSPOSE: return TranslateTranspose(c, op);
    case B::SLICE: return TranslateSlice(c, op);
    case B::MIRROR_PAD:
      return UnsupportedAt(c, "MIRROR_PAD (reflect/symmetric padding) is not supported");
    case B::QUANTIZE: return UnsupportedAt(c, "integer-quantized models are not supported");
    default: return UnsupportedAt(c, "op " + c.op + " is not supported");
  }
}

}  // namespace edgevision::model::tflite_import
