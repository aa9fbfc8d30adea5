// ONNX importer: translators of element-wise, shape, matrix and constant ops.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "graph/broadcast.h"
#include "model/onnx_import.h"

namespace edgevision::model::onnx_import {

Status Importer::Unary() {
  const std::string& op = node_->op_type();
  if (op == "Dropout" && OutputUsed(1)) return Unsup("the mask output is not supported");
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  graph::Attrs a;
  Op ir = Op::kIdentity;
  if (op == "Relu") {
    ir = Op::kRelu;
  } else if (op == "Sigmoid") {
    ir = Op::kSigmoid;
  } else if (op == "HardSwish") {
    ir = Op::kHardSwish;
  } else if (op == "LeakyRelu") {
    ir = Op::kLeakyRelu;
    EV_ASSIGN_OR_RETURN(a.alpha, Float("alpha", 0.01f));
  } else if (op == "Neg") {
    ir = Op::kNeg;
  } else if (op == "Sqrt") {
    ir = Op::kSqrt;
  }
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(ir, {x}, a, OutName()));
  return DefineAct(0, y);
}

Status Importer::Clip() {
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  graph::Attrs a;
  if (opset_ < 11) {
    EV_ASSIGN_OR_RETURN(a.act_min, Float("min", -kInf));
    EV_ASSIGN_OR_RETURN(a.act_max, Float("max", kInf));
  } else {
    for (int i = 1; i <= 2; ++i) {
      if (!Has(i)) continue;
      EV_ASSIGN_OR_RETURN(const Value* v, ConstIn(i, i == 1 ? "min" : "max"));
      if (PayloadSize(*v) != 1 || v->dtype == DataType::kString)
        return Bad("min/max must be scalars");
      const float f = v->dtype == DataType::kFloat32 ? v->f32[0] : static_cast<float>(v->i64[0]);
      (i == 1 ? a.act_min : a.act_max) = f;
    }
  }
  if (std::isnan(a.act_min) || std::isnan(a.act_max) || a.act_min > a.act_max) {
    return Bad("min is above max");
  }
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kClamp, {x}, a, OutName()));
  return DefineAct(0, y);
}

// Max(x, c) / Min(x, c) with a one-element constant c: a clamp (how some
// converters write Relu6).
Status Importer::MinMax() {
  if (node_->input_size() != 2)
    return Unsup("only Max/Min of a tensor and one constant is supported");
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t0, In(0));
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t1, In(1));
  if (t0->is_const == t1->is_const)
    return Unsup("only Max/Min of a tensor and one constant is supported");
  const Value& c = t0->is_const ? t0->c : t1->c;
  if (PayloadSize(c) != 1 || c.dtype == DataType::kString) {
    return Unsup("only Max/Min with a one-element constant is supported");
  }
  const float v = c.dtype == DataType::kFloat32 ? c.f32[0] : static_cast<float>(c.i64[0]);
  if (std::isnan(v)) return Bad("the bound is NaN");
  const OnnxTensor& xt = t0->is_const ? *t1 : *t0;
  if (c.shape.size() > OnnxShape(xt).size())
    return Unsup("the constant has a higher rank than the tensor");
  EV_ASSIGN_OR_RETURN(ValueId x, Act(t0->is_const ? 1 : 0));
  graph::Attrs a;
  (node_->op_type() == "Max" ? a.act_min : a.act_max) = v;
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kClamp, {x}, a, OutName()));
  return DefineAct(0, y);
}

