#include "engine/depthwise_conv.h"

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "engine/x86_intrinsics.h"

#if defined(EV_X86_INTRINSICS)
#define EV_DEPTHWISE_AVX512 1
#endif

namespace edgevision::engine::xnnpack_internal {

namespace {

constexpr size_t kMaxTaps = 25;

// Tap t of the kernel in XNNPACK's order: column outer, row inner.
size_t TapRow(size_t t, size_t kernel_h) { return t % kernel_h; }
size_t TapColumn(size_t t, size_t kernel_h) { return t / kernel_h; }

}  // namespace

std::vector<float> PackDepthwise(const float* weights, const float* bias, size_t channels,
                                 size_t kernel_h, size_t kernel_w) {
  const size_t taps = kernel_h * kernel_w;
  const size_t block_floats = (1 + taps) * kDepthwiseTileChannels;
  const size_t blocks = (channels + kDepthwiseTileChannels - 1) / kDepthwiseTileChannels;
  std::vector<float> packed(blocks * block_floats, 0.0f);
  for (size_t c = 0; c < channels; ++c) {
    float* block = packed.data() + (c / kDepthwiseTileChannels) * block_floats;
    const size_t lane = c % kDepthwiseTileChannels;
    if (bias) block[lane] = bias[c];
    for (size_t t = 0; t < taps; ++t) {
      block[(1 + t) * kDepthwiseTileChannels + lane] =
          weights[(c * kernel_h + TapRow(t, kernel_h)) * kernel_w + TapColumn(t, kernel_h)];
    }
  }
  return packed;
}

#if defined(EV_DEPTHWISE_AVX512)

namespace {

// The epilogue of MR accumulators: clamp, the fused HardSwish, masked store.
template <int MR, bool kHardSwish>
__attribute__((target("avx512f"), always_inline)) inline void Store(__m512 (&acc)[MR],
                                                                     const DepthwiseArgs& g,
                                                                     __mmask16 mask, float* y) {
  const __m512 lo = _mm512_set1_ps(g.lo), hi = _mm512_set1_ps(g.hi);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    __m512 v = _mm512_min_ps(_mm512_max_ps(acc[r], lo), hi);
    if constexpr (kHardSwish) {
      __m512 h = _mm512_fmadd_ps(v, _mm512_set1_ps(1.0f / 6.0f), _mm512_set1_ps(0.5f));
      h = _mm512_min_ps(_mm512_max_ps(h, _mm512_setzero_ps()), _mm512_set1_ps(1.0f));
      v = _mm512_mul_ps(h, v);
    }
    _mm512_mask_storeu_ps(y + r * g.out_stride, mask, v);
  }
}

template <int MR>
__attribute__((target("avx512f"), always_inline)) inline void Store(__m512 (&acc)[MR],
                                                                     const DepthwiseArgs& g,
                                                                     __mmask16 mask, float* y) {
  if (g.hardswish) {
    Store<MR, true>(acc, g, mask, y);
  } else {
    Store<MR, false>(acc, g, mask, y);
  }
}

__mmask16 ChannelMask(size_t left) {
  return static_cast<__mmask16>(left >= 16 ? 0xFFFFu : (1u << left) - 1);
}

// A masked load costs an ALU uop on the FMA ports (Skylake-SP): only the
// last, partial block of channels loads masked.
template <bool kMasked>
__attribute__((target("avx512f"), always_inline)) inline __m512 Load(__mmask16 mask, const float* p) {
  if constexpr (kMasked) return _mm512_maskz_loadu_ps(mask, p);
  return _mm512_loadu_ps(p);
}

// One block of 16 channels (the last one masked) of MR output pixels:
// pixel r reads tap t at at(t, r) + c.
template <int MR, bool kMasked, typename At>
__attribute__((target("avx512f"), always_inline)) inline void Block(const At& at, size_t taps,
                                                                     const float* w, size_t c,
                                                                     __mmask16 mask,
                                                                     const DepthwiseArgs& g, float* y) {
  __m512 acc[MR];
  const __m512 bias = _mm512_loadu_ps(w);
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc[r] = bias;
  for (size_t t = 0; t < taps; ++t) {
    const __m512 k = _mm512_loadu_ps(w + (1 + t) * kDepthwiseTileChannels);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) acc[r] = _mm512_fmadd_ps(Load<kMasked>(mask, at(t, r) + c), k, acc[r]);
  }
  Store<MR>(acc, g, mask, y + c);
}

