// The ONNX importer's S1 split (see detect/nms_tail.h): a graph that runs
// NonMaxSuppression is cut where its float network ends. The nodes before
// (the "head") are translated for the engine as usual; NonMaxSuppression and
// every node that depends on it (the "tail") are kept as a TailGraph; the
// tensors the tail reads from the head are packed, flattened in ONNX order,
// into the engine graph's one output.
#include <algorithm>
#include <map>
#include <set>

#include "model/detection_tail_common.h"
#include "model/onnx_import.h"

namespace edgevision::model::onnx_import {
namespace {

bool IsNms(const onnx::NodeProto& n) {
  return n.op_type() == "NonMaxSuppression" && (n.domain().empty() || n.domain() == "ai.onnx");
}

}  // namespace

bool Importer::HasNms(const std::vector<const onnx::NodeProto*>& nodes) {
  return std::any_of(nodes.begin(), nodes.end(), [](const onnx::NodeProto* n) { return IsNms(*n); });
}

Result<std::vector<const onnx::NodeProto*>> Importer::SplitDetectionTail(
    const std::vector<const onnx::NodeProto*>& nodes) {
  std::vector<std::string> outputs;
  for (const onnx::ValueInfoProto& o : model_.graph().output()) outputs.push_back(o.name());
  const std::set<const onnx::NodeProto*> live = Ancestors(outputs);
  std::set<std::string> tail_made;
  std::vector<const onnx::NodeProto*> head;
  for (const onnx::NodeProto* n : nodes) {
    if (!live.count(n)) continue;
    bool tail = IsNms(*n);
    for (const std::string& in : n->input()) tail |= tail_made.count(in) > 0;
    if (tail) {
      if (!n->domain().empty() && n->domain() != "ai.onnx") {
        return Unsupported(label_ + ": node '" + n->name() + "' (" + n->domain() + "." + n->op_type() +
                           ") after NonMaxSuppression is not supported");
      }
      tail_nodes_.push_back(n);
      for (const std::string& out : n->output()) tail_made.insert(out);
    } else {
      head.push_back(n);
    }
  }
  if (tail_nodes_.empty()) {
    return Unsupported(label_ + ": NonMaxSuppression does not lead to the model's outputs");
  }
  // What the tail reads from before it, in order of first use; graph
  // outputs computed before NMS pass through the tail unchanged.
  std::set<std::string> seen;
  auto need = [&](const std::string& name) {
    if (!name.empty() && !tail_made.count(name) && seen.insert(name).second) boundary_.push_back(name);
  };
  for (const onnx::NodeProto* n : tail_nodes_) {
    for (const std::string& in : n->input()) need(in);
  }
  for (const std::string& o : outputs) need(o);
  for (const onnx::NodeProto* n : head) {
    for (const std::string& in : n->input()) consumers_[in].push_back(n);
  }
  for (const std::string& b : boundary_) consumers_[b].push_back(tail_nodes_.front());
  return head;
}

Status Importer::PackDetectionBoundary() {
  node_ = tail_nodes_.front();
  detect::TailGraph tail;
  PackedBoundary packing;
  for (const std::string& name : boundary_) {
    auto it = tensors_.find(name);
    if (it == tensors_.end()) return Corrupt(label_ + ": tensor '" + name + "' is never produced");
    const OnnxTensor& t = it->second;
    if (t.is_const) {
      detect::TailTensor c;
      c.shape = t.c.shape;
      if (t.c.dtype == DataType::kFloat32) {
        c.f = t.c.f32;
      } else if (t.c.dtype == DataType::kInt64) {
        c.is_int = true;
        c.i = t.c.i64;
      } else {
        return Unsupported(label_ + ": constant '" + name + "' read after NonMaxSuppression is a string tensor");
      }
      tail.constants[name] = std::move(c);
      continue;
    }
    Shape shape = OnnxShape(t);
    if (!shape.empty() && shape[0] == -1) shape[0] = 1;  // batch 1
    const int64_t n = graph::ShapeProduct(shape);
    for (int64_t d : shape) {
      if (d < 0) return Unsupported(label_ + ": tensor '" + name + "' read by NonMaxSuppression has shape " +
                                    ShapeToString(shape) + "; it must be static");
    }
    EV_ASSIGN_OR_RETURN(ValueId flat, ReshapeOnnx(t.id, {1, n}, name + "/packed"));
    packing.Add(&tail, name, name, shape, flat, HoldsFloat16(name));
  }
  if (packing.parts.empty()) return Unsupported(label_ + ": NonMaxSuppression reads nothing the network computes");
  ValueId packed = packing.parts[0];
  if (packing.parts.size() > 1) {
    graph::Attrs concat;
    concat.axis = 1;
    EV_ASSIGN_OR_RETURN(packed, Emit(Op::kConcat, packing.parts, concat, kPackedBoundaryName));
  }
  score_name_ = out_.graph.values[packed].name;
  OnnxTensor packed_tensor;
  packed_tensor.id = packed;
  tensors_[score_name_] = packed_tensor;

  std::map<std::string, int> ops;
  for (const onnx::NodeProto* n : tail_nodes_) {
    detect::TailNode node;
    node.op = n->op_type();
    node.name = n->name().empty() ? n->output(0) : n->name();
    node.inputs.assign(n->input().begin(), n->input().end());
    node.outputs.assign(n->output().begin(), n->output().end());
    for (const onnx::AttributeProto& a : n->attribute()) {
      if (a.type() == onnx::AttributeProto::INT) node.ints[a.name()] = {a.i()};
      if (a.type() == onnx::AttributeProto::INTS) node.ints[a.name()].assign(a.ints().begin(), a.ints().end());
      if (a.type() == onnx::AttributeProto::FLOAT) node.floats[a.name()] = a.f();
    }
    ++ops[node.op];
    tail.nodes.push_back(std::move(node));
  }
  for (const onnx::ValueInfoProto& o : model_.graph().output()) tail.outputs.push_back(o.name());
  Status ok = detect::CheckTail(tail);
  if (!ok.ok()) return ok.WithContext(label_);

  std::string op_list, out_list;
  for (const auto& [op, count] : ops) op_list += (op_list.empty() ? "" : ", ") + op;
  for (const std::string& o : tail.outputs) out_list += (out_list.empty() ? "" : ", ") + o;
  out_.output_name = out_list;
  out_.rewrites.push_back("split the S1 detector at NonMaxSuppression: the engine runs the network up to " +
                          packing.names + "; " + std::to_string(tail.nodes.size()) + " nodes after it (" + op_list +
                          ") run on the CPU on int64 and float tensors (detect/nms_tail.h)");
  out_.detection_tail = std::move(tail);
  node_ = nullptr;
  return Status::Ok();
}

}  // namespace edgevision::model::onnx_import
