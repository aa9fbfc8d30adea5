#include "graph/shape_inference.h"

#include <algorithm>
#include <string>
#include <vector>

#include "graph/broadcast.h"
#include "graph/normalize.h"

namespace edgevision::graph {

namespace {

std::string NodeLabel(const Node& node) {
  return "node '" + node.name + "' (" + std::string(OpName(node.op)) + ")";
}

Status Bad(const Node& node, const std::string& why) {
  return Corrupt(NodeLabel(node) + ": " + why);
}

// Element count of a static shape, or an error when a dimension is negative
// or the count exceeds kMaxTensorElements.
Result<int64_t> CheckedCount(const Node& node, const Shape& shape) {
  if (shape.size() > kMaxRank) {
    return Bad(node,
               "rank " + std::to_string(shape.size()) + " exceeds " + std::to_string(kMaxRank));
  }
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d <= 0)
      return Bad(node, "shape " + ShapeToString(shape) + " has an empty or unknown dimension");
    if (n > kMaxTensorElements / d) {
      return ResourceExhausted(NodeLabel(node) + ": shape " + ShapeToString(shape) +
                               " exceeds the limit of " + std::to_string(kMaxTensorElements) +
                               " elements");
    }
    n *= d;
  }
  return n;
}

Status ExpectInputs(const Node& node, size_t min, size_t max) {
  if (node.inputs.size() < min || node.inputs.size() > max) {
    return Bad(node, "has " + std::to_string(node.inputs.size()) + " inputs, expected " +
                         (min == max ? std::to_string(min)
                                     : std::to_string(min) + " to " + std::to_string(max)));
  }
  for (size_t i = 0; i < min; ++i) {
    if (node.inputs[i] == kNoValue)
      return Bad(node, "required input " + std::to_string(i) + " is absent");
  }
  return Status::Ok();
}

bool Present(const Node& node, size_t i) {
  return i < node.inputs.size() && node.inputs[i] != kNoValue;
}

// Normalises `axis` into [0, rank); -1 if out of range.
int64_t NormAxis(int64_t axis, size_t rank) {
  const int64_t r = static_cast<int64_t>(rank);
  if (axis < -r || axis >= r) return -1;
  return axis < 0 ? axis + r : axis;
}

Result<Shape> ConvShape(const Node& node, std::span<const Shape> in) {
  EV_RETURN_IF_ERROR(ExpectInputs(node, 2, 3));
  const Shape& x = in[0];
  const Shape& w = in[1];
  if (x.size() != 4) return Bad(node, "input " + ShapeToString(x) + " is not NHWC");
  if (w.size() != 4) return Bad(node, "weights " + ShapeToString(w) + " are not OHWI");
  const Attrs& a = node.attrs;
  if (a.groups < 1 || a.stride_h < 1 || a.stride_w < 1 || a.dilation_h < 1 || a.dilation_w < 1 ||
      a.pad_top < 0 || a.pad_left < 0 || a.pad_bottom < 0 || a.pad_right < 0) {
    return Bad(node, "has a non-positive group/stride/dilation or a negative pad");
  }
  if (w[3] * a.groups != x[3]) {
    return Bad(node, "input has " + std::to_string(x[3]) + " channels but weights " +
                         ShapeToString(w) + " with " + std::to_string(a.groups) +
                         " groups expect " + std::to_string(w[3] * a.groups));
  }
  if (w[0] % a.groups != 0) {
    return Bad(node, std::to_string(w[0]) + " output channels do not split into " +
                         std::to_string(a.groups) + " groups");
  }
  if (Present(node, 2)) {
    const Shape& b = in[2];
    if (b.size() != 1 || b[0] != w[0]) {
      return Bad(node, "bias " + ShapeToString(b) + " does not match " + std::to_string(w[0]) +
                           " output channels");
    }
  }
  int64_t oh = WindowOutputSize(x[1], w[1], a.stride_h, a.dilation_h, a.pad_top, a.pad_bottom);
  int64_t ow = WindowOutputSize(x[2], w[2], a.stride_w, a.dilation_w, a.pad_left, a.pad_right);
  if (oh < 1 || ow < 1) {
    return Bad(node, "kernel " + ShapeToString(w) + " does not fit input " + ShapeToString(x) +
                         " with its pads");
  }
  return Shape{x[0], oh, ow, w[0]};
}

