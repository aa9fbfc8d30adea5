// The compact (YOLO) detector in every TensorFlow-family export format
// (issue 13): tests/data/synthetic/yolo_formats/, written by
// tests/parity/make_detector_copies.py from the ONNX test detector's weights
// (TF frozen graph, TFLite, SavedModel, TF.js, the 2022 Dockerfile export as
// a folder and as the downloaded zip). Each copy loads unmodified, is told a
// compact detector, is planned at each image's own ~512^2 size (the declared
// 416x416 only compiled at load) and answers as
//   - the 2023 TFLite export's own predict.py (OpenCV DNN as its runtime;
//     golden photos_tflite.json), and
//   - the ONNX copy served the same way,
// same tags in the same order, boxes and probabilities within 1e-4.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <string>

#include "detect/golden_test_util.h"
#include "engine/xnnpack_backend.h"
#include "model/model.h"
#include "predict/classifier.h"
#include "test_support.h"

namespace edgevision::predict {
namespace {

using edgevision::testing::ReadBytes;
using edgevision::testing::TestData;

std::unique_ptr<Classifier> Load(const std::string& path) {
  Result<model::LoadedModel> m = model::LoadModel(path);
  EXPECT_TRUE(m.ok()) << path << ": " << m.status().ToString();
  if (!m.ok()) return nullptr;
  auto c = Classifier::Create(std::move(*m), engine::MakeXnnpackBackend(), {});
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

using detect::testing::ExpectSameDetections;
using detect::testing::PredictionsFromJson;

struct Copy {
  const char* folder;  // under tests/data/synthetic/yolo_formats
  const char* format;  // as `edgevision inspect` names it
};

class CompactDetectorFormatTest : public ::testing::TestWithParam<Copy> {};

TEST_P(CompactDetectorFormatTest, LoadsUnmodifiedAndAnswersAsTheTfliteExportAndTheOnnxCopy) {
  const Copy copy = GetParam();
  auto c = Load(TestData(std::string("synthetic/yolo_formats/") + copy.folder).string());
  ASSERT_TRUE(c);
  ASSERT_NE(c->detector(), nullptr);
  EXPECT_EQ(c->info().format, copy.format);
  EXPECT_EQ(c->info().domain, "ObjectDetection");
  EXPECT_EQ(c->detector()->spec().family, detect::DetectorFamily::kYolo);
  EXPECT_EQ(c->detector()->spec().sum_order, detect::SumOrder::kNumpyPairwise);  // HWC, as TF/TFLite give it
  EXPECT_EQ(c->info().labels, (std::vector<std::string>{"apple", "banana"}));
  EXPECT_EQ(c->preprocess().input_width, 416);  // the declared size, compiled at load

  edgevision::testing::TempDir dir;
  auto onnx = Load(edgevision::testing::MakeSyntheticDetectorExport(dir));
  ASSERT_TRUE(onnx);

  const nlohmann::json golden =
      nlohmann::json::parse(edgevision::testing::ReadText(TestData("detection/golden/photos_tflite.json")));
  ASSERT_EQ(golden["photos"].size(), 4u);
  detect::testing::DetectionDiff worst;
  size_t count = 0;
  for (const nlohmann::json& photo : golden["photos"]) {
    SCOPED_TRACE(photo["name"].get<std::string>());
    const auto bytes = ReadBytes(TestData(photo["photo"].get<std::string>()));
    Result<DetectionResult> r = c->DetectImage(bytes);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->input_height, photo["input_shape"][1].get<int>());  // NHWC, as the export's code fed it
    EXPECT_EQ(r->input_width, photo["input_shape"][2].get<int>());
    const detect::testing::DetectionDiff d =
        ExpectSameDetections(r->detections, PredictionsFromJson(photo["predictions"]));
    worst.box = std::max(worst.box, d.box);
    worst.probability = std::max(worst.probability, d.probability);
    count += photo["predictions"].size();
    Result<DetectionResult> o = onnx->DetectImage(bytes);
    ASSERT_TRUE(o.ok()) << o.status().ToString();
    ExpectSameDetections(r->detections, o->detections);
  }
  std::printf("[ %s vs tflite-yolo-2023 predict.py, photos_tflite.json ] 4 photos, %zu detections, "
              "max |box diff| %.2g, max |probability diff| %.2g\n",
              copy.folder, count, worst.box, worst.probability);
  // 416x416 at load, then the four photos' own sizes.
  EXPECT_EQ(c->detector()->plan_stats().misses, 5u);
}

INSTANTIATE_TEST_SUITE_P(Formats, CompactDetectorFormatTest,
                         ::testing::Values(Copy{"tf", "TensorFlow GraphDef"}, Copy{"tflite", "TFLite"},
                                           Copy{"savedmodel", "TensorFlow SavedModel"},
                                           Copy{"tfjs", "TF.js graph model"},
                                           Copy{"docker-2022", "TensorFlow GraphDef"},
                                           Copy{"docker-2022.zip", "TensorFlow GraphDef"}),
                         [](const ::testing::TestParamInfo<Copy>& p) {
                           std::string name = p.param.folder;
                           for (char& ch : name) {
                             if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

}  // namespace
}  // namespace edgevision::predict
