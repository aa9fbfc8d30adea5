// TensorFlow frozen GraphDef (model.pb) -> graph::Graph.
//
// What is translated: the nodes the output needs (TensorFlow runs only what a
// fetch needs, so leftovers such as unused constants never matter), in
// topological order. Conventions met on the way (graph/graph.h):
//   - Conv2D weights HWIO -> OHWI; DepthwiseConv2dNative [H,W,C,M] -> OHWI
//     [C*M,H,W,1] with groups = C; MatMul weights [K,O] -> FullyConnected
//     [O,K];
//   - SAME padding made explicit with TensorFlow's rule (which needs the
//     input size, so shapes are tracked while translating);
//   - BiasAdd folded into the Conv2D/MatMul it follows when that output has
//     no other consumer; everything else (Identity, the data_bn constant
//     block, Relu, Pad, FusedBatchNorm) is left to graph::Normalize.
// Inputs that are constants, directly or through Identity chains, become
// graph constants; Identity nodes on activations are kept.
//
// Thread-safety: ImportTensorFlow is reentrant.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "graph/graph.h"
#include "graph/shape_inference.h"
#include "model/import_common.h"
#include "model/importer.h"
#include "model/schemas/tf_graph.pb.h"
#include "model/tf_graph_import.h"

namespace edgevision::model {

namespace {

static_assert(std::endian::native == std::endian::little,
              "tensor_content is little-endian; a big-endian port must byte-swap");

namespace tf = ::edgevision::tf;
using graph::Op;
using graph::Shape;
using graph::ShapeToString;
using graph::ValueId;

// Limits (hostile files) are the shared ones (model/import_common.h,
// graph/limits.h): a GraphDef over kMaxModelFileBytes is refused before
// parsing; one constant holds at most graph::kMaxTensorElements elements in at
// most graph::kMaxRank dimensions, and its value list must fill it unless the
// repeated tail stays within the import's expansion budget; windows, strides,
// dilations and pads above graph::kMaxWindow are corrupt; an input image
// beyond graph::kMaxInputSide / kMaxInputChannels is Unsupported.
constexpr int64_t kMaxConstElements = graph::kMaxTensorElements;
constexpr int64_t kMaxWindow = graph::kMaxWindow;
constexpr int kMaxRank = static_cast<int>(graph::kMaxRank);
constexpr int kMaxOutputIndex = 1 << 16;

// A reference to one output of a node: "name", "name:k" or "^name" (control).
struct InputRef {
  int node = -1;
  int index = 0;
};

bool IsIdentityLike(const std::string& op) {
  return op == "Identity" || op == "StopGradient" || op == "PlaceholderWithDefault";
}

// Ops we translate. Everything else is Unsupported.
const std::set<std::string, std::less<>>& SupportedOps() {
  static const std::set<std::string, std::less<>> ops = {"Placeholder",
                                                         "PlaceholderWithDefault",
                                                         "Const",
                                                         "Identity",
                                                         "StopGradient",
                                                         "NoOp",
                                                         "Conv2D",
                                                         "DepthwiseConv2dNative",
                                                         "BiasAdd",
                                                         "MatMul",
                                                         "Relu",
                                                         "Relu6",
                                                         "LeakyRelu",
                                                         "Sigmoid",
                                                         "Softmax",
                                                         "MaxPool",
                                                         "AvgPool",
                                                         "ConcatV2",
                                                         "Concat",
                                                         "Reshape",
                                                         "Squeeze",
                                                         "Mean",
                                                         "Add",
                                                         "AddV2",
                                                         "Sub",
                                                         "Mul",
                                                         "RealDiv",
                                                         "Neg",
                                                         "Rsqrt",
                                                         "Sqrt",
                                                         "FusedBatchNorm",
                                                         "FusedBatchNormV3",
                                                         "Pad",
                                                         "PadV2",
                                                         "Transpose",
                                                         "Slice"};
  return ops;
}

// Inputs read as attributes (must be constant), per op.
bool IsAttributeInput(const std::string& op, int index, int num_inputs) {
  if (op == "ConcatV2") return index == num_inputs - 1;
  if (op == "Concat") return index == 0;
  if (op == "Reshape" || op == "Mean" || op == "Pad" || op == "MirrorPad") return index == 1;
  if (op == "PadV2" || op == "Slice") return index >= 1;
  if (op == "Transpose") return index == 1;
  // Weights are constants after freezing; non-constant weights are refused.
  if (op == "Conv2D" || op == "DepthwiseConv2dNative" || op == "MatMul") return index == 1;
  return false;
}

// A little-endian scalar at an arbitrary (unaligned) address.
template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

class TfImporter {
 public:
  TfImporter(const tf::GraphDef& def, const std::string& label, const TfGraphOptions& options)
      : def_(def), label_(label), options_(options) {}

  Result<ImportedModel> Run();

 private:
  const tf::NodeDef& Node(int i) const { return def_.node(i); }

  std::string Where(const tf::NodeDef& n) const {
    return label_ + ": node '" + n.name() + "' (" + n.op() + ")";
  }
  Status CorruptAt(const tf::NodeDef& n, const std::string& why) const {
    return Corrupt(Where(n) + ": " + why);
  }
  Status UnsupportedAt(const tf::NodeDef& n, const std::string& why) const {
    return Unsupported(Where(n) + ": " + why);
  }

  Status IndexNodes();
  Result<int> FindOutputNode() const;
  Result<std::vector<int>> OrderNeededNodes(int output);
  std::optional<int> ResolveConstNode(InputRef ref) const;

  // Attributes.
  const tf::AttrValue* FindAttr(const tf::NodeDef& n, const std::string& name) const;
  Result<std::string> StringAttr(const tf::NodeDef& n, const std::string& name,
                                 std::optional<std::string> fallback) const;
  Result<std::vector<int64_t>> IntListAttr(const tf::NodeDef& n, const std::string& name,
                                           std::optional<std::vector<int64_t>> fallback) const;
  Result<bool> BoolAttr(const tf::NodeDef& n, const std::string& name, bool fallback) const;
  Result<float> FloatAttr(const tf::NodeDef& n, const std::string& name, float fallback) const;
  Status CheckFloatType(const tf::NodeDef& n, const char* attr = "T") const;
  Status CheckNhwc(const tf::NodeDef& n) const;

  Result<ConstTensor> ReadConst(int const_node) const;
  Result<int> ConstInputNode(int node_index, int input) const;
  Result<ConstTensor> ConstInput(int node_index, int input) const;

  // Values.
  Result<ValueId> ValueOf(int node_index, int input);
  Result<ValueId> ConstantValue(int const_node);
  ValueId NewActivation(const std::string& name, std::optional<Shape> shape);
  // A copy: graph_.values grows while translating.
  std::optional<Shape> KnownShape(ValueId id) const {
    return shape_known_[id] ? std::optional<Shape>(graph_.values[id].shape) : std::nullopt;
  }
  void SetOutput(int node, ValueId id) { produced_[{node, 0}] = id; }
  void AddNode(Op op, const tf::NodeDef& n, std::vector<ValueId> inputs, ValueId output,
               graph::Attrs attrs = {});

  Status Translate(int node_index);
  Status TranslatePlaceholder(int node_index);
  Status TranslateConv(int node_index, bool depthwise);
  Status TranslatePool(int node_index, bool max);
  Status TranslateMatMul(int node_index);
  Status TranslateBiasAdd(int node_index);
  Status TranslateBinary(int node_index, Op op);
  Status TranslateUnary(int node_index, Op op, graph::Attrs attrs = {});
  Status TranslateConcat(int node_index);
  Status TranslateReshape(int node_index);
  Status TranslateSqueeze(int node_index);
  Status TranslateTranspose(int node_index);
  Status TranslateSlice(int node_index);
  Status TranslateMean(int node_index);
  Status TranslateBatchNorm(int node_index);
  Status TranslatePad(int node_index);

  Result<std::vector<int>> Window(const tf::NodeDef& n, const std::string& attr,
                                  bool required) const;
  Status SpatialPads(const tf::NodeDef& n, const Shape* in, int64_t kh, int64_t kw, int sh, int sw,
                     int dh, int dw, graph::Attrs* attrs);
  void DescribeGeneration(ImportedModel* model) const;

  const tf::GraphDef& def_;
  const std::string& label_;
  const TfGraphOptions options_;

  std::unordered_map<std::string, int> by_name_;
  std::vector<std::vector<InputRef>> data_inputs_;  // per node, control inputs dropped
  std::vector<int> order_;                          // needed nodes, topological
  std::map<std::pair<int, int>, int> consumers_;    // (node, output) -> uses among needed nodes

