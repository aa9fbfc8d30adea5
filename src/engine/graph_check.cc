#include "engine/graph_check.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "graph/broadcast.h"
#include "graph/shape_inference.h"

namespace edgevision::engine {

using graph::Attrs;
using graph::Graph;
using graph::Node;
using graph::Op;
using graph::Shape;
using graph::ShapeToString;
using graph::Value;
using graph::ValueId;

bool HasFusedActivation(Op op) {
  switch (op) {
    case Op::kConv2D:
    case Op::kMaxPool2D:
    case Op::kAvgPool2D:
    case Op::kGlobalAvgPool:
    case Op::kFullyConnected:
    case Op::kAdd:
    case Op::kSub:
    case Op::kMul:
    case Op::kDiv:
    case Op::kClamp: return true;
    default: return false;
  }
}

namespace {

// Context for the messages of one node: "node 'conv1' (Conv2D): ...".
class NodeChecker {
 public:
  NodeChecker(const Graph& g, const Node& node) : g_(g), node_(node) {}

  Status Check();

 private:
  Status Fail(StatusCode code, const std::string& why) const {
    return Status(
        code, "node '" + node_.name + "' (" + std::string(graph::OpName(node_.op)) + "): " + why);
  }
  Status Invalid(const std::string& why) const { return Fail(StatusCode::kInvalidArgument, why); }

  // The value of input `i`, which must be present.
  Result<const Value*> Input(size_t i) const {
    if (i >= node_.inputs.size() || node_.inputs[i] == graph::kNoValue) {
      return Invalid("input " + std::to_string(i) + " is missing");
    }
    return &g_.values[node_.inputs[i]];
  }
  Result<const Value*> Constant(size_t i, const char* role) const {
    EV_ASSIGN_OR_RETURN(const Value* v, Input(i));
    if (!v->is_constant) {
      return Fail(StatusCode::kUnsupported,
                  std::string(role) + " '" + v->name + "' is not a constant");
    }
    if (v->dtype != graph::DataType::kFloat32) {
      return Invalid(std::string(role) + " '" + v->name + "' is not float32");
    }
    return v;
  }
  // Present optional input `i`, or nullptr.
  const Value* Optional(size_t i) const {
    if (i >= node_.inputs.size() || node_.inputs[i] == graph::kNoValue) return nullptr;
    return &g_.values[node_.inputs[i]];
  }
  Status InputCount(size_t min, size_t max) const {
    if (node_.inputs.size() < min || node_.inputs.size() > max) {
      return Invalid(
          "has " + std::to_string(node_.inputs.size()) + " inputs, expected " +
          (min == max ? std::to_string(min) : std::to_string(min) + " to " + std::to_string(max)));
    }
    return Status::Ok();
  }
  Status Rank(const Value& v, size_t rank) const {
    if (v.shape.size() != rank) {
      return Invalid("'" + v.name + "' has shape " + ShapeToString(v.shape) + ", expected rank " +
                     std::to_string(rank));
    }
    return Status::Ok();
  }
  Status Spatial(int64_t v, int64_t min, const char* what) const {
    if (v < min || v > kMaxSpatialParameter) {
      return Invalid(std::string(what) + " " + std::to_string(v) + " is out of range [" +
                     std::to_string(min) + ", " + std::to_string(kMaxSpatialParameter) + "]");
    }
    return Status::Ok();
  }
  // Output size of a sliding window; Invalid if the window never fits.
  Result<int64_t> WindowOutput(int64_t in, int64_t pad_begin, int64_t pad_end, int64_t kernel,
                               int64_t stride, int64_t dilation, const char* axis) const {
    const int64_t effective = dilation * (kernel - 1) + 1;
    const int64_t padded = in + pad_begin + pad_end;
    if (effective > padded) {
      return Invalid(std::string("kernel ") + axis + " extent " + std::to_string(effective) +
                     " exceeds the padded input " + std::to_string(padded));
    }
    return (padded - effective) / stride + 1;
  }

  Result<Shape> ConvShape();
  Result<Shape> PoolShape();
  Result<Shape> FullyConnectedShape();
  Result<Shape> ConcatShape();
  Result<Shape> BinaryShape();
  Result<Shape> UnaryShape();
  Result<Shape> ReshapeShape();
  Result<Shape> PadShape();
  Result<Shape> TransposeShape();
  // Shapes whose rule graph/shape_inference.h already states (Slice,
  // ChannelShuffle): the same function, its error as InvalidArgument.
  Result<Shape> InferredShape();