Status Importer::HardSigmoid() {
  EV_ASSIGN_OR_RETURN(float alpha, Float("alpha", 0.2f));
  EV_ASSIGN_OR_RETURN(float beta, Float("beta", 0.5f));
  // x * HardSigmoid(x; 1/6, 0.5) is HardSwish(x): leave it to that Mul.
  auto users = consumers_.find(OutName());
  if (std::fabs(alpha - 1.0f / 6.0f) < 1e-6f && beta == 0.5f && users != consumers_.end() &&
      users->second.size() == 1 && OutName() != score_name_) {
    const onnx::NodeProto* mul = users->second[0];
    if (mul->op_type() == "Mul" && mul->input_size() == 2 &&
        ((mul->input(0) == OutName() && mul->input(1) == node_->input(0)) ||
         (mul->input(1) == OutName() && mul->input(0) == node_->input(0)))) {
      hardsigmoid_fused_.insert(OutName());
      return Status::Ok();
    }
  }
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  const std::string name = node_->name().empty() ? OutName() : node_->name();
  const ValueId av = AddFloatConst(name + "/alpha", {1}, {alpha});
  const ValueId bv = AddFloatConst(name + "/beta", {1}, {beta});
  EV_ASSIGN_OR_RETURN(ValueId scaled, Emit(Op::kMul, {x, av}, {}, OutName() + "/scaled"));
  graph::Attrs clamp01;
  clamp01.act_min = 0.0f;
  clamp01.act_max = 1.0f;
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kAdd, {scaled, bv}, clamp01, OutName()));
  return DefineAct(0, y);
}

Status Importer::Softmax() {
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(0));
  const Shape s = OnnxShape(*t);
  const int64_t r = static_cast<int64_t>(s.size());
  EV_ASSIGN_OR_RETURN(int64_t axis, Int("axis", opset_ >= 13 ? -1 : 1));
  axis = NormAxis(axis, r);
  if (axis < 0) return Bad("axis is out of range");
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  const int64_t ir_axis = r == 4 ? kNchwToNhwcAxis[axis] : axis;
  graph::Attrs a;
  a.axis = static_cast<int>(r - 1);
  int64_t trailing = 1;  // elements after `axis`
  for (int64_t d = axis + 1; d < r; ++d) trailing *= s[d];
  // A softmax over the single axis `axis`: always from opset 13; before, the
  // 2-D coercion over [axis..] is that when only 1s follow `axis`.
  const bool per_axis = opset_ >= 13 || trailing == 1;
  if (per_axis && ir_axis == r - 1) {
    EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kSoftmax, {x}, a, OutName()));
    return DefineAct(0, y);
  }
  if (per_axis) {
    // An axis that is not the IR's last (ONNX channels of a 4-D tensor are):
    // swap it to the end and back.
    graph::Attrs swap;
    for (int64_t d = 0; d < r; ++d) swap.ints.push_back(d);
    std::swap(swap.ints[ir_axis], swap.ints[r - 1]);
    EV_ASSIGN_OR_RETURN(ValueId moved, Emit(Op::kTranspose, {x}, swap, OutName() + "/axis_last"));
    EV_ASSIGN_OR_RETURN(ValueId sm, Emit(Op::kSoftmax, {moved}, a, OutName() + "/softmax"));
    EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kTranspose, {sm}, swap, OutName()));
    layout_transposes_ += 2;
    return DefineAct(0, y);
  }
  // Before opset 13, Softmax flattens [d0..d(axis-1)] x [d(axis)..] to 2-D.
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= s[d];
  EV_ASSIGN_OR_RETURN(ValueId flat,
                      ReshapeOnnx(x, {outer, graph::ShapeProduct(s) / outer}, OutName() + "/2d"));
  a.axis = 1;
  EV_ASSIGN_OR_RETURN(ValueId sm, Emit(Op::kSoftmax, {flat}, a, OutName() + "/softmax2d"));
  EV_ASSIGN_OR_RETURN(ValueId y, ReshapeOnnx(sm, s, OutName()));
  return DefineAct(0, y);
}