  graph::Graph graph_;
  std::vector<bool> shape_known_;
  std::map<std::pair<int, int>, ValueId> produced_;
  std::map<int, ValueId> constants_;
  std::map<ValueId, size_t> producer_node_;  // value -> index in graph_.nodes
  int placeholder_ = -1;
  int output_node_ = -1;
  int fused_bias_ = 0;
  int same_pads_ = 0;
  // Elements created beyond the file's bytes (short value lists); ReadConst
  // is logically const, the budget is bookkeeping.
  mutable ExpansionBudget expansion_;
  mutable std::set<int> expansion_charged_;  // Const nodes already charged
  int weights_converted_ = 0;
};

Status TfImporter::IndexNodes() {
  const int n = def_.node_size();
  by_name_.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const tf::NodeDef& node = Node(i);
    if (node.name().empty())
      return Corrupt(label_ + ": node #" + std::to_string(i) + " has no name");
    if (!by_name_.emplace(node.name(), i).second) {
      return Corrupt(label_ + ": two nodes are named '" + node.name() + "'");
    }
  }
  data_inputs_.resize(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const tf::NodeDef& node = Node(i);
    bool seen_control = false;
    for (const std::string& raw : node.input()) {
      if (!raw.empty() && raw[0] == '^') {
        seen_control = true;
        if (!by_name_.count(raw.substr(1))) {
          return CorruptAt(node, "control input '" + raw + "' names no node");
        }
        continue;
      }
      if (seen_control) return CorruptAt(node, "data input '" + raw + "' after a control input");
      std::string name = raw;
      int index = 0;
      const size_t colon = raw.rfind(':');
      if (colon != std::string::npos) {
        const std::string digits = raw.substr(colon + 1);
        if (digits.empty() || digits.size() > 6 ||
            !std::all_of(digits.begin(), digits.end(),
                         [](char c) { return c >= '0' && c <= '9'; })) {
          return CorruptAt(node, "malformed input '" + raw + "'");
        }
        index = std::stoi(digits);
        if (index > kMaxOutputIndex)
          return CorruptAt(node, "input '" + raw + "': output index too large");
        name = raw.substr(0, colon);
      }
      auto it = by_name_.find(name);
      if (it == by_name_.end()) return CorruptAt(node, "input '" + raw + "' names no node");
      data_inputs_[i].push_back({it->second, index});
    }
  }
  return Status::Ok();
}

// The node the container code fetches ("loss" in compact graphs, whose
// "model_outputs" is an Identity of it; "model_output" in S1 graphs), else
// the one node nobody consumes (how Microsoft's samples find the output).
Result<int> TfImporter::FindOutputNode() const {
  if (!options_.output_node.empty()) {
    auto it = by_name_.find(options_.output_node);
    if (it == by_name_.end()) {
      return Corrupt(label_ + ": the output '" + options_.output_node + "' (" +
                     options_.output_source + ") is not a node of the graph");
    }
    return it->second;
  }
  for (const char* name : {"loss", "model_output"}) {
    if (auto it = by_name_.find(name); it != by_name_.end()) return it->second;
  }
  std::vector<bool> consumed(static_cast<size_t>(def_.node_size()), false);
  for (const auto& inputs : data_inputs_) {
    for (const InputRef& ref : inputs) consumed[ref.node] = true;
  }
  std::vector<int> candidates;
  for (int i = 0; i < def_.node_size(); ++i) {
    const std::string& op = Node(i).op();
    if (consumed[i] || op == "Const" || op == "NoOp" || op == "Placeholder" ||
        op == "PlaceholderWithDefault") {
      continue;
    }
    candidates.push_back(i);
  }
  if (candidates.size() == 1) return candidates[0];
  if (candidates.empty()) return Unsupported(label_ + ": no output node (every node is consumed)");
  std::string names;
  for (size_t i = 0; i < candidates.size() && i < 5; ++i)
    names += (i ? ", " : "") + Node(candidates[i]).name();
  return Unsupported(label_ + ": cannot tell the output: no node named 'loss' and " +
                     std::to_string(candidates.size()) + " nodes are consumed by none (" + names +
                     (candidates.size() > 5 ? ", ..." : "") + ")");
}

// Follows Identity-like nodes from `ref` to a Const; nullopt if it ends
// elsewhere.
std::optional<int> TfImporter::ResolveConstNode(InputRef ref) const {
  for (int steps = 0; steps <= def_.node_size(); ++steps) {
    if (ref.index != 0) return std::nullopt;
    const tf::NodeDef& n = Node(ref.node);
    if (n.op() == "Const") return ref.node;
    if (!IsIdentityLike(n.op()) || data_inputs_[ref.node].empty()) return std::nullopt;
    ref = data_inputs_[ref.node][0];
  }
  return std::nullopt;  // an Identity cycle
}

// Depth-first from the output over value edges (attribute inputs and inputs
// that resolve to constants are not edges); post-order is topological.
Result<std::vector<int>> TfImporter::OrderNeededNodes(int output) {
  enum Mark : uint8_t { kNew, kOpen, kDone };
  std::vector<Mark> mark(static_cast<size_t>(def_.node_size()), kNew);
  std::vector<int> order;
  struct Frame {
    int node;
    size_t next;
  };
  std::vector<Frame> stack = {{output, 0}};
  mark[output] = kOpen;
  while (!stack.empty()) {
    Frame& top = stack.back();
    const tf::NodeDef& n = Node(top.node);
    if (top.next == 0) {
      if (!SupportedOps().count(n.op())) {
        if (n.op() == "MirrorPad")
          return UnsupportedAt(n, "MirrorPad (reflect/symmetric padding) is not supported");
        return UnsupportedAt(n, "op '" + n.op() + "' is not supported");
      }
      if (n.op() == "NoOp") return CorruptAt(n, "a NoOp is used as a data input");
    }
    const auto& inputs = data_inputs_[top.node];
    const int count = static_cast<int>(inputs.size());
    bool descended = false;
    while (top.next < inputs.size()) {
      const int i = static_cast<int>(top.next++);
      const InputRef ref = inputs[i];
      if (IsAttributeInput(n.op(), i, count) || ResolveConstNode(ref)) continue;
      if (mark[ref.node] == kOpen)
        return CorruptAt(n, "the graph has a cycle through '" + Node(ref.node).name() + "'");
      if (mark[ref.node] == kDone) continue;
      mark[ref.node] = kOpen;
      stack.push_back({ref.node, 0});
      descended = true;
      break;
    }
    if (descended) continue;
    mark[stack.back().node] = kDone;
    order.push_back(stack.back().node);
    stack.pop_back();
  }
  for (int node : order) {
    const auto& inputs = data_inputs_[node];
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (IsAttributeInput(Node(node).op(), static_cast<int>(i), static_cast<int>(inputs.size())))
        continue;
      if (ResolveConstNode(inputs[i])) continue;
      ++consumers_[{inputs[i].node, inputs[i].index}];
    }
  }
  ++consumers_[{output, 0}];
  return order;
}

const tf::AttrValue* TfImporter::FindAttr(const tf::NodeDef& n, const std::string& name) const {
  auto it = n.attr().find(name);
  return it == n.attr().end() ? nullptr : &it->second;
}

Result<std::string> TfImporter::StringAttr(const tf::NodeDef& n, const std::string& name,
                                           std::optional<std::string> fallback) const {
  const tf::AttrValue* a = FindAttr(n, name);
  if (!a) {
    if (fallback) return *fallback;
    return CorruptAt(n, "attribute '" + name + "' is missing");
  }
  if (a->value_case() != tf::AttrValue::kS)
    return CorruptAt(n, "attribute '" + name + "' is not a string");
  return a->s();
}

Result<std::vector<int64_t>> TfImporter::IntListAttr(
    const tf::NodeDef& n, const std::string& name,
    std::optional<std::vector<int64_t>> fallback) const {
  const tf::AttrValue* a = FindAttr(n, name);
  if (!a) {
    if (fallback) return *fallback;
    return CorruptAt(n, "attribute '" + name + "' is missing");
  }
  if (a->value_case() != tf::AttrValue::kList)
    return CorruptAt(n, "attribute '" + name + "' is not a list");
  return std::vector<int64_t>(a->list().i().begin(), a->list().i().end());
}

