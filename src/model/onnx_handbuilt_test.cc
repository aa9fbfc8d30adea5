// Tests of the ONNX importer (model/onnx_importer.cc) on hand-built models:
// value decoding and op semantics at the edges, and hostile content (bad
// initializers and nodes, unsupported inputs, huge declared tensors, random
// bytes and mutations) refused with an error, never a crash. The real and
// synthetic exports: onnx_importer_test.cc.
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cstdlib>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "graph/eval_for_test.h"
#include "graph/normalize.h"
#include "graph/normalize_passes.h"
#include "model/importer.h"
#include "model/onnx_test_util.h"
#include "peak_rss.h"
#include "test_support.h"

namespace edgevision::model {
namespace {

using graph::Graph;
using graph::Node;
using graph::Op;
using graph::Shape;
using onnx_test::Joined;
using onnx_test::kSynthetic;
using onnx_test::kUwp;
using onnx_test::kWinml;
using onnx_test::Mentions;
using onnx_test::NodesOf;

// ---- hand-built models: edge cases and hostile content -----------------------------

// A minimal model: input x [1,3,4,4] -> nodes -> output y.
struct ProtoBuilder {
  onnx::ModelProto model;
  onnx::GraphProto* g;

  explicit ProtoBuilder(int opset, std::vector<int64_t> in_shape = {1, 3, 4, 4}) {
    model.set_ir_version(7);
    model.set_producer_name("test");
    auto* o = model.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    g = model.mutable_graph();
    g->set_name("t");
    auto* in = g->add_input();
    in->set_name("x");
    auto* tt = in->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    for (int64_t d : in_shape) tt->mutable_shape()->add_dim()->set_dim_value(d);
    auto* out = g->add_output();
    out->set_name("y");
    out->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  }
  onnx::NodeProto* Node(const std::string& op, std::vector<std::string> in,
                        std::vector<std::string> out, const std::string& name = "") {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(name.empty() ? op + "_node" : name);
    for (auto& s : in) n->add_input(s);
    for (auto& s : out) n->add_output(s);
    return n;
  }
  onnx::TensorProto* Init(const std::string& name, std::vector<int64_t> dims,
                          std::vector<float> data) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    for (float f : data) t->add_float_data(f);
    return t;
  }
  onnx::TensorProto* InitInt(const std::string& name, std::vector<int64_t> dims,
                             std::vector<int64_t> data) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    for (int64_t d : dims) t->add_dims(d);
    for (int64_t v : data) t->add_int64_data(v);
    return t;
  }
  Result<ImportedModel> Import() const {
    const std::string bytes = model.SerializeAsString();
    return ImportOnnx(std::span(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
                      "test.onnx");
  }
};

void AttrInt(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
void AttrInts(onnx::NodeProto* n, const std::string& name, std::vector<int64_t> v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
void AttrString(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

void ExpectError(const Result<ImportedModel>& r, StatusCode code, const std::string& text) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), code) << r.status().ToString();
  EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().ToString();
  EXPECT_NE(r.status().message().find("test.onnx"), std::string::npos) << r.status().ToString();
}

TEST(OnnxImporterTest, DecodesFloat16AndSignedIntegers) {
  ProtoBuilder b(13, {1, 3, 2, 2});
  auto* c = b.g->add_initializer();
  c->set_name("c");
  c->set_data_type(onnx::TensorProto::FLOAT16);
  for (int64_t d : {3, 2, 1}) c->add_dims(d);  // [C,H,1] against NCHW
  const uint16_t halves[] = {0x3C00, 0x0001, 0x7BFF, 0xFC00, 0xC000, 0x3800};
  std::string raw;
  for (uint16_t h : halves) raw += std::string{char(h & 0xFF), char(h >> 8)};
  c->set_raw_data(raw);
  b.Node("Add", {"x", "c"}, {"sum"});
  // Reshape to [1, 12] via Shape -> Gather(int32 index -4 = the batch) -> Concat.
  b.Node("Shape", {"sum"}, {"shape"});
  auto* idx = b.g->add_initializer();
  idx->set_name("idx");
  idx->set_data_type(onnx::TensorProto::INT32);
  idx->add_dims(1);
  const int32_t minus4 = -4;
  idx->set_raw_data(std::string(reinterpret_cast<const char*>(&minus4), 4));
  b.Node("Gather", {"shape", "idx"}, {"batch"});
  b.InitInt("rest", {1}, {-1});
  auto* cat = b.Node("Concat", {"batch", "rest"}, {"target"});
  AttrInt(cat, "axis", 0);
  b.Node("Reshape", {"sum", "target"}, {"y"});
  Result<ImportedModel> r = b.Import();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const Graph& g = r->graph;
  const Node* add = NodesOf(g, Op::kAdd).at(0);
  const graph::Value& k = g.values[add->inputs[1]];
  // The constant in NHWC: [H=2, W=1, C=3], element (h, c) = halves[c * 2 + h].
  EXPECT_EQ(k.shape, (Shape{2, 1, 3}));
  ASSERT_EQ(k.f32.size(), 6u);
  EXPECT_EQ(k.f32[0], 1.0f);
  EXPECT_EQ(k.f32[3], std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(k.f32[1], 65504.0f);
  EXPECT_EQ(k.f32[4], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(k.f32[2], -2.0f);
  EXPECT_EQ(k.f32[5], 0.5f);
  EXPECT_EQ(g.values[g.outputs[0]].shape, (Shape{1, 12}));
  EXPECT_TRUE(Mentions(r->rewrites, "converted 1 float16")) << Joined(r->rewrites);
}

// Softmax axis semantics, checked against loops over the NCHW tensor.
TEST(OnnxImporterTest, SoftmaxAxesFollowOnnxSemantics) {
  struct Case {
    int opset;
    int64_t axis;
    // Which NCHW axes one softmax group spans.
    std::vector<int> group_axes;
  };
  const Case cases[] = {{13, 1, {1}},       {13, 2, {2}},    {13, -1, {3}},
                        {11, 1, {1, 2, 3}}, {11, 2, {2, 3}}, {11, 3, {3}}};
  for (const Case& c : cases) {
    SCOPED_TRACE("opset " + std::to_string(c.opset) + " axis " + std::to_string(c.axis));
    ProtoBuilder b(c.opset, {1, 3, 4, 5});
    AttrInt(b.Node("Softmax", {"x"}, {"y"}, "softmax"), "axis", c.axis);
    Result<ImportedModel> r = b.Import();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    std::vector<float> nhwc(60);
    for (size_t i = 0; i < nhwc.size(); ++i) nhwc[i] = std::sin(0.7f * static_cast<float>(i)) * 3;
    for (int pass = 0; pass < 2; ++pass) {
      Graph g = r->graph;
      graph::NormalizeReport report;
      if (pass == 1) {
        ASSERT_TRUE(graph::Normalize(&g, &report).ok());
      }
      auto out = graph::EvaluateForTest(g, {nhwc});
      ASSERT_TRUE(out.ok()) << out.status().ToString();
      auto at = [&](const std::vector<float>& v, int64_t ch, int64_t y, int64_t x) {
        return v[(y * 5 + x) * 3 + ch];
      };
      for (int64_t ch = 0; ch < 3; ++ch) {
        for (int64_t y = 0; y < 4; ++y) {
          for (int64_t x = 0; x < 5; ++x) {
            double sum = 0;
            const int64_t pos[4] = {0, ch, y, x};
            for (int64_t c2 = 0; c2 < 3; ++c2) {
              for (int64_t y2 = 0; y2 < 4; ++y2) {
                for (int64_t x2 = 0; x2 < 5; ++x2) {
                  const int64_t other[4] = {0, c2, y2, x2};
                  bool same_group = true;
                  for (int d = 1; d < 4; ++d) {
                    const bool spanned = std::count(c.group_axes.begin(), c.group_axes.end(), d);
                    if (!spanned && other[d] != pos[d]) same_group = false;
                  }
                  if (same_group) sum += std::exp(double{at(nhwc, c2, y2, x2)});
                }
              }
            }
            const double want = std::exp(double{at(nhwc, ch, y, x)}) / sum;
            ASSERT_NEAR(at((*out)[0], ch, y, x), want, 1e-6) << "pass " << pass;
          }
        }
      }
    }
  }
}

TEST(OnnxImporterTest, MaxMinWithAConstantAreClamps) {
  ProtoBuilder b(9);
  b.Init("zero", {1}, {0.0f});
  b.Init("six", {}, {6.0f});
  b.Node("Max", {"zero", "x"}, {"lo"}, "max0");
  b.Node("Min", {"lo", "six"}, {"y"}, "min6");
  Result<ImportedModel> r = b.Import();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const std::vector<const Node*> clamps = NodesOf(r->graph, Op::kClamp);
  ASSERT_EQ(clamps.size(), 2u);
  EXPECT_EQ(clamps[0]->attrs.act_min, 0.0f);
  EXPECT_EQ(clamps[1]->attrs.act_max, 6.0f);
  ProtoBuilder two(9);
  two.Node("Relu", {"x"}, {"r"});
  two.Node("Max", {"x", "r"}, {"y"}, "max_two");
  ExpectError(two.Import(), StatusCode::kUnsupported, "one constant");
}

TEST(OnnxImporterTest, RejectsBadInitializers) {
  {
    ProtoBuilder b(13);
    auto* t = b.Init("huge", {int64_t{1} << 40, int64_t{1} << 40}, {});
    t->set_raw_data("abcd");
    b.Node("Add", {"x", "huge"}, {"y"});
    ExpectError(b.Import(), StatusCode::kResourceExhausted, "huge");
  }
  {
    ProtoBuilder b(13);
    auto* t = b.Init("short", {3, 1, 1}, {});
    t->set_raw_data(std::string(11, '\0'));
    b.Node("Add", {"x", "short"}, {"y"});
    ExpectError(b.Import(), StatusCode::kCorrupt, "'short' has 11 bytes of raw_data");
  }
  {
    ProtoBuilder b(13);
    b.Init("few", {3, 1, 1}, {1, 2});
    b.Node("Add", {"x", "few"}, {"y"});
    ExpectError(b.Import(), StatusCode::kCorrupt, "'few' has 2 values in float_data");
  }
  {
    ProtoBuilder b(13);
    auto* t = b.Init("both", {1}, {1});
    t->set_raw_data(std::string(4, '\0'));
    b.Node("Add", {"x", "both"}, {"y"});
    ExpectError(b.Import(), StatusCode::kCorrupt, "both raw_data and typed data");
  }
  {
    ProtoBuilder b(13);
    auto* t = b.Init("ext", {3}, {});
    t->set_data_location(onnx::TensorProto::EXTERNAL);
    auto* e = t->add_external_data();
    e->set_key("location");
    e->set_value("weights.bin");
    b.Node("Add", {"x", "ext"}, {"y"});
    ExpectError(b.Import(), StatusCode::kUnsupported, "external file");
  }
  {
    ProtoBuilder b(13);
    auto* t = b.Init("neg", {-3}, {});
    (void)t;
    b.Node("Add", {"x", "neg"}, {"y"});
    ExpectError(b.Import(), StatusCode::kCorrupt, "negative dimension");
  }
}

// Issue 16: a file of a few hundred bytes must not make the importer allocate
// what a tensor's shape declares before the data is checked, nor fold
// constants beyond the import's expansion budget.
TEST(OnnxImporterTest, Issue16HugeDeclaredTensorsAreRefusedBeforeAllocation) {
  // Imports a file of under 1 KB; expects the error and a bounded peak RSS.
  auto expect_refused_cheaply = [](const ProtoBuilder& b, StatusCode code, const std::string& text,
                                   int64_t max_growth) {
    EXPECT_LT(b.model.ByteSizeLong(), 1024u);
    Result<ImportedModel> r = Internal("not run");
    const int64_t growth = testing::PeakRssGrowth([&] { r = b.Import(); });
    ExpectError(r, code, text);
    ASSERT_GE(growth, 0) << "/proc/self/clear_refs is not usable";
    EXPECT_LT(growth, max_growth);
  };
  {  // raw_data of 4 bytes for 2^28 floats
    ProtoBuilder b(13);
    b.Init("huge", {16384, 16384}, {})->set_raw_data("abcd");
    b.Node("Add", {"x", "huge"}, {"y"});
    expect_refused_cheaply(b, StatusCode::kCorrupt, "'huge' has 4 bytes of raw_data",
                           int64_t{64} << 20);
  }
  {  // one int64_data value for 2^28 int64s
    ProtoBuilder b(13);
    b.InitInt("huge", {16384, 16384}, {7});
    b.Node("Reshape", {"x", "huge"}, {"y"});
    expect_refused_cheaply(b, StatusCode::kCorrupt, "has 1 values in int64_data",
                           int64_t{64} << 20);
  }
  {  // folded constants of 2^21 elements each: the third exceeds the budget
    ProtoBuilder b(13);
    b.InitInt("s", {1}, {int64_t{1} << 21});
    b.Node("ConstantOfShape", {"s"}, {"a"}, "fill_a");
    b.Node("ConstantOfShape", {"s"}, {"b"}, "fill_b");
    b.Node("Add", {"a", "b"}, {"c"}, "sum");
    b.Node("Add", {"x", "c"}, {"y"});
    expect_refused_cheaply(b, StatusCode::kResourceExhausted,
                           "node 'sum' (Add): folded constant would create", int64_t{96} << 20);
  }
}

TEST(OnnxImporterTest, RejectsBadNodes) {
  auto conv = [](ProtoBuilder& b, const std::string& w = "w") {
    b.Init("w", {2, 3, 3, 3}, std::vector<float>(54, 0.1f));
    return b.Node("Conv", {"x", w}, {"y"}, "conv1");
  };
  {
    ProtoBuilder b(13);
    AttrInt(conv(b), "group", 0);
    ExpectError(b.Import(), StatusCode::kCorrupt, "node 'conv1' (Conv): attribute 'group' = 0");
  }
  {
    ProtoBuilder b(13);
    AttrInts(conv(b), "strides", {0, 1});
    ExpectError(b.Import(), StatusCode::kCorrupt, "'strides'");
  }
  {
    ProtoBuilder b(13);
    AttrInts(conv(b), "pads", {1, 1, 1000000000, 1});
    ExpectError(b.Import(), StatusCode::kUnsupported, "pad 1000000000");
  }
  {
    ProtoBuilder b(13);
    AttrInts(conv(b), "kernel_shape", {5, 5});
    ExpectError(b.Import(), StatusCode::kCorrupt, "kernel_shape does not match");
  }
  {
    ProtoBuilder b(13);
    auto* n = conv(b);
    auto* a = n->add_attribute();
    a->set_name("kernel_shape");
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(3.0f);
    ExpectError(b.Import(), StatusCode::kCorrupt, "'kernel_shape' is not a list of ints");
  }
  {
    ProtoBuilder b(13);
    b.Node("Relu", {"x"}, {"w_dyn"});
    b.Node("Conv", {"x", "w_dyn"}, {"y"}, "conv_dyn");
    ExpectError(b.Import(), StatusCode::kUnsupported, "(weights) must be a constant");
  }
  {
    ProtoBuilder b(13);
    auto* n = b.Node("Foo", {"x"}, {"y"}, "mystery");
    n->set_domain("com.example");
    ExpectError(b.Import(), StatusCode::kUnsupported,
                "node 'mystery' (com.example.Foo): op com.example.Foo is not supported");
  }
  {
    ProtoBuilder b(13);
    b.Node("Tanh", {"x"}, {"y"}, "tanh");
    ExpectError(b.Import(), StatusCode::kUnsupported, "op Tanh is not supported");
  }
  {
    ProtoBuilder b(13);
    b.InitInt("shape", {2}, {1, 47});
    b.Node("Reshape", {"x", "shape"}, {"y"}, "reshape");
    ExpectError(b.Import(), StatusCode::kCorrupt, "cannot reshape");
  }
  {
    ProtoBuilder b(13);
    b.InitInt("pads", {8}, {0, 0, 1, 1, 0, 0, 1, 1});
    auto* n = b.Node("Pad", {"x", "pads"}, {"y"}, "reflect");
    AttrString(n, "mode", "reflect");
    ExpectError(b.Import(), StatusCode::kUnsupported, "mode 'reflect'");
  }
  {
    ProtoBuilder b(13);
    b.Node("Relu", {"nope"}, {"y"}, "orphan");
    ExpectError(b.Import(), StatusCode::kCorrupt, "input 'nope' is never produced");
  }
  {
    ProtoBuilder b(13);
    b.Node("Relu", {"x"}, {"y"}, "first");
    b.Node("Sigmoid", {"x"}, {"y"}, "second");
    ExpectError(b.Import(), StatusCode::kCorrupt, "produced twice");
  }
  {
    ProtoBuilder b(13);
    b.Node("Add", {"x", "q"}, {"p"}, "loop_a");
    b.Node("Relu", {"p"}, {"q"}, "loop_b");
    b.Node("Relu", {"q"}, {"y"}, "out");
    ExpectError(b.Import(), StatusCode::kCorrupt, "cycle");
  }
  {
    ProtoBuilder b(13);
    b.InitInt("shape", {1}, {int64_t{1} << 40});
    b.Node("ConstantOfShape", {"shape"}, {"big"}, "bomb");
    b.Node("Add", {"x", "big"}, {"y"});
    Result<ImportedModel> r = b.Import();
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().code() == StatusCode::kResourceExhausted) << r.status().ToString();
  }
  {
    ProtoBuilder b(13);
    b.Node("Shape", {"x"}, {"s"});
    b.InitInt("i", {1}, {9});
    b.Node("Gather", {"s", "i"}, {"g"}, "gather_oob");
    b.Node("Reshape", {"x", "g"}, {"y"});
    ExpectError(b.Import(), StatusCode::kCorrupt, "index 9 is out of range");
  }
  {
    ProtoBuilder b(13);
    auto* n = b.Node("MaxPool", {"x"}, {"y"}, "pool");
    AttrInts(n, "kernel_shape", {3, 3, 3});
    ExpectError(b.Import(), StatusCode::kUnsupported, "only 2-D windows");
  }
}

TEST(OnnxImporterTest, RejectsUnsupportedInputs) {
  {
    ProtoBuilder b(13);
    auto* in = b.g->add_input();
    in->set_name("x2");
    in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    b.Node("Relu", {"x"}, {"y"});
    ExpectError(b.Import(), StatusCode::kUnsupported, "more than one input");
  }
  {
    ProtoBuilder b(13, {1, 10});
    b.Node("Relu", {"x"}, {"y"});
    ExpectError(b.Import(), StatusCode::kUnsupported, "NCHW image input");
  }
  {
    ProtoBuilder b(13);
    b.g->mutable_input(0)
        ->mutable_type()
        ->mutable_tensor_type()
        ->mutable_shape()
        ->mutable_dim(2)
        ->set_dim_param("H");
    b.Node("Relu", {"x"}, {"y"});
    // A symbolic height imports at the nominal size (model.cc decides who may use it).
    Result<ImportedModel> m = b.Import();
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    EXPECT_TRUE(m->symbolic_hw);
  }
  {
    ProtoBuilder b(13);
    b.g->mutable_input(0)
        ->mutable_type()
        ->mutable_tensor_type()
        ->mutable_shape()
        ->mutable_dim(1)
        ->set_dim_param("C");
    b.Node("Relu", {"x"}, {"y"});
    ExpectError(b.Import(), StatusCode::kUnsupported, "channel count must be fixed");
  }
  {
    ProtoBuilder b(13);
    b.Node("Relu", {"x"}, {"z"});
    ExpectError(b.Import(), StatusCode::kCorrupt, "output 'y' is never produced");
  }
}

TEST(OnnxImporterTest, HostileBytesNeverCrash) {
  EXPECT_EQ(ImportOnnx({}, "empty.onnx").status().code(), StatusCode::kCorrupt);
  const std::string junk = "this is not a protobuf at all \xff\xfe\x00\x01";
  EXPECT_FALSE(
      ImportOnnx(std::span(reinterpret_cast<const uint8_t*>(junk.data()), junk.size()), "junk.onnx")
          .ok());
  std::vector<std::string> files = {kWinml, kUwp};
  files.insert(files.end(), std::begin(kSynthetic), std::end(kSynthetic));
  for (const std::string& rel : files) {
    SCOPED_TRACE(rel);
    const std::vector<uint8_t> bytes = testing::ReadBytes(testing::TestData(rel));
    ASSERT_GT(bytes.size(), 100u);
    // Truncation at every 1/16th: the graph field is cut, so parsing fails.
    for (int k = 1; k < 16; ++k) {
      const size_t n = bytes.size() * k / 16;
      Result<ImportedModel> r = ImportOnnx(std::span(bytes.data(), n), rel);
      EXPECT_FALSE(r.ok()) << "truncated to " << n << " bytes";
    }
    // Byte flips: whatever parses must still give a valid graph, and
    // normalisation must answer with a value, not a crash.
    const bool small = bytes.size() < 20000;
    const size_t flips = small ? bytes.size() / 3 : 48;
    for (size_t f = 0; f < flips; ++f) {
      std::vector<uint8_t> bad = bytes;
      const size_t pos = small ? f * 3
                               : (f % 2 ? (f * 7919) % std::min<size_t>(bytes.size(), 65536)
                                        : (f * 104729) % bytes.size());
      bad[pos] ^= static_cast<uint8_t>(0x5A + f);
      Result<ImportedModel> r = ImportOnnx(bad, rel);
      if (!r.ok()) continue;
      EXPECT_TRUE(graph::Validate(r->graph).ok()) << "flip at " << pos;
      Graph g = r->graph;
      graph::NormalizeReport report;
      (void)graph::Normalize(&g, &report);
    }
  }
}

// Random multi-byte mutations of the small models reach the semantic checks
// (parseable files with odd values). EDGEVISION_ONNX_MUTATIONS raises the
// count for a longer local run.
TEST(OnnxImporterTest, RandomMutationsNeverCrash) {
  size_t per_file = 300;
  if (const char* env = std::getenv("EDGEVISION_ONNX_MUTATIONS")) per_file = std::stoul(env);
  std::mt19937 rng(12345);
  size_t parsed = 0;
  for (const char* rel : kSynthetic) {
    const std::vector<uint8_t> bytes = testing::ReadBytes(testing::TestData(rel));
    if (bytes.size() > 20000) continue;
    for (size_t i = 0; i < per_file; ++i) {
      std::vector<uint8_t> bad = bytes;
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits; ++e) {
        const size_t pos = rng() % bad.size();
        switch (rng() % 3) {
          case 0: bad[pos] = static_cast<uint8_t>(rng()); break;
          case 1: bad[pos] ^= static_cast<uint8_t>(1u << (rng() % 8)); break;
          default: bad[pos] = 0xFF; break;
        }
      }
      Result<ImportedModel> r = ImportOnnx(bad, rel);
      if (!r.ok()) {
        EXPECT_FALSE(r.status().message().empty());
        continue;
      }
      ++parsed;
      ASSERT_TRUE(graph::Validate(r->graph).ok()) << rel << " mutation " << i;
      Graph g = r->graph;
      graph::NormalizeReport report;
      if (graph::Normalize(&g, &report).ok()) {
        ASSERT_TRUE(graph::Validate(g).ok()) << rel << " mutation " << i;
        ASSERT_TRUE(graph::CheckExecutable(g).ok()) << rel << " mutation " << i;
      }
    }
  }
  EXPECT_GT(parsed, 0u);  // some mutations must get past parsing to test anything
}

}  // namespace
}  // namespace edgevision::model
