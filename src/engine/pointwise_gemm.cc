#include "engine/pointwise_gemm.h"

#include <algorithm>

#if defined(__x86_64__) && defined(__GNUC__)
// GCC 12's own avx512fintrin.h trips -Wuninitialized (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#define EV_POINTWISE_GEMM_AVX512 1
#endif

namespace edgevision::engine::xnnpack_internal {

std::vector<float> PackPointwiseGemm(const float* weights, const float* bias, size_t n,
                                     size_t k) {
  const size_t blocks = (n + kGemmTileChannels - 1) / kGemmTileChannels;
  const size_t padded = blocks * kGemmTileChannels;
  std::vector<float> packed(padded * k + padded, 0.0f);
  for (size_t o = 0; o < n; ++o) {
    const size_t block = o / kGemmTileChannels, lane = o % kGemmTileChannels;
    for (size_t i = 0; i < k; ++i) {
      packed[(block * k + i) * kGemmTileChannels + lane] = weights[o * k + i];
    }
    if (bias) packed[padded * k + o] = bias[o];
  }
  return packed;
}

#if defined(EV_POINTWISE_GEMM_AVX512)

namespace {

// MR pixels x (16 * NV) channels; the last vector's lanes past n are masked.
template <int MR, int NV>
__attribute__((target("avx512f"))) void Tile(const PointwiseGemmArgs& g, const float* a,
                                             const float* w, const float* bias, float* c,
                                             __mmask16 last_mask) {
  __m512 acc[MR][NV];
  __m512 init[NV];
  for (int v = 0; v < NV; ++v) init[v] = _mm512_loadu_ps(bias + 16 * v);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    for (int v = 0; v < NV; ++v) acc[r][v] = init[v];
  }
  for (size_t i = 0; i < g.k; ++i) {
    __m512 b[NV];
    for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(w + i * kGemmTileChannels + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512 x = _mm512_set1_ps(a[r * g.lda + i]);
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(x, b[v], acc[r][v]);
    }
  }
  const __m512 lo = _mm512_set1_ps(g.lo), hi = _mm512_set1_ps(g.hi);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    for (int v = 0; v < NV; ++v) {
      const __m512 y = _mm512_min_ps(_mm512_max_ps(acc[r][v], lo), hi);
      _mm512_mask_storeu_ps(c + r * g.ldc + 16 * v, v + 1 == NV ? last_mask : 0xFFFF, y);
    }
  }
}

template <int NV>
void Rows(const PointwiseGemmArgs& g, size_t rows, const float* a, const float* w,
          const float* bias, float* c, __mmask16 mask) {
  switch (rows) {
    case 8: Tile<8, NV>(g, a, w, bias, c, mask); break;
    case 7: Tile<7, NV>(g, a, w, bias, c, mask); break;
    case 6: Tile<6, NV>(g, a, w, bias, c, mask); break;
    case 5: Tile<5, NV>(g, a, w, bias, c, mask); break;
    case 4: Tile<4, NV>(g, a, w, bias, c, mask); break;
    case 3: Tile<3, NV>(g, a, w, bias, c, mask); break;
    case 2: Tile<2, NV>(g, a, w, bias, c, mask); break;
    case 1: Tile<1, NV>(g, a, w, bias, c, mask); break;
    default: break;
  }
}

}  // namespace

static_assert(kGemmTileRows == 8 && kGemmTileChannels == 32);

bool PointwiseGemmAvailable() {
  static const bool available = __builtin_cpu_supports("avx512f");
  return available;
}

void PointwiseGemmTile(const PointwiseGemmArgs& g, size_t row, size_t rows, size_t channel) {
  const size_t padded = (g.n + kGemmTileChannels - 1) / kGemmTileChannels * kGemmTileChannels;
  const float* w = g.packed + channel * g.k;
  const float* bias = g.packed + padded * g.k + channel;
  const float* a = g.a + row * g.lda;
  float* c = g.c + row * g.ldc + channel;
  const size_t width = std::min(kGemmTileChannels, g.n - channel);
  if (width > 16) {
    const size_t tail = width - 16;
    const auto mask = static_cast<__mmask16>(tail == 16 ? 0xFFFFu : (1u << tail) - 1);
    Rows<2>(g, rows, a, w, bias, c, mask);
  } else {  // a narrow last block: one vector
    const auto mask = static_cast<__mmask16>(width == 16 ? 0xFFFFu : (1u << width) - 1);
    Rows<1>(g, rows, a, w, bias, c, mask);
  }
}

#else  // not x86-64: never used

bool PointwiseGemmAvailable() {
  return false;
}

void PointwiseGemmTile(const PointwiseGemmArgs&, size_t, size_t, size_t) {}

#endif

}  // namespace edgevision::engine::xnnpack_internal