Result<bool> TfImporter::BoolAttr(const tf::NodeDef& n, const std::string& name,
                                  bool fallback) const {
  const tf::AttrValue* a = FindAttr(n, name);
  if (!a) return fallback;
  if (a->value_case() != tf::AttrValue::kB)
    return CorruptAt(n, "attribute '" + name + "' is not a bool");
  return a->b();
}

Result<float> TfImporter::FloatAttr(const tf::NodeDef& n, const std::string& name,
                                    float fallback) const {
  const tf::AttrValue* a = FindAttr(n, name);
  if (!a) return fallback;
  if (a->value_case() != tf::AttrValue::kF)
    return CorruptAt(n, "attribute '" + name + "' is not a float");
  if (!std::isfinite(a->f())) return CorruptAt(n, "attribute '" + name + "' is not finite");
  return a->f();
}

Status TfImporter::CheckFloatType(const tf::NodeDef& n, const char* attr) const {
  const tf::AttrValue* a = FindAttr(n, attr);
  if (!a)
    return Status::Ok();  // older graphs omit defaults; float is the default everywhere we look
  if (a->value_case() != tf::AttrValue::kType)
    return CorruptAt(n, std::string("attribute '") + attr + "' is not a type");
  if (a->type() != tf::DT_FLOAT) {
    return UnsupportedAt(n, std::string("element type ") + tf::DataType_Name(a->type()) +
                                " (only float32 graphs are supported)");
  }
  return Status::Ok();
}

Status TfImporter::CheckNhwc(const tf::NodeDef& n) const {
  EV_ASSIGN_OR_RETURN(std::string format, StringAttr(n, "data_format", std::string("NHWC")));
  if (format != "NHWC")
    return UnsupportedAt(n, "data_format '" + format + "' (only NHWC is supported)");
  return Status::Ok();
}

Result<ConstTensor> TfImporter::ReadConst(int const_node) const {
  const tf::NodeDef& n = Node(const_node);
  const tf::AttrValue* a = FindAttr(n, "value");
  if (!a || a->value_case() != tf::AttrValue::kTensor)
    return CorruptAt(n, "Const without a tensor 'value'");
  const tf::TensorProto& t = a->tensor();
  ConstTensor out;
  if (t.tensor_shape().unknown_rank()) return CorruptAt(n, "constant of unknown rank");
  if (t.tensor_shape().dim_size() > kMaxRank) return UnsupportedAt(n, "constant of rank above 8");
  int64_t count = 1;
  for (const auto& d : t.tensor_shape().dim()) {
    if (d.size() < 0) return CorruptAt(n, "constant has a negative dimension");
    if (d.size() > kMaxConstElements || (d.size() > 0 && count > kMaxConstElements / d.size())) {
      return CorruptAt(n,
                       "constant has more than " + std::to_string(kMaxConstElements) + " elements");
    }
    count *= d.size();
    out.shape.push_back(d.size());
  }
  const std::string& raw = t.tensor_content();
  // Typed lists: a shorter list repeats its last element (TensorFlow's rule).
  auto fill = [&](auto& dst, const auto& src, auto convert) -> Status {
    if (static_cast<int64_t>(src.size()) > count)
      return CorruptAt(n, "constant holds more values than its shape");
    // The repeated tail is not in the file: charge it before allocating, once
    // per constant however often it is read.
    if (!expansion_charged_.count(const_node)) {
      EV_RETURN_IF_ERROR(
          expansion_.Charge(count - static_cast<int64_t>(src.size()), Where(n) + ": constant"));
      expansion_charged_.insert(const_node);
    }
    dst.resize(static_cast<size_t>(count));
    for (int64_t k = 0; k < count; ++k) {
      if (src.empty()) {
        dst[k] = {};
      } else {
        dst[k] = convert(src[static_cast<int>(std::min<int64_t>(k, src.size() - 1))]);
      }
    }
    return Status::Ok();
  };
  auto from_raw = [&](auto& dst, size_t elem_size, auto decode) -> Status {
    // Sizes are checked against the bytes present before anything is allocated.
    EV_RETURN_IF_ERROR(
        CheckPayloadBytes(count, elem_size, raw.size(), out.shape, Where(n) + ": tensor_content"));
    dst.resize(static_cast<size_t>(count));
    for (int64_t k = 0; k < count; ++k) decode(raw.data() + k * elem_size, k);
    return Status::Ok();
  };
  auto as_float = [](auto v) { return static_cast<float>(v); };
  auto as_int = [](auto v) { return static_cast<int64_t>(v); };
  switch (t.dtype()) {
    case tf::DT_FLOAT:
      if (!raw.empty()) {
        EV_RETURN_IF_ERROR(
            from_raw(out.f, 4, [&](const char* p, int64_t k) { out.f[k] = Load<float>(p); }));
        return out;
      }
      EV_RETURN_IF_ERROR(fill(out.f, t.float_val(), as_float));
      return out;
    case tf::DT_DOUBLE:
      if (!raw.empty()) {
        EV_RETURN_IF_ERROR(from_raw(out.f, 8, [&](const char* p, int64_t k) {
          out.f[k] = static_cast<float>(Load<double>(p));
        }));
        return out;
      }
      EV_RETURN_IF_ERROR(fill(out.f, t.double_val(), as_float));
      return out;
    case tf::DT_HALF:
    case tf::DT_BFLOAT16: {
      const bool half = t.dtype() == tf::DT_HALF;
      auto convert = [half](uint16_t v) { return half ? HalfToFloat(v) : BFloat16ToFloat(v); };
      if (!raw.empty()) {
        EV_RETURN_IF_ERROR(from_raw(
            out.f, 2, [&](const char* p, int64_t k) { out.f[k] = convert(Load<uint16_t>(p)); }));
        return out;
      }
      EV_RETURN_IF_ERROR(
          fill(out.f, t.half_val(), [&](int32_t v) { return convert(static_cast<uint16_t>(v)); }));
      return out;
    }
    case tf::DT_INT32:
    case tf::DT_INT16:
    case tf::DT_INT8:
    case tf::DT_UINT8:
    case tf::DT_UINT16:
    case tf::DT_INT64:
    case tf::DT_BOOL: {
      out.is_float = false;
      size_t elem = 4;
      switch (t.dtype()) {
        case tf::DT_INT16:
        case tf::DT_UINT16: elem = 2; break;
        case tf::DT_INT8:
        case tf::DT_UINT8:
        case tf::DT_BOOL: elem = 1; break;
        case tf::DT_INT64: elem = 8; break;
        default: break;
      }
      const tf::DataType dt = t.dtype();
      if (!raw.empty()) {
        EV_RETURN_IF_ERROR(from_raw(out.i, elem, [&](const char* p, int64_t k) {
          switch (dt) {
            case tf::DT_INT32: out.i[k] = Load<int32_t>(p); break;
            case tf::DT_INT16: out.i[k] = Load<int16_t>(p); break;
            case tf::DT_UINT16: out.i[k] = Load<uint16_t>(p); break;
            case tf::DT_INT8: out.i[k] = Load<int8_t>(p); break;
            case tf::DT_UINT8: out.i[k] = Load<uint8_t>(p); break;
            case tf::DT_BOOL: out.i[k] = Load<uint8_t>(p) != 0; break;
            default: out.i[k] = Load<int64_t>(p); break;
          }
        }));
        return out;
      }
      if (dt == tf::DT_INT64) {
        EV_RETURN_IF_ERROR(fill(out.i, t.int64_val(), as_int));
      } else if (dt == tf::DT_BOOL) {
        EV_RETURN_IF_ERROR(fill(out.i, t.bool_val(), as_int));
      } else {
        EV_RETURN_IF_ERROR(fill(out.i, t.int_val(), as_int));
      }
      return out;
    }
    default: return UnsupportedAt(n, "constant of type " + tf::DataType_Name(t.dtype()));
  }
}

Result<int> TfImporter::ConstInputNode(int node_index, int input) const {
  const tf::NodeDef& n = Node(node_index);
  const auto& inputs = data_inputs_[node_index];
  if (input >= static_cast<int>(inputs.size())) {
    return CorruptAt(n, "has " + std::to_string(inputs.size()) + " inputs, needs at least " +
                            std::to_string(input + 1));
  }
  std::optional<int> c = ResolveConstNode(inputs[input]);
  if (!c) {
    return UnsupportedAt(n, "input " + std::to_string(input) + " ('" +
                                Node(inputs[input].node).name() + "') must be a constant");
  }
  return *c;
}

Result<ConstTensor> TfImporter::ConstInput(int node_index, int input) const {
  EV_ASSIGN_OR_RETURN(int c, ConstInputNode(node_index, input));
  return ReadConst(c);
}

