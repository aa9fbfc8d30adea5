// Internal to the XNNPACK backend: convolutions as a GEMM over the output
// pixels with our own AVX-512 kernel on x86-64 CPUs that have AVX-512F:
//   - 1x1 stride-1 convolutions (PointwiseGemmRows, PointwiseGemmTile): the
//     input rows are the GEMM's rows;
//   - other dense convolutions (ConvGemmTile; the first 3-channel stride-2
//     layer, 3x3 convolutions too thin for Winograd): each output pixel reads
//     its kernel window through one pointer per tap (an implicit im2col, no
//     copy; taps outside the input read zeros).
//
// Debian 12's XNNPACK (2022) computes them with a 7x16 micro-kernel: one
// weight vector and 7 broadcast pixel values per step, so it waits on loads
// (~145-160 GFLOP/s on the bench machine, ~80 on the first layer's 27-deep
// GEMM). This kernel computes 8 pixels x 32 output channels per step (16
// accumulators, 2 weight vectors, 8 broadcasts): 1.15-1.28x faster on
// MobileNet-sized 1x1 layers. Each output is the bias plus the products
// summed tap by tap, input channel by input channel, with one FMA each, the
// order XNNPACK's GEMM and IGEMM kernels use: the results are bit-identical
// to them. PointwiseGemmRows runs its tiles in one loop with the tile
// inlined (no per-tile calls or pointer tables): 82 -> 90 % of the FMA
// peak over MobileNetV2's 1x1 layers, 65 -> 83 % on the 16-deep ones
// (docs/performance.md#gemm-tile).
//
// Weights are packed once per model: [ceil(N / 32)][K][32] (zero padded),
// K = taps x input channels in the OHWI order, then the bias padded to a
// multiple of 32.
//
// Thread-safety: the tile functions are pure; disjoint tiles may run on
// different threads.
#pragma once

#include <cstddef>
#include <vector>

#include "engine/max_pool_ring.h"

// Defined where the kernel is compiled in (x86-64 under GCC: the condition
// of EV_X86_INTRINSICS in engine/x86_intrinsics.h, which this header does not
// include to keep its pragmas out of other modules): elsewhere
// PointwiseGemmAvailable() is false and the kernel's own tests are not built,
// so an ARM run has none to skip.
#if defined(__x86_64__) && defined(__GNUC__)
#define EV_POINTWISE_GEMM_BUILT 1
#endif