Status Importer::Binary() {
  const std::string& op = node_->op_type();
  const Op ir = op == "Add" ? Op::kAdd : op == "Sub" ? Op::kSub : op == "Mul" ? Op::kMul : Op::kDiv;
  // x * HardSigmoid(x) -> HardSwish(x).
  if (ir == Op::kMul && node_->input_size() == 2) {
    for (int k = 0; k < 2; ++k) {
      if (hardsigmoid_fused_.count(node_->input(k))) {
        EV_ASSIGN_OR_RETURN(ValueId x, Act(1 - k));
        EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kHardSwish, {x}, {}, OutName()));
        ++fused_hardswish_;
        return DefineAct(0, y);
      }
    }
  }
  EV_ASSIGN_OR_RETURN(const OnnxTensor* ta, In(0));
  EV_ASSIGN_OR_RETURN(const OnnxTensor* tb, In(1));
  Shape sa = OnnxShape(*ta), sb = OnnxShape(*tb);
  OnnxTensor b = *tb;
  EV_ASSIGN_OR_RETURN(int64_t legacy, Int("broadcast", 0));
  if (opset_ < 7 && legacy != 0) {
    const int64_t ra = static_cast<int64_t>(sa.size()), rb = static_cast<int64_t>(sb.size());
    EV_ASSIGN_OR_RETURN(int64_t axis, Int("axis", ra - rb));
    if (axis < 0) axis += ra;
    if (axis < 0 || axis + rb > ra) return Bad("legacy broadcast axis is out of range");
    Shape aligned = sb;
    while (static_cast<int64_t>(aligned.size()) < ra - axis) aligned.push_back(1);
    if (aligned != sb) {
      if (b.is_const) {
        b.c.shape = aligned;
      } else {
        EV_ASSIGN_OR_RETURN(b.id, ReshapeOnnx(b.id, aligned, node_->input(1) + "/aligned"));
      }
      sb = aligned;
      ++legacy_broadcasts_;
    }
  }
  Result<Shape> out_shape = graph::BroadcastShape(sa, sb);
  if (!out_shape.ok()) return Bad(out_shape.status().message());
  const size_t r = out_shape->size();
  EV_ASSIGN_OR_RETURN(ValueId va, Operand(*ta, r, node_->input(0)));
  EV_ASSIGN_OR_RETURN(ValueId vb, Operand(b, r, node_->input(1)));
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(ir, {va, vb}, {}, OutName()));
  return DefineAct(0, y);
}

Status Importer::Sum() {
  if (node_->input_size() < 1) return Bad("has no inputs");
  std::vector<const OnnxTensor*> ts;
  Shape out_shape;
  for (int i = 0; i < node_->input_size(); ++i) {
    EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(i));
    Result<Shape> s = graph::BroadcastShape(out_shape, OnnxShape(*t));
    if (!s.ok()) return Bad(s.status().message());
    out_shape = *s;
    ts.push_back(t);
  }
  EV_ASSIGN_OR_RETURN(ValueId acc, Operand(*ts[0], out_shape.size(), node_->input(0)));
  for (size_t i = 1; i < ts.size(); ++i) {
    EV_ASSIGN_OR_RETURN(ValueId v, Operand(*ts[i], out_shape.size(), node_->input(i)));
    const std::string name =
        i + 1 == ts.size() ? OutName() : OutName() + "/sum" + std::to_string(i);
    EV_ASSIGN_OR_RETURN(acc, Emit(Op::kAdd, {acc, v}, {}, name));
  }
  if (ts.size() == 1) {
    EV_ASSIGN_OR_RETURN(acc, Emit(Op::kIdentity, {acc}, {}, OutName()));
  }
  return DefineAct(0, acc);
}

Status Importer::Concat() {
  EV_ASSIGN_OR_RETURN(const OnnxTensor* first, In(0));
  const int64_t r = static_cast<int64_t>(OnnxShape(*first).size());
  EV_ASSIGN_OR_RETURN(int64_t axis, Int("axis", opset_ < 4 ? 1 : INT64_MAX));
  if (axis == INT64_MAX) return Bad("attribute 'axis' is missing");
  axis = NormAxis(axis, r);
  if (axis < 0) return Bad("axis is out of range");
  std::vector<ValueId> ins;
  for (int i = 0; i < node_->input_size(); ++i) {
    if (!Has(i)) continue;
    EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(i));
    if (static_cast<int64_t>(OnnxShape(*t).size()) != r) return Bad("inputs have different ranks");
    EV_ASSIGN_OR_RETURN(ValueId v, Operand(*t, r, node_->input(i), /*keep_rank=*/true));
    ins.push_back(v);
  }
  graph::Attrs a;
  a.axis = static_cast<int>(r == 4 ? kNchwToNhwcAxis[axis] : axis);
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kConcat, ins, a, OutName()));
  return DefineAct(0, y);
}

Result<std::vector<int64_t>> Importer::Axes(int input_index) const {
  if (opset_ >= 13 && Has(input_index)) return ConstInts(input_index, "axes");
  return Ints("axes");
}

