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

#include "graph/graph.h"
#include "graph/shape_inference.h"
#include "model/import_common.h"
#include "model/importer.h"
#include "model/schemas/tflite_generated.h"
#include "model/tflite_detection_tail.h"

namespace edgevision::model {

namespace {

static_assert(std::endian::native == std::endian::little, "TFLite buffers are little-endian");

namespace tfl = ::edgevision::tflite;
using graph::Op;
using graph::Shape;
using graph::ShapeToString;
using graph::ValueId;

// Limits (hostile files): files above kMaxModelFileBytes are refused
// (model/import_common.h); the flatbuffers verifier stops at kMaxTableDepth
// nesting levels and kMaxTables tables; tensors, windows and the input image
// are bounded by graph/limits.h (kMaxTensorElements, kMaxRank, kMaxWindow,
// kMaxInputSide, kMaxInputChannels); a constant's buffer must hold exactly
// the bytes its shape needs.
constexpr flatbuffers::uoffset_t kMaxTableDepth = 64;
constexpr flatbuffers::uoffset_t kMaxTables = 1'000'000;
constexpr int64_t kMaxTensorElements = graph::kMaxTensorElements;
constexpr int kMaxRank = static_cast<int>(graph::kMaxRank);
constexpr int kMaxWindow = static_cast<int>(graph::kMaxWindow);

// A first convolution whose biases reach this magnitude has had an input
// mean folded into it by the converter (a 0-255 mean times trained weights
// gives biases in the tens to hundreds; trained biases stay near 0).
constexpr float kFoldedMeanBiasThreshold = 10.0f;

class TfliteImporter {
 public:
  TfliteImporter(const tfl::Model& model, std::span<const uint8_t> file, const std::string& label)
      : model_(model), file_(file), label_(label) {}

  Result<ImportedModel> Run();

 private:
  // Context for messages about operator #index.
  struct OpContext {
    int index;
    std::string op;
    std::string name;  // first output tensor's name
  };
  std::string Where(const OpContext& c) const {
    return label_ + ": operator #" + std::to_string(c.index) + " '" + c.name + "' (" + c.op + ")";
  }
  Status CorruptAt(const OpContext& c, const std::string& why) const {
    return Corrupt(Where(c) + ": " + why);
  }
  Status UnsupportedAt(const OpContext& c, const std::string& why) const {
    return Unsupported(Where(c) + ": " + why);
  }

  Result<const tfl::Tensor*> TensorAt(int32_t index) const;
  std::string TensorName(const tfl::Tensor& t) const {
    return t.name() ? t.name()->str() : std::string();
  }
  Result<Shape> TensorShape(const tfl::Tensor& t) const;
  // The constant payload of tensor `index`, nullopt if it has none.
  Result<std::optional<std::span<const uint8_t>>> Payload(int32_t index) const;
  Result<ConstTensor> ReadConst(const OpContext& c, int32_t index) const;
  // A constant operand: a constant tensor of the file, or one an earlier
  // DEQUANTIZE produced.
  Result<ConstTensor> ConstOf(const OpContext& c, int32_t index) const;

  // Operator inputs/outputs.
  Result<int32_t> InputIndex(const OpContext& c, const tfl::Operator& op, int i,
                             bool optional = false) const;
  Result<ValueId> ValueOf(const OpContext& c, int32_t tensor);
  Result<ValueId> NewOutput(const OpContext& c, const tfl::Operator& op);
  Result<ConstTensor> ConstInput(const OpContext& c, const tfl::Operator& op, int i) const;
  const Shape& ShapeOf(ValueId id) const { return graph_.values[id].shape; }

  Status SetActivation(const OpContext& c, tfl::ActivationFunctionType act,
                       graph::Attrs* attrs) const;
  void Emit(Op op, const std::string& name, std::vector<ValueId> inputs, ValueId out,
            graph::Attrs attrs = {});
  // Emits op, then a separate activation node when `act` is not NONE.
  Status EmitWithSeparateActivation(const OpContext& c, Op op, std::vector<ValueId> inputs,
                                    ValueId out, graph::Attrs attrs,
                                    tfl::ActivationFunctionType act);

