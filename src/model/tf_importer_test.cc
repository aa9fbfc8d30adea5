// Tests for the TensorFlow GraphDef importer: the two real Custom Vision
// exports (structure, weight layouts checked against values read straight
// from the protobuf, SAME padding, the data_bn block, the mean decision),
// small synthetic graphs for the ops newer exports use, and hostile bytes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/graph_test_util.h"
#include "model/importer.h"
#include "model/schemas/tf_graph.pb.h"
#include "peak_rss.h"
#include "test_support.h"

namespace edgevision::model {
namespace {

namespace tf = ::edgevision::tf;
using graph::CountOp;
using graph::FindNode;
using graph::Op;
using graph::Shape;
using ::testing::HasSubstr;

std::vector<uint8_t> DataBnBytes() {
  return testing::ReadBytes(testing::Export("iotedge-applebanana-tf") / "model.pb");
}
std::vector<uint8_t> OlderBytes() {
  return testing::ReadBytes(testing::Export("android-fruit-tf") / "model.pb");
}

tf::GraphDef Parse(const std::vector<uint8_t>& bytes) {
  tf::GraphDef def;
  EXPECT_TRUE(def.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())));
  return def;
}

const tf::NodeDef* FindNodeDef(const tf::GraphDef& def, const std::string& name) {
  for (const auto& n : def.node()) {
    if (n.name() == name) return &n;
  }
  return nullptr;
}

// A float Const's payload, read directly from the protobuf.
std::vector<float> ConstFloats(const tf::GraphDef& def, const std::string& name, Shape* shape) {
  const tf::NodeDef* n = FindNodeDef(def, name);
  EXPECT_NE(n, nullptr) << name;
  if (!n) return {};
  const tf::TensorProto& t = n->attr().at("value").tensor();
  shape->clear();
  for (const auto& d : t.tensor_shape().dim()) shape->push_back(d.size());
  std::vector<float> v(t.tensor_content().size() / 4);
  std::memcpy(v.data(), t.tensor_content().data(), v.size() * 4);
  if (v.empty()) v.assign(t.float_val().begin(), t.float_val().end());
  return v;
}

ImportedModel MustImport(const std::vector<uint8_t>& bytes, const std::string& label = "model.pb") {
  Result<ImportedModel> r = ImportTensorFlow(bytes, label);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return {};
  EXPECT_TRUE(graph::Validate(r->graph).ok());
  return std::move(r).value();
}

TEST(TfImporterTest, DataBnModelStructure) {
  ImportedModel m = MustImport(DataBnBytes());
  EXPECT_EQ(m.format, "TensorFlow GraphDef");
  EXPECT_EQ(m.generation, "Custom Vision 2018 compact, data_bn normalisation layer");
  EXPECT_EQ(m.input_name, "Placeholder");
  EXPECT_EQ(m.input_shape, (std::vector<int64_t>{-1, 227, 227, 3}));
  EXPECT_EQ(m.input_layout, "NHWC");
  EXPECT_EQ(m.output_name, "loss");
  EXPECT_EQ(m.output_activation, "sigmoid");
  EXPECT_FALSE(m.required_mean.has_value()) << "data_bn subtracts the mean in the graph";

  const graph::Graph& g = m.graph;
  ASSERT_EQ(g.inputs.size(), 1u);
  ASSERT_EQ(g.outputs.size(), 1u);
  EXPECT_EQ(g.values[g.inputs[0]].shape, (Shape{-1, 227, 227, 3}));
  EXPECT_EQ(g.values[g.outputs[0]].name, "loss");
  EXPECT_EQ(g.values[g.outputs[0]].shape, (Shape{-1, 2}));
  // SqueezeNet-like: conv1 + 8 fire modules x 3 convs = 25 Conv2D, each with
  // its BiasAdd folded in; MatMul + BiasAdd -> one FullyConnected.
  EXPECT_EQ(CountOp(g, Op::kConv2D), 25);
  EXPECT_EQ(CountOp(g, Op::kRelu), 25);
  EXPECT_EQ(CountOp(g, Op::kMaxPool2D), 3);
  EXPECT_EQ(CountOp(g, Op::kConcat), 8);
  EXPECT_EQ(CountOp(g, Op::kAvgPool2D), 1);
  EXPECT_EQ(CountOp(g, Op::kReshape), 1);
  EXPECT_EQ(CountOp(g, Op::kFullyConnected), 1);
  EXPECT_EQ(CountOp(g, Op::kSigmoid), 1);
  for (const auto& n : g.nodes) {
    if (n.op == Op::kConv2D || n.op == Op::kFullyConnected) {
      ASSERT_EQ(n.inputs.size(), 3u);
      EXPECT_NE(n.inputs[2], graph::kNoValue) << n.name << ": BiasAdd not folded";
    }
  }
  // Shapes tracked through the graph.
  const graph::Node* pool10 = FindNode(g, "pool10");
  ASSERT_NE(pool10, nullptr);
  EXPECT_EQ(pool10->attrs.kernel_h, 14);
  EXPECT_EQ(g.values[pool10->outputs[0]].shape, (Shape{-1, 1, 1, 512}));
  const graph::Node* reshape = FindNode(g, "fc/Reshape");
  ASSERT_NE(reshape, nullptr);
  EXPECT_EQ(reshape->attrs.ints, (std::vector<int64_t>{-1, 512}));
  const graph::Node* concat = FindNode(g, "fire2_concat");
  ASSERT_NE(concat, nullptr);
  EXPECT_EQ(concat->attrs.axis, 3);
  EXPECT_EQ(g.values[concat->outputs[0]].shape, (Shape{-1, 56, 56, 128}));
}

