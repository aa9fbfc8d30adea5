// Automatic mixed precision for `--precision int8` (predict/int8_mode.h):
// which nodes stay float32 so that int8 answers as float32 does.
//
// First, the leading layers (measured on the real exports: the error that
// flips answers on photos unlike the calibration set comes mostly from the
// first convolutions, docs/performance.md "int8", round 5): each prefix of
// the int8 compute nodes in graph order whose multiply-adds stay within
// LeadingBudget() of the model's is kept float32 in turn, and its
// error is measured on the evaluation inputs as the mean |log-odds
// difference| per tag (log(p / (1 - p)), p clamped to [kLogOddsFloor,
// kLogOddsCeiling]) — unlike the probabilities, it still moves when the
// calibration photos' answers are saturated (two exports ship one such
// photo). The shortest prefix whose error is within LeadingTolerance() of
// the smallest is kept (none when all-int8 is within it).
//
// Then the all-int8 (or leading-float) model is compared with float32 on the evaluation inputs (the
// calibration images and their augmented variants). It meets the bar when
// every top-1 is the same and no probability moves by more than
// kMixedMaxProbDiff. When it does not, each int8 compute node's sensitivity
// is measured on at most kSensitivityInputs of the inputs: the mean
// |p_int8 - p_fp32| with that node alone kept in float32. Nodes are then
// kept in float32 from the most sensitive down (each step compiled and
// measured on all evaluation inputs) until the bar is met, kMaxFloatNodes
// stay float32, or kMixedPatience steps in a row did not give a better set;
// then the best set found is kept and the report says the bar was missed.
// A set is better with more top-1 agreement, or the same and a largest
// |dp| at least kMixedMinGain (relative) lower: smaller moves of one input's
// worst difference are noise, not worth a float32 node (measured on the real
// exports, docs/performance.md "int8").
//
// Thread-safety: a pure function of its arguments.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "engine/int8_backend.h"
#include "graph/graph.h"
#include "predict/int8_report.h"

namespace edgevision::predict {

inline constexpr double kMixedMaxProbDiff = 0.02;
inline constexpr size_t kSensitivityInputs = 16;
inline constexpr size_t kMaxFloatNodes = 8;
inline constexpr size_t kMixedPatience = 2;
inline constexpr double kMixedMinGain = 0.1;
// The speed budget of the leading float32 prefix: its multiply-adds share.
// Set assuming a float32 multiply-add costs ~2.5x an int8 one; on an AVX-512
// VNNI x86 it costs ~5x, and the prefix takes int8 from 0.26-0.29x ONNX
// Runtime float32 to 0.34-0.44x (docs/performance.md "int8", round 6), while
// every cheaper prefix measured there lost agreement. A Pi's int8 is nearer
// its float32, so the prefix costs it relatively less.
inline constexpr double kMaxLeadingFloatShare = 0.25;
// The budget where the prefix runs on the int16 kernel
// (engine::Int8FloatConvolutionsOnInt16: x86 with AVX512-VNNI), which costs
// ~2x an int8 multiply-add instead of ~5x: a third of the multiply-adds
// then costs what a quarter did in float32, and the longer prefixes it
// allows bring cat/dog to 273/273 and food to 268/273 (docs/performance.md
// "int8", round 7).
inline constexpr double kMaxLeadingInt16Share = 0.4;
// The budget that applies on this machine (one of the two above).
double LeadingBudget();
// A longer prefix must bring the error within this fraction of the best.
inline constexpr double kLeadingTolerance = 0.1;
// ... or within this one when at least kLeadingNearTieInputs of the
// evaluation inputs are near ties in float32 (top-two log-odds margin below
// kFallbackNearTieMargin, predict/int8_fallback.h). The confidence fallback's
// bound is then measured on those near ties, where top-1 can flip, so it
// catches what a shorter prefix's larger error flips; with few or none (a
// set of one saturated photo) the bound is a guess from other inputs and
// the prefix must hold agreement itself. Of the real exports only food's 30
// photos qualify (63 near-tie inputs of 120; iotedge and android-fruit 1 and
// 2 of 20, docker22 and catdog none of 4): its prefix goes from 7 nodes
// (33.4 % of multiply-adds, error 1.06x the best) to 5 (22.2 %, 1.19x; the
// 4-node one is 1.38x), int8 alone ~7 % faster, and as served it still
// answers 273 of the 273 images with one more of them from float32 (53)
// (docs/performance.md "int8", round 9). Budgets of 0.25 / 0.3 instead cut the
// cat/dog prefix to 2 nodes, whose grey images then disagree (262 of 273).
inline constexpr double kLeadingToleranceWithNearTies = 0.25;
inline constexpr int kLeadingNearTieInputs = 16;
// float32 probabilities: the losing tags of a saturated answer go down to
// ~1e-30 and still carry the signal; 1 - p resolves no finer than 2^-24.
inline constexpr double kLogOddsFloor = 1e-30;
inline constexpr double kLogOddsCeiling = 1.0 - 1.0 / 16777216.0;
// log(p / (1 - p)) with p clamped to [kLogOddsFloor, kLogOddsCeiling].
double LogOdds(double p);

// kLeadingToleranceWithNearTies when at least kLeadingNearTieInputs of
// `fp32_outputs` are near ties (module comment), kLeadingTolerance otherwise.
double LeadingTolerance(const std::vector<std::vector<float>>& fp32_outputs);

// `calibration`'s ranges with no float_nodes; `fp32_outputs[i]` is the
// float32 engine's output on `inputs[i]`.
// Errors: the int8 engine's.
Result<Int8MixedPrecision> ChooseFloatNodes(const graph::Graph& graph, const engine::Int8Calibration& calibration,
                                        const std::vector<std::vector<float>>& inputs,
                                        const std::vector<std::vector<float>>& fp32_outputs);

}  // namespace edgevision::predict
