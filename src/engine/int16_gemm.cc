#include "engine/int16_gemm.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "engine/vnni_tiles.h"

#include "engine/x86_intrinsics.h"

#if defined(EV_X86_INTRINSICS)
#define EV_Q16_GEMM_VNNI 1
#endif

namespace edgevision::engine::int8_internal {

namespace {

// The accumulators' bound: |acc| <= input_max * sum |q| must stay within it.
constexpr double kAccumulatorLimit = 2147483647.0;

}  // namespace

void RaisePeak(float* peak, float value) {
  std::atomic_ref<float> slot(*peak);
  float seen = slot.load(std::memory_order_relaxed);
  while (value > seen && !slot.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

Q16GemmWeights PackQ16Gemm(const float* weights, const float* bias, size_t n, size_t taps, size_t k) {
  Q16GemmWeights p;
  p.n = n;
  p.taps = taps;
  p.k = k;
  p.k2 = (k + 1) / 2 * 2;
  p.channels = k;
  const size_t per_channel = taps * k;
  // Per channel: the largest |w| and sum |w| / max |w| (the accumulator's
  // growth in units of the largest weight).
  std::vector<double> max_w(n, 0.0), ratio(n, 1.0);
  double worst = 1.0;
  for (size_t o = 0; o < n; ++o) {
    double sum = 0.0;
    for (size_t i = 0; i < per_channel; ++i) {
      const double a = std::fabs(static_cast<double>(weights[o * per_channel + i]));
      max_w[o] = std::max(max_w[o], a);
      sum += a;
    }
    if (max_w[o] > 0.0) ratio[o] = sum / max_w[o];
    worst = std::max(worst, ratio[o]);
  }
  // input_max * max_q * ratio <= 2^31 with input_max ~ max_q for the worst
  // channel: about 12 bits each for a 3x3x64 window, 15 for a first layer.
  p.input_max = static_cast<int32_t>(
      std::clamp(std::floor(std::sqrt(kAccumulatorLimit / 2.0 / worst)), 1.0, double{kQ16Max}));
  const size_t blocks = (n + kQ16GemmTileChannels - 1) / kQ16GemmTileChannels;
  const size_t padded = blocks * kQ16GemmTileChannels;
  p.kernel.assign(blocks * taps * p.k2 * kQ16GemmTileChannels, 0);
  p.scale.assign(padded, 0.0f);
  p.bias.assign(padded, 0.0f);
  // Each rounding adds at most 1/2 to sum |q|.
  const double rounding = static_cast<double>(per_channel) / 2.0;
  for (size_t o = 0; o < n; ++o) {
    if (bias) p.bias[o] = bias[o];
    if (max_w[o] == 0.0) continue;
    const double bound = std::clamp(
        std::floor((kAccumulatorLimit / p.input_max - rounding) / ratio[o]), 1.0, double{kQ16Max});
    const double s = bound / max_w[o];  // q = w * s
    p.scale[o] = static_cast<float>(1.0 / s);
    const size_t block = o / kQ16GemmTileChannels, lane = o % kQ16GemmTileChannels;
    for (size_t t = 0; t < taps; ++t) {
      for (size_t i = 0; i < k; ++i) {
        const double v = static_cast<double>(weights[o * per_channel + t * k + i]) * s;
        // [block][tap][i / 2][lane][i % 2]
        p.kernel[(((block * taps + t) * (p.k2 / 2) + i / 2) * kQ16GemmTileChannels + lane) * 2 +
                 i % 2] = static_cast<int16_t>(std::clamp(std::nearbyint(v), -bound, bound));
      }
    }
  }
  p.zeros.assign(p.k2, 0);
  return p;
}

Q16GemmWeights PackQ16GemmNode(const graph::Graph& g, const graph::Node& node) {
  const graph::Shape& ws = g.values[node.inputs[1]].shape;
  const graph::Attrs& a = node.attrs;
  const graph::ValueId bias = node.inputs.size() > 2 ? node.inputs[2] : graph::kNoValue;
  const auto n = static_cast<size_t>(ws[0]), kh = static_cast<size_t>(ws[1]),
             kw = static_cast<size_t>(ws[2]), c = static_cast<size_t>(ws[3]);
  // A kernel row's values are consecutive in the quantised input (no
  // dilation; the padding is its border); only an odd channel count saves
  // steps ([O][KH][KW][C] is already [O][KH][KW * C]).
  const bool row_taps = kw > 1 && c % 2 == 1 && a.dilation_w == 1;
  Q16GemmWeights w = PackQ16Gemm(g.values[node.inputs[1]].f32.data(),
                                 bias == graph::kNoValue ? nullptr : g.values[bias].f32.data(), n,
                                 row_taps ? kh : kh * kw, row_taps ? kw * c : c);
  w.channels = c;
  w.row_taps = row_taps;
  return w;
}

size_t Q16InputBytes(const graph::Graph& g, const graph::Node& node, const Q16GemmWeights& weights) {
  const graph::Shape& xs = g.values[node.inputs[0]].shape;
  const graph::Attrs& a = node.attrs;
  const auto rows = static_cast<size_t>(xs[1] + a.pad_top + a.pad_bottom);
  const auto cols = static_cast<size_t>(xs[2] + a.pad_left + a.pad_right);
  return (rows * cols * weights.channels + 1) * sizeof(int16_t);
}

Q16ConvArgs Q16GemmArgs(const graph::Graph& g, const graph::Node& node,
                        const Q16GemmWeights* weights, const float* x, int16_t* quantised, float* y,
                        size_t y_stride) {
  Q16ConvArgs c;
  SetWindowGeometry(g, node, &c);
  c.in_stride = weights->channels;
  if (weights->row_taps) c.kernel_w = 1;  // a tap reads the whole kernel row
  // The padding becomes the quantised input's zero border.
  c.src_h = c.in_h;
  c.src_w = c.in_w;
  c.border_top = c.pad_top;
  c.border_left = c.pad_left;
  c.in_h += static_cast<size_t>(node.attrs.pad_top + node.attrs.pad_bottom);
  c.in_w += static_cast<size_t>(node.attrs.pad_left + node.attrs.pad_right);
  c.pad_top = c.pad_left = 0;
  c.input = x;
  c.quantised = quantised;
  c.x = quantised;
  c.weights = weights;
  c.y = y;
  c.y_stride = y_stride ? y_stride : weights->n;
  c.act_min = node.attrs.act_min;
  c.act_max = node.attrs.act_max;
  c.quantise_in_tile = Q16QuantisesInTile(node, *weights);
  return c;
}

bool Q16QuantisesInTile(const graph::Node& node, const Q16GemmWeights& weights) {
  const graph::Attrs& a = node.attrs;
  const bool padded = a.pad_top || a.pad_left || a.pad_bottom || a.pad_right;
  return weights.taps == 1 && !weights.row_taps && !padded && weights.k2 <= kQ16InTileMaxK2;
}

namespace {

// max |x[i]| over `count` floats, and q[i] = round(x[i] * inverse) (to
// nearest even, within +-bound), dense; the kernel's ISA where it is built.
#if defined(EV_Q16_GEMM_VNNI)
__attribute__((target("avx512f"))) float PeakAbs(const float* x, size_t count) {
  __m512 peak = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= count; i += 16) peak = _mm512_max_ps(peak, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
  if (i < count) {
    const auto mask = static_cast<__mmask16>((1u << (count - i)) - 1);
    peak = _mm512_max_ps(peak, _mm512_abs_ps(_mm512_maskz_loadu_ps(mask, x + i)));
  }
  return _mm512_reduce_max_ps(peak);
}

__attribute__((target("avx512f,avx512bw"))) void QuantizeDense(const float* x, size_t count,
                                                               float inverse, int32_t bound,
                                                               int16_t* q) {
  const __m512 scale = _mm512_set1_ps(inverse);
  size_t i = 0;
  // 32 values a step, without masks: packs_epi32 saturates to int16 (a
  // no-op after the clamp, which is therefore done on the 16-bit lanes) and
  // interleaves the two vectors' quadwords per 128-bit lane, which the
  // permutation puts back in order; one 64-byte store instead of two masked
  // vpmovdw (food's 128 -> 16 squeeze: 61 -> 53 us in --per-op).
  const __m512i hi16 = _mm512_set1_epi16(static_cast<int16_t>(bound)),
                lo16 = _mm512_set1_epi16(static_cast<int16_t>(-bound));
  const __m512i order = _mm512_set_epi64(7, 5, 3, 1, 6, 4, 2, 0);
  for (; i + 32 <= count; i += 32) {
    const __m512i a = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + i), scale));
    const __m512i b = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(x + i + 16), scale));
    __m512i v = _mm512_permutexvar_epi64(order, _mm512_packs_epi32(a, b));
    v = _mm512_min_epi16(_mm512_max_epi16(v, lo16), hi16);
    _mm512_storeu_si512(q + i, v);
  }
  const __m512i hi = _mm512_set1_epi32(bound), lo = _mm512_set1_epi32(-bound);
  for (; i < count; i += 16) {
    const auto mask = static_cast<__mmask16>(count - i >= 16 ? 0xFFFFu : (1u << (count - i)) - 1);
    // cvtps2dq rounds to nearest even (the default MXCSR), as nearbyint.
    __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_maskz_loadu_ps(mask, x + i), scale));
    v = _mm512_min_epi32(_mm512_max_epi32(v, lo), hi);
    _mm512_mask_cvtepi32_storeu_epi16(q + i, mask, v);
  }
}
#else
int16_t Round16(float v, int32_t bound) {
  const auto q = static_cast<int32_t>(std::nearbyint(v));
  return static_cast<int16_t>(std::clamp(q, -bound, bound));
}

