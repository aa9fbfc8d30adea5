#include "predict/int8_fallback.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <thread>
#include <vector>

#include "predict/int8_mixed.h"

namespace edgevision::predict {
namespace {

TEST(Int8FallbackTest, MarginIsTheLogOddsGapOfTheTopTwo) {
  // Food's near tie (docs/performance.md): Fries 0.000365 vs Donuts 0.000338.
  const std::vector<float> food = {0.000338f, 0.000365f, 0.00001f};
  EXPECT_NEAR(TopTwoLogOddsMargin(food), LogOdds(0.000365) - LogOdds(0.000338), 1e-4);
  EXPECT_NEAR(TopTwoLogOddsMargin(food), 0.0769, 1e-3);
  // A softmax of two: 0.9 / 0.1 is 2 * log(9).
  EXPECT_NEAR(TopTwoLogOddsMargin(std::vector<float>{0.1f, 0.9f}), 2 * std::log(9.0), 1e-5);
  EXPECT_EQ(TopTwoLogOddsMargin(std::vector<float>{0.7f}), std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(TopTwoLogOddsMargin(std::vector<float>{0.5f, std::nanf("")})));
  EXPECT_EQ(TopTwoLogOddsMargin(std::vector<float>{0.5f, 0.5f}), 0.0);
}

TEST(Int8FallbackTest, MarginErrorTakesTheLargerOfBothEnginesTopPairs) {
  // fp32's top two: tags 0 and 1; int8's: tags 2 and 0.
  const std::vector<float> fp32 = {0.5f, 0.4f, 0.1f};
  const std::vector<float> int8 = {0.45f, 0.1f, 0.5f};
  const double fp32_pair = std::fabs((LogOdds(0.45) - LogOdds(0.1)) - (LogOdds(0.5) - LogOdds(0.4)));
  const double int8_pair = std::fabs((LogOdds(0.5) - LogOdds(0.45)) - (LogOdds(0.1) - LogOdds(0.5)));
  EXPECT_NEAR(MarginError(fp32, int8), std::max(fp32_pair, int8_pair), 1e-5);
  EXPECT_EQ(MarginError(fp32, fp32), 0.0);
  EXPECT_EQ(MarginError(std::vector<float>{1.0f}, std::vector<float>{0.5f}), 0.0);
}

TEST(Int8FallbackTest, BoundIsTheLargestNearTieErrorTimesTheFactor) {
  // Input 0: a near tie moved by 0.2 in log-odds. Input 1: a saturated answer
  // (margin far above kFallbackNearTieMargin) moved by 3: not counted.
  const auto pair = [](double margin) {
    return std::vector<float>{static_cast<float>(1 / (1 + std::exp(-margin / 2))),
                              static_cast<float>(1 / (1 + std::exp(margin / 2)))};
  };
  const std::vector<std::vector<float>> fp32 = {pair(0.1), pair(20)};
  const std::vector<std::vector<float>> int8 = {pair(0.3), pair(23)};
  const Int8FallbackBound b = CalibrateFallback(fp32, int8, true);
  EXPECT_TRUE(b.enabled);
  EXPECT_EQ(b.inputs, 2);
  EXPECT_EQ(b.near_tie_inputs, 1);
  EXPECT_NEAR(b.max_margin_error, 0.2, 1e-4);
  EXPECT_EQ(b.safety_factor, kFallbackSafetyFactor);
  EXPECT_NEAR(b.bound, 0.2 * kFallbackSafetyFactor, 1e-4);
  EXPECT_EQ(b.below_bound, 1);  // int8's 0.3 < 0.4
  // No near tie among the inputs: every input counts.
  const Int8FallbackBound far = CalibrateFallback({pair(20)}, {pair(23)}, false);
  EXPECT_EQ(far.near_tie_inputs, 0);
  EXPECT_NEAR(far.max_margin_error, 3, 0.05);  // float32 resolves p near 1 coarsely
  EXPECT_FALSE(far.enabled);
}

// The log and `inspect` say what the error was measured on, also when no
// calibration input was a near tie and all of them counted.
TEST(Int8FallbackTest, DescribeFallbackSaysWhatTheErrorWasMeasuredOn) {
  Int8FallbackBound b;
  b.bound = 0.4;
  b.safety_factor = 2;
  b.max_margin_error = 0.2;
  b.inputs = 20;
  b.near_tie_inputs = 3;
  b.below_bound = 1;
  EXPECT_EQ(DescribeFallback(b),
            "fp32 answers when int8's top-two log-odds margin < 0.4000 (2 x 0.2000, the largest error on the 3 "
            "near-tie calibration inputs of 20; 1 of them fall back)");
  b.near_tie_inputs = 0;
  b.below_bound = 0;
  EXPECT_EQ(DescribeFallback(b),
            "fp32 answers when int8's top-two log-odds margin < 0.4000 (2 x 0.2000, the largest error on all 20 "
            "calibration inputs, none of them a near tie; 0 of them fall back)");
}

TEST(Int8FallbackTest, OnlyMarginsUnderTheBoundFallBack) {
  Int8FallbackBound b;
  b.enabled = true;
  b.bound = 0.5;
  EXPECT_TRUE(FallsBack(b, std::vector<float>{0.000338f, 0.000365f}));     // margin 0.077
  EXPECT_FALSE(FallsBack(b, std::vector<float>{0.1f, 0.9f}));              // margin 4.4
  EXPECT_TRUE(FallsBack(b, std::vector<float>{0.5f, std::nanf("")}));      // NaN: fp32 answers
  EXPECT_FALSE(FallsBack(b, std::vector<float>{0.9f}));                    // one tag: nothing to flip
  b.enabled = false;
  EXPECT_FALSE(FallsBack(b, std::vector<float>{0.000338f, 0.000365f}));
}

TEST(Int8FallbackTest, CountsFromManyThreads) {
  Int8FallbackCounts counts;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&counts, t] {
      for (int i = 0; i < 1000; ++i) counts.Add(i % 4 == t);
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(counts.inferences(), 4000u);
  EXPECT_EQ(counts.fallbacks(), 1000u);
}

}  // namespace
}  // namespace edgevision::predict