Result<Shape> PoolShape(const Node& node, std::span<const Shape> in) {
  EV_RETURN_IF_ERROR(ExpectInputs(node, 1, 1));
  const Shape& x = in[0];
  if (x.size() != 4) return Bad(node, "input " + ShapeToString(x) + " is not NHWC");
  const Attrs& a = node.attrs;
  if (a.kernel_h < 1 || a.kernel_w < 1 || a.stride_h < 1 || a.stride_w < 1) {
    return Bad(node, "has a non-positive kernel or stride");
  }
  if (a.pad_top < 0 || a.pad_left < 0 || a.pad_bottom < 0 || a.pad_right < 0 ||
      a.pad_top >= a.kernel_h || a.pad_bottom >= a.kernel_h || a.pad_left >= a.kernel_w ||
      a.pad_right >= a.kernel_w) {
    return Bad(node, "pads must be non-negative and smaller than the kernel");
  }
  int64_t oh = WindowOutputSize(x[1], a.kernel_h, a.stride_h, 1, a.pad_top, a.pad_bottom);
  int64_t ow = WindowOutputSize(x[2], a.kernel_w, a.stride_w, 1, a.pad_left, a.pad_right);
  if (oh < 1 || ow < 1) {
    return Bad(node, "window " + std::to_string(a.kernel_h) + "x" + std::to_string(a.kernel_w) +
                         " does not fit input " + ShapeToString(x));
  }
  return Shape{x[0], oh, ow, x[3]};
}

Result<Shape> FullyConnectedShape(const Node& node, std::span<const Shape> in) {
  EV_RETURN_IF_ERROR(ExpectInputs(node, 2, 3));
  const Shape& x = in[0];
  const Shape& w = in[1];
  const bool flat4 = x.size() == 4 && x[1] == 1 && x[2] == 1;
  if (x.size() != 2 && !flat4)
    return Bad(node, "input " + ShapeToString(x) + " is not [N,K] or [N,1,1,K]");
  if (w.size() != 2 || w[1] != x.back()) {
    return Bad(node, "weights " + ShapeToString(w) + " do not match input " + ShapeToString(x));
  }
  if (Present(node, 2) && (in[2].size() != 1 || in[2][0] != w[0])) {
    return Bad(node, "bias " + ShapeToString(in[2]) + " does not match " + std::to_string(w[0]) +
                         " outputs");
  }
  return Shape{x[0], w[0]};
}

Result<Shape> ConcatShape(const Node& node, std::span<const Shape> in) {
  if (node.inputs.empty()) return Bad(node, "has no inputs");
  EV_RETURN_IF_ERROR(ExpectInputs(node, node.inputs.size(), node.inputs.size()));
  Shape out = in[0];
  const int64_t axis = NormAxis(node.attrs.axis, out.size());
  if (axis < 0) return Bad(node, "axis " + std::to_string(node.attrs.axis) + " is out of range");
  for (size_t i = 1; i < in.size(); ++i) {
    const Shape& s = in[i];
    bool match = s.size() == out.size();
    for (size_t d = 0; match && d < s.size(); ++d) {
      if (static_cast<int64_t>(d) != axis && s[d] != out[d]) match = false;
    }
    if (!match) {
      return Bad(node, "input " + ShapeToString(s) + " does not match " + ShapeToString(in[0]) +
                           " outside axis " + std::to_string(axis));
    }
    out[axis] += s[axis];
  }
  return out;
}

