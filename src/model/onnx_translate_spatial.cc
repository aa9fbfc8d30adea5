// ONNX importer: translators of spatial ops (Conv, pooling, padding,
// BatchNormalization, ImageScaler), NCHW -> NHWC.
#include <algorithm>
#include <string>
#include <vector>

#include "model/onnx_import.h"

namespace edgevision::model::onnx_import {

Result<std::vector<int64_t>> Importer::Window2(const std::string& name, int64_t def,
                                               int64_t lo) const {
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> v, Ints(name));
  if (v.empty()) v.assign(2, def);
  if (v.size() != 2) {
    return Unsup("attribute '" + name + "' has " + std::to_string(v.size()) +
                 " values; only 2-D windows are supported");
  }
  for (int64_t x : v) {
    if (x < lo || x > kMaxWindow)
      return Bad("attribute '" + name + "' value " + std::to_string(x) + " is out of range");
  }
  return v;
}

// Pads [top, left, bottom, right] for auto_pad (NOTSET keeps `pads`).
Status Importer::SamePads(const std::string& auto_pad, const Shape& nchw,
                          const std::vector<int64_t>& k, const std::vector<int64_t>& s,
                          const std::vector<int64_t>& d, std::vector<int64_t>* pads) const {
  if (auto_pad.empty() || auto_pad == "NOTSET") return Status::Ok();
  if (auto_pad == "VALID") {
    pads->assign(4, 0);
    return Status::Ok();
  }
  if (auto_pad != "SAME_UPPER" && auto_pad != "SAME_LOWER") {
    return Bad("auto_pad '" + auto_pad + "' is not valid");
  }
  pads->assign(4, 0);
  for (int axis = 0; axis < 2; ++axis) {
    // SAME_UPPER is TensorFlow's rule (the smaller half first); SAME_LOWER swaps.
    const auto [small, big] = SamePadding(nchw[2 + axis], k[axis], s[axis], d[axis]);
    (*pads)[axis] = auto_pad == "SAME_UPPER" ? small : big;
    (*pads)[axis + 2] = auto_pad == "SAME_UPPER" ? big : small;
  }
  return Status::Ok();
}

Status Importer::Conv() {
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  const Shape xs = IrShape(x);
  if (xs.size() != 4)
    return Unsup("only 2-D convolutions are supported (input " + ShapeToString(xs) + ")");
  EV_ASSIGN_OR_RETURN(const Value* w, ConstIn(1, "weights"));
  if (w->dtype != DataType::kFloat32 || w->shape.size() != 4) {
    return Unsup("weights " + ShapeToString(w->shape) + " are not 2-D float OIHW");
  }
  const Shape nchw = NhwcToNchw(xs);
  EV_ASSIGN_OR_RETURN(int group, BoundedInt("group", 1, 1, nchw[1]));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> kernel, Ints("kernel_shape"));
  if (!kernel.empty() &&
      (kernel.size() != 2 || kernel[0] != w->shape[2] || kernel[1] != w->shape[3])) {
    return Bad("kernel_shape does not match weights " + ShapeToString(w->shape));
  }
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> strides, Window2("strides", 1, 1));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> dilations, Window2("dilations", 1, 1));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> pads, Ints("pads"));
  if (pads.empty()) pads.assign(4, 0);
  if (pads.size() != 4) return Unsup("pads must have 4 values");
  for (int64_t p : pads) {
    if (p < 0 || p > kMaxWindow) return Unsup("pad " + std::to_string(p) + " is not supported");
  }
  EV_ASSIGN_OR_RETURN(std::string auto_pad, Str("auto_pad", "NOTSET"));
  EV_RETURN_IF_ERROR(
      SamePads(auto_pad, nchw, {w->shape[2], w->shape[3]}, strides, dilations, &pads));
  graph::Attrs a;
  a.stride_h = static_cast<int>(strides[0]);
  a.stride_w = static_cast<int>(strides[1]);
  a.dilation_h = static_cast<int>(dilations[0]);
  a.dilation_w = static_cast<int>(dilations[1]);
  a.pad_top = static_cast<int>(pads[0]);
  a.pad_left = static_cast<int>(pads[1]);
  a.pad_bottom = static_cast<int>(pads[2]);
  a.pad_right = static_cast<int>(pads[3]);
  a.groups = group;
  Value ohwi = TransposeValue(*w, {0, 2, 3, 1});
  const ValueId wid = out_.graph.AddConstant(w->name, ohwi.shape, std::move(ohwi.f32));
  ValueId bid = kNoValue;
  if (Has(2)) {
    EV_ASSIGN_OR_RETURN(const Value* b, ConstIn(2, "bias"));
    if (b->dtype != DataType::kFloat32 || graph::ShapeProduct(b->shape) != w->shape[0]) {
      return Bad("bias " + ShapeToString(b->shape) + " does not match " +
                 std::to_string(w->shape[0]) + " output channels");
    }
    bid = out_.graph.AddConstant(b->name, {w->shape[0]}, b->f32);
  }
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kConv2D, {x, wid, bid}, a, OutName()));
  return DefineAct(0, y);
}

