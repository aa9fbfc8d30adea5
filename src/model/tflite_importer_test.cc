// Tests for the TFLite importer: the real android-fruit-tflite export
// (structure, weights checked element by element against the flatbuffer and
// against the same model's TensorFlow export, the mean decision), synthetic
// flatbuffers for MobileNet-class ops, float16 and quantized models, and
// hostile bytes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "engine/reference_backend.h"
#include "graph/graph.h"
#include "graph/graph_test_util.h"
#include "graph/normalize.h"
#include "model/importer.h"
#include "model/schemas/tflite_generated.h"
#include "peak_rss.h"
#include "test_support.h"

namespace edgevision::model {
namespace {

namespace tfl = ::edgevision::tflite;
using graph::CountOp;
using graph::FindNode;
using graph::Op;
using graph::Shape;
using ::testing::HasSubstr;

std::vector<uint8_t> FruitTflite() {
  return testing::ReadBytes(testing::Export("android-fruit-tflite") / "model.tflite");
}
std::vector<uint8_t> FruitTf() {
  return testing::ReadBytes(testing::Export("android-fruit-tf") / "model.pb");
}

ImportedModel MustImport(const std::vector<uint8_t>& bytes,
                         const std::string& label = "model.tflite") {
  Result<ImportedModel> r = ImportTflite(bytes, label);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return {};
  EXPECT_TRUE(graph::Validate(r->graph).ok());
  return std::move(r).value();
}

TEST(TfliteImporterTest, RealModelStructure) {
  ImportedModel m = MustImport(FruitTflite());
  EXPECT_EQ(m.format, "TFLite");
  EXPECT_EQ(m.producer, "TOCO");
  EXPECT_EQ(m.input_name, "Placeholder");
  EXPECT_EQ(m.input_shape, (std::vector<int64_t>{1, 227, 227, 3}));
  EXPECT_EQ(m.input_layout, "NHWC");
  EXPECT_EQ(m.output_name, "loss");
  EXPECT_EQ(m.output_activation, "sigmoid");
  EXPECT_EQ(m.generation, "Custom Vision compact TFLite (older, no normalisation layer)");
  EXPECT_EQ(m.metadata["tflite.description"], "TOCO Converted.");

  const graph::Graph& g = m.graph;
  EXPECT_EQ(g.values[g.inputs[0]].shape, (Shape{-1, 227, 227, 3}));
  EXPECT_EQ(g.values[g.outputs[0]].shape, (Shape{-1, 7}));
  EXPECT_EQ(CountOp(g, Op::kConv2D), 25);
  EXPECT_EQ(CountOp(g, Op::kMaxPool2D), 3);
  EXPECT_EQ(CountOp(g, Op::kConcat), 8);
  EXPECT_EQ(CountOp(g, Op::kAvgPool2D), 1);
  EXPECT_EQ(CountOp(g, Op::kFullyConnected), 1);
  EXPECT_EQ(CountOp(g, Op::kSigmoid), 1);
  EXPECT_EQ(CountOp(g, Op::kRelu), 0) << "TOCO fused every Relu into its convolution";
  for (const auto& n : g.nodes) {
    if (n.op == Op::kConv2D) {
      EXPECT_EQ(n.attrs.act_min, 0.0f) << n.name;
      EXPECT_NE(n.inputs[2], graph::kNoValue) << n.name;
    }
  }
  EXPECT_EQ((std::map<std::string, int>{{"AVERAGE_POOL_2D", 1},
                                        {"CONCATENATION", 8},
                                        {"CONV_2D", 25},
                                        {"FULLY_CONNECTED", 1},
                                        {"LOGISTIC", 1},
                                        {"MAX_POOL_2D", 3}}),
            m.source_ops);
}

TEST(TfliteImporterTest, ConvWeightElementMatchesTheFlatbuffer) {
  const std::vector<uint8_t> bytes = FruitTflite();
  ImportedModel m = MustImport(bytes);
  // Locate conv1/weights [64,3,3,3] in the file by hand and read [o=5][h=1][w=2][i=0].
  const tfl::Model* model = tfl::GetModel(bytes.data());
  const tfl::SubGraph* sg = model->subgraphs()->Get(0);
  const tfl::Tensor* weights = nullptr;
  for (const tfl::Tensor* t : *sg->tensors()) {
    if (t->name()->str() == "conv1/weights") weights = t;
  }
  ASSERT_NE(weights, nullptr);
  const auto* data = model->buffers()->Get(weights->buffer())->data();
  ASSERT_EQ(data->size(), 64u * 3 * 3 * 3 * 4);
  float expected;
  std::memcpy(&expected, data->data() + 4 * (((5 * 3 + 1) * 3 + 2) * 3 + 0), 4);

  const graph::Node* conv1 = FindNode(m.graph, "conv1/conv1");
  ASSERT_NE(conv1, nullptr);
  const graph::Value& w = m.graph.values[conv1->inputs[1]];
  ASSERT_EQ(w.shape, (Shape{64, 3, 3, 3}));
  EXPECT_EQ(w.f32[((5 * 3 + 1) * 3 + 2) * 3 + 0], expected);
  EXPECT_EQ(conv1->inputs[0], m.graph.inputs[0]);
  EXPECT_EQ(conv1->attrs.stride_h, 2);
}

// Same trained model: after import, the TFLite graph and the TensorFlow graph
// must agree on every weight, bias, stride, padding and group count. This
// checks the TF importer's HWIO->OHWI and SAME arithmetic against TOCO's.
TEST(TfliteImporterTest, AgreesWithTheTensorFlowExportOfTheSameModel) {
  ImportedModel lite = MustImport(FruitTflite());
  Result<ImportedModel> tf = ImportTensorFlow(FruitTf(), "model.pb");
  ASSERT_TRUE(tf.ok()) << tf.status().ToString();
  auto by_prefix = [](const graph::Graph& g, Op op) {
    std::map<std::string, const graph::Node*> out;
    for (const auto& n : g.nodes) {
      if (n.op == op) out[n.name.substr(0, n.name.find('/'))] = &n;
    }
    return out;
  };
  for (Op op : {Op::kConv2D, Op::kMaxPool2D, Op::kAvgPool2D, Op::kFullyConnected}) {
    auto a = by_prefix(lite.graph, op);
    auto b = by_prefix(tf->graph, op);
    ASSERT_EQ(a.size(), b.size()) << graph::OpName(op);
    for (const auto& [prefix, ln] : a) {
      ASSERT_TRUE(b.count(prefix)) << prefix;
      const graph::Node* tn = b[prefix];
      SCOPED_TRACE(prefix);
      EXPECT_EQ(ln->attrs.stride_h, tn->attrs.stride_h);
      EXPECT_EQ(ln->attrs.kernel_h, tn->attrs.kernel_h);
      EXPECT_EQ(ln->attrs.pad_top, tn->attrs.pad_top);
      EXPECT_EQ(ln->attrs.pad_bottom, tn->attrs.pad_bottom);
      EXPECT_EQ(ln->attrs.pad_left, tn->attrs.pad_left);
      EXPECT_EQ(ln->attrs.pad_right, tn->attrs.pad_right);
      EXPECT_EQ(ln->attrs.groups, tn->attrs.groups);
      EXPECT_EQ(lite.graph.values[ln->outputs[0]].shape, tf->graph.values[tn->outputs[0]].shape);
      for (size_t i = 1; i < ln->inputs.size(); ++i) {
        const graph::Value& lv = lite.graph.values[ln->inputs[i]];
        const graph::Value& tv = tf->graph.values[tn->inputs[i]];
        EXPECT_EQ(lv.shape, tv.shape);
        EXPECT_EQ(lv.f32, tv.f32) << "input " << i;
      }
    }
  }
  EXPECT_EQ(lite.required_mean, tf->required_mean) << "same weights, same preprocessing";
}

// The mean decision: TOCO folded nothing into conv1 (its biases equal the
// TensorFlow export's and stay far below what a folded 0-255 mean gives).
TEST(TfliteImporterTest, OlderGenerationNeedsTheSameMeanAsTensorFlow) {
  ImportedModel m = MustImport(FruitTflite());
  ASSERT_TRUE(m.required_mean.has_value());
  EXPECT_EQ(*m.required_mean, (std::array<float, 3>{105, 117, 124}));
  const graph::Node* conv1 = FindNode(m.graph, "conv1/conv1");
  ASSERT_NE(conv1, nullptr);
  float max_bias = 0;
  for (float b : m.graph.values[conv1->inputs[2]].f32) max_bias = std::max(max_bias, std::fabs(b));
  EXPECT_LT(max_bias, 1.0f);
  // What folding the mean into conv1 would have produced: b - sum(w * mean).
  const graph::Value& w = m.graph.values[conv1->inputs[1]];
  const float mean[3] = {104, 117, 123};
  float max_folded = 0;
  for (int o = 0; o < 64; ++o) {
    float s = m.graph.values[conv1->inputs[2]].f32[o];
    for (int k = 0; k < 9; ++k)
      for (int c = 0; c < 3; ++c) s -= w.f32[(o * 9 + k) * 3 + c] * mean[c];
    max_folded = std::max(max_folded, std::fabs(s));
  }
  EXPECT_GT(max_folded, 10.0f) << "the folded-mean threshold must separate the two cases";
}

// Import -> Normalize -> reference backend: the two exports of the fruit
// model give the same scores on a fixed input (with the mean both importers
// ask for subtracted).
std::vector<float> RunOnReference(ImportedModel model, const std::vector<float>& image) {
  graph::NormalizeReport report;
  Status st = graph::Normalize(&model.graph, &report);
  EXPECT_TRUE(st.ok()) << st.ToString();
  if (!st.ok()) return {};
  auto backend = engine::MakeReferenceBackend();
  auto compiled = backend->Compile(model.graph, {});
  EXPECT_TRUE(compiled.ok()) << compiled.status().ToString();
  if (!compiled.ok()) return {};
  auto session = (*compiled)->CreateSession();
  EXPECT_TRUE(session.ok());
  if (!session.ok()) return {};
  std::vector<float> input = image;
  if (model.required_mean) {
    for (size_t i = 0; i < input.size(); ++i) input[i] -= (*model.required_mean)[i % 3];
  }
  std::vector<float> out((*compiled)->output_size());
  st = (*session)->Run(input, out);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return out;
}

TEST(TfliteImporterTest, ScoresAgreeWithTheTensorFlowExport) {
  std::vector<float> image(227 * 227 * 3);
  std::mt19937 rng(5);
  for (size_t i = 0; i < image.size(); ++i) {
    // A smooth BGR gradient plus noise, in 0..255.
    const size_t px = i / 3, y = px / 227, x = px % 227;
    image[i] = static_cast<float>((x + 2 * y + 60 * (i % 3)) % 200 + rng() % 56);
  }
  Result<ImportedModel> tf = ImportTensorFlow(FruitTf(), "model.pb");
  ASSERT_TRUE(tf.ok()) << tf.status().ToString();
  const std::vector<float> a = RunOnReference(MustImport(FruitTflite()), image);
  const std::vector<float> b = RunOnReference(std::move(tf).value(), image);
  ASSERT_EQ(a.size(), 7u);
  ASSERT_EQ(b.size(), 7u);
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_GE(a[i], 0.0f);
    EXPECT_LE(a[i], 1.0f);
    EXPECT_NEAR(a[i], b[i], 1e-9 + 1e-4 * std::fabs(b[i])) << "score " << i;
  }
}

// ---- Synthetic flatbuffers ----

class TfliteBuilder {
 public:
  TfliteBuilder() { buffers_.push_back(tfl::CreateBuffer(fbb_)); }

