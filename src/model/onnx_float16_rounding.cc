// ONNX importer: OnnxFloat16 exports answer as ONNX Runtime does. Which
// tensors hold float16 values (HoldsFloat16), where ONNX Runtime stores them
// as float16 (PlanFloat16Rounding, applying onnx_float16.h's rules), and the
// RoundHalf nodes that round there (RoundOutputs).
#include <onnx/onnx_pb.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "model/onnx_float16.h"
#include "model/onnx_import.h"

namespace edgevision::model::onnx_import {

void Importer::ReadDeclaredTypes() {
  const onnx::GraphProto& g = model_.graph();
  for (const onnx::ValueInfoProto& v : g.input()) declared_types_[v.name()] = v.type().tensor_type().elem_type();
  for (const onnx::ValueInfoProto& v : g.value_info()) declared_types_[v.name()] = v.type().tensor_type().elem_type();
  for (const onnx::ValueInfoProto& v : g.output()) declared_types_[v.name()] = v.type().tensor_type().elem_type();
  for (const onnx::TensorProto& t : g.initializer()) declared_types_[t.name()] = t.data_type();
}

bool Importer::HoldsFloat16(const std::string& name) {
  // Follow the chain back: a Cast to float of a float16 tensor still holds
  // float16 values; other ops keep their first input's type (first output
  // only; ops that make integers end the search). Bounded by the node count.
  // Every tensor on the chain holds what its end holds: each answer is kept
  // (float16_), so no tensor is walked past twice.
  auto cast_to = [](const onnx::NodeProto& n) -> int64_t {
    for (const onnx::AttributeProto& a : n.attribute()) {
      if (a.name() == "to") return a.i();
    }
    return 0;
  };
  std::vector<std::string> chain;
  bool holds = false;
  std::string at = name;
  for (size_t step = 0; step <= producers_.size(); ++step) {
    auto known = float16_.find(at);
    if (known != float16_.end()) {
      holds = known->second;
      break;
    }
    chain.push_back(at);
    auto p = producers_.find(at);
    const onnx::NodeProto* n = p == producers_.end() ? nullptr : p->second;
    const bool is_cast = n != nullptr && n->op_type() == "Cast";
    auto d = declared_types_.find(at);
    if (d != declared_types_.end() && d->second != 0 && !(is_cast && cast_to(*n) == onnx::TensorProto::FLOAT)) {
      holds = d->second == onnx::TensorProto::FLOAT16;
      break;
    }
    if (n == nullptr || n->input_size() == 0 || n->output(0) != at) break;
    if (is_cast) {
      const int64_t to = cast_to(*n);
      if (to != onnx::TensorProto::FLOAT) {
        holds = to == onnx::TensorProto::FLOAT16;
        break;
      }
    } else if (n->op_type() == "Shape" || n->op_type() == "Size" || n->op_type() == "NonMaxSuppression" ||
               n->op_type() == "ArgMax" || n->op_type() == "ArgMin") {
      break;
    }
    at = n->input(0);
  }
  for (const std::string& t : chain) float16_[t] = holds;
  return holds;
}

void Importer::PlanFloat16Rounding() {
  const onnx::GraphProto& g = model_.graph();
  // Only a model with float16 tensors.
  bool float16_input = false;
  for (const onnx::ValueInfoProto& v : g.input()) {
    float16_input = float16_input || (v.name() == input_name_ &&
                                      v.type().tensor_type().elem_type() == onnx::TensorProto::FLOAT16);
  }
  if (float16_tensors_ == 0 && !float16_input) return;
  std::vector<const onnx::NodeProto*> nodes;  // in file order: ONNX Runtime visits them so
  for (const onnx::NodeProto& n : g.node()) nodes.push_back(&n);
  std::set<std::string> outputs;
  for (const onnx::ValueInfoProto& o : g.output()) outputs.insert(o.name());
  auto holds = [this](const std::string& name) { return HoldsFloat16(name); };
  if (holds(input_name_)) {  // fed as float16: ONNX Runtime receives halves
    OnnxTensor& in = tensors_[input_name_];
    in.id = RoundHalf(in.id, input_name_ + "/float16");
    rounded_inputs_ = 1;
  }
  const Edges edges = EdgesOf(nodes);
  float16_rounding_ = OrtRoundingNodes(nodes, edges, OrtFloat16Nodes(nodes, edges, holds, outputs), holds);
}

void Importer::RoundOutputs(const onnx::NodeProto& node) {
  bool rounded = false;
  for (const std::string& o : node.output()) {
    auto it = tensors_.find(o);
    if (it == tensors_.end() || it->second.is_const) continue;
    if (out_.graph.values[it->second.id].dtype != DataType::kFloat32) continue;
    it->second.id = RoundHalf(it->second.id, o + "/float16");
    rounded = true;
  }
  rounded_nodes_ += rounded;
}

ValueId Importer::RoundHalf(ValueId v, const std::string& name) {
  Graph& g = out_.graph;
  const ValueId y = g.AddActivation(name, g.values[v].shape);
  Node n;
  n.op = Op::kRoundHalf;
  n.name = name;
  n.inputs = {v};
  n.outputs = {y};
  g.AddNode(std::move(n));
  return y;
}

}  // namespace edgevision::model::onnx_import
