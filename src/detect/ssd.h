// "General (compact) [S1]" (SSD-style) detectors run NMS inside the model;
// their containers (Docker S1 2023 model.pb, Docker 2.2 model.tflite)
// format the three outputs and nothing else:
//   - every row the model outputs, in the model's order (no threshold, no cap);
//   - detected_boxes rows are [x1, y1, x2, y2] normalised; width and height
//     are x2 - x1 and y2 - y1 computed in float32;
//   - detected_classes is the tag index.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "detect/detection.h"
#include "detect/nms_tail.h"

namespace edgevision::detect {

// The three outputs, batch dimension dropped: boxes [N, 4], scores [N],
// classes [N] (int64 in ONNX and TensorFlow; convert float outputs with
// int() semantics, i.e. truncation, before calling).
struct SsdOutput {
  std::span<const float> boxes;
  std::span<const float> scores;
  std::span<const int64_t> classes;
};

// The three outputs of an S1 graph, read by name (detected_boxes,
// detected_scores, detected_classes; a ":0" suffix is allowed) from the
// tail's outputs, with or without a leading batch dimension of 1. Float
// classes are truncated to int64, as the containers' int() does.
struct SsdTensors {
  std::vector<float> boxes;
  std::vector<float> scores;
  std::vector<int64_t> classes;
  SsdOutput view() const { return {boxes, scores, classes}; }
};
// Errors: InvalidArgument naming a missing output or a shape that is not
// [N, 4] / [N] (after dropping the batch dimension).
Result<SsdTensors> SsdFromOutputs(const std::map<std::string, TailTensor>& outputs);

// Errors: InvalidArgument when the three outputs disagree on N, or a class
// index has no label (the container would fail the request with an
// IndexError, or wrap a negative index around; edgevision refuses both).
Result<std::vector<Detection>> PostprocessSsd(const SsdOutput& output, std::span<const std::string> labels);

}  // namespace edgevision::detect