// The ONNX-layout shape a Reshape, Flatten, Squeeze or Unsqueeze node gives
// an input of shape `s`; constant evaluation (FoldReshapeLike) uses it too.
Result<Shape> Importer::ReshapeTarget(const Shape& s) const {
  const std::string& op = node_->op_type();
  const int64_t r = static_cast<int64_t>(s.size());
  if (op == "Reshape") {
    std::vector<int64_t> want;
    if (opset_ < 5) {
      EV_ASSIGN_OR_RETURN(want, Ints("shape"));
    } else {
      EV_ASSIGN_OR_RETURN(want, ConstInts(1, "shape"));
    }
    EV_ASSIGN_OR_RETURN(int64_t allowzero, Int("allowzero", 0));
    return ResolveReshape(s, want, allowzero != 0, Where());
  }
  if (op == "Flatten") {
    EV_ASSIGN_OR_RETURN(int64_t axis, Int("axis", 1));
    if (axis < 0) axis += r;
    if (axis < 0 || axis > r) return Bad("axis is out of range");
    int64_t outer = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= s[d];
    if (outer == 0) return Shape{0, 0};  // constants may hold no elements
    return Shape{outer, graph::ShapeProduct(s) / outer};
  }
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> axes, Axes(1));
  Shape target;
  if (op == "Unsqueeze") {
    const int64_t out_r = r + static_cast<int64_t>(axes.size());
    if (out_r > static_cast<int64_t>(graph::kMaxRank)) return Bad("result rank is too large");
    std::vector<bool> added(out_r, false);
    for (int64_t a : axes) {
      const int64_t k = NormAxis(a, out_r);
      if (k < 0 || added[k]) return Bad("axes are out of range or repeated");
      added[k] = true;
    }
    size_t j = 0;
    for (int64_t d = 0; d < out_r; ++d) target.push_back(added[d] ? 1 : s[j++]);
    return target;
  }
  std::vector<bool> drop(r, axes.empty());
  for (int64_t a : axes) {
    const int64_t k = NormAxis(a, r);
    if (k < 0 || s[k] != 1)
      return Bad("cannot squeeze axis " + std::to_string(a) + " of " + ShapeToString(s));
    drop[k] = true;
  }
  for (int64_t d = 0; d < r; ++d) {
    if (!(drop[d] && s[d] == 1)) target.push_back(s[d]);
  }
  return target;
}

// Reshape, Flatten, Squeeze, Unsqueeze on an activation.
Status Importer::ReshapeLike() {
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(0));
  EV_ASSIGN_OR_RETURN(Shape target, ReshapeTarget(OnnxShape(*t)));
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  EV_ASSIGN_OR_RETURN(ValueId y, ReshapeOnnx(x, target, OutName()));
  return DefineAct(0, y);
}

// The `perm` attribute of a Transpose of a rank-`r` tensor, normalised
// (default: reversed axes).
Result<std::vector<int64_t>> Importer::Perm(int64_t r) const {
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> perm, Ints("perm"));
  if (perm.empty()) {
    for (int64_t d = r; d-- > 0;) perm.push_back(d);
  }
  if (static_cast<int64_t>(perm.size()) != r) return Bad("perm does not match the rank");
  std::vector<bool> seen(r, false);
  for (int64_t& p : perm) {
    p = NormAxis(p, r);
    if (p < 0 || seen[p]) return Bad("perm is not a permutation");
    seen[p] = true;
  }
  return perm;
}

Status Importer::Transpose() {
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(0));
  const int64_t r = static_cast<int64_t>(OnnxShape(*t).size());
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> perm, Perm(r));
  // IR axis i of the output holds ONNX output axis Ly[i] = ONNX input axis
  // perm[Ly[i]], found at IR input axis Lx^-1[perm[Ly[i]]].
  std::vector<int64_t> ir(r);
  for (int64_t i = 0; i < r; ++i) {
    const int64_t onnx_out = r == 4 ? kNhwcToNchwAxis[i] : i;
    const int64_t onnx_in = perm[onnx_out];
    ir[i] = r == 4 ? kNchwToNhwcAxis[onnx_in] : onnx_in;
  }
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  graph::Attrs a;
  a.ints = ir;
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kTranspose, {x}, a, OutName()));
  return DefineAct(0, y);
}

