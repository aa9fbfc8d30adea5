#include "engine/pointwise_gemm.h"

#include <algorithm>
#include <cstdint>

#include "engine/conv_taps.h"

#include "engine/x86_intrinsics.h"

#if defined(EV_X86_INTRINSICS)
#define EV_POINTWISE_GEMM_AVX512 1
#endif

// The header's "kernel compiled in" flag and this file's intrinsics agree.
#if defined(EV_POINTWISE_GEMM_BUILT) != defined(EV_X86_INTRINSICS)
#error "EV_POINTWISE_GEMM_BUILT (engine/pointwise_gemm.h) and EV_X86_INTRINSICS disagree"
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

// The A side of one tile: row r reads, for tap t, `k` consecutive input
// channels from rows[t * row_step + r] + offsets[t]. A tile whose windows lie
// inside the input has one base pointer per row (row_step 0) and the taps'
// offsets; a tile at the border, a pointer per tap and row (offsets 0).
struct TileRows {
  const float* const* rows = nullptr;
  size_t row_step = 0;
  const ptrdiff_t* offsets = nullptr;  // [taps]
  size_t taps = 1;
  size_t k = 0;  // input channels per tap
};

constexpr ptrdiff_t kNoOffsets[kConvGemmMaxTaps] = {};

// A tile's epilogue with GemmOutput's bounds in registers, read once per
// tile (the tile's stores could alias GemmOutput, so the compiler reloaded
// each bound for every vector).
struct Epilogue {
  __m512 lo, hi, add_lo, add_hi;
};

__attribute__((target("avx512f"), always_inline)) inline Epilogue EpilogueOf(const GemmOutput& o) {
  return {_mm512_set1_ps(o.lo), _mm512_set1_ps(o.hi), _mm512_set1_ps(o.add_lo), _mm512_set1_ps(o.add_hi)};
}

// One vector's epilogue: clamp, then the fused residual Add (`residual`,
// null without one) or HardSwish (GemmOutput).
template <bool kResidual, bool kHardSwish>
__attribute__((target("avx512f"), always_inline)) inline __m512 Finish(__m512 acc, const Epilogue& e,
                                                                      __m512 residual) {
  __m512 y = _mm512_min_ps(_mm512_max_ps(acc, e.lo), e.hi);
  if constexpr (kResidual) {
    y = _mm512_add_ps(y, residual);
    y = _mm512_min_ps(_mm512_max_ps(y, e.add_lo), e.add_hi);
  }
  if constexpr (kHardSwish) {
    __m512 h = _mm512_fmadd_ps(y, _mm512_set1_ps(1.0f / 6.0f), _mm512_set1_ps(0.5f));
    h = _mm512_min_ps(_mm512_max_ps(h, _mm512_setzero_ps()), _mm512_set1_ps(1.0f));
    y = _mm512_mul_ps(h, y);
  }
  return y;
}

__attribute__((target("avx512f"), always_inline)) inline __m512 Finish(__m512 acc, const GemmOutput& o,
                                                                      const __m512* residual) {
  const Epilogue e = EpilogueOf(o);
  if (residual) {
    return o.hardswish ? Finish<true, true>(acc, e, *residual) : Finish<true, false>(acc, e, *residual);
  }
  return o.hardswish ? Finish<false, true>(acc, e, acc) : Finish<false, false>(acc, e, acc);
}

// The epilogue of a tile (Finish), then the store; the last vector's lanes
// past n are masked.
template <int MR, int NV, bool kResidual, bool kHardSwish>
__attribute__((target("avx512f"), always_inline)) inline void StoreRows(const __m512 (&acc)[MR][NV], const Epilogue& e,
                                                                       float* c, size_t ldc, const float* res,
                                                                       size_t res_stride, __mmask16 last_mask) {
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    for (int v = 0; v < NV; ++v) {
      const __mmask16 mask = v + 1 == NV ? last_mask : 0xFFFF;
      __m512 residual = acc[r][v];
      if constexpr (kResidual) residual = _mm512_maskz_loadu_ps(mask, res + r * res_stride + 16 * v);
      _mm512_mask_storeu_ps(c + r * ldc + 16 * v, mask, Finish<kResidual, kHardSwish>(acc[r][v], e, residual));
    }
  }
}

template <int MR, int NV>
__attribute__((target("avx512f"), always_inline)) inline void Store(const __m512 (&acc)[MR][NV], const GemmOutput& o,
                                                                   float* c, const float* res, __mmask16 last_mask) {
  const Epilogue e = EpilogueOf(o);
  const size_t ldc = o.ldc, res_stride = o.residual_stride;
  if (res) {
    if (o.hardswish) {
      StoreRows<MR, NV, true, true>(acc, e, c, ldc, res, res_stride, last_mask);
    } else {
      StoreRows<MR, NV, true, false>(acc, e, c, ldc, res, res_stride, last_mask);
    }
  } else if (o.hardswish) {
    StoreRows<MR, NV, false, true>(acc, e, c, ldc, res, res_stride, last_mask);
  } else {
    StoreRows<MR, NV, false, false>(acc, e, c, ldc, res, res_stride, last_mask);
  }
}