  Status Translate(int index, const tfl::Operator& op);
  Status TranslateConv(const OpContext& c, const tfl::Operator& op, bool depthwise);
  Status TranslatePool(const OpContext& c, const tfl::Operator& op, bool max);
  Status TranslateFullyConnected(const OpContext& c, const tfl::Operator& op);
  Status TranslateBinary(const OpContext& c, const tfl::Operator& op, Op gop,
                         tfl::ActivationFunctionType act);
  Status TranslateUnary(const OpContext& c, const tfl::Operator& op, Op gop,
                        graph::Attrs attrs = {});
  Status TranslateConcat(const OpContext& c, const tfl::Operator& op);
  Status TranslateReshape(const OpContext& c, const tfl::Operator& op);
  Status TranslateMean(const OpContext& c, const tfl::Operator& op);
  Status TranslatePad(const OpContext& c, const tfl::Operator& op, bool v2);
  Status TranslateDequantize(const OpContext& c, const tfl::Operator& op);
  Status TranslateTranspose(const OpContext& c, const tfl::Operator& op);
  Status TranslateSlice(const OpContext& c, const tfl::Operator& op);

  Status CheckTypes() const;
  void DescribeGeneration(ImportedModel* model) const;
  // The S1 split (tflite_detection_tail.h): packs the boundary tensors into
  // the engine graph's one output and builds the tail; returns that output.
  Result<ValueId> PackDetectionBoundary(const tflite_tail::Split& split, ImportedModel* model);

  const tfl::Model& model_;
  std::span<const uint8_t> file_;
  const std::string& label_;
  const tfl::SubGraph* sg_ = nullptr;

