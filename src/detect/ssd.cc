#include "detect/ssd.h"

#include <cmath>
#include <string_view>

namespace edgevision::detect {
namespace {

const TailTensor* Named(const std::map<std::string, TailTensor>& outputs, std::string_view want) {
  for (const auto& [name, t] : outputs) {
    const std::string_view n = std::string_view(name).substr(0, name.rfind(':'));
    if (n == want) return &t;
  }
  return nullptr;
}

// The shape without a leading batch dimension of 1 (when it has `rank` + 1 dims).
std::vector<int64_t> Unbatched(const std::vector<int64_t>& shape, size_t rank) {
  if (shape.size() == rank + 1 && shape[0] == 1) return {shape.begin() + 1, shape.end()};
  return shape;
}

}  // namespace

Result<SsdTensors> SsdFromOutputs(const std::map<std::string, TailTensor>& outputs) {
  const TailTensor* boxes = Named(outputs, "detected_boxes");
  const TailTensor* scores = Named(outputs, "detected_scores");
  const TailTensor* classes = Named(outputs, "detected_classes");
  if (!boxes || !scores || !classes) {
    return InvalidArgument("the detector does not output detected_boxes, detected_scores and detected_classes");
  }
  const std::vector<int64_t> bs = Unbatched(boxes->shape, 2), ss = Unbatched(scores->shape, 1),
                             cs = Unbatched(classes->shape, 1);
  if (bs.size() != 2 || bs[1] != 4 || ss.size() != 1 || cs.size() != 1 || boxes->is_int || scores->is_int) {
    return InvalidArgument("detected_boxes, detected_scores and detected_classes are not float [N, 4], float [N] "
                           "and [N]");
  }
  SsdTensors t;
  t.boxes = boxes->f;
  t.scores = scores->f;
  if (classes->is_int) {
    t.classes = classes->i;
  } else {
    for (float v : classes->f) {
      if (!std::isfinite(v) || std::fabs(v) > 1e9f) return InvalidArgument("detected_classes holds a non-class value");
      t.classes.push_back(static_cast<int64_t>(v));
    }
  }
  return t;
}

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