// Every row's accumulators start at the bias (NV vectors).
template <int MR, int NV>
__attribute__((target("avx512f"), always_inline)) inline void FromBias(__m512 (&acc)[MR][NV], const float* bias) {
  __m512 init[NV];
  for (int v = 0; v < NV; ++v) init[v] = _mm512_loadu_ps(bias + 16 * v);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    for (int v = 0; v < NV; ++v) acc[r][v] = init[v];
  }
}

// MR pixels x (16 * NV) channels; the last vector's lanes past n are masked.
// Vector v's weights start at w + (v / 2) * block_stride + 16 * (v % 2):
// NV > 2 reads several packed blocks of kGemmTileChannels at once (SingleRow).
template <int MR, int NV>
__attribute__((target("avx512f"))) void Tile(const TileRows& a, const float* w, const float* bias,
                                             const GemmOutput& o, float* c, const float* res,
                                             __mmask16 last_mask, size_t block_stride = 0) {
  __m512 acc[MR][NV];
  FromBias<MR, NV>(acc, bias);
  for (size_t t = 0; t < a.taps; ++t) {
    const float* p[MR];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) p[r] = a.rows[t * a.row_step + r] + a.offsets[t];
    for (size_t i = 0; i < a.k; ++i, w += kGemmTileChannels) {
      __m512 b[NV];
      for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(w + (v / 2) * block_stride + 16 * (v % 2));
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        const __m512 x = _mm512_set1_ps(p[r][i]);
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(x, b[v], acc[r][v]);
      }
    }
  }
  Store<MR, NV>(acc, o, c, res, last_mask);
}

template <int NV>
void Rows(size_t rows, const TileRows& a, const float* w, const float* bias, const GemmOutput& o,
          float* c, const float* res, __mmask16 mask) {
  switch (rows) {
    case 8: Tile<8, NV>(a, w, bias, o, c, res, mask); break;
    case 7: Tile<7, NV>(a, w, bias, o, c, res, mask); break;
    case 6: Tile<6, NV>(a, w, bias, o, c, res, mask); break;
    case 5: Tile<5, NV>(a, w, bias, o, c, res, mask); break;
    case 4: Tile<4, NV>(a, w, bias, o, c, res, mask); break;
    case 3: Tile<3, NV>(a, w, bias, o, c, res, mask); break;
    case 2: Tile<2, NV>(a, w, bias, o, c, res, mask); break;
    case 1: Tile<1, NV>(a, w, bias, o, c, res, mask); break;
    default: break;
  }
}

// Where output channel `channel` (a multiple of kGemmTileChannels) starts:
// its packed weights and bias, its output and residual columns.
struct ChannelStart {
  const float* w;
  const float* bias;
  float* c;
  const float* res;
};
ChannelStart StartOf(const TileRows& a, size_t n, const float* packed, size_t channel, float* c,
                     const float* res) {
  const size_t padded = (n + kGemmTileChannels - 1) / kGemmTileChannels * kGemmTileChannels;
  const size_t k_total = a.taps * a.k;
  return {packed + channel * k_total, packed + padded * k_total + channel, c + channel,
          res ? res + channel : nullptr};
}

// Output channels [channel, channel + kGemmTileChannels) clipped to n of the
// tile whose first output row is `c` (and first residual row `res`, or null);
// k_total = taps * k.
void ChannelBlock(const TileRows& a, size_t rows, size_t n, const float* packed, size_t channel,
                  const GemmOutput& o, float* c_row, const float* res_row) {
  const auto [w, bias, c, res] = StartOf(a, n, packed, channel, c_row, res_row);
  const size_t width = std::min(kGemmTileChannels, n - channel);
  if (width > 16) {
    const size_t tail = width - 16;
    const auto mask = static_cast<__mmask16>(tail == 16 ? 0xFFFFu : (1u << tail) - 1);
    Rows<2>(rows, a, w, bias, o, c, res, mask);
  } else {  // a narrow last block: one vector
    const auto mask = static_cast<__mmask16>(width == 16 ? 0xFFFFu : (1u << width) - 1);
    Rows<1>(rows, a, w, bias, o, c, res, mask);
  }
}

