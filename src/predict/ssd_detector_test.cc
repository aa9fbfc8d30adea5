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
#include <cstdio>
#include <filesystem>
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
#include "predict/s1_golden_test_util.h"
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
  const nlohmann::json golden = Golden();
  ASSERT_EQ(golden["photos"].size(), 4u);
  testing::ExpectS1RawOutputs(*m, golden, 3);  // [1, N, 4]: the ONNX sample's batch dimension
}

// Both S1 containers' answers on the four photos (s1_fruit.json).
void ExpectTheS1ContainersAnswers(const Classifier& c) {
  const nlohmann::json golden = Golden();
  ASSERT_EQ(golden["photos"].size(), 4u);
  const testing::S1Diff d = testing::ExpectS1Answers(c, golden);
  std::printf("[ vs the S1 containers, s1_fruit.json ] 4 photos, %zu detections, max |box diff| %.2g, "
              "max |probability diff| %.2g\n",
              d.count, d.box, d.score);
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
// run, soft NMS, an NMS variant it does not know: refused at load naming the node.
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
    nms->set_op("NonMaxSuppressionWithOverlaps");
  });
  EXPECT_NE(why.find("(NonMaxSuppressionWithOverlaps)"), std::string::npos) << why;
  // A frozen tf.map_fn / TensorArray batch NMS: its loop ops after NMS.
  why = refused([&](tf::GraphDef* def) { node(def, "nms/concat_scores")->set_op("TensorArrayGatherV3"); });
  EXPECT_NE(why.find("'nms/concat_scores' (TensorArrayGatherV3)"), std::string::npos) << why;
  EXPECT_NE(why.find("while loop"), std::string::npos) << why;
}

// TensorFlow's NonMaxSuppressionV4/V5 with their other outputs read or the
// indices padded run TensorFlow's own kernel (the tail's TFLite-style NMS
// with kTensorFlowNmsAttr): class 0 as V5 whose selected_scores give the
// rows' scores; class 2 as V4 padded to max_output_size, its indices Sliced
// to the valid count. The graph selects what the V3 graph selects, so the
// S1 containers' answers (s1_fruit.json) hold.
TEST(S1TensorFlowTailTest, PaddedAndCountedV4V5RunTensorFlowsKernel) {
  tf::GraphDef def;
  ASSERT_TRUE(def.ParseFromString(edgevision::testing::ReadText(TestData("synthetic/s1_formats/tf/model.pb"))));
  auto node = [&](const std::string& name) -> tf::NodeDef* {
    for (tf::NodeDef& n : *def.mutable_node()) {
      if (n.name() == name) return &n;
    }
    ADD_FAILURE() << name;
    return def.add_node();
  };
  auto add = [&](const std::string& name, const std::string& op, std::vector<std::string> inputs) {
    tf::NodeDef* n = def.add_node();
    n->set_name(name);
    n->set_op(op);
    for (const std::string& in : inputs) n->add_input(in);
    return n;
  };
  auto int_const = [&](const std::string& name, std::vector<int32_t> values) {
    tf::NodeDef* n = add(name, "Const", {});
    (*n->mutable_attr())["dtype"].set_type(tf::DT_INT32);
    tf::TensorProto* t = (*n->mutable_attr())["value"].mutable_tensor();
    t->set_dtype(tf::DT_INT32);
    t->mutable_tensor_shape()->add_dim()->set_size(static_cast<int64_t>(values.size()));
    for (int32_t v : values) t->add_int_val(v);
  };
  // Class 0: V5 (soft_nms_sigma 0), its scores output read instead of a GatherV2.
  tf::NodeDef* v5 = node("nms/class_0/NonMaxSuppressionV3");
  v5->set_op("NonMaxSuppressionV5");
  v5->add_input("nms/sigma");
  tf::NodeDef* sigma = add("nms/sigma", "Const", {});
  (*sigma->mutable_attr())["dtype"].set_type(tf::DT_FLOAT);
  tf::TensorProto* t = (*sigma->mutable_attr())["value"].mutable_tensor();
  t->set_dtype(tf::DT_FLOAT);
  t->add_float_val(0.0f);
  tf::NodeDef* scores0 = node("nms/class_0/selected_scores");
  scores0->set_op("Identity");
  scores0->clear_input();
  scores0->add_input("nms/class_0/NonMaxSuppressionV3:1");
  scores0->mutable_attr()->clear();
  (*scores0->mutable_attr())["T"].set_type(tf::DT_FLOAT);
  // Class 2: V4 padded, then Slice(indices, [0], Reshape(count, [1])).
  tf::NodeDef* v4 = node("nms/class_2/NonMaxSuppressionV3");
  v4->set_op("NonMaxSuppressionV4");
  (*v4->mutable_attr())["pad_to_max_output_size"].set_b(true);
  int_const("nms/class_2/one", {1});
  int_const("nms/class_2/zero", {0});
  tf::NodeDef* count = add("nms/class_2/count", "Reshape", {v4->name() + ":1", "nms/class_2/one"});
  (*count->mutable_attr())["T"].set_type(tf::DT_INT32);
  (*count->mutable_attr())["Tshape"].set_type(tf::DT_INT32);
  tf::NodeDef* valid = add("nms/class_2/valid", "Slice", {v4->name(), "nms/class_2/zero", "nms/class_2/count"});
  (*valid->mutable_attr())["T"].set_type(tf::DT_INT32);
  (*valid->mutable_attr())["Index"].set_type(tf::DT_INT32);
  for (const char* reader : {"nms/class_2/boxes", "nms/class_2/selected_scores", "nms/class_2/classes"}) {
    node(reader)->set_input(1, "nms/class_2/valid");
  }
  edgevision::testing::TempDir dir;
  std::ofstream(dir.File("model.pb"), std::ios::binary) << def.SerializeAsString();
  std::filesystem::copy_file(TestData("synthetic/s1_formats/tf/labels.txt"), dir.File("labels.txt"));
  Result<model::LoadedModel> m = model::LoadModel(dir.File("model.pb"));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->detector);
  const auto& nodes = m->detector->ssd_tail.nodes;
  EXPECT_EQ(std::count_if(nodes.begin(), nodes.end(), [](const detect::TailNode& n) {
              return n.op == detect::kTfliteNmsOp && n.ints.count(detect::kTensorFlowNmsAttr);
            }),
            3);  // class 1's unpadded V3 too
  auto c = Classifier::Create(std::move(*m), engine::MakeXnnpackBackend(), ClassifierOptions{});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ExpectTheS1ContainersAnswers(**c);
}

