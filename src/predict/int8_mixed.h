// Automatic mixed precision for `--precision int8` (predict/int8_mode.h):
// which nodes stay float32 so that int8 answers as float32 does.
//
// The all-int8 model is compared with float32 on the evaluation inputs (the
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

// `calibration`'s ranges with no float_nodes; `fp32_outputs[i]` is the
// float32 engine's output on `inputs[i]`.
// Errors: the int8 engine's.
Result<Int8MixedPrecision> ChooseFloatNodes(const graph::Graph& graph, const engine::Int8Calibration& calibration,
                                        const std::vector<std::vector<float>>& inputs,
                                        const std::vector<std::vector<float>>& fp32_outputs);

}  // namespace edgevision::predict
