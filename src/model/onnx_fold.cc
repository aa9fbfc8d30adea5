// ONNX importer: constant evaluation at import, in ONNX layout.
//
// Why the importer folds at all (the graph layer's normalize_fold.cc folds the
// IR): ONNX translation needs some values while it translates, before any IR
// exists for them. Reshape targets and Slice bounds come from shape
// arithmetic (torch exports: Shape -> Gather -> Unsqueeze -> Concat), and
// Conv/Gemm weights must be constants to be rearranged into the IR layout
// (float16 exports: Cast of an initializer). Everything this file evaluates
// is either integer shape arithmetic or a constant that feeds such a
// consumer; the batch is taken as 1. Float arithmetic shares the graph
// layer's kernel (graph::BroadcastBinary).
//
// One table keyed by op names what is evaluated; every evaluator reads the
// current node (Importer::node_) and returns the folded value.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "graph/broadcast.h"
#include "model/onnx_import.h"

namespace edgevision::model::onnx_import {

struct Importer::FoldRule {
  Result<Value> (Importer::*evaluate)();
  // The result only rearranges or retypes its input: it copies bytes the file
  // holds instead of creating new ones (not charged to the expansion budget).
  bool copies = false;
  // Evaluated from the input's shape alone, which may be an activation.
  bool reads_shape_only = false;
};

const std::map<std::string, Importer::FoldRule>& Importer::FoldRules() {
  static const std::map<std::string, FoldRule> kRules = {
      {"Identity", {&Importer::FoldIdentity, true}},
      {"Dropout", {&Importer::FoldIdentity, true}},
      {"Cast", {&Importer::FoldCast, true}},
      {"Shape", {&Importer::FoldShape, false, true}},
      {"Size", {&Importer::FoldShape, false, true}},
      {"Unsqueeze", {&Importer::FoldReshapeLike, true}},
      {"Squeeze", {&Importer::FoldReshapeLike, true}},
      {"Reshape", {&Importer::FoldReshapeLike, true}},
      {"Flatten", {&Importer::FoldReshapeLike, true}},
      {"Transpose", {&Importer::FoldTranspose, true}},
      {"Concat", {&Importer::FoldConcat}},
      {"Gather", {&Importer::FoldGather}},
      {"Slice", {&Importer::FoldSlice}},
      {"ConstantOfShape", {&Importer::FoldConstantOfShape}},
      {"Neg", {&Importer::FoldUnary}},
      {"Sqrt", {&Importer::FoldUnary}},
      {"Floor", {&Importer::FoldUnary}},
      {"Ceil", {&Importer::FoldUnary}},
      {"Relu", {&Importer::FoldUnary}},
      {"Add", {&Importer::FoldBinary}},
      {"Sub", {&Importer::FoldBinary}},
      {"Mul", {&Importer::FoldBinary}},
      {"Div", {&Importer::FoldBinary}},
  };
  return kRules;
}

Result<bool> Importer::TryFold() {
  const std::string& op = node_->op_type();
  if (!(node_->domain().empty() || node_->domain() == "ai.onnx")) return false;
  auto rule = FoldRules().find(op);
  if (rule == FoldRules().end()) return false;
  if (rule->second.reads_shape_only) {
    if (!Has(0)) return Bad("input 0 is missing");
  } else {
    for (int i = 0; i < node_->input_size(); ++i) {
      if (!Has(i)) continue;
      EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(i));
      if (!t->is_const) return false;
    }
    if (node_->input_size() == 0) return false;
  }
  EV_ASSIGN_OR_RETURN(Value v, (this->*rule->second.evaluate)());
  if (!rule->second.copies) {
    if (PayloadSize(v) > static_cast<size_t>(kMaxFoldedElements)) {
      return ResourceExhausted(Where() + ": folded constant is too large");
    }
    EV_RETURN_IF_ERROR(
        expansion_.Charge(static_cast<int64_t>(PayloadSize(v)), Where() + ": folded constant"));
  }
  ++folded_ops_[op];
  EV_RETURN_IF_ERROR(DefineConst(0, std::move(v)));
  return true;
}

