// Internal to the XNNPACK backend: RAII handles, one-time initialisation and
// the mapping of one graph node onto one XNNPACK operator (create + setup).
//
// Thread-safety: InitializeXnnpack is safe to call from any thread. After it
// succeeded, creating and setting up distinct operators from different
// threads is safe; one operator is used by one thread at a time.
#pragma once

#include <pthreadpool.h>
#include <xnnpack.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"

namespace edgevision::engine::xnnpack_internal {

struct XnnOperatorDeleter {
  void operator()(xnn_operator_t op) const { xnn_delete_operator(op); }
};
using XnnOperator = std::unique_ptr<xnn_operator, XnnOperatorDeleter>;

struct ThreadPoolDeleter {
  void operator()(pthreadpool_t pool) const { pthreadpool_destroy(pool); }
};
using ThreadPool = std::unique_ptr<pthreadpool, ThreadPoolDeleter>;

// Calls xnn_initialize once per process; every call returns that call's
// outcome (Unsupported when the CPU lacks what XNNPACK needs, else Internal).
Status InitializeXnnpack();

std::string_view XnnStatusName(xnn_status status);

// How the backend executes one node.
enum class Exec : uint8_t {
  kXnnpack,           // one XNNPACK operator
  kDepthwiseAvgPool,  // AvgPool as an XNNPACK depthwise convolution with 1/(KH*KW) weights
  kReference,         // reference kernel on dense buffers
  kAlias,             // no work: the output shares its input's bytes
  kView,              // no work: a channel Slice read in place (input row stride, channel offset)
  kConcat,            // in-place inputs need nothing; the others run an XNNPACK copy each
  kWinograd,          // 3x3 stride-1 Conv2D as Winograd F(2x2, 3x3) (engine/winograd.h): our
                      // transforms around one grouped 1x1 XNNPACK convolution
  kPointwiseGemm,     // 1x1 stride-1 Conv2D on our AVX-512 GEMM (engine/pointwise_gemm.h)
  kBandedConv,        // a Conv2D and the MaxPool2D right after it, on XNNPACK, in row bands:
                      // its output is never whole (Program::BandStep)
  kInBand,            // that MaxPool2D: runs inside its kBandedConv node's bands
  kConvGemm,          // other dense Conv2D on the same GEMM, input read through per-tap pointers
  kDepthwise,         // 3x3 or 5x5 depthwise Conv2D on our AVX-512 kernel (engine/depthwise_conv.h)
  kFused,             // no work of its own: computed by an earlier node (a MaxPool2D after a
                      // kConvGemm node, see Program::fused_pool; a HardSwish or residual
                      // Add after our kernels' node, see Program::fused_epilogue; the
                      // depthwise and projection convolutions of a kBlock node)
  kBlock,             // an inverted-residual block (expansion 1x1, depthwise, projection 1x1)
                      // in row bands on our kernels, from this node (Program::blocks)
};

// True if `node` is a Conv2D that the pointwise GEMM can compute: 1x1
// kernel, stride 1, no padding or dilation, one group, constant weights and
// bias, and the kernel runs on this machine (PointwiseGemmAvailable). The
// planner uses it at any thread count (with threads, runs of row tiles split
// between them): on the AMD EPYC VM with 2 threads it runs MobileNetV2's
// 14x14 and 7x7 1x1s 10-40 % faster than XNNPACK's GEMM (see
// docs/performance.md; on the older Intel VM it was level, v3_large slower).
bool PointwiseGemmEligible(const graph::Graph& graph, const graph::Node& node);

// True if `node` is a FullyConnected with constant weights and bias on one
// input row (the classifiers' batch-1 layers) and the kernel runs on this
// machine: the pointwise GEMM computes it (PointwiseGemmRow, any thread
// count: with threads its output channels are split), with XNNPACK's
// products in XNNPACK's order.
bool FullyConnectedGemmEligible(const graph::Graph& graph, const graph::Node& node);

// True if `node` is a batch-1 Conv2D with one group, constant weights and
// bias, at most kConvGemmMaxTaps kernel taps, and the kernel runs on this
// machine, and it is not a 1x1 stride-1 convolution (PointwiseGemmEligible:
// those go to the pointwise GEMM): ConvGemmTile can compute it. The
// planner uses it where Winograd does not apply (the first 3-channel stride-2
// layers, 3x3 convolutions with fewer than kWinogradMinInputChannels inputs),
// with any thread count (tiles, or bands of pooled rows, split between them).
bool ConvGemmEligible(const graph::Graph& graph, const graph::Node& node);

// True if `node` is a batch-1 depthwise Conv2D (groups = input channels =
// output channels) with a 3x3 or 5x5 window (the two XNNPACK computes with
// its up16x9 and up16x25 kernels, whose sums DepthwiseRows repeats), constant
// weights and bias, positive strides and dilations, and the kernel runs on
// this machine (AVX-512F): DepthwiseRows can compute it.
bool DepthwiseEligible(const graph::Graph& graph, const graph::Node& node);

// Input channels from which a 3x3 convolution runs as Winograd F(2x2, 3x3)
// with its products on XNNPACK, where our GEMM does not run (with AVX-512F
// every such layer takes WinogradGemmEligible's path). Below, the 16
// products are too thin for
// XNNPACK's GEMM to beat its direct convolution (measured: 56x56, 16 -> 64
// channels took 420-450 us against 380 us direct; 28x28, 32 -> 128 took 265
// against 395).
inline constexpr size_t kWinogradMinInputChannels = 32;

// True if `node` is a Conv2D that Winograd F(2x2, 3x3) computes: batch 1,
// 3x3 kernel, stride 1, no dilation, one group, at least
// kWinogradMinInputChannels input channels.
bool WinogradEligible(const graph::Graph& graph, const graph::Node& node);

// Input channels from which a 3x3 convolution runs as Winograd F(2x2, 3x3)
// with its 16 products on our GEMM (WinogradStep::gemm_products) where that
// runs (AVX-512F). Measured on the bench machine (AMD EPYC, one thread, a
// convolution alone, minimum of 3 x 300 runs): SqueezeNet's 56x56 16 -> 64
// layers 257 us on the conv GEMM, 206 as Winograd on our GEMM (on XNNPACK's:
// 355). Wider layers too (the same sums in the same order as XNNPACK's
// grouped convolution): 28x28 32 -> 128 155 -> 134 us in the model at one
// thread, and at two one fork-join per layer instead of three per band
// (docs/performance.md#food-2t).
inline constexpr size_t kWinogradGemmMinInputChannels = 16;

// True if `node` is a convolution WinogradEligible's shapes allow with at
// least kWinogradGemmMinInputChannels input channels, and our GEMM runs
// (the planner asks it before WinogradEligible).
bool WinogradGemmEligible(const graph::Graph& graph, const graph::Node& node);

// Row strides (floats between consecutive rows; a row is the last dimension)
// of the node's data input and of its output.
struct OpStrides {
  size_t input = 0;
  size_t output = 0;
};

// For a Slice that cuts only the last axis: true, with the first channel in
// *begin. Other slices (and other ops): false.
bool IsChannelSlice(const graph::Graph& graph, const graph::Node& node, size_t* begin);

// Strides of dense buffers for `node`.
OpStrides DenseStrides(const graph::Graph& graph, const graph::Node& node);

// Creates the XNNPACK operator for `node` (exec kXnnpack, kDepthwiseAvgPool
// or kWinograd). `extra_weights` holds [C, KH, KW, 1] weights for
// kDepthwiseAvgPool, the transformed kernel U for kWinograd (its operator is
// the grouped 1x1 convolution over the tiles, dense, no bias, no clamp), and
// is ignored otherwise. Weights are packed during the
// call, so neither the graph nor `avgpool_weights` must outlive the operator.
// Returns XNNPACK's status (invalid/unsupported parameter: XNNPACK cannot run
// this node).
xnn_status CreateNodeOperator(const graph::Graph& graph, const graph::Node& node, Exec exec,
                              OpStrides strides, const float* extra_weights, XnnOperator* out);

// A binary op between a dense tensor [..., W, C] and a constant of C values
// broadcast over every pixel (an input normalisation: x * scale + mean) runs
// as [N / (W*C), W*C] (op) [W*C] on the constant tiled W times: the same
// element-wise arithmetic, but XNNPACK then works on long rows instead of
// calling its kernel once per 3-float pixel (10x faster on a 224x224x3
// input). Returns W, or 0 when the node is not such an op (or C is long).
size_t BroadcastWidening(const graph::Graph& graph, const graph::Node& node);
// That node's constant operand tiled BroadcastWidening() times, with a
// readable XNN_EXTRA_BYTES tail (zeros); empty when the node is not widened.
std::vector<float> WideConstant(const graph::Graph& graph, const graph::Node& node);

// Binds an operator from CreateNodeOperator to its buffers: input0 is
// node.inputs[0], input1 the second operand of a binary op (else unused).
// `wide_constant` (binary ops with BroadcastWidening() > 0 only, else null):
// the constant operand tiled BroadcastWidening() times, used in its place.
// Buffers must stay valid while the operator runs and be readable for
// XNN_EXTRA_BYTES past their ends.
xnn_status SetupNodeOperator(const graph::Graph& graph, const graph::Node& node, Exec exec,
                             xnn_operator_t op, const float* input0, const float* input1,
                             float* output, pthreadpool_t pool,
                             const float* wide_constant = nullptr);

}  // namespace edgevision::engine::xnnpack_internal
