// See onnx_float16.h. The rules follow onnxruntime/core/optimizer/
// insert_cast_transformer.cc (InsertCastTransformer,
// IsIsolatedFp16NodeOnCpu, RemoveDuplicateCastTransformer).
#include "model/onnx_float16.h"

#include <algorithm>
#include <map>

namespace edgevision::model::onnx_import {

namespace {

bool StandardDomain(const onnx::NodeProto& n) {
  return n.domain().empty() || n.domain() == "ai.onnx";
}

// Ops whose first formal input (or output) is variadic: ONNX Runtime looks
// only at the first actual tensor of a formal parameter.
bool VariadicInputs(const std::string& op) {
  return op == "Concat" || op == "Max" || op == "Min";
}

bool VariadicOutputs(const std::string& op) {
  return op == "Split";
}

}  // namespace

bool HasOrtCpuFloat16Kernel(const std::string& op_type) {
  static const std::set<std::string> kOps = {
      "Cast",    "Clip",      "Concat",  "Expand", "Flatten", "Gather", "Identity", "Max",
      "Min",     "Reshape",   "Slice",   "Split",  "Squeeze", "Transpose", "Unsqueeze",
  };
  return kOps.count(op_type) > 0;
}

Edges EdgesOf(const std::vector<const onnx::NodeProto*>& nodes) {
  Edges edges;
  for (const onnx::NodeProto* n : nodes) {
    for (const std::string& o : n->output()) {
      if (!o.empty()) edges.producer[o] = n;
    }
    for (const std::string& i : n->input()) {
      if (!i.empty()) edges.consumers[i].push_back(n);
    }
  }
  return edges;
}

std::set<const onnx::NodeProto*> OrtFloat16Nodes(const std::vector<const onnx::NodeProto*>& nodes,
                                                 const Edges& edges,
                                                 const std::function<bool(const std::string&)>& holds_float16,
                                                 const std::set<std::string>& graph_outputs) {
  const auto& producer = edges.producer;
  const auto& consumers = edges.consumers;
  auto has_float16_input = [&](const onnx::NodeProto& n) {
    for (const std::string& i : n.input()) {
      if (!i.empty() && holds_float16(i)) return true;
    }
    return false;
  };
  // Assigned to the CPU provider with a float16 kernel.
  std::set<const onnx::NodeProto*> f16;
  for (const onnx::NodeProto* n : nodes) {
    if (StandardDomain(*n) && HasOrtCpuFloat16Kernel(n->op_type()) && has_float16_input(*n)) f16.insert(n);
  }
  // NodeNeedsInputCastToFp32: a float16 input and no float16 kernel.
  auto needs_cast = [&](const onnx::NodeProto* n) { return !f16.count(n) && has_float16_input(*n); };
  // ForceSingleNodeCPUFloat16ToFloat32, node by node in file order: each
  // node moved to float32 counts as float32 for the nodes after it.
  for (const onnx::NodeProto* n : nodes) {
    if (!f16.count(n)) continue;
    bool input_edge = false, produces_output = false;
    for (const std::string& i : n->input()) input_edge = input_edge || (!i.empty() && producer.count(i));
    for (const std::string& o : n->output()) produces_output = produces_output || graph_outputs.count(o);
    if (!input_edge || produces_output) continue;
    const int inputs = VariadicInputs(n->op_type()) ? std::min(n->input_size(), 1) : n->input_size();
    bool float16_args = false, isolated = true;
    for (int k = 0; k < inputs; ++k) {
      const std::string& i = n->input(k);
      if (i.empty() || !holds_float16(i)) continue;
      float16_args = true;
      auto p = producer.find(i);
      if (p != producer.end() && !needs_cast(p->second)) isolated = false;
    }
    if (!float16_args || !isolated) continue;
    const int outputs = VariadicOutputs(n->op_type()) ? std::min(n->output_size(), 1) : n->output_size();
    bool float16_out = false;
    for (int k = 0; k < outputs; ++k) {
      const std::string& o = n->output(k);
      if (o.empty() || !holds_float16(o)) continue;
      float16_out = true;
      auto c = consumers.find(o);
      if (c == consumers.end()) continue;
      for (const onnx::NodeProto* user : c->second) {
        if (!needs_cast(user)) isolated = false;
      }
    }
    if (float16_out && isolated) f16.erase(n);
  }
  return f16;
}

std::set<const onnx::NodeProto*> OrtRoundingNodes(const std::vector<const onnx::NodeProto*>& nodes,
                                                  const Edges& edges,
                                                  const std::set<const onnx::NodeProto*>& float16_nodes,
                                                  const std::function<bool(const std::string&)>& holds_float16) {
  const auto& producer = edges.producer;
  std::set<const onnx::NodeProto*> rounding;
  for (const onnx::NodeProto* n : nodes) {
    // A Cast between float types meets the Casts ONNX Runtime inserts, and
    // RemoveDuplicateCastTransformer cancels the pairs (float32 -> float16 ->
    // float32): measured, a model's Cast to float16 of its float32 input
    // before a Conv, and its Cast to float after a Gemm, round nothing.
    if (!float16_nodes.count(n) || n->op_type() == "Cast") continue;
    for (const std::string& i : n->input()) {
      if (i.empty() || !holds_float16(i)) continue;
      auto p = producer.find(i);
      if (p != producer.end() && !float16_nodes.count(p->second)) rounding.insert(n);
    }
  }
  return rounding;
}

}  // namespace edgevision::model::onnx_import