TEST(TfImporterTest, SourceOpsCountEveryNodeOfTheFile) {
  const std::vector<uint8_t> bytes = DataBnBytes();
  ImportedModel m = MustImport(bytes);
  std::map<std::string, int> expected;
  const tf::GraphDef def = Parse(bytes);
  for (const auto& n : def.node()) ++expected[n.op()];
  EXPECT_EQ(m.source_ops, expected);
  EXPECT_EQ(m.source_ops["Conv2D"], 25);
  EXPECT_EQ(m.source_ops["BiasAdd"], 26);
  EXPECT_EQ(m.source_ops["Identity"], 54);
}

// The data_bn block: (x * rsqrt(var + eps)) + (-mean * rsqrt(var + eps)),
// kept as graph nodes on constants for normalisation to fold.
TEST(TfImporterTest, DataBnBlockIsPresentAndFoldable) {
  ImportedModel m = MustImport(DataBnBytes());
  const graph::Graph& g = m.graph;
  EXPECT_EQ(CountOp(g, Op::kRsqrt), 1);
  EXPECT_EQ(CountOp(g, Op::kNeg), 1);
  EXPECT_EQ(CountOp(g, Op::kMul), 2);
  EXPECT_EQ(CountOp(g, Op::kAdd), 2);

  // Evaluate the constant sub-graphs by hand to show they fold.
  std::map<graph::ValueId, std::vector<float>> known;
  for (size_t i = 0; i < g.values.size(); ++i) {
    if (g.values[i].is_constant && g.values[i].dtype == graph::DataType::kFloat32) {
      known[static_cast<graph::ValueId>(i)] = g.values[i].f32;
    }
  }
  auto at = [](const std::vector<float>& v, size_t i) { return v.size() == 1 ? v[0] : v[i]; };
  for (const auto& n : g.nodes) {
    bool all_known = true;
    for (auto in : n.inputs) all_known &= known.count(in) > 0;
    if (!all_known) continue;
    const auto& a = known[n.inputs[0]];
    const auto& b = n.inputs.size() > 1 ? known[n.inputs[1]] : a;
    std::vector<float> out(std::max(a.size(), b.size()));
    for (size_t i = 0; i < out.size(); ++i) {
      switch (n.op) {
        case Op::kAdd: out[i] = at(a, i) + at(b, i); break;
        case Op::kMul: out[i] = at(a, i) * at(b, i); break;
        case Op::kNeg: out[i] = -at(a, i); break;
        case Op::kRsqrt: out[i] = 1.0f / std::sqrt(at(a, i)); break;
        default: FAIL() << "unexpected constant op " << graph::OpName(n.op) << " at " << n.name;
      }
    }
    known[n.outputs[0]] = out;
  }
  const graph::Node* mul = FindNode(g, "data_bn/data_bn/mul");
  const graph::Node* add = FindNode(g, "data_bn/data_bn/add_1");
  ASSERT_NE(mul, nullptr);
  ASSERT_NE(add, nullptr);
  EXPECT_EQ(mul->inputs[0], g.inputs[0]);
  ASSERT_TRUE(known.count(mul->inputs[1])) << "scale is not a constant sub-graph";
  ASSERT_TRUE(known.count(add->inputs[1])) << "offset is not a constant sub-graph";
  const std::vector<float>& scale = known[mul->inputs[1]];
  const std::vector<float>& offset = known[add->inputs[1]];
  ASSERT_EQ(scale.size(), 3u);
  ASSERT_EQ(offset.size(), 3u);
  const float mean[3] = {104, 117, 123};  // BGR, as baked into the 2018 export
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(scale[c], 1.0f / std::sqrt(1.0f + 1e-5f), 1e-6f);
    EXPECT_NEAR(offset[c], -mean[c] * scale[c], 1e-4f);
  }
  // And the block's output feeds conv1.
  const graph::Node* conv1 = FindNode(g, "conv1/Conv2D");
  ASSERT_NE(conv1, nullptr);
  EXPECT_EQ(conv1->inputs[0], add->outputs[0]);
}

