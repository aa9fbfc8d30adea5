// GoogleTest helpers shared by the engine tests.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <ostream>
#include <string>
#include <vector>

#include "engine/reference_backend.h"
#include "engine/testing/test_graphs.h"
#include "engine/xnnpack_backend.h"

namespace edgevision::engine::testing {

// Single ops: float32 sums of up to ~1300 products against double
// accumulation (|error| ~ sqrt(K) * 2^-24 of the sum of |terms|, measured at
// most 2.4e-6 on AVX-512), with margin for other kernels (AVX2, NEON).
inline constexpr double kOpTolerance = 2e-5;
// Whole networks: the same, compounded over tens of layers.
inline constexpr double kModelTolerance = 1e-4;

// The worst XNNPACK-vs-reference error seen by this test binary.
struct WorstError {
  std::mutex mu;
  double value = 0.0;
  std::string label;

  static WorstError& Get() {
    static WorstError worst;
    return worst;
  }
  void Record(const std::string& what, double err) {
    std::lock_guard<std::mutex> lock(mu);
    if (err >= value) {
      value = err;
      label = what;
    }
  }
};

// A convolution with a square window's stride and padding on every side and
// `groups` groups, no activation (SquareConv with groups).
inline ConvParams GroupedConv(int stride, int pad, int groups = 1) {
  ConvParams p = SquareConv(stride, pad);
  p.groups = groups;
  return p;
}

// A square pooling window: kernel, stride and padding on every side, with a
// clamp.
inline PoolParams SquarePool(int kernel, int stride, int pad = 0, float act_min = -kInf, float act_max = kInf) {
  PoolParams p;
  p.kernel_h = p.kernel_w = kernel;
  p.stride_h = p.stride_w = stride;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = pad;
  p.act_min = act_min;
  p.act_max = act_max;
  return p;
}

// One convolution layer of an engine test: a Conv2D on an input [1,H,W,C].
// A kernel's test derives its own case from it to add fields (quantisation,
// output stride); brace elision keeps the flat {name, input, ...} lists.
struct ConvLayerCase {
  std::string name;
  graph::Shape input;  // [1,H,W,C]
  int out_channels, kernel_h, kernel_w;
  ConvParams p;
};

// GoogleTest names a parameterised case by its name.
inline void PrintTo(const ConvLayerCase& c, std::ostream* os) { *os << c.name; }

// The case's graph: its one Conv2D, weights and bias drawn from `seed`.
inline graph::Graph ConvLayerGraph(const ConvLayerCase& c, uint32_t seed) {
  GraphBuilder b(seed);
  const graph::ValueId x = b.Input(c.input);
  return b.Finish(b.Conv(x, c.out_channels, c.kernel_h, c.kernel_w, c.p));
}

// Runs `g` on the reference backend and on XNNPACK with 1 and 2 threads on
// the same random input; expects every output within `tolerance` (see
// WorstRelativeError) and records the worst error. Returns it.
inline double ExpectMatchesReference(const graph::Graph& g, const std::string& label,
                                     double tolerance = kOpTolerance, uint32_t seed = 1234,
                                     float lo = -1.0f, float hi = 1.0f) {
  SCOPED_TRACE(label);
  const auto& in_shape = g.values[g.inputs[0]].shape;
  size_t n = 1;
  for (int64_t d : in_shape) n *= static_cast<size_t>(d);
  const std::vector<float> input = RandomData(n, seed, lo, hi);
  auto reference = RunOnce(*MakeReferenceBackend(), g, input);
  EXPECT_TRUE(reference.ok()) << reference.status().ToString();
  if (!reference.ok()) return 1e30;
  double worst = 0.0;
  for (int threads : {1, 2}) {
    auto xnnpack = RunOnce(*MakeXnnpackBackend(), g, input, threads);
    EXPECT_TRUE(xnnpack.ok()) << xnnpack.status().ToString();
    if (!xnnpack.ok()) return 1e30;
    const double err = WorstRelativeError(*xnnpack, *reference);
    EXPECT_LE(err, tolerance) << "threads=" << threads;
    worst = std::max(worst, err);
  }
  WorstError::Get().Record(label, worst);
  char value[32];
  std::snprintf(value, sizeof value, "%.3g", worst);
  ::testing::Test::RecordProperty("relative_error " + label, value);
  return worst;
}

// The plan of `g` compiled for `threads` (default options, or XNNPACK only).
inline XnnpackPlanStats PlanStats(const graph::Graph& g, bool xnnpack_only = false, int threads = 1) {
  EngineOptions options;
  options.xnnpack_only = xnnpack_only;
  options.threads = threads;
  auto model = MakeXnnpackBackend()->Compile(g, options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? *GetXnnpackPlanStats(**model) : XnnpackPlanStats{};
}

// `g` with our kernels at 1, 2 and 3 threads gives exactly what it gives on
// XNNPACK alone (EngineOptions::xnnpack_only), on random inputs in [-4, 4]
// (which reach every branch of HardSwish: below -3, above 3).
inline void ExpectEqualsXnnpackOnly(const graph::Graph& g, uint32_t seed) {
  const std::vector<float> input = RandomData(
      static_cast<size_t>(graph::ShapeProduct(g.values[g.inputs[0]].shape)), seed, -4.0f, 4.0f);
  auto xnnpack = RunOnce(*MakeXnnpackBackend(), g, input, 1, /*xnnpack_only=*/true);
  ASSERT_TRUE(xnnpack.ok()) << xnnpack.status().ToString();
  for (int threads : {1, 2, 3}) {
    auto ours = RunOnce(*MakeXnnpackBackend(), g, input, threads);
    ASSERT_TRUE(ours.ok()) << ours.status().ToString();
    EXPECT_EQ(*ours, *xnnpack) << "threads=" << threads;
  }
}

// Prints the worst recorded error when the test binary ends.
class WorstErrorReporter : public ::testing::Environment {
 public:
  void TearDown() override {
    const WorstError& w = WorstError::Get();
    std::printf("[ engine  ] worst XNNPACK-vs-reference relative error: %.3g (%s)\n", w.value,
                w.label.c_str());
  }
};

}  // namespace edgevision::engine::testing