  graph::Graph graph_;
  std::vector<ValueId> tensor_value_;  // per tensor: its graph value once produced/materialised
  int32_t input_tensor_ = -1;
  int first_conv_op_ = -1;  // index of the first CONV_2D / DEPTHWISE_CONV_2D
  bool first_conv_reads_input_ = false;
  float first_conv_max_bias_ = 0.0f;
  int dequantized_ = 0;
  std::map<std::string, int> source_ops_;
};

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

// Checks the window op's output size against the file's own output shape.
Status CheckWindowOutput(const std::string& where, int64_t in, int64_t k, int64_t s, int64_t d,
                         int64_t pad_begin, int64_t pad_end, int64_t out) {
  const int64_t expect = graph::WindowOutputSize(in, k, s, d, pad_begin, pad_end);
  if (expect != out) {
    return Corrupt(where + ": output size " + std::to_string(out) + " does not follow from input " +
                   std::to_string(in) + ", window " + std::to_string((k - 1) * d + 1) +
                   ", stride " + std::to_string(s) + " and padding " +
                   std::to_string(pad_begin + pad_end));
  }
  return Status::Ok();
}

Status TfliteImporter::TranslateConv(const OpContext& c, const tfl::Operator& op, bool depthwise) {
  tfl::Padding padding;
  int sh, sw, dh, dw;
  tfl::ActivationFunctionType act;
  if (depthwise) {
    const tfl::DepthwiseConv2DOptions* o = op.builtin_options_as_DepthwiseConv2DOptions();
    if (!o) return CorruptAt(c, "DepthwiseConv2DOptions missing");
    padding = o->padding();
    sh = o->stride_h(), sw = o->stride_w(), dh = o->dilation_h_factor(),
    dw = o->dilation_w_factor();
    act = o->fused_activation_function();
  } else {
    const tfl::Conv2DOptions* o = op.builtin_options_as_Conv2DOptions();
    if (!o) return CorruptAt(c, "Conv2DOptions missing");
    padding = o->padding();
    sh = o->stride_h(), sw = o->stride_w(), dh = o->dilation_h_factor(),
    dw = o->dilation_w_factor();
    act = o->fused_activation_function();
  }
  for (int v : {sh, sw, dh, dw}) {
    if (v < 1 || v > kMaxWindow) return CorruptAt(c, "stride or dilation out of range");
  }
  EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(c, xi));
  EV_ASSIGN_OR_RETURN(int32_t wi, InputIndex(c, op, 1));
  EV_ASSIGN_OR_RETURN(ConstTensor w, ConstOf(c, wi));
  EV_ASSIGN_OR_RETURN(int32_t bi, InputIndex(c, op, 2, /*optional=*/true));
  const Shape in = ShapeOf(x);
  if (in.size() != 4 || in[1] <= 0 || in[2] <= 0 || in[3] <= 0) {
    return CorruptAt(c, "input is not a static NHWC tensor: " + ShapeToString(in));
  }
  if (!w.is_float || w.shape.size() != 4 || w.f.empty()) {
    return CorruptAt(c,
                     "weights must be a non-empty 4-D float tensor, got " + ShapeToString(w.shape));
  }
  const int64_t channels = in[3];
  graph::Attrs attrs;
  attrs.stride_h = sh;
  attrs.stride_w = sw;
  attrs.dilation_h = dh;
  attrs.dilation_w = dw;
  EV_RETURN_IF_ERROR(SetActivation(c, act, &attrs));
  int64_t out_channels, kh, kw;
  std::vector<float> ohwi;
  Shape ohwi_shape;
  if (depthwise) {
    // [1,H,W,C*M] -> [C*M,H,W,1]: output channel o reads input channel o / M.
    if (w.shape[0] != 1)
      return CorruptAt(c, "depthwise weights " + ShapeToString(w.shape) + " are not [1,H,W,C*M]");
    kh = w.shape[1], kw = w.shape[2], out_channels = w.shape[3];
    if (out_channels % channels != 0) {
      return CorruptAt(c, std::to_string(out_channels) + " output channels for " +
                              std::to_string(channels) + " input channels");
    }
    ohwi.resize(w.f.size());
    for (int64_t h = 0; h < kh; ++h)
      for (int64_t x2 = 0; x2 < kw; ++x2)
        for (int64_t o = 0; o < out_channels; ++o)
          ohwi[(o * kh + h) * kw + x2] = w.f[(h * kw + x2) * out_channels + o];
    ohwi_shape = {out_channels, kh, kw, 1};
    attrs.groups = static_cast<int>(channels);
  } else {
    out_channels = w.shape[0], kh = w.shape[1], kw = w.shape[2];
    const int64_t per_group = w.shape[3];
    if (channels % per_group != 0 || out_channels % (channels / per_group) != 0) {
      return CorruptAt(c, "weights " + ShapeToString(w.shape) + " do not fit an input with " +
                              std::to_string(channels) + " channels");
    }
    attrs.groups = static_cast<int>(channels / per_group);
    ohwi = std::move(w.f);  // TFLite convolution weights are already OHWI
    ohwi_shape = w.shape;
  }
  if (kh > kMaxWindow || kw > kMaxWindow) return CorruptAt(c, "kernel too large");
  if (padding == tfl::Padding::SAME) {
    std::tie(attrs.pad_top, attrs.pad_bottom) = SamePadding(in[1], kh, sh, dh);
    std::tie(attrs.pad_left, attrs.pad_right) = SamePadding(in[2], kw, sw, dw);
  } else if (padding != tfl::Padding::VALID) {
    return CorruptAt(c, "unknown padding");
  }
  EV_ASSIGN_OR_RETURN(const tfl::Tensor* wt, TensorAt(wi));
  const ValueId wid =
      graph_.AddConstant(TensorName(*wt) + (depthwise ? "/OHWI" : ""), ohwi_shape, std::move(ohwi));
  ValueId bid = graph::kNoValue;
  if (bi >= 0) {
    EV_ASSIGN_OR_RETURN(ConstTensor b, ConstOf(c, bi));
    if (!b.is_float || b.shape.size() != 1 || b.shape[0] != out_channels) {
      return CorruptAt(c, "bias " + ShapeToString(b.shape) + " does not match " +
                              std::to_string(out_channels) + " output channels");
    }
    if (first_conv_op_ == c.index) {
      for (float v : b.f) first_conv_max_bias_ = std::max(first_conv_max_bias_, std::fabs(v));
    }
    EV_ASSIGN_OR_RETURN(const tfl::Tensor* bt, TensorAt(bi));
    bid = graph_.AddConstant(TensorName(*bt), b.shape, std::move(b.f));
  }
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  const Shape& out = ShapeOf(y);
  if (out.size() != 4 || out[3] != out_channels) {
    return CorruptAt(c, "output " + ShapeToString(out) + " does not have " +
                            std::to_string(out_channels) + " channels");
  }
  EV_RETURN_IF_ERROR(
      CheckWindowOutput(Where(c), in[1], kh, sh, dh, attrs.pad_top, attrs.pad_bottom, out[1]));
  EV_RETURN_IF_ERROR(
      CheckWindowOutput(Where(c), in[2], kw, sw, dw, attrs.pad_left, attrs.pad_right, out[2]));
  Emit(Op::kConv2D, c.name, {x, wid, bid}, y, attrs);
  return Status::Ok();
}

Status TfliteImporter::TranslatePool(const OpContext& c, const tfl::Operator& op, bool max) {
  const tfl::Pool2DOptions* o = op.builtin_options_as_Pool2DOptions();
  if (!o) return CorruptAt(c, "Pool2DOptions missing");
  for (int v : {o->stride_h(), o->stride_w(), o->filter_height(), o->filter_width()}) {
    if (v < 1 || v > kMaxWindow) return CorruptAt(c, "window or stride out of range");
  }
  EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(c, xi));
  const Shape in = ShapeOf(x);
  if (in.size() != 4 || in[1] <= 0 || in[2] <= 0)
    return CorruptAt(c, "input is not a static NHWC tensor");
  graph::Attrs attrs;
  attrs.kernel_h = o->filter_height();
  attrs.kernel_w = o->filter_width();
  attrs.stride_h = o->stride_h();
  attrs.stride_w = o->stride_w();
  attrs.count_include_pad = false;  // TFLite averages over the valid cells only
  if (o->padding() == tfl::Padding::SAME) {
    std::tie(attrs.pad_top, attrs.pad_bottom) =
        SamePadding(in[1], attrs.kernel_h, attrs.stride_h, 1);
    std::tie(attrs.pad_left, attrs.pad_right) =
        SamePadding(in[2], attrs.kernel_w, attrs.stride_w, 1);
  } else if (o->padding() != tfl::Padding::VALID) {
    return CorruptAt(c, "unknown padding");
  }
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  const Shape& out = ShapeOf(y);
  if (out.size() != 4 || out[3] != in[3])
    return CorruptAt(c, "output " + ShapeToString(out) + " does not match the input channels");
  EV_RETURN_IF_ERROR(CheckWindowOutput(Where(c), in[1], attrs.kernel_h, attrs.stride_h, 1,
                                       attrs.pad_top, attrs.pad_bottom, out[1]));
  EV_RETURN_IF_ERROR(CheckWindowOutput(Where(c), in[2], attrs.kernel_w, attrs.stride_w, 1,
                                       attrs.pad_left, attrs.pad_right, out[2]));
  return EmitWithSeparateActivation(c, max ? Op::kMaxPool2D : Op::kAvgPool2D, {x}, y, attrs,
                                    o->fused_activation_function());
}