// One input row (a squeeze-excite's 1x1 convolutions on a 1x1 tensor):
// output channels [channel, channel + kGemmRowChannels) clipped to n, with
// up to 8 vectors of accumulators in flight over 4 packed blocks (the 2 of
// ChannelBlock leave the FMAs waiting on each other). The same products in
// the same order per output.
void SingleRow(const TileRows& a, size_t n, const float* packed, size_t channel, const GemmOutput& o,
               float* c_row, const float* res_row) {
  const auto [w, bias, c, res] = StartOf(a, n, packed, channel, c_row, res_row);
  const size_t width = std::min(kGemmRowChannels, n - channel);
  const size_t vectors = (width + 15) / 16, tail = width - 16 * (vectors - 1);
  const auto mask = static_cast<__mmask16>(tail == 16 ? 0xFFFFu : (1u << tail) - 1);
  const size_t stride = kGemmTileChannels * a.taps * a.k;
  switch (vectors) {
    case 8: Tile<1, 8>(a, w, bias, o, c, res, mask, stride); break;
    case 7: Tile<1, 7>(a, w, bias, o, c, res, mask, stride); break;
    case 6: Tile<1, 6>(a, w, bias, o, c, res, mask, stride); break;
    case 5: Tile<1, 5>(a, w, bias, o, c, res, mask, stride); break;
    case 4: Tile<1, 4>(a, w, bias, o, c, res, mask, stride); break;
    case 3: Tile<1, 3>(a, w, bias, o, c, res, mask, stride); break;
    case 2: Tile<1, 2>(a, w, bias, o, c, res, mask, stride); break;
    case 1: Tile<1, 1>(a, w, bias, o, c, res, mask, stride); break;
    default: break;
  }
}

// MR pixels of one output row whose windows lie inside the input: pixel r's
// tap t reads k floats from base + r * step + offsets[t]. Tile's arithmetic
// without its pointer table, as DirectTile for a 1x1 (standalone: food's
// conv1 246 -> 227 us, MobileNetV2's stem 143 -> 137 us).
template <int MR, int NV>
__attribute__((target("avx512f"), always_inline)) inline void RowWindowTile(
    const float* base, size_t step, const ptrdiff_t* offsets, size_t taps, size_t k, const float* w,
    const float* bias, const GemmOutput& o, float* c, const float* res, __mmask16 last_mask) {
  __m512 acc[MR][NV];
  FromBias<MR, NV>(acc, bias);
  for (size_t t = 0; t < taps; ++t) {
    const float* p = base + offsets[t];
    for (size_t i = 0; i < k; ++i, w += kGemmTileChannels) {
      __m512 b[NV];
      for (int v = 0; v < NV; ++v) b[v] = _mm512_loadu_ps(w + 16 * v);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        const __m512 x = _mm512_set1_ps(p[r * step + i]);
        for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(x, b[v], acc[r][v]);
      }
    }
  }
  Store<MR, NV>(acc, o, c, res, last_mask);
}

// MR rows x (16 * NV) channels of a 1x1 convolution, row r reading k floats
// from a + r * lda: one tap of RowWindowTile, Tile's arithmetic (the bias,
// then one FMA per input channel in order, then Store) without the taps'
// pointer tables. Inlined into DirectTiles' loop, a tile costs its FMAs:
// Tile called per tile of 16 input channels ran at 65 % of the FMA peak on
// data in L1, this at 78 %.
template <int MR, int NV>
__attribute__((target("avx512f"), always_inline)) inline void DirectTile(const float* a, size_t lda, size_t k,
                                                                        const float* w, const float* bias,
                                                                        const GemmOutput& o, float* c,
                                                                        const float* res, __mmask16 last_mask) {
  constexpr ptrdiff_t kOneTap[1] = {0};
  RowWindowTile<MR, NV>(a, lda, kOneTap, 1, k, w, bias, o, c, res, last_mask);
}

// The last two blocks of MR rows when the last one is a single vector of
// more than 8 lanes (16 * 2 + t wide, 8 < t <= 16: MobileNetV2's 144-channel
// expansions, MobileNetV3's 240 and 144): three vectors per row, the third's
// weights from the next block (w_last), instead of a one-vector tile whose
// 8 accumulators leave the FMAs waiting on their latency. Each output: the
// same products in the same order.
template <int MR>
__attribute__((target("avx512f"), always_inline)) inline void TripleTile(const float* a, size_t lda, size_t k,
                                                                        const float* w, const float* w_last,
                                                                        const float* bias, const GemmOutput& o,
                                                                        float* c, const float* res, __mmask16 last_mask) {
  __m512 acc[MR][3];
  FromBias<MR, 3>(acc, bias);  // the two blocks' biases are contiguous
  for (size_t i = 0; i < k; ++i, w += kGemmTileChannels, w_last += kGemmTileChannels) {
    const __m512 b[3] = {_mm512_loadu_ps(w), _mm512_loadu_ps(w + 16), _mm512_loadu_ps(w_last)};
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512 x = _mm512_set1_ps(a[r * lda + i]);
      for (int v = 0; v < 3; ++v) acc[r][v] = _mm512_fmadd_ps(x, b[v], acc[r][v]);
    }
  }
  Store<MR, 3>(acc, o, c, res, last_mask);
}

// The last block of MR rows when its last vector has t <= 8 lanes (the
// block is 16 * F + t wide: MobileNetV2's 24-channel projections): rows 2p
// and 2p + 1 share one accumulator for it, row 2p in lanes 0-7 and row
// 2p + 1 in lanes 8-15 (the t weights in both halves, the two broadcasts
// blended; a blend runs beside the FMAs, not on their ports). 24 channels
// then cost 1.5 FMAs per row and input channel, not 2. An odd last row
// keeps its own vector. Each output: the same products in the same order.
// p[0..7] in both halves of a vector.
__attribute__((target("avx512f"), always_inline)) inline __m512 BothHalves(const float* p) {
  return _mm512_castpd_ps(_mm512_broadcast_f64x4(_mm256_loadu_pd(reinterpret_cast<const double*>(p))));
}