TEST(TfImporterTest, ConvWeightsAreOhwi) {
  const std::vector<uint8_t> bytes = DataBnBytes();
  const tf::GraphDef def = Parse(bytes);
  ImportedModel m = MustImport(bytes);
  const graph::Graph& g = m.graph;

  // A hand-picked element: HWIO conv1/weights[h=1][w=2][i=0][o=5].
  Shape hwio_shape;
  const std::vector<float> hwio = ConstFloats(def, "conv1/weights", &hwio_shape);
  ASSERT_EQ(hwio_shape, (Shape{3, 3, 3, 64}));
  const graph::Node* conv1 = FindNode(g, "conv1/Conv2D");
  ASSERT_NE(conv1, nullptr);
  const graph::Value& w = g.values[conv1->inputs[1]];
  ASSERT_EQ(w.shape, (Shape{64, 3, 3, 3}));
  EXPECT_EQ(w.f32[((5 * 3 + 1) * 3 + 2) * 3 + 0], hwio[((1 * 3 + 2) * 3 + 0) * 64 + 5]);
  EXPECT_EQ(conv1->attrs.stride_h, 2);
  EXPECT_EQ(conv1->attrs.pad_top + conv1->attrs.pad_bottom, 0);  // VALID

  // Every convolution: weights are the HWIO tensor transposed, bias is the file's.
  int checked = 0;
  for (const auto& n : g.nodes) {
    if (n.op != Op::kConv2D) continue;
    const std::string prefix = n.name.substr(0, n.name.find('/'));
    Shape s;
    const std::vector<float> src = ConstFloats(def, prefix + "/weights", &s);
    ASSERT_EQ(s.size(), 4u);
    const graph::Value& ohwi = g.values[n.inputs[1]];
    ASSERT_EQ(ohwi.shape, (Shape{s[3], s[0], s[1], s[2]})) << n.name;
    for (int64_t o = 0; o < s[3]; ++o)
      for (int64_t h = 0; h < s[0]; ++h)
        for (int64_t x = 0; x < s[1]; ++x)
          for (int64_t i = 0; i < s[2]; ++i)
            ASSERT_EQ(ohwi.f32[((o * s[0] + h) * s[1] + x) * s[2] + i],
                      src[((h * s[1] + x) * s[2] + i) * s[3] + o]);
    Shape bs;
    EXPECT_EQ(g.values[n.inputs[2]].f32, ConstFloats(def, prefix + "/biases", &bs)) << n.name;
    EXPECT_EQ(n.attrs.groups, 1);
    ++checked;
  }
  EXPECT_EQ(checked, 25);
}

TEST(TfImporterTest, MatMulWeightsBecomeOutputsByInputs) {
  const std::vector<uint8_t> bytes = OlderBytes();
  const tf::GraphDef def = Parse(bytes);
  ImportedModel m = MustImport(bytes);
  Shape s;
  const std::vector<float> ko = ConstFloats(def, "fc/weights", &s);
  ASSERT_EQ(s, (Shape{512, 7}));
  const graph::Node* fc = FindNode(m.graph, "fc/fc/MatMul");
  ASSERT_NE(fc, nullptr);
  ASSERT_EQ(fc->op, Op::kFullyConnected);
  const graph::Value& w = m.graph.values[fc->inputs[1]];
  ASSERT_EQ(w.shape, (Shape{7, 512}));
  for (int o = 0; o < 7; ++o)
    for (int k = 0; k < 512; ++k) ASSERT_EQ(w.f32[o * 512 + k], ko[k * 7 + o]);
  Shape bs;
  EXPECT_EQ(m.graph.values[fc->inputs[2]].f32, ConstFloats(def, "fc/biases", &bs));
  EXPECT_EQ(m.graph.values[fc->outputs[0]].name, "fc/fc");  // named after the BiasAdd
}

// TensorFlow's SAME: total = max((ceil(in/s)-1)*s + (k-1)*d+1 - in, 0), top = total/2.
TEST(TfImporterTest, SamePaddingOnTheRealModel) {
  ImportedModel m = MustImport(OlderBytes());
  const graph::Graph& g = m.graph;
  struct Case {
    const char* node;
    int top, bottom;
    Shape out;
  } cases[] = {
      {"pool1", 0, 0, {-1, 56, 56, 64}},                   // VALID 3x3/2 on 113
      {"pool3", 0, 1, {-1, 28, 28, 128}},                  // SAME 3x3/2 on 56: total 1
      {"pool5", 0, 1, {-1, 14, 14, 256}},                  // SAME 3x3/2 on 28: total 1
      {"fire2_expand3x3/Conv2D", 1, 1, {-1, 56, 56, 64}},  // SAME 3x3/1: total 2
      {"fire2_expand1x1/Conv2D", 0, 0, {-1, 56, 56, 64}},  // SAME 1x1: total 0
  };
  for (const Case& c : cases) {
    const graph::Node* n = FindNode(g, c.node);
    ASSERT_NE(n, nullptr) << c.node;
    EXPECT_EQ(n->attrs.pad_top, c.top) << c.node;
    EXPECT_EQ(n->attrs.pad_bottom, c.bottom) << c.node;
    EXPECT_EQ(n->attrs.pad_left, c.top) << c.node;
    EXPECT_EQ(n->attrs.pad_right, c.bottom) << c.node;
    EXPECT_EQ(g.values[n->outputs[0]].shape, c.out) << c.node;
  }
}

TEST(TfImporterTest, OlderCompactGenerationNeedsTheMean) {
  ImportedModel m = MustImport(OlderBytes());
  EXPECT_EQ(m.generation, "Custom Vision compact (older, no normalisation layer)");
  ASSERT_TRUE(m.required_mean.has_value());
  EXPECT_EQ(*m.required_mean, (std::array<float, 3>{105, 117, 124}));  // B, G, R
  EXPECT_EQ(m.output_activation, "sigmoid");
  EXPECT_EQ(m.graph.values[m.graph.outputs[0]].shape, (Shape{-1, 7}));
  EXPECT_EQ(CountOp(m.graph, Op::kRsqrt), 0);
  const graph::Node* conv1 = FindNode(m.graph, "conv1/Conv2D");
  ASSERT_NE(conv1, nullptr);
  EXPECT_EQ(conv1->inputs[0], m.graph.inputs[0]) << "no normalisation between input and conv1";
}

