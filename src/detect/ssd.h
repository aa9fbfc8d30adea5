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
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "detect/detection.h"

namespace edgevision::detect {

// The three outputs, batch dimension dropped: boxes [N, 4], scores [N],
// classes [N] (int64 in ONNX and TensorFlow; convert float outputs with
// int() semantics, i.e. truncation, before calling).
struct SsdOutput {
  std::span<const float> boxes;
  std::span<const float> scores;
  std::span<const int64_t> classes;
};

// Errors: InvalidArgument when the three outputs disagree on N, or a class
// index has no label (the container would fail the request with an
// IndexError, or wrap a negative index around; edgevision refuses both).
Result<std::vector<Detection>> PostprocessSsd(const SsdOutput& output, std::span<const std::string> labels);

}  // namespace edgevision::detect