ValueId TfImporter::NewActivation(const std::string& name, std::optional<Shape> shape) {
  const ValueId id = graph_.AddActivation(name, shape ? *shape : Shape{});
  shape_known_.push_back(shape.has_value());
  return id;
}

Result<ValueId> TfImporter::ConstantValue(int const_node) {
  if (auto it = constants_.find(const_node); it != constants_.end()) return it->second;
  EV_ASSIGN_OR_RETURN(ConstTensor c, ReadConst(const_node));
  const std::string& name = Node(const_node).name();
  const ValueId id = c.is_float ? graph_.AddConstant(name, c.shape, std::move(c.f))
                                : graph_.AddConstantInt(name, c.shape, std::move(c.i));
  shape_known_.push_back(true);
  constants_[const_node] = id;
  return id;
}

Result<ValueId> TfImporter::ValueOf(int node_index, int input) {
  const tf::NodeDef& n = Node(node_index);
  const auto& inputs = data_inputs_[node_index];
  if (input >= static_cast<int>(inputs.size())) {
    return CorruptAt(n, "has " + std::to_string(inputs.size()) + " inputs, needs at least " +
                            std::to_string(input + 1));
  }
  const InputRef ref = inputs[input];
  if (std::optional<int> c = ResolveConstNode(ref)) return ConstantValue(*c);
  auto it = produced_.find({ref.node, ref.index});
  if (it == produced_.end()) {
    const tf::NodeDef& src = Node(ref.node);
    if (ref.index > 0) {
      return UnsupportedAt(n, "reads output " + std::to_string(ref.index) + " of '" + src.name() +
                                  "' (" + src.op() + "); only the first output is supported");
    }
    return Internal(Where(n) + ": input '" + src.name() + "' was not translated first");
  }
  return it->second;
}

void TfImporter::AddNode(Op op, const tf::NodeDef& n, std::vector<ValueId> inputs, ValueId output,
                         graph::Attrs attrs) {
  graph::Node node;
  node.op = op;
  node.name = n.name();
  node.inputs = std::move(inputs);
  node.outputs = {output};
  node.attrs = std::move(attrs);
  producer_node_[output] = graph_.AddNode(std::move(node));
}

Status TfImporter::TranslatePlaceholder(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  const tf::AttrValue* dtype = FindAttr(n, "dtype");
  if (!dtype || dtype->value_case() != tf::AttrValue::kType)
    return CorruptAt(n, "no 'dtype' attribute");
  if (dtype->type() != tf::DT_FLOAT) {
    return UnsupportedAt(
        n, "input of type " + tf::DataType_Name(dtype->type()) + " (only float32 images)");
  }
  const tf::AttrValue* shape_attr = FindAttr(n, "shape");
  if (!shape_attr || shape_attr->value_case() != tf::AttrValue::kShape ||
      shape_attr->shape().unknown_rank()) {
    return UnsupportedAt(n, "the input has no declared shape");
  }
  Shape shape;
  for (const auto& d : shape_attr->shape().dim()) {
    if (d.size() < -1 || d.size() > kMaxConstElements)
      return CorruptAt(n, "input dimension out of range");
    shape.push_back(d.size());
  }
  if (shape.size() != 4 || shape[1] <= 0 || shape[2] <= 0 || shape[3] <= 0) {
    return UnsupportedAt(
        n, "input shape " + ShapeToString(shape) + " is not [batch,H,W,C] with a static H, W, C");
  }
  EV_RETURN_IF_ERROR(CheckInputImage(shape[1], shape[2], shape[3], Where(n) + ": input shape"));
  placeholder_ = node_index;
  Shape graph_shape = shape;
  graph_shape[0] = -1;
  const ValueId id = NewActivation(n.name(), graph_shape);
  graph_.inputs.push_back(id);
  SetOutput(node_index, id);
  return Status::Ok();
}

Result<std::vector<int>> TfImporter::Window(const tf::NodeDef& n, const std::string& attr,
                                            bool required) const {
  EV_ASSIGN_OR_RETURN(
      std::vector<int64_t> v,
      IntListAttr(n, attr,
                  required ? std::nullopt : std::optional<std::vector<int64_t>>({1, 1, 1, 1})));
  if (v.size() != 4) return CorruptAt(n, "attribute '" + attr + "' must have 4 entries");
  for (int64_t x : v) {
    if (x < 1 || x > kMaxWindow)
      return CorruptAt(n, "attribute '" + attr + "' has an entry out of range");
  }
  if (v[0] != 1 || v[3] != 1)
    return UnsupportedAt(n, "attribute '" + attr + "' acts on batch or channels");
  return std::vector<int>{static_cast<int>(v[1]), static_cast<int>(v[2])};
}

Status TfImporter::SpatialPads(const tf::NodeDef& n, const Shape* in, int64_t kh, int64_t kw,
                               int sh, int sw, int dh, int dw, graph::Attrs* attrs) {
  EV_ASSIGN_OR_RETURN(std::string padding, StringAttr(n, "padding", std::nullopt));
  if (padding == "VALID") return Status::Ok();
  if (padding == "SAME") {
    const int64_t ih = in && in->size() == 4 ? (*in)[1] : -1;
    const int64_t iw = in && in->size() == 4 ? (*in)[2] : -1;
    if ((ih < 0 && sh != 1) || (iw < 0 && sw != 1)) {
      return UnsupportedAt(n, "SAME padding with stride > 1 on an input of unknown size");
    }
    // With stride 1 the total is (k-1)*d whatever the size, so any size will do.
    std::tie(attrs->pad_top, attrs->pad_bottom) = SamePadding(ih < 0 ? kh : ih, kh, sh, dh);
    std::tie(attrs->pad_left, attrs->pad_right) = SamePadding(iw < 0 ? kw : iw, kw, sw, dw);
    ++same_pads_;
    return Status::Ok();
  }
  if (padding == "EXPLICIT") {
    EV_ASSIGN_OR_RETURN(std::vector<int64_t> p, IntListAttr(n, "explicit_paddings", std::nullopt));
    if (p.size() != 8) return CorruptAt(n, "explicit_paddings must have 8 entries");
    for (int64_t x : p) {
      if (x < 0 || x > kMaxWindow) return CorruptAt(n, "explicit_paddings entry out of range");
    }
    if (p[0] || p[1] || p[6] || p[7]) return UnsupportedAt(n, "padding on batch or channels");
    attrs->pad_top = static_cast<int>(p[2]);
    attrs->pad_bottom = static_cast<int>(p[3]);
    attrs->pad_left = static_cast<int>(p[4]);
    attrs->pad_right = static_cast<int>(p[5]);
    return Status::Ok();
  }
  return CorruptAt(n, "unknown padding '" + padding + "'");
}

// Output size of a window op (graph::WindowOutputSize); -1 when the input
// size is unknown.
Result<int64_t> WindowOutput(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pad_begin,
                             int64_t pad_end) {
  if (in < 0) return int64_t{-1};
  const int64_t out = graph::WindowOutputSize(in, k, s, d, pad_begin, pad_end);
  if (out < 0) {
    return Corrupt("window of " + std::to_string((k - 1) * d + 1) +
                   " exceeds the padded input of " + std::to_string(in + pad_begin + pad_end));
  }
  return out;
}

