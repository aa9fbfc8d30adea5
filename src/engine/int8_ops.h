// Internal to the int8 backend (engine/int8_backend.h): quantisation maths
// and the mapping of one graph node onto one qs8/s8/x8 XNNPACK operator.
//
// Thread-safety: pure functions; operators as engine/xnnpack_ops.h.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/int8_backend.h"
#include "engine/xnnpack_ops.h"
#include "graph/graph.h"

namespace edgevision::engine::int8_internal {

// Asymmetric int8: real = scale * (q - zero).
struct Quant {
  float scale = 1.0f;
  int8_t zero = 0;
};

// The quantisation covering `range` and 0 (so zero padding is exact).
Quant QuantFromRange(ValueRange range);
// round(v / scale) + zero, saturated to int8 (+-inf saturate).
int8_t Quantize(float v, Quant q);

// How an int8 node runs.
enum class Q8Kind : uint8_t {
  kConv,          // Conv2D as qc8 convolution
  kFullyConnected,  // FullyConnected as a 1x1 qc8 convolution on a 1x1 image
  kAvgPool,       // whole-window AvgPool2D as a depthwise qc8 convolution
  kBinary,        // Add / Sub / Mul of two activations
  kGlobalAvgPool,
  kMaxPool,
  kClamp,         // Relu, Clamp
  kChannelShuffle,
  kSlice,         // channel slice as an x8 copy
  kPad,
};

// Per-output-channel int8 weights and int32 bias of a qc8 convolution.
struct Q8Weights {
  std::vector<int8_t> kernel;  // same layout as the float weights
  std::vector<float> scales;   // per output channel
  std::vector<int32_t> bias;   // per output channel (zeros without a bias)
};

// Quantises the weights of a kConv / kFullyConnected / kAvgPool node whose
// input has quantisation `input`. With `input_means` (the input's channel
// means on the calibration inputs, one per input channel; empty: none), the
// bias is corrected for the rounding of the weights: each output channel's
// expected error sum_k (w_int8[k] * scale - w[k]) * mean[channel of k] is
// subtracted (bias correction, Nagel et al. 2019; borders are not modelled).
Q8Weights QuantizeWeights(const graph::Graph& g, const graph::Node& node, Q8Kind kind, Quant input,
                          const std::vector<float>& input_means = {});

// Creates the operator. `in` holds the quantisation of the node's inputs
// (one, or two for kBinary), `out` that of its output; `weights` is used by
// the convolution kinds (packed during the call). `output_stride`: int8
// elements between output pixels, for a kConv writing its channel slice of a
// concat in place; 0 = dense.
xnn_status CreateQ8Operator(const graph::Graph& g, const graph::Node& node, Q8Kind kind,
                            const Quant* in, Quant out, const Q8Weights* weights,
                            size_t output_stride, xnnpack_internal::XnnOperator* op);

// Binds it to dense int8 buffers (in1: the second operand of kBinary).
xnn_status SetupQ8Operator(const graph::Graph& g, const graph::Node& node, Q8Kind kind,
                           xnn_operator_t op, const int8_t* in0, const int8_t* in1, int8_t* out,
                           pthreadpool_t pool);

}  // namespace edgevision::engine::int8_internal