  int Tensor(const std::string& name, std::vector<int32_t> shape,
             tfl::TensorType type = tfl::TensorType::FLOAT32, std::vector<uint8_t> data = {}) {
    uint32_t buffer = 0;
    if (!data.empty()) {
      buffer = static_cast<uint32_t>(buffers_.size());
      buffers_.push_back(tfl::CreateBufferDirect(fbb_, &data));
    }
    tensors_.push_back(tfl::CreateTensorDirect(fbb_, &shape, type, buffer, name.c_str()));
    return static_cast<int>(tensors_.size() - 1);
  }
  int Floats(const std::string& name, std::vector<int32_t> shape, const std::vector<float>& v) {
    std::vector<uint8_t> bytes(v.size() * 4);
    std::memcpy(bytes.data(), v.data(), bytes.size());
    return Tensor(name, std::move(shape), tfl::TensorType::FLOAT32, std::move(bytes));
  }
  int Ints(const std::string& name, std::vector<int32_t> shape, const std::vector<int32_t>& v) {
    std::vector<uint8_t> bytes(v.size() * 4);
    std::memcpy(bytes.data(), v.data(), bytes.size());
    return Tensor(name, std::move(shape), tfl::TensorType::INT32, std::move(bytes));
  }
  void Op(int32_t builtin, std::vector<int32_t> in, std::vector<int32_t> out,
          tfl::BuiltinOptions type = tfl::BuiltinOptions::NONE,
          flatbuffers::Offset<void> options = 0, const char* custom = nullptr) {
    uint32_t code;
    auto key = std::make_pair(builtin, std::string(custom ? custom : ""));
    if (auto it = codes_.find(key); it != codes_.end()) {
      code = it->second;
    } else {
      code = static_cast<uint32_t>(code_offsets_.size());
      codes_[key] = code;
      code_offsets_.push_back(
          tfl::CreateOperatorCodeDirect(fbb_, static_cast<int8_t>(std::min<int32_t>(builtin, 127)),
                                        custom, 1, static_cast<tfl::BuiltinOperator>(builtin)));
    }
    ops_.push_back(tfl::CreateOperatorDirect(fbb_, code, &in, &out, type, options));
  }
  void Op(tfl::BuiltinOperator b, std::vector<int32_t> in, std::vector<int32_t> out,
          tfl::BuiltinOptions type = tfl::BuiltinOptions::NONE,
          flatbuffers::Offset<void> options = 0) {
    Op(static_cast<int32_t>(b), std::move(in), std::move(out), type, options);
  }
  flatbuffers::FlatBufferBuilder& fbb() { return fbb_; }

