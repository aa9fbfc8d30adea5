// Internal to the XNNPACK backend: 1x1 convolutions (a GEMM over the pixels)
// with our own AVX-512 kernel on x86-64 CPUs that have AVX-512F.
//
// Debian 12's XNNPACK (2022) computes them with a 7x16 micro-kernel: one
// weight vector and 7 broadcast pixel values per step, so it waits on loads
// (~145-160 GFLOP/s on the bench machine). This kernel computes 8 pixels x 32
// output channels per step (16 accumulators, 2 weight vectors, 8 broadcasts):
// 1.15-1.28x faster on MobileNet-sized 1x1 layers. Each output is the bias
// plus the products summed in input-channel order with one FMA each, the
// order XNNPACK's kernel uses: the results are bit-identical to it.
//
// Weights are packed once per model: [ceil(N / 32)][K][32] (zero padded),
// then the bias padded to a multiple of 32.
//
// Thread-safety: PointwiseGemmTile is pure; disjoint tiles may run on
// different threads.
#pragma once

#include <cstddef>
#include <vector>

namespace edgevision::engine::xnnpack_internal {

inline constexpr size_t kGemmTileRows = 8;       // pixels per tile
inline constexpr size_t kGemmTileChannels = 32;  // output channels per tile

// True if this build and CPU run the kernel (x86-64 with AVX-512F).
bool PointwiseGemmAvailable();

// weights: [N][K] (the engine's OHWI 1x1 kernel); bias: N values or null.
std::vector<float> PackPointwiseGemm(const float* weights, const float* bias, size_t n, size_t k);

struct PointwiseGemmArgs {
  size_t m = 0, k = 0, n = 0;       // pixels, input channels, output channels
  const float* a = nullptr;         // input: m rows of lda floats
  size_t lda = 0;
  const float* packed = nullptr;    // PackPointwiseGemm
  float* c = nullptr;               // output: m rows of ldc floats
  size_t ldc = 0;
  float lo = 0, hi = 0;             // clamp
};

// Rows [row, row + rows) (rows <= kGemmTileRows) and output channels
// [channel, channel + kGemmTileChannels) clipped to n; `channel` is a
// multiple of kGemmTileChannels.
void PointwiseGemmTile(const PointwiseGemmArgs& args, size_t row, size_t rows, size_t channel);

}  // namespace edgevision::engine::xnnpack_internal