template <int MR, int F>
__attribute__((target("avx512f"), always_inline)) inline void PairedTile(const float* a, size_t lda, size_t k,
                                                                        const float* w, const float* bias,
                                                                        const GemmOutput& o, float* c,
                                                                        const float* res, size_t t) {
  constexpr int kPairs = MR / 2, kOdd = MR % 2;
  constexpr int kFull = F > 0 ? F : 1;  // array sizes; rows of F vectors
  constexpr int kShared = kPairs + kOdd > 0 ? kPairs + kOdd : 1;
  __m512 full[MR][kFull];
  __m512 shared[kShared];  // the pairs, then the odd row
  const __m512 bias_full = _mm512_loadu_ps(bias), bias_tail = BothHalves(bias + 16 * F);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    for (int v = 0; v < F; ++v) full[r][v] = bias_full;
  }
  for (int s = 0; s < kPairs + kOdd; ++s) shared[s] = bias_tail;
  for (size_t i = 0; i < k; ++i, w += kGemmTileChannels) {
    const __m512 wf = _mm512_loadu_ps(w), wt = BothHalves(w + 16 * F);
    __m512 x[MR];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      x[r] = _mm512_set1_ps(a[r * lda + i]);
      for (int v = 0; v < F; ++v) full[r][v] = _mm512_fmadd_ps(x[r], wf, full[r][v]);
    }
#pragma GCC unroll 16
    for (int p = 0; p < kPairs; ++p) {
      shared[p] = _mm512_fmadd_ps(_mm512_mask_mov_ps(x[2 * p], 0xFF00, x[2 * p + 1]), wt, shared[p]);
    }
    if (kOdd) shared[kPairs] = _mm512_fmadd_ps(x[MR - 1], wt, shared[kPairs]);
  }
  if constexpr (F > 0) Store<MR, F>(full, o, c, res, 0xFFFF);
  const auto low = static_cast<__mmask16>((1u << t) - 1), high = static_cast<__mmask16>(low << 8);
  const size_t tail = 16 * F;  // the shared vectors' first channel
#pragma GCC unroll 16
  for (int p = 0; p < kPairs + kOdd; ++p) {
    float* c0 = c + 2 * p * o.ldc + tail;
    const bool odd = p == kPairs;
    __m512 residual;
    if (res) {
      const float* r0 = res + 2 * p * o.residual_stride + tail;
      residual = _mm512_maskz_loadu_ps(low, r0);
      if (!odd) residual = _mm512_mask_loadu_ps(residual, high, r0 + o.residual_stride - 8);
    }
    const __m512 y = Finish(shared[p], o, res ? &residual : nullptr);
    _mm512_mask_storeu_ps(c0, low, y);
    if (!odd) _mm512_mask_storeu_ps(c0 + o.ldc - 8, high, y);
  }
}

// Weights outer, the 7x7 and 14x14 layers' weights (0.1-1.6 MB a layer,
// 14 MB in MobileNetV2) come from L3 at every inference, and the first tile
// of each weight block waited on them: each tile of a block fetches its
// share of the next block's lines ahead (with weights in L3, standalone:
// 49 x 160 -> 960 72-75 -> 63-65 us, 196 x 64 -> 384 44 -> 38 us, 196 x 96
// -> 576 95-110 -> 84-92 us; in L2 they ran at 57, 37, 82). This CPU's
// prefetches fill L1 whatever the hint, so only blocks of up to this many
// bytes (k <= 256) are fetched ahead: the current block and the next then
// fit L1 together (49 x 960 -> 320, 123 KB blocks: 5 % slower with it, also
// when only its first 32 KB were fetched).
constexpr size_t kPrefetchMaxBlockBytes = 32 * 1024;

// Part `part` of `parts` of [p, p + bytes), a cache line at a time.
inline void PrefetchShare(const char* p, size_t bytes, size_t part, size_t parts) {
  constexpr size_t kLine = 64;
  const size_t lines = (bytes + kLine - 1) / kLine;
  const size_t end = (part + 1) * lines / parts;
  for (size_t l = part * lines / parts; l < end; ++l) __builtin_prefetch(p + l * kLine, 0, 2);
}

