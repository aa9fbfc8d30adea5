// The graph: edgevision's own small representation of an inference model.
//
// Every importer (ONNX, TensorFlow GraphDef, TFLite) translates its file into
// this one form; graph/normalize.h then rewrites it into the canonical subset
// the engines execute. Nothing outside model/ knows any file format.
//
// Conventions (the contract every importer must meet):
//  - Activations are float32. A 4-D activation is NHWC. Importers of NCHW
//    formats (ONNX) translate layouts: NCHW shapes become NHWC, axis 1 becomes
//    axis 3, per-channel constants become [C], and weights are rearranged.
//  - Conv2D weights are OHWI: [out_channels, kernel_h, kernel_w, in_channels / groups].
//    A depthwise convolution is a Conv2D with groups == input channels.
//  - FullyConnected weights are [out_features, in_features].
//  - Batch dimension is -1 ("any") in imported graphs; the engines run batch 1.
//  - Values are referenced by index (ValueId); nodes own no memory.
//
// Thread-safety: a Graph is a plain value; const access from many threads is safe.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace edgevision::graph {

using ValueId = int32_t;
inline constexpr ValueId kNoValue = -1;

// Dimension sizes; -1 means unknown (only the batch dimension may stay unknown
// after normalisation).
using Shape = std::vector<int64_t>;

enum class DataType : uint8_t { kFloat32, kInt64, kString };

// An edge of the graph: a graph input, a node output, or a constant.
struct Value {
  std::string name;
  DataType dtype = DataType::kFloat32;
  Shape shape;
  bool is_constant = false;
  // Constant payload, row-major in `shape`; exactly one is used, per dtype.
  // Integer constants of any width are widened to int64 by the importers.
  std::vector<float> f32;
  std::vector<int64_t> i64;
  std::vector<std::string> str;

  int64_t NumElements() const;  // -1 if any dimension is unknown
};

// The operator set. Imported graphs may use all of them; after Normalize()
// only the ops marked [exec] remain (others are folded or rewritten), and the
// engines must implement exactly the [exec] ops.
enum class Op : uint8_t {
  // in: x [N,H,W,C], w OHWI, optional bias [O]. attrs: stride, dilation, pads, groups, act.  [exec]
  kConv2D,
  // in: x. attrs: kernel, stride, pads. Padded positions never win the max.  [exec]
  kMaxPool2D,
  // in: x. attrs: kernel, stride, pads, count_include_pad.  [exec]
  kAvgPool2D,
  // in: x [N,H,W,C] -> [N,1,1,C].  [exec]
  kGlobalAvgPool,
  // in: x [N, K] (or [N,1,1,K]), w [O, K], optional bias [O]. attrs: act.  [exec]
  kFullyConnected,
  // in: x0..xn, attrs: axis (non-negative after normalisation).  [exec]
  kConcat,
  // in: a, b with numpy broadcasting. attrs: act.  [exec]
  kAdd,
  kSub,
  kMul,
  kDiv,
  // Unary activations.  [exec]
  kRelu,
  kClamp,      // attrs: act_min, act_max (Relu6, Clip)
  kSigmoid,
  kSoftmax,    // attrs: axis (the last axis after normalisation)
  kHardSwish,
  kLeakyRelu,  // attrs: alpha
  // in: x; attrs: ints = target shape (may contain one -1). Data order unchanged.  [exec]
  kReshape,
  // in: x; attrs: ints = pads as [begin_0..begin_{r-1}, end_0..end_{r-1}], pad_value.  [exec]
  kPad,
  // in: x; attrs: ints = permutation.  [exec]
  kTranspose,
  // in: x; attrs: ints = [begin_0..begin_{r-1}, size_0..size_{r-1}], every
  // size >= 1 (importers resolve TFLite's -1). A slice on the last axis only
  // (ShuffleNet's channel split) runs as a view: no copy.  [exec]
  kSlice,
  // in: x [..., C]; attrs: groups = G (C = G * K). ShuffleNet's channel
  // shuffle, out[..., k * G + g] = in[..., g * K + k]; Normalize recognises
  // Reshape [..,G,K] -> Transpose (swap the last two) -> Reshape [..,C].  [exec]
  kChannelShuffle,
  // in: x; attrs: ints = axes to average, keep_dims.  Normalize turns a mean over
  // H,W into kGlobalAvgPool.
  kReduceMean,
  // in: x, scale, bias, mean, var (each [C] on the last axis). attrs: epsilon.
  // Folded into the neighbouring Conv2D, or turned into kMul + kAdd.
  kBatchNorm,
  // Passes its single input through. Removed by Normalize.
  kIdentity,
  // Unary maths that appear in constant sub-graphs (e.g. TensorFlow's data_bn
  // block); constant-folded by Normalize.
  kNeg,
  kRsqrt,
  kSqrt,
  // in: x. Each value rounded to the nearest binary16 value, kept as float32
  // (core/half.h): where ONNX Runtime stores a float16 model's tensor as
  // float16 (model/onnx_float16.h).  [exec]
  kRoundHalf,
};

