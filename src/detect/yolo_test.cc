#include "detect/yolo.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "detect/golden_test_util.h"
#include "image/npy.h"

namespace edgevision::detect {
namespace {

using testing::GoldenCases;
using testing::Labels;
using testing::ReadGolden;

constexpr double kTolerance = 1e-4;  // issue 13: boxes and probabilities within 1e-4

struct Grid {
  std::vector<float> hwc;
  int height = 0, width = 0, channels = 0;
  std::vector<float> Chw() const {
    std::vector<float> chw(hwc.size());
    for (int r = 0; r < height; ++r)
      for (int c = 0; c < width; ++c)
        for (int k = 0; k < channels; ++k)
          chw[(static_cast<size_t>(k) * height + r) * width + c] = hwc[(static_cast<size_t>(r) * width + c) * channels + k];
    return chw;
  }
  YoloOutput Output(GridLayout layout, const std::vector<float>& data) const {
    return {data, height, width, channels, layout};
  }
};

Grid ReadGrid(const std::string& file) {
  Result<image::Tensor> t = image::ReadNpy(testing::GoldenDir() / file);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  if (!t.ok()) return {};
  return {t->data, t->height, t->width, t->channels};
}

YoloParams ParamsOf(const nlohmann::json& doc) {
  YoloParams p;
  p.probability_threshold = doc["params"]["probability_threshold"];
  p.iou_threshold = doc["params"]["iou_threshold"];
  p.max_detections = doc["params"]["max_detections"];
  p.anchors.clear();
  for (const auto& a : doc["params"]["anchors"]) p.anchors.push_back({a[0].get<double>(), a[1].get<double>()});
  return p;
}

struct Parity {
  double max_box = 0, max_prob = 0;
  int values = 0, exact = 0;  // rounded to 8 decimals, equal to the reference's JSON number
};

// Same set, same order, boxes and probabilities within kTolerance.
void ExpectMatches(const std::vector<Detection>& got, const nlohmann::json& want, Parity* parity) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("detection " + std::to_string(i));
    const nlohmann::json& w = want[i];
    EXPECT_EQ(got[i].tag_index, w["tagId"].get<int>());
    EXPECT_EQ(got[i].tag, w["tagName"].get<std::string>());
    auto check = [&](double value, const nlohmann::json& ref, double* max) {
      const double d = std::abs(value - ref.get<double>());
      EXPECT_LE(d, kTolerance);
      *max = std::max(*max, d);
      parity->values++;
      parity->exact += RoundLikePython(value) == ref.get<double>();
    };
    check(got[i].probability, w["probability"], &parity->max_prob);
    const nlohmann::json& b = w["boundingBox"];
    check(got[i].box.left, b["left"], &parity->max_box);
    check(got[i].box.top, b["top"], &parity->max_box);
    check(got[i].box.width, b["width"], &parity->max_box);
    check(got[i].box.height, b["height"], &parity->max_box);
  }
}

class YoloGoldenTest : public ::testing::TestWithParam<std::string> {};

// The reference's answer for each summation order (pairwise: the TensorFlow,
// TFLite and Docker code on HWC; sequential: the ONNX code on CHW), from both
// memory layouts.
TEST_P(YoloGoldenTest, MatchesTheShippedReferenceCode) {
  const nlohmann::json doc = ReadGolden(GetParam() + ".json");
  ASSERT_FALSE(doc.is_discarded());
  const Grid grid = ReadGrid(doc["raw"]);
  ASSERT_EQ(grid.height, doc["shape"][0].get<int>());
  ASSERT_EQ(grid.channels, doc["shape"][2].get<int>());
  const std::vector<std::string> labels = Labels(doc);
  const YoloParams params = ParamsOf(doc);
  const std::vector<float> chw = grid.Chw();

  Parity parity;
  for (auto [order_name, order] : {std::pair{"pairwise", SumOrder::kNumpyPairwise},
                                   std::pair{"sequential", SumOrder::kSequential}}) {
    const nlohmann::json& want = doc["expected"][order_name]["predictions"];
    SCOPED_TRACE(order_name);
    auto hwc = PostprocessYolo(grid.Output(GridLayout::kHWC, grid.hwc), params, labels, order);
    ASSERT_TRUE(hwc.ok()) << hwc.status().ToString();
    ExpectMatches(*hwc, want, &parity);
    auto from_chw = PostprocessYolo(grid.Output(GridLayout::kCHW, chw), params, labels, order);
    ASSERT_TRUE(from_chw.ok()) << from_chw.status().ToString();
    ASSERT_EQ(from_chw->size(), hwc->size());
    for (size_t i = 0; i < hwc->size(); ++i) {  // the layout only changes indexing: bit-identical
      EXPECT_EQ((*from_chw)[i].probability, (*hwc)[i].probability);
      EXPECT_EQ((*from_chw)[i].box.left, (*hwc)[i].box.left);
      EXPECT_EQ((*from_chw)[i].box.height, (*hwc)[i].box.height);
      EXPECT_EQ((*from_chw)[i].tag_index, (*hwc)[i].tag_index);
    }
  }
  std::printf("[ parity   ] %-20s max |box diff| %.2g, max |probability diff| %.2g, %d/%d values equal after "
              "rounding to 8 decimals\n",
              GetParam().c_str(), parity.max_box, parity.max_prob, parity.exact, parity.values);
}

