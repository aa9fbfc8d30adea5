// What `--precision int8` did at load (predict/int8_mode.h), for `inspect`,
// GET /health and the logs.
#pragma once

#include <string>

namespace edgevision::predict {

// The int8 engine against the float32 engine on the calibration images.
struct Int8Agreement {
  int images = 0;
  int top1_agree = 0;        // images whose most probable tag is the same
  double top1_rate = 0;      // top1_agree / images
  double mean_abs_diff = 0;  // mean |p_int8 - p_fp32| over images x tags
  double max_abs_diff = 0;   // largest such difference
};

struct Int8Report {
  std::string calibration_source;  // "export images (<dir>)" or "captures (<dir>)"
  int calibration_images = 0;
  std::string cache_file;  // "" when nothing is cached (no data dir)
  bool cache_reused = false;
  Int8Agreement agreement;
  int int8_nodes = 0;   // graph nodes run in int8
  int float_nodes = 0;  // graph nodes run in float32
  int conversions = 0;  // qs8 <-> f32 convert operators
};

}  // namespace edgevision::predict
