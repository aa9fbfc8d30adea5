// The XNNPACK backend against the reference kernels, op by op, over many
// shapes, strides, paddings and broadcasts (random data, fixed seeds, 1 and
// 2 threads): pooling, fully connected, element-wise and layout ops.
// Convolutions: xnnpack_conv_test.cc; fusions: xnnpack_fusion_test.cc.
#include "engine/xnnpack_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "engine/engine_test_util.h"
#include "engine/pointwise_gemm.h"
#include "engine/xnnpack_ops.h"

namespace edgevision::engine {
namespace {

using graph::Op;
using graph::Shape;
using graph::ValueId;
using testing::ExpectEqualsXnnpackOnly;
using testing::ExpectMatchesReference;
using testing::GraphBuilder;
using testing::GroupedConv;
using testing::kInf;
using testing::PlanStats;
using testing::PoolParams;
using testing::SquarePool;

const auto* const kReporter = ::testing::AddGlobalTestEnvironment(new testing::WorstErrorReporter);

// --- Pooling ------------------------------------------------------------------

struct PoolCase {
  std::string name;
  Op op;
  Shape input;
  PoolParams p;
};

std::vector<PoolCase> PoolCases() {
  std::vector<PoolCase> cases;
  for (Op op : {Op::kMaxPool2D, Op::kAvgPool2D}) {
    const std::string prefix = op == Op::kMaxPool2D ? "max_" : "avg_";
    cases.push_back({prefix + "k2s2", op, {1, 8, 8, 16}, SquarePool(2, 2)});
    PoolParams ceil = SquarePool(3, 2);
    ceil.pad_bottom = ceil.pad_right = 1;  // Caffe ceil mode
    cases.push_back({prefix + "k3s2_ceil", op, {1, 14, 14, 8}, ceil});
    cases.push_back({prefix + "k3s1_pad1", op, {1, 7, 5, 6}, SquarePool(3, 1, 1)});
    cases.push_back({prefix + "k1s2", op, {1, 7, 7, 4}, SquarePool(1, 2)});
    cases.push_back({prefix + "k2s3", op, {1, 9, 9, 4}, SquarePool(2, 3)});
    PoolParams rect = SquarePool(3, 1);
    rect.kernel_w = 2;
    rect.stride_w = 2;
    rect.pad_top = 1;
    cases.push_back({prefix + "rect_k3x2", op, {1, 6, 9, 5}, rect});
    PoolParams clamped = SquarePool(2, 2);
    clamped.act_min = -0.25f;
    clamped.act_max = 0.5f;
    cases.push_back({prefix + "fused_clamp", op, {1, 6, 6, 3}, clamped});
  }
  PoolParams include = SquarePool(3, 1, 1);
  include.count_include_pad = true;
  cases.push_back({"avg_k3s1_pad1_include_pad", Op::kAvgPool2D, {1, 7, 5, 6}, include});
  PoolParams include_s2 = SquarePool(3, 2);
  include_s2.pad_bottom = include_s2.pad_right = 2;
  include_s2.count_include_pad = true;
  cases.push_back({"avg_k3s2_asym_include_pad", Op::kAvgPool2D, {1, 9, 9, 10}, include_s2});
  return cases;
}

void PrintTo(const PoolCase& c, std::ostream* os) {
  *os << c.name;
}

class PoolTest : public ::testing::TestWithParam<PoolCase> {};

TEST_P(PoolTest, MatchesReference) {
  const PoolCase& c = GetParam();
  GraphBuilder b(42);
  const ValueId x = b.Input(c.input);
  // Mostly negative inputs: a zero-padded max would differ at the borders.
  ExpectMatchesReference(b.Finish(b.Pool(c.op, x, c.p)),
                         std::string(graph::OpName(c.op)) + "/" + c.name, testing::kOpTolerance,
                         1234, -2.0f, 0.25f);
}

INSTANTIATE_TEST_SUITE_P(Shapes, PoolTest, ::testing::ValuesIn(PoolCases()),
                         [](const auto& test_info) { return test_info.param.name; });

TEST(XnnpackOpTest, GlobalAvgPool) {
  for (const Shape& s : {Shape{1, 7, 7, 32}, Shape{1, 1, 1, 5}, Shape{1, 13, 13, 1000}}) {
    GraphBuilder b(3);
    const ValueId x = b.Input(s);
    ExpectMatchesReference(b.Finish(b.GlobalAvgPool(x)),
                           "GlobalAvgPool/" + std::to_string(s[1]) + "x" + std::to_string(s[3]));
  }
}

// One input row runs on the pointwise GEMM (PointwiseGemmRow; with threads
// its output channels are split), several on XNNPACK: both match the
// reference, and the GEMM equals EngineOptions::xnnpack_only at 1-3 threads,
// with a HardSwish after it fused too (MobileNetV3's classifier).
TEST(XnnpackOpTest, FullyConnected) {
  const bool available = xnnpack_internal::PointwiseGemmAvailable();
  struct Case {
    Shape input;
    int out;
    bool bias;
    float lo, hi;
    bool hardswish = false;
  };
  for (const Case& c :
       {Case{{1, 100}, 10, true, -kInf, kInf}, Case{{1, 1, 1, 64}, 7, true, -kInf, kInf},
        Case{{1, 48}, 5, false, -kInf, kInf}, Case{{1, 32}, 16, true, 0.0f, kInf},
        Case{{1, 1280}, 1000, true, -kInf, kInf}, Case{{1, 2, 3, 4}, 6, true, -kInf, kInf},
        Case{{1, 1, 1, 576}, 1024, true, -kInf, kInf, true}, Case{{1, 200}, 129, true, -1.0f, 1.0f}}) {
    const std::string label = "FullyConnected/" + std::to_string(c.input.back()) + "x" + std::to_string(c.out);
    SCOPED_TRACE(label);
    GraphBuilder b(5);
    const ValueId x = b.Input(c.input);
    ValueId y = b.FullyConnected(x, c.out, c.bias, c.lo, c.hi);
    if (c.hardswish) y = b.Unary(Op::kHardSwish, y);
    const graph::Graph g = b.Finish(y);
    const bool one_row = graph::ShapeProduct(c.input) == c.input.back();
    EXPECT_EQ(PlanStats(g).pointwise_gemm_nodes, available && one_row ? 1 : 0);
    EXPECT_EQ(PlanStats(g, false, 2).pointwise_gemm_nodes, available && one_row ? 1 : 0);
    EXPECT_EQ(PlanStats(g).fused_epilogues, available && c.hardswish ? 1 : 0);
    ExpectEqualsXnnpackOnly(g, 6);
    ExpectMatchesReference(g, label);
  }
}

// --- Element-wise -------------------------------------------------------------

struct BinaryCase {
  std::string name;
  Shape a, b;
  bool b_constant;
  bool swap;  // constant / second operand first
};

void PrintTo(const BinaryCase& c, std::ostream* os) {
  *os << c.name;
}

class BinaryTest : public ::testing::TestWithParam<std::tuple<Op, BinaryCase>> {};

TEST_P(BinaryTest, MatchesReference) {
  const auto& [op, c] = GetParam();
  GraphBuilder b(9);
  const ValueId x = b.Input(c.a);
  // Positive operands keep Div well conditioned.
  const ValueId y = c.b_constant ? b.RandomConstant(c.b, 0.5f, 2.0f) : b.Clamp(x, 0.5f, 2.0f);
  ValueId out = c.swap ? b.Binary(op, y, x) : b.Binary(op, x, y);
  ExpectMatchesReference(b.Finish(out), std::string(graph::OpName(op)) + "/" + c.name,
                         testing::kOpTolerance, 77, 0.5f, 2.0f);
}

INSTANTIATE_TEST_SUITE_P(
    Broadcasts, BinaryTest,
    ::testing::Combine(
        ::testing::Values(Op::kAdd, Op::kSub, Op::kMul, Op::kDiv),
        ::testing::Values(BinaryCase{"same_shape", {1, 4, 5, 8}, {1, 4, 5, 8}, false, false},
                          BinaryCase{"channel_vector", {1, 4, 5, 8}, {8}, true, false},
                          BinaryCase{"channel_vector_first", {1, 4, 5, 8}, {8}, true, true},
                          // An input normalisation: runs widened (BroadcastWidening).
                          BinaryCase{"rgb_scale", {1, 7, 9, 3}, {3}, true, false},
                          BinaryCase{"rgb_scale_first", {1, 7, 9, 3}, {1, 1, 1, 3}, true, true},
                          BinaryCase{"se_scale", {1, 6, 6, 16}, {1, 1, 1, 16}, true, false},
                          BinaryCase{"both_broadcast", {1, 4, 1, 8}, {1, 1, 5, 1}, true, false},
                          BinaryCase{"scalar", {1, 3, 3, 2}, {}, true, true},
                          BinaryCase{"rank2", {1, 10}, {1, 10}, true, false})),
    [](const auto& test_info) {
      return std::string(graph::OpName(std::get<0>(test_info.param))) + "_" +
             std::get<1>(test_info.param).name;
    });

TEST(XnnpackOpTest, OnlyPixelBroadcastsOfShortConstantsAreWidened) {
  GraphBuilder b(12);
  const ValueId x = b.Input({1, 6, 10, 3});
  const ValueId k3 = b.RandomConstant({3}, -1, 1);
  const ValueId scaled = b.Binary(Op::kMul, x, k3);
  const ValueId shifted = b.Binary(Op::kAdd, b.RandomConstant({1, 1, 1, 3}, -1, 1), scaled);
  const ValueId both = b.Binary(Op::kAdd, shifted, scaled);                      // no constant
  const ValueId col = b.Binary(Op::kMul, both, b.RandomConstant({1, 1, 10, 1}, -1, 1));  // not per channel
  graph::Graph g = b.Finish(col);
  std::vector<size_t> widening;
  for (const graph::Node& n : g.nodes) widening.push_back(xnnpack_internal::BroadcastWidening(g, n));
  EXPECT_EQ(widening, (std::vector<size_t>{10, 10, 0, 0}));
  ExpectMatchesReference(g, "widened normalisation");
}

TEST(XnnpackOpTest, BinaryFusedClamp) {
  GraphBuilder b(11);
  const ValueId x = b.Input({1, 5, 5, 4});
  const ValueId y = b.RandomConstant({4}, -1, 1);
  ExpectMatchesReference(b.Finish(b.Binary(Op::kAdd, x, y, 0.0f, 6.0f)), "Add/relu6");
}

struct UnaryCase {
  std::string name;
  Shape shape;
  float lo, hi;  // input range
};

void PrintTo(const UnaryCase& c, std::ostream* os) {
  *os << c.name;
}

class UnaryTest : public ::testing::TestWithParam<std::tuple<std::string, UnaryCase>> {};

TEST_P(UnaryTest, MatchesReference) {
  const auto& [op_name, c] = GetParam();
  GraphBuilder b(13);
  const ValueId x = b.Input(c.shape);
  ValueId y;
  if (op_name == "Relu")
    y = b.Unary(Op::kRelu, x);
  else if (op_name == "Sigmoid")
    y = b.Unary(Op::kSigmoid, x);
  else if (op_name == "Softmax")
    y = b.Unary(Op::kSoftmax, x);
  else if (op_name == "HardSwish")
    y = b.Unary(Op::kHardSwish, x);
  else if (op_name == "LeakyRelu")
    y = b.LeakyRelu(x, 0.2f);
  else if (op_name == "Relu6")
    y = b.Clamp(x, 0.0f, 6.0f);
  else if (op_name == "ClampEmpty")
    y = b.Clamp(x, 0.25f, 0.25f);  // XNNPACK refuses min == max
  else
    y = b.Clamp(x, -1.0f, 1.0f);
  ExpectMatchesReference(b.Finish(y), op_name + "/" + c.name, testing::kOpTolerance, 21, c.lo,
                         c.hi);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, UnaryTest,
    ::testing::Combine(::testing::Values("Relu", "Sigmoid", "Softmax", "HardSwish", "LeakyRelu",
                                         "Relu6", "Clamp", "ClampEmpty"),
                       ::testing::Values(UnaryCase{"nhwc", {1, 5, 7, 9}, -8.0f, 8.0f},
                                         UnaryCase{"logits", {1, 1000}, -10.0f, 10.0f},
                                         UnaryCase{"one", {1, 1}, -3.0f, 3.0f})),
    [](const auto& test_info) {
      return std::get<0>(test_info.param) + "_" + std::get<1>(test_info.param).name;
    });

// --- Layout -------------------------------------------------------------------

TEST(XnnpackOpTest, ReshapeIsFree) {
  GraphBuilder b(17);
  const ValueId x = b.Input({1, 2, 3, 4});
  const ValueId r = b.Reshape(b.Unary(Op::kRelu, x), {1, 24});
  graph::Graph g = b.Finish(b.FullyConnected(r, 5));
  ExpectMatchesReference(g, "Reshape+FC");
  auto model = MakeXnnpackBackend()->Compile(g, {});
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(GetXnnpackPlanStats(**model)->free_nodes, 1);
}

TEST(XnnpackOpTest, TransposeKeepingOrderIsFreeOthersUseReference) {
  GraphBuilder b(19);
  const ValueId x = b.Input({1, 3, 4, 5});
  const ValueId pooled = b.GlobalAvgPool(x);               // [1,1,1,5]
  const ValueId flat = b.Transpose(pooled, {0, 3, 1, 2});  // [1,5,1,1]: same order
  const ValueId general = b.Transpose(x, {0, 3, 1, 2});    // [1,5,3,4]: reorders
  const ValueId sum = b.Binary(Op::kAdd, general, flat);   // broadcast [1,5,1,1]
  graph::Graph g = b.Finish(sum);
  ExpectMatchesReference(g, "Transpose");
  auto model = MakeXnnpackBackend()->Compile(g, {});
  ASSERT_TRUE(model.ok());
  const XnnpackPlanStats& stats = *GetXnnpackPlanStats(**model);
  EXPECT_EQ(stats.free_nodes, 1);
  EXPECT_EQ(stats.reference_nodes, 1);
  EXPECT_THAT(stats.reference_node_names, ::testing::ElementsAre(g.nodes[2].name));
}

TEST(XnnpackOpTest, PadOnXnnpackAndCropOnReference) {
  {
    GraphBuilder b(23);
    const ValueId x = b.Input({1, 4, 5, 3});
    graph::Graph g = b.Finish(b.Pad(x, {0, 1, 2, 0, 0, 2, 1, 1}, 0.5f));
    ExpectMatchesReference(g, "Pad");
    auto model = MakeXnnpackBackend()->Compile(g, {});
    ASSERT_TRUE(model.ok());
    EXPECT_EQ(GetXnnpackPlanStats(**model)->reference_nodes, 0);
  }
  {
    GraphBuilder b(23);
    const ValueId x = b.Input({1, 4, 5, 3});
    graph::Graph g = b.Finish(b.Pad(x, {0, -1, 2, 0, 0, 1, -2, 0}, -1.0f));
    ExpectMatchesReference(g, "Pad/crop");
    auto model = MakeXnnpackBackend()->Compile(g, {});
    ASSERT_TRUE(model.ok());
    EXPECT_EQ(GetXnnpackPlanStats(**model)->reference_nodes, 1);
  }
}

// ShuffleNet's unit as the Docker 2.2 export has it: concat, channel
// shuffle, channel split; one half feeds a 1x1 conv (read in place, a view),
// the other the next concat (copied from the view with its row stride).
TEST(XnnpackOpTest, ShuffleNetUnitRunsSlicesAsViews) {
  GraphBuilder b(31);
  const ValueId x = b.Input({1, 6, 5, 8});
  const ValueId a = b.Conv(x, 6, 1, 1);
  const ValueId c = b.Conv(x, 6, 3, 3, GroupedConv(1, 1));
  const ValueId cat = b.Concat({a, c}, 3);                      // [1,6,5,12]
  const ValueId shuffled = b.ChannelShuffle(cat, 2);
  const ValueId left = b.Slice(shuffled, {0, 0, 0, 0}, {1, 6, 5, 6});
  const ValueId right = b.Slice(shuffled, {0, 0, 0, 6}, {1, 6, 5, 6});
  const ValueId branch = b.Conv(right, 6, 1, 1);
  const ValueId out = b.Concat({left, branch}, 3);
  graph::Graph g = b.Finish(b.ChannelShuffle(out, 3));
  ExpectMatchesReference(g, "ShuffleNet unit");
  auto model = MakeXnnpackBackend()->Compile(g, {});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const XnnpackPlanStats& stats = *GetXnnpackPlanStats(**model);
  EXPECT_EQ(stats.reference_nodes, 0);
  EXPECT_GE(stats.free_nodes, 2);  // both slices are views
}

TEST(XnnpackOpTest, SlicesThatCannotBeViews) {
  {  // a channel slice that is the graph output: an XNNPACK strided copy
    GraphBuilder b(37);
    const ValueId x = b.Unary(Op::kRelu, b.Input({1, 3, 4, 10}));
    graph::Graph g = b.Finish(b.Slice(x, {0, 0, 0, 3}, {1, 3, 4, 5}));
    ExpectMatchesReference(g, "Slice/channel copy");
    auto model = MakeXnnpackBackend()->Compile(g, {});
    ASSERT_TRUE(model.ok());
    EXPECT_EQ(GetXnnpackPlanStats(**model)->reference_nodes, 0);
  }
  {  // a spatial slice read by a binary op: the reference kernel
    GraphBuilder b(41);
    const ValueId x = b.Input({1, 5, 6, 3});
    const ValueId s = b.Slice(x, {0, 1, 2, 0}, {1, 3, 4, 3});
    graph::Graph g = b.Finish(b.Binary(Op::kAdd, s, b.RandomConstant({3}, -1, 1)));
    ExpectMatchesReference(g, "Slice/spatial");
    auto model = MakeXnnpackBackend()->Compile(g, {});
    ASSERT_TRUE(model.ok());
    EXPECT_EQ(GetXnnpackPlanStats(**model)->reference_nodes, 1);
  }
}

TEST(XnnpackOpTest, ConcatOnEveryAxis) {
  for (int axis = 0; axis < 4; ++axis) {
    GraphBuilder b(29);
    const ValueId x = b.Input({1, 3, 4, 5});
    const ValueId y = b.Unary(Op::kSigmoid, x);
    const ValueId c = b.RandomConstant({1, 3, 4, 5}, -1, 1);
    ExpectMatchesReference(b.Finish(b.Concat({x, y, c}, axis)),
                           "Concat/axis" + std::to_string(axis));
  }
}

}  // namespace
}  // namespace edgevision::engine
