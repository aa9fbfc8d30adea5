// See half.h.
#include "core/half.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace edgevision {

float RoundToHalf(float x) {
  if (std::isnan(x)) return x;
  const float a = std::fabs(x);
  if (a >= 65520.0f) return std::copysign(std::numeric_limits<float>::infinity(), x);
  if (a < 0x1p-14f) {  // half subnormals: multiples of 2^-24 (exact in float)
    return std::copysign(std::nearbyint(a * 0x1p24f) * 0x1p-24f, x);
  }
  // Keep 10 of the 23 mantissa bits, rounding to nearest, ties to even; a
  // carry moves into the exponent as it should.
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  bits += 0x0FFFu + ((bits >> 13) & 1u);
  bits &= ~0x1FFFu;
  float y;
  std::memcpy(&y, &bits, sizeof y);
  return y;
}

void RoundToHalf(std::span<float> values) {
  for (float& v : values) v = RoundToHalf(v);
}

}  // namespace edgevision