  std::vector<uint8_t> Finish(std::vector<int32_t> inputs, std::vector<int32_t> outputs,
                              uint32_t version = 3) {
    std::vector<flatbuffers::Offset<tfl::SubGraph>> sgs = {
        tfl::CreateSubGraphDirect(fbb_, &tensors_, &inputs, &outputs, &ops_, "main")};
    auto model =
        tfl::CreateModel(fbb_, version, fbb_.CreateVector(code_offsets_), fbb_.CreateVector(sgs),
                         fbb_.CreateString("synthetic"), fbb_.CreateVector(buffers_));
    tfl::FinishModelBuffer(fbb_, model);
    return std::vector<uint8_t>(fbb_.GetBufferPointer(), fbb_.GetBufferPointer() + fbb_.GetSize());
  }

 private:
  flatbuffers::FlatBufferBuilder fbb_;
  std::vector<flatbuffers::Offset<tfl::Buffer>> buffers_;
  std::vector<flatbuffers::Offset<tfl::Tensor>> tensors_;
  std::vector<flatbuffers::Offset<tfl::Operator>> ops_;
  std::vector<flatbuffers::Offset<tfl::OperatorCode>> code_offsets_;
  std::map<std::pair<int32_t, std::string>, uint32_t> codes_;
};

uint16_t ToHalf(float f) {  // exact for the small integers used here
  if (f == 0) return 0;
  int e;
  const float m = std::frexp(std::fabs(f), &e);  // f = m * 2^e, m in [0.5,1)
  const uint16_t mant = static_cast<uint16_t>((m * 2 - 1) * 1024);
  return static_cast<uint16_t>((f < 0 ? 0x8000 : 0) | ((e - 1 + 15) << 10) | mant);
}

// A MobileNet-class block: PAD, DEPTHWISE_CONV_2D (float16 weights behind
// DEQUANTIZE), fused RELU6 on ADD, HARD_SWISH, MEAN, SQUEEZE,
// FULLY_CONNECTED, SOFTMAX.
TEST(TfliteImporterTest, MobileNetStyleOps) {
  TfliteBuilder b;
  auto& f = b.fbb();
  const int x = b.Tensor("input", {1, 4, 4, 2});
  const int pads = b.Ints("pads", {4, 2}, {0, 0, 1, 1, 1, 1, 0, 0});
  const int padded = b.Tensor("padded", {1, 6, 6, 2});
  b.Op(tfl::BuiltinOperator::PAD, {x, pads}, {padded});
  // Depthwise weights [1,3,3,C*M=4] (C=2, M=2) as float16 values 0..35.
  std::vector<uint8_t> half(36 * 2);
  for (int i = 0; i < 36; ++i) {
    const uint16_t h = ToHalf(static_cast<float>(i));
    std::memcpy(half.data() + 2 * i, &h, 2);
  }
  const int w16 = b.Tensor("dw/w16", {1, 3, 3, 4}, tfl::TensorType::FLOAT16, half);
  const int w32 = b.Tensor("dw/w", {1, 3, 3, 4});
  b.Op(tfl::BuiltinOperator::DEQUANTIZE, {w16}, {w32});
  const int bias = b.Floats("dw/b", {4}, {1, 2, 3, 4});
  const int dw = b.Tensor("dw", {1, 4, 4, 4});
  b.Op(tfl::BuiltinOperator::DEPTHWISE_CONV_2D, {padded, w32, bias}, {dw},
       tfl::BuiltinOptions::DepthwiseConv2DOptions,
       tfl::CreateDepthwiseConv2DOptions(f, tfl::Padding::VALID, 1, 1, 2).Union());
  const int added = b.Tensor("added", {1, 4, 4, 4});
  b.Op(tfl::BuiltinOperator::ADD, {dw, dw}, {added}, tfl::BuiltinOptions::AddOptions,
       tfl::CreateAddOptions(f, tfl::ActivationFunctionType::RELU6).Union());
  const int hs = b.Tensor("hswish", {1, 4, 4, 4});
  b.Op(tfl::BuiltinOperator::HARD_SWISH, {added}, {hs});
  const int axes = b.Ints("axes", {2}, {1, 2});
  const int mean = b.Tensor("mean", {1, 1, 1, 4});
  b.Op(tfl::BuiltinOperator::MEAN, {hs, axes}, {mean}, tfl::BuiltinOptions::ReducerOptions,
       tfl::CreateReducerOptions(f, true).Union());
  const int sq = b.Tensor("squeezed", {1, 4});
  b.Op(tfl::BuiltinOperator::SQUEEZE, {mean}, {sq});
  const int fw = b.Floats("fc/w", {3, 4}, std::vector<float>(12, 0.25f));
  const int logits = b.Tensor("logits", {1, 3});
  b.Op(tfl::BuiltinOperator::FULLY_CONNECTED, {sq, fw, -1}, {logits});
  const int probs = b.Tensor("probs", {1, 3});
  b.Op(tfl::BuiltinOperator::SOFTMAX, {logits}, {probs}, tfl::BuiltinOptions::SoftmaxOptions,
       tfl::CreateSoftmaxOptions(f, 1.0f).Union());
  ImportedModel m = MustImport(b.Finish({x}, {probs}));

  const graph::Graph& g = m.graph;
  EXPECT_EQ(m.output_activation, "softmax");
  EXPECT_EQ(m.generation, "TFLite float model, float16 weights");
  EXPECT_FALSE(m.required_mean.has_value());
  EXPECT_EQ(m.source_ops["DEQUANTIZE"], 1);
  EXPECT_EQ(FindNode(g, "padded")->op, Op::kPad);
  EXPECT_EQ(FindNode(g, "padded")->attrs.ints, (std::vector<int64_t>{0, 1, 1, 0, 0, 1, 1, 0}));

  const graph::Node* conv = FindNode(g, "dw");
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->op, Op::kConv2D);
  EXPECT_EQ(conv->attrs.groups, 2);
  const graph::Value& w = g.values[conv->inputs[1]];
  ASSERT_TRUE(w.is_constant);
  ASSERT_EQ(w.shape, (Shape{4, 3, 3, 1}));
  for (int o = 0; o < 4; ++o)
    for (int k = 0; k < 9; ++k)
      ASSERT_EQ(w.f32[o * 9 + k], static_cast<float>(k * 4 + o)) << o << "," << k;