Status TfliteImporter::TranslateFullyConnected(const OpContext& c, const tfl::Operator& op) {
  const tfl::FullyConnectedOptions* o = op.builtin_options_as_FullyConnectedOptions();
  graph::Attrs attrs;
  if (o) {
    if (o->weights_format() != tfl::FullyConnectedOptionsWeightsFormat::DEFAULT) {
      return UnsupportedAt(c, "shuffled (quantized) weight format");
    }
    EV_RETURN_IF_ERROR(SetActivation(c, o->fused_activation_function(), &attrs));
  }
  EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(c, xi));
  EV_ASSIGN_OR_RETURN(int32_t wi, InputIndex(c, op, 1));
  EV_ASSIGN_OR_RETURN(ValueId w, ValueOf(c, wi));
  EV_ASSIGN_OR_RETURN(int32_t bi, InputIndex(c, op, 2, /*optional=*/true));
  const graph::Value& wv = graph_.values[w];
  if (!wv.is_constant || wv.dtype != graph::DataType::kFloat32 || wv.shape.size() != 2 ||
      wv.f32.empty()) {
    return UnsupportedAt(c, "weights must be a constant 2-D float tensor [O,K]");
  }
  const int64_t o_count = wv.shape[0], k = wv.shape[1];
  ValueId bid = graph::kNoValue;
  if (bi >= 0) {
    EV_ASSIGN_OR_RETURN(bid, ValueOf(c, bi));
    const graph::Value& bv = graph_.values[bid];
    if (!bv.is_constant || bv.dtype != graph::DataType::kFloat32 || bv.shape != Shape{o_count}) {
      return CorruptAt(c, "bias must be a constant float tensor [" + std::to_string(o_count) + "]");
    }
  }
  // TFLite flattens the input to [-1, K]; the graph's FullyConnected takes
  // [N,K] or [N,1,1,K], anything else gets an explicit Reshape.
  const Shape in = ShapeOf(x);
  int64_t elements = 1;
  for (size_t i = 1; i < in.size(); ++i) elements *= in[i];
  if (in.empty() || elements != k) {
    return CorruptAt(c,
                     "input " + ShapeToString(in) + " does not flatten to K=" + std::to_string(k));
  }
  if (o && o->keep_num_dims() && in.size() > 2)
    return UnsupportedAt(c, "keep_num_dims on a rank > 2 input");
  const bool direct = in.size() == 2 || (in.size() == 4 && in[1] == 1 && in[2] == 1);
  if (!direct) {
    const ValueId flat = graph_.AddActivation(c.name + "/flatten", Shape{-1, k});
    graph::Attrs r;
    r.ints = {-1, k};
    Emit(Op::kReshape, c.name + "/flatten", {x}, flat, r);
    x = flat;
  }
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  if (ShapeOf(y).size() != 2 || ShapeOf(y)[1] != o_count) {
    return CorruptAt(
        c, "output " + ShapeToString(ShapeOf(y)) + " is not [N," + std::to_string(o_count) + "]");
  }
  Emit(Op::kFullyConnected, c.name, {x, w, bid}, y, attrs);
  return Status::Ok();
}