namespace {

// kSlice attributes from ONNX-order begin and size per axis (a 4-D tensor's
// axes moved to NHWC).
graph::Attrs IrSlice(const std::vector<int64_t>& begin, const Shape& size) {
  const int64_t r = static_cast<int64_t>(size.size());
  graph::Attrs a;
  a.ints.assign(static_cast<size_t>(2 * r), 0);
  for (int64_t d = 0; d < r; ++d) {
    const int64_t ir = r == 4 ? kNchwToNhwcAxis[d] : d;
    a.ints[ir] = begin[d];
    a.ints[r + ir] = size[d];
  }
  return a;
}

}  // namespace

// Slice of an activation with step 1 and constant bounds (ShuffleNet's
// channel split): a view when only the channels are sliced.
Status Importer::SliceOp() {
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(0));
  const Shape s = OnnxShape(*t);
  const int64_t r = static_cast<int64_t>(s.size());
  EV_ASSIGN_OR_RETURN(SliceBounds sb, SliceArgs(s));
  for (int64_t d = 0; d < r; ++d) {
    if (sb.step[d] != 1) return Unsup("a step other than 1 is not supported");
    if (sb.out_shape[d] < 1) return Bad("the slice of axis " + std::to_string(d) + " is empty");
  }
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kSlice, {x}, IrSlice(sb.begin, sb.out_shape), OutName()));
  return DefineAct(0, y);
}

// Split: one kSlice per output (S1 heads split boxes from scores).
Status Importer::SplitOp() {
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(0));
  const Shape s = OnnxShape(*t);
  const int64_t r = static_cast<int64_t>(s.size());
  EV_ASSIGN_OR_RETURN(int64_t axis_attr, Int("axis", 0));
  const int64_t axis = NormAxis(axis_attr, r);
  if (axis < 0) return Bad("axis " + std::to_string(axis_attr) + " is out of range");
  const int outputs = node_->output_size();
  std::vector<int64_t> sizes;
  if (opset_ >= 13) {
    if (Has(1)) {
      EV_ASSIGN_OR_RETURN(sizes, ConstInts(1, "split"));
    }
  } else {
    EV_ASSIGN_OR_RETURN(sizes, Ints("split"));
  }
  if (sizes.empty()) {
    if (s[axis] % outputs != 0) return Bad("axis " + std::to_string(axis) + " does not split evenly");
    sizes.assign(static_cast<size_t>(outputs), s[axis] / outputs);
  }
  int64_t total = 0;
  for (int64_t v : sizes) total += v < 1 ? -1 : v;
  if (static_cast<int>(sizes.size()) != outputs || total != s[axis]) {
    return Bad("split sizes do not add up to axis " + std::to_string(axis) + " (" + std::to_string(s[axis]) + ")");
  }
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  std::vector<int64_t> begin(static_cast<size_t>(r), 0);
  Shape size = s;
  for (int k = 0; k < outputs; ++k) {
    size[axis] = sizes[k];
    const graph::Attrs a = IrSlice(begin, size);
    begin[axis] += sizes[k];
    if (!OutputUsed(k)) continue;
    EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kSlice, {x}, a, OutName(k)));
    EV_RETURN_IF_ERROR(DefineAct(k, y));
  }
  return Status::Ok();
}

Status Importer::ReduceMean() {
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(0));
  const Shape s = OnnxShape(*t);
  const int64_t r = static_cast<int64_t>(s.size());
  std::vector<int64_t> axes;
  if (opset_ >= 18) {
    if (Has(1)) {
      EV_ASSIGN_OR_RETURN(axes, ConstInts(1, "axes"));
    }
  } else {
    EV_ASSIGN_OR_RETURN(axes, Ints("axes"));
  }
  EV_ASSIGN_OR_RETURN(int64_t keepdims, Int("keepdims", 1));
  EV_ASSIGN_OR_RETURN(int64_t noop, Int("noop_with_empty_axes", 0));
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  if (axes.empty() && noop != 0) {
    EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kIdentity, {x}, {}, OutName()));
    return DefineAct(0, y);
  }
  if (axes.empty()) {
    for (int64_t d = 0; d < r; ++d) axes.push_back(d);
  }
  std::vector<bool> reduced(r, false);
  graph::Attrs a;
  for (int64_t ax : axes) {
    const int64_t k = NormAxis(ax, r);
    if (k < 0 || reduced[k]) return Bad("axes are out of range or repeated");
    reduced[k] = true;
    a.ints.push_back(r == 4 ? kNchwToNhwcAxis[k] : k);
  }
  std::sort(a.ints.begin(), a.ints.end());
  a.keep_dims = true;
  EV_ASSIGN_OR_RETURN(
      ValueId kept, Emit(Op::kReduceMean, {x}, a, keepdims ? OutName() : OutName() + "/keepdims"));
  if (keepdims) return DefineAct(0, kept);
  Shape squeezed;
  for (int64_t d = 0; d < r; ++d) {
    if (!reduced[d]) squeezed.push_back(s[d]);
  }
  EV_ASSIGN_OR_RETURN(ValueId y, ReshapeOnnx(kept, squeezed, OutName()));
  return DefineAct(0, y);
}