Result<const Value*> Importer::FoldInput(int i) const {
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(i));
  return &t->c;
}

Result<Value> Importer::FoldIdentity() {
  EV_ASSIGN_OR_RETURN(const Value* x, FoldInput(0));
  return *x;
}

// Shape and Size of any tensor, constant or not.
Result<Value> Importer::FoldShape() {
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(0));
  const Shape s = OnnxShape(*t);
  Value v;
  v.dtype = DataType::kInt64;
  if (node_->op_type() == "Size") {
    v.i64 = {graph::ShapeProduct(s)};
    return v;
  }
  const int64_t r = static_cast<int64_t>(s.size());
  EV_ASSIGN_OR_RETURN(int64_t start, Int("start", 0));
  EV_ASSIGN_OR_RETURN(int64_t end, Int("end", r));
  start = std::clamp(start < 0 ? start + r : start, int64_t{0}, r);
  end = std::clamp(end < 0 ? end + r : end, int64_t{0}, r);
  for (int64_t d = start; d < end; ++d) v.i64.push_back(s[d]);
  v.shape = {static_cast<int64_t>(v.i64.size())};
  return v;
}

Result<Value> Importer::FoldCast() {
  EV_ASSIGN_OR_RETURN(const Value* x, FoldInput(0));
  EV_ASSIGN_OR_RETURN(int64_t to, Int("to", 0));
  Value v;
  v.shape = x->shape;
  if (IsFloatType(static_cast<int>(to))) {
    if (x->dtype == DataType::kString) return Unsup("cannot cast strings");
    v.dtype = DataType::kFloat32;
    v.f32 =
        x->dtype == DataType::kFloat32 ? x->f32 : std::vector<float>(x->i64.begin(), x->i64.end());
    return v;
  }
  if (to == onnx::TensorProto::STRING || to == onnx::TensorProto::COMPLEX64 ||
      to == onnx::TensorProto::COMPLEX128 || to == onnx::TensorProto::UNDEFINED) {
    return Unsup("cast to " + OnnxTypeName(static_cast<int>(to)) + " is not supported");
  }
  v.dtype = DataType::kInt64;
  if (x->dtype == DataType::kInt64) {
    v.i64 = x->i64;
  } else if (x->dtype == DataType::kFloat32) {
    for (float f : x->f32) {
      if (!(std::fabs(f) < 9.2e18f)) return Bad("cast of " + std::to_string(f) + " to an integer");
      v.i64.push_back(to == onnx::TensorProto::BOOL ? (f != 0.0f) : static_cast<int64_t>(f));
    }
  } else {
    return Unsup("cannot cast strings");
  }
  if (to == onnx::TensorProto::BOOL) {
    for (int64_t& b : v.i64) b = b != 0;
  }
  return v;
}

// Reshape, Flatten, Squeeze, Unsqueeze: the same payload in a new shape.
Result<Value> Importer::FoldReshapeLike() {
  EV_ASSIGN_OR_RETURN(const Value* x, FoldInput(0));
  EV_ASSIGN_OR_RETURN(Shape target, ReshapeTarget(x->shape));
  Value v = *x;
  v.shape = std::move(target);
  return v;
}

Result<Value> Importer::FoldTranspose() {
  EV_ASSIGN_OR_RETURN(const Value* x, FoldInput(0));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> perm, Perm(static_cast<int64_t>(x->shape.size())));
  return TransposeValue(*x, perm);
}

