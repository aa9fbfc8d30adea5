// Tests for the importers' shared layer (model/import_common.h).
#include "model/import_common.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace edgevision::model {
namespace {

uint32_t Bits(float f) {
  return std::bit_cast<uint32_t>(f);
}

// binary16 decoded by arithmetic on its fields, independently of the bit
// manipulation under test.
double HalfByFormula(uint16_t h) {
  const int exp = (h >> 10) & 0x1F;
  const int mant = h & 0x3FF;
  const double sign = (h & 0x8000) ? -1.0 : 1.0;
  if (exp == 0) return sign * std::ldexp(mant, -24);
  if (exp == 31) return mant ? std::nan("") : sign * std::numeric_limits<double>::infinity();
  return sign * std::ldexp(1024 + mant, exp - 25);
}

TEST(ImportCommonTest, HalfToFloatKnownValues) {
  EXPECT_EQ(HalfToFloat(0x3C00), 1.0f);
  EXPECT_EQ(HalfToFloat(0xC000), -2.0f);
  EXPECT_EQ(HalfToFloat(0x3800), 0.5f);
  EXPECT_EQ(HalfToFloat(0x7BFF), 65504.0f);                  // largest normal
  EXPECT_EQ(HalfToFloat(0x0400), std::ldexp(1.0f, -14));     // smallest normal
  EXPECT_EQ(HalfToFloat(0x0001), std::ldexp(1.0f, -24));     // smallest subnormal
  EXPECT_EQ(HalfToFloat(0x03FF), std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(HalfToFloat(0x8001), -std::ldexp(1.0f, -24));
  EXPECT_EQ(Bits(HalfToFloat(0x0000)), Bits(0.0f));
  EXPECT_EQ(Bits(HalfToFloat(0x8000)), Bits(-0.0f));  // the sign of zero is kept
  EXPECT_EQ(HalfToFloat(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(HalfToFloat(0xFC00), -std::numeric_limits<float>::infinity());
}

TEST(ImportCommonTest, HalfToFloatNaNsKeepSignAndPayload) {
  for (uint16_t h : {uint16_t{0x7E00}, uint16_t{0x7C01}, uint16_t{0xFE00}, uint16_t{0x7FFF}}) {
    const float f = HalfToFloat(h);
    EXPECT_TRUE(std::isnan(f)) << std::hex << h;
    EXPECT_EQ(std::signbit(f), (h & 0x8000) != 0) << std::hex << h;
    EXPECT_EQ(Bits(f) & 0x7FFFFFu, static_cast<uint32_t>(h & 0x3FF) << 13) << std::hex << h;
  }
}

TEST(ImportCommonTest, HalfToFloatIsExactForEveryBitPattern) {
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    const float got = HalfToFloat(static_cast<uint16_t>(h));
    const double want = HalfByFormula(static_cast<uint16_t>(h));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << std::hex << h;
    } else {
      EXPECT_EQ(static_cast<double>(got), want) << std::hex << h;
      EXPECT_EQ(std::signbit(got), (h & 0x8000) != 0) << std::hex << h;
    }
  }
}

TEST(ImportCommonTest, BFloat16IsTheHighHalf) {
  EXPECT_EQ(BFloat16ToFloat(0x3F80), 1.0f);
  EXPECT_EQ(BFloat16ToFloat(0xC000), -2.0f);
  EXPECT_EQ(BFloat16ToFloat(0x7F80), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(0x7FC0)));
  EXPECT_EQ(BFloat16ToFloat(0x0001), std::bit_cast<float>(uint32_t{0x00010000}));  // subnormal
}

TEST(ImportCommonTest, SamePaddingFollowsTensorFlow) {
  // in 224, k 3, s 2: out 112, total max(111*2 + 3 - 224, 0) = 1 -> (0, 1).
  EXPECT_EQ(SamePadding(224, 3, 2, 1), std::make_pair(0, 1));
  EXPECT_EQ(SamePadding(224, 3, 1, 1), std::make_pair(1, 1));
  EXPECT_EQ(SamePadding(5, 4, 1, 1), std::make_pair(1, 2));  // odd total: the larger half last
  EXPECT_EQ(SamePadding(7, 3, 1, 2), std::make_pair(2, 2));  // dilation widens the window
  EXPECT_EQ(SamePadding(8, 1, 4, 1), std::make_pair(0, 0));  // never negative
}

TEST(ImportCommonTest, CheckedElementCount) {
  EXPECT_EQ(*CheckedElementCount({2, 3, 4}, "t"), 24);
  EXPECT_EQ(*CheckedElementCount({}, "t"), 1);
  EXPECT_EQ(*CheckedElementCount({5, 0}, "t"), 0);
  EXPECT_EQ(CheckedElementCount({2, -1}, "t").status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(CheckedElementCount(graph::Shape(graph::kMaxRank + 1, 1), "t").status().code(),
            StatusCode::kCorrupt);
  EXPECT_EQ(CheckedElementCount({graph::kMaxTensorElements, 2}, "t").status().code(),
            StatusCode::kResourceExhausted);
  EXPECT_EQ(CheckedElementCount({int64_t{1} << 40, int64_t{1} << 40}, "t").status().code(),
            StatusCode::kResourceExhausted);
}

TEST(ImportCommonTest, CheckPayloadBytes) {
  EXPECT_TRUE(CheckPayloadBytes(6, 4, 24, {2, 3}, "w").ok());
  const Status s = CheckPayloadBytes(6, 4, 23, {2, 3}, "w");
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_NE(s.message().find("w has 23 bytes, shape [2,3] needs 24"), std::string::npos)
      << s.ToString();
}

TEST(ImportCommonTest, CheckInputImage) {
  EXPECT_TRUE(CheckInputImage(224, 224, 3, "in").ok());
  EXPECT_TRUE(CheckInputImage(graph::kMaxInputSide, 1, graph::kMaxInputChannels, "in").ok());
  EXPECT_EQ(CheckInputImage(graph::kMaxInputSide + 1, 224, 3, "in").code(),
            StatusCode::kUnsupported);
  EXPECT_EQ(CheckInputImage(224, 224, graph::kMaxInputChannels + 1, "in").code(),
            StatusCode::kUnsupported);
  EXPECT_EQ(CheckInputImage(0, 224, 3, "in").code(), StatusCode::kUnsupported);
}

TEST(ImportCommonTest, PadsFromPairsReordersBeforeAndAfter) {
  // NHWC [[0,0],[1,2],[3,4],[0,0]] -> begins then ends.
  EXPECT_EQ(*PadsFromPairs({0, 0, 1, 2, 3, 4, 0, 0}, 4),
            (std::vector<int64_t>{0, 1, 3, 0, 0, 2, 4, 0}));
  EXPECT_EQ(PadsFromPairs({0, -1}, 1).status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(PadsFromPairs({0, graph::kMaxWindow + 1}, 1).status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(PadsFromPairs({0, 1, 2}, 2).status().code(), StatusCode::kCorrupt);
}

TEST(ImportCommonTest, ExpansionBudgetIsSharedByOneImport) {
  ExpansionBudget budget;
  EXPECT_TRUE(budget.Charge(kMaxImportExpansionElements - 10, "a").ok());
  EXPECT_TRUE(budget.Charge(10, "b").ok());
  const Status s = budget.Charge(1, "c");
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("c would create"), std::string::npos) << s.ToString();
  EXPECT_EQ(budget.used(), kMaxImportExpansionElements);
  EXPECT_EQ(budget.Charge(-1, "d").code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace edgevision::model
