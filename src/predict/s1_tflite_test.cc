// S1 (SSD-style) detectors exported as TFLite: the synthetic
// tests/data/synthetic/s1_formats/tflite/model.tflite (make_s1_tflite.py:
// NON_MAX_SUPPRESSION_V4/V5, SLICE, GATHER, CONCATENATION, SHAPE, TOPK_V2,
// CAST after the network; outputs named detected_* without a batch
// dimension, listed out of order) bare, as the 2024 Docker 2.2 S1 export
// (app/model.tflite) and as its zip, through LoadModel, the XNNPACK engine
// and the NMS tail, against tests/data/detection/golden/s1_fruit_tflite.json:
// the 2024 Docker 2.2 S1 container's own app.py answering the four photos
// with Google's TFLite C runtime 2.9 running the same file.
//   - the raw detected_* outputs match the runtime's (boxes and scores within
//     1e-4, classes and row order exactly);
//   - the detections match the container's (same rows, same order, boxes and
//     probabilities within 1e-4).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <set>

#include "detect/golden_test_util.h"
#include "detect/nms_tail.h"
#include "detect/ssd.h"
#include "image/detector_preprocess.h"
#include "model/model.h"
#include "predict/classifier.h"
#include "predict/s1_golden_test_util.h"
#include "test_support.h"

namespace edgevision::predict {
namespace {

using edgevision::detect::testing::Hex;
using edgevision::testing::ReadBytes;
using edgevision::testing::TestData;

nlohmann::json Golden() {
  return nlohmann::json::parse(
      edgevision::testing::ReadText(TestData("detection/golden/s1_fruit_tflite.json")));
}

class S1TfliteExportTest : public ::testing::TestWithParam<const char*> {};

TEST_P(S1TfliteExportTest, SplitsAtNmsAndAnswersAsTheDocker22S1Container) {
  Result<model::LoadedModel> m =
      model::LoadModel(TestData(std::string("synthetic/s1_formats/") + GetParam()).string());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->detector);
  EXPECT_EQ(m->info.format, "TFLite");
  EXPECT_EQ(m->info.domain, "ObjectDetection");
  EXPECT_EQ(m->detector->family, detect::DetectorFamily::kSsd);
  EXPECT_EQ(m->info.input_name, "image_tensor");
  EXPECT_EQ(m->info.output_name, "detected_scores, detected_boxes, detected_classes");
  EXPECT_EQ(m->preprocess.color, image::ColorOrder::kRGB);
  EXPECT_EQ(m->preprocess.input_width, 320);
  EXPECT_EQ(m->preprocess.input_height, 320);
  // The engine runs the network up to the two heads' NHWC maps (the
  // RESHAPEs to [400, 4] and [400, 3] only the tail reads moved into it).
  const detect::TailGraph& tail = m->detector->ssd_tail;
  ASSERT_EQ(tail.inputs.size(), 2u);
  EXPECT_EQ(tail.inputs[0].name, "corners");
  EXPECT_EQ(tail.inputs[0].shape, (std::vector<int64_t>{1, 20, 20, 4}));
  EXPECT_EQ(tail.inputs[1].name, "cls/Sigmoid");
  EXPECT_EQ(tail.inputs[1].shape, (std::vector<int64_t>{1, 20, 20, 3}));
  EXPECT_EQ(tail.packed_size(), 2800u);
  EXPECT_EQ(std::count_if(tail.nodes.begin(), tail.nodes.end(),
                          [](const detect::TailNode& n) { return n.op == detect::kTfliteNmsOp; }),
            3);
  EXPECT_TRUE(std::any_of(m->info.rewrites.begin(), m->info.rewrites.end(), [](const std::string& r) {
    return r.find("split the S1 detector at NON_MAX_SUPPRESSION") != std::string::npos;
  }));
  EXPECT_EQ(m->info.source_ops.at("NON_MAX_SUPPRESSION_V4"), 2);
  EXPECT_EQ(m->info.source_ops.at("NON_MAX_SUPPRESSION_V5"), 1);

  // Raw outputs: the engine and the tail on the tensor edgevision builds,
  // against the TFLite runtime's on the tensor the container built; then the
  // answers, as the container's.
  const nlohmann::json golden = Golden();
  ASSERT_EQ(golden["photos"].size(), 4u);
  testing::ExpectS1Golden(std::move(*m), golden, 2,  // [N, 4]: no batch dimension
                          "vs TFLite 2.9 and the Docker 2.2 S1 container");
}

INSTANTIATE_TEST_SUITE_P(Formats, S1TfliteExportTest,
                         ::testing::Values("tflite", "docker-s1-tflite-2024", "docker-s1-tflite-2024.zip"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           std::string name = p.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           std::replace(name.begin(), name.end(), '.', '_');
                           return name;
                         });

// The same graph with a batch dimension on its three outputs
// (s1_formats/tflite-batched: EXPAND_DIMS after the sort, [1, N, 4] boxes,
// [1, N] scores and classes), the layout of the TF Object Detection API and
// of the ONNX sample: read by name just the same, and the same rows and
// answers as the unbatched file's golden (the 2024 container's own code
// cannot read this layout, so there is no container golden of its own).
TEST(S1TfliteBatchedOutputsTest, ReadsOutputsWithABatchDimensionAsWithout) {
  Result<model::LoadedModel> m = model::LoadModel(TestData("synthetic/s1_formats/tflite-batched").string());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->detector);
  EXPECT_EQ(m->detector->family, detect::DetectorFamily::kSsd);
  EXPECT_EQ(m->info.output_name, "detected_scores, detected_boxes, detected_classes");
  const nlohmann::json golden = Golden();
  const testing::S1GoldenDiff d = testing::ExpectS1Golden(std::move(*m), golden, 3,  // [1, N, 4]
                                                          "batched outputs vs the Docker 2.2 S1 container");
  EXPECT_EQ(d.raw.count, 175u);
  EXPECT_EQ(d.answers.count, 175u);
}

// What the tail cannot run is refused at load, naming the operator.
TEST(S1TfliteTailTest, WhatTheTailCannotRunIsRefusedNamingTheOperator) {
  auto refused = [](const std::string& file) {
    Result<model::LoadedModel> m =
        model::LoadModel(TestData("synthetic/s1_formats/tflite-refused/" + file).string());
    EXPECT_FALSE(m.ok()) << file;
    return m.ok() ? std::string() : m.status().message();
  };
  std::string why = refused("soft_nms.tflite");
  EXPECT_NE(why.find("'nms/class_2/NonMaxSuppression' (NON_MAX_SUPPRESSION_V5)"), std::string::npos) << why;
  EXPECT_NE(why.find("soft NMS"), std::string::npos) << why;
  why = refused("unique_after_nms.tflite");
  EXPECT_NE(why.find("(UNIQUE) after NON_MAX_SUPPRESSION"), std::string::npos) << why;
  why = refused("detection_postprocess.tflite");
  EXPECT_NE(why.find("CUSTOM:TFLite_Detection_PostProcess"), std::string::npos) << why;
}

}  // namespace
}  // namespace edgevision::predict
