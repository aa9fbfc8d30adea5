// TensorFlow's CombinedNonMaxSuppression (tf.image.combined_non_max_suppression)
// for the S1 tail (detect/nms_tail.h runs it as kTensorFlowCombinedNmsOp).
//
// Follows the CPU kernel of TensorFlow 2.0 (core/kernels/
// non_max_suppression_op.cc, BatchedNonMaxSuppressionOp; 2.0.x is what the
// 2023 S1 Dockerfile container pins), for each batch:
//   1. per class c, in class order: the boxes whose score for c is
//      > score_threshold, std::sort'ed by score (descending; equal scores in
//      the order libstdc++'s introsort leaves them, as TensorFlow's manylinux
//      build); a candidate is selected unless its IOU with an already
//      selected box of that class is > iou_threshold (TensorFlow's IOU:
//      corners in either order, 0 when either box has no area); at most
//      min(max_output_size_per_class, num_boxes) per class;
//   2. all classes' selections std::sort'ed by score (descending, unstable);
//   3. the first min(count, P) kept, where P = max_total_size, or with
//      pad_per_class min(max_total_size, max_output_size_per_class x
//      num_classes); with clip_boxes each coordinate clamped to [0, 1];
//   4. outputs padded with zeros to P rows: boxes [B, P, 4], scores [B, P],
//      classes [B, P] (float, as TensorFlow gives them), valid_detections [B]
//      (integer).
// Boxes are [B, N, q, 4] with q = 1 (shared by every class) or the class
// count; scores [B, N, C].
//
// Thread-safety: a pure function.
#pragma once

#include <cstdint>
#include <vector>

#include "core/status.h"
#include "detect/nms_tail.h"

namespace edgevision::detect {

struct CombinedNmsParams {
  int64_t max_output_size_per_class = 0;
  int64_t max_total_size = 0;
  float iou_threshold = 0.0f;
  float score_threshold = 0.0f;
  bool pad_per_class = false;
  bool clip_boxes = true;
};

// Returns {nmsed_boxes, nmsed_scores, nmsed_classes, valid_detections}.
// InvalidArgument for shapes that are not [B,N,q,4] / [B,N,C], q other than
// 1 or C, max_total_size <= 0, a negative max_output_size_per_class, an
// iou_threshold outside [0, 1] (TensorFlow's checks), or outputs past
// kMaxTailTensorElements.
Result<std::vector<TailTensor>> TensorFlowCombinedNms(const TailTensor& boxes, const TailTensor& scores,
                                                      const CombinedNmsParams& params);

}  // namespace edgevision::detect