Status TfliteImporter::TranslateBinary(const OpContext& c, const tfl::Operator& op, Op gop,
                                       tfl::ActivationFunctionType act) {
  EV_ASSIGN_OR_RETURN(int32_t ai, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(int32_t bi, InputIndex(c, op, 1));
  EV_ASSIGN_OR_RETURN(ValueId a, ValueOf(c, ai));
  EV_ASSIGN_OR_RETURN(ValueId b, ValueOf(c, bi));
  for (ValueId v : {a, b}) {
    if (graph_.values[v].dtype != graph::DataType::kFloat32) {
      return UnsupportedAt(c, "operand '" + graph_.values[v].name + "' is not float32");
    }
  }
  graph::Attrs attrs;
  EV_RETURN_IF_ERROR(SetActivation(c, act, &attrs));
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  Emit(gop, c.name, {a, b}, y, attrs);
  return Status::Ok();
}

Status TfliteImporter::TranslateUnary(const OpContext& c, const tfl::Operator& op, Op gop,
                                      graph::Attrs attrs) {
  EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(c, xi));
  if (graph_.values[x].dtype != graph::DataType::kFloat32)
    return UnsupportedAt(c, "operand is not float32");
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  Emit(gop, c.name, {x}, y, std::move(attrs));
  return Status::Ok();
}

Status TfliteImporter::TranslateConcat(const OpContext& c, const tfl::Operator& op) {
  const tfl::ConcatenationOptions* o = op.builtin_options_as_ConcatenationOptions();
  if (!o) return CorruptAt(c, "ConcatenationOptions missing");
  if (!op.inputs() || op.inputs()->size() == 0) return CorruptAt(c, "no inputs");
  std::vector<ValueId> xs;
  for (flatbuffers::uoffset_t i = 0; i < op.inputs()->size(); ++i) {
    EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, static_cast<int>(i)));
    EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(c, xi));
    xs.push_back(x);
  }
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  const int64_t rank = static_cast<int64_t>(ShapeOf(y).size());
  int64_t axis = o->axis();
  if (axis < -rank || axis >= rank)
    return CorruptAt(c, "axis " + std::to_string(axis) + " out of range");
  graph::Attrs attrs;
  attrs.axis = static_cast<int>(axis < 0 ? axis + rank : axis);
  return EmitWithSeparateActivation(c, Op::kConcat, std::move(xs), y, attrs,
                                    o->fused_activation_function());
}

// RESHAPE and SQUEEZE: the target is the file's output shape with the batch
// made -1.
Status TfliteImporter::TranslateReshape(const OpContext& c, const tfl::Operator& op) {
  EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(c, xi));
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  const Shape in = ShapeOf(x);
  const Shape& out = ShapeOf(y);
  int64_t in_count = 1, out_count = 1;
  for (size_t i = in.size() >= 2 ? 1 : 0; i < in.size(); ++i) in_count *= in[i];
  for (size_t i = out.size() >= 2 ? 1 : 0; i < out.size(); ++i) out_count *= out[i];
  if (out.empty() || in_count != out_count || (in.size() >= 2) != (out.size() >= 2)) {
    return UnsupportedAt(c, "reshape " + ShapeToString(in) + " -> " + ShapeToString(out) +
                                " (only reshapes that keep the batch are supported)");
  }
  graph::Attrs attrs;
  attrs.ints = out;
  Emit(Op::kReshape, c.name, {x}, y, attrs);
  return Status::Ok();
}

