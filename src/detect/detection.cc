#include "detect/detection.h"

#include <charconv>
#include <cmath>

namespace edgevision::detect {

double RoundLikePython(double value) {
  if (!std::isfinite(value)) return value;
  // Python's round(x, 8) is the correctly rounded 8-decimal string read back
  // (float_round via _Py_dg_dtoa); std::to_chars with a precision is exact too.
  char buf[400];  // the largest double has 309 integer digits
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed, 8);
  if (ec != std::errc()) return value;
  double rounded = value;
  std::from_chars(buf, end, rounded);
  return rounded;
}

}  // namespace edgevision::detect