// The evidence behind required_mean: the older model's backbone is the
// 2018 data_bn model's backbone, bit for bit, so it expects the same
// mean-subtracted input.
TEST(TfImporterTest, OlderModelSharesTheDataBnBackbone) {
  const tf::GraphDef older = Parse(OlderBytes());
  const tf::GraphDef data_bn = Parse(DataBnBytes());
  int compared = 0;
  for (const auto& n : older.node()) {
    if (n.op() != "Const" || n.name().rfind("fc/", 0) == 0) continue;
    if (n.attr().at("value").tensor().dtype() != tf::DT_FLOAT) continue;
    Shape s1, s2;
    const std::vector<float> a = ConstFloats(older, n.name(), &s1);
    const std::vector<float> b = ConstFloats(data_bn, n.name(), &s2);
    EXPECT_EQ(s1, s2) << n.name();
    EXPECT_EQ(a, b) << n.name();
    ++compared;
  }
  EXPECT_EQ(compared, 50);  // 25 weights + 25 biases
}

// ---- Synthetic graphs ----

class GraphBuilder {
 public:
  tf::NodeDef* Add(const std::string& name, const std::string& op,
                   std::vector<std::string> inputs = {}) {
    tf::NodeDef* n = def_.add_node();
    n->set_name(name);
    n->set_op(op);
    for (auto& i : inputs) n->add_input(i);
    if (op != "Const" && op != "Placeholder") (*n->mutable_attr())["T"].set_type(tf::DT_FLOAT);
    return n;
  }
  void Placeholder(const std::string& name, Shape shape) {
    tf::NodeDef* n = Add(name, "Placeholder");
    (*n->mutable_attr())["dtype"].set_type(tf::DT_FLOAT);
    for (int64_t d : shape) (*n->mutable_attr())["shape"].mutable_shape()->add_dim()->set_size(d);
  }
  void Const(const std::string& name, Shape shape, const std::vector<float>& v) {
    tf::NodeDef* n = Add(name, "Const");
    tf::TensorProto* t = (*n->mutable_attr())["value"].mutable_tensor();
    t->set_dtype(tf::DT_FLOAT);
    for (int64_t d : shape) t->mutable_tensor_shape()->add_dim()->set_size(d);
    t->set_tensor_content(std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
    (*n->mutable_attr())["dtype"].set_type(tf::DT_FLOAT);
  }
  void ConstInt(const std::string& name, Shape shape, const std::vector<int32_t>& v) {
    tf::NodeDef* n = Add(name, "Const");
    tf::TensorProto* t = (*n->mutable_attr())["value"].mutable_tensor();
    t->set_dtype(tf::DT_INT32);
    for (int64_t d : shape) t->mutable_tensor_shape()->add_dim()->set_size(d);
    for (int32_t x : v) t->add_int_val(x);
  }
  static void S(tf::NodeDef* n, const std::string& k, const std::string& v) {
    (*n->mutable_attr())[k].set_s(v);
  }
  static void Ints(tf::NodeDef* n, const std::string& k, std::vector<int64_t> v) {
    auto* list = (*n->mutable_attr())[k].mutable_list();
    for (int64_t x : v) list->add_i(x);
  }
  static void B(tf::NodeDef* n, const std::string& k, bool v) { (*n->mutable_attr())[k].set_b(v); }
  static void F(tf::NodeDef* n, const std::string& k, float v) { (*n->mutable_attr())[k].set_f(v); }

  // A Conv2D with HWIO weights filled 0, 1, 2, ...
  void Conv(const std::string& name, const std::string& in, Shape hwio, int stride,
            const std::string& padding, const std::string& op = "Conv2D", int dilation = 1) {
    std::vector<float> w(static_cast<size_t>(hwio[0] * hwio[1] * hwio[2] * hwio[3]));
    for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i);
    Const(name + "/w", hwio, w);
    tf::NodeDef* n = Add(name, op, {in, name + "/w"});
    Ints(n, "strides", {1, stride, stride, 1});
    Ints(n, "dilations", {1, dilation, dilation, 1});
    S(n, "padding", padding);
    S(n, "data_format", "NHWC");
  }
  std::vector<uint8_t> Bytes() const {
    std::string s = def_.SerializeAsString();
    return std::vector<uint8_t>(s.begin(), s.end());
  }
  tf::GraphDef& def() { return def_; }

 private:
  tf::GraphDef def_;
};

struct SameCase {
  int in, k, s, d, top, bottom, out;
};