// Exact ties through the unpadded NonMaxSuppressionV3 of the TensorFlow S1
// graph (issue 13). TensorFlow 2.0's DoNonMaxSuppressionOp, which every
// NonMaxSuppressionV2..V5 kernel calls, pushes the candidates above the score
// threshold in index order into a std::priority_queue over a std::deque whose
// comparator looks at the score alone, pops the top and, in 2.0, pushes a
// selected candidate back (it is dropped when it pops again). Equal scores
// therefore pop in the heap's order, not by index. TFLite's reference kernel
// is the same code, and Google's TFLite C runtime 2.9 pops eight equal
// scores pushed in index order as 0, 2, 6, 7, 5, 4, 3, 1
// (nms_tail_test.cc, TfliteNmsFollowsTheKernelTiesZeroAreaAndPadding). The
// graph's TopKV2 keeps that order (equal scores, lower index first). Before
// the unpadded path ran TensorFlow's kernel, it gave 0, 1, ..., 7.
TEST(S1TensorFlowTailTest, TiesInAnUnpaddedV3PopInTensorFlowsHeapOrder) {
  Result<model::LoadedModel> m = model::LoadModel(TestData("synthetic/s1_formats/tf").string());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->detector);
  const detect::TailGraph& tail = m->detector->ssd_tail;
  ASSERT_EQ(tail.inputs.size(), 2u);
  ASSERT_EQ(tail.inputs[0].name, "scores");  // [400, 3]
  ASSERT_EQ(tail.inputs[1].name, "boxes");   // [400, 4]
  // Eight disjoint boxes (rows 50 * j) scored exactly 0.5 for class 0, above
  // the graph's 0.3; every other score 0.
  std::vector<float> packed(tail.packed_size(), 0.0f);
  for (int64_t row = 0; row < 400; ++row) {
    float* box = packed.data() + tail.inputs[1].offset + row * 4;
    box[0] = 0.002f * static_cast<float>(row), box[1] = 0.0f;
    box[2] = 0.002f * static_cast<float>(row) + 0.001f, box[3] = 0.001f;
  }
  for (int j = 0; j < 8; ++j) packed[tail.inputs[0].offset + 50 * j * 3] = 0.5f;
  auto outputs = detect::RunTail(tail, packed);
  ASSERT_TRUE(outputs.ok()) << outputs.status().ToString();
  const detect::TailTensor& boxes = outputs->at("detected_boxes");
  ASSERT_EQ(boxes.shape, (std::vector<int64_t>{8, 4}));
  std::vector<int64_t> rows;
  for (int64_t k = 0; k < 8; ++k) rows.push_back(std::lround(boxes.f[k * 4] / 0.002f));
  EXPECT_EQ(rows, (std::vector<int64_t>{0, 100, 300, 350, 250, 200, 150, 50}));
  EXPECT_EQ(outputs->at("detected_classes").i, std::vector<int64_t>(8, 0));
}