// Every channel of MR output pixels (out_stride floats apart from y on).
template <int MR, typename At>
__attribute__((target("avx512f"), always_inline)) inline void Blocks(const At& at, size_t taps,
                                                                      const DepthwiseArgs& g, float* y) {
  const float* w = g.packed;
  const size_t step = (1 + taps) * kDepthwiseTileChannels;
  size_t c = 0;
  for (; c + kDepthwiseTileChannels <= g.channels; c += kDepthwiseTileChannels, w += step) {
    Block<MR, false>(at, taps, w, c, 0xFFFF, g, y);
  }
  if (c < g.channels) Block<MR, true>(at, taps, w, c, ChannelMask(g.channels - c), g, y);
}

// MR output pixels whose windows lie inside the input: pixel r reads tap t
// at bases[r] + offsets[t].
template <int MR>
__attribute__((target("avx512f"))) void Interior(const float* const* bases, const ptrdiff_t* offsets,
                                                 size_t taps, const DepthwiseArgs& g, float* y) {
  const float* base[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) base[r] = bases[r];
  Blocks<MR>([&](size_t t, int r) { return base[r] + offsets[t]; }, taps, g, y);
}

// MR output pixels at the border: pixel r reads tap t at pointers[t * 8 + r]
// (the zeros where the tap is in the padding).
template <int MR>
__attribute__((target("avx512f"))) void Border(const float* const* pointers, size_t taps,
                                               const DepthwiseArgs& g, float* y) {
  Blocks<MR>([&](size_t t, int r) { return pointers[t * kDepthwiseTilePixels + r]; }, taps, g, y);
}

// The column schedule of a KxK window (K 3 or 5; dilation_w 1, stride_w
// SW of 1 or 2) for MR output pixels of a row: output pixel p reads input
// columns p * SW + kc (kc < K), so each input column's K vectors (one per
// kernel row) are loaded once and used by every pixel that reads them
// (K / SW of them), instead of once per tap and pixel. Each accumulator
// still receives its taps in XNNPACK's order (kernel column outer, row
// inner): the columns are visited in increasing order.
//
// Where a tile's column J, kernel row r is read (floats, before the channel
// offset c): inside the input, `Strip`; at the border, `Table` (the zeros in
// the padding).
constexpr int kColumnsMaxKernel = 5;
struct Strip {
  const float* x;                    // column 0, kernel row 0
  ptrdiff_t rows[kColumnsMaxKernel];  // kernel row r from kernel row 0
  size_t column_step;                // floats between input columns
  const float* At(int j, int r) const {
    return x + static_cast<size_t>(j) * column_step + rows[r];
  }
};
// With a 3x3 window, a row of 9 to 16 output pixels is one tile (more
// independent accumulators than 8 and 8 - n: 14x14 layers ~20 % faster);
// wider rows, and 5x5 windows (whose 16-pixel instances would double the
// code for ~3 %), go in tiles of 8.
constexpr size_t kColumnsMaxPixels = 2 * kDepthwiseTilePixels;
// The columns 16 pixels read at stride 2 with a 5-wide window.
constexpr size_t kColumnsMaxColumns = (kColumnsMaxPixels - 1) * 2 + kColumnsMaxKernel;
struct Table {
  const float* const* pointers;  // [column][kernel row], kColumnsMaxColumns x K
  int kernel;                    // K
  const float* At(int j, int r) const { return pointers[j * kernel + r]; }
};

