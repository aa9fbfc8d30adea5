// Internal to the int8 backend (engine/int8_backend.h): the float32
// convolutions of an int8 program (the leading prefix and the nodes mixed
// precision keeps, predict/int8_mixed.h) as 16-bit integer GEMMs, on x86-64
// CPUs with AVX512-VNNI (vpdpwssd: 32 int16 multiply-adds per instruction,
// twice an fp32 FMA's 16). Elsewhere (ARM, older x86, EngineOptions::
// xnnpack_only, the calibration program) XNNPACK's f32 operator runs them.
//
// Why 16 bits: int8 weights or activations in the first layers cost the
// exports their agreement with fp32 (docs/performance.md, int8 rounds 5-7);
// about 12 bits each keep it.
//
//  - Weights: symmetric per output channel, w ~ q * scale[c], |q| <= a bound
//    chosen per channel so that no accumulator can overflow (below).
//  - Input: symmetric per tensor and per run (dynamic): scale = max |x| /
//    input_max, so nothing saturates and no calibration is involved. When
//    the input's producers are int16 convolutions (or their fused pooling),
//    they measure max |x| in their output step (Q16ConvArgs::out_peak) and
//    the quantising pass reads the input once instead of twice; the peak is
//    the same float either way (max is exact).
//  - A 1x1 convolution without padding (Q16QuantisesInTile) has no
//    quantising pass: each tile quantises its own pixels (each read once)
//    into a stack buffer with the same expression, so the int16 copy of the
//    input is never written nor read back; the integers are the same.
//  - Overflow: |acc| <= input_max * sum_k |q_c[k]| <= INT32_MAX for every
//    channel (PackQ16Gemm picks input_max and the weight bounds from the
//    weights), so the int32 sums are exact; vpdpwssd wraps, and a sum that
//    fits is exact whatever the order.
//  - Output: float32, y = fma(float(acc), input_scale * scale[c], bias[c]),
//    then the node's clamp; written with an output pixel stride (a concat's
//    slice in place), or into the ring of a MaxPool2D computed with it
//    (RunQ16GemmMaxPool, engine/max_pool_ring.h). The scalar reference
//    (Q16ConvReference) computes the same expression, so the kernel's
//    outputs equal it bit for bit.
//
// The tile is the int8 kernel's (engine/int8_gemm.h): 6 output pixels x 64
// channels, 24 accumulators, the kernel window read through one pointer per
// tap (conv_taps.h), 2 input channels per vpdpwssd. The quantised input
// carries the convolution's padding as a zero border, so every window lies
// inside it (no per-tap pointers at the borders). A layer with an odd
// channel count and no horizontal dilation (the 3-channel first layers)
// takes each kernel row as one tap of kernel_w x channels consecutive values
// (row taps: a 3x3x3 window is 3 taps of 9, padded to 10, not 9 of 3 padded
// to 4: 15 vpdpwssd steps instead of 18); the sums are the same integers.
// The quantised input is dense (channels int16 per pixel, the zero border
// around); a tap's odd k is padded with a zero weight, so its last pair also
// reads the next value (or the one-element tail after the last pixel) and
// multiplies it by zero.
//
// Thread-safety: packing, quantising and the tile function are pure;
// disjoint tiles may run on different threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include <pthreadpool.h>

#include "engine/cache_line_allocator.h"
#include "engine/int8_gemm.h"
#include "engine/max_pool_ring.h"
#include "graph/graph.h"

