// Internal to the int8 backend (engine/int8_backend.h): dense int8
// convolutions (one group; 1x1 and kernels up to 7x7, any stride, dilation
// and padding) and FullyConnected layers as a GEMM over the output pixels,
// with our own AVX-512 VNNI kernel (vpdpbusd) on x86-64 CPUs that have
// AVX512-VNNI. Elsewhere (ARM, older x86) XNNPACK's qc8 operators run them.
//
// Debian 12's XNNPACK (2022) has no VNNI kernels: its x86 qc8 GEMM widens
// the bytes to 16 bits and multiplies with vpmaddwd (32 products per
// instruction and an add). vpdpbusd multiplies 64 unsigned by signed bytes
// and accumulates in one instruction, so the qs8 activations are shifted to
// u8 (x + 128, an XOR of the sign bit) and the shift is paid back in the
// bias: each output channel's bias is precomputed as
//     bias - (input_zero + 128) * sum_k w[k],
// the same identity XNNPACK uses for the input zero point. The sums are
// exact integers (int32), so the order does not matter, and the
// requantization is XNNPACK's qs8/qc8 fp32 one, instruction for instruction:
//     acc as float * (input_scale * weight_scale[c] / output_scale),
//     min(., output_max - output_zero), round to nearest even,
//     + output_zero, max(., output_min).
// The outputs are therefore bit-identical to xnn_create_convolution2d_nhwc_qc8's.
//
// Each output pixel reads its kernel window through one pointer per tap (an
// implicit im2col, no copy; taps in the padding read a row of the input
// zero point), 4 input channels per vpdpbusd. A tap's channels are padded to
// a multiple of 4 with zero weights: the kernel reads up to 3 bytes past a
// pixel's channels (the arena's XNN_EXTRA_BYTES tail covers the last pixel).
//
// Thread-safety: packing and the tile function are pure; disjoint tiles may
// run on different threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <pthreadpool.h>

#include "engine/cache_line_allocator.h"
#include "engine/int8_ops.h"
#include "graph/graph.h"

// Defined where the kernel is compiled in (x86-64, GCC's AVX-512 intrinsics;
// the condition of EV_X86_INTRINSICS in engine/x86_intrinsics.h, which this
// header does not include to keep its pragmas out of other modules):
// elsewhere Q8GemmAvailable() is false at compile time and the kernel's own
// tests are not built.
#if defined(__x86_64__) && defined(__GNUC__)
#define EV_Q8_GEMM_BUILT 1
#endif

namespace edgevision::engine::int8_internal {

// A tile: 6 pixels x 64 channels, 24 accumulators (a narrower last block:
// fewer vectors). Per 4 input channels it loads 4 weight vectors and 6
// pixel words (shifted by one XOR each) for 24 vpdpbusd.
inline constexpr size_t kQ8GemmTileRows = 6;       // output pixels per tile
inline constexpr size_t kQ8GemmTileChannels = 64;  // output channels per block
inline constexpr size_t kQ8GemmMaxTaps = 49;       // the largest kernel window (7x7)

// True if this build and CPU run the kernel (x86-64 with AVX-512F and
// AVX512-VNNI).
bool Q8GemmAvailable();

// A layer's weights packed for the kernel: [ceil(n / 64)][taps][k4 / 4][64][4]
// (zero padded), k4 = k rounded up to a multiple of 4; then per output
// channel (padded to a multiple of 64) the shifted bias and the
// requantization scale.
struct Q8GemmWeights {
  size_t n = 0, taps = 0, k = 0, k4 = 0;
  std::vector<int8_t, CacheLineAllocator<int8_t>> kernel;  // 64-byte loads on whole lines
  std::vector<int32_t> bias;
  std::vector<float> scale;
  std::vector<int8_t> zeros;  // k4 + a tail of the input zero point: padding taps read it
};

// weights.kernel: [n][taps][k] (the engine's OHWI kernel), weights.scales and
// weights.bias per output channel (int8_ops.h QuantizeWeights).
Q8GemmWeights PackQ8Gemm(const Q8Weights& weights, size_t n, size_t taps, size_t k, Quant input,
                         Quant output);

// A batch-1 NHWC convolution, one group (a FullyConnected layer: a 1x1
// convolution over a 1 x rows image).
struct Q8ConvArgs {
  size_t in_h = 0, in_w = 0, in_stride = 0;  // in_stride: bytes between input pixels
  size_t out_h = 0, out_w = 0;
  size_t kernel_h = 1, kernel_w = 1;         // kernel_h * kernel_w == weights->taps
  size_t stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  size_t pad_top = 0, pad_left = 0;
  const int8_t* x = nullptr;
  const Q8GemmWeights* weights = nullptr;
  int8_t* y = nullptr;
  size_t y_stride = 0;  // bytes between output pixels (>= weights->n)
  int8_t out_zero = 0, out_min = -128, out_max = 127;
};

// Output pixels [pixel, pixel + rows) in row-major order (rows <=
// kQ8GemmTileRows; they may span output rows), every output channel.
void Q8ConvTile(const Q8ConvArgs& args, size_t pixel, size_t rows);

// The arguments of node `node` (a Conv2D or FullyConnected run as kConv /
// kFullyConnected) packed as `weights`: reads the dense int8 input `x`,
// writes `y` with `y_stride` bytes between output pixels (0: dense).
Q8ConvArgs Q8GemmArgs(const graph::Graph& g, const graph::Node& node, Quant out,
                      const Q8GemmWeights* weights, const int8_t* x, int8_t* y, size_t y_stride);

// Every tile, on `pool` (nullptr: the calling thread): runs of tiles, a few
// tasks per thread.
void RunQ8Gemm(const Q8ConvArgs& args, pthreadpool_t pool);

// The requantization above for one accumulator (the scalar form the tests
// check the kernel's against).
int8_t RequantizeQ8(int32_t acc, float scale, int8_t out_zero, int8_t out_min, int8_t out_max);

}  // namespace edgevision::engine::int8_internal