TEST(TfImporterTest, SamePaddingArithmetic) {
  const SameCase cases[] = {
      {7, 3, 2, 1, 1, 1, 4},  // ceil(7/2)=4: total (3*2+3-7)=2
      {8, 3, 2, 1, 0, 1, 4},  // total (3*2+3-8)=1: the odd pixel goes after
      {8, 1, 2, 1, 0, 0, 4},  // total max(-1,0)=0
      {5, 3, 1, 2, 2, 2, 5},  // dilation 2: span 5, total 4
      {224, 3, 2, 1, 0, 1, 112}, {10, 5, 3, 1, 2, 2, 4},  // ceil(10/3)=4: total 3*3+5-10=4
  };
  for (const SameCase& c : cases) {
    GraphBuilder b;
    b.Placeholder("x", {-1, c.in, c.in, 2});
    b.Conv("conv", "x", {c.k, c.k, 2, 3}, c.s, "SAME", "Conv2D", c.d);
    ImportedModel m = MustImport(b.Bytes());
    const graph::Node* n = FindNode(m.graph, "conv");
    ASSERT_NE(n, nullptr);
    SCOPED_TRACE(::testing::Message()
                 << "in " << c.in << " k " << c.k << " s " << c.s << " d " << c.d);
    EXPECT_EQ(n->attrs.pad_top, c.top);
    EXPECT_EQ(n->attrs.pad_bottom, c.bottom);
    EXPECT_EQ(n->attrs.pad_left, c.top);
    EXPECT_EQ(n->attrs.pad_right, c.bottom);
    EXPECT_EQ(m.graph.values[n->outputs[0]].shape, (Shape{-1, c.out, c.out, 3}));
    EXPECT_EQ(m.output_name, "conv");  // the one node nobody consumes
  }
}

