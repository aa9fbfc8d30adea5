// S1 (SSD-style) detectors served in-process: an ONNX export folder holding
// the synthetic tests/data/synthetic/s1_fruit.onnx (NonMaxSuppression,
// GatherND, TopK... inside; outputs with a batch dimension) or
// s1_nms_contract.onnx (input `data`, outputs without one) through
// LoadModel, the XNNPACK engine and the NMS tail, against
// tests/data/detection/golden/s1_fruit.json: both S1 containers' predict.py
// answering the same photos with ONNX Runtime as their runtime.
//   - the raw detected_* outputs match ONNX Runtime's (boxes and scores
//     within 1e-4, classes and row order exactly);
//   - the detections match the containers' (same rows, same order, boxes
//     and probabilities within 1e-4).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <functional>
#include <set>

#include "detect/golden_test_util.h"
#include "detect/nms_tail.h"
#include "detect/ssd.h"
#include "engine/xnnpack_backend.h"
#include "image/detector_preprocess.h"
#include "model/model.h"
#include "model/schemas/tf_graph.pb.h"
#include "predict/classifier.h"
#include "s1_export.h"
#include "test_support.h"

namespace edgevision::predict {
namespace {

using edgevision::testing::ReadBytes;
using edgevision::testing::TestData;
using edgevision::detect::testing::Hex;
namespace tf = ::edgevision::tf;

nlohmann::json Golden() {
  return nlohmann::json::parse(edgevision::testing::ReadText(TestData("detection/golden/s1_fruit.json")));
}

std::unique_ptr<Classifier> Load(const std::string& path) {
  Result<model::LoadedModel> m = model::LoadModel(path);
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  if (!m.ok()) return nullptr;
  auto c = Classifier::Create(std::move(*m), engine::MakeXnnpackBackend(), ClassifierOptions{});
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(c).value() : nullptr;
}

TEST(SsdDetectorTest, AnOnnxS1ExportLoadsAsAnS1Detector) {
  edgevision::testing::TempDir dir;
  Result<model::LoadedModel> m = model::LoadModel(edgevision::testing::MakeSyntheticS1Export(dir));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->detector);
  EXPECT_EQ(m->detector->family, detect::DetectorFamily::kSsd);
  EXPECT_EQ(m->info.domain, "ObjectDetection");
  EXPECT_NE(m->detector->family_evidence.find("detected_boxes"), std::string::npos) << m->detector->family_evidence;
  EXPECT_EQ(m->preprocess.color, image::ColorOrder::kRGB);
  EXPECT_EQ(m->preprocess.input_width, 320);
  EXPECT_EQ(m->preprocess.input_height, 320);
  EXPECT_EQ(m->info.input_name, "image_tensor");
  EXPECT_EQ(m->info.output_name, "detected_boxes, detected_scores, detected_classes");
  // The engine runs the network up to what the tail reads: boxes [1, 400, 4],
  // scores [1, 3, 400] and the boxes' Squeeze [400, 4] (computed before NMS),
  // packed into one output.
  ASSERT_EQ(m->detector->ssd_tail.inputs.size(), 3u);
  EXPECT_EQ(m->detector->ssd_tail.inputs[0].shape, (std::vector<int64_t>{1, 400, 4}));
  EXPECT_EQ(m->detector->ssd_tail.inputs[1].shape, (std::vector<int64_t>{1, 3, 400}));
  EXPECT_EQ(m->detector->ssd_tail.inputs[2].shape, (std::vector<int64_t>{400, 4}));
  EXPECT_EQ(m->detector->ssd_tail.packed_size(), 4400u);
  EXPECT_TRUE(std::any_of(m->info.rewrites.begin(), m->info.rewrites.end(), [](const std::string& r) {
    return r.find("split the S1 detector at NonMaxSuppression") != std::string::npos;
  }));
}

// The engine + tail's raw outputs on the tensor edgevision builds, against
// ONNX Runtime's on the tensor the container built.
TEST(SsdDetectorTest, RawOutputsMatchOnnxRuntime) {
  edgevision::testing::TempDir dir;
  Result<model::LoadedModel> m = model::LoadModel(edgevision::testing::MakeSyntheticS1Export(dir));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto compiled = engine::MakeXnnpackBackend()->Compile(m->graph, engine::EngineOptions{});
  ASSERT_TRUE(compiled.ok()) << compiled.status().ToString();
  auto session = (*compiled)->CreateSession();
  ASSERT_TRUE(session.ok());
  const nlohmann::json golden = Golden();
  ASSERT_EQ(golden["photos"].size(), 4u);
  for (const nlohmann::json& photo : golden["photos"]) {
    SCOPED_TRACE(photo["name"].get<std::string>());
    auto decoded = image::Decode(ReadBytes(TestData(photo["photo"].get<std::string>())), {});
    ASSERT_TRUE(decoded.ok());
    auto tensor = image::PreprocessStretch(std::move(*decoded), 320, 320, image::ColorOrder::kRGB);
    ASSERT_TRUE(tensor.ok());
    std::vector<float> packed((*compiled)->output_size());
    ASSERT_TRUE((*session)->Run(tensor->data, packed).ok());
    auto outputs = detect::RunTail(m->detector->ssd_tail, packed);
    ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
    EXPECT_EQ(outputs->at("detected_boxes").shape.size(), 3u);  // [1, N, 4]: the ONNX sample's batch dimension
    auto rows = detect::SsdFromOutputs(*outputs);
    ASSERT_TRUE(rows.ok()) << rows.status().ToString();
    const nlohmann::json& raw = photo["raw"];
    ASSERT_EQ(rows->scores.size(), raw["detected_scores"].size());
    ASSERT_FALSE(rows->scores.empty());
    for (size_t i = 0; i < rows->scores.size(); ++i) {
      EXPECT_EQ(rows->classes[i], raw["detected_classes"][i].get<int64_t>()) << i;
      EXPECT_NEAR(rows->scores[i], Hex(raw["detected_scores"][i]), 1e-4) << i;
      for (size_t k = 0; k < 4; ++k) EXPECT_NEAR(rows->boxes[i * 4 + k], Hex(raw["detected_boxes"][i][k]), 1e-4) << i;
    }
  }
}

// Both S1 containers' answers on the four photos (s1_fruit.json).
void ExpectTheS1ContainersAnswers(const Classifier& c) {
  const nlohmann::json golden = Golden();
  ASSERT_EQ(golden["photos"].size(), 4u);
  for (const nlohmann::json& photo : golden["photos"]) {
    SCOPED_TRACE(photo["name"].get<std::string>());
    Result<DetectionResult> r = c.DetectImage(ReadBytes(TestData(photo["photo"].get<std::string>())));
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r->input_width, 320);
    EXPECT_EQ(r->input_height, 320);
    detect::testing::ExpectSameDetections(r->detections, detect::testing::PredictionsFromJson(photo["predictions"]));
    std::set<std::string> tags;
    for (const detect::Detection& d : r->detections) tags.insert(d.tag);
    EXPECT_GE(tags.size(), 2u);  // several classes, overlapping boxes
  }
}

