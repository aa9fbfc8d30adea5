#include "graph/broadcast.h"

#include <gtest/gtest.h>

#include <vector>

namespace edgevision::graph {
namespace {

TEST(BroadcastTest, ShapesAlignFromTheRight) {
  EXPECT_EQ(*BroadcastShape({1, 4, 4, 3}, {3}), (Shape{1, 4, 4, 3}));
  EXPECT_EQ(*BroadcastShape({2, 1}, {1, 3}), (Shape{2, 3}));
  EXPECT_EQ(*BroadcastShape({}, {5}), (Shape{5}));
  EXPECT_EQ(BroadcastShape({2, 3}, {4}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_FALSE(BroadcastShape({-1, 3}, {3}).ok());
}

TEST(BroadcastTest, PerChannelAndOuterBroadcast) {
  // [2,3] - [3]: subtract a per-channel mean from two pixels.
  std::vector<float> a = {10, 20, 30, 40, 50, 60};
  std::vector<float> mean = {1, 2, 3};
  std::vector<float> out(6);
  ASSERT_TRUE(BroadcastBinary(Op::kSub, a, {2, 3}, mean, {3}, out).ok());
  EXPECT_EQ(out, (std::vector<float>{9, 18, 27, 39, 48, 57}));
  // [2,1] * [1,3] -> outer product.
  std::vector<float> col = {2, 3}, row = {1, 10, 100};
  ASSERT_TRUE(BroadcastBinary(Op::kMul, col, {2, 1}, row, {1, 3}, out).ok());
  EXPECT_EQ(out, (std::vector<float>{2, 20, 200, 3, 30, 300}));
  // Scalar divide.
  std::vector<float> s = {4}, one(1);
  std::vector<float> two = {2};
  ASSERT_TRUE(BroadcastBinary(Op::kDiv, s, {}, two, {}, one).ok());
  EXPECT_EQ(one[0], 2.0f);
}

TEST(BroadcastTest, RejectsNonBinaryOpsAndWrongSizes) {
  std::vector<float> a = {1, 2}, out(2);
  EXPECT_FALSE(BroadcastBinary(Op::kRelu, a, {2}, a, {2}, out).ok());
  EXPECT_FALSE(BroadcastBinary(Op::kAdd, a, {3}, a, {2}, out).ok());
}

}  // namespace
}  // namespace edgevision::graph