Status TfliteImporter::TranslateMean(const OpContext& c, const tfl::Operator& op) {
  const tfl::ReducerOptions* o = op.builtin_options_as_ReducerOptions();
  EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(c, xi));
  EV_ASSIGN_OR_RETURN(ConstTensor axes, ConstInput(c, op, 1));
  if (axes.is_float || axes.shape.size() > 1 || axes.i.size() > static_cast<size_t>(kMaxRank)) {
    return CorruptAt(c, "axes must be a small integer tensor");
  }
  const int64_t rank = static_cast<int64_t>(ShapeOf(x).size());
  graph::Attrs attrs;
  attrs.keep_dims = o && o->keep_dims();
  for (int64_t a : axes.i) {
    if (a < -rank || a >= rank) return CorruptAt(c, "axis " + std::to_string(a) + " out of range");
    attrs.ints.push_back(a < 0 ? a + rank : a);
  }
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  Emit(Op::kReduceMean, c.name, {x}, y, attrs);
  return Status::Ok();
}

Status TfliteImporter::TranslatePad(const OpContext& c, const tfl::Operator& op, bool v2) {
  EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(c, xi));
  EV_ASSIGN_OR_RETURN(ConstTensor pads, ConstInput(c, op, 1));
  const int64_t rank = static_cast<int64_t>(ShapeOf(x).size());
  if (pads.is_float || pads.shape != Shape{rank, 2}) {
    return CorruptAt(c, "paddings must be an integer [" + std::to_string(rank) + ",2] tensor");
  }
  graph::Attrs attrs;
  if (v2) {
    EV_ASSIGN_OR_RETURN(int32_t vi, InputIndex(c, op, 2, /*optional=*/true));
    if (vi >= 0) {
      EV_ASSIGN_OR_RETURN(ConstTensor value, ConstOf(c, vi));
      if (!value.is_float || value.f.size() != 1)
        return CorruptAt(c, "constant_values must be one float");
      attrs.pad_value = value.f[0];
    }
  }
  Result<std::vector<int64_t>> ints = PadsFromPairs(pads.i, rank);
  if (!ints.ok()) return ints.status().WithContext(Where(c));
  attrs.ints = std::move(ints).value();
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  Emit(Op::kPad, c.name, {x}, y, attrs);
  return Status::Ok();
}

// DEQUANTIZE of a float16 constant (the TensorFlowLiteFloat16 flavour): the
// output tensor becomes a float32 constant; no graph node.
Status TfliteImporter::TranslateDequantize(const OpContext& c, const tfl::Operator& op) {
  EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(const tfl::Tensor* t, TensorAt(xi));
  if (t->type() != tfl::TensorType::FLOAT16) {
    return UnsupportedAt(c, std::string("dequantizing ") + tfl::EnumNameTensorType(t->type()) +
                                " (integer-quantized models are not supported)");
  }
  EV_ASSIGN_OR_RETURN(ConstTensor k, ReadConst(c, xi));
  if (!op.outputs() || op.outputs()->size() != 1) return CorruptAt(c, "needs one output");
  const int32_t oi = op.outputs()->Get(0);
  EV_ASSIGN_OR_RETURN(const tfl::Tensor* ot, TensorAt(oi));
  EV_ASSIGN_OR_RETURN(Shape oshape, TensorShape(*ot));
  if (ot->type() != tfl::TensorType::FLOAT32 || oshape != k.shape) {
    return CorruptAt(c, "output does not match the float16 constant's shape");
  }
  if (tensor_value_[oi] != graph::kNoValue) return CorruptAt(c, "output tensor produced twice");
  tensor_value_[oi] = graph_.AddConstant(TensorName(*ot), k.shape, std::move(k.f));
  ++dequantized_;
  return Status::Ok();
}

// TRANSPOSE by a constant permutation.
Status TfliteImporter::TranslateTranspose(const OpContext& c, const tfl::Operator& op) {
  EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(c, xi));
  EV_ASSIGN_OR_RETURN(ConstTensor perm, ConstInput(c, op, 1));
  const int64_t rank = static_cast<int64_t>(ShapeOf(x).size());
  if (perm.is_float || perm.shape.size() != 1 || perm.shape[0] != rank) {
    return CorruptAt(c, "permutation must be an integer [" + std::to_string(rank) + "] tensor");
  }
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  for (int64_t p : perm.i) {
    if (p < 0 || p >= rank || seen[p]) return CorruptAt(c, "permutation is not one");
    seen[p] = true;
  }
  graph::Attrs attrs;
  attrs.ints = perm.i;
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  Emit(Op::kTranspose, c.name, {x}, y, attrs);
  return Status::Ok();
}

