#include "predict/int8_fallback.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "predict/int8_mixed.h"

namespace edgevision::predict {

namespace {

// Indices of the two largest values (first wins a tie); requires size >= 2.
std::pair<size_t, size_t> TopTwo(std::span<const float> v) {
  size_t a = 0, b = 1;
  if (v[b] > v[a]) std::swap(a, b);
  for (size_t k = 2; k < v.size(); ++k) {
    if (v[k] > v[a]) {
      b = a;
      a = k;
    } else if (v[k] > v[b]) {
      b = k;
    }
  }
  return {a, b};
}

double Margin(std::span<const float> v, size_t a, size_t b) { return LogOdds(v[a]) - LogOdds(v[b]); }

}  // namespace

double TopTwoLogOddsMargin(std::span<const float> probabilities) {
  if (probabilities.size() < 2) return std::numeric_limits<double>::infinity();
  for (float p : probabilities) {
    if (std::isnan(p)) return std::numeric_limits<double>::quiet_NaN();
  }
  const auto [a, b] = TopTwo(probabilities);
  return Margin(probabilities, a, b);
}

bool IsNearTie(std::span<const float> probabilities) {
  return TopTwoLogOddsMargin(probabilities) < kFallbackNearTieMargin;
}

double MarginError(std::span<const float> fp32, std::span<const float> int8) {
  if (fp32.size() < 2 || fp32.size() != int8.size()) return 0;
  const auto [fa, fb] = TopTwo(fp32);
  const auto [ia, ib] = TopTwo(int8);
  return std::max(std::fabs(Margin(int8, fa, fb) - Margin(fp32, fa, fb)),
                  std::fabs(Margin(int8, ia, ib) - Margin(fp32, ia, ib)));
}

Int8FallbackBound CalibrateFallback(const std::vector<std::vector<float>>& fp32,
                                    const std::vector<std::vector<float>>& int8, bool enabled) {
  Int8FallbackBound b;
  b.enabled = enabled;
  b.safety_factor = kFallbackSafetyFactor;
  const size_t n = std::min(fp32.size(), int8.size());
  b.inputs = static_cast<int>(n);
  double all = 0;
  for (size_t i = 0; i < n; ++i) {
    const double error = MarginError(fp32[i], int8[i]);
    all = std::max(all, error);
    if (IsNearTie(fp32[i])) {
      ++b.near_tie_inputs;
      b.max_margin_error = std::max(b.max_margin_error, error);
    }
  }
  if (b.near_tie_inputs == 0) b.max_margin_error = all;
  b.bound = b.max_margin_error * b.safety_factor;
  for (size_t i = 0; i < n; ++i) {
    if (!(TopTwoLogOddsMargin(int8[i]) >= b.bound)) ++b.below_bound;
  }
  return b;
}

bool FallsBack(const Int8FallbackBound& bound, std::span<const float> int8_output) {
  return bound.enabled && !(TopTwoLogOddsMargin(int8_output) >= bound.bound);
}

std::string DescribeFallback(const Int8FallbackBound& b) {
  const std::string measured =
      b.near_tie_inputs > 0
          ? fmt::format("the largest error on the {} near-tie calibration inputs of {}", b.near_tie_inputs, b.inputs)
          : fmt::format("the largest error on all {} calibration inputs, none of them a near tie", b.inputs);
  return fmt::format("fp32 answers when int8's top-two log-odds margin < {:.4f} ({:g} x {:.4f}, {}; {} of them fall back)",
                     b.bound, b.safety_factor, b.max_margin_error, measured, b.below_bound);
}

}  // namespace edgevision::predict
