// See combined_nms.h.
#include "detect/combined_nms.h"

#include <algorithm>
#include <string>

namespace edgevision::detect {
namespace {

std::string ShapeText(const std::vector<int64_t>& s) {
  std::string t = "[";
  for (size_t k = 0; k < s.size(); ++k) t += (k ? "," : "") + std::to_string(s[k]);
  return t + "]";
}

}  // namespace

Result<std::vector<TailTensor>> TensorFlowCombinedNms(const TailTensor& boxes, const TailTensor& scores,
                                                      const CombinedNmsParams& p) {
  if (boxes.is_int || scores.is_int)
    return InvalidArgument("CombinedNonMaxSuppression: boxes and scores must be float");
  if (boxes.shape.size() != 4 || boxes.shape[3] != 4 || scores.shape.size() != 3 || scores.shape[0] != boxes.shape[0] ||
      scores.shape[1] != boxes.shape[1] || (boxes.shape[2] != 1 && boxes.shape[2] != scores.shape[2])) {
    return InvalidArgument("CombinedNonMaxSuppression: boxes " + ShapeText(boxes.shape) + " and scores " +
                           ShapeText(scores.shape) + " are not [B, N, 1 or C, 4] and [B, N, C]");
  }
  if (p.max_total_size <= 0) return InvalidArgument("CombinedNonMaxSuppression: max_total_size must be > 0");
  if (p.max_output_size_per_class < 0)
    return InvalidArgument("CombinedNonMaxSuppression: max_output_size_per_class must be >= 0");
  if (!(p.iou_threshold >= 0.0f && p.iou_threshold <= 1.0f))
    return InvalidArgument("CombinedNonMaxSuppression: iou_threshold must be in [0, 1]");
  const int64_t batches = boxes.shape[0], n = boxes.shape[1], q = boxes.shape[2], classes = scores.shape[2];
  const int64_t per_batch =
      p.pad_per_class ? std::min(p.max_total_size, p.max_output_size_per_class * classes) : p.max_total_size;
  if (batches * per_batch * 4 > kMaxTailTensorElements)
    return InvalidArgument("CombinedNonMaxSuppression: the outputs would exceed the tail's size limit");

  // The kernel's structs and comparators, so that std::sort leaves equal
  // scores where TensorFlow's std::sort does.
  struct Candidate {
    int box_index;
    float score;
  };
  struct ResultCandidate {
    int box_index;
    float score;
    int class_idx;
    float box_coord[4];
  };
  auto cmp = [](const Candidate a, const Candidate b) { return a.score > b.score; };
  auto rc_cmp = [](const ResultCandidate& a, const ResultCandidate& b) { return a.score > b.score; };

  TailTensor out_boxes, out_scores, out_classes, valid;
  out_boxes.shape = {batches, per_batch, 4};
  out_scores.shape = out_classes.shape = {batches, per_batch};
  out_boxes.f.assign(static_cast<size_t>(batches * per_batch * 4), 0.0f);
  out_scores.f.assign(static_cast<size_t>(batches * per_batch), 0.0f);
  out_classes.f.assign(static_cast<size_t>(batches * per_batch), 0.0f);
  valid.is_int = true;
  valid.shape = {batches};
  const int64_t size_per_class = std::min(p.max_output_size_per_class, n);
  for (int64_t b = 0; b < batches; ++b) {
    const float* box_data = boxes.f.data() + b * n * q * 4;
    const float* score_data = scores.f.data() + b * n * classes;
    std::vector<ResultCandidate> results;
    for (int64_t c = 0; c < classes; ++c) {
      const int64_t column = q > 1 ? c : 0;
      auto box = [&](int64_t i) { return box_data + (i * q + column) * 4; };
      std::vector<Candidate> candidates;
      for (int64_t i = 0; i < n; ++i) {
        const float s = score_data[i * classes + c];
        if (s > p.score_threshold) candidates.push_back({static_cast<int>(i), s});
      }
      std::sort(candidates.begin(), candidates.end(), cmp);
      std::vector<int> selected;
      for (size_t k = 0; static_cast<int64_t>(selected.size()) < size_per_class && k < candidates.size(); ++k) {
        const Candidate next = candidates[k];
        bool keep = true;
        for (size_t j = selected.size(); j > 0 && keep; --j) {
          keep = !(TensorFlowIou(box(next.box_index), box(selected[j - 1])) > p.iou_threshold);
        }
        if (!keep) continue;
        selected.push_back(next.box_index);
        const float* xy = box(next.box_index);
        results.push_back({next.box_index, next.score, static_cast<int>(c), {xy[0], xy[1], xy[2], xy[3]}});
      }
    }
    std::sort(results.begin(), results.end(), rc_cmp);
    const int64_t kept = std::min(static_cast<int64_t>(results.size()), per_batch);
    valid.i.push_back(kept);
    for (int64_t k = 0; k < kept; ++k) {
      const ResultCandidate& r = results[static_cast<size_t>(k)];
      const int64_t row = b * per_batch + k;
      for (int j = 0; j < 4; ++j) {
        // std::max(std::min(v, 1), 0) as the kernel: a NaN stays NaN.
        out_boxes.f[row * 4 + j] = p.clip_boxes ? std::max(std::min(r.box_coord[j], 1.0f), 0.0f) : r.box_coord[j];
      }
      out_scores.f[row] = r.score;
      out_classes.f[row] = static_cast<float>(r.class_idx);
    }
  }
  std::vector<TailTensor> out;
  out.push_back(std::move(out_boxes));
  out.push_back(std::move(out_scores));
  out.push_back(std::move(out_classes));
  out.push_back(std::move(valid));
  return out;
}

}  // namespace edgevision::detect