Status Importer::Pool() {
  const bool is_max = node_->op_type() == "MaxPool";
  if (is_max && OutputUsed(1)) return Unsup("the Indices output is not supported");
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  const Shape xs = IrShape(x);
  if (xs.size() != 4)
    return Unsup("only 2-D pooling is supported (input " + ShapeToString(xs) + ")");
  const Shape nchw = NhwcToNchw(xs);
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> kernel, Window2("kernel_shape", 0, 1));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> strides, Window2("strides", 1, 1));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> dilations, Window2("dilations", 1, 1));
  if (dilations[0] != 1 || dilations[1] != 1) return Unsup("dilated pooling is not supported");
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> pads, Ints("pads"));
  if (pads.empty()) pads.assign(4, 0);
  if (pads.size() != 4) return Unsup("pads must have 4 values");
  for (int64_t p : pads) {
    if (p < 0 || p > kMaxWindow) return Bad("pad " + std::to_string(p) + " is out of range");
  }
  EV_ASSIGN_OR_RETURN(std::string auto_pad, Str("auto_pad", "NOTSET"));
  EV_RETURN_IF_ERROR(SamePads(auto_pad, nchw, kernel, strides, {1, 1}, &pads));
  EV_ASSIGN_OR_RETURN(int64_t ceil_mode, Int("ceil_mode", 0));
  EV_ASSIGN_OR_RETURN(int64_t include_pad, Int("count_include_pad", 0));
  const bool had_pads = pads[0] || pads[1] || pads[2] || pads[3];
  bool extended = false;
  if (ceil_mode != 0) {
    // ONNX (and PyTorch) ceil mode: the last window must start inside the
    // input or its begin padding; extend the end padding so that floor-mode
    // arithmetic gives the same output size. Padded positions never win a
    // max, and are not counted by an average (see below).
    for (int axis = 0; axis < 2; ++axis) {
      const int64_t in = nchw[2 + axis], k = kernel[axis], s = strides[axis];
      const int64_t padded = in + pads[axis] + pads[axis + 2];
      if (padded < k) return Bad("window does not fit the input");
      int64_t out = (padded - k + s - 1) / s + 1;
      if ((out - 1) * s >= in + pads[axis]) --out;
      const int64_t extra = (out - 1) * s + k - padded;
      if (extra > 0) {
        pads[axis + 2] += extra;
        extended = true;
      }
    }
  }
  graph::Attrs a;
  a.kernel_h = static_cast<int>(kernel[0]);
  a.kernel_w = static_cast<int>(kernel[1]);
  a.stride_h = static_cast<int>(strides[0]);
  a.stride_w = static_cast<int>(strides[1]);
  a.pad_top = static_cast<int>(pads[0]);
  a.pad_left = static_cast<int>(pads[1]);
  a.pad_bottom = static_cast<int>(pads[2]);
  a.pad_right = static_cast<int>(pads[3]);
  a.count_include_pad = include_pad != 0;
  if (extended) {
    ++ceil_pools_;
    if (!is_max && a.count_include_pad) {
      // PyTorch/ONNX Runtime divide ceil-mode windows by their size clipped
      // to the padded input; with no declared padding that is the count of
      // real elements, i.e. count_include_pad = 0.
      if (had_pads)
        return Unsup("ceil_mode with count_include_pad and explicit pads is not supported");
      a.count_include_pad = false;
    }
  }
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(is_max ? Op::kMaxPool2D : Op::kAvgPool2D, {x}, a, OutName()));
  return DefineAct(0, y);
}