// `tiles` consecutive tiles of MR rows, the first output row `row` (its
// input at `a`, rows lda floats apart), every output channel: pixels outer
// (each tile meets every block of weights while it is in L1) or weight
// blocks outer (each block stays in L1 while the rows stream past).
template <int MR>
__attribute__((target("avx512f"), noinline)) void DirectTiles(const PointwiseGemmArgs& g, const float* a,
                                                             size_t lda, size_t row, size_t tiles,
                                                             bool pixels_outer) {
  const size_t blocks = (g.n + kGemmTileChannels - 1) / kGemmTileChannels;
  const float* bias = g.packed + blocks * kGemmTileChannels * g.k;
  const size_t tail = g.n - (blocks - 1) * kGemmTileChannels;  // the last block's width, 1..32
  const auto tail_mask = static_cast<__mmask16>(tail % 16 == 0 ? 0xFFFFu : (1u << (tail % 16)) - 1);
  // A last vector of <= 8 lanes shared by two rows (PairedTile), when the
  // second row's lanes start inside the row (16 * F + channel >= 8).
  const bool paired = MR > 1 && tail % 16 != 0 && tail % 16 <= 8 && (tail > 16 || blocks > 1);
  // A narrow last block (8 < tail <= 16 lanes) after a full one: both in
  // TripleTile, at the full block's turn.
  const bool triple = !paired && tail <= 16 && blocks > 1;
  const size_t outer = pixels_outer ? tiles : blocks, inner = pixels_outer ? blocks : tiles;
  // Weights outer: each tile of a block also fetches its share of the next
  // block's weights (kPrefetchMaxBlockBytes).
  const size_t block_bytes = kGemmTileChannels * g.k * sizeof(float);
  for (size_t x = 0; x < outer; ++x) {
    for (size_t y = 0; y < inner; ++y) {
      if (!pixels_outer && x + 1 < blocks && block_bytes <= kPrefetchMaxBlockBytes) {
        PrefetchShare(reinterpret_cast<const char*>(g.packed + (x + 1) * kGemmTileChannels * g.k), block_bytes,
                      y, tiles);
      }
      const size_t t = pixels_outer ? x : y, block = pixels_outer ? y : x;
      const size_t r = row + t * MR, channel = block * kGemmTileChannels;
      const float* in = a + t * MR * lda;
      const float* w = g.packed + channel * g.k;
      float* c = g.out.c + r * g.out.ldc + channel;
      const float* res = g.out.residual ? g.out.residual + r * g.out.residual_stride + channel : nullptr;
      if (triple && block + 2 >= blocks) {
        if (block + 2 == blocks) {
          TripleTile<MR>(in, lda, g.k, w, w + kGemmTileChannels * g.k, bias + channel, g.out, c, res, tail_mask);
        }
      } else if (paired && block + 1 == blocks) {
        if (tail > 16) {
          PairedTile<MR, 1>(in, lda, g.k, w, bias + channel, g.out, c, res, tail - 16);
        } else {
          PairedTile<MR, 0>(in, lda, g.k, w, bias + channel, g.out, c, res, tail);
        }
      } else if (block + 1 < blocks || tail > 16) {
        DirectTile<MR, 2>(in, lda, g.k, w, bias + channel, g.out, c, res, block + 1 < blocks ? 0xFFFF : tail_mask);
      } else {  // a narrow last block: one vector
        DirectTile<MR, 1>(in, lda, g.k, w, bias + channel, g.out, c, res, tail_mask);
      }
    }
  }
}

void DirectRows(const PointwiseGemmArgs& g, const float* a, size_t lda, size_t row, size_t rows, size_t tiles,
                bool pixels_outer) {
  switch (rows) {
    case 8: DirectTiles<8>(g, a, lda, row, tiles, pixels_outer); break;
    case 7: DirectTiles<7>(g, a, lda, row, tiles, pixels_outer); break;
    case 6: DirectTiles<6>(g, a, lda, row, tiles, pixels_outer); break;
    case 5: DirectTiles<5>(g, a, lda, row, tiles, pixels_outer); break;
    case 4: DirectTiles<4>(g, a, lda, row, tiles, pixels_outer); break;
    case 3: DirectTiles<3>(g, a, lda, row, tiles, pixels_outer); break;
    case 2: DirectTiles<2>(g, a, lda, row, tiles, pixels_outer); break;
    case 1: DirectTiles<1>(g, a, lda, row, tiles, pixels_outer); break;
    default: break;
  }
}

// `tiles` consecutive tiles of MR rows (MR up to kGemmNarrowTileRows) of a
// 1x1 with at most 16 output channels (one vector per row): DirectTile's
// arithmetic with MR independent accumulators. Eight one-vector rows leave
// the two FMA pipes waiting on their latency (MobileNetV2's 112x112 32 -> 16
// projection ran at 59 % of peak).
template <int MR>
__attribute__((target("avx512f"), noinline)) void NarrowTiles(const PointwiseGemmArgs& g, const float* a,
                                                             size_t lda, size_t row, size_t tiles) {
  const float* bias = g.packed + kGemmTileChannels * g.k;
  const auto mask = static_cast<__mmask16>(g.n == 16 ? 0xFFFFu : (1u << g.n) - 1);
  for (size_t t = 0; t < tiles; ++t) {
    const size_t r = row + t * MR;
    const float* res = g.out.residual ? g.out.residual + r * g.out.residual_stride : nullptr;
    DirectTile<MR, 1>(a + t * MR * lda, lda, g.k, g.packed, bias, g.out, g.out.c + r * g.out.ldc, res, mask);
  }
}