TEST(SsdDetectorTest, AnswersAsTheS1ContainersOnEveryPhoto) {
  edgevision::testing::TempDir dir;
  auto c = Load(edgevision::testing::MakeSyntheticS1Export(dir));
  ASSERT_TRUE(c);
  ASSERT_NE(c->detector(), nullptr);
  EXPECT_TRUE(c->detector()->is_ssd());
  ExpectTheS1ContainersAnswers(*c);
}

// The same S1 network as TensorFlow exports (tests/parity/make_s1_tf.py:
// `image_tensor` [1,320,320,3] -> detected_* without a batch dimension, the
// multi-class NMS unrolled per class with NonMaxSuppressionV3, GatherV2,
// ConcatV2, TopKV2, Cast), a bare TensorFlow export and the 2023 S1
// Dockerfile export's layout: the TensorFlow importer splits it at
// NonMaxSuppressionV3 and the same answers come out.
class S1TensorFlowExportTest : public ::testing::TestWithParam<const char*> {};

TEST_P(S1TensorFlowExportTest, SplitsAtNmsAndAnswersAsTheS1Containers) {
  const std::string path = TestData(std::string("synthetic/s1_formats/") + GetParam()).string();
  Result<model::LoadedModel> m = model::LoadModel(path);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->detector);
  const std::string folder = GetParam();
  EXPECT_EQ(m->info.format, folder == "savedmodel" ? "TensorFlow SavedModel"
                            : folder == "tfjs"     ? "TF.js graph model"
                                                   : "TensorFlow GraphDef");
  EXPECT_EQ(m->detector->family, detect::DetectorFamily::kSsd);
  EXPECT_EQ(m->info.input_name, "image_tensor");
  EXPECT_EQ(m->preprocess.color, image::ColorOrder::kRGB);
  EXPECT_EQ(m->preprocess.input_width, 320);
  EXPECT_EQ(m->preprocess.input_height, 320);
  // The engine runs the network up to scores [400, 3] and boxes [400, 4]
  // (in the order the tail first reads them).
  ASSERT_EQ(m->detector->ssd_tail.inputs.size(), 2u);
  EXPECT_EQ(m->detector->ssd_tail.inputs[0].name, "scores");
  EXPECT_EQ(m->detector->ssd_tail.inputs[0].shape, (std::vector<int64_t>{400, 3}));
  EXPECT_EQ(m->detector->ssd_tail.inputs[1].name, "boxes");
  EXPECT_EQ(m->detector->ssd_tail.inputs[1].shape, (std::vector<int64_t>{400, 4}));
  EXPECT_EQ(m->detector->ssd_tail.packed_size(), 2800u);
  EXPECT_TRUE(
      std::any_of(m->info.rewrites.begin(), m->info.rewrites.end(), [](const std::string& r) {
        return r.find("split the S1 detector at NonMaxSuppression") != std::string::npos &&
               r.find("NonMaxSuppressionV3") != std::string::npos;
      }));
  auto c = Classifier::Create(std::move(*m), engine::MakeXnnpackBackend(), ClassifierOptions{});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ExpectTheS1ContainersAnswers(**c);
}

