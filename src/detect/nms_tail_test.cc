// The S1 NMS tail (detect/nms_tail.h) on hand-made tensors: NonMaxSuppression
// as ONNX Runtime runs it (strict score threshold, score order with ties by
// index, IoU > threshold suppresses, zero-area boxes never suppress, the cap
// per class, both box encodings) and the index ops around it. The whole
// tail's parity with ONNX Runtime on real networks is in
// predict/ssd_detector_test.cc.
#include "detect/nms_tail.h"

#include <gtest/gtest.h>

#include "detect/tail_test_util.h"

namespace edgevision::detect {
namespace {

using testing::F;
using testing::I;

// A tail with one node whose inputs are `boxes` (from the packed floats) and constants.
TailGraph OneNode(TailNode node, std::vector<TailInput> inputs, std::map<std::string, TailTensor> constants) {
  TailGraph g;
  g.inputs = std::move(inputs);
  g.constants = std::move(constants);
  g.outputs = node.outputs;
  g.nodes.push_back(std::move(node));
  return g;
}

TailNode Node(std::string op, std::vector<std::string> in, std::vector<std::string> out) {
  TailNode n;
  n.op = op;
  n.name = op;
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  return n;
}

std::vector<int64_t> Nms(const std::vector<float>& boxes, const std::vector<float>& scores, int64_t classes,
                         int64_t max_per_class, float iou, float score, bool center = false,
                         bool tensorflow = false) {
  const int64_t n = static_cast<int64_t>(boxes.size() / 4);
  TailNode node = Node("NonMaxSuppression", {"boxes", "scores", "max", "iou", "score"}, {"selected"});
  if (center) node.ints["center_point_box"] = {1};
  if (tensorflow) node.ints[kTensorFlowNmsAttr] = {1};
  std::vector<float> packed = boxes;
  packed.insert(packed.end(), scores.begin(), scores.end());
  TailGraph g = OneNode(node, {{"boxes", {1, n, 4}, 0}, {"scores", {1, classes, n}, boxes.size()}},
                        {{"max", I({1}, {max_per_class})}, {"iou", F({1}, {iou})}, {"score", F({1}, {score})}});
  EXPECT_TRUE(CheckTail(g).ok());
  auto out = RunTail(g, packed);
  EXPECT_TRUE(out.ok()) << out.status().message();
  if (!out.ok()) return {};
  const TailTensor& sel = out->at("selected");
  EXPECT_TRUE(sel.is_int);
  EXPECT_EQ(sel.shape, (std::vector<int64_t>{static_cast<int64_t>(sel.i.size() / 3), 3}));
  return sel.i;
}

TEST(NmsTailTest, SuppressesOverlapsPerClassInScoreOrder) {
  // Boxes [y1, x1, y2, x2]: 0 and 1 overlap (IoU 0.81), 2 is apart.
  const std::vector<float> boxes = {0, 0, 1, 1, 0, 0.1f, 1, 1.1f, 0, 2, 1, 3};
  // class 0: 1 beats 0 (suppressed); class 1: only 2 is above 0.3.
  const std::vector<float> scores = {0.6f, 0.9f, 0.5f, 0.2f, 0.3f, 0.8f};
  EXPECT_EQ(Nms(boxes, scores, 2, 10, 0.5f, 0.3f), (std::vector<int64_t>{0, 0, 1, 0, 0, 2, 0, 1, 2}));
  // score threshold is strict: 0.3 itself is out (box 1 of class 1).
  // an IoU threshold above the overlap keeps both.
  EXPECT_EQ(Nms(boxes, scores, 2, 10, 0.9f, 0.3f), (std::vector<int64_t>{0, 0, 1, 0, 0, 0, 0, 0, 2, 0, 1, 2}));
  // the cap per class
  EXPECT_EQ(Nms(boxes, scores, 2, 1, 0.9f, 0.0f), (std::vector<int64_t>{0, 0, 1, 0, 1, 2}));
  // max_output_boxes_per_class 0 selects nothing (ONNX's default)
  EXPECT_TRUE(Nms(boxes, scores, 2, 0, 0.5f, 0.0f).empty());
}

TEST(NmsTailTest, TiesGoToTheLowerIndexAndZeroAreaBoxesNeverSuppress) {
  const std::vector<float> same = {0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1};
  EXPECT_EQ(Nms(same, {0.5f, 0.5f, 0.5f}, 1, 10, 0.5f, 0.0f), (std::vector<int64_t>{0, 0, 0}));
  const std::vector<float> points = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
  EXPECT_EQ(Nms(points, {0.7f, 0.7f}, 1, 10, 0.0f, 0.0f), (std::vector<int64_t>{0, 0, 0, 0, 0, 1}));
}

// TensorFlow's NonMaxSuppressionV3 (TF 2.0, the 2023 S1 container's): an IoU
// equal to the threshold suppresses (ONNX Runtime's needs more), and a box
// without area has IoU 0, which a threshold of 0 suppresses.
TEST(NmsTailTest, TensorFlowRulesSuppressAtAnIouEqualToTheThreshold) {
  // Box 1 covers box 0 and as much again: IoU exactly 0.5.
  const std::vector<float> boxes = {0, 0, 1, 1, 0, 0, 1, 2};
  const std::vector<float> scores = {0.9f, 0.8f};
  EXPECT_EQ(Nms(boxes, scores, 1, 10, 0.5f, 0.0f), (std::vector<int64_t>{0, 0, 0, 0, 0, 1}));
  EXPECT_EQ(Nms(boxes, scores, 1, 10, 0.5f, 0.0f, false, true), (std::vector<int64_t>{0, 0, 0}));
  // Boxes apart are both kept.
  const std::vector<float> apart = {0, 0, 1, 1, 0, 2, 1, 3};
  EXPECT_EQ(Nms(apart, scores, 1, 10, 0.5f, 0.0f, false, true), (std::vector<int64_t>{0, 0, 0, 0, 0, 1}));
  const std::vector<float> points = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
  EXPECT_EQ(Nms(points, {0.7f, 0.7f}, 1, 10, 0.0f, 0.0f, false, true), (std::vector<int64_t>{0, 0, 0}));
  // Corners in either order, ties by the lower index, the strict score threshold: as ONNX Runtime.
  const std::vector<float> flipped = {1, 1, 0, 0, 0, 0, 1, 1};
  EXPECT_EQ(Nms(flipped, {0.5f, 0.5f}, 1, 10, 0.5f, 0.5f, false, true), (std::vector<int64_t>{}));
  EXPECT_EQ(Nms(flipped, {0.6f, 0.6f}, 1, 10, 0.5f, 0.5f, false, true), (std::vector<int64_t>{0, 0, 0}));
}

// TFLite's NON_MAX_SUPPRESSION_V4 (kTfliteNmsOp): {indices padded with 0,
// count}. The expectations are what Google's TFLite C runtime 2.9 (npm
// tfjs-tflite-node, tests/parity/tflite_peer.py) returned for the same
// one-op model, measured 2026-12-06.
std::pair<std::vector<int64_t>, int64_t> TfliteNms(const std::vector<float>& boxes, const std::vector<float>& scores,
                                                   int64_t max_output, float iou, float score,
                                                   bool tensorflow = false) {
  const int64_t n = static_cast<int64_t>(scores.size());
  TailNode node = Node(kTfliteNmsOp, {"boxes", "scores", "max", "iou", "score"}, {"idx", "", "count"});
  if (tensorflow) node.ints[kTensorFlowNmsAttr] = {1};
  TailGraph g = OneNode(node, {{"boxes", {n, 4}, 0}, {"scores", {n}, boxes.size()}},
                        {{"max", I({}, {max_output})}, {"iou", F({}, {iou})}, {"score", F({}, {score})}});
  g.outputs = {"idx", "count"};
  EXPECT_TRUE(CheckTail(g).ok());
  std::vector<float> packed = boxes;
  packed.insert(packed.end(), scores.begin(), scores.end());
  auto out = RunTail(g, packed);
  EXPECT_TRUE(out.ok()) << out.status().message();
  if (!out.ok()) return {};
  EXPECT_EQ(out->at("idx").shape, (std::vector<int64_t>{max_output}));
  EXPECT_TRUE(out->at("count").shape.empty());
  return {out->at("idx").i, out->at("count").i.at(0)};
}

std::vector<float> Apart(int n) {  // n disjoint unit boxes
  std::vector<float> v;
  for (int k = 0; k < n; ++k) v.insert(v.end(), {10.0f * k, 0, 10.0f * k + 1, 1});
  return v;
}

TEST(NmsTailTest, TfliteNmsFollowsTheKernelTiesZeroAreaAndPadding) {
  // Equal scores pop in the order of the kernel's heap (a selected box is
  // pushed back and dropped when it pops again), not by index.
  EXPECT_EQ(TfliteNms(Apart(8), std::vector<float>(8, 0.5f), 8, 0.5f, 0.1f),
            (std::pair<std::vector<int64_t>, int64_t>{{0, 2, 6, 7, 5, 4, 3, 1}, 8}));
  EXPECT_EQ(TfliteNms(Apart(10), {0.5f, 0.7f, 0.5f, 0.5f, 0.7f, 0.5f, 0.5f, 0.5f, 0.7f, 0.5f}, 10, 0.5f, 0.1f),
            (std::pair<std::vector<int64_t>, int64_t>{{1, 4, 8, 2, 6, 5, 7, 9, 0, 3}, 10}));
  // A box without area has IoU 0 even with itself: it is selected again
  // each time it pops, up to the number of candidates.
  EXPECT_EQ(TfliteNms({0, 0, 0, 0, 0, 0, 0, 0, 5, 5, 6, 6}, {0.9f, 0.8f, 0.7f}, 6, 0.5f, 0.1f),
            (std::pair<std::vector<int64_t>, int64_t>{{0, 0, 0, 0, 0, 0}, 3}));
  // IoU equal to the threshold suppresses; the rest is padded with 0.
  EXPECT_EQ(TfliteNms({0, 0, 1, 2, 0, 1, 1, 3}, {0.9f, 0.8f}, 2, 1.0f / 3.0f, 0.0f),
            (std::pair<std::vector<int64_t>, int64_t>{{0, 0}, 1}));
  // The score threshold is strict; max_output_size caps the selections.
  EXPECT_EQ(TfliteNms(Apart(3), {0.3f, 0.9f, 0.4f}, 5, 0.5f, 0.3f),
            (std::pair<std::vector<int64_t>, int64_t>{{1, 2, 0, 0, 0}, 2}));
  EXPECT_EQ(TfliteNms(Apart(3), {0.3f, 0.9f, 0.4f}, 1, 0.5f, 0.0f),
            (std::pair<std::vector<int64_t>, int64_t>{{1}, 1}));
}

// The same kernel as TensorFlow 2.0's NonMaxSuppressionV4/V5
// (kTensorFlowNmsAttr): it stops after max_output_size selections, not
// min(candidates, max_output_size), which shows only when a box without area
// is selected again.
TEST(NmsTailTest, TensorFlowV4KernelStopsAtMaxOutputSize) {
  EXPECT_EQ(TfliteNms({0, 0, 0, 0, 0, 0, 0, 0, 5, 5, 6, 6}, {0.9f, 0.8f, 0.7f}, 6, 0.5f, 0.1f, true),
            (std::pair<std::vector<int64_t>, int64_t>{{0, 0, 0, 0, 0, 0}, 6}));
  EXPECT_EQ(TfliteNms(Apart(8), std::vector<float>(8, 0.5f), 8, 0.5f, 0.1f, true),
            (std::pair<std::vector<int64_t>, int64_t>{{0, 2, 6, 7, 5, 4, 3, 1}, 8}));
  EXPECT_EQ(TfliteNms(Apart(3), {0.3f, 0.9f, 0.4f}, 5, 0.5f, 0.3f, true),
            (std::pair<std::vector<int64_t>, int64_t>{{1, 2, 0, 0, 0}, 2}));
}

TEST(NmsTailTest, TfliteSliceTakesBeginAndSize) {
  TailNode node = Node("Slice", {"x", "begin", "size"}, {"y"});
  node.ints[kTfliteSliceSizeAttr] = {1};
  auto slice = [&](std::vector<int64_t> begin, std::vector<int64_t> size) {
    TailGraph g = OneNode(node, {{"x", {2, 3}, 0}},
                          {{"begin", I({2}, begin)}, {"size", I({2}, size)}});
    return RunTail(g, std::vector<float>{0, 1, 2, 3, 4, 5});
  };
  auto y = slice({0, 1}, {2, -1});
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_EQ(y->at("y").shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(y->at("y").f, (std::vector<float>{1, 2, 4, 5}));
  y = slice({1, 0}, {1, 0});
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->at("y").shape, (std::vector<int64_t>{1, 0}));
  EXPECT_FALSE(slice({1, 2}, {1, 2}).ok());  // past the end: TFLite fails too
}

TEST(NmsTailTest, CentrePointBoxes) {
  // [cx, cy, w, h]: 0 and 1 are the same box, 2 is apart.
  const std::vector<float> boxes = {0.5f, 0.5f, 1, 1, 0.5f, 0.5f, 1, 1, 5, 5, 1, 1};
  EXPECT_EQ(Nms(boxes, {0.9f, 0.8f, 0.7f}, 1, 10, 0.5f, 0.0f, true),
            (std::vector<int64_t>{0, 0, 0, 0, 0, 2}));
}

TEST(NmsTailTest, IndexOpsPickTheSelectedRows) {
  TailGraph g;
  g.inputs = {{"boxes", {1, 3, 4}, 0}, {"scores", {1, 1, 3}, 12}};
  g.constants = {{"col2", I({1}, {2})}, {"axis1", I({1}, {1})}, {"axis0", I({1}, {0})},
                 {"max", I({1}, {10})}, {"iou", F({1}, {0.5f})}};
  g.nodes = {Node("NonMaxSuppression", {"boxes", "scores", "max", "iou"}, {"sel"}),
             Node("GatherND", {"scores", "sel"}, {"sel_scores"}),
             Node("Gather", {"sel", "col2"}, {"idx2d"}),
             Node("Squeeze", {"idx2d", "axis1"}, {"idx"}),
             Node("Squeeze", {"boxes", "axis0"}, {"boxes2d"}),
             Node("Gather", {"boxes2d", "idx"}, {"sel_boxes"}),
             Node("Shape", {"sel_scores"}, {"k"}),
             Node("TopK", {"sel_scores", "k"}, {"sorted", "order"}),
             Node("Slice", {"sorted", "axis0", "axis1"}, {"first"}),
             Node("Cast", {"order"}, {"order_f"}),
             Node("Unsqueeze", {"sel_boxes", "axis0"}, {"batched"})};
  g.nodes[2].ints["axis"] = {1};
  g.nodes[9].ints["to"] = {1};
  g.outputs = {"sorted", "order", "first", "order_f", "batched"};
  ASSERT_TRUE(CheckTail(g).ok()) << CheckTail(g).message();
  // three disjoint boxes, scores 0.2, 0.9, 0.5
  const std::vector<float> packed = {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 0.2f, 0.9f, 0.5f};
  auto out = RunTail(g, packed);
  ASSERT_TRUE(out.ok()) << out.status().message();
  // NMS lists 1, 2, 0 (score order); TopK sorts them again: 0.9, 0.5, 0.2
  EXPECT_EQ(out->at("sorted").f, (std::vector<float>{0.9f, 0.5f, 0.2f}));
  EXPECT_EQ(out->at("order").i, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(out->at("first").f, (std::vector<float>{0.9f}));
  EXPECT_EQ(out->at("order_f").f, (std::vector<float>{0, 1, 2}));
  EXPECT_EQ(out->at("batched").shape, (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(out->at("batched").f, (std::vector<float>{2, 2, 3, 3, 4, 4, 5, 5, 0, 0, 1, 1}));
}

TEST(NmsTailTest, UnsupportedOpsAndBadIndicesAreClearErrors) {
  TailGraph g = OneNode(Node("NonZero", {"x"}, {"y"}), {{"x", {4}, 0}}, {});
  Status s = CheckTail(g);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("NonZero"), std::string::npos) << s.message();

  TailGraph gather = OneNode(Node("Gather", {"x", "i"}, {"y"}), {{"x", {4}, 0}}, {{"i", I({1}, {7})}});
  ASSERT_TRUE(CheckTail(gather).ok());
  auto out = RunTail(gather, std::vector<float>{1, 2, 3, 4});
  EXPECT_EQ(out.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(out.status().message().find("out of range"), std::string::npos) << out.status().message();
  // the packed output must be the size the tail expects
  EXPECT_EQ(RunTail(gather, std::vector<float>{1, 2, 3}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace edgevision::detect
