// The compact detector served end to end in-process: an export folder (the
// synthetic detector tests/data/synthetic/yolo_compact_fruit.onnx with a real
// 2024 ONNX export's side files) through LoadModel, the XNNPACK engine at
// each image's own size, and the container's post-processing, against the
// ONNX export's own onnxruntime_predict.py on the same photos
// (tests/data/detection/golden/fruit_scene.json and photos.json, OpenCV DNN
// as its runtime). Also the plan cache: one plan per input shape, hits,
// eviction at the cap, a failing shape failing only its request.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "detect/golden_test_util.h"
#include "engine/xnnpack_backend.h"
#include "model/model.h"
#include "predict/classifier.h"
#include "s1_export.h"
#include "test_support.h"

namespace edgevision::predict {
namespace {

using edgevision::testing::ReadBytes;
using edgevision::testing::TestData;

std::string MakeExport(const edgevision::testing::TempDir& dir) {
  return edgevision::testing::MakeSyntheticDetectorExport(dir);
}

std::unique_ptr<Classifier> LoadDetector(const std::string& path, ClassifierOptions options = {}) {
  Result<model::LoadedModel> m = model::LoadModel(path);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  if (!m.ok()) return nullptr;
  std::shared_ptr<const engine::Backend> backend = engine::MakeXnnpackBackend();
  auto c = Classifier::Create(std::move(*m), backend, options);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

nlohmann::json Golden(const std::string& file) {
  return nlohmann::json::parse(edgevision::testing::ReadText(TestData("detection/golden/" + file)));
}


TEST(DetectorTest, LoadsACompactExportWithItsFamilyAndParameters) {
  edgevision::testing::TempDir dir;
  auto c = LoadDetector(MakeExport(dir));
  ASSERT_TRUE(c);
  ASSERT_NE(c->detector(), nullptr);
  EXPECT_EQ(c->info().domain, "ObjectDetection");
  EXPECT_EQ(c->detector()->spec().family, detect::DetectorFamily::kYolo);
  EXPECT_EQ(c->detector()->spec().sum_order, detect::SumOrder::kSequential);  // ONNX
  const detect::YoloParams& p = c->detector()->params();
  EXPECT_EQ(p.probability_threshold, 0.10);
  EXPECT_EQ(p.iou_threshold, 0.45);
  EXPECT_EQ(p.max_detections, 20);
  EXPECT_EQ(p.anchors[0][0], 0.573);  // the metadata's full-precision set -> the container's copy
  // A classification on a detector is refused, naming the detect routes.
  Result<Classification> cls = c->ClassifyImage(ReadBytes(TestData("detection/fruit_scene.png")));
  ASSERT_FALSE(cls.ok());
  EXPECT_EQ(cls.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(cls.status().message().find("object detector"), std::string::npos);
}

// The goldens of the export's own code: the synthetic scene (608x448 after
// resizing) and the three photos, each at its own input size.
void ExpectTheGoldensAtEveryImageSize(const Classifier& c) {
  detect::testing::DetectionDiff worst;
  size_t count = 0;
  auto note = [&](const detect::testing::DetectionDiff& d, size_t n) {
    worst.box = std::max(worst.box, d.box);
    worst.probability = std::max(worst.probability, d.probability);
    count += n;
  };
  {
    Result<DetectionResult> r = c.DetectImage(ReadBytes(TestData("detection/fruit_scene.png")));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->input_width, 608);
    EXPECT_EQ(r->input_height, 448);
    const nlohmann::json want = Golden("fruit_scene.json")["predictions"];
    note(detect::testing::ExpectSameDetections(r->detections, detect::testing::PredictionsFromJson(want)),
         want.size());
  }
  const nlohmann::json photos = Golden("photos.json");
  ASSERT_EQ(photos["photos"].size(), 3u);
  for (const nlohmann::json& photo : photos["photos"]) {
    SCOPED_TRACE(photo["name"].get<std::string>());
    Result<DetectionResult> r = c.DetectImage(ReadBytes(TestData(photo["photo"].get<std::string>())));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->input_height, photo["input_shape"][2].get<int>());
    EXPECT_EQ(r->input_width, photo["input_shape"][3].get<int>());
    note(detect::testing::ExpectSameDetections(r->detections,
                                               detect::testing::PredictionsFromJson(photo["predictions"])),
         photo["predictions"].size());
  }
  std::printf("[ vs onnxruntime_predict.py, fruit_scene.json + photos.json ] 4 photos, %zu detections, "
              "max |box diff| %.2g, max |probability diff| %.2g\n",
              count, worst.box, worst.probability);
}

TEST(DetectorTest, AnswersAsTheExportsOwnCodeAtEveryImageSize) {
  edgevision::testing::TempDir dir;
  auto c = LoadDetector(MakeExport(dir));
  ASSERT_TRUE(c);
  ExpectTheGoldensAtEveryImageSize(*c);
}

// The same detector with its input height and width named (dim_param), as
// onnxruntime_predict.py makes them: imported at a nominal 416x416, then
// planned at each image's own size; the same answers as the fixed one.
TEST(DetectorTest, ASymbolicInputSizeIsPlannedPerImage) {
  edgevision::testing::TempDir dir;
  auto c = LoadDetector(edgevision::testing::MakeSymbolicDetectorExport(dir));
  ASSERT_TRUE(c);
  EXPECT_EQ(c->preprocess().input_width, 416);  // the nominal size, compiled at load
  ExpectTheGoldensAtEveryImageSize(*c);
  const PlanCacheStats stats = c->detector()->plan_stats();
  std::string shapes;
  for (const auto& [h, w] : stats.shapes) shapes += std::to_string(h) + "x" + std::to_string(w) + " ";
  // 416x416 at load, then the four photos' sizes
  EXPECT_EQ(stats.misses, 5u) << shapes << " hits " << stats.hits << " evictions " << stats.evictions;
  EXPECT_EQ(stats.shapes.size(), 5u) << shapes;
}

// A classifier (no detector side files) with a symbolic input size is refused:
// its preprocessing needs the model's own size.
TEST(DetectorTest, ASymbolicInputSizeOnANonDetectorIsRefused) {
  Result<model::LoadedModel> m = model::LoadModel(TestData("synthetic/yolo_compact_fruit_symbolic.onnx").string());
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(m.status().message().find("symbolic height/width"), std::string::npos) << m.status().message();
}

TEST(DetectorTest, FlagsOverrideTheContainersThresholdsAndCap) {
  edgevision::testing::TempDir dir;
  ClassifierOptions options;
  options.detector.max_detections = 3;
  options.detector.probability_threshold = 0.6;
  auto c = LoadDetector(MakeExport(dir), options);
  ASSERT_TRUE(c);
  Result<DetectionResult> r = c->DetectImage(ReadBytes(TestData("detection/fruit_scene.png")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->detections.size(), 3u);
  // The container's first three, all above 0.6.
  const nlohmann::json want = Golden("fruit_scene.json")["predictions"];
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_GT(r->detections[i].probability, 0.6);
    EXPECT_NEAR(r->detections[i].probability, want[i]["probability"].get<double>(), 1e-4);
  }
}

TEST(PlanCacheTest, OnePlanPerShapeHitsOnRepeatEvictsAtTheCap) {
  edgevision::testing::TempDir dir;
  ClassifierOptions options;
  options.detector.max_plans = 2;
  auto c = LoadDetector(MakeExport(dir), options);
  ASSERT_TRUE(c);
  const Detector& d = *c->detector();
  // Create compiled the declared size (448x608), the fruit scene's own.
  PlanCacheStats s = d.plan_stats();
  EXPECT_EQ(s.capacity, 2);
  EXPECT_EQ(s.misses, 1u);
  const auto scene = ReadBytes(TestData("detection/fruit_scene.png"));
  const auto apple = ReadBytes(TestData("cv-exports/iotedge-applebanana-tf/images/apple1.jpg"));    // 576x480
  const auto banana = ReadBytes(TestData("cv-exports/iotedge-applebanana-tf/images/banana2.jpg"));  // 448x640
  ASSERT_TRUE(c->DetectImage(scene).ok());
  ASSERT_TRUE(c->DetectImage(apple).ok());  // a second aspect ratio: a second plan
  s = d.plan_stats();
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.evictions, 0u);
  EXPECT_EQ(s.shapes, (std::vector<std::pair<int, int>>{{576, 480}, {448, 608}}));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(c->DetectImage(apple).ok());
  ASSERT_TRUE(c->DetectImage(scene).ok());
  s = d.plan_stats();
  EXPECT_EQ(s.misses, 2u) << "repeated shapes are not compiled again";
  EXPECT_EQ(s.hits, 5u);
  // A third shape at capacity 2 evicts the least recently used (576x480).
  Result<DetectionResult> b = c->DetectImage(banana);
  ASSERT_TRUE(b.ok());
  s = d.plan_stats();
  EXPECT_EQ(s.misses, 3u);
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.shapes, (std::vector<std::pair<int, int>>{{448, 640}, {448, 608}}));
  // The evicted shape compiles again and answers the same.
  Result<DetectionResult> again = c->DetectImage(apple);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(d.plan_stats().misses, 4u);
  EXPECT_EQ(d.plan_stats().evictions, 2u);
}

TEST(PlanCacheTest, AShapeTheGraphCannotTakeFailsOnlyThatRequest) {
  edgevision::testing::TempDir dir;
  auto c = LoadDetector(MakeExport(dir));
  ASSERT_TRUE(c);
  const Detector& d = *c->detector();
  image::Tensor tiny;
  tiny.height = 2;  // the first conv is 4x4 stride 4: no window fits
  tiny.width = 2;
  tiny.channels = 3;
  tiny.data.assign(12, 100.0f);
  Result<DetectionResult> r = d.DetectTensor(tiny);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(d.plan_stats().failures, 1u);
  EXPECT_TRUE(c->DetectImage(ReadBytes(TestData("detection/fruit_scene.png"))).ok());
}

}  // namespace
}  // namespace edgevision::predict