namespace edgevision::engine::int8_internal {

inline constexpr size_t kQ16GemmTileRows = 6;       // output pixels per tile
inline constexpr size_t kQ16GemmTileChannels = 64;  // output channels per block
inline constexpr size_t kQ16GemmMaxTaps = 49;       // the largest kernel window (7x7)
inline constexpr int32_t kQ16Max = 32767;           // the int16 magnitude bound
// A 1x1 convolution without padding quantises its input per tile when a
// pixel's values (k rounded up to even) fit in this many int16 (a 6 x 512
// int16 stack buffer, 6 KiB; food's widest is 128).
inline constexpr size_t kQ16InTileMaxK2 = 512;

// True if this build and CPU run the kernel (x86-64 with AVX-512F and
// AVX512-VNNI).
bool Q16GemmAvailable();

// A layer's weights packed for the kernel: [ceil(n / 64)][taps][k2 / 2][64][2]
// (zero padded), k2 = k rounded up to even; per output channel (padded to a
// multiple of 64) the weight scale and the float bias.
struct Q16GemmWeights {
  size_t n = 0, taps = 0, k = 0, k2 = 0;  // k: the values a tap reads
  size_t channels = 0;                    // input channels (k / kernel_w with row taps)
  bool row_taps = false;                  // a tap per kernel row (PackQ16GemmNode)
  int32_t input_max = kQ16Max;  // the quantised input's magnitude bound
  std::vector<int16_t, CacheLineAllocator<int16_t>> kernel;
  std::vector<float> scale;
  std::vector<float> bias;
  std::vector<int16_t> zeros;  // k2 zeros (the tile walk's padding taps; the border makes them unused)
};

// `weights`: [n][taps][k] floats (the engine's OHWI kernel); `bias`: n
// floats or nullptr.
Q16GemmWeights PackQ16Gemm(const float* weights, const float* bias, size_t n, size_t taps, size_t k);

// Conv2D node `node` of `g` (one group, constant weights and bias) packed
// for the kernel, with row taps where they apply.
Q16GemmWeights PackQ16GemmNode(const graph::Graph& g, const graph::Node& node);

// A batch-1 NHWC convolution, one group, float32 in and out.
struct Q16ConvArgs {
  // The quantised input's size (with its zero border) and pixel stride; the
  // window geometry below has no padding (it is the border).
  size_t in_h = 0, in_w = 0, in_stride = 0;  // in_stride: int16 elements between pixels (channels)
  size_t src_h = 0, src_w = 0;               // the float input's size
  size_t border_top = 0, border_left = 0;    // its place in the quantised input
  size_t out_h = 0, out_w = 0;
  size_t kernel_h = 1, kernel_w = 1;  // kernel_w 1 with row taps
  size_t stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  size_t pad_top = 0, pad_left = 0;
  const float* input = nullptr;   // dense float32 input, weights->channels per pixel
  // max |input| measured by its producers (nullptr: QuantizeQ16Input scans it).
  const float* input_peak = nullptr;
  int16_t* quantised = nullptr;   // in_h * in_w * channels int16 and a tail: the quantised input
  const int16_t* x = nullptr;     // == quantised (read by the tiles)
  float input_scale = 0.0f;       // set by RunQ16Gemm
  float input_inverse = 0.0f;     // 1 / input_scale as the quantisation multiplies (set with it)
  // Q16QuantisesInTile: the tiles quantise `input` themselves (`x` unused).
  bool quantise_in_tile = false;
  const Q16GemmWeights* weights = nullptr;
  float* y = nullptr;
  size_t y_stride = 0;  // floats between output pixels (>= weights->n)
  float act_min = 0.0f, act_max = 0.0f;
  // Raised to max |y| over the outputs written (RaisePeak; nullptr: not
  // measured). With a fused pooling: over the pooled outputs.
  float* out_peak = nullptr;
  // A 1x1 convolution computed in this one's tiles (a Fire module's 1x1
  // expand, engine/int8_planner.cc FoldExpands; nullptr: none): the same
  // output pixels, its own weights and input scale, quantise_in_tile; its
  // channels come first at each output pixel, this convolution's after
  // them (y points at the 1x1's). One tile walk over both expands, the
  // squeeze output read while it is in cache; each computes what its own
  // pass would, bit for bit.
  Q16ConvArgs* folded = nullptr;
};

// The floats each output pixel gets: the convolution's channels and a
// folded 1x1's.
inline size_t Q16OutChannels(const Q16ConvArgs& args) {
  return args.weights->n + (args.folded ? args.folded->weights->n : 0);
}

// *peak = max(*peak, value), atomically (tiles on several threads raise one
// peak; every producer's peaks start at 0 each run).
void RaisePeak(float* peak, float value);

// The int16 scratch a node's input needs, in bytes.
size_t Q16InputBytes(const graph::Graph& g, const graph::Node& node, const Q16GemmWeights& weights);

// The arguments of Conv2D node `node` packed as `weights`: reads the dense
// float32 input `x` through the scratch `quantised` (Q16InputBytes), writes
// `y` with `y_stride` floats between output pixels (0: dense).
Q16ConvArgs Q16GemmArgs(const graph::Graph& g, const graph::Node& node,
                        const Q16GemmWeights* weights, const float* x, int16_t* quantised, float* y,
                        size_t y_stride);

// True if Conv2D `node` packed as `weights` quantises its input per tile:
// a 1x1 window, no padding, k2 <= kQ16InTileMaxK2.
bool Q16QuantisesInTile(const graph::Node& node, const Q16GemmWeights& weights);

// Sets args->input_scale and input_inverse from the input's peak (measured
// by its producers, else scanned).
void ScaleQ16Input(Q16ConvArgs* args);

// Quantises args->input into args->quantised and sets args->input_scale
// (whatever args->quantise_in_tile says: the reference's input).
void QuantizeQ16Input(Q16ConvArgs* args);

// Output pixels [pixel, pixel + rows) (rows <= kQ16GemmTileRows), every
// output channel, from the quantised input.
void Q16ConvTile(const Q16ConvArgs& args, size_t pixel, size_t rows);

// The same pixels written from `y` (args.y_stride floats apart) instead of
// args.y + pixel * args.y_stride.
void Q16ConvTileTo(const Q16ConvArgs& args, size_t pixel, size_t rows, float* y);

// Quantises the input (or only scales it, quantise_in_tile), then every
// tile on `pool` (nullptr: the calling thread).
void RunQ16Gemm(Q16ConvArgs args, pthreadpool_t pool);

// The scratch of a convolution with a fused max pooling: the quantised
// input (Q16InputBytes, `input_bytes`), then from this byte offset a ring of
// `ring_floats` (MaxPoolRingFloats) per band.
inline size_t Q16RingOffset(size_t input_bytes) {
  constexpr size_t kLine = 64;  // the rings start on a cache line
  return (input_bytes + kLine - 1) / kLine * kLine;
}

// Quantises the input, then the convolution and the max pooling `pool` (its
// only reader, FusablePool) in `bands` bands of pooled rows on `threads`
// (nullptr: the calling thread), band b's convolution rows in rings +
// b * ring_floats: the convolution's output is never written in full.
// args.y is not used and args.y_stride must be Q16OutChannels(args);
// args.out_peak gets the pooled outputs' peak.
void RunQ16GemmMaxPool(Q16ConvArgs args, const xnnpack_internal::MaxPoolGeometry& pool, float* rings,
                       size_t ring_floats, size_t bands, pthreadpool_t threads);

// The same outputs in scalar code (the tests' reference), from the quantised
// input of QuantizeQ16Input; raises args.out_peak as the kernel does.
void Q16ConvReference(const Q16ConvArgs& args);

}  // namespace edgevision::engine::int8_internal
