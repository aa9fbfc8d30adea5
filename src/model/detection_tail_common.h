// What the importers share when they split an S1 detector at its
// NonMaxSuppression: the packing of the boundary into the engine graph's one
// output (ONNX, TensorFlow and TFLite: model/onnx_detection_tail.cc,
// model/tf_detection_tail.cc, model/tflite_importer.cc); and, when the
// TensorFlow and TFLite importers translate the tail into detect::TailNodes
// (model/tflite_detection_tail.cc), constants as tail tensors and the ONNX
// type codes the tail's Cast takes.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "detect/nms_tail.h"
#include "model/import_common.h"

namespace edgevision::model {

// The engine graph's one output in an S1 split: every tensor the tail reads
// from the network (the boundary), flattened, end to end.
inline constexpr char kPackedBoundaryName[] = "s1_nms_inputs_packed";

// The boundary as an importer packs it: the importer flattens each boundary
// tensor to [1, n] in its own graph and adds it here, in boundary order; with
// several parts it then concatenates them (axis 1) into kPackedBoundaryName.
struct PackedBoundary {
  std::vector<graph::ValueId> parts;  // the flattened tensors
  size_t size = 0;                    // their elements: the next part's offset
  std::string names;                  // "'a' [1,2], 'b' [3]", for the import log

  // Adds `flat`, the static `shape` flattened, as the tail's input `name`
  // (shown as `shown` in `names`) at offset `size`.
  void Add(detect::TailGraph* tail, const std::string& name, const std::string& shown, const graph::Shape& shape,
           graph::ValueId flat, bool float16 = false);
};

// ONNX TensorProto data types for the tail's Cast `to`.
inline constexpr int64_t kTailCastFloat = 1;
inline constexpr int64_t kTailCastInt64 = 7;
inline constexpr int64_t kTailCastBool = 9;

// A constant read from the file, as a tail tensor (float32, or integers as int64).
detect::TailTensor ToTailTensor(ConstTensor c);

// Adds `c` to tail->constants under `key` unless a constant of that name is
// already there. Returns `key`.
std::string AddTailConstant(detect::TailGraph* tail, const std::string& key, ConstTensor c);

// Adds the int64 vector `values` ([values.size()]) to tail->constants under
// `key`, replacing any of that name. Returns `key`.
std::string AddTailIntConstant(detect::TailGraph* tail, const std::string& key, std::vector<int64_t> values);

}  // namespace edgevision::model
