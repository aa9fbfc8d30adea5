// Float16 detectors, both families, loaded as a user would load them: the
// OnnxFloat16 flavour of the synthetic compact (YOLO) and S1 detectors
// (tests/data/synthetic/make_float16_detectors.py: Microsoft's float16
// converter's rules; float16 weights, input and output, NonMaxSuppression and
// TopK behind Cast nodes appended after the graph) as export folders with a
// manifest whose Flavor is "OnnxFloat16", against the shipped code on the same
// photos with ONNX Runtime running the float16 file
// (tests/data/detection/golden/photos_float16.json: the ONNX export's own
// onnxruntime_predict.py and its float16 path; s1_fruit_float16.json: both S1
// containers' app.py): same detections in the same order, boxes and
// probabilities within 1e-4. And the TensorFlowLiteFloat16 flavour of both
// TFLite detectors (tests/parity/make_float16_tflite.py: TensorFlow's float16
// quantization, float16 constants behind DEQUANTIZE) against the 2023 TFLite
// export's predict.py and the 2024 Docker 2.2 S1 container with Google's
// TFLite C runtime 2.9 running the float16 files
// (photos_tflite_float16.json, s1_fruit_tflite_float16.json).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>

#include "detect/golden_test_util.h"
#include "engine/xnnpack_backend.h"
#include "model/model.h"
#include "predict/classifier.h"
#include "predict/s1_golden_test_util.h"
#include "s1_export.h"
#include "test_support.h"

namespace edgevision::predict {
namespace {

using edgevision::testing::ReadBytes;
using edgevision::testing::TestData;

nlohmann::json Golden(const std::string& file) {
  return nlohmann::json::parse(edgevision::testing::ReadText(TestData("detection/golden/" + file)));
}

std::unique_ptr<Classifier> Load(model::LoadedModel m) {
  auto c = Classifier::Create(std::move(m), engine::MakeXnnpackBackend(), ClassifierOptions{});
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

bool Rewrote(const model::LoadedModel& m, const std::string& what) {
  for (const std::string& r : m.info.rewrites) {
    if (r.find(what) != std::string::npos) return true;
  }
  return false;
}

// `c`'s answers to each photo of a compact golden (`h`, `w`: the index of
// the input shape's height and width) within 1e-4, printed under `label`.
void ExpectCompactGolden(const Classifier& c, const nlohmann::json& golden, size_t h, size_t w,
                         const char* label) {
  ASSERT_EQ(golden["photos"].size(), 4u);
  detect::testing::DetectionDiff worst;
  size_t count = 0;
  for (const nlohmann::json& photo : golden["photos"]) {
    SCOPED_TRACE(photo["name"].get<std::string>());
    Result<DetectionResult> r = c.DetectImage(ReadBytes(TestData(photo["photo"].get<std::string>())));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->input_height, photo["input_shape"][h].get<int>());
    EXPECT_EQ(r->input_width, photo["input_shape"][w].get<int>());
    const auto d = detect::testing::ExpectSameDetections(
        r->detections, detect::testing::PredictionsFromJson(photo["predictions"]));
    worst.box = std::max(worst.box, d.box);
    worst.probability = std::max(worst.probability, d.probability);
    count += photo["predictions"].size();
  }
  std::printf("[ %s ] %zu detections, max |box diff| %.2g, max |probability diff| %.2g\n", label, count, worst.box,
              worst.probability);
}

TEST(Float16DetectorTest, TheCompactOnnxFloat16ExportAnswersAsItsOwnCodeOnOnnxRuntime) {
  edgevision::testing::TempDir dir;
  Result<model::LoadedModel> m = model::LoadModel(edgevision::testing::MakeFloat16DetectorExport(dir));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->detector);
  EXPECT_EQ(m->detector->family, detect::DetectorFamily::kYolo);
  EXPECT_EQ(m->info.format, "ONNX");
  EXPECT_TRUE(Rewrote(*m, "float16 tensors to float32"));
  auto c = Load(std::move(*m));
  ASSERT_TRUE(c);
  ExpectCompactGolden(*c, Golden("photos_float16.json"), 2, 3,  // NCHW
                      "vs onnxruntime_predict.py on ONNX Runtime, float16");
}

TEST(Float16DetectorTest, TheS1OnnxFloat16ExportAnswersAsTheS1ContainersOnOnnxRuntime) {
  edgevision::testing::TempDir dir;
  Result<model::LoadedModel> m = model::LoadModel(
      edgevision::testing::MakeSyntheticS1Export(dir, "s1_fruit_float16.onnx", "\"OnnxFloat16\""));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->detector);
  EXPECT_EQ(m->detector->family, detect::DetectorFamily::kSsd);
  EXPECT_EQ(m->info.input_name, "image_tensor");
  EXPECT_TRUE(Rewrote(*m, "float16 tensors to float32"));
  const nlohmann::json golden = Golden("s1_fruit_float16.json");
  ASSERT_EQ(golden["photos"].size(), 4u);
  testing::ExpectS1Golden(std::move(*m), golden, 3,  // [1, N, 4]
                          "vs the S1 containers on ONNX Runtime, float16");
}

TEST(Float16DetectorTest, TheCompactTfliteFloat16ExportAnswersAsItsOwnCodeOnTheTfliteRuntime) {
  Result<model::LoadedModel> m =
      model::LoadModel(TestData("synthetic/yolo_formats/tflite-float16").string());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->detector);
  EXPECT_EQ(m->detector->family, detect::DetectorFamily::kYolo);
  EXPECT_EQ(m->info.format, "TFLite");
  EXPECT_NE(m->info.generation.find("float16 weights"), std::string::npos) << m->info.generation;
  EXPECT_FALSE(m->detector->output_float16);  // float32 output: nothing rounded
  auto c = Load(std::move(*m));
  ASSERT_TRUE(c);
  ExpectCompactGolden(*c, Golden("photos_tflite_float16.json"), 1, 2,  // NHWC
                      "vs tflite-yolo-2023 predict.py on TFLite 2.9, float16");
}

TEST(Float16DetectorTest, TheS1TfliteFloat16ExportAnswersAsTheDocker22S1ContainerOnTheTfliteRuntime) {
  Result<model::LoadedModel> m = model::LoadModel(TestData("synthetic/s1_formats/tflite-float16").string());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->detector);
  EXPECT_EQ(m->detector->family, detect::DetectorFamily::kSsd);
  EXPECT_EQ(m->info.format, "TFLite");
  EXPECT_NE(m->info.generation.find("float16 weights"), std::string::npos) << m->info.generation;
  const nlohmann::json golden = Golden("s1_fruit_tflite_float16.json");
  ASSERT_EQ(golden["photos"].size(), 4u);
  testing::ExpectS1Golden(std::move(*m), golden, 2,  // [N, 4]
                          "vs the Docker 2.2 S1 container on TFLite 2.9, float16");
}

}  // namespace
}  // namespace edgevision::predict
