// The test interpreter checks rewrites, so it is checked itself against
// values worked out by hand.
#include "graph/eval_for_test.h"

#include <gtest/gtest.h>

#include <cmath>

namespace edgevision::graph {
namespace {

TEST(EvalForTest, ConvPoolFullyConnectedByHand) {
  // x: 1x3x3x1 = 1..9; w: one 2x2 kernel of ones, pad bottom/right 1, stride 2.
  Graph g;
  const ValueId x = g.AddActivation("x", {1, 3, 3, 1});
  const ValueId w = g.AddConstant("w", {1, 2, 2, 1}, {1, 1, 1, 1});
  const ValueId b = g.AddConstant("b", {1}, {0.5f});
  const ValueId c = g.AddActivation("c");
  const ValueId m = g.AddActivation("m");
  const ValueId fw = g.AddConstant("fw", {2, 1}, {2.0f, -1.0f});
  const ValueId y = g.AddActivation("y");
  g.inputs = {x};
  Attrs conv;
  conv.stride_h = conv.stride_w = 2;
  conv.pad_bottom = conv.pad_right = 1;
  g.AddNode({Op::kConv2D, "conv", {x, w, b}, {c}, conv});
  Attrs pool;
  pool.kernel_h = pool.kernel_w = 2;
  pool.stride_h = pool.stride_w = 2;
  g.AddNode({Op::kMaxPool2D, "pool", {c}, {m}, pool});
  Attrs fc;
  fc.act_max = 20.0f;
  g.AddNode({Op::kFullyConnected, "fc", {m, fw, kNoValue}, {y}, fc});
  g.outputs = {c, m, y};
  auto out = EvaluateForTest(g, {{1, 2, 3, 4, 5, 6, 7, 8, 9}});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  // Windows: {1,2,4,5}=12, {3,6}=9, {7,8}=15, {9}=9; + 0.5.
  EXPECT_EQ((*out)[0], (std::vector<float>{12.5f, 9.5f, 15.5f, 9.5f}));
  EXPECT_EQ((*out)[1], (std::vector<float>{15.5f}));
  EXPECT_EQ((*out)[2], (std::vector<float>{20.0f, -15.5f}));  // 31 clamped to 20
}

TEST(EvalForTest, ElementwiseSoftmaxTransposePadConcat) {
  Graph g;
  const ValueId x = g.AddActivation("x", {1, 1, 2, 2});
  const ValueId k = g.AddConstant("k", {2}, {10.0f, 20.0f});
  const ValueId a = g.AddActivation("a");
  const ValueId t = g.AddActivation("t");
  const ValueId p = g.AddActivation("p");
  const ValueId cat = g.AddActivation("cat");
  const ValueId s = g.AddActivation("s");
  g.inputs = {x};
  g.AddNode({Op::kAdd, "add", {x, k}, {a}, {}});
  Attrs perm;
  perm.ints = {0, 2, 1, 3};
  g.AddNode({Op::kTranspose, "tr", {a}, {t}, perm});
  Attrs pad;
  pad.ints = {0, 0, 0, 0, 0, 0, 1, 0};
  pad.pad_value = -1.0f;
  g.AddNode({Op::kPad, "pad", {a}, {p}, pad});
  Attrs axis;
  axis.axis = 3;
  g.AddNode({Op::kConcat, "cat", {a, a}, {cat}, axis});
  Attrs sm;
  sm.axis = -1;
  g.AddNode({Op::kSoftmax, "sm", {x}, {s}, sm});
  g.outputs = {a, t, p, cat, s};
  auto out = EvaluateForTest(g, {{1, 2, 3, 4}});
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ((*out)[0], (std::vector<float>{11, 22, 13, 24}));
  EXPECT_EQ((*out)[1], (std::vector<float>{11, 22, 13, 24}));  // swapping size-1 H keeps order
  EXPECT_EQ((*out)[2], (std::vector<float>{11, 22, 13, 24, -1, -1}));  // W padded at the end
  EXPECT_EQ((*out)[3], (std::vector<float>{11, 22, 11, 22, 13, 24, 13, 24}));
  const float e = std::exp(1.0f);
  EXPECT_NEAR((*out)[4][1], e / (1 + e), 1e-6);
}

}  // namespace
}  // namespace edgevision::graph