float PeakAbs(const float* x, size_t count) {
  float peak = 0.0f;
  for (size_t i = 0; i < count; ++i) peak = std::max(peak, std::fabs(x[i]));
  return peak;
}

void QuantizeDense(const float* x, size_t count, float inverse, int32_t bound, int16_t* q) {
  for (size_t i = 0; i < count; ++i) q[i] = Round16(x[i] * inverse, bound);
}
#endif

}  // namespace

void ScaleQ16Input(Q16ConvArgs* args) {
  const Q16GemmWeights& w = *args->weights;
  const size_t count = args->src_h * args->src_w * w.channels;
  const float peak = args->input_peak ? *args->input_peak : PeakAbs(args->input, count);
  args->input_inverse = peak > 0.0f ? static_cast<float>(w.input_max) / peak : 0.0f;
  args->input_scale = peak > 0.0f ? peak / static_cast<float>(w.input_max) : 0.0f;
}

void QuantizeQ16Input(Q16ConvArgs* args) {
  ScaleQ16Input(args);
  const Q16GemmWeights& w = *args->weights;
  const size_t c = w.channels;
  const size_t count = args->src_h * args->src_w * c;
  const float inverse = args->input_inverse;
  int16_t* q = args->quantised;
  const size_t padded = args->in_h * args->in_w * c;
  if (padded == count) {
    QuantizeDense(args->input, count, inverse, w.input_max, q);
  } else {  // rows into the zero border
    const size_t row = args->in_w * c, src_row = args->src_w * c, left = args->border_left * c;
    std::memset(q, 0, args->border_top * row * sizeof(int16_t));
    for (size_t y = 0; y < args->src_h; ++y) {
      int16_t* out = q + (args->border_top + y) * row;
      std::memset(out, 0, left * sizeof(int16_t));
      QuantizeDense(args->input + y * src_row, src_row, inverse, w.input_max, out + left);
      std::memset(out + left + src_row, 0, (row - left - src_row) * sizeof(int16_t));
    }
    const size_t done = (args->border_top + args->src_h) * row;
    std::memset(q + done, 0, (padded - done) * sizeof(int16_t));
  }
  q[padded] = 0;  // the tail an odd k's last pair reads
}