Status Importer::GlobalPool() {
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  const Shape xs = IrShape(x);
  if (xs.size() != 4) return Unsup("input " + ShapeToString(xs) + " is not 4-D");
  ValueId y;
  if (node_->op_type() == "GlobalAveragePool") {
    EV_ASSIGN_OR_RETURN(y, Emit(Op::kGlobalAvgPool, {x}, {}, OutName()));
  } else {
    graph::Attrs a;
    a.kernel_h = static_cast<int>(xs[1]);
    a.kernel_w = static_cast<int>(xs[2]);
    EV_ASSIGN_OR_RETURN(y, Emit(Op::kMaxPool2D, {x}, a, OutName()));
  }
  return DefineAct(0, y);
}

Status Importer::LegacyPadding() {
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  const Shape xs = IrShape(x);
  if (xs.size() != 4) return Unsup("input " + ShapeToString(xs) + " is not 4-D");
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> kernel, Window2("kernel_shape", 0, 1));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> strides, Window2("strides", 1, 1));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> pads, Ints("pads"));
  if (pads.empty()) pads.assign(2, 0);
  if (pads.size() == 2) pads = {pads[0], pads[1], pads[0], pads[1]};
  if (pads.size() != 4) return Unsup("pads must have 2 or 4 values");
  for (int64_t p : pads) {
    if (p < 0 || p > kMaxWindow) return Bad("pad " + std::to_string(p) + " is out of range");
  }
  EV_ASSIGN_OR_RETURN(float value, Float("value", 0.0f));
  // Caffe's pooling output size: ceil((in + 2p - k) / s) + 1, minus one when
  // the last window would start in the end padding. The end is padded so a
  // VALID window over the result gives exactly that size.
  int64_t begin[2], end[2], outs[2];
  for (int axis = 0; axis < 2; ++axis) {
    const int64_t in = xs[1 + axis], k = kernel[axis], s = strides[axis];
    const int64_t pb = pads[axis], pe = pads[axis + 2];
    if (in + pb + pe < k) return Bad("window does not fit the input");
    int64_t out = (in + pb + pe - k + s - 1) / s + 1;
    if ((pb > 0 || pe > 0) && (out - 1) * s >= in + pb) --out;
    begin[axis] = pb;
    end[axis] = std::max<int64_t>(0, (out - 1) * s + k - in - pb);
    outs[axis] = out;
  }
  graph::Attrs a;
  a.ints = {0, begin[0], begin[1], 0, 0, end[0], end[1], 0};
  a.pad_value = value;
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kPad, {x}, a, OutName()));
  legacy_padding_.push_back("'" + (node_->name().empty() ? OutName() : node_->name()) + "' " +
                            std::to_string(xs[1]) + "x" + std::to_string(xs[2]) + " -> " +
                            std::to_string(outs[0]) + "x" + std::to_string(outs[1]) + " (+" +
                            std::to_string(end[0] - pads[2]) + " bottom, +" +
                            std::to_string(end[1] - pads[3]) + " right)");
  return DefineAct(0, y);
}

Status Importer::PadOp() {
  EV_ASSIGN_OR_RETURN(std::string mode, Str("mode", "constant"));
  if (mode != "constant") return Unsup("mode '" + mode + "' is not supported (only constant)");
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  const Shape xs = IrShape(x);
  const int64_t r = static_cast<int64_t>(xs.size());
  std::vector<int64_t> pads;
  float value = 0.0f;
  if (opset_ < 11) {
    EV_ASSIGN_OR_RETURN(pads, Ints(opset_ < 2 ? "paddings" : "pads"));
    EV_ASSIGN_OR_RETURN(value, Float("value", 0.0f));
  } else {
    EV_ASSIGN_OR_RETURN(pads, ConstInts(1, "pads"));
    if (Has(2)) {
      EV_ASSIGN_OR_RETURN(const Value* cv, ConstIn(2, "constant_value"));
      if (PayloadSize(*cv) != 1 || cv->dtype == DataType::kString)
        return Bad("constant_value must be a scalar");
      value = cv->dtype == DataType::kFloat32 ? cv->f32[0] : static_cast<float>(cv->i64[0]);
    }
    if (Has(3)) {
      EV_ASSIGN_OR_RETURN(std::vector<int64_t> axes, ConstInts(3, "axes"));
      if (pads.size() != 2 * axes.size()) return Bad("pads do not match axes");
      std::vector<int64_t> full(2 * r, 0);
      for (size_t i = 0; i < axes.size(); ++i) {
        const int64_t a = NormAxis(axes[i], r);
        if (a < 0) return Bad("axis is out of range");
        full[a] = pads[i];
        full[a + r] = pads[i + axes.size()];
      }
      pads = full;
    }
  }
  if (static_cast<int64_t>(pads.size()) != 2 * r) {
    return Bad(std::to_string(pads.size()) + " pads for a rank-" + std::to_string(r) + " input");
  }
  for (int64_t p : pads) {
    if (p < 0) return Unsup("negative pads (cropping) are not supported");
    if (p > kMaxWindow) return Bad("pad " + std::to_string(p) + " is out of range");
  }
  graph::Attrs a;
  if (r == 4) {
    a.ints = {pads[0], pads[2], pads[3], pads[1], pads[4], pads[6], pads[7], pads[5]};
  } else {
    a.ints = pads;
  }
  a.pad_value = value;
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kPad, {x}, a, OutName()));
  return DefineAct(0, y);
}