// FullyConnected of [N,K] activation `x` by `w` [O,K] with an optional bias
// (any shape holding O or 1 values, scaled by beta).
Result<ValueId> Importer::FullyConnected(ValueId x, Value w, const Value* bias, float beta) {
  const int64_t o = w.shape[0];
  const ValueId wid = out_.graph.AddConstant(w.name, w.shape, std::move(w.f32));
  ValueId bid = kNoValue;
  if (bias != nullptr) {
    if (bias->dtype != DataType::kFloat32) return Bad("bias is not float");
    const int64_t n = graph::ShapeProduct(bias->shape);
    if (n != o && n != 1) {
      return Unsup("bias " + ShapeToString(bias->shape) + " is not per output (" +
                   std::to_string(o) + ")");
    }
    std::vector<float> b(o);
    for (int64_t i = 0; i < o; ++i) b[i] = bias->f32[n == 1 ? 0 : i] * beta;
    bid = out_.graph.AddConstant(bias->name, {o}, std::move(b));
  }
  return Emit(Op::kFullyConnected, {x, wid, bid}, {}, OutName());
}

Status Importer::Gemm() {
  EV_ASSIGN_OR_RETURN(int64_t trans_a, Int("transA", 0));
  EV_ASSIGN_OR_RETURN(int64_t trans_b, Int("transB", 0));
  EV_ASSIGN_OR_RETURN(float alpha, Float("alpha", 1.0f));
  EV_ASSIGN_OR_RETURN(float beta, Float("beta", 1.0f));
  if (trans_a != 0) return Unsup("transA = 1 is not supported");
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  if (IrShape(x).size() != 2) return Bad("input " + ShapeToString(IrShape(x)) + " is not 2-D");
  EV_ASSIGN_OR_RETURN(const Value* b, ConstIn(1, "B (weights)"));
  if (b->dtype != DataType::kFloat32 || b->shape.size() != 2)
    return Unsup("B must be a 2-D float constant");
  Value w = trans_b ? *b : TransposeValue(*b, {1, 0});
  if (alpha != 1.0f) {
    for (float& v : w.f32) v *= alpha;
  }
  const Value* c = nullptr;
  if (Has(2)) {
    EV_ASSIGN_OR_RETURN(c, ConstIn(2, "C (bias)"));
  }
  EV_ASSIGN_OR_RETURN(ValueId y, FullyConnected(x, std::move(w), c, beta));
  return DefineAct(0, y);
}