void Q16ConvReference(const Q16ConvArgs& g) {
  const Q16GemmWeights& w = *g.weights;
  const int16_t* pointers[kQ16GemmMaxTaps];
  float peak = 0.0f;
  for (size_t pixel = 0; pixel < g.out_h * g.out_w; ++pixel) {
    WindowTaps(g, pixel, 1, w.zeros.data(), 1, pointers);
    for (size_t o = 0; o < w.n; ++o) {
      const size_t block = o / kQ16GemmTileChannels, lane = o % kQ16GemmTileChannels;
      int64_t acc = 0;
      for (size_t t = 0; t < w.taps; ++t) {
        for (size_t i = 0; i < w.k; ++i) {
          const int16_t q = w.kernel[(((block * w.taps + t) * (w.k2 / 2) + i / 2) * kQ16GemmTileChannels + lane) * 2 + i % 2];
          acc += static_cast<int64_t>(q) * pointers[t][i];
        }
      }
      const float scale = g.input_scale * w.scale[o];
      float v = std::fma(static_cast<float>(static_cast<int32_t>(acc)), scale, w.bias[o]);
      v = std::min(std::max(v, g.act_min), g.act_max);
      g.y[pixel * g.y_stride + o] = v;
      peak = std::max(peak, std::fabs(v));
    }
  }
  if (g.out_peak) RaisePeak(g.out_peak, peak);
}