// Input column J (and the columns after it) of one block of 16 channels.
template <int J, int K, int MR, int SW, bool kMasked, typename Source>
__attribute__((target("avx512f"), always_inline)) inline void ColumnsFrom(
    const Source& src, size_t c, __mmask16 mask, const float* w, __m512 (&acc)[MR]) {
  __m512 v[K];
#pragma GCC unroll 5
  for (int r = 0; r < K; ++r) v[r] = Load<kMasked>(mask, src.At(J, r) + c);
  // Kernel column KC of the pixel that reads column J with it, if any.
  auto kernel_column = [&](auto kc) __attribute__((target("avx512f"), always_inline)) {
    constexpr int kPixelTimesStride = J - decltype(kc)::value;
    if constexpr (kPixelTimesStride >= 0 && kPixelTimesStride % SW == 0 &&
                  kPixelTimesStride / SW < MR) {
      constexpr int p = kPixelTimesStride / SW;
      constexpr int t = decltype(kc)::value * K;
#pragma GCC unroll 5
      for (int r = 0; r < K; ++r) {
        acc[p] = _mm512_fmadd_ps(v[r], _mm512_loadu_ps(w + (1 + t + r) * kDepthwiseTileChannels), acc[p]);
      }
    }
  };
  [&]<int... KC>(std::integer_sequence<int, KC...>) __attribute__((target("avx512f"), always_inline)) {
    (kernel_column(std::integral_constant<int, KC>{}), ...);
  }(std::make_integer_sequence<int, K>{});
  if constexpr (J + 1 < (MR - 1) * SW + K) {
    ColumnsFrom<J + 1, K, MR, SW, kMasked>(src, c, mask, w, acc);
  }
}

template <int K, int MR, int SW, bool kMasked, typename Source>
__attribute__((target("avx512f"), always_inline)) inline void ColumnsBlock(
    const Source& src, const float* w, size_t c, __mmask16 mask, const DepthwiseArgs& g, float* y) {
  __m512 acc[MR];
  const __m512 bias = _mm512_loadu_ps(w);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) acc[r] = bias;
  ColumnsFrom<0, K, MR, SW, kMasked>(src, c, mask, w, acc);
  Store<MR>(acc, g, mask, y + c);
}

// Every channel of MR pixels of a row (out_stride floats apart from y on).
template <int K, int MR, int SW, typename Source>
__attribute__((target("avx512f"))) void Columns(const Source& src, const DepthwiseArgs& g,
                                                float* y) {
  const float* w = g.packed;
  constexpr size_t kStep = (1 + K * K) * kDepthwiseTileChannels;
  size_t c = 0;
  for (; c + kDepthwiseTileChannels <= g.channels; c += kDepthwiseTileChannels, w += kStep) {
    ColumnsBlock<K, MR, SW, false>(src, w, c, 0xFFFF, g, y);
  }
  if (c < g.channels) ColumnsBlock<K, MR, SW, true>(src, w, c, ChannelMask(g.channels - c), g, y);
}

// The instance for the kernel (3 or 5) and stride_w (1 or 2): a full tile
// inside the input.
void ColumnsStrip(const Strip& src, const DepthwiseArgs& g, float* y) {
  using Fn = void (*)(const Strip&, const DepthwiseArgs&, float*);
  constexpr size_t kPixels = kDepthwiseTilePixels;
  static constexpr Fn kTable[2][2] = {{Columns<3, kPixels, 1, Strip>, Columns<3, kPixels, 2, Strip>},
                                      {Columns<5, kPixels, 1, Strip>, Columns<5, kPixels, 2, Strip>}};
  kTable[g.kernel_w == 5 ? 1 : 0][g.stride_w - 1](src, g, y);
}