  const Graph& g_;
  const Node& node_;
};

Result<Shape> NodeChecker::ConvShape() {
  EV_RETURN_IF_ERROR(InputCount(2, 3));
  EV_ASSIGN_OR_RETURN(const Value* x, Input(0));
  EV_ASSIGN_OR_RETURN(const Value* w, Constant(1, "weights"));
  const Value* bias = Optional(2);
  EV_RETURN_IF_ERROR(Rank(*x, 4));
  EV_RETURN_IF_ERROR(Rank(*w, 4));
  const Attrs& a = node_.attrs;
  const int64_t c = x->shape[3], o = w->shape[0], kh = w->shape[1], kw = w->shape[2];
  EV_RETURN_IF_ERROR(Spatial(kh, 1, "kernel height"));
  EV_RETURN_IF_ERROR(Spatial(kw, 1, "kernel width"));
  EV_RETURN_IF_ERROR(Spatial(a.stride_h, 1, "stride"));
  EV_RETURN_IF_ERROR(Spatial(a.stride_w, 1, "stride"));
  EV_RETURN_IF_ERROR(Spatial(a.dilation_h, 1, "dilation"));
  EV_RETURN_IF_ERROR(Spatial(a.dilation_w, 1, "dilation"));
  for (int p : {a.pad_top, a.pad_left, a.pad_bottom, a.pad_right}) {
    EV_RETURN_IF_ERROR(Spatial(p, 0, "padding"));
  }
  if (a.groups < 1 || c % a.groups != 0 || o % a.groups != 0 || w->shape[3] * a.groups != c) {
    return Invalid("groups " + std::to_string(a.groups) + " do not fit input channels " +
                   std::to_string(c) + " and weights " + ShapeToString(w->shape) + " (OHWI)");
  }
  if (bias) {
    if (!bias->is_constant || bias->dtype != graph::DataType::kFloat32) {
      return Fail(StatusCode::kUnsupported, "bias '" + bias->name + "' is not a float32 constant");
    }
    if (bias->shape != Shape{o}) {
      return Invalid("bias '" + bias->name + "' has shape " + ShapeToString(bias->shape) +
                     ", expected [" + std::to_string(o) + "]");
    }
  }
  EV_ASSIGN_OR_RETURN(int64_t oh, WindowOutput(x->shape[1], a.pad_top, a.pad_bottom, kh, a.stride_h,
                                               a.dilation_h, "height"));
  EV_ASSIGN_OR_RETURN(int64_t ow, WindowOutput(x->shape[2], a.pad_left, a.pad_right, kw, a.stride_w,
                                               a.dilation_w, "width"));
  return Shape{x->shape[0], oh, ow, o};
}

Result<Shape> NodeChecker::PoolShape() {
  EV_RETURN_IF_ERROR(InputCount(1, 1));
  EV_ASSIGN_OR_RETURN(const Value* x, Input(0));
  EV_RETURN_IF_ERROR(Rank(*x, 4));
  const Attrs& a = node_.attrs;
  EV_RETURN_IF_ERROR(Spatial(a.kernel_h, 1, "kernel height"));
  EV_RETURN_IF_ERROR(Spatial(a.kernel_w, 1, "kernel width"));
  EV_RETURN_IF_ERROR(Spatial(a.stride_h, 1, "stride"));
  EV_RETURN_IF_ERROR(Spatial(a.stride_w, 1, "stride"));
  if (a.dilation_h != 1 || a.dilation_w != 1) {
    return Fail(StatusCode::kUnsupported, "dilated pooling is not supported");
  }
  // A pad at least as large as the kernel makes windows that hold only
  // padding, whose max / average is undefined.
  if (a.pad_top < 0 || a.pad_bottom < 0 || a.pad_left < 0 || a.pad_right < 0 ||
      a.pad_top >= a.kernel_h || a.pad_bottom >= a.kernel_h || a.pad_left >= a.kernel_w ||
      a.pad_right >= a.kernel_w) {
    return Invalid("padding must be non-negative and smaller than the kernel");
  }
  EV_ASSIGN_OR_RETURN(int64_t oh, WindowOutput(x->shape[1], a.pad_top, a.pad_bottom, a.kernel_h,
                                               a.stride_h, 1, "height"));
  EV_ASSIGN_OR_RETURN(int64_t ow, WindowOutput(x->shape[2], a.pad_left, a.pad_right, a.kernel_w,
                                               a.stride_w, 1, "width"));
  return Shape{x->shape[0], oh, ow, x->shape[3]};
}

Result<Shape> NodeChecker::FullyConnectedShape() {
  EV_RETURN_IF_ERROR(InputCount(2, 3));
  EV_ASSIGN_OR_RETURN(const Value* x, Input(0));
  EV_ASSIGN_OR_RETURN(const Value* w, Constant(1, "weights"));
  const Value* bias = Optional(2);
  EV_RETURN_IF_ERROR(Rank(*w, 2));
  if (x->shape.size() < 2) return Invalid("input '" + x->name + "' must have rank >= 2");
  // [N, K] or [N, 1, 1, K]; any [N, ...] is read as its row-major flattening.
  const int64_t k = graph::ShapeProduct(x->shape) / x->shape[0];
  const int64_t o = w->shape[0];
  if (w->shape[1] != k) {
    return Invalid("weights " + ShapeToString(w->shape) + " do not match input " +
                   ShapeToString(x->shape));
  }
  if (bias) {
    if (!bias->is_constant || bias->dtype != graph::DataType::kFloat32) {
      return Fail(StatusCode::kUnsupported, "bias '" + bias->name + "' is not a float32 constant");
    }
    if (bias->shape != Shape{o}) {
      return Invalid("bias '" + bias->name + "' has shape " + ShapeToString(bias->shape) +
                     ", expected [" + std::to_string(o) + "]");
    }
  }
  // The output may be [N, O] or keep the input's rank ([N, 1, 1, O]).
  const Shape& out = g_.values[node_.outputs[0]].shape;
  if (out.size() == x->shape.size() && out.size() == 4) return Shape{x->shape[0], 1, 1, o};
  return Shape{x->shape[0], o};
}

Result<Shape> NodeChecker::ConcatShape() {
  if (node_.inputs.empty()) return Invalid("has no inputs");
  EV_ASSIGN_OR_RETURN(const Value* first, Input(0));
  const size_t rank = first->shape.size();
  const int axis = node_.attrs.axis;
  if (axis < 0 || static_cast<size_t>(axis) >= rank) {
    return Invalid("axis " + std::to_string(axis) + " is out of range for rank " +
                   std::to_string(rank));
  }
  Shape out = first->shape;
  for (size_t i = 1; i < node_.inputs.size(); ++i) {
    EV_ASSIGN_OR_RETURN(const Value* v, Input(i));
    if (v->shape.size() != rank) return Invalid("inputs have different ranks");
    for (size_t d = 0; d < rank; ++d) {
      if (d == static_cast<size_t>(axis)) continue;
      if (v->shape[d] != first->shape[d]) {
        return Invalid("input '" + v->name + "' " + ShapeToString(v->shape) + " does not match " +
                       ShapeToString(first->shape) + " off the axis");
      }
    }
    out[axis] += v->shape[axis];
  }
  return out;
}

Result<Shape> NodeChecker::BinaryShape() {
  EV_RETURN_IF_ERROR(InputCount(2, 2));
  EV_ASSIGN_OR_RETURN(const Value* a, Input(0));
  EV_ASSIGN_OR_RETURN(const Value* b, Input(1));
  Result<Shape> shape = graph::BroadcastShape(a->shape, b->shape);
  if (!shape.ok()) return Invalid(shape.status().message());
  return shape;
}

Result<Shape> NodeChecker::UnaryShape() {
  EV_RETURN_IF_ERROR(InputCount(1, 1));
  EV_ASSIGN_OR_RETURN(const Value* x, Input(0));
  if (node_.op == Op::kSoftmax) {
    const int axis = node_.attrs.axis;
    if (x->shape.empty() || (axis != -1 && axis != static_cast<int>(x->shape.size()) - 1)) {
      return Fail(StatusCode::kUnsupported, "softmax over axis " + std::to_string(axis) + " of " +
                                                ShapeToString(x->shape) + " (only the last axis)");
    }
  }
  if (node_.op == Op::kLeakyRelu && !std::isfinite(node_.attrs.alpha)) {
    return Invalid("alpha is not finite");
  }
  return x->shape;
}

Result<Shape> NodeChecker::ReshapeShape() {
  // A second input, if any, is the constant target shape of formats that
  // pass it as a tensor; the output value's shape is authoritative.
  EV_RETURN_IF_ERROR(InputCount(1, 2));
  EV_ASSIGN_OR_RETURN(const Value* x, Input(0));
  if (node_.inputs.size() == 2 && node_.inputs[1] != graph::kNoValue &&
      !g_.values[node_.inputs[1]].is_constant) {
    return Fail(StatusCode::kUnsupported, "the target shape is not a constant");
  }
  const Shape& out = g_.values[node_.outputs[0]].shape;
  if (graph::ShapeProduct(out) != graph::ShapeProduct(x->shape)) {
    return Invalid("cannot reshape " + ShapeToString(x->shape) + " to " + ShapeToString(out));
  }
  return out;
}

Result<Shape> NodeChecker::PadShape() {
  EV_RETURN_IF_ERROR(InputCount(1, 1));
  EV_ASSIGN_OR_RETURN(const Value* x, Input(0));
  const size_t rank = x->shape.size();
  const std::vector<int64_t>& pads = node_.attrs.ints;
  if (pads.size() != 2 * rank) {
    return Invalid("has " + std::to_string(pads.size()) + " pads for rank " + std::to_string(rank) +
                   ", expected " + std::to_string(2 * rank));
  }
  Shape out = x->shape;
  for (size_t d = 0; d < rank; ++d) {
    for (int64_t p : {pads[d], pads[rank + d]}) {
      if (p < -kMaxSpatialParameter || p > kMaxSpatialParameter) {
        return Invalid("pad " + std::to_string(p) + " is out of range");
      }
    }
    out[d] += pads[d] + pads[rank + d];
    if (out[d] < 1) return Invalid("pads remove every element of axis " + std::to_string(d));
  }
  return out;
}

Result<Shape> NodeChecker::TransposeShape() {
  EV_RETURN_IF_ERROR(InputCount(1, 1));
  EV_ASSIGN_OR_RETURN(const Value* x, Input(0));
  const size_t rank = x->shape.size();
  const std::vector<int64_t>& perm = node_.attrs.ints;
  if (perm.size() != rank) return Invalid("permutation length does not match the rank");
  std::vector<bool> seen(rank, false);
  Shape out(rank);
  for (size_t i = 0; i < rank; ++i) {
    if (perm[i] < 0 || static_cast<size_t>(perm[i]) >= rank || seen[perm[i]]) {
      return Invalid("attribute ints is not a permutation of the axes");
    }
    seen[perm[i]] = true;
    out[i] = x->shape[perm[i]];
  }
  return out;
}

Result<Shape> NodeChecker::InferredShape() {
  EV_RETURN_IF_ERROR(InputCount(1, 1));
  EV_ASSIGN_OR_RETURN(const Value* x, Input(0));
  const Shape in[1] = {x->shape};
  Result<Shape> out = graph::InferNodeShape(node_, in);
  if (!out.ok()) return Invalid(out.status().message());
  return out;
}

Status NodeChecker::Check() {
  if (!IsExecutableOp(node_.op)) {
    return Fail(StatusCode::kUnsupported,
                "op is not executable (it should have been removed by normalisation)");
  }
  if (node_.outputs.size() != 1) {
    return Invalid("has " + std::to_string(node_.outputs.size()) + " outputs, expected 1");
  }
  const float lo = node_.attrs.act_min, hi = node_.attrs.act_max;
  const bool default_act =
      lo == -std::numeric_limits<float>::infinity() && hi == std::numeric_limits<float>::infinity();
  if (HasFusedActivation(node_.op)) {
    if (std::isnan(lo) || std::isnan(hi) || lo > hi) {
      return Invalid("activation bounds [" + std::to_string(lo) + ", " + std::to_string(hi) +
                     "] are empty");
    }
  } else if (!default_act) {
    return Fail(StatusCode::kUnsupported, "a fused activation is not supported on this op");
  }

  Result<Shape> expected = Invalid("unreachable");
  switch (node_.op) {
    case Op::kConv2D: expected = ConvShape(); break;
    case Op::kMaxPool2D:
    case Op::kAvgPool2D: expected = PoolShape(); break;
    case Op::kGlobalAvgPool: {
      EV_RETURN_IF_ERROR(InputCount(1, 1));
      EV_ASSIGN_OR_RETURN(const Value* x, Input(0));
      EV_RETURN_IF_ERROR(Rank(*x, 4));
      expected = Shape{x->shape[0], 1, 1, x->shape[3]};
      break;
    }
    case Op::kFullyConnected: expected = FullyConnectedShape(); break;
    case Op::kConcat: expected = ConcatShape(); break;
    case Op::kAdd:
    case Op::kSub:
    case Op::kMul:
    case Op::kDiv: expected = BinaryShape(); break;
    case Op::kRelu:
    case Op::kClamp:
    case Op::kSigmoid:
    case Op::kSoftmax:
    case Op::kHardSwish:
    case Op::kLeakyRelu:
    case Op::kRoundHalf: expected = UnaryShape(); break;
    case Op::kReshape: expected = ReshapeShape(); break;
    case Op::kPad: expected = PadShape(); break;
    case Op::kTranspose: expected = TransposeShape(); break;
    case Op::kSlice:
    case Op::kChannelShuffle: expected = InferredShape(); break;
    default: return Fail(StatusCode::kInternal, "op missing from the shape check");
  }
  if (!expected.ok()) return expected.status();
  // Every float operand must be float32 (constants included).
  for (ValueId in : node_.inputs) {
    if (in == graph::kNoValue) continue;
    const Value& v = g_.values[in];
    const bool shape_operand = node_.op == Op::kReshape && in != node_.inputs[0];
    if (v.dtype != graph::DataType::kFloat32 && !shape_operand) {
      return Invalid("input '" + v.name + "' is not float32");
    }
  }
  const Value& out = g_.values[node_.outputs[0]];
  if (out.shape != *expected) {
    return Invalid("output '" + out.name + "' is declared " + ShapeToString(out.shape) +
                   " but the op produces " + ShapeToString(*expected));
  }
  return Status::Ok();
}

// Static, bounded shape of a value that nodes read or write.
Status CheckValueShape(const Value& v) {
  if (v.shape.size() > kMaxTensorRank) {
    return Unsupported("value '" + v.name + "' has rank " + std::to_string(v.shape.size()) +
                       " (limit kMaxTensorRank = " + std::to_string(kMaxTensorRank) + ")");
  }
  int64_t n = 1;
  for (int64_t d : v.shape) {
    if (d < 1) {
      return InvalidArgument("value '" + v.name + "' has non-static shape " +
                             ShapeToString(v.shape));
    }
    if (d > kMaxTensorElements || n > kMaxTensorElements / d) {
      return ResourceExhausted("value '" + v.name + "' " + ShapeToString(v.shape) +
                               " exceeds kMaxTensorElements (" +
                               std::to_string(kMaxTensorElements) + ")");
    }
    n *= d;
  }
  return Status::Ok();
}

}  // namespace

Status CheckEngineOptions(const EngineOptions& options) {
  if (options.threads < 1 || options.threads > kMaxThreads) {
    return InvalidArgument("EngineOptions::threads is " + std::to_string(options.threads) +
                           ", expected 1 to kMaxThreads (" + std::to_string(kMaxThreads) + ")");
  }
  return Status::Ok();
}

Status CheckExecutableGraph(const Graph& g) {
  EV_RETURN_IF_ERROR(graph::Validate(g));
  if (g.inputs.size() != 1 || g.outputs.size() != 1) {
    return InvalidArgument("the graph has " + std::to_string(g.inputs.size()) + " inputs and " +
                           std::to_string(g.outputs.size()) + " outputs; the engines need 1 and 1");
  }
  const Value& input = g.values[g.inputs[0]];
  if (input.is_constant || input.dtype != graph::DataType::kFloat32) {
    return InvalidArgument("graph input '" + input.name + "' is not a float32 activation");
  }
  EV_RETURN_IF_ERROR(CheckValueShape(input));
  if (input.shape.empty() || input.shape[0] != 1) {
    return InvalidArgument("graph input '" + input.name + "' has shape " +
                           ShapeToString(input.shape) + "; the engines run batch 1");
  }
  if (g.ProducerOf(g.outputs[0]) < 0) {
    return InvalidArgument("graph output '" + g.values[g.outputs[0]].name +
                           "' is not computed by any node");
  }
  int64_t total_elements = graph::ShapeProduct(input.shape);
  for (const Node& node : g.nodes) {
    if (!IsExecutableOp(node.op)) {
      return Unsupported("node '" + node.name + "' (" + std::string(graph::OpName(node.op)) +
                         "): op is not executable (it should have been removed by normalisation)");
    }
    for (ValueId id : node.inputs) {
      if (id == graph::kNoValue) continue;
      const Value& v = g.values[id];
      if (v.dtype == graph::DataType::kFloat32) EV_RETURN_IF_ERROR(CheckValueShape(v));
    }
    if (!node.outputs.empty() && node.outputs[0] >= 0 &&
        static_cast<size_t>(node.outputs[0]) < g.values.size()) {
      const Value& out = g.values[node.outputs[0]];
      if (out.dtype != graph::DataType::kFloat32) {
        return InvalidArgument("value '" + out.name + "' is not float32");
      }
      EV_RETURN_IF_ERROR(CheckValueShape(out));
    }
    EV_RETURN_IF_ERROR(NodeChecker(g, node).Check());
    total_elements += graph::ShapeProduct(g.values[node.outputs[0]].shape);
    if (total_elements > kMaxTotalActivationElements) {
      return ResourceExhausted("activations exceed kMaxTotalActivationElements (" +
                               std::to_string(kMaxTotalActivationElements) + ") at node '" +
                               node.name + "'");
    }
  }
  return Status::Ok();
}

}  // namespace edgevision::engine