// SLICE by constant begin and size (size -1: to the end of the axis).
Status TfliteImporter::TranslateSlice(const OpContext& c, const tfl::Operator& op) {
  EV_ASSIGN_OR_RETURN(int32_t xi, InputIndex(c, op, 0));
  EV_ASSIGN_OR_RETURN(ValueId x, ValueOf(c, xi));
  EV_ASSIGN_OR_RETURN(ConstTensor begin, ConstInput(c, op, 1));
  EV_ASSIGN_OR_RETURN(ConstTensor size, ConstInput(c, op, 2));
  const Shape in = ShapeOf(x);
  const int64_t rank = static_cast<int64_t>(in.size());
  for (const ConstTensor* t : {&begin, &size}) {
    if (t->is_float || t->shape.size() != 1 || t->shape[0] != rank) {
      return CorruptAt(c, "begin and size must be integer [" + std::to_string(rank) + "] tensors");
    }
  }
  graph::Attrs attrs;
  attrs.ints.resize(static_cast<size_t>(2 * rank));
  for (int64_t d = 0; d < rank; ++d) {
    const int64_t b = begin.i[d], n = size.i[d];
    const bool batch = d == 0 && in[0] < 0;
    if (batch) {  // the batch axis: the whole of it, whatever the file wrote
      if (b != 0) return UnsupportedAt(c, "slicing the batch axis");
      attrs.ints[d] = 0;
      attrs.ints[rank + d] = -1;
      continue;
    }
    if (b < 0 || b >= in[d] || n == 0 || n < -1 || (n > 0 && n > in[d] - b)) {
      return CorruptAt(c, "begin " + std::to_string(b) + " size " + std::to_string(n) +
                              " do not fit axis " + std::to_string(d) + " of " + ShapeToString(in));
    }
    attrs.ints[d] = b;
    attrs.ints[rank + d] = n;
  }
  EV_ASSIGN_OR_RETURN(ValueId y, NewOutput(c, op));
  Emit(Op::kSlice, c.name, {x}, y, attrs);
  return Status::Ok();
}