// Ops MobileNet-class exports use, in one small graph.
TEST(TfImporterTest, MobileNetStyleOps) {
  GraphBuilder b;
  b.Placeholder("input", {-1, 8, 8, 3});
  b.Const("sub/y", {}, {127.5f});
  b.Add("sub", "Sub", {"input", "sub/y"});
  b.Const("div/y", {}, {127.5f});
  b.Add("div", "RealDiv", {"sub", "div/y"});
  b.ConstInt("pad/paddings", {4, 2}, {0, 0, 1, 1, 1, 1, 0, 0});
  b.Add("pad", "Pad", {"div", "pad/paddings"});
  b.Conv("conv", "pad", {3, 3, 3, 4}, 2, "VALID");
  for (const char* p : {"bn/scale", "bn/offset", "bn/mean", "bn/var"})
    b.Const(p, {4}, {1, 2, 3, 4});
  tf::NodeDef* bn =
      b.Add("bn", "FusedBatchNormV3", {"conv", "bn/scale", "bn/offset", "bn/mean", "bn/var"});
  GraphBuilder::B(bn, "is_training", false);
  GraphBuilder::F(bn, "epsilon", 0.001f);
  (*bn->mutable_attr())["U"].set_type(tf::DT_FLOAT);
  b.Add("relu6", "Relu6", {"bn"});
  b.Conv("dw", "relu6", {3, 3, 4, 2}, 1, "SAME", "DepthwiseConv2dNative");
  b.Add("bn_read", "Identity", {"dw"});
  b.Add("add", "AddV2", {"bn_read", "bn_read"});
  b.ConstInt("mean/axes", {2}, {1, 2});
  tf::NodeDef* mean = b.Add("mean", "Mean", {"add", "mean/axes"});
  GraphBuilder::B(mean, "keep_dims", true);
  tf::NodeDef* squeeze = b.Add("squeeze", "Squeeze", {"mean"});
  GraphBuilder::Ints(squeeze, "squeeze_dims", {1, 2});
  std::vector<float> fc(8 * 5, 0.5f);
  b.Const("fc/w", {8, 5}, fc);
  b.Add("fc", "MatMul", {"squeeze", "fc/w"});
  b.Add("probs", "Softmax", {"fc"});
  b.Add("probs_out", "Identity", {"probs"});
  b.Add("init", "NoOp", {"^probs"});  // control-only consumer, ignored

  ImportedModel m = MustImport(b.Bytes());
  const graph::Graph& g = m.graph;
  EXPECT_EQ(m.output_name, "probs_out");
  EXPECT_EQ(m.output_activation, "softmax");
  EXPECT_EQ(m.generation, "TensorFlow frozen graph");
  EXPECT_FALSE(m.required_mean.has_value());

  const graph::Node* pad = FindNode(g, "pad");
  ASSERT_NE(pad, nullptr);
  EXPECT_EQ(pad->op, Op::kPad);
  EXPECT_EQ(pad->attrs.ints, (std::vector<int64_t>{0, 1, 1, 0, 0, 1, 1, 0}));
  EXPECT_EQ(g.values[pad->outputs[0]].shape, (Shape{-1, 10, 10, 3}));
  EXPECT_EQ(FindNode(g, "div")->op, Op::kDiv);

  const graph::Node* bnn = FindNode(g, "bn");
  ASSERT_NE(bnn, nullptr);
  EXPECT_EQ(bnn->op, Op::kBatchNorm);
  EXPECT_EQ(bnn->inputs.size(), 5u);
  EXPECT_FLOAT_EQ(bnn->attrs.epsilon, 0.001f);
  const graph::Node* r6 = FindNode(g, "relu6");
  EXPECT_EQ(r6->op, Op::kClamp);
  EXPECT_EQ(r6->attrs.act_max, 6.0f);

  // Depthwise [3,3,C=4,M=2] -> OHWI [8,3,3,1], groups 4; out channel c*2+m.
  const graph::Node* dw = FindNode(g, "dw");
  ASSERT_NE(dw, nullptr);
  EXPECT_EQ(dw->op, Op::kConv2D);
  EXPECT_EQ(dw->attrs.groups, 4);
  const graph::Value& w = g.values[dw->inputs[1]];
  ASSERT_EQ(w.shape, (Shape{8, 3, 3, 1}));
  for (int c = 0; c < 4; ++c)
    for (int mm = 0; mm < 2; ++mm)
      for (int h = 0; h < 3; ++h)
        for (int x = 0; x < 3; ++x) {
          const float hwcm =
              static_cast<float>(((h * 3 + x) * 4 + c) * 2 + mm);  // the filled value
          ASSERT_EQ(w.f32[((c * 2 + mm) * 3 + h) * 3 + x], hwcm);
        }
  EXPECT_EQ(g.values[dw->outputs[0]].shape, (Shape{-1, 4, 4, 8}));
  EXPECT_EQ(dw->attrs.pad_top, 1);

  EXPECT_EQ(FindNode(g, "bn_read")->op, Op::kIdentity);  // left for normalisation
  const graph::Node* mn = FindNode(g, "mean");
  EXPECT_EQ(mn->op, Op::kReduceMean);
  EXPECT_EQ(mn->attrs.ints, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(g.values[mn->outputs[0]].shape, (Shape{-1, 1, 1, 8}));
  const graph::Node* sq = FindNode(g, "squeeze");
  EXPECT_EQ(sq->op, Op::kReshape);
  EXPECT_EQ(sq->attrs.ints, (std::vector<int64_t>{-1, 8}));
  EXPECT_EQ(FindNode(g, "fc")->op, Op::kFullyConnected);
  EXPECT_EQ(g.values[g.outputs[0]].shape, (Shape{-1, 5}));
}

TEST(TfImporterTest, TwoUnconsumedNodesMakeTheOutputAmbiguous) {
  GraphBuilder b;
  b.Placeholder("x", {-1, 4, 4, 3});
  b.Add("a", "Relu", {"x"});
  b.Add("b", "Sigmoid", {"x"});
  Result<ImportedModel> r = ImportTensorFlow(b.Bytes(), "two.pb");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(r.status().message(), HasSubstr("two.pb"));
  EXPECT_THAT(r.status().message(), HasSubstr("loss"));
}

// S1 exports (TF 2.1, Docker 2.1 S1): data -> model_output, found by name
// even when the graph has other sinks.
TEST(TfImporterTest, S1NamesDataToModelOutput) {
  GraphBuilder b;
  b.Placeholder("data", {1, 4, 4, 3});
  b.Add("features", "Relu", {"data"});
  b.Add("model_output", "Softmax", {"features"});
  b.Add("debug_sink", "Sigmoid", {"data"});
  ImportedModel m = MustImport(b.Bytes());
  EXPECT_EQ(m.input_name, "data");
  EXPECT_EQ(m.output_name, "model_output");
  EXPECT_EQ(m.output_activation, "softmax");
}

// ShuffleNet's blocks as the Docker 2.2 graph writes them in TensorFlow: a
// channel shuffle (Reshape -> Transpose -> Reshape) and a channel split (Slice).
void ShuffleAndSplit(GraphBuilder& b, const std::vector<int32_t>& begin,
                     const std::vector<int32_t>& size) {
  b.Placeholder("Placeholder", {-1, 2, 2, 4});
  b.ConstInt("r0/shape", {4}, {-1, 4, 2, 2});
  b.Add("r0", "Reshape", {"Placeholder", "r0/shape"});
  b.ConstInt("t/perm", {4}, {0, 1, 3, 2});
  b.Add("t", "Transpose", {"r0", "t/perm"});
  b.ConstInt("r1/shape", {4}, {-1, 2, 2, 4});
  b.Add("r1", "Reshape", {"t", "r1/shape"});
  b.ConstInt("s/begin", {static_cast<int64_t>(begin.size())}, begin);
  b.ConstInt("s/size", {static_cast<int64_t>(size.size())}, size);
  b.Add("s", "Slice", {"r1", "s/begin", "s/size"});
  b.Add("loss", "Softmax", {"s"});
}

TEST(TfImporterTest, TransposeAndSliceOfShuffleNetBlocks) {
  GraphBuilder b;
  ShuffleAndSplit(b, {0, 0, 0, 2}, {-1, -1, -1, 2});
  ImportedModel m = MustImport(b.Bytes());
  const std::map<std::string, int> ops = m.graph.OpSummary();
  EXPECT_EQ(ops.at("Transpose"), 1);
  EXPECT_EQ(ops.at("Slice"), 1);
  const graph::Node* slice = nullptr;
  for (const graph::Node& n : m.graph.nodes) {
    if (n.op == graph::Op::kSlice) slice = &n;
  }
  ASSERT_NE(slice, nullptr);
  // begin 0,0,0,2; sizes with -1 resolved (the batch axis stays whole).
  EXPECT_EQ(slice->attrs.ints, (std::vector<int64_t>{0, 0, 0, 2, -1, 2, 2, 2}));
}

TEST(TfImporterTest, SliceOutsideTheTensorIsCorrupt) {
  for (const auto& [begin, size] : std::vector<std::pair<std::vector<int32_t>, std::vector<int32_t>>>{
           {{0, 0, 0, 3}, {-1, -1, -1, 2}},   // past the channels
           {{0, 0, 0, 4}, {-1, -1, -1, -1}},  // begins at the end
           {{0, 0, 0}, {-1, -1, -1}}}) {      // rank 3 for a rank-4 tensor
    GraphBuilder b;
    ShuffleAndSplit(b, begin, size);
    auto r = ImportTensorFlow(b.Bytes(), "m.pb");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt) << r.status().ToString();
    EXPECT_THAT(r.status().message(), ::testing::HasSubstr("'s' (Slice)"));
  }
}