// The experimental FC op of early WinMLTools: Gemm with transB = 1 after
// flattening X at `axis` and W at `axis_w`.
Status Importer::FC() {
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(0));
  const Shape s = OnnxShape(*t);
  EV_ASSIGN_OR_RETURN(int64_t axis, Int("axis", 1));
  EV_ASSIGN_OR_RETURN(int64_t axis_w, Int("axis_w", 1));
  const int64_t r = static_cast<int64_t>(s.size());
  if (axis < 1 || axis > r) return Bad("axis is out of range");
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  if (r != 2 || axis != 1) {
    int64_t outer = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= s[d];
    EV_ASSIGN_OR_RETURN(
        x, ReshapeOnnx(x, {outer, graph::ShapeProduct(s) / outer}, OutName() + "/flat"));
  }
  EV_ASSIGN_OR_RETURN(const Value* w, ConstIn(1, "W (weights)"));
  if (w->dtype != DataType::kFloat32) return Unsup("W must be float");
  const int64_t rw = static_cast<int64_t>(w->shape.size());
  if (axis_w < 1 || axis_w >= std::max<int64_t>(rw, 2)) return Bad("axis_w is out of range");
  int64_t outer = 1;
  for (int64_t d = 0; d < axis_w; ++d) outer *= w->shape[d];
  Value w2 = *w;
  w2.shape = {outer, graph::ShapeProduct(w->shape) / std::max<int64_t>(outer, 1)};
  const Value* b = nullptr;
  if (Has(2)) {
    EV_ASSIGN_OR_RETURN(b, ConstIn(2, "B (bias)"));
  }
  EV_ASSIGN_OR_RETURN(ValueId y, FullyConnected(x, std::move(w2), b, 1.0f));
  ++fc_ops_;
  return DefineAct(0, y);
}

Status Importer::MatMul() {
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  if (IrShape(x).size() != 2)
    return Unsup("only [N,K] x [K,O] is supported (input " + ShapeToString(IrShape(x)) + ")");
  EV_ASSIGN_OR_RETURN(const Value* b, ConstIn(1, "B (weights)"));
  if (b->dtype != DataType::kFloat32 || b->shape.size() != 2)
    return Unsup("B must be a 2-D float constant");
  EV_ASSIGN_OR_RETURN(ValueId y, FullyConnected(x, TransposeValue(*b, {1, 0}), nullptr, 1.0f));
  return DefineAct(0, y);
}

Status Importer::Constant() {
  Value v;
  int f16 = 0;
  if (node_->attribute_size() != 1) return Bad("must have exactly one attribute");
  const onnx::AttributeProto& a = node_->attribute(0);
  const std::string& n = a.name();
  if (n == "value") {
    if (!a.has_t()) return Bad("attribute 'value' is not a tensor");
    EV_ASSIGN_OR_RETURN(v, DecodeTensor(a.t(), Where() + ": value", &f16));
  } else if (n == "value_float") {
    EV_ASSIGN_OR_RETURN(float f, Float(n, 0.0f));
    v.f32 = {f};
  } else if (n == "value_floats") {
    EV_ASSIGN_OR_RETURN(v.f32, Floats(n));
    v.shape = {static_cast<int64_t>(v.f32.size())};
  } else if (n == "value_int") {
    EV_ASSIGN_OR_RETURN(int64_t i, Int(n, 0));
    v.dtype = DataType::kInt64;
    v.i64 = {i};
  } else if (n == "value_ints") {
    v.dtype = DataType::kInt64;
    EV_ASSIGN_OR_RETURN(v.i64, Ints(n));
    v.shape = {static_cast<int64_t>(v.i64.size())};
  } else if (n == "value_string") {
    v.dtype = DataType::kString;
    EV_ASSIGN_OR_RETURN(std::string s, Str(n, ""));
    v.str = {s};
  } else if (n == "value_strings") {
    v.dtype = DataType::kString;
    EV_ASSIGN_OR_RETURN(v.str, Strings(n));
    v.shape = {static_cast<int64_t>(v.str.size())};
  } else {
    return Unsup("attribute '" + n + "' (sparse or unknown constant) is not supported");
  }
  float16_tensors_ += f16;
  return DefineConst(0, std::move(v));
}

Status Importer::Cast() {
  EV_ASSIGN_OR_RETURN(int64_t to, Int("to", 0));
  if (!IsFloatType(static_cast<int>(to))) {
    return Unsup("cast of an activation to " + OnnxTypeName(static_cast<int>(to)) +
                 " is not supported");
  }
  EV_ASSIGN_OR_RETURN(ValueId x, Act(0));
  EV_ASSIGN_OR_RETURN(ValueId y, Emit(Op::kIdentity, {x}, {}, OutName()));
  ++float_casts_;
  return DefineAct(0, y);
}

Status Importer::Tail() {
  return Unsup(
      "is only supported as part of the classifier tail (ZipMap / ArgMax / "
      "ArrayFeatureExtractor after the scores)");
}

}  // namespace edgevision::model::onnx_import