Status TfliteImporter::Translate(int index, const tfl::Operator& op) {
  const auto* codes = model_.operator_codes();
  if (!codes || op.opcode_index() >= codes->size()) {
    return Corrupt(label_ + ": operator #" + std::to_string(index) + " has opcode index " +
                   std::to_string(op.opcode_index()) + " out of range");
  }
  const tfl::OperatorCode* code = codes->Get(op.opcode_index());
  const int32_t builtin = tflite_tail::BuiltinCode(*code);
  OpContext c{index, BuiltinName(builtin), ""};
  if (builtin == static_cast<int32_t>(tfl::BuiltinOperator::CUSTOM)) {
    c.op = "CUSTOM:" + (code->custom_code() ? code->custom_code()->str() : std::string("?"));
  }
  ++source_ops_[c.op];
  if (op.outputs() && op.outputs()->size() > 0) {
    EV_ASSIGN_OR_RETURN(const tfl::Tensor* t, TensorAt(op.outputs()->Get(0)));
    c.name = TensorName(*t);
  }
  using B = tfl::BuiltinOperator;
  switch (static_cast<B>(builtin)) {
    case B::CONV_2D:
    case B::DEPTHWISE_CONV_2D: {
      if (first_conv_op_ < 0) {
        first_conv_op_ = index;
        first_conv_reads_input_ =
            op.inputs() && op.inputs()->size() > 0 && op.inputs()->Get(0) == input_tensor_;
      }
      return TranslateConv(c, op, builtin == static_cast<int32_t>(B::DEPTHWISE_CONV_2D));
    }
    case B::MAX_POOL_2D: return TranslatePool(c, op, true);
    case B::AVERAGE_POOL_2D: return TranslatePool(c, op, false);
    case B::FULLY_CONNECTED: return TranslateFullyConnected(c, op);
    case B::CONCATENATION: return TranslateConcat(c, op);
    case B::ADD: {
      const auto* o = op.builtin_options_as_AddOptions();
      return TranslateBinary(
          c, op, Op::kAdd, o ? o->fused_activation_function() : tfl::ActivationFunctionType::NONE);
    }
    case B::SUB: {
      const auto* o = op.builtin_options_as_SubOptions();
      return TranslateBinary(
          c, op, Op::kSub, o ? o->fused_activation_function() : tfl::ActivationFunctionType::NONE);
    }
    case B::MUL: {
      const auto* o = op.builtin_options_as_MulOptions();
      return TranslateBinary(
          c, op, Op::kMul, o ? o->fused_activation_function() : tfl::ActivationFunctionType::NONE);
    }
    case B::DIV: {
      const auto* o = op.builtin_options_as_DivOptions();
      return TranslateBinary(
          c, op, Op::kDiv, o ? o->fused_activation_function() : tfl::ActivationFunctionType::NONE);
    }
    case B::RESHAPE:
    case B::SQUEEZE: return TranslateReshape(c, op);
    case B::LOGISTIC: return TranslateUnary(c, op, Op::kSigmoid);
    case B::SOFTMAX: {
      const auto* o = op.builtin_options_as_SoftmaxOptions();
      if (o && o->beta() != 1.0f)
        return UnsupportedAt(c, "softmax beta " + std::to_string(o->beta()));
      graph::Attrs a;
      a.axis = -1;
      return TranslateUnary(c, op, Op::kSoftmax, a);
    }
    case B::RELU: return TranslateUnary(c, op, Op::kRelu);
    case B::RELU6:
    case B::RELU_N1_TO_1: {
      graph::Attrs a;
      a.act_min = builtin == static_cast<int32_t>(B::RELU6) ? 0.0f : -1.0f;
      a.act_max = builtin == static_cast<int32_t>(B::RELU6) ? 6.0f : 1.0f;
      return TranslateUnary(c, op, Op::kClamp, a);
    }
    case B::HARD_SWISH: return TranslateUnary(c, op, Op::kHardSwish);
    case B::LEAKY_RELU: {
      const auto* o = op.builtin_options_as_LeakyReluOptions();
      graph::Attrs a;
      a.alpha = o ? o->alpha() : 0.0f;
      return TranslateUnary(c, op, Op::kLeakyRelu, a);
    }
    case B::MEAN: return TranslateMean(c, op);
    case B::PAD: return TranslatePad(c, op, false);
    case B::PADV2: return TranslatePad(c, op, true);
    case B::DEQUANTIZE: return TranslateDequantize(c, op);
    case B::TRANSPOSE: return TranslateTranspose(c, op);
    case B::SLICE: return TranslateSlice(c, op);
    case B::MIRROR_PAD:
      return UnsupportedAt(c, "MIRROR_PAD (reflect/symmetric padding) is not supported");
    case B::QUANTIZE: return UnsupportedAt(c, "integer-quantized models are not supported");
    default: return UnsupportedAt(c, "op " + c.op + " is not supported");
  }
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
  std::vector<ValueId> parts;
  size_t offset = 0;
  std::string packed_names;
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
    parts.push_back(y);
    tail.inputs.push_back({name(b), shape, offset});
    offset += static_cast<size_t>(n);
    packed_names += (packed_names.empty() ? "'" : ", '") + TensorName(*t) + "' " + ShapeToString(shape);
  }
  if (parts.empty()) return Unsupported(label_ + ": NON_MAX_SUPPRESSION reads nothing the network computes");
  ValueId packed = parts[0];
  if (parts.size() > 1) {
    graph::Attrs concat;
    concat.axis = 1;
    packed = graph_.AddActivation("s1_nms_inputs_packed", Shape{1, static_cast<int64_t>(offset)});
    Emit(Op::kConcat, "s1_nms_inputs_packed", parts, packed, concat);
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
      "split the S1 detector at NON_MAX_SUPPRESSION: the engine runs the network up to " + packed_names +
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

}  // namespace

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
  options.max_depth = kMaxTableDepth;
  options.max_tables = kMaxTables;
  flatbuffers::Verifier verifier(data.data(), data.size(), options);
  if (!tfl::VerifyModelBuffer(verifier)) {
    return Corrupt(file_label + ": TFLite flatbuffer failed verification (truncated or corrupt)");
  }
  TfliteImporter importer(*tfl::GetModel(data.data()), data, file_label);
  return importer.Run();
}

}  // namespace edgevision::model