Status TfImporter::TranslateConv(int node_index, bool depthwise) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  EV_RETURN_IF_ERROR(CheckNhwc(n));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(int w_node, ConstInputNode(node_index, 1));
  EV_ASSIGN_OR_RETURN(ConstTensor w, ReadConst(w_node));
  if (!w.is_float || w.shape.size() != 4 || w.size() == 0) {
    return CorruptAt(n,
                     "weights must be a non-empty 4-D float tensor, got " + ShapeToString(w.shape));
  }
  EV_ASSIGN_OR_RETURN(std::vector<int> stride, Window(n, "strides", true));
  EV_ASSIGN_OR_RETURN(std::vector<int> dilation, Window(n, "dilations", false));
  const int64_t kh = w.shape[0], kw = w.shape[1], ci = w.shape[2], co = w.shape[3];
  if (kh > kMaxWindow || kw > kMaxWindow) return CorruptAt(n, "kernel too large");

  graph::Attrs attrs;
  attrs.stride_h = stride[0];
  attrs.stride_w = stride[1];
  attrs.dilation_h = dilation[0];
  attrs.dilation_w = dilation[1];
  const std::optional<Shape> in = KnownShape(x);
  if (in && in->size() != 4) return CorruptAt(n, "input is not 4-D: " + ShapeToString(*in));
  EV_RETURN_IF_ERROR(SpatialPads(n, in ? &*in : nullptr, kh, kw, attrs.stride_h, attrs.stride_w,
                                 attrs.dilation_h, attrs.dilation_w, &attrs));

  // Rearrange to OHWI.
  std::vector<float> ohwi(w.f.size());
  Shape ohwi_shape;
  int64_t out_channels;
  if (depthwise) {
    // [H,W,C,M] -> [C*M,H,W,1]; output channel c*M+m reads input channel c.
    const int64_t c_in = ci, m = co;
    out_channels = c_in * m;
    for (int64_t h = 0; h < kh; ++h)
      for (int64_t x2 = 0; x2 < kw; ++x2)
        for (int64_t c = 0; c < c_in; ++c)
          for (int64_t j = 0; j < m; ++j)
            ohwi[((c * m + j) * kh + h) * kw + x2] = w.f[((h * kw + x2) * c_in + c) * m + j];
    ohwi_shape = {out_channels, kh, kw, 1};
    attrs.groups = static_cast<int>(c_in);
    if (in && (*in)[3] >= 0 && (*in)[3] != c_in) {
      return CorruptAt(n, "weights expect " + std::to_string(c_in) + " input channels, input has " +
                              std::to_string((*in)[3]));
    }
  } else {
    out_channels = co;
    for (int64_t h = 0; h < kh; ++h)
      for (int64_t x2 = 0; x2 < kw; ++x2)
        for (int64_t i = 0; i < ci; ++i)
          for (int64_t o = 0; o < co; ++o)
            ohwi[((o * kh + h) * kw + x2) * ci + i] = w.f[((h * kw + x2) * ci + i) * co + o];
    ohwi_shape = {co, kh, kw, ci};
    if (in && (*in)[3] >= 0) {
      if ((*in)[3] % ci != 0 || co % ((*in)[3] / ci) != 0) {
        return CorruptAt(n, "weights " + ShapeToString(w.shape) + " do not fit an input with " +
                                std::to_string((*in)[3]) + " channels");
      }
      attrs.groups = static_cast<int>((*in)[3] / ci);
    }
  }
  ++weights_converted_;
  const ValueId wid =
      graph_.AddConstant(Node(w_node).name() + "/OHWI", ohwi_shape, std::move(ohwi));
  shape_known_.push_back(true);

  std::optional<Shape> out_shape;
  if (in) {
    EV_ASSIGN_OR_RETURN(int64_t oh, WindowOutput((*in)[1], kh, attrs.stride_h, attrs.dilation_h,
                                                 attrs.pad_top, attrs.pad_bottom));
    EV_ASSIGN_OR_RETURN(int64_t ow, WindowOutput((*in)[2], kw, attrs.stride_w, attrs.dilation_w,
                                                 attrs.pad_left, attrs.pad_right));
    out_shape = Shape{(*in)[0], oh, ow, out_channels};
  }
  const ValueId y = NewActivation(n.name(), out_shape);
  AddNode(Op::kConv2D, n, {x, wid, graph::kNoValue}, y, attrs);
  SetOutput(node_index, y);
  return Status::Ok();
}

Status TfImporter::TranslatePool(int node_index, bool max) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  EV_RETURN_IF_ERROR(CheckNhwc(n));
  if (data_inputs_[node_index].size() != 1) {
    return UnsupportedAt(
        n, "window and strides given as inputs (only the attribute form is supported)");
  }
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(std::vector<int> k, Window(n, "ksize", true));
  EV_ASSIGN_OR_RETURN(std::vector<int> s, Window(n, "strides", true));
  graph::Attrs attrs;
  attrs.kernel_h = k[0];
  attrs.kernel_w = k[1];
  attrs.stride_h = s[0];
  attrs.stride_w = s[1];
  attrs.count_include_pad = false;  // TensorFlow averages over the valid cells only
  const std::optional<Shape> in = KnownShape(x);
  if (in && in->size() != 4) return CorruptAt(n, "input is not 4-D: " + ShapeToString(*in));
  EV_RETURN_IF_ERROR(SpatialPads(n, in ? &*in : nullptr, k[0], k[1], s[0], s[1], 1, 1, &attrs));
  std::optional<Shape> out_shape;
  if (in) {
    EV_ASSIGN_OR_RETURN(int64_t oh,
                        WindowOutput((*in)[1], k[0], s[0], 1, attrs.pad_top, attrs.pad_bottom));
    EV_ASSIGN_OR_RETURN(int64_t ow,
                        WindowOutput((*in)[2], k[1], s[1], 1, attrs.pad_left, attrs.pad_right));
    out_shape = Shape{(*in)[0], oh, ow, (*in)[3]};
  }
  const ValueId y = NewActivation(n.name(), out_shape);
  AddNode(max ? Op::kMaxPool2D : Op::kAvgPool2D, n, {x}, y, attrs);
  SetOutput(node_index, y);
  return Status::Ok();
}

Status TfImporter::TranslateMatMul(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  EV_ASSIGN_OR_RETURN(bool ta, BoolAttr(n, "transpose_a", false));
  EV_ASSIGN_OR_RETURN(bool tb, BoolAttr(n, "transpose_b", false));
  if (ta) return UnsupportedAt(n, "transpose_a=true");
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(int w_node, ConstInputNode(node_index, 1));
  EV_ASSIGN_OR_RETURN(ConstTensor w, ReadConst(w_node));
  if (!w.is_float || w.shape.size() != 2 || w.size() == 0) {
    return CorruptAt(n,
                     "weights must be a non-empty 2-D float tensor, got " + ShapeToString(w.shape));
  }
  int64_t k = w.shape[0], o = w.shape[1];
  std::vector<float> ok;
  if (tb) {
    std::swap(k, o);
    ok = std::move(w.f);  // already [O,K]
  } else {
    ok.resize(w.f.size());
    for (int64_t r = 0; r < k; ++r)
      for (int64_t c = 0; c < o; ++c) ok[c * k + r] = w.f[r * o + c];
  }
  const std::optional<Shape> in = KnownShape(x);
  if (in && (in->size() != 2 || ((*in)[1] >= 0 && (*in)[1] != k))) {
    return CorruptAt(
        n, "input " + ShapeToString(*in) + " does not match weights with K=" + std::to_string(k));
  }
  ++weights_converted_;
  const ValueId wid = graph_.AddConstant(Node(w_node).name() + "/OK", Shape{o, k}, std::move(ok));
  shape_known_.push_back(true);
  const ValueId y = NewActivation(n.name(), Shape{in ? (*in)[0] : -1, o});
  AddNode(Op::kFullyConnected, n, {x, wid, graph::kNoValue}, y);
  SetOutput(node_index, y);
  return Status::Ok();
}

Status TfImporter::TranslateBiasAdd(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  EV_RETURN_IF_ERROR(CheckNhwc(n));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(ValueId b, ValueOf(node_index, 1));
  const graph::Value& bias = graph_.values[b];
  if (bias.is_constant && (bias.dtype != graph::DataType::kFloat32 || bias.shape.size() != 1)) {
    return CorruptAt(n, "bias must be a 1-D float tensor, got " + ShapeToString(bias.shape));
  }
  // Fold into the Conv2D / FullyConnected that produced x when nothing else reads x.
  const InputRef src = data_inputs_[node_index][0];
  auto prod = producer_node_.find(x);
  if (bias.is_constant && prod != producer_node_.end() && consumers_[{src.node, src.index}] == 1) {
    graph::Node& p = graph_.nodes[prod->second];
    const bool foldable = (p.op == Op::kConv2D || p.op == Op::kFullyConnected) &&
                          p.inputs.size() == 3 && p.inputs[2] == graph::kNoValue;
    if (foldable) {
      const int64_t channels = graph_.values[p.inputs[1]].shape[0];
      if (bias.shape[0] != channels) {
        return CorruptAt(n, "bias has " + std::to_string(bias.shape[0]) + " values for " +
                                std::to_string(channels) + " channels");
      }
      p.inputs[2] = b;
      graph_.values[x].name = n.name();  // the tensor TensorFlow names after the BiasAdd
      ++fused_bias_;
      SetOutput(node_index, x);
      return Status::Ok();
    }
  }
  const std::optional<Shape> in = KnownShape(x);
  const ValueId y = NewActivation(n.name(), in);
  AddNode(Op::kAdd, n, {x, b}, y);
  SetOutput(node_index, y);
  return Status::Ok();
}

