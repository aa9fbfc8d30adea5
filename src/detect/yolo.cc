#include "detect/yolo.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "detect/numpy_order.h"

namespace edgevision::detect {

namespace {

// object_detection.py's _logistic, in float32:
// np.where(x > 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x))).
float Logistic(float x) {
  if (x > 0) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

// The decoded grid: one box (float64, as numpy promotes it) and one row of
// class probabilities (float32) per (row, column, anchor), anchor fastest.
struct Candidates {
  std::vector<BoundingBox> boxes;
  std::vector<float> class_probs;  // boxes.size() x num_classes
  int num_classes = 0;
  float* probs(size_t i) { return class_probs.data() + i * num_classes; }
};

Status CheckShape(const YoloOutput& out, const YoloParams& params, size_t num_labels,
                  const YoloLimits& limits, int* num_classes) {
  const size_t num_anchors = params.anchors.size();
  if (num_anchors == 0) return InvalidArgument("no anchors");
  if (out.height <= 0 || out.width <= 0 || out.channels <= 0) {
    return InvalidArgument("detector output has an empty grid (" + std::to_string(out.height) + "x" +
                           std::to_string(out.width) + "x" + std::to_string(out.channels) + ")");
  }
  const int64_t cells = int64_t{out.height} * out.width;
  if (cells * static_cast<int64_t>(num_anchors) > limits.max_cells) {
    return ResourceExhausted("detector output grid " + std::to_string(out.height) + "x" +
                             std::to_string(out.width) + " with " + std::to_string(num_anchors) +
                             " anchors exceeds the limit of " + std::to_string(limits.max_cells) + " boxes");
  }
  if (static_cast<int64_t>(out.data.size()) != cells * out.channels) {
    return InvalidArgument("detector output has " + std::to_string(out.data.size()) + " values, expected " +
                           std::to_string(cells * out.channels));
  }
  if (out.channels % num_anchors != 0 || out.channels / static_cast<int>(num_anchors) <= 5) {
    return InvalidArgument("detector output has " + std::to_string(out.channels) +
                           " channels, not a multiple of " + std::to_string(num_anchors) +
                           " anchors x (5 + classes)");
  }
  *num_classes = out.channels / static_cast<int>(num_anchors) - 5;
  if (*num_classes > limits.max_classes) {
    return ResourceExhausted("detector output has " + std::to_string(*num_classes) + " classes, more than " +
                             std::to_string(limits.max_classes));
  }
  if (static_cast<size_t>(*num_classes) != num_labels) {
    return InvalidArgument("detector output has " + std::to_string(*num_classes) + " classes but there are " +
                           std::to_string(num_labels) + " labels");
  }
  if (!(params.probability_threshold >= 0 && params.probability_threshold <= 1) ||
      !(params.iou_threshold >= 0 && params.iou_threshold <= 1) || params.max_detections < 0) {
    return InvalidArgument("detection thresholds must be in [0, 1] and the cap not negative");
  }
  for (float v : out.data) {
    if (!std::isfinite(v)) return Internal("the detector output a non-finite value");
  }
  return Status::Ok();
}

// ObjectDetection._extract_bb.
Candidates Decode(const YoloOutput& out, const YoloParams& params, int num_classes, SumOrder sum_order) {
  const int num_anchors = static_cast<int>(params.anchors.size());
  const int per_anchor = 5 + num_classes;
  const size_t plane = static_cast<size_t>(out.height) * out.width;
  Candidates c;
  c.num_classes = num_classes;
  c.boxes.resize(plane * num_anchors);
  c.class_probs.resize(c.boxes.size() * num_classes);
  std::vector<float> logits(num_classes);
  for (int row = 0; row < out.height; ++row) {
    for (int col = 0; col < out.width; ++col) {
      const size_t cell = static_cast<size_t>(row) * out.width + col;
      // Channel k of this cell: HWC is contiguous, CHW strides by a plane.
      auto at = [&](int k) {
        return out.layout == GridLayout::kHWC ? out.data[cell * out.channels + k] : out.data[k * plane + cell];
      };
      for (int a = 0; a < num_anchors; ++a) {
        const int base = a * per_anchor;
        const size_t i = cell * num_anchors + a;
        // float32 sigmoid/exp, then float64 arithmetic (numpy promotes with
        // np.arange and the float64 anchors).
        const double x = (static_cast<double>(Logistic(at(base + 0))) + col) / out.width;
        const double y = (static_cast<double>(Logistic(at(base + 1))) + row) / out.height;
        const double w = static_cast<double>(std::exp(at(base + 2))) * params.anchors[a][0] / out.width;
        const double h = static_cast<double>(std::exp(at(base + 3))) * params.anchors[a][1] / out.height;
        c.boxes[i] = {x - w / 2, y - h / 2, w, h};

        const float objectness = Logistic(at(base + 4));
        float max_logit = at(base + 5);
        for (int k = 0; k < num_classes; ++k) {
          logits[k] = at(base + 5 + k);
          max_logit = std::max(max_logit, logits[k]);
        }
        for (int k = 0; k < num_classes; ++k) logits[k] = std::exp(logits[k] - max_logit);
        float sum = logits[0];
        if (sum_order == SumOrder::kNumpyPairwise) {
          sum = NumpyPairwiseSum(logits);
        } else {
          for (int k = 1; k < num_classes; ++k) sum += logits[k];
        }
        float* probs = c.probs(i);
        for (int k = 0; k < num_classes; ++k) probs[k] = logits[k] / sum * objectness;
      }
    }
  }
  return c;
}

// np.amax / np.argmax over one row: the first maximum.
int ArgMax(const float* row, int n) {
  int best = 0;
  for (int k = 1; k < n; ++k) {
    if (row[k] > row[best]) best = k;
  }
  return best;
}

}  // namespace

Result<std::vector<Detection>> PostprocessYolo(const YoloOutput& output, const YoloParams& params,
                                               std::span<const std::string> labels, SumOrder sum_order,
                                               const YoloLimits& limits) {
  int num_classes = 0;
  EV_RETURN_IF_ERROR(CheckShape(output, params, labels.size(), limits, &num_classes));
  Candidates all = Decode(output, params, num_classes, sum_order);

  // postprocess: keep max_probs > threshold (numpy compares a float32 array
  // with a Python float in float32), sorted by (-max_probs).argsort().
  const float threshold32 = static_cast<float>(params.probability_threshold);
  std::vector<int64_t> kept;
  std::vector<float> neg_max;
  for (size_t i = 0; i < all.boxes.size(); ++i) {
    const float* row = all.probs(i);
    const float best = row[ArgMax(row, num_classes)];
    if (best > threshold32) {
      const BoundingBox& b = all.boxes[i];
      if (!std::isfinite(b.width) || !std::isfinite(b.height)) {
        return Internal("the detector output a box too large to represent (exp overflow in width or height)");
      }
      kept.push_back(static_cast<int64_t>(i));
      neg_max.push_back(-best);
    }
  }
  std::vector<int64_t> order(kept.size());
  NumpyArgsort(neg_max, order);

  // _non_maximum_suppression on the kept rows, in that order.
  const size_t n = kept.size();
  std::vector<BoundingBox> boxes(n);
  std::vector<float> probs(n * num_classes);
  std::vector<float> max_probs(n);
  std::vector<int> max_classes(n);
  std::vector<double> areas(n);
  for (size_t j = 0; j < n; ++j) {
    const size_t src = static_cast<size_t>(kept[order[j]]);
    boxes[j] = all.boxes[src];
    std::copy_n(all.probs(src), num_classes, probs.data() + j * num_classes);
    max_classes[j] = ArgMax(probs.data() + j * num_classes, num_classes);
    max_probs[j] = probs[j * num_classes + max_classes[j]];
    areas[j] = boxes[j].width * boxes[j].height;
  }

  std::vector<Detection> selected;
  const size_t cap = std::min(static_cast<size_t>(params.max_detections), n);
  std::vector<size_t> overlapping;
  while (selected.size() < cap) {
    const size_t i = static_cast<size_t>(ArgMax(max_probs.data(), static_cast<int>(n)));
    // `max_probs[i] < self.prob_threshold`: a numpy float32 scalar against a
    // Python float compares in float64.
    if (static_cast<double>(max_probs[i]) < params.probability_threshold) break;
    const int cls = max_classes[i];
    const BoundingBox& box = boxes[i];
    selected.push_back({box, max_probs[i], cls, labels[cls]});

    overlapping.clear();
    for (size_t o = 0; o < n; ++o) {
      if (o == i) continue;
      const BoundingBox& other = boxes[o];
      const double x1 = std::max(box.left, other.left);
      const double y1 = std::max(box.top, other.top);
      const double x2 = std::min(box.left + box.width, other.left + other.width);
      const double y2 = std::min(box.top + box.height, other.top + other.height);
      const double w = std::max(0.0, x2 - x1);
      const double h = std::max(0.0, y2 - y1);
      const double overlap = w * h;
      const double iou = overlap / (areas[i] + areas[o] - overlap);
      if (iou > params.iou_threshold) overlapping.push_back(o);
    }
    overlapping.push_back(i);
    for (size_t o : overlapping) {
      float* row = probs.data() + o * num_classes;
      row[cls] = 0;
      max_classes[o] = ArgMax(row, num_classes);
      max_probs[o] = row[max_classes[o]];
    }
  }
  return selected;
}

}  // namespace edgevision::detect
