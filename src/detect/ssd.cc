#include "detect/ssd.h"

namespace edgevision::detect {

Result<std::vector<Detection>> PostprocessSsd(const SsdOutput& output, std::span<const std::string> labels) {
  const size_t n = output.scores.size();
  if (output.boxes.size() != n * 4 || output.classes.size() != n) {
    return InvalidArgument("detector outputs disagree: " + std::to_string(output.boxes.size()) +
                           " box values, " + std::to_string(n) + " scores, " +
                           std::to_string(output.classes.size()) + " classes");
  }
  std::vector<Detection> detections;
  detections.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t cls = output.classes[i];
    if (cls < 0 || static_cast<uint64_t>(cls) >= labels.size()) {
      return InvalidArgument("detector output class " + std::to_string(cls) + " has no label (" +
                             std::to_string(labels.size()) + " labels)");
    }
    const float* b = output.boxes.data() + i * 4;
    Detection d;
    d.box.left = b[0];
    d.box.top = b[1];
    d.box.width = b[2] - b[0];  // float32 subtraction, as numpy does on the float32 row
    d.box.height = b[3] - b[1];
    d.probability = output.scores[i];
    d.tag_index = static_cast<int>(cls);
    d.tag = labels[static_cast<size_t>(cls)];
    detections.push_back(std::move(d));
  }
  return detections;
}

}  // namespace edgevision::detect