// Numpy broadcasting where -1 (unknown) matches anything.
Result<Shape> BroadcastLoose(const Shape& a, const Shape& b) {
  Shape out(std::max(a.size(), b.size()));
  for (size_t i = 0; i < out.size(); ++i) {
    const int64_t da = i < out.size() - a.size() ? 1 : a[i - (out.size() - a.size())];
    const int64_t db = i < out.size() - b.size() ? 1 : b[i - (out.size() - b.size())];
    if (da == db || db == 1) {
      out[i] = da;
    } else if (da == 1) {
      out[i] = db;
    } else if (da == -1 || db == -1) {
      out[i] = std::max(da, db);
    } else {
      return Corrupt("shapes " + ShapeToString(a) + " and " + ShapeToString(b) +
                     " do not broadcast");
    }
  }
  return out;
}

Status TfImporter::TranslateBinary(int node_index, Op op) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  if (data_inputs_[node_index].size() != 2) return CorruptAt(n, "needs exactly 2 inputs");
  EV_ASSIGN_OR_RETURN(ValueId a, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(ValueId b, ValueOf(node_index, 1));
  for (ValueId v : {a, b}) {
    if (graph_.values[v].dtype != graph::DataType::kFloat32) {
      return UnsupportedAt(n, "operand '" + graph_.values[v].name + "' is not float32");
    }
  }
  std::optional<Shape> out_shape;
  const std::optional<Shape> sa = KnownShape(a), sb = KnownShape(b);
  if (sa && sb) {
    Result<Shape> s = BroadcastLoose(*sa, *sb);
    if (!s.ok()) return CorruptAt(n, s.status().message());
    out_shape = *s;
  }
  const ValueId y = NewActivation(n.name(), out_shape);
  AddNode(op, n, {a, b}, y);
  SetOutput(node_index, y);
  return Status::Ok();
}

Status TfImporter::TranslateUnary(int node_index, Op op, graph::Attrs attrs) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  if (data_inputs_[node_index].empty()) return CorruptAt(n, "has no input");
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  if (graph_.values[x].dtype != graph::DataType::kFloat32) {
    return UnsupportedAt(n, "operand '" + graph_.values[x].name + "' is not float32");
  }
  const std::optional<Shape> in = KnownShape(x);
  const ValueId y = NewActivation(n.name(), in);
  AddNode(op, n, {x}, y, std::move(attrs));
  SetOutput(node_index, y);
  return Status::Ok();
}

Status TfImporter::TranslateConcat(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  const int count = static_cast<int>(data_inputs_[node_index].size());
  if (count < 2) return CorruptAt(n, "needs an axis and at least one tensor");
  const bool v2 = n.op() == "ConcatV2";
  EV_ASSIGN_OR_RETURN(ConstTensor axis, ConstInput(node_index, v2 ? count - 1 : 0));
  if (axis.is_float || axis.size() != 1) return CorruptAt(n, "axis must be one integer");
  std::vector<ValueId> xs;
  std::vector<std::optional<Shape>> shapes;
  for (int i = v2 ? 0 : 1; i < (v2 ? count - 1 : count); ++i) {
    EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, i));
    xs.push_back(x);
    shapes.push_back(KnownShape(x));
  }
  int64_t ax = axis.i[0];
  std::optional<Shape> out_shape;
  if (shapes[0]) {
    const int64_t rank = static_cast<int64_t>(shapes[0]->size());
    if (ax < -rank || ax >= rank)
      return CorruptAt(n, "axis " + std::to_string(ax) + " out of range");
    if (ax < 0) ax += rank;
    bool all_known = true;
    Shape s = *shapes[0];
    for (size_t i = 1; i < shapes.size(); ++i) {
      if (!shapes[i]) {
        all_known = false;
        break;
      }
      if (shapes[i]->size() != s.size()) return CorruptAt(n, "inputs differ in rank");
      const int64_t d = (*shapes[i])[ax];
      s[ax] = (s[ax] < 0 || d < 0) ? -1 : s[ax] + d;
    }
    if (all_known) out_shape = s;
  } else if (ax < -kMaxRank || ax >= kMaxRank) {
    return CorruptAt(n, "axis " + std::to_string(ax) + " out of range");
  }
  graph::Attrs attrs;
  attrs.axis = static_cast<int>(ax);
  const ValueId y = NewActivation(n.name(), out_shape);
  AddNode(Op::kConcat, n, std::move(xs), y, attrs);
  SetOutput(node_index, y);
  return Status::Ok();
}

// Reshape target with at most one -1; the output shape where it can be known.
Result<Shape> ReshapeOutput(const Shape* in, const std::vector<int64_t>& target) {
  int unknown = -1;
  int64_t known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    if (target[i] == -1) {
      if (unknown >= 0) return Corrupt("shape " + ShapeToString(target) + " has two -1 entries");
      unknown = static_cast<int>(i);
    } else if (target[i] <= 0 || target[i] > kMaxConstElements ||
               known > kMaxConstElements / target[i]) {
      return Corrupt("shape " + ShapeToString(target) + " has an entry out of range");
    } else {
      known *= target[i];
    }
  }
  Shape out = target;
  if (unknown >= 0 && in) {
    int64_t total = 1;
    for (int64_t d : *in) total = (d < 0 || total < 0) ? -1 : total * d;
    if (total >= 0) {
      if (total % known != 0)
        return Corrupt("cannot reshape " + ShapeToString(*in) + " to " + ShapeToString(target));
      out[unknown] = total / known;
    }
  }
  return out;
}

Status TfImporter::TranslateReshape(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(ConstTensor shape, ConstInput(node_index, 1));
  if (shape.is_float || shape.shape.size() != 1 || shape.size() > kMaxRank) {
    return CorruptAt(n, "shape must be a 1-D integer tensor of at most 8 entries");
  }
  const std::optional<Shape> in = KnownShape(x);
  Result<Shape> out = ReshapeOutput(in ? &*in : nullptr, shape.i);
  if (!out.ok()) return CorruptAt(n, out.status().message());
  graph::Attrs attrs;
  attrs.ints = shape.i;
  const ValueId y = NewActivation(n.name(), *out);
  AddNode(Op::kReshape, n, {x}, y, attrs);
  SetOutput(node_index, y);
  return Status::Ok();
}

// Transpose by a constant permutation (ShuffleNet's channel shuffle).
Status TfImporter::TranslateTranspose(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(ConstTensor perm, ConstInput(node_index, 1));
  const std::optional<Shape> in = KnownShape(x);
  if (!in) return UnsupportedAt(n, "Transpose of a tensor of unknown rank");
  const int64_t rank = static_cast<int64_t>(in->size());
  if (perm.is_float || perm.shape.size() != 1 || perm.size() != rank) {
    return CorruptAt(n, "perm must be an integer [" + std::to_string(rank) + "] tensor");
  }
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  Shape out;
  for (int64_t p : perm.i) {
    if (p < 0 || p >= rank || seen[p]) return CorruptAt(n, "perm is not a permutation");
    seen[p] = true;
    out.push_back((*in)[p]);
  }
  graph::Attrs attrs;
  attrs.ints = perm.i;
  const ValueId y = NewActivation(n.name(), out);
  AddNode(Op::kTranspose, n, {x}, y, attrs);
  SetOutput(node_index, y);
  return Status::Ok();
}

// Slice by constant begin and size (size -1: to the end of the axis), as
// TFLite's SLICE; the batch axis is always taken whole.
Status TfImporter::TranslateSlice(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(ConstTensor begin, ConstInput(node_index, 1));
  EV_ASSIGN_OR_RETURN(ConstTensor size, ConstInput(node_index, 2));
  const std::optional<Shape> in = KnownShape(x);
  if (!in) return UnsupportedAt(n, "Slice of a tensor of unknown shape");
  const int64_t rank = static_cast<int64_t>(in->size());
  for (const ConstTensor* t : {&begin, &size}) {
    if (t->is_float || t->shape.size() != 1 || t->size() != rank) {
      return CorruptAt(n, "begin and size must be integer [" + std::to_string(rank) + "] tensors");
    }
  }
  graph::Attrs attrs;
  attrs.ints.resize(static_cast<size_t>(2 * rank));
  Shape out(static_cast<size_t>(rank));
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t b = begin.i[d], k = size.i[d], dim = (*in)[d];
    if (d == 0 && (dim < 0 || dim == 1)) {  // the batch axis: the whole of it
      if (b != 0) return UnsupportedAt(n, "slicing the batch axis");
      attrs.ints[d] = 0;
      attrs.ints[rank + d] = -1;
      out[d] = dim;
      continue;
    }
    if (dim < 0) return UnsupportedAt(n, "Slice of an axis of unknown size");
    if (b < 0 || b >= dim || k == 0 || k < -1 || (k > 0 && k > dim - b)) {
      return CorruptAt(n, "begin " + std::to_string(b) + " size " + std::to_string(k) +
                              " do not fit axis " + std::to_string(d) + " of size " +
                              std::to_string(dim));
    }
    out[d] = k == -1 ? dim - b : k;
    attrs.ints[d] = b;
    attrs.ints[rank + d] = out[d];
  }
  const ValueId y = NewActivation(n.name(), out);
  AddNode(Op::kSlice, n, {x}, y, attrs);
  SetOutput(node_index, y);
  return Status::Ok();
}