void NarrowRows(const PointwiseGemmArgs& g, const float* a, size_t lda, size_t row, size_t rows, size_t tiles) {
  switch (rows) {
    case 16: NarrowTiles<16>(g, a, lda, row, tiles); break;
    case 15: NarrowTiles<15>(g, a, lda, row, tiles); break;
    case 14: NarrowTiles<14>(g, a, lda, row, tiles); break;
    case 13: NarrowTiles<13>(g, a, lda, row, tiles); break;
    case 12: NarrowTiles<12>(g, a, lda, row, tiles); break;
    case 11: NarrowTiles<11>(g, a, lda, row, tiles); break;
    case 10: NarrowTiles<10>(g, a, lda, row, tiles); break;
    case 9: NarrowTiles<9>(g, a, lda, row, tiles); break;
    default: DirectRows(g, a, lda, row, rows, tiles, /*pixels_outer=*/true); break;
  }
}

}  // namespace

void PointwiseGemmRows(const PointwiseGemmArgs& g, bool pixels_outer, size_t begin, size_t end) {
  if (end <= begin) return;
  if (end - begin == 1 && !g.a_scale) {  // one row: more weight blocks at a time
    PointwiseGemmRow(g, begin, 0, g.n);
    return;
  }
  // Tiles of nearly equal height (49 rows: 7 x 7, not 6 x 8 + 1, whose
  // one-row tile waits on its FMAs' latency): the first `wide` ones are one
  // row taller.
  const bool narrow = g.n <= 16 && !g.a_scale;  // one vector per row: taller tiles
  const size_t max_rows = narrow ? kGemmNarrowTileRows : kGemmTileRows;
  const size_t total = end - begin, tiles = (total + max_rows - 1) / max_rows;
  const size_t height = total / tiles, wide = total % tiles;
  const size_t rest = begin + wide * (height + 1);
  if (narrow) {
    if (wide > 0) NarrowRows(g, g.a + begin * g.lda, g.lda, begin, height + 1, wide);
    NarrowRows(g, g.a + rest * g.lda, g.lda, rest, height, tiles - wide);
    return;
  }
  if (g.a_scale) {  // each tile scaled once, then every weight block
    for (size_t r = begin; r < end; r += r < rest ? height + 1 : height) {
      PointwiseGemmScaledTile(g, r, r < rest ? height + 1 : height);
    }
    return;
  }
  if (wide > 0) DirectRows(g, g.a + begin * g.lda, g.lda, begin, height + 1, wide, pixels_outer);
  DirectRows(g, g.a + rest * g.lda, g.lda, rest, height, tiles - wide, pixels_outer);
}

static_assert(kGemmTileRows == 8 && kGemmTileChannels == 32);
static_assert(kGemmRowChannels == 4 * kGemmTileChannels);

void PointwiseGemmRow(const PointwiseGemmArgs& g, size_t row, size_t channel_begin, size_t channel_end) {
  const float* pointers[1] = {g.a + row * g.lda};
  const TileRows a{pointers, 0, kNoOffsets, 1, g.k};
  float* c = g.out.c + row * g.out.ldc;
  const float* res = g.out.residual ? g.out.residual + row * g.out.residual_stride : nullptr;
  for (size_t channel = channel_begin; channel < std::min(channel_end, g.n); channel += kGemmRowChannels) {
    SingleRow(a, g.n, g.packed, channel, g.out, c, res);
  }
}

bool PointwiseGemmAvailable() {
  static const bool available = __builtin_cpu_supports("avx512f");
  return available;
}

void PointwiseGemmTile(const PointwiseGemmArgs& g, size_t row, size_t rows, size_t channel) {
  const float* pointers[kGemmTileRows];
  for (size_t r = 0; r < rows; ++r) pointers[r] = g.a + (row + r) * g.lda;
  const TileRows a{pointers, 0, kNoOffsets, 1, g.k};
  ChannelBlock(a, rows, g.n, g.packed, channel, g.out, g.out.c + row * g.out.ldc,
               g.out.residual ? g.out.residual + row * g.out.residual_stride : nullptr);
}

namespace {

// scaled[r][i] = a[r][i] * scale[i], k channels of `rows` rows.
__attribute__((target("avx512f"))) void ScaleRows(const float* a, size_t lda, size_t rows, size_t k,
                                                  const float* scale, float* scaled) {
  for (size_t r = 0; r < rows; ++r) {
    for (size_t i = 0; i < k; i += 16) {
      const auto mask = static_cast<__mmask16>(k - i >= 16 ? 0xFFFFu : (1u << (k - i)) - 1);
      const __m512 x = _mm512_maskz_loadu_ps(mask, a + r * lda + i);
      _mm512_mask_storeu_ps(scaled + r * k + i, mask,
                            _mm512_mul_ps(x, _mm512_maskz_loadu_ps(mask, scale + i)));
    }
  }
}

}  // namespace

void PointwiseGemmScaledTile(const PointwiseGemmArgs& g, size_t row, size_t rows) {
  alignas(64) float scaled[kGemmTileRows * kGemmMaxScaledK];
  ScaleRows(g.a + row * g.lda, g.lda, rows, g.k, g.a_scale, scaled);
  DirectRows(g, scaled, g.k, row, rows, 1, /*pixels_outer=*/true);
}

