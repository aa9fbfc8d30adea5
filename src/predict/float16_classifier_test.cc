// An ONNX Float16 (OnnxFloat16) classifier, loaded as a user would load it
// (tests/data/synthetic/classifier_float16: the export folder, Flavor
// OnnxFloat16; make_float16_classifier.py: a small ShuffleNet-like network
// with random weights through Microsoft's float16 converter's rules, input
// Rgb8 / Normalized_0_1), against ONNX Runtime running the float16 file on
// the same tensors (tests/data/golden/classifier_float16.json, input cast to
// float16 as the ONNX sample's predict.py does, output widened): the
// probabilities within 1e-4. ONNX Runtime computes in float32 but stores
// float16 values at the input, where it hands a float32-computed tensor to a
// node it runs on float16 (the first channel Slice, the Concat before the
// channel shuffle) and at the output (model/onnx_float16.h); without that
// rounding edgevision's answers are 1.7e-4 from ONNX Runtime's (the
// golden's float32 column: the float32 network it was made from).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/xnnpack_backend.h"
#include "model/model.h"
#include "predict/classifier.h"
#include "test_support.h"

namespace edgevision::predict {
namespace {

using edgevision::testing::TestData;

constexpr int kSide = 64;  // the model's input side

// The golden's k-th tensor, NHWC (make_float16_classifier.py's tensor()).
image::Tensor GoldenTensor(int k) {
  image::Tensor t;
  t.height = kSide;
  t.width = kSide;
  t.channels = 3;
  for (int h = 0; h < kSide; ++h) {
    for (int w = 0; w < kSide; ++w) {
      for (int c = 0; c < 3; ++c) {
        t.data.push_back(static_cast<float>((7 * h + 13 * w + 29 * c + 41 * k) % 256) / 255.0f);
      }
    }
  }
  return t;
}

// The largest |difference| between `c`'s probabilities and the golden
// column `column` ("float16": ONNX Runtime on the file), over every tensor.
double WorstDiff(const Classifier& c, const nlohmann::json& golden, const std::string& column) {
  double worst = 0;
  for (const nlohmann::json& row : golden["tensors"]) {
    const int k = row["tensor"].get<int>();
    Result<Classification> r = c.ClassifyTensor(GoldenTensor(k));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok()) continue;
    EXPECT_EQ(r->scores.size(), row[column].size());
    for (const TagScore& s : r->scores) {
      const double want = row[column].at(static_cast<size_t>(s.index)).get<double>();
      worst = std::max(worst, std::fabs(static_cast<double>(s.probability) - want));
    }
  }
  return worst;
}

TEST(Float16ClassifierTest, TheOnnxFloat16ExportAnswersAsOnnxRuntimeOnTheFloat16File) {
  Result<model::LoadedModel> m = model::LoadModel(TestData("synthetic/classifier_float16").string());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_FALSE(m->detector);
  EXPECT_EQ(m->info.format, "ONNX");
  EXPECT_TRUE(m->output_float16);
  EXPECT_EQ(m->preprocess.scale, 1.0f / 255.0f);  // Normalized_0_1: the input is no half value
  const nlohmann::json golden =
      nlohmann::json::parse(edgevision::testing::ReadText(TestData("golden/classifier_float16.json")));
  ASSERT_EQ(golden["tensors"].size(), 4u);
  // ONNX Runtime casts three tensors to float16 (the second Slice's and the
  // Flatten's inputs stay float32: isolated nodes); edgevision rounds the
  // input and the outputs of the two nodes that read them, and the scores.
  EXPECT_EQ(golden["ort_float16_stores"], nlohmann::json({"model_outputs", "relu1", "relu2"}));
  bool said = false;
  for (const std::string& r : m->info.rewrites) {
    said = said || r.find("the input, the outputs of 2 data-movement nodes") != std::string::npos;
  }
  EXPECT_TRUE(said) << "the import does not say it rounds the input and 2 nodes' outputs";
  auto c = Classifier::Create(std::move(*m), engine::MakeXnnpackBackend(), ClassifierOptions{});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const double vs_ort = WorstDiff(**c, golden, "float16");
  const double vs_float32 = WorstDiff(**c, golden, "float32");
  EXPECT_LE(vs_ort, 1e-4);
  // The float16 file's answers are not the float32 network's: the test
  // could tell the two apart.
  EXPECT_GT(vs_float32, 1e-4);
  std::printf("[ vs ONNX Runtime on the float16 file ] 4 tensors, max |probability diff| %.2g "
              "(vs the float32 network: %.2g)\n",
              vs_ort, vs_float32);
}

}  // namespace
}  // namespace edgevision::predict