// The S1 network ending in TensorFlow's CombinedNonMaxSuppression
// (tests/parity/make_s1_tf.py: 20 per class, max_total_size 44, IoU 0.45,
// score 0.3, clip_boxes, float classes Cast to int64), rows Sliced to
// valid_detections (tf-combined) or all 44 (tf-combined-padded), against the
// 2023 S1 container's app.py with TensorFlow replaced by ONNX Runtime (the
// network) and a numpy reimplementation of TensorFlow 2.0's kernel (the tail).
class S1TensorFlowCombinedNmsTest : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(S1TensorFlowCombinedNmsTest, SplitsAtCombinedNmsAndAnswersAsTheS1Container) {
  const auto [folder, golden_file] = GetParam();
  Result<model::LoadedModel> m = model::LoadModel(TestData(std::string("synthetic/s1_formats/") + folder).string());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  ASSERT_TRUE(m->detector);
  EXPECT_EQ(m->detector->family, detect::DetectorFamily::kSsd);
  EXPECT_EQ(m->info.input_name, "image_tensor");
  EXPECT_EQ(m->preprocess.color, image::ColorOrder::kRGB);
  // The engine runs the network up to the boxes [1, 400, 1, 4] and scores [1, 400, 3] NMS reads.
  const detect::TailGraph& tail = m->detector->ssd_tail;
  ASSERT_EQ(tail.inputs.size(), 2u);
  EXPECT_EQ(tail.inputs[0].shape, (std::vector<int64_t>{1, 400, 1, 4}));
  EXPECT_EQ(tail.inputs[1].shape, (std::vector<int64_t>{1, 400, 3}));
  EXPECT_EQ(std::count_if(tail.nodes.begin(), tail.nodes.end(),
                          [](const detect::TailNode& n) { return n.op == detect::kTensorFlowCombinedNmsOp; }),
            1);
  EXPECT_TRUE(std::any_of(m->info.rewrites.begin(), m->info.rewrites.end(), [](const std::string& r) {
    return r.find("split the S1 detector at NonMaxSuppression") != std::string::npos &&
           r.find("CombinedNonMaxSuppression") != std::string::npos;
  }));
  const nlohmann::json golden =
      nlohmann::json::parse(edgevision::testing::ReadText(TestData(std::string("detection/golden/") + golden_file)));
  ASSERT_EQ(golden["photos"].size(), 4u);
  testing::ExpectS1Golden(std::move(*m), golden, 2, folder);
}

INSTANTIATE_TEST_SUITE_P(Formats, S1TensorFlowCombinedNmsTest,
                         ::testing::Values(std::pair{"tf-combined", "s1_fruit_combined.json"},
                                           std::pair{"tf-combined-padded", "s1_fruit_combined_padded.json"}),
                         [](const auto& p) {
                           std::string name = p.param.first;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

INSTANTIATE_TEST_SUITE_P(Formats, S1TensorFlowExportTest,
                         ::testing::Values("tf", "docker-s1-pb-2023", "docker-s1-pb-2023.zip", "savedmodel", "tfjs"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           std::string name = p.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           std::replace(name.begin(), name.end(), '.', '_');
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
