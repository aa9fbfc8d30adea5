// The confidence fallback of `--precision int8` (docs/performance.md,
// "int8", the fallback): int8 answers unless its answer is a near tie; then
// the image runs again in float32 and float32 answers.
//
// The quantity: the margin between the two most probable tags in log-odds,
// LogOdds(p1) - LogOdds(p2) (predict/int8_mixed.h). It orders the tags as the
// probabilities do, for a sigmoid and a softmax output alike, and int8's
// error moves it by about the same amount on a sure answer and on a near tie
// (the logits stay float32; int8 perturbs their inputs), where a probability
// gap shrinks with the probabilities (a food image at Fries 0.000365 and
// Donuts 0.000338 has a gap of 0.00003 but a margin of 0.077).
//
// The bound: at calibration the int8 program's error of that margin is
// measured on the calibration inputs (the images and their augmented
// variants) whose float32 margin is below kFallbackNearTieMargin (per input
// the larger of the errors of float32's two top tags' margin and of
// int8's), and its largest value times kFallbackSafetyFactor is the bound. An int8 answer whose margin is below it falls back. If int8's
// error on an image stays within the bound, an int8 margin at or above it
// cannot hide another float32 top-1: the margin to every other tag is at
// least as large. The calibration inputs are photos the model knows; on
// images unlike them int8's error can be larger, which is what the factor
// is for (measured on 273 images per export, docs/performance.md).
//
// Cost: a float32 compilation of the model (its packed weights) and one
// session per inference worker next to the int8 ones; an answer that falls
// back costs int8 + float32 (and preprocessing again); a decisive one only
// the margin (two logarithms). Detectors have no int8 mode
// (predict/int8_mode.h), so no fallback either.
//
// Thread-safety: the functions are pure; Int8FallbackCounts is safe from
// any number of threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "predict/int8_report.h"

namespace edgevision::predict {

// The bound is this times the largest int8 margin error seen on the
// calibration inputs. Chosen on the real exports (docs/performance.md,
// "int8", the fallback): 1 misses near ties whose int8 error exceeds what
// the calibration photos showed; 2 catches every disagreement of the 273
// images per export.
inline constexpr double kFallbackSafetyFactor = 2.0;
// The error is measured on the calibration inputs whose float32 margin is
// below this (log-odds: the top tag's odds under e^4 ~ 55x the second's):
// near ties, where an error can flip top-1. On saturated answers int8's
// margin error grows with the logits and float32's own resolution of p near
// 1 (food: 0.67-0.79 at margins 9-15, at most 0.29 below 2), and such an
// answer cannot flip; counting them would only raise the bound. When no
// calibration input is that close, all of them count.
inline constexpr double kFallbackNearTieMargin = 4.0;

// LogOdds(p1) - LogOdds(p2) of the two largest probabilities; +infinity
// with fewer than two tags; NaN when a probability is NaN.
double TopTwoLogOddsMargin(std::span<const float> probabilities);
// True if float32's `probabilities` are a near tie: TopTwoLogOddsMargin below
// kFallbackNearTieMargin (the inputs the fallback's bound and the int8 prefix's
// tolerance, predict/int8_mixed.h, are measured on).
bool IsNearTie(std::span<const float> probabilities);

// How much int8 moved the margin that decides top-1 on one input: the
// larger of |int8 - fp32| of the log-odds margin between float32's two top
// tags and between int8's two top tags. 0 with fewer than two tags.
double MarginError(std::span<const float> fp32, std::span<const float> int8);

// The bound from the outputs of both engines on the calibration inputs
// (same order and sizes); `enabled` is copied into the result.
Int8FallbackBound CalibrateFallback(const std::vector<std::vector<float>>& fp32,
                                    const std::vector<std::vector<float>>& int8, bool enabled);

// True when `int8_output` (probabilities) must be answered by float32:
// the fallback is enabled and the margin is not at or above the bound
// (a NaN margin falls back).
bool FallsBack(const Int8FallbackBound& bound, std::span<const float> int8_output);

// The enabled bound in words, for the start-up log and `inspect`: "fp32
// answers when int8's top-two log-odds margin < B (F x E, the largest error
// on ...; K of them fall back)", saying when no calibration input was a near
// tie and all of them were counted.
std::string DescribeFallback(const Int8FallbackBound& bound);

// Live counts of a serving int8 classifier (inspect, /health, bench).
class Int8FallbackCounts {
 public:
  void Add(bool fell_back) {
    inferences_.fetch_add(1, std::memory_order_relaxed);
    if (fell_back) fallbacks_.fetch_add(1, std::memory_order_relaxed);
  }
  uint64_t inferences() const { return inferences_.load(std::memory_order_relaxed); }
  uint64_t fallbacks() const { return fallbacks_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> inferences_{0};
  std::atomic<uint64_t> fallbacks_{0};
};

}  // namespace edgevision::predict
