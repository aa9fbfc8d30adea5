// TensorFlow Lite flatbuffer (model.tflite) -> graph::Graph.
//
// The bytes are checked with flatbuffers::Verifier before anything reads
// them; after that every index (tensor, buffer, opcode) is still
// bounds-checked, since the verifier only proves the layout is sound.
// Translated: subgraph 0, operators in their (execution) order. TFLite's
// layouts already match graph.h except depthwise weights ([1,H,W,C*M] ->
// OHWI [C*M,H,W,1], groups = C). Fused activations become the node's clamp
// (Conv2D, FullyConnected, element-wise) or a separate node (pools, concat).
// Activation shapes come from the file with the batch set to -1. Float16
// weights behind DEQUANTIZE become float32 constants; integer-quantized
// models are Unsupported.
// The parts live in the files tflite_importer_internal.h lists; this one
// holds all but the operators' translators.
//
// Thread-safety: ImportTflite is reentrant.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "graph/shape_inference.h"
#include "model/detection_tail_common.h"
#include "model/tflite_importer_internal.h"

namespace edgevision::model {

namespace tflite_import {

static_assert(std::endian::native == std::endian::little, "TFLite buffers are little-endian");

// A first convolution whose biases reach this magnitude has had an input
// mean folded into it by the converter (a 0-255 mean times trained weights
// gives biases in the tens to hundreds; trained biases stay near 0).
constexpr float kFoldedMeanBiasThreshold = 10.0f;

std::string BuiltinName(int32_t code) {
  const char* name = tfl::EnumNameBuiltinOperator(static_cast<tfl::BuiltinOperator>(code));
  if (name && *name) return name;
  return "BUILTIN_" + std::to_string(code);
}

Result<const tfl::Tensor*> TfliteImporter::TensorAt(int32_t index) const {
  const auto* tensors = sg_->tensors();
  if (index < 0 || static_cast<flatbuffers::uoffset_t>(index) >= tensors->size()) {
    return Corrupt(label_ + ": tensor index " + std::to_string(index) + " out of range (" +
                   std::to_string(tensors->size()) + " tensors)");
  }
  return tensors->Get(static_cast<flatbuffers::uoffset_t>(index));
}

Result<Shape> TfliteImporter::TensorShape(const tfl::Tensor& t) const {
  Shape shape;
  if (!t.shape()) return shape;
  if (t.shape()->size() > kMaxRank)
    return Corrupt(label_ + ": tensor '" + TensorName(t) + "' has rank above 8");
  int64_t count = 1;
  for (int32_t d : *t.shape()) {
    if (d < 0 || d > kMaxTensorElements || (d > 0 && count > kMaxTensorElements / d)) {
      return Corrupt(label_ + ": tensor '" + TensorName(t) + "' has a dimension out of range");
    }
    count *= d;
    shape.push_back(d);
  }
  return shape;
}

Result<std::optional<std::span<const uint8_t>>> TfliteImporter::Payload(int32_t index) const {
  EV_ASSIGN_OR_RETURN(const tfl::Tensor* t, TensorAt(index));
  const uint32_t b = t->buffer();
  if (b == 0) return std::optional<std::span<const uint8_t>>();  // buffer 0 is the empty sentinel
  const auto* buffers = model_.buffers();
  if (!buffers || b >= buffers->size()) {
    return Corrupt(label_ + ": tensor '" + TensorName(*t) + "' names buffer " + std::to_string(b) +
                   " of " + std::to_string(buffers ? buffers->size() : 0));
  }
  const tfl::Buffer* buf = buffers->Get(b);
  if (buf->offset() > 1) {  // payload stored after the flatbuffer (models over 2 GB)
    if (buf->offset() > file_.size() || buf->size() > file_.size() - buf->offset()) {
      return Corrupt(label_ + ": buffer " + std::to_string(b) + " lies outside the file");
    }
    return std::optional<std::span<const uint8_t>>(file_.subspan(buf->offset(), buf->size()));
  }
  if (!buf->data() || buf->data()->size() == 0) return std::optional<std::span<const uint8_t>>();
  return std::optional<std::span<const uint8_t>>(
      std::span<const uint8_t>(buf->data()->data(), buf->data()->size()));
}

Result<ConstTensor> TfliteImporter::ReadConst(const OpContext& c, int32_t index) const {
  EV_ASSIGN_OR_RETURN(const tfl::Tensor* t, TensorAt(index));
  EV_ASSIGN_OR_RETURN(auto payload, Payload(index));
  if (!payload) return UnsupportedAt(c, "tensor '" + TensorName(*t) + "' must be a constant");
  ConstTensor out;
  EV_ASSIGN_OR_RETURN(out.shape, TensorShape(*t));
  int64_t count = 1;
  for (int64_t d : out.shape) count *= d;
  size_t elem = 0;
  switch (t->type()) {
    case tfl::TensorType::FLOAT32: elem = 4; break;
    case tfl::TensorType::FLOAT16: elem = 2; break;
    case tfl::TensorType::INT32:
      elem = 4;
      out.is_float = false;
      break;
    case tfl::TensorType::INT64:
      elem = 8;
      out.is_float = false;
      break;
    default:
      return UnsupportedAt(
          c, "constant '" + TensorName(*t) + "' of type " + tfl::EnumNameTensorType(t->type()));
  }
  EV_RETURN_IF_ERROR(CheckPayloadBytes(count, elem, payload->size(), out.shape,
                                       Where(c) + ": constant '" + TensorName(*t) + "'"));
  const uint8_t* p = payload->data();
  if (out.is_float) {
    out.f.resize(static_cast<size_t>(count));
    for (int64_t k = 0; k < count; ++k) {
      if (elem == 4) {
        std::memcpy(&out.f[k], p + 4 * k, 4);
      } else {
        uint16_t h;
        std::memcpy(&h, p + 2 * k, 2);
        out.f[k] = HalfToFloat(h);
      }
    }
  } else {
    out.i.resize(static_cast<size_t>(count));
    for (int64_t k = 0; k < count; ++k) {
      if (elem == 4) {
        int32_t v;
        std::memcpy(&v, p + 4 * k, 4);
        out.i[k] = v;
      } else {
        std::memcpy(&out.i[k], p + 8 * k, 8);
      }
    }
  }
  return out;
}

Result<ConstTensor> TfliteImporter::ConstOf(const OpContext& c, int32_t index) const {
  EV_ASSIGN_OR_RETURN(const tfl::Tensor* t, TensorAt(index));
  const ValueId id = tensor_value_[index];
  if (id == graph::kNoValue) return ReadConst(c, index);
  const graph::Value& v = graph_.values[id];
  if (!v.is_constant) return UnsupportedAt(c, "tensor '" + TensorName(*t) + "' must be a constant");
  ConstTensor out;
  out.shape = v.shape;
  out.is_float = v.dtype == graph::DataType::kFloat32;
  out.f = v.f32;
  out.i = v.i64;
  return out;
}

Result<int32_t> TfliteImporter::InputIndex(const OpContext& c, const tfl::Operator& op, int i,
                                           bool optional) const {
  const auto* inputs = op.inputs();
  if (!inputs || i >= static_cast<int>(inputs->size()) || inputs->Get(i) < 0) {
    if (optional) return -1;
    return CorruptAt(c, "input " + std::to_string(i) + " is missing");
  }
  return inputs->Get(i);
}

Result<ValueId> TfliteImporter::ValueOf(const OpContext& c, int32_t tensor) {
  EV_ASSIGN_OR_RETURN(const tfl::Tensor* t, TensorAt(tensor));
  if (tensor_value_[tensor] != graph::kNoValue) return tensor_value_[tensor];
  EV_ASSIGN_OR_RETURN(auto payload, Payload(tensor));
  if (!payload) {
    return CorruptAt(c, "reads tensor '" + TensorName(*t) + "' before any operator produces it");
  }
  EV_ASSIGN_OR_RETURN(ConstTensor k, ReadConst(c, tensor));
  const ValueId id = k.is_float ? graph_.AddConstant(TensorName(*t), k.shape, std::move(k.f))
                                : graph_.AddConstantInt(TensorName(*t), k.shape, std::move(k.i));
  tensor_value_[tensor] = id;
  return id;
}

Result<ValueId> TfliteImporter::NewOutput(const OpContext& c, const tfl::Operator& op) {
  const auto* outputs = op.outputs();
  if (!outputs || outputs->size() != 1)
    return UnsupportedAt(c, "operators with several outputs are not supported");
  const int32_t index = outputs->Get(0);
  EV_ASSIGN_OR_RETURN(const tfl::Tensor* t, TensorAt(index));
  if (tensor_value_[index] != graph::kNoValue) {
    return CorruptAt(c, "tensor '" + TensorName(*t) + "' is produced twice (or is a constant)");
  }
  EV_ASSIGN_OR_RETURN(auto payload, Payload(index));
  if (payload) return CorruptAt(c, "writes to constant tensor '" + TensorName(*t) + "'");
  if (t->type() != tfl::TensorType::FLOAT32) {
    return UnsupportedAt(c, "output '" + TensorName(*t) + "' is " +
                                tfl::EnumNameTensorType(t->type()) +
                                " (only float32 activations are supported)");
  }
  EV_ASSIGN_OR_RETURN(Shape shape, TensorShape(*t));
  if (shape.size() >= 2) shape[0] = -1;  // the batch
  const ValueId id = graph_.AddActivation(TensorName(*t), shape);
  tensor_value_[index] = id;
  return id;
}

Result<ConstTensor> TfliteImporter::ConstInput(const OpContext& c, const tfl::Operator& op,
                                               int i) const {
  EV_ASSIGN_OR_RETURN(int32_t index, InputIndex(c, op, i));
  return ConstOf(c, index);
}

Status TfliteImporter::SetActivation(const OpContext& c, tfl::ActivationFunctionType act,
                                     graph::Attrs* attrs) const {
  switch (act) {
    case tfl::ActivationFunctionType::NONE: return Status::Ok();
    case tfl::ActivationFunctionType::RELU: attrs->act_min = 0.0f; return Status::Ok();
    case tfl::ActivationFunctionType::RELU6:
      attrs->act_min = 0.0f;
      attrs->act_max = 6.0f;
      return Status::Ok();
    case tfl::ActivationFunctionType::RELU_N1_TO_1:
      attrs->act_min = -1.0f;
      attrs->act_max = 1.0f;
      return Status::Ok();
    default: {
      const char* name = tfl::EnumNameActivationFunctionType(act);
      return UnsupportedAt(c, std::string("fused activation ") + (name && *name ? name : "?"));
    }
  }
}

void TfliteImporter::Emit(Op op, const std::string& name, std::vector<ValueId> inputs, ValueId out,
                          graph::Attrs attrs) {
  graph::Node node;
  node.op = op;
  node.name = name;
  node.inputs = std::move(inputs);
  node.outputs = {out};
  node.attrs = std::move(attrs);
  graph_.AddNode(std::move(node));
}

Status TfliteImporter::EmitWithSeparateActivation(const OpContext& c, Op op,
                                                  std::vector<ValueId> inputs, ValueId out,
                                                  graph::Attrs attrs,
                                                  tfl::ActivationFunctionType act) {
  graph::Attrs clamp;
  EV_RETURN_IF_ERROR(SetActivation(c, act, &clamp));
  if (act == tfl::ActivationFunctionType::NONE) {
    Emit(op, c.name, std::move(inputs), out, std::move(attrs));
    return Status::Ok();
  }
  graph::Value pre = graph_.values[out];
  pre.name += "/before_activation";
  const ValueId mid = graph_.AddValue(std::move(pre));
  Emit(op, c.name, std::move(inputs), mid, std::move(attrs));
  if (act == tfl::ActivationFunctionType::RELU) {
    Emit(Op::kRelu, c.name + "/relu", {mid}, out);
  } else {
    Emit(Op::kClamp, c.name + "/clamp", {mid}, out, clamp);
  }
  return Status::Ok();
}


// Integer tensors other than shape/axis constants mean a quantized model.
Status TfliteImporter::CheckTypes() const {
  const auto* tensors = sg_->tensors();
  for (flatbuffers::uoffset_t i = 0; i < tensors->size(); ++i) {
    const tfl::Tensor* t = tensors->Get(i);
    switch (t->type()) {
      case tfl::TensorType::INT8:
      case tfl::TensorType::UINT8:
      case tfl::TensorType::INT16:
      case tfl::TensorType::INT4:
        return Unsupported(
            label_ + ": tensor '" + TensorName(*t) + "' is " + tfl::EnumNameTensorType(t->type()) +
            ": integer-quantized TFLite models are not supported (export the float32 or "
            "float16 flavour)");
      default: break;
    }
  }
  return Status::Ok();
}

// Generation and required mean; see tf_importer.cc for Microsoft's rule and
// the evidence. TOCO keeps no trace of a normalisation layer it folded into
// the first convolution, so the folded case is told apart by that
// convolution's biases (kFoldedMeanBiasThreshold). The android-fruit-tflite
// model's weights and biases are bit-identical to android-fruit-tf's: nothing
// was folded, and it needs the same mean.
void TfliteImporter::DescribeGeneration(ImportedModel* model) const {
  // Compact: Placeholder -> loss (2018-2019) or model_outputs (2020+);
  // S1: data -> model_output.
  const bool custom_vision_names =
      model->input_name == "Placeholder" &&
      (model->output_name == "loss" || model->output_name == "model_outputs");
  const bool s1_names = model->input_name == "data" && model->output_name == "model_output";
  if (custom_vision_names && first_conv_reads_input_ &&
      first_conv_max_bias_ < kFoldedMeanBiasThreshold) {
    model->generation = "Custom Vision compact TFLite (older, no normalisation layer)";
    model->required_mean = kOldCompactMeanBgr;
    model->rewrites.push_back(
        "no normalisation before the first convolution and no mean folded into it: the caller must "
        "subtract the BGR mean 105/117/124 (as for the same generation's TensorFlow export)");
  } else if (custom_vision_names) {
    model->generation = "Custom Vision compact TFLite";
  } else if (s1_names) {
    model->generation = "Custom Vision S1 TFLite";
  } else {
    model->generation = "TFLite float model";
  }
  if (dequantized_ > 0) model->generation += ", float16 weights";
}

Result<ValueId> TfliteImporter::PackDetectionBoundary(const tflite_tail::Split& split,
                                                      ImportedModel* model) {
  const tflite_tail::TensorNames name(*sg_);
  detect::TailGraph tail;
  PackedBoundary packing;
  for (int32_t b : split.boundary) {
    EV_ASSIGN_OR_RETURN(const tfl::Tensor* t, TensorAt(b));
    const ValueId id = tensor_value_[b];
    if (id == graph::kNoValue)
      return Corrupt(label_ + ": tensor '" + TensorName(*t) + "' is read before any operator produces it");
    const graph::Value& v = graph_.values[id];
    if (v.is_constant) {  // e.g. a DEQUANTIZE of a float16 constant
      detect::TailTensor c;
      c.shape = v.shape;
      c.is_int = v.dtype != graph::DataType::kFloat32;
      c.f = v.f32;
      c.i = v.i64;
      tail.constants[name(b)] = std::move(c);
      continue;
    }
    Shape shape = v.shape;
    if (!shape.empty() && shape[0] == -1) shape[0] = 1;  // batch 1
    if (v.dtype != graph::DataType::kFloat32 ||
        std::any_of(shape.begin(), shape.end(), [](int64_t d) { return d < 0; })) {
      return Unsupported(label_ + ": tensor '" + TensorName(*t) + "' " + ShapeToString(shape) +
                         " read by NON_MAX_SUPPRESSION's tail must be float32 with a static shape");
    }
    const int64_t n = graph::ShapeProduct(shape);
    graph::Attrs flat;
    flat.ints = {1, n};
    const ValueId y = graph_.AddActivation(TensorName(*t) + "/packed", Shape{1, n});
    Emit(Op::kReshape, TensorName(*t) + "/packed", {id}, y, flat);
    packing.Add(&tail, name(b), TensorName(*t), shape, y);
  }
  if (packing.parts.empty()) return Unsupported(label_ + ": NON_MAX_SUPPRESSION reads nothing the network computes");
  ValueId packed = packing.parts[0];
  if (packing.parts.size() > 1) {
    graph::Attrs concat;
    concat.axis = 1;
    packed = graph_.AddActivation(kPackedBoundaryName, Shape{1, static_cast<int64_t>(packing.size)});
    Emit(Op::kConcat, kPackedBoundaryName, packing.parts, packed, concat);
  }
  auto read_const = [this](int op_index, int32_t tensor) -> Result<ConstTensor> {
    OpContext c{op_index, "tail", ""};
    if (tensor < 0) return CorruptAt(c, "a constant input is missing");
    return ConstOf(c, tensor);
  };
  EV_RETURN_IF_ERROR(tflite_tail::TranslateTail(model_, *sg_, split, read_const, label_, &tail));
  std::map<std::string, int> ops;
  for (const detect::TailNode& n : tail.nodes) ++ops[n.op];
  std::string op_list, out_list;
  for (const auto& [op, count] : ops) op_list += (op_list.empty() ? "" : ", ") + op;
  for (const std::string& o : tail.outputs) out_list += (out_list.empty() ? "" : ", ") + o;
  model->output_name = out_list;
  model->rewrites.push_back(
      "split the S1 detector at NON_MAX_SUPPRESSION: the engine runs the network up to " + packing.names +
      "; " + std::to_string(tail.nodes.size()) + " operators after it (as " + op_list +
      ") run on the CPU on integer and float tensors (detect/nms_tail.h)");
  model->detection_tail = std::move(tail);
  return packed;
}

Result<ImportedModel> TfliteImporter::Run() {
  if (model_.version() != 3) {
    return Unsupported(label_ + ": TFLite schema version " + std::to_string(model_.version()) +
                       " (3 is supported)");
  }
  if (!model_.subgraphs() || model_.subgraphs()->size() == 0)
    return Corrupt(label_ + ": no subgraph");
  sg_ = model_.subgraphs()->Get(0);
  if (!sg_->tensors() || !sg_->inputs() || !sg_->outputs())
    return Corrupt(label_ + ": subgraph 0 lacks tensors, inputs or outputs");
  EV_RETURN_IF_ERROR(CheckTypes());
  tensor_value_.assign(sg_->tensors()->size(), graph::kNoValue);

  ImportedModel model;
  model.format = "TFLite";
  model.input_layout = "NHWC";
  std::vector<int32_t> inputs;
  for (int32_t i : *sg_->inputs()) {
    EV_ASSIGN_OR_RETURN(auto payload, Payload(i));
    if (!payload) inputs.push_back(i);
  }
  if (inputs.size() != 1) {
    return Unsupported(label_ + ": " + std::to_string(inputs.size()) +
                       " inputs; one image input is supported");
  }
  input_tensor_ = inputs[0];
  {
    EV_ASSIGN_OR_RETURN(const tfl::Tensor* t, TensorAt(input_tensor_));
    if (t->type() != tfl::TensorType::FLOAT32) {
      return Unsupported(label_ + ": input '" + TensorName(*t) + "' is " +
                         tfl::EnumNameTensorType(t->type()));
    }
    EV_ASSIGN_OR_RETURN(Shape shape, TensorShape(*t));
    if (shape.size() != 4) {
      return Unsupported(label_ + ": input '" + TensorName(*t) + "' shape " + ShapeToString(shape) +
                         " is not an image [batch,H,W,C]");
    }
    EV_RETURN_IF_ERROR(
        CheckInputImage(shape[1], shape[2], shape[3], label_ + ": input '" + TensorName(*t) + "'"));
    model.input_name = TensorName(*t);
    model.input_shape = shape;
    shape[0] = -1;
    const ValueId id = graph_.AddActivation(model.input_name, shape);
    graph_.inputs.push_back(id);
    tensor_value_[input_tensor_] = id;
    if (const auto* q = t->quantization();
        q && q->min() && q->max() && q->min()->size() == 1 && q->max()->size() == 1) {
      model.metadata["tflite.input_range"] =
          "[" + std::to_string(q->min()->Get(0)) + ", " + std::to_string(q->max()->Get(0)) + "]";
    }
  }
  EV_ASSIGN_OR_RETURN(std::optional<tflite_tail::Split> split,
                      tflite_tail::FindTail(model_, *sg_, label_));
  if (!split && sg_->outputs()->size() != 1) {
    return Unsupported(label_ + ": " + std::to_string(sg_->outputs()->size()) +
                       " outputs; one score output is supported");
  }
  const int32_t output_tensor = sg_->outputs()->Get(0);
  EV_ASSIGN_OR_RETURN(const tfl::Tensor* out_t, TensorAt(output_tensor));
  model.output_name = TensorName(*out_t);

  if (sg_->operators()) {
    for (flatbuffers::uoffset_t i = 0; i < sg_->operators()->size(); ++i) {
      if (split && split->tail[i]) {  // counted, run by the tail
        const tfl::OperatorCode* code =
            model_.operator_codes() && sg_->operators()->Get(i)->opcode_index() < model_.operator_codes()->size()
                ? model_.operator_codes()->Get(sg_->operators()->Get(i)->opcode_index())
                : nullptr;
        if (code) ++source_ops_[BuiltinName(tflite_tail::BuiltinCode(*code))];
        continue;
      }
      EV_RETURN_IF_ERROR(Translate(static_cast<int>(i), *sg_->operators()->Get(i)));
    }
  }
  ValueId out = graph::kNoValue;
  if (split) {
    EV_ASSIGN_OR_RETURN(out, PackDetectionBoundary(*split, &model));
  } else {
    out = tensor_value_[output_tensor];
    if (out == graph::kNoValue || graph_.values[out].is_constant) {
      return Corrupt(label_ + ": output '" + model.output_name + "' is produced by no operator");
    }
  }
  graph_.outputs.push_back(out);
  Status valid = graph::Validate(graph_);
  if (!valid.ok()) return Corrupt(label_ + ": " + valid.message());

  // The final op.
  model.output_activation = "none";
  for (const graph::Node& n : graph_.nodes) {
    if (n.outputs.size() == 1 && n.outputs[0] == out) {
      model.output_activation = n.op == Op::kSigmoid   ? "sigmoid"
                                : n.op == Op::kSoftmax ? "softmax"
                                                       : "none";
    }
  }
  if (model_.description()) {
    const std::string d = model_.description()->str();
    model.metadata["tflite.description"] = d;
    if (d.rfind("TOCO", 0) == 0)
      model.producer = "TOCO";
    else if (d.find("MLIR") != std::string::npos)
      model.producer = "TFLite MLIR converter";
    else
      model.producer = d;
  }
  if (model_.metadata()) {
    // Short printable entries (e.g. min_runtime_version) verbatim, others by size.
    for (const tfl::Metadata* m : *model_.metadata()) {
      if (!m->name()) continue;
      std::string text;
      const auto* buffers = model_.buffers();
      if (buffers && m->buffer() < buffers->size() && buffers->Get(m->buffer())->data()) {
        const auto* data = buffers->Get(m->buffer())->data();
        text.assign(reinterpret_cast<const char*>(data->data()), data->size());
        while (!text.empty() && text.back() == '\0') text.pop_back();
        const bool printable =
            text.size() <= 64 &&
            std::all_of(text.begin(), text.end(), [](char ch) { return ch >= 0x20 && ch < 0x7f; });
        if (!printable) text = std::to_string(data->size()) + " bytes";
      }
      model.metadata["tflite.metadata." + m->name()->str()] = text;
    }
  }
  model.source_ops = source_ops_;
  DescribeGeneration(&model);
  if (split) {
    model.output_activation = "none";
    model.generation = std::string("Custom Vision S1 TFLite detector (NMS in the graph)") +
                       (dequantized_ > 0 ? ", float16 weights" : "");
  }
  if (dequantized_ > 0) {
    model.rewrites.push_back("expanded " + std::to_string(dequantized_) +
                             " float16 weight tensors to float32");
  }
  model.graph = std::move(graph_);
  return model;
}

}  // namespace tflite_import

namespace tfl = ::edgevision::tflite;

Result<ImportedModel> ImportTflite(std::span<const uint8_t> bytes, const std::string& file_label) {
  if (bytes.empty()) return Corrupt(file_label + ": empty file");
  if (bytes.size() > kMaxModelFileBytes) {
    return ResourceExhausted(file_label + ": TFLite file of " + std::to_string(bytes.size()) +
                             " bytes exceeds the " + std::to_string(kMaxModelFileBytes) +
                             "-byte limit");
  }
  // Flatbuffer accessors read scalars in place: give them an aligned copy
  // when the caller's bytes are not (e.g. a slice of a larger buffer).
  std::vector<uint8_t> aligned;
  std::span<const uint8_t> data = bytes;
  if (reinterpret_cast<uintptr_t>(bytes.data()) % 16 != 0) {
    aligned.assign(bytes.begin(), bytes.end());
    data = aligned;
  }
  if (data.size() < 8 || !tfl::ModelBufferHasIdentifier(data.data())) {
    return Corrupt(file_label + ": not a TFLite model (no TFL3 identifier)");
  }
  flatbuffers::Verifier::Options options;
  options.max_depth = tflite_import::kMaxTableDepth;
  options.max_tables = tflite_import::kMaxTables;
  flatbuffers::Verifier verifier(data.data(), data.size(), options);
  if (!tfl::VerifyModelBuffer(verifier)) {
    return Corrupt(file_label + ": TFLite flatbuffer failed verification (truncated or corrupt)");
  }
  tflite_import::TfliteImporter importer(*tfl::GetModel(data.data()), data, file_label);
  return importer.Run();
}

}  // namespace edgevision::model