// ... and any tile of `pixels` in [1, 16] through its pointer table.
void ColumnsTable(size_t pixels, const Table& src, const DepthwiseArgs& g, float* y) {
  using Fn = void (*)(const Table&, const DepthwiseArgs&, float*);
#define EV_COLUMNS_8(K, SW)                                                      \
  Columns<K, 1, SW, Table>, Columns<K, 2, SW, Table>, Columns<K, 3, SW, Table>, \
      Columns<K, 4, SW, Table>, Columns<K, 5, SW, Table>, Columns<K, 6, SW, Table>, \
      Columns<K, 7, SW, Table>, Columns<K, 8, SW, Table>
#define EV_COLUMNS_16(K, SW)                                                        \
  EV_COLUMNS_8(K, SW), Columns<K, 9, SW, Table>, Columns<K, 10, SW, Table>,       \
      Columns<K, 11, SW, Table>, Columns<K, 12, SW, Table>, Columns<K, 13, SW, Table>, \
      Columns<K, 14, SW, Table>, Columns<K, 15, SW, Table>, Columns<K, 16, SW, Table>
  static constexpr Fn kTable[2][2][kColumnsMaxPixels] = {
      {{EV_COLUMNS_16(3, 1)}, {EV_COLUMNS_16(3, 2)}},
      {{EV_COLUMNS_8(5, 1)}, {EV_COLUMNS_8(5, 2)}},  // 5x5: 8-pixel tiles only
  };
#undef EV_COLUMNS_16
#undef EV_COLUMNS_8
  kTable[g.kernel_w == 5 ? 1 : 0][g.stride_w - 1][pixels - 1](src, g, y);
}

// pixels in [1, 8]: the instance for that many; offsets null: at the border.
void Dispatch(size_t pixels, const float* const* pointers, const ptrdiff_t* offsets, size_t taps,
              const DepthwiseArgs& g, float* y) {
  switch (pixels) {
#define EV_DEPTHWISE_CASE(n)                                                   \
  case n:                                                                      \
    if (offsets) {                                                             \
      Interior<n>(pointers, offsets, taps, g, y);                              \
    } else {                                                                   \
      Border<n>(pointers, taps, g, y);                                         \
    }                                                                          \
    break;
    EV_DEPTHWISE_CASE(8)
    EV_DEPTHWISE_CASE(7)
    EV_DEPTHWISE_CASE(6)
    EV_DEPTHWISE_CASE(5)
    EV_DEPTHWISE_CASE(4)
    EV_DEPTHWISE_CASE(3)
    EV_DEPTHWISE_CASE(2)
    EV_DEPTHWISE_CASE(1)
#undef EV_DEPTHWISE_CASE
    default: break;
  }
}

