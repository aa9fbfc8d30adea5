// The TensorFlow importer's S1 split (see detect/nms_tail.h), as the ONNX
// importer's (model/onnx_detection_tail.cc): a frozen graph whose outputs
// detected_boxes / detected_scores / detected_classes are computed through
// TensorFlow's NonMaxSuppressionV2..V5 or CombinedNonMaxSuppression is cut
// where its float network ends.
// The tail is every node that runs an op the engine does not (NMS, GatherV2,
// TopKV2, Shape, Cast) and every node that reads one of those; the network
// before it is translated for the engine as usual, and the tensors the tail
// reads from it are flattened and packed into the engine graph's one output.
// Each tail node becomes one or more detect::TailNode with ONNX semantics
// (NonMaxSuppressionV2..V5 run TensorFlow's own kernel, detect::kTfliteNmsOp
// with kTensorFlowNmsAttr, and CombinedNonMaxSuppression its kernel,
// detect::kTensorFlowCombinedNmsOp).
#include <algorithm>
#include <limits>
#include <set>

#include "detect/nms_tail.h"
#include "graph/shape_inference.h"
#include "model/detection_tail_common.h"
#include "model/tf_importer_internal.h"

namespace edgevision::model::tf_import {
namespace {

constexpr const char* kOutputs[] = {"detected_boxes", "detected_scores", "detected_classes"};

constexpr const char* kCombinedNms = "CombinedNonMaxSuppression";

bool IsNms(const std::string& op) {
  return op == "NonMaxSuppressionV2" || op == "NonMaxSuppressionV3" ||
         op == "NonMaxSuppressionV4" || op == "NonMaxSuppressionV5" || op == kCombinedNms;
}

// Ops only the tail runs (integer or index work the engine has no op for).
bool IsTailOnly(const std::string& op) {
  return IsNms(op) || op == "GatherV2" || op == "TopKV2" || op == "Shape" || op == "Cast";
}

}  // namespace

std::string TfImporter::TensorName(InputRef ref) const {
  const std::string& name = Node(ref.node).name();
  return ref.index == 0 ? name : name + ":" + std::to_string(ref.index);
}

Result<bool> TfImporter::FindDetectionTail() {
  std::vector<int> outputs;
  for (const char* name : kOutputs) {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) return false;
    outputs.push_back(it->second);
  }
  // Every ancestor of the outputs, topologically (constants are not edges).
  enum Mark : uint8_t { kNew, kOpen, kDone };
  std::vector<Mark> mark(static_cast<size_t>(def_.node_size()), kNew);
  std::vector<int> order;
  for (int root : outputs) {
    if (mark[root] != kNew) continue;
    std::vector<std::pair<int, size_t>> stack = {{root, 0}};
    mark[root] = kOpen;
    while (!stack.empty()) {
      auto& [node, next] = stack.back();
      const auto& inputs = data_inputs_[node];
      if (next < inputs.size()) {
        const InputRef ref = inputs[next++];
        if (ResolveConstNode(ref)) continue;
        if (mark[ref.node] == kOpen) {
          return CorruptAt(Node(node),
                           "the graph has a cycle through '" + Node(ref.node).name() + "'");
        }
        if (mark[ref.node] == kNew) {
          mark[ref.node] = kOpen;
          stack.push_back({ref.node, 0});
        }
        continue;
      }
      mark[node] = kDone;
      order.push_back(node);
      stack.pop_back();
    }
  }
  std::vector<bool> tail(static_cast<size_t>(def_.node_size()), false);
  bool nms = false;
  for (int node : order) {
    const std::string& op = Node(node).op();
    bool t = IsTailOnly(op);
    for (const InputRef& ref : data_inputs_[node])
      t = t || (!ResolveConstNode(ref) && tail[ref.node]);
    tail[node] = t;
    nms = nms || (t && IsNms(op));
  }
  if (!nms) return false;
  std::set<std::pair<int, int>> seen;
  for (int node : order) {
    if (!tail[node]) continue;
    tail_nodes_.push_back(node);
    for (const InputRef& ref : data_inputs_[node]) {
      if (ResolveConstNode(ref) || tail[ref.node] || !seen.insert({ref.node, ref.index}).second)
        continue;
      if (ref.index != 0) {
        return UnsupportedAt(Node(node), "reads output " + std::to_string(ref.index) + " of '" +
                                             Node(ref.node).name() +
                                             "' from the network before NonMaxSuppression");
      }
      boundary_.push_back(ref.node);
    }
  }
  for (int o : outputs) {
    if (!tail[o])
      return UnsupportedAt(Node(o), "an S1 output that NonMaxSuppression does not lead to");
  }
  if (boundary_.empty())
    return Unsupported(label_ + ": NonMaxSuppression reads nothing the network computes");
  return true;
}