Result<Shape> ReshapeShape(const Node& node, std::span<const Shape> in) {
  EV_RETURN_IF_ERROR(ExpectInputs(node, 1, 1));
  EV_ASSIGN_OR_RETURN(int64_t count, CheckedCount(node, in[0]));
  Shape out = node.attrs.ints;
  int unknown = -1;
  int64_t known = 1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1 && unknown < 0) {
      unknown = static_cast<int>(i);
    } else if (out[i] <= 0 || known > kMaxTensorElements / out[i]) {
      return Bad(node, "target shape " + ShapeToString(out) + " is invalid");
    } else {
      known *= out[i];
    }
  }
  if (unknown >= 0) {
    if (count % known != 0) {
      return Bad(node, "cannot reshape " + ShapeToString(in[0]) + " to " + ShapeToString(out));
    }
    out[unknown] = count / known;
  }
  if (known * (unknown >= 0 ? out[unknown] : 1) != count) {
    return Bad(node, "cannot reshape " + ShapeToString(in[0]) + " to " + ShapeToString(out));
  }
  return out;
}

Result<Shape> PadShape(const Node& node, std::span<const Shape> in) {
  EV_RETURN_IF_ERROR(ExpectInputs(node, 1, 1));
  const Shape& x = in[0];
  const std::vector<int64_t>& p = node.attrs.ints;
  if (p.size() != 2 * x.size()) {
    return Bad(
        node, std::to_string(p.size()) + " pads for a rank-" + std::to_string(x.size()) + " input");
  }
  Shape out = x;
  for (size_t d = 0; d < x.size(); ++d) {
    const int64_t b = p[d], e = p[d + x.size()];
    if (b < 0 || e < 0 || b > kMaxTensorElements || e > kMaxTensorElements) {
      return Bad(node, "pads must be non-negative and bounded");
    }
    out[d] = x[d] + b + e;
  }
  return out;
}

Result<Shape> TransposeShape(const Node& node, std::span<const Shape> in) {
  EV_RETURN_IF_ERROR(ExpectInputs(node, 1, 1));
  const Shape& x = in[0];
  const std::vector<int64_t>& perm = node.attrs.ints;
  if (perm.size() != x.size()) return Bad(node, "permutation rank does not match the input");
  std::vector<bool> seen(x.size(), false);
  Shape out(x.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    const int64_t p = NormAxis(perm[i], x.size());
    if (p < 0 || seen[p]) return Bad(node, "attribute is not a permutation");
    seen[p] = true;
    out[i] = x[p];
  }
  return out;
}

// Slice: ints = begins then sizes; a size of -1 takes the rest of the axis.
Result<Shape> SliceShape(const Node& node, std::span<const Shape> in) {
  EV_RETURN_IF_ERROR(ExpectInputs(node, 1, 1));
  const Shape& x = in[0];
  const std::vector<int64_t>& a = node.attrs.ints;
  if (a.size() != 2 * x.size()) {
    return Bad(node, std::to_string(a.size()) + " begins and sizes for a rank-" +
                         std::to_string(x.size()) + " input");
  }
  Shape out(x.size());
  for (size_t d = 0; d < x.size(); ++d) {
    const int64_t b = a[d], n = a[d + x.size()];
    if (x[d] < 0) {  // unknown (the batch): only the whole axis or a fixed count from 0
      if (b != 0 || (n != -1 && n < 1)) return Bad(node, "slices an unknown dimension");
      out[d] = n == -1 ? -1 : n;
      continue;
    }
    if (b < 0 || b >= x[d] || n == 0 || n < -1 || (n > 0 && n > x[d] - b)) {
      return Bad(node, "slice begin " + std::to_string(b) + " size " + std::to_string(n) +
                           " does not fit dimension " + std::to_string(x[d]));
    }
    out[d] = n == -1 ? x[d] - b : n;
  }
  return out;
}