// The TensorFlow S1 graph with its tail changed: an op the tail does not
// run, soft NMS, a padded NMS output: refused at load naming the node.
TEST(S1TensorFlowTailTest, WhatTheTailCannotRunIsRefusedNamingTheNode) {
  const std::string bytes =
      edgevision::testing::ReadText(TestData("synthetic/s1_formats/tf/model.pb"));
  auto refused = [&](const std::function<void(tf::GraphDef*)>& edit) {
    tf::GraphDef def;
    EXPECT_TRUE(def.ParseFromString(bytes));
    edit(&def);
    edgevision::testing::TempDir dir;
    std::ofstream(dir.File("model.pb"), std::ios::binary) << def.SerializeAsString();
    Result<model::LoadedModel> m = model::LoadModel(dir.File("model.pb"));
    EXPECT_FALSE(m.ok());
    return m.ok() ? std::string() : m.status().message();
  };
  auto node = [](tf::GraphDef* def, const std::string& name) -> tf::NodeDef* {
    for (tf::NodeDef& n : *def->mutable_node()) {
      if (n.name() == name) return &n;
    }
    ADD_FAILURE() << name;
    return def->add_node();
  };
  std::string why = refused([&](tf::GraphDef* def) { node(def, "sort/TopKV2")->set_op("Unique"); });
  EXPECT_NE(why.find("'sort/TopKV2' (Unique)"), std::string::npos) << why;
  EXPECT_NE(why.find("after NonMaxSuppression"), std::string::npos) << why;
  why = refused([&](tf::GraphDef* def) {
    tf::NodeDef* nms = node(def, "nms/class_1/NonMaxSuppressionV3");
    nms->set_op("NonMaxSuppressionV5");
    nms->add_input("nms/sigma");
    tf::NodeDef* sigma = def->add_node();
    sigma->set_name("nms/sigma");
    sigma->set_op("Const");
    (*sigma->mutable_attr())["dtype"].set_type(tf::DT_FLOAT);
    tf::TensorProto* t = (*sigma->mutable_attr())["value"].mutable_tensor();
    t->set_dtype(tf::DT_FLOAT);
    t->add_float_val(0.5f);
  });
  EXPECT_NE(why.find("nms/class_1/NonMaxSuppressionV3' (NonMaxSuppressionV5)"), std::string::npos)
      << why;
  EXPECT_NE(why.find("soft NMS"), std::string::npos) << why;
  why = refused([&](tf::GraphDef* def) {
    tf::NodeDef* nms = node(def, "nms/class_2/NonMaxSuppressionV3");
    nms->set_op("NonMaxSuppressionV4");
    (*nms->mutable_attr())["pad_to_max_output_size"].set_b(true);
  });
  EXPECT_NE(why.find("pad_to_max_output_size"), std::string::npos) << why;
}

INSTANTIATE_TEST_SUITE_P(Formats, S1TensorFlowExportTest,
                         ::testing::Values("tf", "docker-s1-pb-2023", "savedmodel", "tfjs"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           std::string name = p.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

// The contract graph: input `data`, outputs without a batch dimension, Split
// in the network, opset 11 Squeeze; its zero-area boxes never suppress each
// other, so NMS keeps its 10 per class.
TEST(SsdDetectorTest, TheContractGraphWithUnbatchedOutputsServes) {
  edgevision::testing::TempDir dir;
  auto c = Load(edgevision::testing::MakeSyntheticS1Export(dir, "s1_nms_contract.onnx"));
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->detector()->is_ssd());
  Result<DetectionResult> r = c->DetectImage(ReadBytes(TestData("detection/fruit_scene.png")));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->detections.size(), 20u);
  for (const detect::Detection& d : r->detections) {
    EXPECT_TRUE(d.tag == "apple" || d.tag == "banana") << d.tag;  // two classes in this graph
    EXPECT_GT(d.probability, 0.1f);
  }
}

TEST(SsdDetectorTest, BadImagesAreInvalidArgumentAndTheDetectorKeepsServing) {
  edgevision::testing::TempDir dir;
  auto c = Load(edgevision::testing::MakeSyntheticS1Export(dir));
  ASSERT_TRUE(c);
  const std::string junk = "not an image";
  Result<DetectionResult> bad = c->DetectImage(std::span(reinterpret_cast<const uint8_t*>(junk.data()), junk.size()));
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  image::Tensor wrong;
  wrong.width = 64, wrong.height = 64, wrong.channels = 3;
  wrong.data.assign(64 * 64 * 3, 0.0f);
  EXPECT_EQ(c->detector()->DetectTensor(wrong).status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(c->DetectImage(ReadBytes(TestData("detection/fruit_scene.png"))).ok());
}

}  // namespace
}  // namespace edgevision::predict
