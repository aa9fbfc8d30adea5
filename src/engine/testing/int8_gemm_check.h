// The int8 VNNI kernel (engine/int8_gemm.h) against XNNPACK's qc8 operator
// on one layer, for the engine's tests (random layers) and the model tests
// (the real exports' layers).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/status.h"
#include "engine/int8_ops.h"
#include "graph/graph.h"

namespace edgevision::engine::testing {

struct Q8GemmComparison {
  size_t bytes = 0;      // output buffer bytes compared (strided outputs: the gaps too)
  size_t different = 0;  // of them, how many differ
  size_t saturated = 0;  // outputs at the clamp (out_min or out_max), from XNNPACK
};

// Runs node `node` of `g` (a dense Conv2D or a FullyConnected) on a random
// int8 input (seed) in both, with `threads` threads (1: no pool) and
// `y_stride` bytes between output pixels (0: dense); the weights are
// quantised by QuantizeWeights for `in` (with `means` for bias correction).
// Errors: Unsupported without the VNNI kernel (Q8GemmAvailable), and
// XNNPACK's refusal of the layer.
Result<Q8GemmComparison> CompareQ8GemmWithXnnpack(const graph::Graph& g, size_t node,
                                                  int8_internal::Quant in,
                                                  int8_internal::Quant out, size_t y_stride,
                                                  int threads, uint32_t seed,
                                                  const std::vector<float>& means = {});

}  // namespace edgevision::engine::testing
