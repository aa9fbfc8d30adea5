// What the TensorFlow and TFLite importers share when they translate an S1
// detector's tail into detect::TailNodes (model/tf_detection_tail.cc,
// model/tflite_detection_tail.cc): constants as tail tensors, and the ONNX
// type codes the tail's Cast takes.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "detect/nms_tail.h"
#include "model/import_common.h"

namespace edgevision::model {

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