Result<ValueId> TfImporter::PackDetectionBoundary() {
  const tf::NodeDef& first_tail = Node(tail_nodes_.front());
  PackedBoundary packing;
  detect::TailGraph tail;
  for (int b : boundary_) {
    auto it = produced_.find({b, 0});
    if (it == produced_.end()) return Internal(Where(Node(b)) + ": was not translated");
    if (graph_.values[it->second].dtype != graph::DataType::kFloat32) {
      return UnsupportedAt(Node(b), "read by NonMaxSuppression's tail, but not float32");
    }
    std::optional<Shape> shape = KnownShape(it->second);
    if (shape && !shape->empty() && (*shape)[0] == -1) (*shape)[0] = 1;  // batch 1
    if (!shape || std::any_of(shape->begin(), shape->end(), [](int64_t d) { return d < 0; })) {
      return UnsupportedAt(Node(b), "read by NonMaxSuppression's tail with shape " +
                                        (shape ? ShapeToString(*shape) : std::string("unknown")) +
                                        "; it must be static");
    }
    const int64_t n = graph::ShapeProduct(*shape);
    graph::Attrs flat;
    flat.ints = {1, n};
    const ValueId y = NewActivation(Node(b).name() + "/packed", Shape{1, n});
    AddNode(Op::kReshape, Node(b), {it->second}, y, flat);
    packing.Add(&tail, Node(b).name(), Node(b).name(), *shape, y);
  }
  ValueId packed = packing.parts[0];
  if (packing.parts.size() > 1) {
    graph::Attrs concat;
    concat.axis = 1;
    packed = NewActivation(kPackedBoundaryName, Shape{1, static_cast<int64_t>(packing.size)});
    AddNode(Op::kConcat, first_tail, packing.parts, packed, concat);
  }

  std::map<std::string, int> ops;
  for (int node : tail_nodes_) {
    EV_RETURN_IF_ERROR(TranslateTailNode(node, &tail));
    ++ops[Node(node).op()];
  }
  for (const char* name : kOutputs) tail.outputs.push_back(name);
  Status ok = detect::CheckTail(tail);
  if (!ok.ok()) return ok.WithContext(label_);

  std::string op_list;
  for (const auto& [op, count] : ops) op_list += (op_list.empty() ? "" : ", ") + op;
  detection_rewrite_ =
      "split the S1 detector at NonMaxSuppression: the engine runs the network up to " +
      packing.names + "; " + std::to_string(tail_nodes_.size()) + " nodes after it (" + op_list +
      ") run on the CPU on integer and float tensors (detect/nms_tail.h)";
  detection_tail_ = std::move(tail);
  return packed;
}