TEST(TfImporterTest, UnknownOpIsUnsupportedNamingNodeAndOp) {
  GraphBuilder b;
  b.Placeholder("Placeholder", {-1, 4, 4, 3});
  b.Add("weird", "ResizeBilinear", {"Placeholder"});
  b.Add("loss", "Sigmoid", {"weird"});
  Result<ImportedModel> r = ImportTensorFlow(b.Bytes(), "export.zip:model.pb");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(r.status().message(), HasSubstr("export.zip:model.pb"));
  EXPECT_THAT(r.status().message(), HasSubstr("'weird'"));
  EXPECT_THAT(r.status().message(), HasSubstr("ResizeBilinear"));
}

TEST(TfImporterTest, UnknownOpNotOnTheOutputPathIsIgnored) {
  GraphBuilder b;
  b.Placeholder("Placeholder", {-1, 4, 4, 3});
  b.Add("loss", "Sigmoid", {"Placeholder"});
  b.Add("save", "SaveV2", {"Placeholder"});
  ImportedModel m = MustImport(b.Bytes());
  EXPECT_EQ(m.output_name, "loss");
  EXPECT_EQ(m.source_ops["SaveV2"], 1);
}

TEST(TfImporterTest, NchwIsUnsupported) {
  GraphBuilder b;
  b.Placeholder("x", {-1, 8, 8, 3});
  b.Conv("conv", "x", {3, 3, 3, 4}, 1, "VALID");
  GraphBuilder::S(b.def().mutable_node(2), "data_format", "NCHW");
  Result<ImportedModel> r = ImportTensorFlow(b.Bytes(), "nchw.pb");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(r.status().message(), HasSubstr("NCHW"));
  EXPECT_THAT(r.status().message(), HasSubstr("'conv'"));
}

TEST(TfImporterTest, NonConstantWeightsAreUnsupported) {
  GraphBuilder b;
  b.Placeholder("x", {-1, 8, 8, 3});
  b.Placeholder("w", {3, 3, 3, 4});
  tf::NodeDef* n = b.Add("conv", "Conv2D", {"x", "w"});
  GraphBuilder::Ints(n, "strides", {1, 1, 1, 1});
  GraphBuilder::S(n, "padding", "VALID");
  Result<ImportedModel> r = ImportTensorFlow(b.Bytes(), "w.pb");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(r.status().message(), HasSubstr("must be a constant"));
}

TEST(TfImporterTest, InconsistentGraphsAreCorrupt) {
  {  // an input naming no node
    GraphBuilder b;
    b.Placeholder("x", {-1, 4, 4, 3});
    b.Add("loss", "Sigmoid", {"nowhere"});
    Result<ImportedModel> r = ImportTensorFlow(b.Bytes(), "dangling.pb");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
    EXPECT_THAT(r.status().message(), HasSubstr("nowhere"));
  }
  {  // a cycle
    GraphBuilder b;
    b.Placeholder("x", {-1, 4, 4, 3});
    b.Add("a", "Add", {"x", "b"});
    b.Add("b", "Relu", {"a"});
    b.Add("loss", "Sigmoid", {"b"});
    Result<ImportedModel> r = ImportTensorFlow(b.Bytes(), "cycle.pb");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
    EXPECT_THAT(r.status().message(), HasSubstr("cycle"));
  }
  {  // tensor_content too short for its shape
    GraphBuilder b;
    b.Placeholder("x", {-1, 4, 4, 3});
    b.Const("y", {3}, {1, 2});
    b.Add("loss", "Add", {"x", "y"});
    Result<ImportedModel> r = ImportTensorFlow(b.Bytes(), "short.pb");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
    EXPECT_THAT(r.status().message(), HasSubstr("'y'"));
  }
  {  // a huge constant shape
    GraphBuilder b;
    b.Placeholder("x", {-1, 4, 4, 3});
    b.Const("y", {1 << 30, 1 << 30}, {1});
    b.Add("loss", "Add", {"x", "y"});
    Result<ImportedModel> r = ImportTensorFlow(b.Bytes(), "huge.pb");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  }
  {  // zero stride
    GraphBuilder b;
    b.Placeholder("x", {-1, 8, 8, 3});
    b.Conv("conv", "x", {3, 3, 3, 4}, 0, "SAME");
    Result<ImportedModel> r = ImportTensorFlow(b.Bytes(), "stride.pb");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  }
  {  // duplicate names
    GraphBuilder b;
    b.Placeholder("x", {-1, 8, 8, 3});
    b.Add("x", "Relu", {"x"});
    Result<ImportedModel> r = ImportTensorFlow(b.Bytes(), "dup.pb");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
  }
}

// ---- Hostile bytes: errors, never a crash ----

