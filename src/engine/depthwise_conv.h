// Internal to the XNNPACK backend: depthwise convolutions (one input channel
// per group, multiplier 1) with our own AVX-512 kernel on x86-64 CPUs that
// have AVX-512F, optionally with the HardSwish that is their only reader.
//
// Debian 12's XNNPACK (2022) computes a 3x3 or 5x5 depthwise convolution one
// output pixel at a time: 16 channels, one accumulator, 9 or 25 dependent
// FMAs behind 9 or 25 pointer loads from its indirection buffer. At high
// resolution with few channels (MobileNetV3's 112x112x16) that chain is the
// whole cost (~2x ONNX Runtime's time). This kernel computes 8 output pixels
// of a row at once (8 independent accumulators per 16 channels) and derives
// its input pointers from the row instead of an indirection buffer. Square
// 3x3 and 5x5 windows with dilation_w 1 and stride_w 1 or 2 (every one in
// MobileNetV2/V3) go column by column: each input column's 3 or 5 vectors
// are loaded once for every output pixel of the tile that reads them, and
// the padding columns and rows are read as zeros through a table of column
// pointers, so that border pixels too go 8 at a time (the per-tap schedule
// computed them one by one: a 9- or 25-FMA dependency chain each).
//
// Each output is the bias plus the products summed tap by tap in XNNPACK's
// order (kernel column outer, kernel row inner), one FMA each, then clamped
// with max then min; taps in the padding multiply zeros, as XNNPACK's do.
// The results are bit-identical to XNNPACK's up16x9 and up16x25 kernels,
// which is why only 3x3 and 5x5 windows (9 and 25 taps, their primary tiles)
// are taken. A fused HardSwish is then XNNPACK's own formula on the clamped
// value: x * min(max(x * (1/6) + 1/2, 0), 1), the first step one FMA.
//
// Weights are packed once per model: per block of 16 channels, the bias (16)
// then each tap's 16 weights in that order (zero padded); the program keeps
// them from a cache-line boundary on (StoreAligned in xnnpack_fusion.h).
//
// Thread-safety: DepthwiseRows is pure; disjoint row ranges may run on
// different threads.
#pragma once

#include <cstddef>
#include <vector>

namespace edgevision::engine::xnnpack_internal {

inline constexpr size_t kDepthwiseTileChannels = 16;  // channels per vector
inline constexpr size_t kDepthwiseTilePixels = 8;     // output pixels per step

// weights: [C][KH][KW] (the engine's OHWI kernel with I = 1); bias: C values or null.
std::vector<float> PackDepthwise(const float* weights, const float* bias, size_t channels,
                                 size_t kernel_h, size_t kernel_w);

// A batch-1 NHWC depthwise convolution.
struct DepthwiseArgs {
  size_t in_h = 0, in_w = 0, channels = 0, in_stride = 0;  // in_stride: floats between pixels
  size_t out_h = 0, out_w = 0, out_stride = 0;
  size_t kernel_h = 0, kernel_w = 0;  // kernel_h * kernel_w is 9 or 25
  size_t stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  size_t pad_top = 0, pad_left = 0;
  const float* x = nullptr;
  // 0: input row iy is at x + iy * in_w * in_stride. Else x holds a ring of
  // that many rows: row iy is at x + (iy % x_ring_rows) * in_w * in_stride
  // (engine/inverted_residual.h; only the rows the output rows read need be there).
  size_t x_ring_rows = 0;
  const float* zeros = nullptr;   // >= channels + 16 zeros, read for padding
  const float* packed = nullptr;  // PackDepthwise
  float* y = nullptr;
  size_t y_row0 = 0;  // output row oy is at y + (oy - y_row0) * out_w * out_stride
  float lo = 0, hi = 0;  // the convolution's clamp
  bool hardswish = false;  // then HardSwish of the clamped value
};

// Output rows [begin, end), every pixel and channel.
void DepthwiseRows(const DepthwiseArgs& args, size_t begin, size_t end);

}  // namespace edgevision::engine::xnnpack_internal
