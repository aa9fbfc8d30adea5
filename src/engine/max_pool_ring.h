// A max pooling computed with the convolution before it (the first layers of
// the SqueezeNet exports: convolution, ReLU, 3x3 stride-2 max pooling), for
// any convolution kernel that computes output pixels in tiles: the float32
// GEMM (engine/pointwise_gemm.h ConvGemmMaxPool) and the int8 program's
// int16 kernel (engine/int16_gemm.h RunQ16GemmMaxPool). The convolution's
// output rows are computed into a ring of the pooling's height and pooled
// from there, so the full convolution output is never written to memory.
// Padding is left out of the max, as XNNPACK does; max is exact, so the
// pooled floats equal the unfused pair's bit for bit.
//
// Thread-safety: pure functions; disjoint row ranges with their own rings
// may run on different threads.
#pragma once

#include <cstddef>

#include "graph/graph.h"

namespace edgevision::engine::xnnpack_internal {

struct MaxPoolGeometry {
  size_t kernel_h = 0, kernel_w = 0, stride_h = 1, stride_w = 1;
  size_t pad_top = 0, pad_left = 0;
  size_t out_h = 0, out_w = 0;
  float* y = nullptr;  // output rows of y_stride floats
  size_t y_stride = 0;
  float lo = 0, hi = 0;  // the pooling's clamp
};

// The largest pooling window MaxPoolFromRing takes, in pixels.
inline constexpr size_t kMaxPoolRingWindow = 49;

// True for the poolings MaxPoolFromRing computes: a MaxPool2D of 4-d tensors
// whose windows have at most kMaxPoolRingWindow pixels and never lie wholly
// in the padding.
bool FusablePool(const graph::Graph& g, const graph::Node& pool);

// The geometry of MaxPool2D node `pool_node` of `g` (FusablePool) writing
// its output at `y`, `y_stride` floats between pixels.
MaxPoolGeometry MaxPoolGeometryOf(const graph::Graph& g, const graph::Node& pool_node, float* y,
                                  size_t y_stride);

// The convolution feeding the ring: out_h x out_w pixels of `channels`
// floats, computed a whole output row at a time by row(context, oy, y) when
// `row` is set, else by tile(context, pixel, rows, y) for `rows` (<=
// tile_rows) pixels of one output row from `pixel` on; written densely from y.
struct RingConvolution {
  size_t out_h = 0, out_w = 0, channels = 0, tile_rows = 0;
  void (*tile)(const void* context, size_t pixel, size_t rows, float* y) = nullptr;
  const void* context = nullptr;
  void (*row)(const void* context, size_t oy, float* y) = nullptr;
};

// Pooled rows [begin, end) and the convolution rows they read; `ring` holds
// pool.kernel_h rows of conv.out_w pixels of conv.channels floats. Returns
// the largest |pooled value| written when `peak` is set (the int16 kernel's
// next input scale), else 0. Two ranges compute the convolution rows they
// share each.
float MaxPoolFromRing(const RingConvolution& conv, const MaxPoolGeometry& pool, size_t begin,
                      size_t end, float* ring, bool peak);

// The ring's floats: pool.kernel_h rows of the convolution's output.
inline size_t MaxPoolRingFloats(size_t pool_kernel_h, size_t conv_out_w, size_t channels) {
  return pool_kernel_h * conv_out_w * channels;
}

}  // namespace edgevision::engine::xnnpack_internal