INSTANTIATE_TEST_SUITE_P(Golden, YoloGoldenTest, ::testing::ValuesIn(GoldenCases("yolo_")),
                         [](const auto& param_info) { return param_info.param; });

TEST(YoloGoldenSetTest, CoversTheCornerCasesTheIssueNames) {
  const auto cases = GoldenCases("yolo_");
  for (const char* name : {"yolo_ties", "yolo_two_classes", "yolo_over_cap", "yolo_border", "yolo_seeded_blood",
                           "yolo_custom_params"}) {
    EXPECT_NE(std::find(cases.begin(), cases.end(), name), cases.end()) << name;
  }
}

// --- hand-written unit tests -----------------------------------------------------------------

// A 1x1 grid with one anchor and two classes, channels in HWC order.
struct OneCell {
  std::vector<float> data = {0, 0, 0, 0, 0, 0, 0};  // tx ty tw th obj c0 c1
  std::vector<std::string> labels = {"a", "b"};
  YoloParams params;
  OneCell() { params.anchors = {{1.0, 1.0}}; }
  Result<std::vector<Detection>> Run() const {
    return PostprocessYolo({data, 1, 1, 7, GridLayout::kHWC}, params, labels, SumOrder::kNumpyPairwise);
  }
};

TEST(YoloTest, DecodesOneCellAsTheFormulaSays) {
  OneCell c;
  c.data = {0.0f, 0.0f, std::log(0.5f), std::log(0.25f), 10.0f, 2.0f, 0.0f};
  auto r = c.Run();
  ASSERT_TRUE(r.ok());
  // A box and two classes (0.877 and 0.119 after objectness): the cap is
  // min(20, 1 candidate), so only the best class comes back.
  ASSERT_EQ(r->size(), 1u);
  const Detection& d = (*r)[0];
  EXPECT_NEAR(d.box.left, 0.5 - 0.25, 1e-7);
  EXPECT_NEAR(d.box.top, 0.5 - 0.125, 1e-7);
  EXPECT_NEAR(d.box.width, 0.5, 1e-7);
  EXPECT_NEAR(d.box.height, 0.25, 1e-7);
  const double obj = 1 / (1 + std::exp(-10.0));
  EXPECT_NEAR(d.probability, obj * std::exp(2.0) / (std::exp(2.0) + 1), 1e-6);
  EXPECT_EQ(d.tag, "a");
}

TEST(YoloTest, ThresholdIsStrictAndCapApplies) {
  OneCell c;
  c.data[4] = -30;  // objectness ~ 0
  auto none = c.Run();
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  c.data[4] = 5;
  c.params.max_detections = 0;
  auto capped = c.Run();
  ASSERT_TRUE(capped.ok());
  EXPECT_TRUE(capped->empty());
}

TEST(YoloTest, RefusesShapesThatDoNotMatch) {
  OneCell c;
  c.labels = {"only-one"};
  EXPECT_EQ(c.Run().status().code(), StatusCode::kInvalidArgument);  // 2 classes in the output
  OneCell d;
  d.params.anchors = {{1, 1}, {2, 2}};  // 7 channels are not 2 x (5 + C)
  EXPECT_EQ(d.Run().status().code(), StatusCode::kInvalidArgument);
  OneCell e;
  auto r = PostprocessYolo({std::span<const float>(e.data).first(6), 1, 1, 7, GridLayout::kHWC}, e.params,
                           e.labels, SumOrder::kNumpyPairwise);
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  OneCell f;
  f.params.iou_threshold = 1.5;
  EXPECT_EQ(f.Run().status().code(), StatusCode::kInvalidArgument);
}

TEST(YoloTest, RefusesNonFiniteOutputsAndOverflowingBoxes) {
  OneCell c;
  c.data[5] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(c.Run().status().code(), StatusCode::kInternal);
  OneCell d;
  d.data[4] = 5;
  d.data[2] = 100;  // exp(100) overflows float32: the reference would write Infinity into its JSON
  EXPECT_EQ(d.Run().status().code(), StatusCode::kInternal);
}

TEST(YoloTest, LimitsBoundTheWork) {
  OneCell c;
  YoloLimits limits;
  limits.max_cells = 0;
  auto r = PostprocessYolo({c.data, 1, 1, 7, GridLayout::kHWC}, c.params, c.labels, SumOrder::kNumpyPairwise,
                           limits);
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
}

TEST(RoundLikePythonTest, IsPythonsRound) {
  EXPECT_EQ(RoundLikePython(0.123456785), 0.12345678);   // 0.123456785 is below the tie in binary
  EXPECT_EQ(RoundLikePython(0.001953125), 0.00195312);   // an exact tie: half to even
  EXPECT_EQ(RoundLikePython(0.001953135), 0.00195313);  // just below the tie in binary
  EXPECT_EQ(RoundLikePython(-0.2231372), -0.2231372);
  EXPECT_EQ(RoundLikePython(1e-9), 0.0);
  EXPECT_EQ(RoundLikePython(1.5e300), 1.5e300);
  EXPECT_TRUE(std::isinf(RoundLikePython(std::numeric_limits<double>::infinity())));
}

}  // namespace
}  // namespace edgevision::detect
