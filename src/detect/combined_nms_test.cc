// TensorFlow's CombinedNonMaxSuppression (detect/combined_nms.h) on
// hand-made tensors, against TensorFlow 2.0's CPU kernel
// (core/kernels/non_max_suppression_op.cc, BatchedNonMaxSuppressionOp):
// per-class NMS suppressing at IOU > the threshold, the strict score
// threshold, the per-class cap, the merge sorted by score, max_total_size,
// pad_per_class, clip_boxes, per-class boxes (q = C), zero padding, the
// valid count; and the op inside a tail (detect::kTensorFlowCombinedNmsOp).
// The whole graph's parity with the 2023 S1 container is in
// predict/ssd_detector_test.cc (S1TensorFlowCombinedNmsTest).
#include "detect/combined_nms.h"

#include <gtest/gtest.h>

#include "detect/tail_test_util.h"

#include <cmath>
#include <limits>

namespace edgevision::detect {
namespace {

using testing::F;
using testing::I;

struct Out {
  std::vector<float> boxes, scores, classes;
  std::vector<int64_t> valid;
  std::vector<int64_t> shape;  // of the boxes
};

Out Combined(const TailTensor& boxes, const TailTensor& scores, CombinedNmsParams p) {
  auto r = TensorFlowCombinedNms(boxes, scores, p);
  EXPECT_TRUE(r.ok()) << r.status().message();
  if (!r.ok()) return {};
  EXPECT_EQ(r->size(), 4u);
  EXPECT_TRUE((*r)[3].is_int);
  return {(*r)[0].f, (*r)[1].f, (*r)[2].f, (*r)[3].i, (*r)[0].shape};
}

CombinedNmsParams Params(int64_t per_class, int64_t total, float iou, float score) {
  CombinedNmsParams p;
  p.max_output_size_per_class = per_class;
  p.max_total_size = total;
  p.iou_threshold = iou;
  p.score_threshold = score;
  return p;
}

// Boxes [y1, x1, y2, x2]: 0 and 1 overlap with IOU 1/3 (1x2 boxes sharing a
// 1x1 square), 2 stands apart, 3 crosses the image border.
const TailTensor kBoxes = F({1, 4, 1, 4}, {0, 0, 1, 2,  0, 1, 1, 3,  5, 5, 6, 6,  -0.5f, 0.5f, 0.5f, 1.5f});

TEST(CombinedNmsTest, PerClassNmsThenTheMergeSortedByScore) {
  // Class 0: 0.9, 0.8 (overlapping), 0.2, 0.6. Class 1: 0.7 on box 1, 0.85 on box 2.
  const TailTensor scores = F({1, 4, 2}, {0.9f, 0.1f, 0.8f, 0.7f, 0.2f, 0.85f, 0.6f, 0.0f});
  CombinedNmsParams p = Params(10, 6, 0.3f, 0.15f);
  p.clip_boxes = false;
  Out o = Combined(kBoxes, scores, p);
  // IOU 1/3 > 0.3: box 1 loses class 0 but keeps class 1 (per-class NMS).
  EXPECT_EQ(o.shape, (std::vector<int64_t>{1, 6, 4}));
  EXPECT_EQ(o.valid, (std::vector<int64_t>{5}));
  EXPECT_EQ(o.scores, (std::vector<float>{0.9f, 0.85f, 0.7f, 0.6f, 0.2f, 0}));
  EXPECT_EQ(o.classes, (std::vector<float>{0, 1, 1, 0, 0, 0}));
  EXPECT_EQ(o.boxes, (std::vector<float>{0, 0, 1, 2,  5, 5, 6, 6,  0, 1, 1, 3,  -0.5f, 0.5f, 0.5f, 1.5f,
                                         5, 5, 6, 6,  0, 0, 0, 0}));
  // IOU equal to the threshold does not suppress (TensorFlow's CombinedNMS: >).
  p.iou_threshold = 1.0f / 3.0f;
  o = Combined(kBoxes, scores, p);
  EXPECT_EQ(o.valid, (std::vector<int64_t>{6}));
  EXPECT_EQ(o.scores, (std::vector<float>{0.9f, 0.85f, 0.8f, 0.7f, 0.6f, 0.2f}));
}

TEST(CombinedNmsTest, ThresholdCapsPaddingAndClipping) {
  const TailTensor scores = F({1, 4, 2}, {0.9f, 0.1f, 0.8f, 0.7f, 0.2f, 0.85f, 0.6f, 0.0f});
  // The score threshold is strict (0.2 and 0.1 are out at 0.2); the default clip_boxes clamps to [0, 1].
  Out o = Combined(kBoxes, scores, Params(10, 8, 0.5f, 0.2f));
  EXPECT_EQ(o.valid, (std::vector<int64_t>{5}));
  EXPECT_EQ(o.scores, (std::vector<float>{0.9f, 0.85f, 0.8f, 0.7f, 0.6f, 0, 0, 0}));
  EXPECT_EQ(std::vector<float>(o.boxes.begin() + 16, o.boxes.begin() + 20), (std::vector<float>{0, 0.5f, 0.5f, 1}));
  EXPECT_EQ(std::vector<float>(o.boxes.begin() + 4, o.boxes.begin() + 8), (std::vector<float>{1, 1, 1, 1}));
  // max_output_size_per_class 1: each class's best only.
  o = Combined(kBoxes, scores, Params(1, 8, 0.5f, 0.0f));
  EXPECT_EQ(o.valid, (std::vector<int64_t>{2}));
  EXPECT_EQ(std::vector<float>(o.scores.begin(), o.scores.begin() + 2), (std::vector<float>{0.9f, 0.85f}));
  // max_total_size cuts the merged list; pad_per_class pads to
  // min(max_total_size, per_class x classes) rows instead.
  o = Combined(kBoxes, scores, Params(10, 3, 0.5f, 0.0f));
  EXPECT_EQ(o.valid, (std::vector<int64_t>{3}));
  EXPECT_EQ(o.scores, (std::vector<float>{0.9f, 0.85f, 0.8f}));
  CombinedNmsParams p = Params(1, 8, 0.5f, 0.0f);
  p.pad_per_class = true;
  o = Combined(kBoxes, scores, p);
  EXPECT_EQ(o.shape, (std::vector<int64_t>{1, 2, 4}));
  EXPECT_EQ(o.scores, (std::vector<float>{0.9f, 0.85f}));
  // Nothing above the threshold: all zeros, valid 0.
  o = Combined(kBoxes, scores, Params(10, 2, 0.5f, 0.95f));
  EXPECT_EQ(o.valid, (std::vector<int64_t>{0}));
  EXPECT_EQ(o.boxes, std::vector<float>(8, 0.0f));
}

TEST(CombinedNmsTest, PerClassBoxesBatchesAndZeroAreaBoxes) {
  // q = C: class 1 reads its own box column; two images in a batch.
  const TailTensor boxes = F({2, 2, 2, 4}, {0, 0, 1, 1,  0, 0, 2, 2,   0, 0, 1, 1,  5, 5, 6, 6,
                                            0, 0, 0, 0,  0, 0, 0, 0,   0, 0, 0, 0,  0, 0, 0, 0});
  const TailTensor scores = F({2, 2, 2}, {0.9f, 0.8f, 0.7f, 0.6f,  0.5f, 0.4f, 0.3f, 0.2f});
  CombinedNmsParams p = Params(5, 4, 0.5f, 0.0f);
  Out o = Combined(boxes, scores, p);
  EXPECT_EQ(o.shape, (std::vector<int64_t>{2, 4, 4}));
  // Image 0: class 0's boxes 0 and 1 coincide (box 1 suppressed); class 1's
  // columns are [0,0,2,2] and [5,5,6,6], both kept.
  EXPECT_EQ(o.valid, (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(std::vector<float>(o.scores.begin(), o.scores.begin() + 4), (std::vector<float>{0.9f, 0.8f, 0.6f, 0}));
  EXPECT_EQ(std::vector<float>(o.boxes.begin() + 4, o.boxes.begin() + 12),
            (std::vector<float>{0, 0, 1, 1, 1, 1, 1, 1}));  // clipped
  // Image 1: boxes without area never suppress (IOU 0).
  EXPECT_EQ(std::vector<float>(o.scores.begin() + 4, o.scores.end()), (std::vector<float>{0.5f, 0.4f, 0.3f, 0.2f}));
  EXPECT_EQ(std::vector<float>(o.classes.begin() + 4, o.classes.end()), (std::vector<float>{0, 1, 0, 1}));
}

TEST(CombinedNmsTest, BadArgumentsAreErrors) {
  const TailTensor scores = F({1, 4, 2}, std::vector<float>(8, 0.5f));
  EXPECT_FALSE(TensorFlowCombinedNms(kBoxes, scores, Params(1, 0, 0.5f, 0.0f)).ok());   // max_total_size 0
  EXPECT_FALSE(TensorFlowCombinedNms(kBoxes, scores, Params(-1, 4, 0.5f, 0.0f)).ok());  // negative per class
  EXPECT_FALSE(TensorFlowCombinedNms(kBoxes, scores, Params(1, 4, 1.5f, 0.0f)).ok());   // iou outside [0, 1]
  EXPECT_FALSE(TensorFlowCombinedNms(kBoxes, scores, Params(1, 4, std::nanf(""), 0.0f)).ok());
  EXPECT_FALSE(TensorFlowCombinedNms(F({1, 4, 3, 4}, std::vector<float>(48, 0.0f)), scores,
                                     Params(1, 4, 0.5f, 0.0f)).ok());  // q neither 1 nor C
  EXPECT_FALSE(TensorFlowCombinedNms(F({4, 4}, std::vector<float>(16, 0.0f)), scores,
                                     Params(1, 4, 0.5f, 0.0f)).ok());
  EXPECT_FALSE(TensorFlowCombinedNms(kBoxes, scores, Params(1, int64_t{1} << 40, 0.5f, 0.0f)).ok());
}

TEST(CombinedNmsTest, RunsInATailWithItsAttributes) {
  TailNode node;
  node.op = kTensorFlowCombinedNmsOp;
  node.name = "nms";
  node.inputs = {"boxes", "scores", "per_class", "total", "iou", "score"};
  node.outputs = {"b", "s", "c", "n"};
  node.ints = {{"clip_boxes", {0}}, {"pad_per_class", {0}}};
  TailGraph g;
  g.inputs = {{"boxes", {1, 4, 1, 4}, 0}, {"scores", {1, 4, 2}, 16}};
  g.constants = {{"per_class", I({}, {10})}, {"total", I({}, {6})}, {"iou", F({}, {0.3f})}, {"score", F({}, {0.15f})}};
  g.nodes = {node};
  g.outputs = node.outputs;
  ASSERT_TRUE(CheckTail(g).ok());
  std::vector<float> packed = kBoxes.f;
  for (float v : {0.9f, 0.1f, 0.8f, 0.7f, 0.2f, 0.85f, 0.6f, 0.0f}) packed.push_back(v);
  auto out = RunTail(g, packed);
  ASSERT_TRUE(out.ok()) << out.status().message();
  EXPECT_EQ(out->at("n").i, (std::vector<int64_t>{5}));
  EXPECT_EQ(out->at("c").f, (std::vector<float>{0, 1, 1, 0, 0, 0}));
  EXPECT_EQ(out->at("b").f[12], -0.5f);  // clip_boxes 0: not clamped
  g.constants["total"] = I({}, {0});
  EXPECT_FALSE(RunTail(g, packed).ok());
}

}  // namespace
}  // namespace edgevision::detect
