// The TFLite importer's internals, shared by its translation units (not part
// of the model module's interface: model/importer.h is):
//   tflite_importer.cc    the file's checks, tensors and constants, IR
//                         building, types, generation, the S1 boundary, Run;
//   tflite_translate.cc   the operators: dispatch (Translate) and one
//                         translator per op family.
// tflite_importer.cc's opening comment explains the translation as a whole;
// the S1 detectors' tail is tflite_detection_tail.h.
//
// Thread-safety: one TfliteImporter per import.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "model/import_common.h"
#include "model/importer.h"
#include "model/schemas/tflite_generated.h"
#include "model/tflite_detection_tail.h"

namespace edgevision::model::tflite_import {

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

// "CONV_2D", ...; "BUILTIN_<code>" for a code the schema does not name.
std::string BuiltinName(int32_t code);

// Translates one verified flatbuffer; one instance per import.
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

}  // namespace edgevision::model::tflite_import
