#include "predict/int8_mixed.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "predict/int8_fallback.h"

namespace edgevision::predict {
namespace {

// Two sigmoid-like outputs whose top-two log-odds margin is `margin`.
std::vector<float> WithMargin(double margin) {
  return {static_cast<float>(1 / (1 + std::exp(-margin / 2))), static_cast<float>(1 / (1 + std::exp(margin / 2)))};
}

TEST(Int8MixedTest, LeadingToleranceWidensOnlyWithEnoughNearTies) {
  ASSERT_LT(kLeadingTolerance, kLeadingToleranceWithNearTies);
  // Saturated answers (docker22, cat/dog: one photo) never widen it.
  std::vector<std::vector<float>> outputs(4 * kLeadingNearTieInputs, WithMargin(20));
  EXPECT_EQ(LeadingTolerance(outputs), kLeadingTolerance);
  // One near tie short of the count.
  for (int i = 0; i + 1 < kLeadingNearTieInputs; ++i) outputs[i] = WithMargin(0.5);
  // A margin just above the near-tie margin is not a near tie.
  outputs.back() = WithMargin(kFallbackNearTieMargin + 0.01);
  ASSERT_GE(TopTwoLogOddsMargin(outputs.back()), kFallbackNearTieMargin);
  EXPECT_EQ(LeadingTolerance(outputs), kLeadingTolerance);
  outputs.back() = WithMargin(kFallbackNearTieMargin - 0.01);
  EXPECT_EQ(LeadingTolerance(outputs), kLeadingToleranceWithNearTies);
  EXPECT_EQ(LeadingTolerance({}), kLeadingTolerance);
}

}  // namespace
}  // namespace edgevision::predict
