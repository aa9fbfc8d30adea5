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
// Thread-safety: ImportTensorFlow is reentrant. The translation is split by
// concept over tf_import_values.cc, tf_translate_spatial.cc and
// tf_translate_tensor.cc (model/tf_importer_internal.h).

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
#include "model/tf_importer_internal.h"

namespace edgevision::model {

namespace tf_import {

bool IsIdentityLike(const std::string& op) {
  return op == "Identity" || op == "StopGradient" || op == "PlaceholderWithDefault";
}

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
                                                         "ExpandDims",
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
Result<std::vector<int>> TfImporter::OrderNeededNodes(const std::vector<int>& outputs) {
  enum Mark : uint8_t { kNew, kOpen, kDone };
  std::vector<Mark> mark(static_cast<size_t>(def_.node_size()), kNew);
  std::vector<int> order;
  struct Frame {
    int node;
    size_t next;
  };
  std::vector<Frame> stack;
  for (size_t root = 0; root < outputs.size(); ++root) {
    if (mark[outputs[root]] != kNew) continue;
    stack.push_back({outputs[root], 0});
    mark[outputs[root]] = kOpen;
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
  for (int output : outputs) ++consumers_[{output, 0}];
  return order;
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
  if (op == "ExpandDims") return TranslateExpandDims(node_index);
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
  EV_ASSIGN_OR_RETURN(const bool s1, FindDetectionTail());
  if (s1) {
    output_node_ = boundary_.front();  // for messages: the network's end
    EV_ASSIGN_OR_RETURN(order_, OrderNeededNodes(boundary_));
  } else {
    EV_ASSIGN_OR_RETURN(output_node_, FindOutputNode());
    EV_ASSIGN_OR_RETURN(order_, OrderNeededNodes({output_node_}));
  }
  for (int node : order_) EV_RETURN_IF_ERROR(Translate(node));

  const tf::NodeDef& out = Node(output_node_);
  if (placeholder_ < 0)
    return Unsupported(label_ + ": output '" + out.name() + "' depends on no Placeholder");
  if (graph_.inputs.size() != 1) {
    return Unsupported(label_ + ": output '" + out.name() + "' depends on " +
                       std::to_string(graph_.inputs.size()) +
                       " Placeholders; one image input is supported");
  }
  ValueId result;
  if (s1) {
    EV_ASSIGN_OR_RETURN(result, PackDetectionBoundary());
  } else {
    auto produced = produced_.find({output_node_, 0});
    if (produced == produced_.end()) return Internal(Where(out) + ": output was not translated");
    result = produced->second;
  }
  if (graph_.values[result].dtype != graph::DataType::kFloat32) {
    return Unsupported(Where(out) + ": the output is not float32");
  }
  graph_.outputs.push_back(result);
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
  model.output_name = s1 ? "detected_boxes, detected_scores, detected_classes" : out.name();
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
  if (s1) {
    model.output_activation = "none";
    model.rewrites.push_back(detection_rewrite_);
    model.detection_tail = std::move(detection_tail_);
  }
  model.graph = std::move(graph_);
  return model;
}

}  // namespace tf_import

namespace tf = ::edgevision::tf;

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
  tf_import::TfImporter importer(def, file_label, options);
  return importer.Run();
}

}  // namespace edgevision::model