Status TfImporter::TranslateSqueeze(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(std::vector<int64_t> dims,
                      IntListAttr(n, "squeeze_dims", std::vector<int64_t>{}));
  const std::optional<Shape> in = KnownShape(x);
  if (!in) return UnsupportedAt(n, "Squeeze of a tensor of unknown shape");
  const int64_t rank = static_cast<int64_t>(in->size());
  std::vector<bool> drop(in->size(), false);
  for (int64_t d : dims) {
    if (d < -rank || d >= rank)
      return CorruptAt(n, "squeeze dimension " + std::to_string(d) + " out of range");
    const int64_t a = d < 0 ? d + rank : d;
    if ((*in)[a] != 1 && (*in)[a] != -1)
      return CorruptAt(
          n, "squeezes dimension " + std::to_string(a) + " of size " + std::to_string((*in)[a]));
    drop[a] = true;
  }
  if (dims.empty()) {
    for (size_t i = 0; i < in->size(); ++i) drop[i] = (*in)[i] == 1;
  }
  Shape target;
  int unknown = 0;
  for (size_t i = 0; i < in->size(); ++i) {
    if (drop[i]) continue;
    target.push_back((*in)[i]);
    unknown += (*in)[i] < 0;
  }
  if (unknown > 1) return UnsupportedAt(n, "Squeeze leaves more than one unknown dimension");
  graph::Attrs attrs;
  attrs.ints = target;
  const ValueId y = NewActivation(n.name(), target);
  AddNode(Op::kReshape, n, {x}, y, attrs);
  SetOutput(node_index, y);
  return Status::Ok();
}

Status TfImporter::TranslateMean(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(ConstTensor axes, ConstInput(node_index, 1));
  if (axes.is_float || axes.shape.size() > 1 || axes.size() > kMaxRank) {
    return CorruptAt(n, "axes must be a small integer tensor");
  }
  EV_ASSIGN_OR_RETURN(bool keep, BoolAttr(n, "keep_dims", false));
  const std::optional<Shape> in = KnownShape(x);
  graph::Attrs attrs;
  attrs.keep_dims = keep;
  std::optional<Shape> out_shape;
  for (int64_t a : axes.i) {
    if (in) {
      const int64_t rank = static_cast<int64_t>(in->size());
      if (a < -rank || a >= rank)
        return CorruptAt(n, "axis " + std::to_string(a) + " out of range");
      if (a < 0) a += rank;
    } else if (a < -kMaxRank || a >= kMaxRank) {
      return CorruptAt(n, "axis " + std::to_string(a) + " out of range");
    }
    attrs.ints.push_back(a);
  }
  if (in) {
    Shape s;
    for (size_t i = 0; i < in->size(); ++i) {
      const bool reduced = std::find(attrs.ints.begin(), attrs.ints.end(),
                                     static_cast<int64_t>(i)) != attrs.ints.end();
      if (!reduced)
        s.push_back((*in)[i]);
      else if (keep)
        s.push_back(1);
    }
    out_shape = s;
  }
  const ValueId y = NewActivation(n.name(), out_shape);
  AddNode(Op::kReduceMean, n, {x}, y, attrs);
  SetOutput(node_index, y);
  return Status::Ok();
}

Status TfImporter::TranslateBatchNorm(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  if (n.op() == "FusedBatchNormV3") EV_RETURN_IF_ERROR(CheckFloatType(n, "U"));
  EV_RETURN_IF_ERROR(CheckNhwc(n));
  EV_ASSIGN_OR_RETURN(bool training, BoolAttr(n, "is_training", true));
  if (training)
    return UnsupportedAt(n, "is_training=true (batch statistics) in an inference graph");
  if (data_inputs_[node_index].size() != 5) return CorruptAt(n, "needs 5 inputs");
  std::vector<ValueId> in;
  for (int i = 0; i < 5; ++i) {
    EV_ASSIGN_OR_RETURN(ValueId v, ValueOf(node_index, i));
    in.push_back(v);
  }
  graph::Attrs attrs;
  EV_ASSIGN_OR_RETURN(attrs.epsilon, FloatAttr(n, "epsilon", 1e-4f));
  const std::optional<Shape> xs = KnownShape(in[0]);
  const ValueId y = NewActivation(n.name(), xs);
  AddNode(Op::kBatchNorm, n, std::move(in), y, attrs);
  SetOutput(node_index, y);
  return Status::Ok();
}

Status TfImporter::TranslatePad(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  EV_RETURN_IF_ERROR(CheckFloatType(n));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(node_index, 0));
  EV_ASSIGN_OR_RETURN(ConstTensor pads, ConstInput(node_index, 1));
  if (pads.is_float || pads.shape.size() != 2 || pads.shape[1] != 2 || pads.shape[0] > kMaxRank) {
    return CorruptAt(
        n, "paddings must be an integer [rank,2] tensor, got " + ShapeToString(pads.shape));
  }
  graph::Attrs attrs;
  if (n.op() == "PadV2") {
    EV_ASSIGN_OR_RETURN(ConstTensor value, ConstInput(node_index, 2));
    if (!value.is_float || value.size() != 1)
      return CorruptAt(n, "constant_values must be one float");
    attrs.pad_value = value.f[0];
  }
  const int64_t rank = pads.shape[0];
  const std::optional<Shape> in = KnownShape(x);
  if (in && static_cast<int64_t>(in->size()) != rank) {
    return CorruptAt(
        n, "paddings for rank " + std::to_string(rank) + " on input " + ShapeToString(*in));
  }
  Result<std::vector<int64_t>> ints = PadsFromPairs(pads.i, rank);
  if (!ints.ok()) return ints.status().WithContext(Where(n));
  attrs.ints = std::move(ints).value();
  std::optional<Shape> out_shape;
  if (in) {
    Shape s = *in;
    for (int64_t d = 0; d < rank; ++d) {
      if (s[d] >= 0) s[d] += attrs.ints[d] + attrs.ints[rank + d];
    }
    out_shape = s;
  }
  const ValueId y = NewActivation(n.name(), out_shape);
  AddNode(Op::kPad, n, {x}, y, attrs);
  SetOutput(node_index, y);
  return Status::Ok();
}

Status TfImporter::Translate(int node_index) {
  const tf::NodeDef& n = Node(node_index);
  const std::string& op = n.op();
  if (op == "Placeholder") return TranslatePlaceholder(node_index);
  if (op == "Const") {
    return UnsupportedAt(n, "the graph output is a constant");  // other Consts never reach here
  }
  if (IsIdentityLike(op)) return TranslateUnary(node_index, Op::kIdentity);
  if (op == "Conv2D") return TranslateConv(node_index, false);
  if (op == "DepthwiseConv2dNative") return TranslateConv(node_index, true);
  if (op == "MaxPool") return TranslatePool(node_index, true);
  if (op == "AvgPool") return TranslatePool(node_index, false);
  if (op == "MatMul") return TranslateMatMul(node_index);
  if (op == "BiasAdd") return TranslateBiasAdd(node_index);
  if (op == "Add" || op == "AddV2") return TranslateBinary(node_index, Op::kAdd);
  if (op == "Sub") return TranslateBinary(node_index, Op::kSub);
  if (op == "Mul") return TranslateBinary(node_index, Op::kMul);
  if (op == "RealDiv") return TranslateBinary(node_index, Op::kDiv);
  if (op == "Relu") return TranslateUnary(node_index, Op::kRelu);
  if (op == "Relu6") {
    graph::Attrs a;
    a.act_min = 0.0f;
    a.act_max = 6.0f;
    return TranslateUnary(node_index, Op::kClamp, a);
  }
  if (op == "LeakyRelu") {
    graph::Attrs a;
    EV_ASSIGN_OR_RETURN(a.alpha, FloatAttr(n, "alpha", 0.2f));
    return TranslateUnary(node_index, Op::kLeakyRelu, a);
  }
  if (op == "Sigmoid") return TranslateUnary(node_index, Op::kSigmoid);
  if (op == "Softmax") {
    graph::Attrs a;
    a.axis = -1;
    return TranslateUnary(node_index, Op::kSoftmax, a);
  }
  if (op == "Neg") return TranslateUnary(node_index, Op::kNeg);
  if (op == "Rsqrt") return TranslateUnary(node_index, Op::kRsqrt);
  if (op == "Sqrt") return TranslateUnary(node_index, Op::kSqrt);
  if (op == "ConcatV2" || op == "Concat") return TranslateConcat(node_index);
  if (op == "Reshape") return TranslateReshape(node_index);
  if (op == "Squeeze") return TranslateSqueeze(node_index);
  if (op == "Transpose") return TranslateTranspose(node_index);
  if (op == "Slice") return TranslateSlice(node_index);
  if (op == "Mean") return TranslateMean(node_index);
  if (op == "FusedBatchNorm" || op == "FusedBatchNormV3") return TranslateBatchNorm(node_index);
  if (op == "Pad" || op == "PadV2") return TranslatePad(node_index);
  return UnsupportedAt(n, "op '" + op + "' is not supported");
}

