// The reference kernels against small cases worked out by hand.
#include "engine/reference_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/testing/test_graphs.h"

namespace edgevision::engine {
namespace {

using graph::Op;
using graph::ValueId;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::FloatNear;
using testing::GraphBuilder;
using ::testing::Pointwise;

std::vector<float> RunReference(const graph::Graph& g, const std::vector<float>& input) {
  auto out = testing::RunOnce(*MakeReferenceBackend(), g, input);
  EXPECT_TRUE(out.ok()) << out.status().ToString();
  return out.ok() ? *out : std::vector<float>{};
}

// Replaces the payload of constant `id` (the builder fills it randomly).
void SetConstant(graph::Graph& g, ValueId id, std::vector<float> data) {
  ASSERT_EQ(g.values[id].f32.size(), data.size());
  g.values[id].f32 = std::move(data);
}

const std::vector<float> kOneToNine = {1, 2, 3, 4, 5, 6, 7, 8, 9};

// x = 3x3 single-channel 1..9, w = 2x2 [[1,0],[0,1]] (OHWI [1,2,2,1]).
graph::Graph DiagonalConv(const testing::ConvParams& p) {
  GraphBuilder b(1);
  const ValueId x = b.Input({1, 3, 3, 1});
  graph::Graph g = b.Finish(b.Conv(x, 1, 2, 2, p));
  SetConstant(g, g.nodes[0].inputs[1], {1, 0, 0, 1});
  if (p.bias) SetConstant(g, g.nodes[0].inputs[2], {0.5f});
  return g;
}

TEST(ReferenceConvTest, ValidStrideOne) {
  testing::ConvParams p;
  p.bias = false;
  EXPECT_THAT(RunReference(DiagonalConv(p), kOneToNine), ElementsAre(6, 8, 12, 14));
}

TEST(ReferenceConvTest, BiasAndFusedClamp) {
  testing::ConvParams p;
  p.act_min = 7.0f;
  p.act_max = 13.0f;
  EXPECT_THAT(RunReference(DiagonalConv(p), kOneToNine), ElementsAre(7, 8.5f, 12.5f, 13));
}

TEST(ReferenceConvTest, PaddingAndStride) {
  testing::ConvParams p;
  p.bias = false;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = 1;
  p.stride_h = p.stride_w = 2;
  // Windows start at (-1,-1), (-1,1), (1,-1), (1,1); zeros outside.
  EXPECT_THAT(RunReference(DiagonalConv(p), kOneToNine), ElementsAre(1, 3, 7, 14));
}

TEST(ReferenceConvTest, AsymmetricPadding) {
  testing::ConvParams p;
  p.bias = false;
  p.pad_bottom = 1;  // output 3x2: rows start at 0,1,2; the last reads row 3 = 0
  EXPECT_THAT(RunReference(DiagonalConv(p), kOneToNine), ElementsAre(6, 8, 12, 14, 7, 8));
}

TEST(ReferenceConvTest, Dilation) {
  testing::ConvParams p;
  p.bias = false;
  p.dilation_h = p.dilation_w = 2;  // taps (0,0) and (2,2)
  EXPECT_THAT(RunReference(DiagonalConv(p), kOneToNine), ElementsAre(10));
}

TEST(ReferenceConvTest, GroupsPickTheirOwnChannels) {
  GraphBuilder b(1);
  const ValueId x = b.Input({1, 1, 1, 4});
  testing::ConvParams p;
  p.groups = 2;
  p.bias = false;
  graph::Graph g = b.Finish(b.Conv(x, 2, 1, 1, p));
  // Output 0 sees channels 0,1; output 1 sees channels 2,3.
  SetConstant(g, g.nodes[0].inputs[1], {1, 1, 1, -1});
  EXPECT_THAT(RunReference(g, {1, 2, 3, 4}), ElementsAre(3, -1));
}

TEST(ReferenceConvTest, DepthwiseWithMultiplier) {
  GraphBuilder b(1);
  const ValueId x = b.Input({1, 1, 2, 2});
  testing::ConvParams p;
  p.groups = 2;
  p.bias = false;
  graph::Graph g = b.Finish(b.Conv(x, 4, 1, 2, p));
  // OHWI [4,1,2,1]: outputs 0,1 read channel 0; outputs 2,3 read channel 1.
  SetConstant(g, g.nodes[0].inputs[1], {1, 0, 0, 1, 1, 1, 2, 0});
  // x(w=0) = (1, 10), x(w=1) = (2, 20).
  EXPECT_THAT(RunReference(g, {1, 10, 2, 20}), ElementsAre(1, 2, 30, 20));
}

TEST(ReferencePoolTest, MaxPaddingNeverWins) {
  GraphBuilder b(1);
  const ValueId x = b.Input({1, 2, 2, 1});
  testing::PoolParams p;
  p.kernel_h = p.kernel_w = 2;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = 1;
  // All-negative input: a zero-padded max would return 0 at the borders.
  EXPECT_THAT(RunReference(b.Finish(b.Pool(Op::kMaxPool2D, x, p)), {-1, -2, -3, -4}),
              ElementsAre(-1, -1, -2, -1, -1, -2, -3, -3, -4));
}

TEST(ReferencePoolTest, AveragePaddingCountedOrNot) {
  for (bool include : {false, true}) {
    GraphBuilder b(1);
    const ValueId x = b.Input({1, 2, 2, 1});
    testing::PoolParams p;
    p.kernel_h = p.kernel_w = 2;
    p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = 1;
    p.count_include_pad = include;
    const std::vector<float> out =
        RunReference(b.Finish(b.Pool(Op::kAvgPool2D, x, p)), {1, 2, 3, 4});
    if (include) {
      EXPECT_THAT(out, ElementsAre(0.25f, 0.75f, 0.5f, 1, 2.5f, 1.5f, 0.75f, 1.75f, 1));
    } else {
      EXPECT_THAT(out, ElementsAre(1, 1.5f, 2, 2, 2.5f, 3, 3, 3.5f, 4));
    }
  }
}

TEST(ReferencePoolTest, GlobalAverage) {
  GraphBuilder b(1);
  const ValueId x = b.Input({1, 2, 2, 2});
  EXPECT_THAT(RunReference(b.Finish(b.GlobalAvgPool(x)), {1, 10, 2, 20, 3, 30, 6, 60}),
              ElementsAre(3, 30));
}

TEST(ReferenceFullyConnectedTest, FlattenedInputBiasAndClamp) {
  for (bool rank4 : {false, true}) {
    GraphBuilder b(1);
    const ValueId x = b.Input(rank4 ? graph::Shape{1, 1, 1, 3} : graph::Shape{1, 3});
    graph::Graph g = b.Finish(b.FullyConnected(x, 2, true, 0.0f));
    SetConstant(g, g.nodes[0].inputs[1], {1, 0, -1, 2, 2, 2});
    SetConstant(g, g.nodes[0].inputs[2], {0.5f, -1});
    EXPECT_THAT(RunReference(g, {1, 2, 3}), ElementsAre(0, 11));  // -1.5 clamped to 0
  }
}

TEST(ReferenceConcatTest, ChannelAndRowAxes) {
  for (int axis : {1, 3}) {
    GraphBuilder b(1);
    const ValueId x = b.Input({1, 2, 1, 2});
    const ValueId y = b.Unary(Op::kRelu, x);
    const ValueId z = b.Clamp(x, 0, 2);
    const std::vector<float> out = RunReference(b.Finish(b.Concat({y, z}, axis)), {1, 2, 3, -4});
    // relu = (1,2,3,0), clamp = (1,2,2,0)
    if (axis == 3) {
      EXPECT_THAT(out, ElementsAre(1, 2, 1, 2, 3, 0, 2, 0));
    } else {
      EXPECT_THAT(out, ElementsAre(1, 2, 3, 0, 1, 2, 2, 0));
    }
  }
}

TEST(ReferenceBinaryTest, BroadcastOrderAndClamp) {
  GraphBuilder b(1);
  const ValueId x = b.Input({1, 2, 1, 2});
  const ValueId c = b.RandomConstant({2}, 0, 1);
  graph::Graph g = b.Finish(b.Binary(Op::kSub, c, x, -testing::kInf, 17.0f));
  SetConstant(g, c, {10, 20});
  EXPECT_THAT(RunReference(g, {1, 2, 3, 4}), ElementsAre(9, 17, 7, 16));
}

TEST(ReferenceBinaryTest, AllFourOps) {
  const std::vector<std::pair<Op, std::vector<float>>> cases = {{Op::kAdd, {3, 6, 5, 8}},
                                                                {Op::kSub, {-1, -2, 1, 0}},
                                                                {Op::kMul, {2, 8, 6, 16}},
                                                                {Op::kDiv, {0.5f, 0.5f, 1.5f, 1}}};
  for (const auto& [op, expected] : cases) {
    GraphBuilder b(1);
    const ValueId x = b.Input({1, 2, 2});
    const ValueId c = b.RandomConstant({1, 1, 2}, 0, 1);
    graph::Graph g = b.Finish(b.Binary(op, x, c));
    SetConstant(g, c, {2, 4});
    EXPECT_THAT(RunReference(g, {1, 2, 3, 4}), ElementsAreArray(expected)) << graph::OpName(op);
  }
}

TEST(ReferenceUnaryTest, Activations) {
  const std::vector<float> x = {-4, -1, 0, 1, 4};
  auto run = [&](auto build) {
    GraphBuilder b(1);
    const ValueId in = b.Input({1, 5});
    return RunReference(b.Finish(build(b, in)), x);
  };
  EXPECT_THAT(run([](GraphBuilder& b, ValueId v) { return b.Unary(Op::kRelu, v); }),
              ElementsAre(0, 0, 0, 1, 4));
  EXPECT_THAT(run([](GraphBuilder& b, ValueId v) { return b.Clamp(v, -2, 3); }),
              ElementsAre(-2, -1, 0, 1, 3));
  EXPECT_THAT(run([](GraphBuilder& b, ValueId v) { return b.LeakyRelu(v, 0.1f); }),
              Pointwise(FloatNear(1e-7f), std::vector<float>{-0.4f, -0.1f, 0, 1, 4}));
  EXPECT_THAT(run([](GraphBuilder& b, ValueId v) { return b.Unary(Op::kHardSwish, v); }),
              Pointwise(FloatNear(1e-7f), std::vector<float>{0, -1.0f / 3, 0, 2.0f / 3, 4}));
  const std::vector<float> sig =
      run([](GraphBuilder& b, ValueId v) { return b.Unary(Op::kSigmoid, v); });
  EXPECT_FLOAT_EQ(sig[2], 0.5f);
  EXPECT_FLOAT_EQ(sig[3], 1.0f / (1.0f + std::exp(-1.0f)));
  EXPECT_FLOAT_EQ(sig[0] + sig[4], 1.0f);
}

TEST(ReferenceUnaryTest, SoftmaxPerRow) {
  GraphBuilder b(1);
  const ValueId x = b.Input({1, 2, 3});
  const std::vector<float> out =
      RunReference(b.Finish(b.Unary(Op::kSoftmax, x)), {1, 2, 3, 0, 0, 1000});
  const double e1 = std::exp(-2.0), e2 = std::exp(-1.0), s = e1 + e2 + 1.0;
  EXPECT_THAT(out,
              Pointwise(FloatNear(1e-7f),
                        std::vector<float>{static_cast<float>(e1 / s), static_cast<float>(e2 / s),
                                           static_cast<float>(1 / s), 0, 0, 1}));
}

TEST(ReferenceLayoutTest, ReshapeKeepsOrder) {
  GraphBuilder b(1);
  const ValueId x = b.Input({1, 2, 2});
  EXPECT_THAT(RunReference(b.Finish(b.Reshape(x, {1, 4})), {1, 2, 3, 4}), ElementsAre(1, 2, 3, 4));
}

TEST(ReferenceLayoutTest, PadWithValueAndCrop) {
  GraphBuilder b(1);
  const ValueId x = b.Input({1, 2, 2});
  // Axis 1: one row of 9 before; axis 2: drop the first column, add one after.
  const ValueId y = b.Pad(x, {0, 1, -1, 0, 0, 1}, 9.0f);
  EXPECT_EQ(b.ShapeOf(y), (graph::Shape{1, 3, 2}));
  EXPECT_THAT(RunReference(b.Finish(y), {1, 2, 3, 4}), ElementsAre(9, 9, 2, 9, 4, 9));
}

TEST(ReferenceLayoutTest, Transpose) {
  GraphBuilder b(1);
  const ValueId x = b.Input({1, 2, 3});
  // [1,2,3] -> perm (0,2,1) -> [1,3,2]
  EXPECT_THAT(RunReference(b.Finish(b.Transpose(x, {0, 2, 1})), {1, 2, 3, 4, 5, 6}),
              ElementsAre(1, 4, 2, 5, 3, 6));
}

TEST(ReferenceSessionTest, WrongSizesAreInvalidArgument) {
  GraphBuilder b(1);
  const ValueId x = b.Input({1, 4});
  auto model = MakeReferenceBackend()->Compile(b.Finish(b.Unary(Op::kRelu, x)), {});
  ASSERT_TRUE(model.ok());
  auto session = (*model)->CreateSession();
  ASSERT_TRUE(session.ok());
  std::vector<float> in(4), out(4), small(3);
  EXPECT_EQ((*session)->Run(small, out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*session)->Run(in, small).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE((*session)->Run(in, out).ok());
}

}  // namespace
}  // namespace edgevision::engine