namespace {

// Every output channel of `tiles` such tiles side by side in one output row
// (tile t's first window at base + t * MR * step), the tiles and blocks in
// one loop.
template <int MR>
__attribute__((target("avx512f"), noinline)) void RowWindowBlocks(
    const float* base, size_t step, const ptrdiff_t* offsets, size_t taps, size_t k, size_t n,
    const float* packed, const GemmOutput& o, float* c_first, const float* res_first, size_t tiles) {
  const size_t blocks = (n + kGemmTileChannels - 1) / kGemmTileChannels, k_total = taps * k;
  const float* bias = packed + blocks * kGemmTileChannels * k_total;
  for (size_t tile = 0; tile < tiles; ++tile, base += MR * step) {
    float* c_row = c_first + tile * MR * o.ldc;
    const float* res_row = res_first ? res_first + tile * MR * o.residual_stride : nullptr;
    for (size_t block = 0; block < blocks; ++block) {
    const size_t channel = block * kGemmTileChannels, width = std::min(kGemmTileChannels, n - channel);
    const size_t tail = width > 16 ? width - 16 : width;
    const auto mask = static_cast<__mmask16>(tail == 16 ? 0xFFFFu : (1u << tail) - 1);
    const float* res = res_row ? res_row + channel : nullptr;
    const float* w = packed + channel * k_total;
      if (width > 16) {
        RowWindowTile<MR, 2>(base, step, offsets, taps, k, w, bias + channel, o, c_row + channel, res, mask);
      } else {
        RowWindowTile<MR, 1>(base, step, offsets, taps, k, w, bias + channel, o, c_row + channel, res, mask);
      }
    }
  }
}

void RowWindows(size_t rows, const float* base, size_t step, const ptrdiff_t* offsets, size_t taps, size_t k,
                size_t n, const float* packed, const GemmOutput& o, float* c, const float* res, size_t tiles = 1) {
  switch (rows) {
    case 8: RowWindowBlocks<8>(base, step, offsets, taps, k, n, packed, o, c, res, tiles); break;
    case 7: RowWindowBlocks<7>(base, step, offsets, taps, k, n, packed, o, c, res, tiles); break;
    case 6: RowWindowBlocks<6>(base, step, offsets, taps, k, n, packed, o, c, res, tiles); break;
    case 5: RowWindowBlocks<5>(base, step, offsets, taps, k, n, packed, o, c, res, tiles); break;
    case 4: RowWindowBlocks<4>(base, step, offsets, taps, k, n, packed, o, c, res, tiles); break;
    case 3: RowWindowBlocks<3>(base, step, offsets, taps, k, n, packed, o, c, res, tiles); break;
    case 2: RowWindowBlocks<2>(base, step, offsets, taps, k, n, packed, o, c, res, tiles); break;
    case 1: RowWindowBlocks<1>(base, step, offsets, taps, k, n, packed, o, c, res, tiles); break;
    default: break;
  }
}

// The taps of a window inside the input as offsets from its top-left pixel;
// returns their count. Dense input without horizontal dilation: a kernel
// row's pixels are contiguous, one tap of kernel_w * in_channels floats
// (*tap_k; the first layer: 3 taps of 9 instead of 9 of 3). The same
// products in the same order.
size_t InteriorOffsets(const ConvGemmArgs& g, ptrdiff_t* offsets, size_t* tap_k) {
  const bool row_taps = g.in_stride == g.in_channels && g.dilation_w == 1;
  const size_t columns = row_taps ? 1 : g.kernel_w;
  for (size_t kh = 0; kh < g.kernel_h; ++kh) {
    for (size_t kw = 0; kw < columns; ++kw) {
      offsets[kh * columns + kw] =
          static_cast<ptrdiff_t>((kh * g.dilation_h * g.in_w + kw * g.dilation_w) * g.in_stride);
    }
  }
  *tap_k = row_taps ? g.kernel_w * g.in_channels : g.in_channels;
  return g.kernel_h * columns;
}

}  // namespace

void ConvGemmTile(const ConvGemmArgs& g, size_t pixel, size_t rows, float* c) {
  const float* res = g.out.residual ? g.out.residual + pixel * g.out.residual_stride : nullptr;
  const float* pointers[kConvGemmMaxTaps * kGemmTileRows];
  ptrdiff_t offsets[kConvGemmMaxTaps];
  const size_t taps = g.kernel_h * g.kernel_w;
  if (InteriorWindows(g, pixel, rows, pointers)) {
    size_t tap_k = 0;
    const size_t tap_count = InteriorOffsets(g, offsets, &tap_k);
    if (pixel % g.out_w + rows <= g.out_w) {  // one output row: windows a fixed step apart
      RowWindows(rows, pointers[0], g.stride_w * g.in_stride, offsets, tap_count, tap_k, g.out_channels,
                 g.packed, g.out, c, res);
      return;
    }
    const TileRows a{pointers, 0, offsets, tap_count, tap_k};
    for (size_t channel = 0; channel < g.out_channels; channel += kGemmTileChannels) {
      ChannelBlock(a, rows, g.out_channels, g.packed, channel, g.out, c, res);
    }
    return;
  }
  WindowTaps(g, pixel, rows, g.zeros, kGemmTileRows, pointers);
  const TileRows a{pointers, kGemmTileRows, kNoOffsets, taps, g.in_channels};
  for (size_t channel = 0; channel < g.out_channels; channel += kGemmTileChannels) {
    ChannelBlock(a, rows, g.out_channels, g.packed, channel, g.out, c, res);
  }
}

