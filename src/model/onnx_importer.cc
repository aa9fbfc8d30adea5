// ONNX importer: ModelProto bytes -> graph::Graph (NHWC) + what the file says.
//
// How it works, in order:
//   1. parse with Debian's libonnx protobuf classes, within named limits;
//   2. initializers become constants (kept in ONNX layout until a consumer
//      decides their IR layout); graph inputs that have an initializer are
//      constants too, the one input without is the model input;
//   3. nodes are put in topological order (old WinMLTools files are not);
//   4. the classifier tail (ZipMap / ArgMax / ArrayFeatureExtractor / label
//      Constant) is cut: the float tensor feeding ZipMap becomes the output
//      and ZipMap's labels become embedded_labels;
//   5. each remaining node is translated, NCHW -> NHWC: 4-D activations are
//      NHWC, Conv weights OIHW -> OHWI, axes remapped, per-channel constants
//      [C,1,1] -> [C]; Reshape/Flatten of 4-D tensors get a Transpose unless
//      the data order is the same in both layouts (C == 1 or H*W == 1).
//      Nodes whose inputs are all constant (shape arithmetic of torch
//      exports: Shape -> Gather -> Unsqueeze -> Concat) are evaluated at
//      import, in ONNX layout, with the batch taken as 1 (onnx_fold.cc says
//      why this cannot wait for the graph layer's constant folding).
// The parts live in the files onnx_import.h lists; this one holds the set-up
// (steps 1-4), the per-node dispatch and the end of the import.
// Every intermediate value gets its static shape at batch 1 while importing
// (layout decisions need sizes); only the graph input keeps batch -1.
#include <onnx/onnx_pb.h>

#include <map>
#include <queue>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "graph/shape_inference.h"
#include "model/importer.h"
#include "model/onnx_import.h"