// Generation, and whether the caller must subtract a mean.
//
// Rule (Microsoft's Android sample, obsolete/MSCognitiveServicesClassifier.java):
// a Custom Vision graph with a node named "data_bn..." or "BatchNorm1..."
// normalises its input itself; one without is an older export that expects
// the caller to subtract a BGR mean of 105/117/124. We apply the mean only
// when, in addition, the graph has Custom Vision's fixed names (input
// 'Placeholder', output 'loss') and the input feeds the first convolution
// directly (no normalisation op in between), so unrelated TensorFlow graphs
// are never shifted.
//
// Evidence: the backbone (conv1..fire9, weights and biases) of the older
// android-fruit-tf model is bit-identical to the 2018 data_bn model's, whose
// data_bn block subtracts 104/117/123 before conv1; so that backbone was
// trained on mean-subtracted BGR input and the older export needs the mean
// subtracted outside the graph.
void TfImporter::DescribeGeneration(ImportedModel* model) const {
  bool data_bn = false, batchnorm1 = false;
  for (const tf::NodeDef& n : def_.node()) {
    data_bn |= n.name().find("data_bn") != std::string::npos;
    batchnorm1 |= n.name().find("BatchNorm1") != std::string::npos;
  }
  bool input_feeds_first_conv = false;
  for (int node : order_) {
    const std::string& op = Node(node).op();
    if (op != "Conv2D" && op != "DepthwiseConv2dNative") continue;
    InputRef ref = data_inputs_[node][0];
    for (int steps = 0; steps < def_.node_size() && IsIdentityLike(Node(ref.node).op()) &&
                        !data_inputs_[ref.node].empty();
         ++steps) {
      ref = data_inputs_[ref.node][0];
    }
    input_feeds_first_conv = ref.node == placeholder_;
    break;
  }
  const bool custom_vision_names =
      Node(placeholder_).name() == "Placeholder" && Node(output_node_).name() == "loss";
  if (data_bn) {
    model->generation = "Custom Vision 2018 compact, data_bn normalisation layer";
  } else if (batchnorm1) {
    model->generation = "Custom Vision compact, BatchNorm1 normalisation layer";
  } else if (custom_vision_names && input_feeds_first_conv) {
    model->generation = "Custom Vision compact (older, no normalisation layer)";
    model->required_mean = kOldCompactMeanBgr;
    model->rewrites.push_back(
        "no normalisation layer before the first convolution: the caller must subtract the BGR "
        "mean "
        "105/117/124 (as Microsoft's samples do for older Custom Vision exports)");
  } else {
    model->generation = "TensorFlow frozen graph";
  }
}

Result<ImportedModel> TfImporter::Run() {
  EV_RETURN_IF_ERROR(IndexNodes());
  EV_ASSIGN_OR_RETURN(output_node_, FindOutputNode());
  EV_ASSIGN_OR_RETURN(order_, OrderNeededNodes(output_node_));
  for (int node : order_) EV_RETURN_IF_ERROR(Translate(node));

  const tf::NodeDef& out = Node(output_node_);
  auto produced = produced_.find({output_node_, 0});
  if (produced == produced_.end()) return Internal(Where(out) + ": output was not translated");
  if (placeholder_ < 0)
    return Unsupported(label_ + ": output '" + out.name() + "' depends on no Placeholder");
  if (graph_.inputs.size() != 1) {
    return Unsupported(label_ + ": output '" + out.name() + "' depends on " +
                       std::to_string(graph_.inputs.size()) +
                       " Placeholders; one image input is supported");
  }
  if (graph_.values[produced->second].dtype != graph::DataType::kFloat32) {
    return Unsupported(Where(out) + ": the output is not float32");
  }
  graph_.outputs.push_back(produced->second);
  Status valid = graph::Validate(graph_);
  if (!valid.ok()) return Corrupt(label_ + ": " + valid.message());

  ImportedModel model;
  model.format = options_.format;
  if (def_.has_versions() && def_.versions().producer() > 0) {
    model.producer =
        "TensorFlow (GraphDef producer " + std::to_string(def_.versions().producer()) + ")";
  }
  const tf::NodeDef& input = Node(placeholder_);
  model.input_name = input.name();
  for (const auto& d : FindAttr(input, "shape")->shape().dim())
    model.input_shape.push_back(d.size());
  model.input_layout = "NHWC";
  model.output_name = out.name();
  // The final op, looking through Identity.
  int last = output_node_;
  for (int steps = 0;
       steps < def_.node_size() && IsIdentityLike(Node(last).op()) && !data_inputs_[last].empty();
       ++steps) {
    last = data_inputs_[last][0].node;
  }
  const std::string& last_op = Node(last).op();
  model.output_activation = last_op == "Sigmoid"   ? "sigmoid"
                            : last_op == "Softmax" ? "softmax"
                                                   : "none";
  for (const tf::NodeDef& n : def_.node()) ++model.source_ops[n.op()];
  DescribeGeneration(&model);
  if (weights_converted_ > 0) {
    model.rewrites.push_back(
        "rearranged " + std::to_string(weights_converted_) +
        " weight tensors from TensorFlow's layouts (HWIO, [H,W,C,M], [K,O]) to OHWI / [O,K]");
  }
  if (same_pads_ > 0) {
    model.rewrites.push_back("made SAME padding explicit on " + std::to_string(same_pads_) +
                             " nodes");
  }
  if (fused_bias_ > 0) {
    model.rewrites.push_back("folded " + std::to_string(fused_bias_) +
                             " BiasAdd nodes into their Conv2D/MatMul");
  }
  const int untranslated =
      def_.node_size() - static_cast<int>(order_.size()) - static_cast<int>(constants_.size());
  if (untranslated > 0) {
    model.rewrites.push_back(
        std::to_string(untranslated) +
        " nodes became no graph node: constants read as weights or attributes, Identity "
        "reads of constants, and nodes '" +
        out.name() + "' does not need");
  }
  model.graph = std::move(graph_);
  return model;
}

}  // namespace

Result<ImportedModel> ImportTensorFlow(std::span<const uint8_t> bytes,
                                       const std::string& file_label) {
  if (bytes.empty()) return Corrupt(file_label + ": empty file");
  if (bytes.size() > kMaxModelFileBytes) {
    return ResourceExhausted(file_label + ": GraphDef of " + std::to_string(bytes.size()) +
                             " bytes exceeds the " + std::to_string(kMaxModelFileBytes) +
                             "-byte limit");
  }
  tf::GraphDef def;
  if (!def.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Corrupt(file_label + ": not a valid TensorFlow GraphDef (protobuf parse failed)");
  }
  if (def.node_size() == 0) return Corrupt(file_label + ": GraphDef has no nodes");
  return ImportTensorFlowGraph(def, file_label, TfGraphOptions{});
}

Result<ImportedModel> ImportTensorFlowGraph(const tf::GraphDef& def, const std::string& file_label,
                                            const TfGraphOptions& options) {
  if (def.node_size() == 0) return Corrupt(file_label + ": the graph has no nodes");
  TfImporter importer(def, file_label, options);
  return importer.Run();
}

}  // namespace edgevision::model