std::string_view OpName(Op op);
// Whether `op` is marked [exec]: what Normalize() may leave in a graph and
// every engine implements.
bool IsExecutableOp(Op op);

// The number of elements of a shape whose dimensions are all known (1 for a
// scalar), and its row-major strides in elements.
int64_t ShapeProduct(const Shape& s);
std::vector<int64_t> RowMajorStrides(const Shape& s);
// "[1,224,224,3]" (unknown dimensions as -1), for messages.
std::string ShapeToString(const Shape& shape);
// Number of elements in a value's payload (f32, i64 or str, per dtype).
size_t PayloadSize(const Value& v);

struct Attrs {
  // Conv2D / pooling.
  int kernel_h = 0, kernel_w = 0;  // pooling only; Conv2D reads its weights' shape
  int stride_h = 1, stride_w = 1;
  int dilation_h = 1, dilation_w = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int groups = 1;
  bool count_include_pad = false;
  // Fused output clamp (Conv2D, FullyConnected, Add, ...) and kClamp bounds.
  float act_min = -std::numeric_limits<float>::infinity();
  float act_max = std::numeric_limits<float>::infinity();
  // Concat / Softmax axis; negative counts from the end (imported graphs only).
  int axis = -1;
  // Reshape target shape, Transpose permutation, Pad pads, ReduceMean axes.
  std::vector<int64_t> ints;
  bool keep_dims = true;
  float pad_value = 0.0f;
  float alpha = 0.0f;      // LeakyRelu slope
  float epsilon = 1e-5f;   // BatchNorm
};

struct Node {
  Op op = Op::kIdentity;
  std::string name;  // as in the source file, for messages
  std::vector<ValueId> inputs;   // kNoValue for an absent optional input
  std::vector<ValueId> outputs;
  Attrs attrs;
};

// A model graph. Members are public: passes rewrite them directly.
struct Graph {
  std::vector<Value> values;
  std::vector<Node> nodes;  // topologically ordered after Normalize()
  std::vector<ValueId> inputs;
  std::vector<ValueId> outputs;

  // Adds a value and returns its id.
  ValueId AddValue(Value value);
  // Adds a non-constant float32 value.
  ValueId AddActivation(std::string name, Shape shape = {});
  // Adds a float32 constant; data.size() must equal the product of shape.
  ValueId AddConstant(std::string name, Shape shape, std::vector<float> data);
  ValueId AddConstantInt(std::string name, Shape shape, std::vector<int64_t> data);
  // Appends a node; returns its index in `nodes`.
  size_t AddNode(Node node);

  // Index of the value named `name`, or kNoValue.
  ValueId FindValue(std::string_view name) const;
  // Index of the node producing `id`, or -1 (graph input or constant).
  int ProducerOf(ValueId id) const;
  // Number of node inputs plus graph outputs that reference `id`.
  int UseCount(ValueId id) const;

  // Count of nodes per op name, for `edgevision inspect`.
  std::map<std::string, int> OpSummary() const;
};

// Multiply-adds of one inference, counted from a normalised graph: each
// Conv2D output element costs KH*KW*(C/groups), each FullyConnected output K.
// Pooling, element-wise ops and activations are not counted (they are not
// multiply-adds and are memory-bound): this is the work the compute floor
// (docs/performance.md) is measured against, and what the int8 mode's
// mixed precision budgets (predict/int8_mixed.h).
uint64_t NodeMultiplyAdds(const Graph& g, const Node& node);
uint64_t CountMultiplyAdds(const Graph& g);

// Checks structural invariants: ids in range, every non-constant value
// produced exactly once (or a graph input), nodes topologically ordered,
// constants carry payloads matching their shapes. Returns Corrupt on the
// first violation, naming the node.
Status Validate(const Graph& graph);

}  // namespace edgevision::graph
