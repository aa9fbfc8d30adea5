// Tests of the ONNX importer (model/onnx_importer.cc) on the real and
// synthetic exports, and of graph normalisation on every real model the
// importers read. Hand-built models (edge cases, hostile content):
// onnx_handbuilt_test.cc.
//
// Reference numbers come from tests/data/synthetic/expected_outputs.txt,
// written by tests/data/synthetic/make_synthetic_onnx.py with PyTorch (an
// independent implementation of every op involved).
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "graph/eval_for_test.h"
#include "graph/normalize.h"
#include "graph/normalize_passes.h"
#include "graph/shape_inference.h"
#include "model/importer.h"
#include "model/onnx_test_util.h"
#include "test_support.h"

namespace edgevision::model {
namespace {

using graph::Graph;
using graph::Node;
using graph::Op;
using graph::Shape;
using graph::ValueId;
using onnx_test::Joined;
using onnx_test::kSynthetic;
using onnx_test::kUwp;
using onnx_test::kWinml;
using onnx_test::Mentions;
using onnx_test::NodeNamed;
using onnx_test::NodesOf;

Result<ImportedModel> ImportFile(const std::string& rel) {
  const std::vector<uint8_t> bytes = testing::ReadBytes(testing::TestData(rel));
  return ImportOnnx(bytes, rel);
}

ImportedModel MustImport(const std::string& rel) {
  Result<ImportedModel> r = ImportFile(rel);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(r).value() : ImportedModel{};
}

// The input make_synthetic_onnx.py uses, generated in NCHW order and returned
// NHWC for the graph.
std::vector<float> LcgInput(const Shape& nhwc, bool real) {
  const int64_t h = nhwc[1], w = nhwc[2], c = nhwc[3];
  std::vector<float> out(static_cast<size_t>(h * w * c));
  for (int64_t ch = 0; ch < c; ++ch) {
    for (int64_t y = 0; y < h; ++y) {
      for (int64_t x = 0; x < w; ++x) {
        const uint32_t i = static_cast<uint32_t>((ch * h + y) * w + x);
        const uint32_t u = ((i * 1103515245u + 12345u) >> 16) & 0xFFu;
        out[(y * w + x) * c + ch] = real ? float(u) : float(u) / 127.5f - 1.0f;
      }
    }
  }
  return out;
}

struct Expected {
  std::string model;
  bool logits = false;
  bool real = false;
  std::vector<float> values;
};

std::vector<Expected> ReadExpected() {
  std::ifstream in(testing::TestData("synthetic/expected_outputs.txt"));
  std::vector<Expected> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    Expected e;
    std::string kind;
    size_t n = 0;
    ls >> e.model >> kind >> n;
    e.logits = e.model.find("#logits") != std::string::npos;
    e.model = e.model.substr(0, e.model.find('#'));
    e.real = kind == "real";
    e.values.resize(n);
    for (float& v : e.values) ls >> v;
    out.push_back(e);
  }
  return out;
}

// Runs `g` on the deterministic input; with `logits`, reads the input of the
// final activation instead of the output.
std::vector<float> RunGraph(Graph g, bool real, bool logits) {
  if (logits) {
    const int p = g.ProducerOf(g.outputs[0]);
    EXPECT_GE(p, 0);
    g.outputs = {g.nodes[p].inputs[0]};
  }
  const std::vector<float> x = LcgInput(g.values[g.inputs[0]].shape, real);
  auto out = graph::EvaluateForTest(g, {x});
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? (*out)[0] : std::vector<float>{};
}

void ExpectClose(const std::vector<float>& got, const std::vector<float>& want,
                 const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    // Relative for large values, absolute near zero (softmax tails).
    EXPECT_NEAR(got[i], want[i], 2e-4 * std::fabs(want[i]) + 2e-6) << what << " [" << i << "]";
  }
}