// Rows [begin, end) by the column schedule, in tiles of 8 pixels from the
// row's start: a full tile inside the input through Strip, any other (one
// that reads padding, a row's last partial tile) through a table of column
// pointers (the zeros in the padding).
void ColumnRows(const DepthwiseArgs& g, size_t begin, size_t end) {
  const size_t row_floats = g.in_w * g.in_stride;
  const auto in_h = static_cast<ptrdiff_t>(g.in_h), in_w = static_cast<ptrdiff_t>(g.in_w);
  auto input_row = [&](ptrdiff_t iy) {
    const auto r = static_cast<size_t>(iy);
    return g.x + (g.x_ring_rows ? r % g.x_ring_rows : r) * row_floats;
  };
  const auto k = static_cast<ptrdiff_t>(g.kernel_h);
  const auto dh = static_cast<ptrdiff_t>(g.dilation_h);
  const float* pointers[kColumnsMaxColumns * kColumnsMaxKernel];
  const size_t tile =
      k == 3 && g.out_w <= kColumnsMaxPixels ? g.out_w : kDepthwiseTilePixels;
  for (size_t oy = begin; oy < end; ++oy) {
    const ptrdiff_t iy = static_cast<ptrdiff_t>(oy * g.stride_h) - static_cast<ptrdiff_t>(g.pad_top);
    float* y_row = g.y + (oy - g.y_row0) * g.out_w * g.out_stride;
    // Kernel row r's input row, null in the padding.
    const float* rows[kColumnsMaxKernel];
    bool rows_inside = true;
    for (ptrdiff_t r = 0; r < k; ++r) {
      const ptrdiff_t ty = iy + r * dh;
      rows[r] = ty >= 0 && ty < in_h ? input_row(ty) : nullptr;
      rows_inside = rows_inside && rows[r];
    }
    Strip strip{rows[0], {}, g.in_stride};
    for (ptrdiff_t r = 0; rows_inside && r < k; ++r) strip.rows[r] = rows[r] - rows[0];
    for (size_t ox = 0; ox < g.out_w; ox += tile) {
      const size_t n = std::min(tile, g.out_w - ox);
      const ptrdiff_t ix = static_cast<ptrdiff_t>(ox * g.stride_w) - static_cast<ptrdiff_t>(g.pad_left);
      const auto columns = static_cast<ptrdiff_t>((n - 1) * g.stride_w) + k;
      float* y_tile = y_row + ox * g.out_stride;
      if (n == kDepthwiseTilePixels && rows_inside && ix >= 0 && ix + columns <= in_w) {
        strip.x = rows[0] + static_cast<size_t>(ix) * g.in_stride;
        ColumnsStrip(strip, g, y_tile);
        continue;
      }
      for (ptrdiff_t j = 0; j < columns; ++j) {
        const ptrdiff_t tx = ix + j;
        const bool column_inside = tx >= 0 && tx < in_w;
        for (ptrdiff_t r = 0; r < k; ++r) {
          pointers[j * k + r] = column_inside && rows[r] ? rows[r] + static_cast<size_t>(tx) * g.in_stride : g.zeros;
        }
      }
      ColumnsTable(n, Table{pointers, static_cast<int>(k)}, g, y_tile);
    }
  }
}

}  // namespace

static_assert(kDepthwiseTileChannels == 16 && kDepthwiseTilePixels == 8);