namespace edgevision::engine::xnnpack_internal {

inline constexpr size_t kGemmTileRows = 8;       // pixels per tile
inline constexpr size_t kGemmTileChannels = 32;  // output channels per tile
// Pixels per tile of a 1x1 with at most 16 output channels (one vector per
// pixel: more rows keep both FMA pipes busy).
inline constexpr size_t kGemmNarrowTileRows = 16;
// Where the packed weights start (a cache line): the kernel loads them 64
// bytes at a time, and a load that spans two lines costs two.
inline constexpr size_t kGemmWeightAlignBytes = 64;
// The largest kernel window ConvGemmTile takes (7x7); larger ones stay on XNNPACK.
inline constexpr size_t kConvGemmMaxTaps = 49;

// True if this build and CPU run the kernel (x86-64 with AVX-512F).
bool PointwiseGemmAvailable();

// weights: [N][K] (the engine's OHWI kernel, K = KH * KW * input channels);
// bias: N values or null.
std::vector<float> PackPointwiseGemm(const float* weights, const float* bias, size_t n, size_t k);

// Where a tile's results go: rows of ldc floats, clamped to [lo, hi]. Then,
// when the planner fused the op that alone reads the convolution's output
// (Program::fused_epilogue), in the same registers and with that op's own
// XNNPACK arithmetic, so the results stay bit-identical:
//  - a residual Add: + `residual` (rows of residual_stride floats, the same
//    pixels and channels), clamped to [add_lo, add_hi];
//  - a HardSwish: x * min(max(x * (1/6) + 1/2, 0), 1), the first step one FMA.
struct GemmOutput {
  float* c = nullptr;
  size_t ldc = 0;
  float lo = 0, hi = 0;
  const float* residual = nullptr;
  size_t residual_stride = 0;
  float add_lo = 0, add_hi = 0;
  bool hardswish = false;
};

struct PointwiseGemmArgs {
  size_t m = 0, k = 0, n = 0;       // pixels, input channels, output channels
  const float* a = nullptr;         // input: m rows of lda floats
  size_t lda = 0;
  // Null, or k per-channel factors the input is multiplied by first (a
  // squeeze-excite Mul fused into the convolution that alone reads it:
  // PointwiseGemmScaledTile).
  const float* a_scale = nullptr;
  const float* packed = nullptr;    // PackPointwiseGemm
  GemmOutput out;
};

// Rows [row, row + rows) (rows <= kGemmTileRows) and output channels
// [channel, channel + kGemmTileChannels) clipped to n; `channel` is a
// multiple of kGemmTileChannels.
void PointwiseGemmTile(const PointwiseGemmArgs& args, size_t row, size_t rows, size_t channel);

// Output channels PointwiseGemmRow computes at a time (4 packed blocks).
inline constexpr size_t kGemmRowChannels = 128;

// Row `row` alone, output channels [channel_begin, channel_end) clipped to
// n (channel_begin a multiple of kGemmRowChannels), kGemmRowChannels at a
// time: a convolution over one pixel (a squeeze-excite's 1x1s) or a
// fully-connected layer. The results equal PointwiseGemmTile's, bit for bit.
void PointwiseGemmRow(const PointwiseGemmArgs& args, size_t row, size_t channel_begin, size_t channel_end);

// Rows [begin, end), every output channel (one row: PointwiseGemmRow), in
// tiles of nearly equal height (<= kGemmTileRows): pixels outer (each tile of rows
// meets every block of weights while it is in L1) or weight blocks outer
// (each block stays in L1 while the rows stream past). The results equal
// PointwiseGemmTile's, bit for bit.
void PointwiseGemmRows(const PointwiseGemmArgs& args, bool pixels_outer, size_t begin, size_t end);

// The most input channels PointwiseGemmScaledTile takes (its scaled tile
// of kGemmTileRows rows lives on the stack: 32 KB).
inline constexpr size_t kGemmMaxScaledK = 1024;

// Rows [row, row + rows) (rows <= kGemmTileRows), every output channel, of a
// convolution whose input is first multiplied by args.a_scale (k <=
// kGemmMaxScaledK): the tile's rows are scaled once into a buffer, each
// product rounded as XNNPACK's multiply rounds it, then every block of
// output channels reads them from L1. The results equal the Mul and then
// the convolution, bit for bit.
void PointwiseGemmScaledTile(const PointwiseGemmArgs& args, size_t row, size_t rows);

// A batch-1 NHWC convolution, one group.
struct ConvGemmArgs {
  size_t in_h = 0, in_w = 0, in_channels = 0, in_stride = 0;  // in_stride: floats between pixels
  size_t out_h = 0, out_w = 0, out_channels = 0;
  size_t kernel_h = 0, kernel_w = 0;  // kernel_h * kernel_w <= kConvGemmMaxTaps
  size_t stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  size_t pad_top = 0, pad_left = 0;
  const float* x = nullptr;
  const float* zeros = nullptr;  // >= in_channels zeros, read for padding
  const float* packed = nullptr;  // PackPointwiseGemm with k = taps * in_channels
  GemmOutput out;                 // row = output pixel
};

// Output pixels [pixel, pixel + rows) in row-major order (rows <=
// kGemmTileRows; they may span output rows), every output channel, written
// from `c` on (rows args.out.ldc floats apart; args.out.c is not used; a
// residual is read from args.out.residual's row `pixel` on).
void ConvGemmTile(const ConvGemmArgs& args, size_t pixel, size_t rows, float* c);

// Output row `oy`, every pixel and output channel, written from `c` on (as
// ConvGemmTile): the pixels whose windows lie inside the input in tiles of
// nearly equal width in one loop (no per-tile window pointers), the others
// through ConvGemmTile. The results equal ConvGemmTile's, bit for bit.
void ConvGemmRow(const ConvGemmArgs& args, size_t oy, float* c);

// A max pooling fused into the convolution before it (engine/max_pool_ring.h):
// pooled rows [begin, end) and the convolution rows they read; `ring` holds
// pool.kernel_h rows of args.out_w pixels of args.out_channels floats
// (args.out.ldc must equal args.out_channels). Disjoint row ranges with
// their own rings may run on different threads (the convolution rows two
// ranges share are computed by both).
void ConvGemmMaxPool(const ConvGemmArgs& args, const MaxPoolGeometry& pool, size_t begin,
                     size_t end, float* ring);

}  // namespace edgevision::engine::xnnpack_internal
