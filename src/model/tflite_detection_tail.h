// The TFLite importer's S1 split (see detect/nms_tail.h), as the ONNX and
// TensorFlow importers': a subgraph that runs TFLite's builtin
// NON_MAX_SUPPRESSION_V4 or V5 is cut where its float network ends.
//
// The tail is every operator that runs an op the engine has none for (NMS,
// GATHER, GATHER_ND, TOPK_V2, SHAPE, CAST), every operator that reads one of
// those, and every shape-only operator (RESHAPE, SQUEEZE, EXPAND_DIMS,
// CONCATENATION, SLICE, TRANSPOSE) whose outputs only the tail reads; the
// operators before it go to the engine, and the tensors the tail reads from
// them (the boundary) are packed into the engine graph's one output. Each
// tail operator becomes detect::TailNodes: TFLite's NMS keeps its own kernel
// (detect::kTfliteNmsOp), the others map to their ONNX counterparts.
// TFLite_Detection_PostProcess (the custom op of the TF Object Detection
// API's SSD exports) is refused naming it: its outputs ([1,N,4], float
// classes, named after the op) are not what the 2024 Docker 2.2 S1
// container reads (docs/models.md).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"
#include "detect/nms_tail.h"
#include "model/import_common.h"
#include "model/schemas/tflite_generated.h"

namespace edgevision::model::tflite_tail {

namespace tfl = ::edgevision::tflite;

// The op an OperatorCode names: files since schema 3a carry it in
// builtin_code, older ones only in the deprecated byte; TensorFlow takes the
// larger of the two.
int32_t BuiltinCode(const tfl::OperatorCode& code);

struct Split {
  std::vector<bool> tail;          // per operator of the subgraph
  std::vector<int32_t> boundary;   // tensors the tail reads from the network, in first-use order
};

// nullopt when no operator is NON_MAX_SUPPRESSION_V4/V5. Unsupported when
// an S1 output does not come through NMS, or the tail reads the image input.
Result<std::optional<Split>> FindTail(const tfl::Model& model, const tfl::SubGraph& sg,
                                      const std::string& label);

// The tail's name for tensor `index`: its name, made unique with "#index"
// when another tensor has the same one.
class TensorNames {
 public:
  explicit TensorNames(const tfl::SubGraph& sg);
  std::string operator()(int32_t index) const;

 private:
  const tfl::SubGraph& sg_;
  std::vector<bool> shared_;
};

// Reads constant tensor `tensor` for operator `op_index` (messages).
using ConstReader = std::function<Result<ConstTensor>(int op_index, int32_t tensor)>;

// Adds the tail operators' nodes, the constants they read and the
// subgraph's outputs to `tail` (whose inputs, the boundary, the caller
// sets). Unsupported naming the operator and op for anything else.
Status TranslateTail(const tfl::Model& model, const tfl::SubGraph& sg, const Split& split,
                     const ConstReader& read_const, const std::string& label,
                     detect::TailGraph* tail);

}  // namespace edgevision::model::tflite_tail