void DepthwiseRows(const DepthwiseArgs& g, size_t begin, size_t end) {
  if (g.kernel_h == g.kernel_w && (g.kernel_w == 3 || g.kernel_w == 5) && g.dilation_w == 1 &&
      (g.stride_w == 1 || g.stride_w == 2)) {
    ColumnRows(g, begin, end);
    return;
  }
  const size_t taps = g.kernel_h * g.kernel_w;
  const size_t row_floats = g.in_w * g.in_stride;
  // Input row iy, 0 <= iy < in_h.
  auto input_row = [&](ptrdiff_t iy) {
    const auto r = static_cast<size_t>(iy);
    return g.x + (g.x_ring_rows ? r % g.x_ring_rows : r) * row_floats;
  };
  ptrdiff_t offsets[kMaxTaps];
  // The taps' offsets from a window's top-left pixel when kernel row kh
  // starts row_offsets[kh] floats after kernel row 0.
  auto set_offsets = [&](const ptrdiff_t* row_offsets) {
    for (size_t t = 0; t < taps; ++t) {
      offsets[t] = row_offsets[TapRow(t, g.kernel_h)] +
                   static_cast<ptrdiff_t>(TapColumn(t, g.kernel_h) * g.dilation_w * g.in_stride);
    }
  };
  const auto in_h = static_cast<ptrdiff_t>(g.in_h), in_w = static_cast<ptrdiff_t>(g.in_w);
  const auto span_h = static_cast<ptrdiff_t>((g.kernel_h - 1) * g.dilation_h);
  const auto span_w = static_cast<ptrdiff_t>((g.kernel_w - 1) * g.dilation_w);
  // Output columns [interior_begin, interior_end) read no padding column.
  const size_t interior_begin = std::min(g.out_w, (g.pad_left + g.stride_w - 1) / g.stride_w);
  const ptrdiff_t last_start = in_w - 1 - span_w + static_cast<ptrdiff_t>(g.pad_left);
  const size_t interior_end = std::max(
      interior_begin,
      last_start < 0 ? 0 : std::min(g.out_w, static_cast<size_t>(last_start) / g.stride_w + 1));
  const float* pointers[kMaxTaps * kDepthwiseTilePixels];
  ptrdiff_t row_offsets[kMaxTaps];
  if (!g.x_ring_rows) {  // the same offsets for every row
    for (size_t kh = 0; kh < g.kernel_h; ++kh) {
      row_offsets[kh] = static_cast<ptrdiff_t>(kh * g.dilation_h * row_floats);
    }
    set_offsets(row_offsets);
  }
  // Pixels [ox, ox + n) of row oy, n <= 8, through one pointer per tap.
  auto border = [&](float* y_row, ptrdiff_t iy, size_t ox, size_t n) {
    const ptrdiff_t ix = static_cast<ptrdiff_t>(ox * g.stride_w) - static_cast<ptrdiff_t>(g.pad_left);
    for (size_t t = 0; t < taps; ++t) {
      const ptrdiff_t ty = iy + static_cast<ptrdiff_t>(TapRow(t, g.kernel_h) * g.dilation_h);
      for (size_t p = 0; p < n; ++p) {
        const ptrdiff_t tx =
            ix + static_cast<ptrdiff_t>(p * g.stride_w + TapColumn(t, g.kernel_h) * g.dilation_w);
        const bool inside = ty >= 0 && ty < in_h && tx >= 0 && tx < in_w;
        pointers[t * kDepthwiseTilePixels + p] =
            inside ? input_row(ty) + static_cast<size_t>(tx) * g.in_stride : g.zeros;
      }
    }
    Dispatch(n, pointers, nullptr, taps, g, y_row + ox * g.out_stride);
  };
  for (size_t oy = begin; oy < end; ++oy) {
    const ptrdiff_t iy = static_cast<ptrdiff_t>(oy * g.stride_h) - static_cast<ptrdiff_t>(g.pad_top);
    float* y_row = g.y + (oy - g.y_row0) * g.out_w * g.out_stride;
    if (iy < 0 || iy + span_h >= in_h) {  // a row that reads padding rows
      for (size_t ox = 0; ox < g.out_w; ox += kDepthwiseTilePixels) {
        border(y_row, iy, ox, std::min(kDepthwiseTilePixels, g.out_w - ox));
      }
      continue;
    }
    for (size_t ox = 0; ox < interior_begin; ox += kDepthwiseTilePixels) {
      border(y_row, iy, ox, std::min(kDepthwiseTilePixels, interior_begin - ox));
    }
    const float* row = input_row(iy);
    if (g.x_ring_rows) {
      for (size_t kh = 0; kh < g.kernel_h; ++kh) {
        row_offsets[kh] = input_row(iy + static_cast<ptrdiff_t>(kh * g.dilation_h)) - row;
      }
      set_offsets(row_offsets);
    }
    for (size_t ox = interior_begin; ox < interior_end; ox += kDepthwiseTilePixels) {
      const size_t n = std::min(kDepthwiseTilePixels, interior_end - ox);
      for (size_t p = 0; p < n; ++p) {
        pointers[p] = row + ((ox + p) * g.stride_w - g.pad_left) * g.in_stride;
      }
      Dispatch(n, pointers, offsets, taps, g, y_row + ox * g.out_stride);
    }
    for (size_t ox = interior_end; ox < g.out_w; ox += kDepthwiseTilePixels) {
      border(y_row, iy, ox, std::min(kDepthwiseTilePixels, g.out_w - ox));
    }
  }
}

#else  // not x86-64: never used (DepthwiseEligible needs AVX-512)

void DepthwiseRows(const DepthwiseArgs&, size_t, size_t) {}

#endif

}  // namespace edgevision::engine::xnnpack_internal