Result<Shape> ChannelShuffleShape(const Node& node, std::span<const Shape> in) {
  EV_RETURN_IF_ERROR(ExpectInputs(node, 1, 1));
  const Shape& x = in[0];
  const int64_t g = node.attrs.groups;
  if (x.empty() || x.back() < 1 || g < 2 || x.back() % g != 0) {
    return Bad(node, std::to_string(g) + " groups do not divide the channels of " +
                         ShapeToString(x));
  }
  return x;
}

Result<Shape> ReduceMeanShape(const Node& node, std::span<const Shape> in) {
  EV_RETURN_IF_ERROR(ExpectInputs(node, 1, 1));
  const Shape& x = in[0];
  std::vector<bool> reduce(x.size(), false);
  for (int64_t axis : node.attrs.ints) {
    const int64_t a = NormAxis(axis, x.size());
    if (a < 0 || reduce[a]) return Bad(node, "axes are out of range or repeated");
    reduce[a] = true;
  }
  if (node.attrs.ints.empty()) std::fill(reduce.begin(), reduce.end(), true);
  Shape out;
  for (size_t d = 0; d < x.size(); ++d) {
    if (!reduce[d]) {
      out.push_back(x[d]);
    } else if (node.attrs.keep_dims) {
      out.push_back(1);
    }
  }
  return out;
}

Result<Shape> BatchNormShape(const Node& node, std::span<const Shape> in) {
  EV_RETURN_IF_ERROR(ExpectInputs(node, 5, 5));
  const Shape& x = in[0];
  if (x.empty()) return Bad(node, "input is a scalar");
  for (size_t i = 1; i < 5; ++i) {
    if (in[i].size() != 1 || in[i][0] != x.back()) {
      return Bad(node, "parameter " + ShapeToString(in[i]) + " does not match " +
                           std::to_string(x.back()) + " channels");
    }
  }
  return x;
}

}  // namespace

int64_t WindowOutputSize(int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                         int64_t pad_begin, int64_t pad_end) {
  constexpr int64_t kBound = int64_t{1} << 30;
  if (in < 1 || kernel < 1 || stride < 1 || dilation < 1 || pad_begin < 0 || pad_end < 0 ||
      in > kBound || kernel > kBound || stride > kBound || dilation > kBound ||
      pad_begin > kBound || pad_end > kBound) {
    return -1;
  }
  const int64_t span = (kernel - 1) * dilation + 1;
  const int64_t padded = in + pad_begin + pad_end;
  if (span > padded) return -1;
  return (padded - span) / stride + 1;
}

