// The synthetic compact detector (tests/data/synthetic/yolo_compact_fruit.onnx,
// made by make_yolo_onnx.py with Custom Vision's exact ONNX I/O contract)
// through today's ONNX importer, normaliser and XNNPACK engine at a fixed
// input size, then through detect::PostprocessYolo: the same raw output as
// OpenCV DNN (an independent engine) and the same detections as the ONNX
// export's own onnxruntime_predict.py fed OpenCV's output
// (tests/data/detection/golden/fruit_scene.json).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "detect/golden_test_util.h"
#include "detect/yolo.h"
#include "engine/xnnpack_backend.h"
#include "graph/normalize.h"
#include "image/decode.h"
#include "image/npy.h"
#include "model/importer.h"

namespace edgevision::detect {
namespace {

TEST(SyntheticCompactDetectorTest, RunsInTheEngineAndMatchesTheReference) {
  const auto model_path = edgevision::testing::TestData("synthetic/yolo_compact_fruit.onnx");
  const std::vector<uint8_t> model_bytes = edgevision::testing::ReadBytes(model_path);
  ASSERT_FALSE(model_bytes.empty());
  auto imported = model::ImportOnnx(model_bytes, model_path.string());
  ASSERT_TRUE(imported.ok()) << imported.status().ToString();
  EXPECT_EQ(imported->input_name, "data");
  EXPECT_EQ(imported->output_name, "model_outputs0");
  EXPECT_EQ(imported->input_layout, "NCHW");
  graph::Graph g = std::move(imported->graph);
  graph::NormalizeReport report;
  ASSERT_TRUE(graph::Normalize(&g, &report).ok());
  ASSERT_EQ(g.outputs.size(), 1u);
  const graph::Shape out_shape = g.values[g.outputs[0]].shape;

  auto compiled = engine::MakeXnnpackBackend()->Compile(g, {});
  ASSERT_TRUE(compiled.ok()) << compiled.status().ToString();
  EXPECT_EQ((*compiled)->input_shape(), (std::vector<int64_t>{1, 448, 608, 3}));
  ASSERT_EQ((*compiled)->output_size(), 14u * 19 * 35);

  // The reference feeds the photo unresized (608x448 is already its ~512^2,
  // multiple-of-32 size), BGR, 0..255.
  auto decoded = image::Decode(edgevision::testing::ReadBytes(edgevision::testing::TestData("detection/fruit_scene.png")));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  ASSERT_EQ(decoded->rgb.width, 608);
  ASSERT_EQ(decoded->rgb.height, 448);
  std::vector<float> input(decoded->rgb.pixels.size());
  for (size_t i = 0; i < input.size(); i += 3) {
    input[i + 0] = decoded->rgb.pixels[i + 2];
    input[i + 1] = decoded->rgb.pixels[i + 1];
    input[i + 2] = decoded->rgb.pixels[i + 0];
  }
  std::vector<float> output((*compiled)->output_size());
  auto session = (*compiled)->CreateSession();
  ASSERT_TRUE(session.ok());
  ASSERT_TRUE((*session)->Run(input, output).ok());

  // The engine's graph is NHWC: its output is the grid in HWC order.
  ASSERT_EQ(out_shape, (graph::Shape{1, 14, 19, 35}));
  const nlohmann::json doc = testing::ReadGolden("fruit_scene.json");
  auto opencv = image::ReadNpy(testing::GoldenDir() / doc["raw"].get<std::string>());
  ASSERT_TRUE(opencv.ok()) << opencv.status().ToString();
  ASSERT_EQ(opencv->data.size(), output.size());
  double max_raw = 0;
  for (size_t i = 0; i < output.size(); ++i) max_raw = std::max(max_raw, double(std::abs(output[i] - opencv->data[i])));
  EXPECT_LT(max_raw, 1e-3);

  // ONNX export: the reference sums its softmax left to right.
  const std::vector<std::string> labels = testing::Labels(doc);
  auto got = PostprocessYolo({output, 14, 19, 35, GridLayout::kHWC}, YoloParams{}, labels, SumOrder::kSequential);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  const nlohmann::json& want = doc["predictions"];
  ASSERT_EQ(got->size(), want.size());
  double max_diff = 0;
  for (size_t i = 0; i < got->size(); ++i) {
    const nlohmann::json& b = want[i]["boundingBox"];
    EXPECT_EQ((*got)[i].tag, want[i]["tagName"].get<std::string>()) << i;
    for (auto [ours, theirs] : {std::pair{double((*got)[i].probability), want[i]["probability"].get<double>()},
                                {(*got)[i].box.left, b["left"].get<double>()},
                                {(*got)[i].box.top, b["top"].get<double>()},
                                {(*got)[i].box.width, b["width"].get<double>()},
                                {(*got)[i].box.height, b["height"].get<double>()}}) {
      EXPECT_NEAR(ours, theirs, 1e-4) << "detection " << i;
      max_diff = std::max(max_diff, std::abs(ours - theirs));
    }
  }
  std::printf("[ parity   ] synthetic detector: engine vs OpenCV DNN max |raw diff| %.2g; %zu detections, max "
              "|diff| vs the reference %.2g\n", max_raw, got->size(), max_diff);
}

}  // namespace
}  // namespace edgevision::detect