namespace edgevision::model {

namespace onnx_import {

namespace {

std::string GenerationOf(const std::string& producer, int64_t opset) {
  static const std::map<int64_t, std::string> kRelease = {
      {1, "1.0"},   {2, "1.0"},   {3, "1.0"},   {4, "1.1"},   {5, "1.1"},   {6, "1.1.2"},
      {7, "1.2"},   {8, "1.3"},   {9, "1.4"},   {10, "1.5"},  {11, "1.6"},  {12, "1.7"},
      {13, "1.8"},  {14, "1.9"},  {15, "1.10"}, {16, "1.11"}, {17, "1.12"}, {18, "1.13"},
      {19, "1.14"}, {20, "1.15"}, {21, "1.16"}};
  if (producer == "WinMLTools" && opset <= 3) return "WinMLTools 2018 (ONNX 1.0)";
  auto it = kRelease.find(opset);
  if ((producer == "OnnxMLTools" || producer == "WinMLTools") && it != kRelease.end()) {
    return "ONNX " + it->second + " / opset " + std::to_string(opset) + " (" + producer + ")";
  }
  return "ONNX opset " + std::to_string(opset);
}

}  // namespace

std::string Importer::Where() const {
  const std::string name = node_->name().empty()
                               ? (node_->output_size() > 0 ? node_->output(0) : std::string("?"))
                               : node_->name();
  return label_ + ": node '" + name + "' (" + op_ + ")";
}

// ---- attributes ----

const onnx::AttributeProto* Importer::Attr(const std::string& name) const {
  for (const onnx::AttributeProto& a : node_->attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

Result<int64_t> Importer::Int(const std::string& name, int64_t def) const {
  const onnx::AttributeProto* a = Attr(name);
  if (a == nullptr) return def;
  if (a->type() != onnx::AttributeProto::INT &&
      !(a->type() == onnx::AttributeProto::UNDEFINED && a->has_i())) {
    return Bad("attribute '" + name + "' is not an int");
  }
  return a->i();
}

Result<int> Importer::BoundedInt(const std::string& name, int64_t def, int64_t lo,
                                 int64_t hi) const {
  EV_ASSIGN_OR_RETURN(int64_t v, Int(name, def));
  if (v < lo || v > hi) {
    return Bad("attribute '" + name + "' = " + std::to_string(v) + " is outside [" +
               std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return static_cast<int>(v);
}

Result<float> Importer::Float(const std::string& name, float def) const {
  const onnx::AttributeProto* a = Attr(name);
  if (a == nullptr) return def;
  if (a->type() == onnx::AttributeProto::INT) return static_cast<float>(a->i());
  if (a->type() != onnx::AttributeProto::FLOAT &&
      !(a->type() == onnx::AttributeProto::UNDEFINED && a->has_f())) {
    return Bad("attribute '" + name + "' is not a float");
  }
  return a->f();
}

Result<std::string> Importer::Str(const std::string& name, const std::string& def) const {
  const onnx::AttributeProto* a = Attr(name);
  if (a == nullptr) return def;
  if (a->type() != onnx::AttributeProto::STRING &&
      !(a->type() == onnx::AttributeProto::UNDEFINED && a->has_s())) {
    return Bad("attribute '" + name + "' is not a string");
  }
  return a->s();
}

Result<std::vector<int64_t>> Importer::Ints(const std::string& name) const {
  const onnx::AttributeProto* a = Attr(name);
  if (a == nullptr) return std::vector<int64_t>{};
  if (a->type() != onnx::AttributeProto::INTS && a->type() != onnx::AttributeProto::UNDEFINED) {
    return Bad("attribute '" + name + "' is not a list of ints");
  }
  if (a->ints_size() > kMaxAttrElements) return Bad("attribute '" + name + "' is too long");
  return std::vector<int64_t>(a->ints().begin(), a->ints().end());
}

Result<std::vector<float>> Importer::Floats(const std::string& name) const {
  const onnx::AttributeProto* a = Attr(name);
  if (a == nullptr) return std::vector<float>{};
  if (a->type() != onnx::AttributeProto::FLOATS && a->type() != onnx::AttributeProto::UNDEFINED) {
    return Bad("attribute '" + name + "' is not a list of floats");
  }
  if (a->floats_size() > kMaxAttrElements) return Bad("attribute '" + name + "' is too long");
  return std::vector<float>(a->floats().begin(), a->floats().end());
}

Result<std::vector<std::string>> Importer::Strings(const std::string& name) const {
  const onnx::AttributeProto* a = Attr(name);
  if (a == nullptr) return std::vector<std::string>{};
  if (a->type() != onnx::AttributeProto::STRINGS && a->type() != onnx::AttributeProto::UNDEFINED) {
    return Bad("attribute '" + name + "' is not a list of strings");
  }
  if (a->strings_size() > kMaxAttrElements) return Bad("attribute '" + name + "' is too long");
  return std::vector<std::string>(a->strings().begin(), a->strings().end());
}

// ---- inputs / outputs ----

Result<const OnnxTensor*> Importer::In(int i) const {
  if (!Has(i)) return Bad("input " + std::to_string(i) + " is missing");
  auto it = tensors_.find(node_->input(i));
  if (it == tensors_.end()) return Bad("input '" + node_->input(i) + "' is never produced");
  return &it->second;
}

Result<const Value*> Importer::ConstIn(int i, const std::string& role) const {
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(i));
  if (!t->is_const) {
    return Unsup("input '" + node_->input(i) + "' (" + role + ") must be a constant");
  }
  return &t->c;
}

Result<std::vector<int64_t>> Importer::ConstInts(int i, const std::string& role) const {
  EV_ASSIGN_OR_RETURN(const Value* v, ConstIn(i, role));
  if (v->dtype != DataType::kInt64)
    return Bad("input '" + node_->input(i) + "' (" + role + ") is not an integer tensor");
  if (v->i64.size() > static_cast<size_t>(kMaxAttrElements)) return Bad(role + " is too long");
  return v->i64;
}

Result<ValueId> Importer::Act(int i) {
  EV_ASSIGN_OR_RETURN(const OnnxTensor* t, In(i));
  if (!t->is_const) return t->id;
  return ConstToIr(t->c, t->c.shape.size(), t->c.name);
}

bool Importer::OutputUsed(int k) const {
  if (k >= node_->output_size() || node_->output(k).empty()) return false;
  auto it = consumers_.find(node_->output(k));
  return (it != consumers_.end() && !it->second.empty()) || node_->output(k) == score_name_;
}

Status Importer::DefineAct(int k, ValueId id) {
  if (k >= node_->output_size()) return Bad("has no output " + std::to_string(k));
  OnnxTensor t;
  t.id = id;
  tensors_[node_->output(k)] = std::move(t);
  return Status::Ok();
}

Status Importer::DefineConst(int k, Value v) {
  if (k >= node_->output_size()) return Bad("has no output " + std::to_string(k));
  v.name = node_->output(k);
  v.is_constant = true;
  if (PayloadSize(v) != static_cast<size_t>(graph::ShapeProduct(v.shape)))
    return Internal(Where() + ": bad folded constant");
  OnnxTensor t;
  t.is_const = true;
  t.c = std::move(v);
  tensors_[node_->output(k)] = std::move(t);
  return Status::Ok();
}

Shape Importer::OnnxShape(const OnnxTensor& t) const {
  if (t.is_const) return t.c.shape;
  const Shape s = IrShape(t.id);
  return s.size() == 4 ? NhwcToNchw(s) : s;
}

// ---- IR building ----

Result<ValueId> Importer::Emit(Op op, std::vector<ValueId> inputs, graph::Attrs attrs,
                               const std::string& out_name) {
  Graph& g = out_.graph;
  std::vector<Shape> shapes(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i] != kNoValue) shapes[i] = g.values[inputs[i]].shape;
  }
  Node node;
  node.op = op;
  node.name = node_->name().empty() ? out_name : node_->name();
  node.inputs = std::move(inputs);
  node.attrs = std::move(attrs);
  node.outputs = {0};
  Result<Shape> shape = graph::InferNodeShape(node, shapes);
  if (!shape.ok()) return Context(shape.status());
  const ValueId out = g.AddActivation(out_name, std::move(shape).value());
  node.outputs = {out};
  g.AddNode(std::move(node));
  return out;
}

ValueId Importer::AddFloatConst(const std::string& name, Shape shape, std::vector<float> data) {
  return out_.graph.AddConstant(name, std::move(shape), std::move(data));
}

// A constant as an IR value meant to broadcast against a rank-`out_rank`
// result: against a 4-D result it is padded to 4-D in ONNX order, moved to
// NHWC and (unless `keep_rank`) stripped of leading 1s ([C,1,1] -> [C]).
Result<ValueId> Importer::ConstToIr(const Value& c, size_t out_rank, const std::string& name,
                                    bool keep_rank) {
  if (c.dtype != DataType::kFloat32) {
    return Unsup("constant '" + c.name + "' of a non-float type is used as a tensor");
  }
  if (out_rank != 4 || c.shape.size() > 4) {
    if (c.shape.size() == 4 && out_rank != 4)
      return Unsup("4-D constant '" + c.name + "' in a non-4-D op");
    return out_.graph.AddConstant(name, c.shape, c.f32);
  }
  Value padded = c;
  while (padded.shape.size() < 4) padded.shape.insert(padded.shape.begin(), 1);
  Value nhwc = TransposeValue(padded, {0, 2, 3, 1});
  while (!keep_rank && nhwc.shape.size() > 1 && nhwc.shape.front() == 1) {
    nhwc.shape.erase(nhwc.shape.begin());
  }
  return out_.graph.AddConstant(name, nhwc.shape, std::move(nhwc.f32));
}

// An operand of an element-wise op whose result has ONNX rank `out_rank`.
Result<ValueId> Importer::Operand(const OnnxTensor& t, size_t out_rank, const std::string& name,
                                  bool keep_rank) {
  if (t.is_const) return ConstToIr(t.c, out_rank, name, keep_rank);
  const Shape s = IrShape(t.id);
  if (out_rank == 4 && s.size() < 4) {
    Shape target = s;
    while (target.size() < 4) target.insert(target.begin(), 1);
    return ReshapeOnnx(t.id, target, name + "/as4d");
  }
  if (out_rank > 4 && s.size() == 4) {
    return Unsup("mixes a 4-D (NHWC) tensor into a rank-" + std::to_string(out_rank) + " op");
  }
  return t.id;
}

// ONNX Reshape semantics (row-major in ONNX's NCHW order) on IR value `v`.
Result<ValueId> Importer::ReshapeOnnx(ValueId v, const Shape& target, const std::string& out_name) {
  ValueId src = v;
  const Shape in = IrShape(v);
  if (in.size() == 4 && !SameOrder(in)) {
    graph::Attrs to_nchw;
    to_nchw.ints = {0, 3, 1, 2};
    EV_ASSIGN_OR_RETURN(src, Emit(Op::kTranspose, {v}, to_nchw, out_name + "/nchw_in"));
    ++layout_transposes_;
  }
  graph::Attrs a;
  if (target.size() == 4) {
    const Shape nhwc = NchwToNhwc(target);
    if (SameOrder(nhwc)) {
      a.ints = nhwc;
      return Emit(Op::kReshape, {src}, a, out_name);
    }
    a.ints = target;
    EV_ASSIGN_OR_RETURN(ValueId mid, Emit(Op::kReshape, {src}, a, out_name + "/nchw_out"));
    graph::Attrs to_nhwc;
    to_nhwc.ints = {0, 2, 3, 1};
    ++layout_transposes_;
    return Emit(Op::kTranspose, {mid}, to_nhwc, out_name);
  }
  a.ints = target;
  return Emit(Op::kReshape, {src}, a, out_name);
}

// ---- set-up ----

Status Importer::ReadHeader() {
  for (const onnx::OperatorSetIdProto& o : model_.opset_import()) {
    std::string domain = o.domain() == "ai.onnx" ? "" : o.domain();
    opsets_[domain] = o.version();
  }
  opset_ = opsets_.count("") ? opsets_[""] : 1;
  if (opset_ < 1 || opset_ > 1000)
    return Corrupt(label_ + ": opset " + std::to_string(opset_) + " is invalid");
  if (model_.functions_size() > 0) {
    return Unsupported(label_ + ": model-local functions (" + model_.functions(0).name() +
                       ") are not supported");
  }
  out_.format = "ONNX";
  out_.producer = model_.producer_name();
  if (!model_.producer_version().empty()) out_.producer += " " + model_.producer_version();
  out_.generation = GenerationOf(model_.producer_name(), opset_);
  if (model_.metadata_props_size() > kMaxMetadataEntries) {
    return Corrupt(label_ + ": more than " + std::to_string(kMaxMetadataEntries) +
                   " metadata_props");
  }
  for (const onnx::StringStringEntryProto& e : model_.metadata_props()) {
    out_.metadata[e.key()] = e.value();
  }
  auto fmt = out_.metadata.find("Image.BitmapPixelFormat");
  if (fmt != out_.metadata.end()) {
    if (fmt->second == "Bgr8") {
      out_.declared_color = image::ColorOrder::kBGR;
    } else if (fmt->second == "Rgb8") {
      out_.declared_color = image::ColorOrder::kRGB;
    }
  }
  for (const onnx::NodeProto& n : model_.graph().node()) {
    const std::string& d = n.domain();
    ++out_.source_ops[(d.empty() || d == "ai.onnx") ? n.op_type() : d + "." + n.op_type()];
  }
  return Status::Ok();
}

Status Importer::ReadInitializers() {
  const onnx::GraphProto& g = model_.graph();
  if (g.initializer_size() > kMaxOnnxInitializers) {
    return ResourceExhausted(label_ + ": " + std::to_string(g.initializer_size()) +
                             " initializers exceed the limit of " +
                             std::to_string(kMaxOnnxInitializers));
  }
  if (g.sparse_initializer_size() > 0)
    return Unsupported(label_ + ": sparse initializers are not supported");
  for (onnx::TensorProto& t : *model_.mutable_graph()->mutable_initializer()) {
    if (t.name().empty()) return Corrupt(label_ + ": an initializer has no name");
    EV_ASSIGN_OR_RETURN(
        Value v, DecodeTensor(t, label_ + ": initializer '" + t.name() + "'", &float16_tensors_));
    // Decoded: the file's copy of the payload goes now (swap frees the
    // capacity; clear_*() would keep it). Name, type and dims stay.
    std::string().swap(*t.mutable_raw_data());
    google::protobuf::RepeatedField<float>().Swap(t.mutable_float_data());
    OnnxTensor ot;
    ot.is_const = true;
    ot.c = std::move(v);
    if (!tensors_.emplace(t.name(), std::move(ot)).second) {
      return Corrupt(label_ + ": initializer '" + t.name() + "' is defined twice");
    }
  }
  return Status::Ok();
}

Status Importer::ReadInput() {
  const onnx::GraphProto& g = model_.graph();
  if (g.input_size() > kMaxOnnxGraphInputs)
    return ResourceExhausted(label_ + ": too many graph inputs");
  const onnx::ValueInfoProto* input = nullptr;
  int constant_inputs = 0;
  for (const onnx::ValueInfoProto& vi : g.input()) {
    if (tensors_.count(vi.name())) {
      ++constant_inputs;
      continue;
    }
    if (input != nullptr) {
      return Unsupported(label_ + ": the model has more than one input ('" + input->name() +
                         "', '" + vi.name() + "')");
    }
    input = &vi;
  }
  if (input == nullptr) return Corrupt(label_ + ": the graph has no input without an initializer");
  input_name_ = input->name();
  const std::string what = label_ + ": input '" + input_name_ + "'";
  if (!input->type().has_tensor_type()) return Unsupported(what + " is not a tensor");
  const onnx::TypeProto::Tensor& tt = input->type().tensor_type();
  if (!IsFloatType(tt.elem_type())) {
    return Unsupported(what + " has element type " + OnnxTypeName(tt.elem_type()) + ", not float");
  }
  if (tt.elem_type() != onnx::TensorProto::FLOAT) {
    notes_.push_back("the " + OnnxTypeName(tt.elem_type()) + " input '" + input_name_ +
                     "' is fed as float32");
  }
  if (!tt.has_shape()) return Unsupported(what + " has no declared shape");
  Shape declared;
  for (const onnx::TensorShapeProto::Dimension& d : tt.shape().dim()) {
    declared.push_back(d.has_dim_value() ? d.dim_value() : -1);
  }
  out_.input_name = input_name_;
  out_.input_shape = declared;
  out_.input_layout = "NCHW";
  if (declared.size() != 4) {
    return Unsupported(what + " has shape " + ShapeToString(declared) +
                       "; an NCHW image input is expected");
  }
  if (declared[1] < 1) {
    return Unsupported(what + " has shape " + ShapeToString(declared) + "; the channel count must be fixed");
  }
  // Symbolic height/width (onnxruntime_predict.py makes a compact
  // detector's so): import at a nominal size; the detector plans each
  // image's own size (predict/plan_cache.h); model.cc refuses it elsewhere.
  Shape import_shape = declared;
  for (size_t d = 2; d < 4; ++d) {
    if (declared[d] < 1) {
      import_shape[d] = kSymbolicImportSide;
      out_.symbolic_hw = true;
    }
  }
  if (out_.symbolic_hw) {
    out_.rewrites.push_back("input '" + input_name_ + "' " + ShapeToString(declared) +
                            " has a symbolic height/width: imported at " + std::to_string(import_shape[2]) + "x" +
                            std::to_string(import_shape[3]) + ", planned again at each input size");
  }
  EV_RETURN_IF_ERROR(CheckInputImage(import_shape[2], import_shape[3], declared[1], what));
  if (declared[0] == 0 || declared[0] < -1)
    return Corrupt(what + " has batch " + std::to_string(declared[0]));
  // Batch 1 while importing (static shapes for layout decisions); -1 at the end.
  const ValueId id =
      out_.graph.AddActivation(input_name_, {1, import_shape[2], import_shape[3], declared[1]});
  out_.graph.inputs = {id};
  OnnxTensor t;
  t.id = id;
  tensors_[input_name_] = t;
  if (constant_inputs > 0) {
    out_.rewrites.push_back("treated " + std::to_string(constant_inputs) +
                            " graph inputs that have initializers as constants; the model input "
                            "is '" +
                            input_name_ + "'");
  }
  out_.rewrites.push_back("translated NCHW to NHWC: input '" + input_name_ + "' " +
                          ShapeToString(declared) + " is read as [" + std::to_string(declared[0]) +
                          "," + std::to_string(declared[2]) + "," + std::to_string(declared[3]) +
                          "," + std::to_string(declared[1]) +
                          "], Conv weights OIHW as OHWI, channel axes as the last axis");
  return Status::Ok();
}

Result<std::vector<const onnx::NodeProto*>> Importer::SortNodes() {
  const onnx::GraphProto& g = model_.graph();
  const int n = g.node_size();
  if (n > kMaxOnnxNodes) {
    return ResourceExhausted(label_ + ": " + std::to_string(n) + " nodes exceed the limit of " +
                             std::to_string(kMaxOnnxNodes));
  }
  std::unordered_map<std::string, int> producer;
  for (int i = 0; i < n; ++i) {
    for (const std::string& out : g.node(i).output()) {
      if (out.empty()) continue;
      if (tensors_.count(out) || !producer.emplace(out, i).second) {
        return Corrupt(label_ + ": tensor '" + out + "' is produced twice (node '" +
                       g.node(i).name() + "')");
      }
    }
  }
  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> dependents(n);
  for (int i = 0; i < n; ++i) {
    for (const std::string& in : g.node(i).input()) {
      auto it = producer.find(in);
      if (in.empty() || it == producer.end()) continue;  // unknown names fail at translation
      ++pending[i];
      dependents[it->second].push_back(i);
    }
  }
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (int i = 0; i < n; ++i) {
    if (pending[i] == 0) ready.push(i);
  }
  std::vector<const onnx::NodeProto*> order;
  int moved = 0;
  while (!ready.empty()) {
    const int i = ready.top();
    ready.pop();
    moved += i != static_cast<int>(order.size());
    order.push_back(&g.node(i));
    for (int d : dependents[i]) {
      if (--pending[d] == 0) ready.push(d);
    }
  }
  if (static_cast<int>(order.size()) != n) {
    for (int i = 0; i < n; ++i) {
      if (pending[i] > 0) {
        return Corrupt(label_ + ": node '" + g.node(i).name() + "' (" + g.node(i).op_type() +
                       ") is part of a cycle");
      }
    }
  }
  for (const onnx::NodeProto* node : order) {
    for (const std::string& out : node->output()) producers_[out] = node;
  }
  if (moved > 0) {
    out_.rewrites.push_back("re-ordered the nodes topologically (the file lists " +
                            std::to_string(moved) + " nodes before their inputs' producers)");
  }
  return order;
}

std::set<const onnx::NodeProto*> Importer::Ancestors(const std::vector<std::string>& names) const {
  std::set<const onnx::NodeProto*> live;
  std::vector<std::string> work = names;
  std::set<std::string> seen;
  while (!work.empty()) {
    const std::string t = work.back();
    work.pop_back();
    if (!seen.insert(t).second) continue;
    auto it = producers_.find(t);
    if (it == producers_.end() || !live.insert(it->second).second) continue;
    for (const std::string& in : it->second->input()) {
      if (!in.empty()) work.push_back(in);
    }
  }
  return live;
}

Result<std::vector<const onnx::NodeProto*>> Importer::CutTail(
    const std::vector<const onnx::NodeProto*>& nodes) {
  const onnx::GraphProto& g = model_.graph();
  const onnx::NodeProto* zipmap = nullptr;
  for (const onnx::NodeProto* n : nodes) {
    if (n->op_type() == "ZipMap" && n->domain() == "ai.onnx.ml") {
      if (zipmap != nullptr) return Unsupported(label_ + ": the model has more than one ZipMap");
      zipmap = n;
    }
  }
  if (zipmap != nullptr) {
    if (zipmap->input_size() != 1) return Corrupt(label_ + ": ZipMap must have one input");
    score_name_ = zipmap->input(0);
    for (const onnx::AttributeProto& a : zipmap->attribute()) {
      if (a.name() == "classlabels_strings") {
        if (a.strings_size() > kMaxAttrElements)
          return Corrupt(label_ + ": too many ZipMap labels");
        out_.embedded_labels.assign(a.strings().begin(), a.strings().end());
      } else if (a.name() == "classlabels_int64s") {
        if (a.ints_size() > kMaxAttrElements) return Corrupt(label_ + ": too many ZipMap labels");
        for (int64_t v : a.ints()) out_.embedded_labels.push_back(std::to_string(v));
      }
    }
  } else {
    for (const onnx::ValueInfoProto& o : g.output()) {
      if (!o.type().has_tensor_type() || !IsFloatType(o.type().tensor_type().elem_type())) continue;
      if (!score_name_.empty()) {
        return Unsupported(label_ + ": the model has more than one float output ('" + score_name_ +
                           "', '" + o.name() + "')");
      }
      score_name_ = o.name();
    }
    if (score_name_.empty()) return Unsupported(label_ + ": the model has no float tensor output");
  }
  // Keep the ancestors of the score tensor.
  const std::set<const onnx::NodeProto*> live = Ancestors({score_name_});
  std::vector<const onnx::NodeProto*> kept;
  std::map<std::string, int> dropped;
  int dropped_count = 0;
  for (const onnx::NodeProto* n : nodes) {
    if (live.count(n)) {
      kept.push_back(n);
      for (const std::string& in : n->input()) consumers_[in].push_back(n);
    } else {
      ++dropped[n->op_type()];
      ++dropped_count;
    }
  }
  out_.output_name = score_name_;
  out_.output_float16 = HoldsFloat16(score_name_);
  if (dropped_count > 0) {
    std::string ops;
    for (const auto& [op, count] : dropped) ops += (ops.empty() ? "" : ", ") + op;
    if (zipmap != nullptr) {
      out_.rewrites.push_back(
          "removed the classifier tail (" + std::to_string(dropped_count) + " nodes: " + ops +
          "); the float scores '" + score_name_ + "' are the output and ZipMap's " +
          std::to_string(out_.embedded_labels.size()) + " classlabels are the labels");
    } else {
      out_.rewrites.push_back("removed " + std::to_string(dropped_count) +
                              " nodes that do not contribute to the output (" + ops + ")");
    }
  }
  return kept;
}

Status Importer::TranslateNode(const onnx::NodeProto& node) {
  node_ = &node;
  const std::string& d = node.domain();
  const bool std_domain = d.empty() || d == "ai.onnx";
  op_ = std_domain ? node.op_type() : d + "." + node.op_type();
  if (node.output_size() < 1 || node.output(0).empty()) return Bad("has no output");
  if (std_domain) {
    EV_ASSIGN_OR_RETURN(bool folded, TryFold());
    if (folded) return Status::Ok();
  }
  static const std::map<std::string, Translator> kStandard = {
      {"Conv", &Importer::Conv},
      {"MaxPool", &Importer::Pool},
      {"AveragePool", &Importer::Pool},
      {"GlobalAveragePool", &Importer::GlobalPool},
      {"GlobalMaxPool", &Importer::GlobalPool},
      {"Pad", &Importer::PadOp},
      {"BatchNormalization", &Importer::BatchNormalization},
      {"ImageScaler", &Importer::ImageScaler},
      {"Relu", &Importer::Unary},
      {"Sigmoid", &Importer::Unary},
      {"HardSwish", &Importer::Unary},
      {"LeakyRelu", &Importer::Unary},
      {"Identity", &Importer::Unary},
      {"Dropout", &Importer::Unary},
      {"Neg", &Importer::Unary},
      {"Sqrt", &Importer::Unary},
      {"Clip", &Importer::Clip},
      {"Max", &Importer::MinMax},
      {"Min", &Importer::MinMax},
      {"HardSigmoid", &Importer::HardSigmoid},
      {"Softmax", &Importer::Softmax},
      {"Add", &Importer::Binary},
      {"Sub", &Importer::Binary},
      {"Mul", &Importer::Binary},
      {"Div", &Importer::Binary},
      {"Sum", &Importer::Sum},
      {"Concat", &Importer::Concat},
      {"Reshape", &Importer::ReshapeLike},
      {"Flatten", &Importer::ReshapeLike},
      {"Squeeze", &Importer::ReshapeLike},
      {"Unsqueeze", &Importer::ReshapeLike},
      {"Transpose", &Importer::Transpose},
      {"Slice", &Importer::SliceOp},
      {"Split", &Importer::SplitOp},
      {"ReduceMean", &Importer::ReduceMean},
      {"Gemm", &Importer::Gemm},
      {"FC", &Importer::FC},
      {"MatMul", &Importer::MatMul},
      {"Constant", &Importer::Constant},
      {"Cast", &Importer::Cast},
      {"ArgMax", &Importer::Tail},
  };
  Translator t = nullptr;
  if (std_domain) {
    auto it = kStandard.find(node.op_type());
    if (it != kStandard.end()) t = it->second;
  } else if (d == "com.microsoft" && node.op_type() == "LegacyPadding") {
    t = &Importer::LegacyPadding;
  } else if (d == "ai.onnx.ml" &&
             (node.op_type() == "ZipMap" || node.op_type() == "ArrayFeatureExtractor")) {
    t = &Importer::Tail;
  }
  if (t == nullptr) return Unsup("op " + op_ + " is not supported");
  return (this->*t)();
}

Result<ImportedModel> Importer::Run() {
  EV_RETURN_IF_ERROR(ReadHeader());
  if (!model_.has_graph()) return Corrupt(label_ + ": the model has no graph");
  EV_RETURN_IF_ERROR(ReadInitializers());
  EV_RETURN_IF_ERROR(ReadInput());
  ReadDeclaredTypes();
  EV_ASSIGN_OR_RETURN(std::vector<const onnx::NodeProto*> order, SortNodes());
  const bool s1 = HasNms(order);
  std::vector<const onnx::NodeProto*> live;
  if (s1) {
    EV_ASSIGN_OR_RETURN(live, SplitDetectionTail(order));
  } else {
    EV_ASSIGN_OR_RETURN(live, CutTail(order));
  }
  PlanFloat16Rounding();
  for (const onnx::NodeProto* node : live) {
    EV_RETURN_IF_ERROR(TranslateNode(*node));
    if (float16_rounding_.count(node)) RoundOutputs(*node);
  }
  node_ = nullptr;
  if (s1) EV_RETURN_IF_ERROR(PackDetectionBoundary());

  auto it = tensors_.find(score_name_);
  if (it == tensors_.end())
    return Corrupt(label_ + ": output '" + score_name_ + "' is never produced");
  if (it->second.is_const)
    return Unsupported(label_ + ": output '" + score_name_ + "' is a constant");
  Graph& g = out_.graph;
  const ValueId output = it->second.id;
  if (output == g.inputs[0]) return Unsupported(label_ + ": the output is the input");
  g.outputs = {output};

  // The activation that produces the scores, looking through shape-only ops.
  out_.output_activation = "none";
  for (ValueId v = output;;) {
    const int p = g.ProducerOf(v);
    if (p < 0) break;
    const Op op = g.nodes[p].op;
    if (op == Op::kSigmoid) out_.output_activation = "sigmoid";
    if (op == Op::kSoftmax) out_.output_activation = "softmax";
    if (op != Op::kIdentity && op != Op::kReshape && op != Op::kTranspose) break;
    v = g.nodes[p].inputs[0];
  }

  if (!legacy_padding_.empty()) {
    std::string list;
    for (const std::string& s : legacy_padding_) list += (list.empty() ? "" : "; ") + s;
    out_.rewrites.push_back("rewrote " + std::to_string(legacy_padding_.size()) +
                            " com.microsoft.LegacyPadding (Caffe ceil-mode pooling) into Pad "
                            "with the extra bottom/right padding ceil mode implies: " +
                            list);
  }
  if (legacy_broadcasts_ > 0) {
    out_.rewrites.push_back("read " + std::to_string(legacy_broadcasts_) +
                            " legacy broadcast=1 operands (opset < 7) with their axis");
  }
  if (fc_ops_ > 0) {
    out_.rewrites.push_back("translated " + std::to_string(fc_ops_) +
                            " experimental FC op(s) as FullyConnected (Gemm with transB = 1)");
  }
  if (ceil_pools_ > 0) {
    out_.rewrites.push_back("gave " + std::to_string(ceil_pools_) +
                            " ceil_mode pools the extra end padding ceil mode implies");
  }
  if (fused_hardswish_ > 0) {
    out_.rewrites.push_back("fused " + std::to_string(fused_hardswish_) +
                            " x * HardSigmoid(x; 1/6, 0.5) into HardSwish");
  }
  if (!folded_ops_.empty()) {
    int total = 0;
    std::string ops;
    for (const auto& [op, n] : folded_ops_) {
      total += n;
      ops += (ops.empty() ? "" : ", ") + op;
    }
    out_.rewrites.push_back("evaluated " + std::to_string(total) +
                            " nodes on constants at import (" + ops + "), taking the batch as 1");
  }
  if (float16_tensors_ > 0) {
    out_.rewrites.push_back("converted " + std::to_string(float16_tensors_) +
                            " float16 tensors to float32");
  }
  if (rounded_inputs_ + rounded_nodes_ > 0) {
    out_.rewrites.push_back(
        "rounds to float16 where ONNX Runtime's CPU provider stores float16 values: " +
        std::string(rounded_inputs_ > 0 ? "the input, " : "") + "the outputs of " + std::to_string(rounded_nodes_) +
        " data-movement nodes it runs on float16 with inputs from float32-computing nodes");
  }
  if (float_casts_ > 0) {
    out_.rewrites.push_back("computing in float32: " + std::to_string(float_casts_) +
                            " Cast nodes between float types became identities");
  }
  if (layout_transposes_ > 0) {
    out_.rewrites.push_back("inserted " + std::to_string(layout_transposes_) +
                            " Transpose nodes so reshapes of 4-D tensors keep ONNX's NCHW "
                            "element order");
  }
  for (const std::string& note : notes_) out_.rewrites.push_back(note);

  g.values[g.inputs[0]].shape[0] = -1;
  Status valid = graph::Validate(g);
  if (!valid.ok()) return Internal(label_ + ": imported graph is invalid: " + valid.message());
  return std::move(out_);
}

}  // namespace onnx_import

Result<ImportedModel> ImportOnnx(std::span<const uint8_t> bytes, const std::string& file_label) {
  if (bytes.empty()) return Corrupt(file_label + ": the ONNX file is empty");
  if (bytes.size() > kMaxModelFileBytes) {
    return ResourceExhausted(file_label + ": " + std::to_string(bytes.size()) +
                             " bytes exceed the ONNX size limit of " +
                             std::to_string(kMaxModelFileBytes));
  }
  onnx::ModelProto model;
  if (!model.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Corrupt(file_label + ": not a valid ONNX model (protobuf parsing failed)");
  }
  if (model.ir_version() < 1 || !model.has_graph()) {
    return Corrupt(file_label + ": not an ONNX model (no ir_version or graph)");
  }
  onnx_import::Importer importer(model, file_label);
  return importer.Run();
}

}  // namespace edgevision::model