namespace {

// The pass before the tiles: the quantised input, or only its scale.
void PrepareQ16Input(Q16ConvArgs* args) {
  if (args->folded) PrepareQ16Input(args->folded);
  if (args->quantise_in_tile) {
    ScaleQ16Input(args);
  } else {
    QuantizeQ16Input(args);
  }
}

}  // namespace

void RunQ16Gemm(Q16ConvArgs args, pthreadpool_t pool) {
  PrepareQ16Input(&args);
  vnni_tiles::RunTiles<Q16ConvArgs, Q16ConvTile>(args, pool);
}

namespace {

struct PoolBands {
  const Q16ConvArgs* args;
  const xnnpack_internal::MaxPoolGeometry* pool;
  float* rings;
  size_t ring_floats, bands;
  float* peak;  // the pooled outputs' (nullptr: not measured)
};

void RingTile(const void* context, size_t pixel, size_t rows, float* y) {
  Q16ConvTileTo(*static_cast<const Q16ConvArgs*>(context), pixel, rows, y);
}

void PoolBand(void* context, size_t band) {
  const auto& c = *static_cast<const PoolBands*>(context);
  const Q16ConvArgs& g = *c.args;
  const xnnpack_internal::RingConvolution conv{g.out_h, g.out_w, Q16OutChannels(g), kQ16GemmTileRows,
                                               RingTile, &g};
  const size_t rows = c.pool->out_h;
  const float peak = xnnpack_internal::MaxPoolFromRing(conv, *c.pool, band * rows / c.bands,
                                                       (band + 1) * rows / c.bands,
                                                       c.rings + band * c.ring_floats, c.peak != nullptr);
  if (c.peak) RaisePeak(c.peak, peak);
}

}  // namespace

void RunQ16GemmMaxPool(Q16ConvArgs args, const xnnpack_internal::MaxPoolGeometry& pool, float* rings,
                       size_t ring_floats, size_t bands, pthreadpool_t threads) {
  PrepareQ16Input(&args);
  PoolBands c{&args, &pool, rings, ring_floats, bands, args.out_peak};
  args.out_peak = nullptr;  // the ring's rows are not the output
  pthreadpool_parallelize_1d(threads, PoolBand, &c, bands, 0);
}