Result<Shape> InferNodeShape(const Node& node, std::span<const Shape> in) {
  if (node.outputs.size() != 1) return Bad(node, "must have exactly one output");
  if (in.size() != node.inputs.size()) return Internal(NodeLabel(node) + ": shape count mismatch");
  for (size_t i = 0; i < in.size(); ++i) {
    if (!Present(node, i)) continue;
    EV_ASSIGN_OR_RETURN(int64_t unused, CheckedCount(node, in[i]));
    (void)unused;
  }
  Result<Shape> out = Shape{};
  switch (node.op) {
    case Op::kConv2D: out = ConvShape(node, in); break;
    case Op::kMaxPool2D:
    case Op::kAvgPool2D: out = PoolShape(node, in); break;
    case Op::kGlobalAvgPool: {
      EV_RETURN_IF_ERROR(ExpectInputs(node, 1, 1));
      if (in[0].size() != 4) return Bad(node, "input " + ShapeToString(in[0]) + " is not NHWC");
      out = Shape{in[0][0], 1, 1, in[0][3]};
      break;
    }
    case Op::kFullyConnected: out = FullyConnectedShape(node, in); break;
    case Op::kConcat: out = ConcatShape(node, in); break;
    case Op::kAdd:
    case Op::kSub:
    case Op::kMul:
    case Op::kDiv: {
      EV_RETURN_IF_ERROR(ExpectInputs(node, 2, 2));
      Result<Shape> s = BroadcastShape(in[0], in[1]);
      if (!s.ok()) return Bad(node, s.status().message());
      out = std::move(s);
      break;
    }
    case Op::kClamp:
      if (node.attrs.act_min > node.attrs.act_max) return Bad(node, "min is above max");
      [[fallthrough]];
    case Op::kRelu:
    case Op::kSigmoid:
    case Op::kHardSwish:
    case Op::kLeakyRelu:
    case Op::kIdentity:
    case Op::kNeg:
    case Op::kRsqrt:
    case Op::kSqrt:
    case Op::kRoundHalf:
      EV_RETURN_IF_ERROR(ExpectInputs(node, 1, 1));
      out = in[0];
      break;
    case Op::kSoftmax:
      EV_RETURN_IF_ERROR(ExpectInputs(node, 1, 1));
      if (NormAxis(node.attrs.axis, in[0].size()) < 0) {
        return Bad(node, "axis " + std::to_string(node.attrs.axis) + " is out of range for " +
                             ShapeToString(in[0]));
      }
      out = in[0];
      break;
    case Op::kReshape: out = ReshapeShape(node, in); break;
    case Op::kPad: out = PadShape(node, in); break;
    case Op::kTranspose: out = TransposeShape(node, in); break;
    case Op::kSlice: out = SliceShape(node, in); break;
    case Op::kChannelShuffle: out = ChannelShuffleShape(node, in); break;
    case Op::kReduceMean: out = ReduceMeanShape(node, in); break;
    case Op::kBatchNorm: out = BatchNormShape(node, in); break;
  }
  if (!out.ok()) return out;
  EV_ASSIGN_OR_RETURN(int64_t unused, CheckedCount(node, *out));
  (void)unused;
  return out;
}

Status InferShapes(Graph* graph) {
  Graph& g = *graph;
  const size_t n = g.values.size();
  std::vector<bool> known(n, false);
  for (size_t i = 0; i < n; ++i) {
    Value& v = g.values[i];
    if (!v.is_constant) continue;
    if (v.NumElements() < 0) return Corrupt("constant '" + v.name + "' has an unknown dimension");
    known[i] = true;
  }
  for (ValueId id : g.inputs) {
    if (id < 0 || static_cast<size_t>(id) >= n) return Corrupt("graph input id out of range");
    Value& v = g.values[id];
    if (v.dtype != DataType::kFloat32)
      return Unsupported("graph input '" + v.name + "' is not float32");
    if (v.shape.empty()) return Unsupported("graph input '" + v.name + "' has no shape");
    if (v.shape[0] < 0) v.shape[0] = 1;
    for (size_t d = 0; d < v.shape.size(); ++d) {
      if (v.shape[d] <= 0) {
        return Unsupported("graph input '" + v.name + "' has unknown dimension " +
                           std::to_string(d) + " in " + ShapeToString(v.shape));
      }
    }
    known[id] = true;
  }
  std::vector<Shape> in_shapes;
  for (const Node& node : g.nodes) {
    in_shapes.assign(node.inputs.size(), Shape{});
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      const ValueId id = node.inputs[i];
      if (id == kNoValue) continue;
      if (id < 0 || static_cast<size_t>(id) >= n) {
        return Corrupt("node '" + node.name + "' has an input id out of range");
      }
      if (!known[id]) {
        return Corrupt("node '" + node.name + "' reads '" + g.values[id].name +
                       "' before it is produced");
      }
      in_shapes[i] = g.values[id].shape;
    }
    EV_ASSIGN_OR_RETURN(Shape out, InferNodeShape(node, in_shapes));
    const ValueId o = node.outputs[0];
    if (o < 0 || static_cast<size_t>(o) >= n) {
      return Corrupt("node '" + node.name + "' has an output id out of range");
    }
    g.values[o].shape = std::move(out);
    known[o] = true;
  }
  return Status::Ok();
}

}  // namespace edgevision::graph