  const graph::Node* add = FindNode(g, "added");
  EXPECT_EQ(add->op, Op::kAdd);
  EXPECT_EQ(add->attrs.act_min, 0.0f);
  EXPECT_EQ(add->attrs.act_max, 6.0f);
  EXPECT_EQ(FindNode(g, "hswish")->op, Op::kHardSwish);
  EXPECT_EQ(FindNode(g, "mean")->op, Op::kReduceMean);
  EXPECT_EQ(FindNode(g, "mean")->attrs.ints, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(FindNode(g, "squeezed")->attrs.ints, (std::vector<int64_t>{-1, 4}));
  const graph::Node* fc = FindNode(g, "logits");
  EXPECT_EQ(fc->op, Op::kFullyConnected);
  EXPECT_EQ(fc->inputs[2], graph::kNoValue);
  EXPECT_EQ(g.values[g.outputs[0]].shape, (Shape{-1, 3}));
}

TEST(TfliteImporterTest, SamePaddingAndFusedActivationOnPools) {
  TfliteBuilder b;
  const int x = b.Tensor("input", {1, 8, 8, 3});
  const int y = b.Tensor("pool", {1, 4, 4, 3});
  b.Op(tfl::BuiltinOperator::MAX_POOL_2D, {x}, {y}, tfl::BuiltinOptions::Pool2DOptions,
       tfl::CreatePool2DOptions(b.fbb(), tfl::Padding::SAME, 2, 2, 3, 3,
                                tfl::ActivationFunctionType::RELU)
           .Union());
  ImportedModel m = MustImport(b.Finish({x}, {y}));
  const graph::Node* pool = FindNode(m.graph, "pool");
  ASSERT_NE(pool, nullptr);
  EXPECT_EQ(pool->attrs.pad_top, 0);  // ceil(8/2)=4: total (3*2+3-8)=1, after
  EXPECT_EQ(pool->attrs.pad_bottom, 1);
  EXPECT_EQ(CountOp(m.graph, Op::kRelu), 1);
  EXPECT_EQ(m.graph.values[m.graph.outputs[0]].name, "pool");
}

// The real Docker 2.2 export (2025): MLIR converter, float16 weights behind
// DEQUANTIZE, a ShuffleNet graph whose channel shuffles (RESHAPE, TRANSPOSE,
// RESHAPE) and splits (SLICE) normalise to ChannelShuffle and Slice.
TEST(TfliteImporterTest, Docker22ShuffleNetModel) {
  ImportedModel m = MustImport(
      testing::ReadBytes(testing::Export("docker22-appleorange-tflite") / "app" / "model.tflite"));
  EXPECT_EQ(m.producer, "TFLite MLIR converter");
  EXPECT_EQ(m.input_name, "Placeholder");
  EXPECT_EQ(m.output_name, "model_outputs");
  EXPECT_EQ(m.output_activation, "softmax");
  EXPECT_EQ(m.generation, "Custom Vision compact TFLite, float16 weights");
  EXPECT_FALSE(m.required_mean) << "the graph subtracts its own mean (ADD -104/-117/-123)";
  EXPECT_EQ(m.source_ops["TRANSPOSE"], 16);
  EXPECT_EQ(m.source_ops["SLICE"], 26);
  EXPECT_EQ(m.source_ops["DEQUANTIZE"], 116);
  graph::NormalizeReport report;
  ASSERT_TRUE(graph::Normalize(&m.graph, &report).ok());
  EXPECT_EQ(CountOp(m.graph, Op::kChannelShuffle), 16);
  EXPECT_EQ(CountOp(m.graph, Op::kSlice), 26);
  EXPECT_EQ(CountOp(m.graph, Op::kTranspose), 0);
  EXPECT_EQ(CountOp(m.graph, Op::kReshape), 0);
  for (const auto& n : m.graph.nodes) {
    if (n.op == Op::kChannelShuffle) {
      EXPECT_EQ(n.attrs.groups, 2) << n.name;
    }
  }
}

TEST(TfliteImporterTest, TransposeAndSliceAreChecked) {
  {  // a permutation that repeats an axis
    TfliteBuilder b;
    const int x = b.Tensor("input", {1, 2, 3, 4});
    const int perm = b.Ints("perm", {4}, {0, 1, 1, 3});
    const int y = b.Tensor("t", {1, 2, 2, 4});
    b.Op(tfl::BuiltinOperator::TRANSPOSE, {x, perm}, {y});
    Result<ImportedModel> r = ImportTflite(b.Finish({x}, {y}), "perm.tflite");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
    EXPECT_THAT(r.status().message(), HasSubstr("'t' (TRANSPOSE)"));
  }
  {  // a slice past the end of the channels
    TfliteBuilder b;
    const int x = b.Tensor("input", {1, 2, 3, 4});
    const int begin = b.Ints("begin", {4}, {0, 0, 0, 2});
    const int size = b.Ints("size", {4}, {1, 2, 3, 3});
    const int y = b.Tensor("s", {1, 2, 3, 3});
    b.Op(tfl::BuiltinOperator::SLICE, {x, begin, size}, {y});
    Result<ImportedModel> r = ImportTflite(b.Finish({x}, {y}), "slice.tflite");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
    EXPECT_THAT(r.status().message(), HasSubstr("'s' (SLICE)"));
  }
  {  // a good slice with size -1 (to the end)
    TfliteBuilder b;
    const int x = b.Tensor("input", {1, 2, 3, 4});
    const int begin = b.Ints("begin", {4}, {0, 0, 0, 1});
    const int size = b.Ints("size", {4}, {1, -1, -1, -1});
    const int y = b.Tensor("s", {1, 2, 3, 3});
    b.Op(tfl::BuiltinOperator::SLICE, {x, begin, size}, {y});
    ImportedModel m = MustImport(b.Finish({x}, {y}));
    graph::NormalizeReport report;
    ASSERT_TRUE(graph::Normalize(&m.graph, &report).ok());
    EXPECT_EQ(m.graph.values[m.graph.outputs[0]].shape, (Shape{1, 2, 3, 3}));
  }
  {  // STRIDED_SLICE is refused, naming the op
    TfliteBuilder b;
    const int x = b.Tensor("input", {1, 2, 3, 4});
    const int y = b.Tensor("ss", {1, 2, 3, 2});
    b.Op(tfl::BuiltinOperator::STRIDED_SLICE, {x}, {y});
    Result<ImportedModel> r = ImportTflite(b.Finish({x}, {y}), "ss.tflite");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
    EXPECT_THAT(r.status().message(), HasSubstr("STRIDED_SLICE"));
  }
}

TEST(TfliteImporterTest, QuantizedModelIsUnsupported) {
  TfliteBuilder b;
  const int x = b.Tensor("input", {1, 4, 4, 3}, tfl::TensorType::UINT8);
  const int y = b.Tensor("out", {1, 4, 4, 3}, tfl::TensorType::UINT8);
  b.Op(tfl::BuiltinOperator::RELU, {x}, {y});
  Result<ImportedModel> r = ImportTflite(b.Finish({x}, {y}), "quant.tflite");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(r.status().message(), HasSubstr("quant.tflite"));
  EXPECT_THAT(r.status().message(), HasSubstr("quantized"));
}

TEST(TfliteImporterTest, UnknownAndCustomOpsAreUnsupported) {
  {
    TfliteBuilder b;
    const int x = b.Tensor("input", {1, 4, 4, 3});
    const int y = b.Tensor("out", {1, 4, 4, 3});
    b.Op(150, {x}, {y});  // GELU: only in builtin_code
    Result<ImportedModel> r = ImportTflite(b.Finish({x}, {y}), "new.tflite");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
    EXPECT_THAT(r.status().message(), HasSubstr("BUILTIN_150"));
    EXPECT_THAT(r.status().message(), HasSubstr("'out'"));
  }
  {
    TfliteBuilder b;
    const int x = b.Tensor("input", {1, 4, 4, 3});
    const int y = b.Tensor("out", {1, 4, 4, 3});
    b.Op(static_cast<int32_t>(tfl::BuiltinOperator::CUSTOM), {x}, {y}, tfl::BuiltinOptions::NONE, 0,
         "MyOp");
    Result<ImportedModel> r = ImportTflite(b.Finish({x}, {y}), "custom.tflite");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
    EXPECT_THAT(r.status().message(), HasSubstr("CUSTOM:MyOp"));
  }
  {
    TfliteBuilder b;
    const int x = b.Tensor("input", {1, 4, 4, 3});
    const int y = b.Tensor("out", {1, 4, 4, 3});
    b.Op(tfl::BuiltinOperator::RELU, {x}, {y});
    Result<ImportedModel> r = ImportTflite(b.Finish({x}, {y}, /*version=*/2), "old.tflite");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
    EXPECT_THAT(r.status().message(), HasSubstr("schema version 2"));
  }
}

TEST(TfliteImporterTest, InconsistentModelsAreCorrupt) {
  {  // a tensor index out of range
    TfliteBuilder b;
    const int x = b.Tensor("input", {1, 4, 4, 3});
    const int y = b.Tensor("out", {1, 4, 4, 3});
    b.Op(tfl::BuiltinOperator::RELU, {x + 100}, {y});
    Result<ImportedModel> r = ImportTflite(b.Finish({x}, {y}), "idx.tflite");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  }
  {  // conv output size inconsistent with its padding
    TfliteBuilder b;
    const int x = b.Tensor("input", {1, 8, 8, 3});
    const int w = b.Floats("w", {4, 3, 3, 3}, std::vector<float>(108, 1.0f));
    const int y = b.Tensor("out", {1, 8, 8, 4});
    b.Op(tfl::BuiltinOperator::CONV_2D, {x, w, -1}, {y}, tfl::BuiltinOptions::Conv2DOptions,
         tfl::CreateConv2DOptions(b.fbb(), tfl::Padding::VALID, 1, 1).Union());
    Result<ImportedModel> r = ImportTflite(b.Finish({x}, {y}), "conv.tflite");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
    EXPECT_THAT(r.status().message(), HasSubstr("'out'"));
  }
  {  // a constant whose bytes do not fill its shape
    TfliteBuilder b;
    const int x = b.Tensor("input", {1, 1, 1, 4});
    const int w = b.Floats("w", {2, 4}, {1, 2, 3});
    const int y = b.Tensor("out", {1, 2});
    b.Op(tfl::BuiltinOperator::FULLY_CONNECTED, {x, w, -1}, {y});
    Result<ImportedModel> r = ImportTflite(b.Finish({x}, {y}), "short.tflite");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
    EXPECT_THAT(r.status().message(), HasSubstr("'w'"));
  }
}

// ---- Hostile bytes ----

TEST(TfliteImporterTest, EmptyGarbageAndForeignBytesAreCorrupt) {
  Result<ImportedModel> empty = ImportTflite({}, "empty.tflite");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kCorrupt);