#if defined(EV_Q16_GEMM_VNNI)

namespace {

// acc += x . w (int16 pairs), in place; asm as int8_gemm.cc's Dpbusd (GCC 12
// copies an array of accumulators per intrinsic).
__attribute__((target("avx512f,avx512vnni"), always_inline)) inline void Dpwssd(__m512i& acc,
                                                                               __m512i x,
                                                                               __m512i w) {
  asm("vpdpwssd %2, %1, %0" : "+v"(acc) : "v"(x), "v"(w));
}

struct Q16Kernel {
// MR pixels x (16 * NV) channels of the block starting at output channel
// `channel`; the last vector's lanes past n are masked.
template <int MR, int NV>
__attribute__((target("avx512f,avx512vnni"))) static void Tile(const Q16ConvArgs& g,
                                                               const vnni_tiles::TileRows<int16_t>& a,
                                                               size_t channel, float* y,
                                                               __mmask16 last_mask) {
  const Q16GemmWeights& w = *g.weights;
  const size_t steps = w.k2 / 2;
  const int16_t* b = w.kernel.data() + channel * w.taps * w.k2;
  __m512i acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_si512();
  }
  for (size_t t = 0; t < w.taps; ++t) {
    const int16_t* p[MR];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) p[r] = a.rows[t * a.row_step + r] + a.offsets[t];
    for (size_t s = 0; s < steps; ++s, b += 2 * kQ16GemmTileChannels) {
      __m512i wv[NV];
      for (int v = 0; v < NV; ++v) wv[v] = _mm512_loadu_si512(b + 32 * v);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        int32_t two;
        std::memcpy(&two, p[r] + 2 * s, 4);
        const __m512i x = _mm512_set1_epi32(two);
        for (int v = 0; v < NV; ++v) Dpwssd(acc[r][v], x, wv[v]);
      }
    }
  }
  // The epilogue without the work its outputs do not need: the peak when
  // nothing measures it (a fused pooling's ring), the upper clamp when it is
  // +inf (Relu; min(f, +inf) == f for the finite f here): 72 of the ~500
  // vector operations of food's first convolution's 15-step tiles.
  const bool high = !std::isinf(g.act_max);
  if (g.out_peak) {
    if (high) {
      Store<MR, NV, true, true>(g, acc, channel, y, last_mask);
    } else {
      Store<MR, NV, true, false>(g, acc, channel, y, last_mask);
    }
  } else if (high) {
    Store<MR, NV, false, true>(g, acc, channel, y, last_mask);
  } else {
    Store<MR, NV, false, false>(g, acc, channel, y, last_mask);
  }
}

// y = clamp(acc * input_scale * scale + bias), and with kPeak the outputs'
// max |y| raised into g.out_peak.
template <int MR, int NV, bool kPeak, bool kHigh>
__attribute__((target("avx512f"), always_inline)) static inline void Store(const Q16ConvArgs& g,
                                                                           const __m512i (&acc)[MR][NV],
                                                                           size_t channel, float* y,
                                                                           __mmask16 last_mask) {
  const Q16GemmWeights& w = *g.weights;
  const __m512 lo = _mm512_set1_ps(g.act_min), hi = _mm512_set1_ps(g.act_max);
  const __m512 input_scale = _mm512_set1_ps(g.input_scale);
  __m512 scale[NV], bias[NV];
  for (int v = 0; v < NV; ++v) {
    scale[v] = _mm512_mul_ps(input_scale, _mm512_loadu_ps(w.scale.data() + channel + 16 * v));
    bias[v] = _mm512_loadu_ps(w.bias.data() + channel + 16 * v);
  }
  __m512 peak = _mm512_setzero_ps();
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    for (int v = 0; v < NV; ++v) {
      __m512 f = _mm512_max_ps(_mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[r][v]), scale[v], bias[v]), lo);
      if constexpr (kHigh) f = _mm512_min_ps(f, hi);
      const __mmask16 mask = v + 1 == NV ? last_mask : 0xFFFF;
      _mm512_mask_storeu_ps(y + r * g.y_stride + 16 * v, mask, f);
      if constexpr (kPeak) peak = _mm512_max_ps(peak, _mm512_mask_abs_ps(_mm512_setzero_ps(), mask, f));
    }
  }
  if constexpr (kPeak) RaisePeak(g.out_peak, _mm512_reduce_max_ps(peak));
}

};

}  // namespace