// Issue 16: a file of a few hundred bytes must not make the importer allocate
// what a constant's shape declares before the data is checked.
TEST(TfImporterTest, Issue16HugeDeclaredConstantsAreRefusedBeforeAllocation) {
  {  // tensor_content of 4 bytes for 2^28 floats
    GraphBuilder b;
    b.Placeholder("x", {-1, 4, 4, 3});
    b.Const("y", {16384, 16384}, {1});
    b.Add("loss", "Add", {"x", "y"});
    const std::vector<uint8_t> bytes = b.Bytes();
    ASSERT_LT(bytes.size(), 1024u);
    Result<ImportedModel> r = Internal("not run");
    const int64_t growth =
        testing::PeakRssGrowth([&] { r = ImportTensorFlow(bytes, "content.pb"); });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kCorrupt);
    EXPECT_THAT(r.status().message(), HasSubstr("tensor_content has 4 bytes"));
    ASSERT_GE(growth, 0) << "/proc/self/clear_refs is not usable";
    EXPECT_LT(growth, int64_t{64} << 20);
  }
  {  // one float_val repeated over 2^28 elements (TensorFlow's short-list rule)
    GraphBuilder b;
    b.Placeholder("x", {-1, 4, 4, 3});
    tf::NodeDef* n = b.Add("y", "Const");
    tf::TensorProto* t = (*n->mutable_attr())["value"].mutable_tensor();
    t->set_dtype(tf::DT_FLOAT);
    for (int64_t d : {16384, 16384}) t->mutable_tensor_shape()->add_dim()->set_size(d);
    t->add_float_val(1.0f);
    (*n->mutable_attr())["dtype"].set_type(tf::DT_FLOAT);
    b.Add("loss", "Add", {"x", "y"});
    const std::vector<uint8_t> bytes = b.Bytes();
    ASSERT_LT(bytes.size(), 1024u);
    Result<ImportedModel> r = Internal("not run");
    const int64_t growth = testing::PeakRssGrowth([&] { r = ImportTensorFlow(bytes, "splat.pb"); });
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status().ToString();
    EXPECT_THAT(r.status().message(), HasSubstr("'y'"));
    ASSERT_GE(growth, 0) << "/proc/self/clear_refs is not usable";
    EXPECT_LT(growth, int64_t{64} << 20);
  }
  {  // a short list that fits the budget still repeats its last value
    GraphBuilder b;
    b.Placeholder("x", {-1, 4, 4, 3});
    tf::NodeDef* n = b.Add("y", "Const");
    tf::TensorProto* t = (*n->mutable_attr())["value"].mutable_tensor();
    t->set_dtype(tf::DT_FLOAT);
    t->mutable_tensor_shape()->add_dim()->set_size(3);
    t->add_float_val(2.0f);
    (*n->mutable_attr())["dtype"].set_type(tf::DT_FLOAT);
    b.Add("loss", "Add", {"x", "y"});
    Result<ImportedModel> r = ImportTensorFlow(b.Bytes(), "short.pb");
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    const graph::Value& c = r->graph.values[r->graph.FindValue("y")];
    EXPECT_EQ(c.f32, (std::vector<float>{2.0f, 2.0f, 2.0f}));
  }
}

TEST(TfImporterTest, EmptyAndGarbageInputAreCorrupt) {
  Result<ImportedModel> empty = ImportTensorFlow({}, "empty.pb");
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kCorrupt);
  EXPECT_THAT(empty.status().message(), HasSubstr("empty.pb"));

  std::vector<uint8_t> garbage(4096);
  std::mt19937 rng(1234);
  for (auto& b : garbage) b = static_cast<uint8_t>(rng());
  Result<ImportedModel> r = ImportTensorFlow(garbage, "garbage.pb");
  EXPECT_FALSE(r.ok());
}

TEST(TfImporterTest, TruncatedFilesAreErrors) {
  for (const auto& bytes : {DataBnBytes(), OlderBytes()}) {
    ASSERT_GT(bytes.size(), 1000u);
    for (int i = 1; i < 16; ++i) {
      const size_t cut = bytes.size() * i / 16;
      std::vector<uint8_t> part(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
      Result<ImportedModel> r = ImportTensorFlow(part, "cut.pb");
      EXPECT_FALSE(r.ok()) << "cut at " << cut << " of " << bytes.size();
    }
  }
}

TEST(TfImporterTest, RandomByteFlipsNeverCrash) {
  const std::vector<uint8_t> original = OlderBytes();
  std::mt19937 rng(20240601);
  int failures = 0;
  for (int trial = 0; trial < 48; ++trial) {
    std::vector<uint8_t> bytes = original;
    const int flips = 1 + static_cast<int>(rng() % 16);
    for (int f = 0; f < flips; ++f) {
      // Bias the flips towards the graph structure at the start of the file.
      const size_t range = trial % 2 ? bytes.size() : std::min<size_t>(bytes.size(), 8192);
      bytes[rng() % range] ^= static_cast<uint8_t>(1u << (rng() % 8));
    }
    Result<ImportedModel> r = ImportTensorFlow(bytes, "flipped.pb");
    if (r.ok()) {
      EXPECT_TRUE(graph::Validate(r->graph).ok());
    } else {
      ++failures;
      EXPECT_TRUE(r.status().code() == StatusCode::kCorrupt ||
                  r.status().code() == StatusCode::kUnsupported)
          << r.status().ToString();
    }
  }
  EXPECT_GT(failures, 0);
}

}  // namespace
}  // namespace edgevision::model