void ConvGemmRow(const ConvGemmArgs& g, size_t oy, float* c) {
  const size_t first = oy * g.out_w;
  const auto iy = static_cast<ptrdiff_t>(oy * g.stride_h) - static_cast<ptrdiff_t>(g.pad_top);
  const auto span_h = static_cast<ptrdiff_t>((g.kernel_h - 1) * g.dilation_h);
  const auto span_w = static_cast<ptrdiff_t>((g.kernel_w - 1) * g.dilation_w);
  // Output columns [x0, x1) read no padding column.
  const size_t x0 = std::min(g.out_w, (g.pad_left + g.stride_w - 1) / g.stride_w);
  const ptrdiff_t last_start = static_cast<ptrdiff_t>(g.in_w) - 1 - span_w + static_cast<ptrdiff_t>(g.pad_left);
  const size_t x1 = std::max(
      x0, last_start < 0 ? 0 : std::min(g.out_w, static_cast<size_t>(last_start) / g.stride_w + 1));
  auto by_tiles = [&](size_t begin, size_t end) {  // through ConvGemmTile's windows
    for (size_t x = begin; x < end; x += kGemmTileRows) {
      ConvGemmTile(g, first + x, std::min(kGemmTileRows, end - x), c + x * g.out.ldc);
    }
  };
  if (iy < 0 || iy + span_h >= static_cast<ptrdiff_t>(g.in_h) || x1 - x0 < kGemmTileRows) {
    by_tiles(0, g.out_w);
    return;
  }
  by_tiles(0, x0);
  ptrdiff_t offsets[kConvGemmMaxTaps];
  size_t tap_k = 0;
  const size_t taps = InteriorOffsets(g, offsets, &tap_k);
  const float* base = g.x + (static_cast<size_t>(iy) * g.in_w + x0 * g.stride_w - g.pad_left) * g.in_stride;
  const size_t step = g.stride_w * g.in_stride;
  const float* res = g.out.residual ? g.out.residual + (first + x0) * g.out.residual_stride : nullptr;
  // Tiles of nearly equal width, the first `wide` one pixel wider (113
  // pixels: 8 x 8 + 7 x 7, not 14 x 8 + 1, whose one-pixel tile waits on its
  // FMAs' latency).
  const size_t pixels = x1 - x0, tiles = (pixels + kGemmTileRows - 1) / kGemmTileRows;
  const size_t narrow = pixels / tiles, wide = pixels % tiles;
  float* out = c + x0 * g.out.ldc;
  if (wide > 0) {
    RowWindows(narrow + 1, base, step, offsets, taps, tap_k, g.out_channels, g.packed, g.out, out, res, wide);
  }
  const size_t done = wide * (narrow + 1);
  RowWindows(narrow, base + done * step, step, offsets, taps, tap_k, g.out_channels, g.packed, g.out,
             out + done * g.out.ldc, res ? res + done * g.out.residual_stride : nullptr, tiles - wide);
  by_tiles(x1, g.out_w);
}

namespace {

void RingTile(const void* context, size_t pixel, size_t rows, float* y) {
  ConvGemmTile(*static_cast<const ConvGemmArgs*>(context), pixel, rows, y);
}

void RingRow(const void* context, size_t oy, float* y) {
  ConvGemmRow(*static_cast<const ConvGemmArgs*>(context), oy, y);
}

}  // namespace

void ConvGemmMaxPool(const ConvGemmArgs& g, const MaxPoolGeometry& pool, size_t begin,
                     size_t end, float* ring) {
  const RingConvolution conv{g.out_h, g.out_w, g.out_channels, kGemmTileRows, RingTile, &g, RingRow};
  MaxPoolFromRing(conv, pool, begin, end, ring, /*peak=*/false);
}

#else  // not x86-64: never used

bool PointwiseGemmAvailable() {
  return false;
}

void PointwiseGemmRows(const PointwiseGemmArgs&, bool, size_t, size_t) {}
void PointwiseGemmTile(const PointwiseGemmArgs&, size_t, size_t, size_t) {}
void PointwiseGemmScaledTile(const PointwiseGemmArgs&, size_t, size_t) {}
void PointwiseGemmRow(const PointwiseGemmArgs&, size_t, size_t, size_t) {}
void ConvGemmTile(const ConvGemmArgs&, size_t, size_t, float*) {}
void ConvGemmRow(const ConvGemmArgs&, size_t, float*) {}
void ConvGemmMaxPool(const ConvGemmArgs&, const MaxPoolGeometry&, size_t, size_t, float*) {}

#endif

}  // namespace edgevision::engine::xnnpack_internal