static_assert(kQ16GemmTileRows == vnni_tiles::kTileRows && kQ16GemmTileChannels == vnni_tiles::kTileChannels &&
              kQ16GemmMaxTaps == vnni_tiles::kMaxTaps);

bool Q16GemmAvailable() {
  static const bool available =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni");
  return available;
}

namespace {

// A 1x1 convolution's tile from the float input (quantise_in_tile): the
// rows' pixels quantised as QuantizeQ16Input would (a zero after an odd k;
// with stride 1 and an even k in one call, which costs less than a call per
// pixel: food's 64 -> 16 squeeze 39 -> 33 us), then the kernel's one tap.
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void InTileConvTile(
    const Q16ConvArgs& g, size_t pixel, size_t rows, float* y) {
  const Q16GemmWeights& w = *g.weights;
  alignas(64) int16_t q[kQ16GemmTileRows * kQ16InTileMaxK2];
  const int16_t* row_pointers[kQ16GemmTileRows];
  if (g.stride_h == 1 && g.stride_w == 1 && w.k2 == w.k) {
    // Stride 1: the rows' pixels are consecutive in the dense input (across
    // output rows too: out_w == in_w), so one span of rows * k values, and
    // an even k needs no padding between them.
    QuantizeDense(g.input + pixel * w.k, rows * w.k, g.input_inverse, w.input_max, q);
    for (size_t r = 0; r < rows; ++r) row_pointers[r] = q + r * w.k;
  } else {
    size_t oy = pixel / g.out_w, ox = pixel % g.out_w;
    for (size_t r = 0; r < rows; ++r) {
      int16_t* out = q + r * w.k2;
      QuantizeDense(g.input + (oy * g.stride_h * g.in_w + ox * g.stride_w) * g.in_stride, w.k, g.input_inverse,
                    w.input_max, out);
      if (w.k2 != w.k) out[w.k] = 0;
      row_pointers[r] = out;
      if (++ox == g.out_w) {
        ox = 0;
        ++oy;
      }
    }
  }
  vnni_tiles::Blocks<Q16Kernel>(g, vnni_tiles::TileRows<int16_t>{row_pointers, 0, vnni_tiles::kNoOffsets},
                                w.n, rows, y);
}

}  // namespace

void Q16ConvTileTo(const Q16ConvArgs& g, size_t pixel, size_t rows, float* y) {
  if (g.folded) {  // the 1x1's channels first, with this tile's stride and peak
    Q16ConvArgs first = *g.folded;
    first.y_stride = g.y_stride;
    first.out_peak = g.out_peak;
    Q16ConvTileTo(first, pixel, rows, y);
    y += first.weights->n;
  }
  if (g.quantise_in_tile) {
    InTileConvTile(g, pixel, rows, y);
    return;
  }
  vnni_tiles::ConvTile<Q16Kernel>(g, pixel, rows, g.weights->n, g.weights->zeros.data(), y);
}

void Q16ConvTile(const Q16ConvArgs& g, size_t pixel, size_t rows) {
  Q16ConvTileTo(g, pixel, rows, g.y + pixel * g.y_stride);
}

#else  // not x86-64: never used

bool Q16GemmAvailable() {
  return false;
}

void Q16ConvTileTo(const Q16ConvArgs&, size_t, size_t, float*) {}
void Q16ConvTile(const Q16ConvArgs&, size_t, size_t) {}

#endif

}  // namespace edgevision::engine::int8_internal