Status TfImporter::TranslateTailNode(int node_index, detect::TailGraph* tail) {
  const tf::NodeDef& n = Node(node_index);
  const std::string& op = n.op();
  const auto& inputs = data_inputs_[node_index];
  // An input's name in the tail: a constant becomes a tail constant.
  auto input = [&](size_t k) -> Result<std::string> {
    if (k >= inputs.size()) return CorruptAt(n, "input " + std::to_string(k) + " is missing");
    if (std::optional<int> c = ResolveConstNode(inputs[k])) {
      const std::string name = Node(*c).name();
      if (!tail->constants.count(name)) {
        EV_ASSIGN_OR_RETURN(ConstTensor t, ReadConst(*c));
        AddTailConstant(tail, name, std::move(t));
      }
      return name;
    }
    return TensorName(inputs[k]);
  };
  auto constant = [&](const std::string& name, std::vector<int64_t> values) {
    return AddTailIntConstant(tail, n.name() + "/" + name, std::move(values));
  };
  auto emit = [&](const std::string& tail_op, std::vector<std::string> in,
                  std::vector<std::string> out,
                  std::map<std::string, std::vector<int64_t>> ints = {}) {
    detect::TailNode t;
    t.op = tail_op;
    t.name = n.name();
    t.inputs = std::move(in);
    t.outputs = std::move(out);
    t.ints = std::move(ints);
    tail->nodes.push_back(std::move(t));
  };
  // Whether a node reads an output other than 0 (V4's valid_outputs, V5's
  // scores and count).
  auto reads_other_outputs = [&]() {
    for (const auto& node_inputs : data_inputs_) {
      for (const InputRef& ref : node_inputs) {
        if (ref.node == node_index && ref.index != 0) return true;
      }
    }
    return false;
  };
  auto inputs_upto = [&](size_t count) -> Result<std::vector<std::string>> {
    std::vector<std::string> in;
    for (size_t k = 0; k < count; ++k) {
      EV_ASSIGN_OR_RETURN(std::string name, input(k));
      in.push_back(std::move(name));
    }
    return in;
  };

  if (op == kCombinedNms) {
    EV_ASSIGN_OR_RETURN(bool pad_per_class, BoolAttr(n, "pad_per_class", false));
    EV_ASSIGN_OR_RETURN(bool clip_boxes, BoolAttr(n, "clip_boxes", true));
    EV_ASSIGN_OR_RETURN(std::vector<std::string> in, inputs_upto(6));
    emit(detect::kTensorFlowCombinedNmsOp, in,
         {n.name(), n.name() + ":1", n.name() + ":2", n.name() + ":3"},
         {{"pad_per_class", {pad_per_class ? 1 : 0}}, {"clip_boxes", {clip_boxes ? 1 : 0}}});
    return Status::Ok();
  }
  if (IsNms(op)) {
    const bool v5 = op == "NonMaxSuppressionV5";
    EV_ASSIGN_OR_RETURN(bool pad, BoolAttr(n, "pad_to_max_output_size", false));
    if (v5) {
      EV_ASSIGN_OR_RETURN(std::string sigma, input(5));
      const detect::TailTensor& s = tail->constants[sigma];
      if (s.is_int || s.f.size() != 1 || s.f[0] != 0.0f) {
        return UnsupportedAt(n,
                             "soft NMS (soft_nms_sigma other than a constant 0) is not supported");
      }
    }
    const bool other_outputs = reads_other_outputs();
    if (other_outputs && (op == "NonMaxSuppressionV2" || op == "NonMaxSuppressionV3"))
      return CorruptAt(n, "reads an output other than 0; " + op + " has one");
    // Every version runs TensorFlow's own kernel (TF 2.0's
    // DoNonMaxSuppressionOp, kTensorFlowNmsAttr): candidates above the score
    // threshold pushed in index order into a std::priority_queue ordered by
    // score alone, so equal scores pop in the heap's order. V2 has no score
    // threshold: the kernel uses the lowest float. Unpadded outputs are the
    // padded ones cut to the count.
    std::vector<std::string> in;
    if (op == "NonMaxSuppressionV2") {
      EV_ASSIGN_OR_RETURN(in, inputs_upto(4u));
      const std::string lowest = n.name() + "/score_threshold";
      detect::TailTensor t;
      t.f = {std::numeric_limits<float>::lowest()};
      tail->constants[lowest] = std::move(t);
      in.push_back(lowest);
    } else {
      EV_ASSIGN_OR_RETURN(in, inputs_upto(v5 ? 6u : 5u));
    }
    const std::string count_out = n.name() + (v5 ? ":2" : ":1");
    if (pad) {
      emit(detect::kTfliteNmsOp, in, {n.name(), v5 ? n.name() + ":1" : "", count_out},
           {{detect::kTensorFlowNmsAttr, {1}}});
      return Status::Ok();
    }
    const std::string idx = n.name() + "/padded", scores = n.name() + "/padded_scores",
                      count1 = n.name() + "/count1";
    emit(detect::kTfliteNmsOp, in, {idx, scores, count_out}, {{detect::kTensorFlowNmsAttr, {1}}});
    emit("Reshape", {count_out, constant("one", {1})}, {count1});
    emit("Slice", {idx, constant("begin", {0}), count1}, {n.name()}, {{detect::kTfliteSliceSizeAttr, {1}}});
    if (v5) {
      emit("Slice", {scores, constant("begin", {0}), count1}, {n.name() + ":1"},
           {{detect::kTfliteSliceSizeAttr, {1}}});
    }
    return Status::Ok();
  }
  if (op == "GatherV2") {
    const tf::AttrValue* batch_dims = FindAttr(n, "batch_dims");
    if (batch_dims && batch_dims->i() != 0)
      return UnsupportedAt(n, "batch_dims other than 0 is not supported");
    EV_ASSIGN_OR_RETURN(ConstTensor axis, ConstInput(node_index, 2));
    if (axis.is_float || axis.size() != 1) return CorruptAt(n, "axis must be an integer scalar");
    EV_ASSIGN_OR_RETURN(std::string params, input(0));
    EV_ASSIGN_OR_RETURN(std::string indices, input(1));
    emit("Gather", {params, indices}, {n.name()}, {{"axis", {axis.i[0]}}});
    return Status::Ok();
  }
  if (op == "ConcatV2") {
    EV_ASSIGN_OR_RETURN(ConstTensor axis,
                        ConstInput(node_index, static_cast<int>(inputs.size()) - 1));
    if (axis.is_float || axis.size() != 1) return CorruptAt(n, "axis must be an integer scalar");
    std::vector<std::string> in;
    for (size_t k = 0; k + 1 < inputs.size(); ++k) {
      EV_ASSIGN_OR_RETURN(std::string name, input(k));
      in.push_back(name);
    }
    emit("Concat", in, {n.name()}, {{"axis", {axis.i[0]}}});
    return Status::Ok();
  }
  if (op == "TopKV2") {
    EV_ASSIGN_OR_RETURN(bool sorted, BoolAttr(n, "sorted", true));
    if (!sorted) return UnsupportedAt(n, "sorted=false is not supported");
    EV_ASSIGN_OR_RETURN(std::string x, input(0));
    EV_ASSIGN_OR_RETURN(std::string k, input(1));
    // TensorFlow: ties by lower index, as the tail's TopK.
    emit("TopK", {x, k}, {n.name(), n.name() + ":1"},
         {{"axis", {-1}}, {"largest", {1}}, {"sorted", {1}}});
    return Status::Ok();
  }
  if (op == "Cast") {
    const tf::AttrValue* dst = FindAttr(n, "DstT");
    if (!dst) return CorruptAt(n, "no DstT");
    int64_t to = 0;
    switch (dst->type()) {
      case tf::DT_FLOAT: to = kTailCastFloat; break;
      case tf::DT_INT32:
      case tf::DT_INT64: to = kTailCastInt64; break;
      default:
        return UnsupportedAt(n,
                             "a cast to type " + std::to_string(dst->type()) + " is not supported");
    }
    EV_ASSIGN_OR_RETURN(std::string x, input(0));
    emit("Cast", {x}, {n.name()}, {{"to", {to}}});
    return Status::Ok();
  }
  if (op == "Slice") {  // begin, size (-1: to the end), as TFLite's SLICE
    EV_ASSIGN_OR_RETURN(std::vector<std::string> in, inputs_upto(3));
    emit("Slice", in, {n.name()}, {{detect::kTfliteSliceSizeAttr, {1}}});
    return Status::Ok();
  }
  if (op == "Shape" || IsIdentityLike(op)) {
    EV_ASSIGN_OR_RETURN(std::string x, input(0));
    emit(op == "Shape" ? "Shape" : "Identity", {x}, {n.name()});
    return Status::Ok();
  }
  if (op == "Reshape") {
    EV_ASSIGN_OR_RETURN(std::string x, input(0));
    EV_ASSIGN_OR_RETURN(std::string shape, input(1));
    emit("Reshape", {x, shape}, {n.name()},
         {{"allowzero", {1}}});  // TensorFlow's 0 is a 0-length axis
    return Status::Ok();
  }
  if (op == "Squeeze") {
    EV_ASSIGN_OR_RETURN(std::vector<int64_t> dims,
                        IntListAttr(n, "squeeze_dims", std::vector<int64_t>{}));
    EV_ASSIGN_OR_RETURN(std::string x, input(0));
    if (dims.empty()) {
      emit("Squeeze", {x}, {n.name()});
    } else {
      emit("Squeeze", {x, constant("axes", dims)}, {n.name()});
    }
    return Status::Ok();
  }
  if (op == "ExpandDims") {
    EV_ASSIGN_OR_RETURN(std::string x, input(0));
    EV_ASSIGN_OR_RETURN(std::string axis, input(1));
    emit("Unsqueeze", {x, axis}, {n.name()});
    return Status::Ok();
  }
  static const std::set<std::string> kLoopOps = {
      "Enter", "Exit", "Merge", "Switch", "NextIteration", "LoopCond", "While", "StatelessWhile",
      "TensorArrayV3", "TensorArrayGatherV3", "TensorArrayScatterV3", "TensorArrayReadV3",
      "TensorArrayWriteV3", "TensorArraySizeV3"};
  if (kLoopOps.count(op)) {
    return UnsupportedAt(n, "op '" + op +
                                "' after NonMaxSuppression: a TensorFlow while loop (tf.map_fn or "
                                "TensorArray batch NMS) is not supported by edgevision's S1 tail");
  }
  return UnsupportedAt(
      n, "op '" + op + "' after NonMaxSuppression is not supported by edgevision's S1 tail");
}

}  // namespace edgevision::model::tf_import
