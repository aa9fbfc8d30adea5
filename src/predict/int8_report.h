// What `--precision int8` did at load (predict/int8_mode.h), for `inspect`,
// GET /health and the logs.
#pragma once

#include <string>
#include <vector>

namespace edgevision::predict {

// The int8 engine against the float32 engine on the calibration images.
struct Int8Agreement {
  int images = 0;
  int top1_agree = 0;        // images whose most probable tag is the same
  double top1_rate = 0;      // top1_agree / images
  double mean_abs_diff = 0;  // mean |p_int8 - p_fp32| over images x tags
  double max_abs_diff = 0;   // largest such difference

  bool operator==(const Int8Agreement&) const = default;
};

// Automatic mixed precision (predict/int8_mixed.h): which nodes stay
// float32, and the agreement on the evaluation inputs (the calibration
// images and their augmented variants) with them.
struct Int8MixedPrecision {
  // The leading nodes kept float32 (a prefix of the int8 compute nodes, in
  // graph order), then the most sensitive ones; empty when all-int8 is best.
  std::vector<std::string> float_nodes;
  int leading_nodes = 0;         // how many of float_nodes are the leading prefix
  double leading_share = 0;      // their share of the model's multiply-adds
  double leading_error = 0;      // mean |log-odds error| on the inputs with them float32
  double all_int8_error = 0;     // the same, all-int8
  double leading_tolerance = 0;  // LeadingTolerance() of the evaluation inputs
  bool bar_met = false;
  int inputs = 0;            // evaluation inputs
  int top1_agree = 0;        // with float_nodes kept float32
  double max_abs_diff = 0;   // with float_nodes kept float32
  double all_int8_max_abs_diff = 0;
  int trials = 0;            // trial compilations the search made

  bool operator==(const Int8MixedPrecision&) const = default;
};

// The confidence fallback (predict/int8_fallback.h): the bound on int8's
// top-two log-odds margin under which float32 answers, from the int8 error
// on the calibration inputs.
struct Int8FallbackBound {
  bool enabled = false;         // --int8-fallback on (the default with int8)
  int inputs = 0;               // calibration inputs
  int near_tie_inputs = 0;      // of them, the ones the error was measured on
  double max_margin_error = 0;  // largest |margin error| among those (log-odds)
  double safety_factor = 0;     // kFallbackSafetyFactor
  double bound = 0;             // max_margin_error * safety_factor
  int below_bound = 0;          // calibration inputs whose int8 margin is under it

  bool operator==(const Int8FallbackBound&) const = default;
};

struct Int8Report {
  std::string calibration_source;  // "export images (<dir>)" or "captures (<dir>)"
  int calibration_images = 0;
  std::string cache_file;  // "" when nothing is cached (no data dir)
  bool cache_reused = false;
  // Biases corrected for the int8 weights' rounding (from
  // kBiasCorrectionMinImages calibration images up, predict/int8_mode.cc).
  bool bias_correction = false;
  Int8Agreement agreement;
  Int8MixedPrecision mixed;
  Int8FallbackBound fallback;
  int int8_nodes = 0;   // graph nodes run in int8
  int float_nodes = 0;  // graph nodes run in float32
  int conversions = 0;  // qs8 <-> f32 convert operators
  int compilations = 0;  // int8 compilations of the graph at load (1: compiled once)
};

}  // namespace edgevision::predict
