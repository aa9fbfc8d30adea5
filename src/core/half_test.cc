// RoundToHalf against numpy's float16 conversion (IEEE round to nearest,
// ties to even), values written out by hand from
// `np.float32(np.float16(x))` (numpy 1.24).
#include "core/half.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace edgevision {
namespace {

TEST(HalfTest, RoundsToTheNearestHalfTiesToEven) {
  EXPECT_EQ(RoundToHalf(0.1f), 0.0999755859375f);
  EXPECT_EQ(RoundToHalf(0.45f), 0.449951171875f);
  EXPECT_EQ(RoundToHalf(-1.0f / 3), -0.333251953125f);
  EXPECT_EQ(RoundToHalf(255.0f), 255.0f);
  EXPECT_EQ(RoundToHalf(2049.0f), 2048.0f);  // a tie: to the even mantissa
  EXPECT_EQ(RoundToHalf(2051.0f), 2052.0f);  // a tie: to the even mantissa, upwards
  EXPECT_EQ(RoundToHalf(1.0f + 0x1p-11f), 1.0f);
  EXPECT_EQ(RoundToHalf(1.0f + 0x1p-11f + 0x1p-20f), 1.0f + 0x1p-10f);
  EXPECT_EQ(RoundToHalf(2047.9f), 2048.0f);  // the carry moves into the exponent
  EXPECT_EQ(RoundToHalf(65504.0f), 65504.0f);
  EXPECT_EQ(RoundToHalf(65519.0f), 65504.0f);
  EXPECT_TRUE(std::isinf(RoundToHalf(65520.0f)));
  EXPECT_TRUE(std::isinf(RoundToHalf(-1e6f)));
  EXPECT_TRUE(std::isnan(RoundToHalf(std::numeric_limits<float>::quiet_NaN())));
  EXPECT_EQ(RoundToHalf(1e-6f), 1.0132789611816406e-06f);  // a subnormal half: 17 * 2^-24
  EXPECT_EQ(RoundToHalf(0x1p-25f), 0.0f);                  // a tie between 0 and 2^-24: to 0
  EXPECT_EQ(RoundToHalf(0x1p-14f), 0x1p-14f);              // the smallest normal
  EXPECT_EQ(RoundToHalf(-0.0f), 0.0f);
  EXPECT_TRUE(std::signbit(RoundToHalf(-0.0f)));
  std::vector<float> v = {0.1f, 255.0f};
  RoundToHalf(v);
  EXPECT_EQ(v[0], 0.0999755859375f);
  EXPECT_EQ(v[1], 255.0f);
}

}  // namespace
}  // namespace edgevision