// Normalises a copy and checks the post-conditions Normalize promises.
Graph NormalizeChecked(const Graph& imported, graph::NormalizeReport* report) {
  Graph g = imported;
  Status s = graph::Normalize(&g, report);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(graph::Validate(g).ok());
  EXPECT_TRUE(graph::CheckExecutable(g).ok());
  for (const graph::Value& v : g.values) {
    for (int64_t d : v.shape) EXPECT_GT(d, 0) << "'" << v.name << "' is not static";
  }
  return g;
}

// ---- the real exports ----------------------------------------------------------

TEST(OnnxImporterTest, WinmlFoodExport) {
  ImportedModel m = MustImport(kWinml);
  EXPECT_EQ(m.format, "ONNX");
  EXPECT_EQ(m.producer, "WinMLTools 0.1.0.5072");
  EXPECT_EQ(m.generation, "WinMLTools 2018 (ONNX 1.0)");
  EXPECT_EQ(m.input_name, "data");
  EXPECT_EQ(m.input_shape, (std::vector<int64_t>{-1, 3, 227, 227}));
  EXPECT_EQ(m.input_layout, "NCHW");
  EXPECT_EQ(m.output_name, "loss.1");
  EXPECT_EQ(m.output_activation, "sigmoid");
  EXPECT_EQ(m.embedded_labels, (std::vector<std::string>{"cheesecake", "Donuts", "Fries"}));
  EXPECT_FALSE(m.declared_color.has_value());
  EXPECT_FALSE(m.required_mean.has_value());
  EXPECT_EQ(m.source_ops.at("com.microsoft.LegacyPadding"), 3);
  EXPECT_EQ(m.source_ops.at("ai.onnx.ml.ZipMap"), 1);
  EXPECT_EQ(m.source_ops.at("ai.onnx.ml.ArrayFeatureExtractor"), 1);
  EXPECT_EQ(m.source_ops.at("FC"), 1);
  EXPECT_EQ(m.source_ops.at("Conv"), 25);
  EXPECT_TRUE(Mentions(m.rewrites, "removed the classifier tail (4 nodes")) << Joined(m.rewrites);
  EXPECT_TRUE(Mentions(m.rewrites, "re-ordered the nodes")) << Joined(m.rewrites);
  EXPECT_TRUE(Mentions(m.rewrites, "com.microsoft.LegacyPadding")) << Joined(m.rewrites);
  EXPECT_TRUE(Mentions(m.rewrites, "experimental FC")) << Joined(m.rewrites);

  const Graph& g = m.graph;
  ASSERT_TRUE(graph::Validate(g).ok());
  EXPECT_EQ(g.values[g.inputs[0]].shape, (Shape{-1, 227, 227, 3}));
  ASSERT_EQ(g.outputs.size(), 1u);
  EXPECT_EQ(g.values[g.outputs[0]].name, "loss.1");
  const std::map<std::string, int> ops = g.OpSummary();
  EXPECT_EQ(ops.at("Conv2D"), 25);
  EXPECT_EQ(ops.at("Pad"), 3);
  EXPECT_EQ(ops.at("MaxPool2D"), 3);
  EXPECT_EQ(ops.at("FullyConnected"), 1);
  EXPECT_EQ(ops.at("BatchNorm"), 1);

  // LegacyPadding = what Caffe's ceil mode implies at each pool:
  // pool1 113 -> 56 (+0), pool3 56 -> 28 (+1), pool5 28 -> 14 (+1).
  const std::vector<const Node*> pads = NodesOf(g, Op::kPad);
  ASSERT_EQ(pads.size(), 3u);
  EXPECT_EQ(pads[0]->attrs.ints, (std::vector<int64_t>{0, 0, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(pads[1]->attrs.ints, (std::vector<int64_t>{0, 0, 0, 0, 0, 1, 1, 0}));
  EXPECT_EQ(pads[2]->attrs.ints, (std::vector<int64_t>{0, 0, 0, 0, 0, 1, 1, 0}));
  for (const Node* p : pads) EXPECT_EQ(p->attrs.pad_value, -std::numeric_limits<float>::max());
  EXPECT_EQ(g.values[g.FindValue("pool1")].shape, (Shape{1, 56, 56, 64}));
  EXPECT_EQ(g.values[g.FindValue("pool3")].shape, (Shape{1, 28, 28, 128}));
  EXPECT_EQ(g.values[g.FindValue("pool5")].shape, (Shape{1, 14, 14, 256}));
}

TEST(OnnxImporterTest, UwpCatdogExport) {
  ImportedModel m = MustImport(kUwp);
  EXPECT_EQ(m.producer, "OnnxMLTools 1.2.2.0129");
  EXPECT_EQ(m.generation, "ONNX 1.2 / opset 7 (OnnxMLTools)");
  ASSERT_TRUE(m.declared_color.has_value());
  EXPECT_EQ(*m.declared_color, image::ColorOrder::kBGR);
  EXPECT_EQ(m.metadata.at("Image.BitmapPixelFormat"), "Bgr8");
  EXPECT_EQ(m.embedded_labels, (std::vector<std::string>{"cat", "dog", "Negative"}));
  EXPECT_EQ(m.input_shape, (std::vector<int64_t>{-1, 3, 227, 227}));
  EXPECT_EQ(m.output_name, "loss1");
  EXPECT_EQ(m.output_activation, "softmax");
  EXPECT_EQ(m.source_ops.at("Gemm"), 1);
  EXPECT_EQ(m.source_ops.at("Pad"), 3);
  EXPECT_TRUE(Mentions(m.rewrites, "treated 56 graph inputs that have initializers as constants"))
      << Joined(m.rewrites);
  EXPECT_TRUE(Mentions(m.rewrites, "removed the classifier tail")) << Joined(m.rewrites);
  EXPECT_FALSE(Mentions(m.rewrites, "re-ordered")) << Joined(m.rewrites);
  // Pad pads in NCHW begin/end order [0,0,0,0, 0,0,1,1] become NHWC.
  const std::vector<const Node*> pads = NodesOf(m.graph, Op::kPad);
  ASSERT_EQ(pads.size(), 3u);
  EXPECT_EQ(pads[1]->attrs.ints, (std::vector<int64_t>{0, 0, 0, 0, 0, 1, 1, 0}));
  EXPECT_EQ(m.graph.values[m.graph.FindValue("pool3")].shape, (Shape{1, 28, 28, 128}));
}

// Weights are checked against the initializers read straight from the file
// with the ONNX protobuf classes.
TEST(OnnxImporterTest, WeightLayoutMatchesTheFile) {
  for (const std::string rel : {kWinml, kUwp}) {
    SCOPED_TRACE(rel);
    const std::vector<uint8_t> bytes = testing::ReadBytes(testing::TestData(rel));
    onnx::ModelProto proto;
    ASSERT_TRUE(proto.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
    std::map<std::string, const onnx::TensorProto*> inits;
    for (const onnx::TensorProto& t : proto.graph().initializer()) inits[t.name()] = &t;
    ImportedModel m = MustImport(rel);
    int convs = 0;
    for (const Node& n : m.graph.nodes) {
      if (n.op != Op::kConv2D && n.op != Op::kFullyConnected) continue;
      const graph::Value& w = m.graph.values[n.inputs[1]];
      ASSERT_TRUE(inits.count(w.name)) << w.name;
      const onnx::TensorProto& t = *inits[w.name];
      ASSERT_EQ(t.data_type(), onnx::TensorProto::FLOAT);
      ASSERT_EQ(t.float_data_size(), static_cast<int>(w.f32.size()));
      if (n.op == Op::kFullyConnected) {
        EXPECT_EQ(w.shape, (Shape{t.dims(0), t.dims(1)}));
        for (int i = 0; i < t.float_data_size(); ++i) ASSERT_EQ(w.f32[i], t.float_data(i));
        continue;
      }
      ++convs;
      const int64_t o = t.dims(0), ci = t.dims(1), kh = t.dims(2), kw = t.dims(3);
      ASSERT_EQ(w.shape, (Shape{o, kh, kw, ci}));
      for (int64_t a = 0; a < o; ++a)
        for (int64_t c = 0; c < ci; ++c)
          for (int64_t y = 0; y < kh; ++y)
            for (int64_t x = 0; x < kw; ++x)
              ASSERT_EQ(w.f32[((a * kh + y) * kw + x) * ci + c],
                        t.float_data(static_cast<int>(((a * ci + c) * kh + y) * kw + x)));
      const graph::Value& b = m.graph.values[n.inputs[2]];
      const onnx::TensorProto& tb = *inits[b.name];
      for (int i = 0; i < tb.float_data_size(); ++i) ASSERT_EQ(b.f32[i], tb.float_data(i));
    }
    EXPECT_EQ(convs, 25);
  }
}

TEST(OnnxImporterTest, RealExportsNormalizeToTheEngineOpSet) {
  for (const std::string rel : {kWinml, kUwp}) {
    SCOPED_TRACE(rel);
    ImportedModel m = MustImport(rel);
    graph::NormalizeReport report;
    Graph g = NormalizeChecked(m.graph, &report);
    const std::string final_op = rel == kWinml ? "Sigmoid" : "Softmax";
    const std::map<std::string, int> expected = {{"Concat", 8},         {"Conv2D", 25},
                                                 {"FullyConnected", 1}, {"GlobalAvgPool", 1},
                                                 {"MaxPool2D", 3},      {final_op, 1}};
    EXPECT_EQ(g.OpSummary(), expected) << Joined(report.rewrites);
    // The data_bn affine went into conv1, the LegacyPadding / Pad into the pools.
    EXPECT_TRUE(Mentions(report.rewrites, "folded the per-channel affine on input 'data'"))
        << Joined(report.rewrites);
    EXPECT_TRUE(Mentions(report.rewrites, "merged 2 Pad(-FLT_MAX) into the following MaxPool2D"));
    EXPECT_TRUE(Mentions(report.rewrites, "fused 25 Relu into Conv2D"));
    EXPECT_EQ(g.nodes[0].op, Op::kConv2D);
    EXPECT_EQ(g.nodes[0].inputs[0], g.inputs[0]);
    const std::vector<const Node*> pools = NodesOf(g, Op::kMaxPool2D);
    ASSERT_EQ(pools.size(), 3u);
    EXPECT_EQ(pools[0]->attrs.pad_bottom, 0);
    EXPECT_EQ(pools[1]->attrs.pad_bottom, 1);
    EXPECT_EQ(pools[2]->attrs.pad_right, 1);
    EXPECT_EQ(g.values[g.inputs[0]].shape, (Shape{1, 227, 227, 3}));
    EXPECT_EQ(g.values[g.outputs[0]].shape, (Shape{1, 3}));
  }
}

// ---- numerics against PyTorch ------------------------------------------------------

TEST(OnnxImporterTest, MatchesReferenceOutputsImportedAndNormalized) {
  const std::vector<Expected> expected = ReadExpected();
  ASSERT_GE(expected.size(), 10u);
  for (const Expected& e : expected) {
    SCOPED_TRACE(e.model + (e.logits ? " (logits)" : ""));
    ImportedModel m = MustImport(e.model);
    if (m.graph.inputs.empty()) continue;
    ExpectClose(RunGraph(m.graph, e.real, e.logits), e.values, "imported");
    graph::NormalizeReport report;
    Graph g = NormalizeChecked(m.graph, &report);
    ExpectClose(RunGraph(g, e.real, e.logits), e.values, "normalized");
  }
}

// ---- the synthetic modern exports ------------------------------------------------

TEST(OnnxImporterTest, TorchMobileNetExports) {
  for (const char* rel : {kSynthetic[0], kSynthetic[1], kSynthetic[2]}) {
    SCOPED_TRACE(rel);
    ImportedModel m = MustImport(rel);
    EXPECT_EQ(m.producer.rfind("pytorch", 0), 0u) << m.producer;
    EXPECT_EQ(m.input_shape, (std::vector<int64_t>{-1, 3, 32, 32}));
    EXPECT_EQ(m.output_name, "scores");
    EXPECT_EQ(m.output_activation, "softmax");
    EXPECT_TRUE(m.embedded_labels.empty());
    EXPECT_TRUE(Mentions(m.rewrites, "nodes on constants at import")) << Joined(m.rewrites);
    EXPECT_TRUE(Mentions(m.rewrites, "ceil_mode")) << Joined(m.rewrites);
    EXPECT_EQ(m.source_ops.count("Shape"), 1u);
    graph::NormalizeReport report;
    Graph g = NormalizeChecked(m.graph, &report);
    const std::map<std::string, int> ops = g.OpSummary();
    EXPECT_EQ(ops.at("HardSwish"), 2) << Joined(report.rewrites);
    EXPECT_EQ(ops.at("Conv2D"), 8);
    EXPECT_EQ(ops.at("FullyConnected"), 2);
    EXPECT_EQ(ops.count("Reshape"), 0u);  // the torch view() went away
    bool depthwise = false;
    for (const Node& n : g.nodes) {
      if (n.op == Op::kConv2D && n.attrs.groups == 16) {
        depthwise = true;
        EXPECT_EQ(g.values[n.inputs[1]].shape, (Shape{16, 3, 3, 1}));
        EXPECT_EQ(n.attrs.act_max, 6.0f);  // Relu6 fused
      }
    }
    EXPECT_TRUE(depthwise);
    const std::vector<const Node*> pools = NodesOf(g, Op::kMaxPool2D);
    ASSERT_EQ(pools.size(), 1u);  // 8x8 -> ceil((8-3)/2)+1 = 4 needs one more row/column
    EXPECT_EQ(pools[0]->attrs.pad_bottom, 1);
    EXPECT_EQ(pools[0]->attrs.pad_right, 1);
  }
  ImportedModel bn = MustImport(kSynthetic[1]);
  EXPECT_EQ(bn.graph.OpSummary().at("BatchNorm"), 3);
  graph::NormalizeReport report;
  NormalizeChecked(bn.graph, &report);
  EXPECT_TRUE(Mentions(report.rewrites, "folded 3 BatchNorm into the preceding Conv2D"))
      << Joined(report.rewrites);
  EXPECT_EQ(MustImport(kSynthetic[2]).source_ops.at("HardSwish"), 2);
  EXPECT_TRUE(Mentions(MustImport(kSynthetic[0]).rewrites, "into HardSwish"));
}

TEST(OnnxImporterTest, HandmadeLegacyAttributeForms) {
  ImportedModel m = MustImport(kSynthetic[3]);
  EXPECT_EQ(m.generation, "ONNX opset 10");
  EXPECT_EQ(m.output_activation, "sigmoid");
  const Node* same_lower = NodeNamed(m.graph, "conv_same_lower", Op::kConv2D);
  ASSERT_NE(same_lower, nullptr);
  EXPECT_EQ(same_lower->attrs.pad_top, 1);
  EXPECT_EQ(same_lower->attrs.pad_left, 1);
  EXPECT_EQ(same_lower->attrs.pad_bottom, 0);
  EXPECT_EQ(same_lower->attrs.pad_right, 0);
  const Node* grouped = NodeNamed(m.graph, "conv_grouped", Op::kConv2D);
  ASSERT_NE(grouped, nullptr);
  EXPECT_EQ(grouped->attrs.groups, 2);
  const Node* clip = NodeNamed(m.graph, "relu6", Op::kClamp);
  ASSERT_NE(clip, nullptr);
  EXPECT_EQ(clip->attrs.act_max, 6.0f);
  const Node* concat = NodeNamed(m.graph, "cat_const", Op::kConcat);
  ASSERT_NE(concat, nullptr);
  EXPECT_EQ(concat->attrs.axis, 3);  // ONNX axis 1 (channels)
  // Flatten and Softmax of 4-D tensors with H, W > 1 needed NCHW order.
  EXPECT_TRUE(Mentions(m.rewrites, "Transpose nodes so reshapes of 4-D tensors keep"))
      << Joined(m.rewrites);
}

TEST(OnnxImporterTest, Float16Flavour) {
  ImportedModel m = MustImport(kSynthetic[4]);
  EXPECT_TRUE(Mentions(m.rewrites, "converted 6 float16 tensors to float32")) << Joined(m.rewrites);
  EXPECT_TRUE(Mentions(m.rewrites, "2 Cast nodes")) << Joined(m.rewrites);
  const Node* clip = nullptr;
  for (const Node& n : m.graph.nodes) {
    if (n.op == Op::kClamp) clip = &n;
  }
  ASSERT_NE(clip, nullptr);
  EXPECT_EQ(clip->attrs.act_min, 0.0f);
  EXPECT_EQ(clip->attrs.act_max, 6.0f);
}

TEST(OnnxImporterTest, Opset17InputForms) {
  ImportedModel m = MustImport(kSynthetic[5]);
  EXPECT_EQ(m.input_shape, (std::vector<int64_t>{1, 3, 12, 12}));
  graph::NormalizeReport report;
  Graph g = NormalizeChecked(m.graph, &report);
  EXPECT_TRUE(Mentions(report.rewrites, "merged 1 Pad(-FLT_MAX) into the following MaxPool2D"))
      << Joined(report.rewrites);
  EXPECT_TRUE(Mentions(report.rewrites, "ReduceMean over height and width into GlobalAvgPool"));
  EXPECT_EQ(g.OpSummary().count("Pad"), 0u);
}

// ---- normalisation of the other importers' real models -------------------------

TEST(NormalizeRealModelsTest, TensorFlowAndTfliteExports) {
  for (const std::string rel :
       {"cv-exports/iotedge-applebanana-tf/model.pb", "cv-exports/android-fruit-tf/model.pb",
        "cv-exports/android-fruit-tflite/model.tflite"}) {
    SCOPED_TRACE(rel);
    const std::vector<uint8_t> bytes = testing::ReadBytes(testing::TestData(rel));
    Result<ImportedModel> m =
        rel.ends_with(".pb") ? ImportTensorFlow(bytes, rel) : ImportTflite(bytes, rel);
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    graph::NormalizeReport report;
    Graph g = NormalizeChecked(m->graph, &report);
    const std::map<std::string, int> ops = g.OpSummary();
    EXPECT_EQ(ops.at("Conv2D"), 25) << Joined(report.rewrites);
    EXPECT_EQ(ops.at("FullyConnected"), 1) << Joined(report.rewrites);
    EXPECT_EQ(ops.count("Identity"), 0u);
    EXPECT_EQ(ops.count("Relu"), 0u) << Joined(report.rewrites);
    if (rel.find("applebanana") != std::string::npos) {
      EXPECT_TRUE(Mentions(report.rewrites, "data_bn")) << Joined(report.rewrites);
    }
    // Normalisation keeps the function.
    const Shape in_shape = g.values[g.inputs[0]].shape;
    const std::vector<float> x = LcgInput(in_shape, /*real=*/true);
    Graph sorted = m->graph;
    graph::NormalizeReport unused;
    ASSERT_TRUE(graph::SortTopologically(&sorted, &unused).ok());
    auto before = graph::EvaluateForTest(sorted, {x});
    auto after = graph::EvaluateForTest(g, {x});
    ASSERT_TRUE(before.ok()) << before.status().ToString();
    ASSERT_TRUE(after.ok()) << after.status().ToString();
    ExpectClose((*after)[0], (*before)[0], "normalized vs imported");
  }
}

}  // namespace
}  // namespace edgevision::model