Result<Value> Importer::FoldConcat() {
  EV_ASSIGN_OR_RETURN(const Value* x, FoldInput(0));
  EV_ASSIGN_OR_RETURN(int64_t axis, Int("axis", 1));
  const int64_t r = static_cast<int64_t>(x->shape.size());
  axis = NormAxis(axis, r);
  if (axis < 0) return Bad("axis is out of range");
  Shape out_shape = x->shape;
  std::vector<const Value*> parts;
  for (int i = 0; i < node_->input_size(); ++i) {
    if (!Has(i)) continue;
    EV_ASSIGN_OR_RETURN(const Value* p, FoldInput(i));
    if (p->dtype != x->dtype || p->shape.size() != x->shape.size())
      return Bad("inputs do not match");
    for (int64_t d = 0; d < r; ++d) {
      if (d != axis && p->shape[d] != x->shape[d]) return Bad("input shapes do not match");
    }
    if (!parts.empty()) out_shape[axis] += p->shape[axis];
    parts.push_back(p);
  }
  if (graph::ShapeProduct(out_shape) > kMaxFoldedElements)
    return ResourceExhausted(Where() + ": too large");
  int64_t outer = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= out_shape[d];
  // Gather element by element from each part, block by block.
  std::vector<int64_t> idx;
  Value all;  // the parts' payloads concatenated, indexed by idx
  all.dtype = x->dtype;
  int64_t base = 0;
  std::vector<int64_t> bases;
  for (const Value* p : parts) {
    bases.push_back(base);
    all.f32.insert(all.f32.end(), p->f32.begin(), p->f32.end());
    all.i64.insert(all.i64.end(), p->i64.begin(), p->i64.end());
    all.str.insert(all.str.end(), p->str.begin(), p->str.end());
    base += static_cast<int64_t>(PayloadSize(*p));
  }
  for (int64_t o = 0; o < outer; ++o) {
    for (size_t k = 0; k < parts.size(); ++k) {
      const int64_t block = outer == 0 ? 0 : static_cast<int64_t>(PayloadSize(*parts[k])) / outer;
      for (int64_t e = 0; e < block; ++e) idx.push_back(bases[k] + o * block + e);
    }
  }
  return Gathered(all, idx, out_shape);
}

Result<Value> Importer::FoldGather() {
  EV_ASSIGN_OR_RETURN(const Value* x, FoldInput(0));
  EV_ASSIGN_OR_RETURN(const Value* indices, FoldInput(1));
  if (indices->dtype != DataType::kInt64) return Bad("indices are not integers");
  EV_ASSIGN_OR_RETURN(int64_t axis, Int("axis", 0));
  const int64_t r = static_cast<int64_t>(x->shape.size());
  axis = NormAxis(axis, r);
  if (axis < 0) return Bad("axis is out of range");
  Shape out_shape(x->shape.begin(), x->shape.begin() + axis);
  out_shape.insert(out_shape.end(), indices->shape.begin(), indices->shape.end());
  out_shape.insert(out_shape.end(), x->shape.begin() + axis + 1, x->shape.end());
  if (out_shape.size() > graph::kMaxRank) return Bad("result rank is too large");
  EV_ASSIGN_OR_RETURN(int64_t n, CheckedElementCount(out_shape, Where()));
  if (n > kMaxFoldedElements) return ResourceExhausted(Where() + ": result is too large");
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x->shape[d];
  for (int64_t d = axis + 1; d < r; ++d) inner *= x->shape[d];
  const int64_t dim = x->shape[axis];
  std::vector<int64_t> idx;
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t k : indices->i64) {
      if (k < -dim || k >= dim) return Bad("index " + std::to_string(k) + " is out of range");
      if (k < 0) k += dim;
      for (int64_t e = 0; e < inner; ++e) idx.push_back((o * dim + k) * inner + e);
    }
  }
  return Gathered(*x, idx, out_shape);
}