Status Importer::BatchNormalization() {
  for (int k = 1; k < node_->output_size(); ++k) {
    if (OutputUsed(k)) return Unsup("training-mode outputs are not supported");
  }
  EV_ASSIGN_OR_RETURN(int64_t spatial, Int("spatial", 1));
  EV_ASSIGN_OR_RETURN(int64_t training, Int("training_mode", 0));
  if (training != 0) return Unsup("training_mode = 1 is not supported");
  EV_ASSIGN_OR_RETURN(float eps, Float("epsilon", 1e-5f));
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  const Shape xs = IrShape(x);
  if (xs.size() != 4 && xs.size() != 2)
    return Unsup("input " + ShapeToString(xs) + " is not 2-D or 4-D");
  const int64_t c = xs.back();
  std::vector<ValueId> ins = {x};
  static const char* const kRoles[] = {"scale", "bias", "mean", "var"};
  for (int i = 1; i <= 4; ++i) {
    EV_ASSIGN_OR_RETURN(const Value* p, ConstIn(i, kRoles[i - 1]));
    if (p->dtype != DataType::kFloat32 || graph::ShapeProduct(p->shape) != c) {
      return spatial == 0 ? Unsup("spatial = 0 is not supported")
                          : Bad(std::string(kRoles[i - 1]) + " " + ShapeToString(p->shape) +
                                " does not match " + std::to_string(c) + " channels");
    }
    ins.push_back(out_.graph.AddConstant(p->name, {c}, p->f32));
  }
  graph::Attrs a;
  a.epsilon = eps;
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kBatchNorm, ins, a, OutName()));
  return DefineAct(0, y);
}

Status Importer::ImageScaler() {
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  const Shape xs = IrShape(x);
  if (xs.size() != 4) return Unsup("input " + ShapeToString(xs) + " is not 4-D");
  EV_ASSIGN_OR_RETURN(float scale, Float("scale", 1.0f));
  EV_ASSIGN_OR_RETURN(std::vector<float> bias, Floats("bias"));
  if (!bias.empty() && static_cast<int64_t>(bias.size()) != xs[3]) {
    return Bad(std::to_string(bias.size()) + " bias values for " + std::to_string(xs[3]) +
               " channels");
  }
  const bool zero_bias = std::all_of(bias.begin(), bias.end(), [](float b) { return b == 0.0f; });
  const std::string name = node_->name().empty() ? OutName() : node_->name();
  ValueId y = x;
  if (scale == 1.0f && zero_bias) {
    EV_ASSIGN_OR_RETURN(y, Emit(Op::kIdentity, {x}, {}, OutName()));
    notes_.push_back("ImageScaler '" + name + "' has scale 1 and zero bias: an identity");
    return DefineAct(0, y);
  }
  if (scale != 1.0f) {
    const ValueId s = AddFloatConst(name + "/scale", {1}, {scale});
    EV_ASSIGN_OR_RETURN(y,
                        Emit(Op::kMul, {y, s}, {}, zero_bias ? OutName() : OutName() + "/scaled"));
  }
  if (!zero_bias) {
    const ValueId b = AddFloatConst(name + "/bias", {xs[3]}, bias);
    EV_ASSIGN_OR_RETURN(y, Emit(Op::kAdd, {y, b}, {}, OutName()));
  }
  notes_.push_back("ImageScaler '" + name + "' became a per-channel Mul/Add");
  return DefineAct(0, y);
}

}  // namespace edgevision::model::onnx_import