  std::vector<uint8_t> garbage(4096);
  std::mt19937 rng(99);
  for (auto& b : garbage) b = static_cast<uint8_t>(rng());
  std::memcpy(garbage.data() + 4, "TFL3", 4);  // right identifier, nonsense body
  Result<ImportedModel> r = ImportTflite(garbage, "garbage.tflite");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);

  Result<ImportedModel> pb = ImportTflite(FruitTf(), "model.pb");
  ASSERT_FALSE(pb.ok());
  EXPECT_THAT(pb.status().message(), HasSubstr("TFL3"));
}

// Issue 16: a tiny file declaring a huge constant must be refused before the
// importer allocates what the shape declares.
TEST(TfliteImporterTest, Issue16HugeDeclaredConstantIsRefusedBeforeAllocation) {
  TfliteBuilder b;
  const int x = b.Tensor("input", {1, 1, 1, 4});
  const int w = b.Floats("w", {16384, 16384}, {1.0f});  // 2^28 floats declared, 4 bytes present
  const int y = b.Tensor("out", {1, 16384});
  b.Op(tfl::BuiltinOperator::FULLY_CONNECTED, {x, w, -1}, {y});
  const std::vector<uint8_t> bytes = b.Finish({x}, {y});
  ASSERT_LT(bytes.size(), 2048u);
  Result<ImportedModel> r = Internal("not run");
  const int64_t growth = testing::PeakRssGrowth([&] { r = ImportTflite(bytes, "bomb.tflite"); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  EXPECT_THAT(r.status().message(), HasSubstr("has 4 bytes"));
  ASSERT_GE(growth, 0) << "/proc/self/clear_refs is not usable";
  EXPECT_LT(growth, int64_t{64} << 20);
}

TEST(TfliteImporterTest, TruncatedFilesAreErrors) {
  const std::vector<uint8_t> bytes = FruitTflite();
  for (int i = 1; i < 16; ++i) {
    const size_t cut = bytes.size() * i / 16;
    std::vector<uint8_t> part(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
    Result<ImportedModel> r = ImportTflite(part, "cut.tflite");
    ASSERT_FALSE(r.ok()) << "cut at " << cut;
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  }
}

TEST(TfliteImporterTest, RandomByteFlipsNeverCrash) {
  const std::vector<uint8_t> original = FruitTflite();
  std::mt19937 rng(7);
  int failures = 0;
  for (int trial = 0; trial < 48; ++trial) {
    std::vector<uint8_t> bytes = original;
    const int flips = 1 + static_cast<int>(rng() % 16);
    for (int f = 0; f < flips; ++f) {
      // Half the trials hit only the tables at the end of the file (TOCO
      // writes the big buffers first), half anywhere.
      const size_t start = trial % 2 ? 0 : bytes.size() - std::min<size_t>(bytes.size(), 16384);
      bytes[start + rng() % (bytes.size() - start)] ^= static_cast<uint8_t>(1u << (rng() % 8));
    }
    Result<ImportedModel> r = ImportTflite(bytes, "flipped.tflite");
    if (r.ok()) {
      EXPECT_TRUE(graph::Validate(r->graph).ok());
    } else {
      ++failures;
    }
  }
  EXPECT_GT(failures, 0);
}

TEST(TfliteImporterTest, MisalignedBytesStillImport) {
  const std::vector<uint8_t> bytes = FruitTflite();
  std::vector<uint8_t> shifted(bytes.size() + 1);
  std::memcpy(shifted.data() + 1, bytes.data(), bytes.size());
  Result<ImportedModel> r =
      ImportTflite(std::span<const uint8_t>(shifted).subspan(1), "shifted.tflite");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(CountOp(r->graph, Op::kConv2D), 25);
}

}  // namespace
}  // namespace edgevision::model