// Slice's starts/ends/axes/steps (inputs from opset 10, attributes before)
// resolved against a tensor of `shape` as ONNX defines them.
Result<Importer::SliceBounds> Importer::SliceArgs(const Shape& shape) const {
  std::vector<int64_t> starts, ends, axes, steps;
  if (opset_ < 10) {
    EV_ASSIGN_OR_RETURN(starts, Ints("starts"));
    EV_ASSIGN_OR_RETURN(ends, Ints("ends"));
    EV_ASSIGN_OR_RETURN(axes, Ints("axes"));
  } else {
    EV_ASSIGN_OR_RETURN(starts, ConstInts(1, "starts"));
    EV_ASSIGN_OR_RETURN(ends, ConstInts(2, "ends"));
    if (Has(3)) {
      EV_ASSIGN_OR_RETURN(axes, ConstInts(3, "axes"));
    }
    if (Has(4)) {
      EV_ASSIGN_OR_RETURN(steps, ConstInts(4, "steps"));
    }
  }
  const int64_t r = static_cast<int64_t>(shape.size());
  if (axes.empty()) {
    for (size_t i = 0; i < starts.size(); ++i) axes.push_back(static_cast<int64_t>(i));
  }
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (starts.size() != ends.size() || axes.size() != starts.size() ||
      steps.size() != starts.size()) {
    return Bad("starts/ends/axes/steps lengths differ");
  }
  SliceBounds sb;
  sb.begin.assign(r, 0);
  sb.step.assign(r, 1);
  sb.out_shape = shape;
  for (size_t i = 0; i < axes.size(); ++i) {
    const int64_t a = NormAxis(axes[i], r);
    if (a < 0) return Bad("axis is out of range");
    const int64_t dim = shape[a];
    const int64_t st = std::clamp<int64_t>(steps[i], -INT64_MAX, INT64_MAX);
    if (st == 0) return Bad("step is 0");
    int64_t b = starts[i] < 0 ? starts[i] + dim : starts[i];
    int64_t e = ends[i] < 0 ? ends[i] + dim : ends[i];
    if (starts[i] < -dim) b = 0;
    if (ends[i] < -dim) e = st > 0 ? 0 : -1;
    if (st > 0) {
      b = std::clamp<int64_t>(b, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      sb.out_shape[a] = e > b ? 1 + (e - b - 1) / st : 0;
    } else {
      b = std::clamp<int64_t>(b, -1, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      sb.out_shape[a] = b > e ? 1 + (b - e - 1) / (-st) : 0;
    }
    sb.begin[a] = b;
    sb.step[a] = st;
  }
  return sb;
}

Result<Value> Importer::FoldSlice() {
  EV_ASSIGN_OR_RETURN(const Value* x, FoldInput(0));
  const int64_t r = static_cast<int64_t>(x->shape.size());
  EV_ASSIGN_OR_RETURN(SliceBounds sb, SliceArgs(x->shape));
  const std::vector<int64_t>& begin = sb.begin;
  const std::vector<int64_t>& step = sb.step;
  const Shape& out_shape = sb.out_shape;
  EV_ASSIGN_OR_RETURN(int64_t n, CheckedElementCount(out_shape, Where()));
  if (n > kMaxFoldedElements) return ResourceExhausted(Where() + ": result is too large");
  const std::vector<int64_t> xs = graph::RowMajorStrides(x->shape);
  std::vector<int64_t> idx, pos(r, 0);
  for (int64_t o = 0; o < n; ++o) {
    int64_t src = 0;
    for (int64_t d = 0; d < r; ++d) src += (begin[d] + pos[d] * step[d]) * xs[d];
    idx.push_back(src);
    for (int64_t d = r; d-- > 0;) {
      if (++pos[d] < out_shape[d]) break;
      pos[d] = 0;
    }
  }
  return Gathered(*x, idx, out_shape);
}

Result<Value> Importer::FoldConstantOfShape() {
  EV_ASSIGN_OR_RETURN(const Value* x, FoldInput(0));
  if (x->dtype != DataType::kInt64) return Bad("shape is not an integer tensor");
  const Shape s(x->i64.begin(), x->i64.end());
  EV_ASSIGN_OR_RETURN(int64_t n, CheckedElementCount(s, Where()));
  if (n > kMaxFoldedElements) return ResourceExhausted(Where() + ": result is too large");
  Value v;
  v.shape = s;
  v.f32.assign(n, 0.0f);
  if (const onnx::AttributeProto* a = Attr("value"); a != nullptr && a->has_t()) {
    int unused = 0;
    EV_ASSIGN_OR_RETURN(Value fill, DecodeTensor(a->t(), Where() + ": value", &unused));
    if (PayloadSize(fill) != 1) return Bad("value must hold one element");
    if (fill.dtype == DataType::kInt64) {
      v.dtype = DataType::kInt64;
      v.f32.clear();
      v.i64.assign(n, fill.i64[0]);
    } else if (fill.dtype == DataType::kFloat32) {
      std::fill(v.f32.begin(), v.f32.end(), fill.f32[0]);
    } else {
      return Unsup("string fill value");
    }
  }
  return v;
}

// Neg, Sqrt, Floor, Ceil, Relu.
Result<Value> Importer::FoldUnary() {
  EV_ASSIGN_OR_RETURN(const Value* x, FoldInput(0));
  const std::string& op = node_->op_type();
  Value v = *x;
  if (v.dtype == DataType::kString) return Bad("input is a string tensor");
  for (float& f : v.f32) {
    if (op == "Neg") f = -f;
    if (op == "Sqrt") f = std::sqrt(f);
    if (op == "Floor") f = std::floor(f);
    if (op == "Ceil") f = std::ceil(f);
    if (op == "Relu") f = std::max(f, 0.0f);
  }
  for (int64_t& i : v.i64) {
    if (op == "Neg") i = static_cast<int64_t>(0 - static_cast<uint64_t>(i));
    if (op == "Relu") i = std::max<int64_t>(i, 0);
    if (op == "Sqrt") return Unsup("integer Sqrt");
  }
  return v;
}

// Add, Sub, Mul, Div with numpy (or, before opset 7, legacy axis) broadcasting.
Result<Value> Importer::FoldBinary() {
  EV_ASSIGN_OR_RETURN(const Value* x, FoldInput(0));
  const std::string& op = node_->op_type();
  const Op bop = op == "Add"   ? Op::kAdd
                 : op == "Sub" ? Op::kSub
                 : op == "Mul" ? Op::kMul
                               : Op::kDiv;
  EV_ASSIGN_OR_RETURN(const Value* y, FoldInput(1));
  Value b = *y;
  EV_ASSIGN_OR_RETURN(int64_t legacy, Int("broadcast", 0));
  if (opset_ < 7 && legacy != 0) {
    const int64_t ra = static_cast<int64_t>(x->shape.size());
    const int64_t rb = static_cast<int64_t>(b.shape.size());
    EV_ASSIGN_OR_RETURN(int64_t axis, Int("axis", ra - rb));
    if (axis < 0) axis += ra;
    if (axis < 0 || axis + rb > ra) return Bad("legacy broadcast axis is out of range");
    while (static_cast<int64_t>(b.shape.size()) < ra - axis) b.shape.push_back(1);
  }
  if (x->dtype != b.dtype || x->dtype == DataType::kString) return Bad("operand types differ");
  if (x->dtype == DataType::kInt64) return BroadcastInt(bop, *x, b, Where());
  Result<Shape> shape = graph::BroadcastShape(x->shape, b.shape);
  if (!shape.ok()) return Bad(shape.status().message());
  EV_ASSIGN_OR_RETURN(int64_t n, CheckedElementCount(*shape, Where()));
  if (n > kMaxFoldedElements) return ResourceExhausted(Where() + ": result is too large");
  Value v;
  v.shape = *shape;
  v.f32.resize(n);
  EV_RETURN_IF_ERROR(Context(graph::BroadcastBinary(bop, x->f32, x->shape, b.f32, b.shape, v.f32)));
  return v;
}

}  // namespace edgevision::model::onnx_import
