#include "engine/max_pool_ring.h"

#include <algorithm>
#include <cstddef>

#include "engine/x86_intrinsics.h"

namespace edgevision::engine::xnnpack_internal {

bool FusablePool(const graph::Graph& g, const graph::Node& pool) {
  const graph::Attrs& a = pool.attrs;
  return pool.op == graph::Op::kMaxPool2D && a.kernel_h > 0 && a.kernel_w > 0 &&
         static_cast<size_t>(a.kernel_h * a.kernel_w) <= kMaxPoolRingWindow && a.stride_h > 0 &&
         a.stride_w > 0 && a.pad_top < a.kernel_h && a.pad_left < a.kernel_w &&
         a.pad_bottom < a.kernel_h && a.pad_right < a.kernel_w &&
         g.values[pool.inputs[0]].shape.size() == 4 && g.values[pool.outputs[0]].shape.size() == 4;
}

MaxPoolGeometry MaxPoolGeometryOf(const graph::Graph& g, const graph::Node& pool_node, float* y,
                                  size_t y_stride) {
  const graph::Attrs& pa = pool_node.attrs;
  const graph::Shape& ps = g.values[pool_node.outputs[0]].shape;
  MaxPoolGeometry pool;
  pool.kernel_h = static_cast<size_t>(pa.kernel_h);
  pool.kernel_w = static_cast<size_t>(pa.kernel_w);
  pool.stride_h = static_cast<size_t>(pa.stride_h);
  pool.stride_w = static_cast<size_t>(pa.stride_w);
  pool.pad_top = static_cast<size_t>(pa.pad_top);
  pool.pad_left = static_cast<size_t>(pa.pad_left);
  pool.out_h = static_cast<size_t>(ps[1]);
  pool.out_w = static_cast<size_t>(ps[2]);
  pool.y = y;
  pool.y_stride = y_stride;
  pool.lo = pa.act_min;
  pool.hi = pa.act_max;
  return pool;
}

#if defined(EV_X86_INTRINSICS)

namespace {

constexpr size_t kPoolVectors = 4;  // channel vectors a window's max keeps in registers at once

// y[c] = clamp(max over the window), channels [0, n): the window is rows[0,
// row_count) x the floats [begin, end) of each row, a pixel every `step`
// floats (a pixel's channels are contiguous). The pixels are taken row by
// row, left to right, as XNNPACK's max pooling takes them; with max an exact
// operation on the clamped convolution outputs (no NaN), any order gives the
// same floats, but this one keeps them bit-identical without that argument.
// Four channel vectors at a time: their loads are independent (the rows are
// in L2, and one vector's chain of maxima would wait on each). With `peak`,
// *peak = max(*peak, |y|) lane-wise.
__attribute__((target("avx512f"))) void MaxWindow(const float* const* rows, size_t row_count, size_t begin, size_t end,
                                                  size_t step, size_t n, float lo, float hi, float* y,
                                                  __m512* peak) {
  const __m512 lo_v = _mm512_set1_ps(lo), hi_v = _mm512_set1_ps(hi);
  size_t c = 0;
  for (; c + 16 * kPoolVectors <= n; c += 16 * kPoolVectors) {
    __m512 m[kPoolVectors];
    for (size_t v = 0; v < kPoolVectors; ++v) m[v] = _mm512_loadu_ps(rows[0] + begin + c + 16 * v);
    for (size_t x = begin + step; x < end; x += step) {
      for (size_t v = 0; v < kPoolVectors; ++v) m[v] = _mm512_max_ps(m[v], _mm512_loadu_ps(rows[0] + x + c + 16 * v));
    }
    for (size_t r = 1; r < row_count; ++r) {
      for (size_t x = begin; x < end; x += step) {
        for (size_t v = 0; v < kPoolVectors; ++v) {
          m[v] = _mm512_max_ps(m[v], _mm512_loadu_ps(rows[r] + x + c + 16 * v));
        }
      }
    }
    for (size_t v = 0; v < kPoolVectors; ++v) {
      const __m512 out = _mm512_min_ps(_mm512_max_ps(m[v], lo_v), hi_v);
      _mm512_storeu_ps(y + c + 16 * v, out);
      if (peak) *peak = _mm512_max_ps(*peak, _mm512_abs_ps(out));
    }
  }
  for (; c < n; c += 16) {
    const auto mask = static_cast<__mmask16>(n - c >= 16 ? 0xFFFFu : (1u << (n - c)) - 1);
    __m512 m = _mm512_maskz_loadu_ps(mask, rows[0] + begin + c);
    for (size_t x = begin + step; x < end; x += step)
      m = _mm512_max_ps(m, _mm512_maskz_loadu_ps(mask, rows[0] + x + c));
    for (size_t r = 1; r < row_count; ++r) {
      for (size_t x = begin; x < end; x += step) m = _mm512_max_ps(m, _mm512_maskz_loadu_ps(mask, rows[r] + x + c));
    }
    const __m512 out = _mm512_min_ps(_mm512_max_ps(m, lo_v), hi_v);
    _mm512_mask_storeu_ps(y + c, mask, out);
    if (peak) *peak = _mm512_max_ps(*peak, _mm512_maskz_mov_ps(mask, _mm512_abs_ps(out)));
  }
}

}  // namespace

__attribute__((target("avx512f"))) float MaxPoolFromRing(const RingConvolution& conv, const MaxPoolGeometry& pool,
                                                         size_t begin, size_t end, float* ring, bool peak) {
  const size_t n = conv.channels, row_floats = conv.out_w * n;
  // A convolution row in tiles of nearly equal width (113 pixels: 8 x 8 + 7 x 7,
  // not 14 x 8 + 1, whose one-pixel tile waits on its FMAs' latency).
  const size_t tiles = (conv.out_w + conv.tile_rows - 1) / conv.tile_rows;
  const size_t narrow = conv.out_w / tiles, wide = conv.out_w % tiles;  // the first `wide` tiles: narrow + 1
  const float* rows[kMaxPoolRingWindow];  // a window's rows (FusablePool)
  __m512 peak_v = _mm512_setzero_ps();
  size_t next = 0;  // the next convolution row to compute (or later)
  for (size_t py = begin; py < end; ++py) {
    const auto top = static_cast<ptrdiff_t>(py * pool.stride_h) -
                     static_cast<ptrdiff_t>(pool.pad_top);
    const size_t y0 = static_cast<size_t>(std::max<ptrdiff_t>(top, 0));
    const size_t y1 =
        std::min(conv.out_h, static_cast<size_t>(std::max<ptrdiff_t>(top + static_cast<ptrdiff_t>(pool.kernel_h), 0)));
    for (size_t r = std::max(next, y0); r < y1; ++r) {
      float* slot = ring + (r % pool.kernel_h) * row_floats;
      if (conv.row != nullptr) {
        conv.row(conv.context, r, slot);
        continue;
      }
      for (size_t t = 0, x = 0; t < tiles; ++t) {
        const size_t width = narrow + (t < wide ? 1 : 0);
        conv.tile(conv.context, r * conv.out_w + x, width, slot + x * n);
        x += width;
      }
    }
    next = std::max(next, y1);
    size_t row_count = 0;
    for (size_t r = y0; r < y1; ++r) rows[row_count++] = ring + (r % pool.kernel_h) * row_floats;
    float* y = pool.y + py * pool.out_w * pool.y_stride;
    for (size_t px = 0; px < pool.out_w; ++px) {
      const auto left = static_cast<ptrdiff_t>(px * pool.stride_w) -
                        static_cast<ptrdiff_t>(pool.pad_left);
      const size_t x0 = static_cast<size_t>(std::max<ptrdiff_t>(left, 0));
      const size_t x1 = std::min(
          conv.out_w, static_cast<size_t>(std::max<ptrdiff_t>(left + static_cast<ptrdiff_t>(pool.kernel_w), 0)));
      MaxWindow(rows, row_count, x0 * n, x1 * n, n, n, pool.lo, pool.hi, y + px * pool.y_stride,
                peak ? &peak_v : nullptr);
    }
  }
  return peak ? _mm512_reduce_max_ps(peak_v) : 0.0f;
}

#else  // not x86-64: never used (the kernels that call it are x86 only)

float MaxPoolFromRing(const RingConvolution&, const MaxPoolGeometry&, size_t, size_t, float*, bool) {
  return 0.0f;
}

#endif

}  // namespace edgevision::engine::xnnpack_internal
