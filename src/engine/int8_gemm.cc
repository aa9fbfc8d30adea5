#include "engine/int8_gemm.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/vnni_tiles.h"

#include "engine/x86_intrinsics.h"

#if defined(EV_X86_INTRINSICS)
#define EV_Q8_GEMM_VNNI 1
#endif

// The header's "kernel compiled in" flag and this file's intrinsics agree.
#if defined(EV_Q8_GEMM_BUILT) != defined(EV_X86_INTRINSICS)
#error "EV_Q8_GEMM_BUILT (engine/int8_gemm.h) and EV_X86_INTRINSICS disagree"
#endif

namespace edgevision::engine::int8_internal {

// The input's bytes shifted to u8 are x + 128; the padding taps read the
// zero point. Enough tail for the kernel's 4-byte reads.
inline constexpr size_t kZerosTail = 64;

Q8GemmWeights PackQ8Gemm(const Q8Weights& w, size_t n, size_t taps, size_t k, Quant input,
                         Quant output) {
  Q8GemmWeights p;
  p.n = n;
  p.taps = taps;
  p.k = k;
  p.k4 = (k + 3) / 4 * 4;
  const size_t blocks = (n + kQ8GemmTileChannels - 1) / kQ8GemmTileChannels;
  const size_t padded = blocks * kQ8GemmTileChannels;
  p.kernel.assign(blocks * taps * p.k4 * kQ8GemmTileChannels, 0);
  p.bias.assign(padded, 0);
  p.scale.assign(padded, 0.0f);
  const int64_t shift = static_cast<int64_t>(input.zero) + 128;
  for (size_t o = 0; o < n; ++o) {
    const size_t block = o / kQ8GemmTileChannels, lane = o % kQ8GemmTileChannels;
    int64_t sum = 0;
    for (size_t t = 0; t < taps; ++t) {
      for (size_t i = 0; i < k; ++i) {
        const int8_t v = w.kernel[(o * taps + t) * k + i];
        sum += v;
        // [block][tap][i / 4][lane][i % 4]
        p.kernel[(((block * taps + t) * (p.k4 / 4) + i / 4) * kQ8GemmTileChannels + lane) * 4 +
                 i % 4] = v;
      }
    }
    // Modulo 2^32, as XNNPACK's packing (bias - zero * sum) wraps.
    const int64_t b = static_cast<int64_t>(w.bias[o]) - shift * sum;
    p.bias[o] = static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(b)));
    // xnn_create_convolution2d_nhwc_qc8's requantization scale, in float.
    p.scale[o] = input.scale * w.scales[o] / output.scale;
  }
  p.zeros.assign(p.k4 + kZerosTail, input.zero);
  return p;
}

int8_t RequantizeQ8(int32_t acc, float scale, int8_t out_zero, int8_t out_min, int8_t out_max) {
  float f = static_cast<float>(acc) * scale;
  f = std::min(f, static_cast<float>(static_cast<int32_t>(out_max) - out_zero));
  // cvtps2dq: round to nearest even; below INT32_MIN gives INT32_MIN.
  const double r = std::nearbyint(static_cast<double>(f));
  const int32_t q = r < -2147483648.0 ? INT32_MIN : static_cast<int32_t>(r);
  return static_cast<int8_t>(std::max<int32_t>(q, static_cast<int32_t>(out_min) - out_zero) + out_zero);
}

Q8ConvArgs Q8GemmArgs(const graph::Graph& g, const graph::Node& node, Quant out,
                      const Q8GemmWeights* weights, const int8_t* x, int8_t* y, size_t y_stride) {
  const graph::Attrs& a = node.attrs;
  const graph::Shape& xs = g.values[node.inputs[0]].shape;
  const graph::Shape& ys = g.values[node.outputs[0]].shape;
  Q8ConvArgs c;
  c.weights = weights;
  if (node.op == graph::Op::kConv2D) {
    SetWindowGeometry(g, node, &c);
  } else {  // FullyConnected: a 1x1 convolution over 1 x rows pixels
    c.in_h = c.out_h = 1;
    c.in_w = c.out_w = static_cast<size_t>(graph::ShapeProduct(xs) / xs.back());
  }
  c.in_stride = static_cast<size_t>(xs.back());
  c.x = x;
  c.y = y;
  c.y_stride = y_stride ? y_stride : static_cast<size_t>(ys.back());
  c.out_zero = out.zero;
  c.out_min = Quantize(a.act_min, out);
  c.out_max = Quantize(a.act_max, out);
  return c;
}

void RunQ8Gemm(const Q8ConvArgs& args, pthreadpool_t pool) {
  vnni_tiles::RunTiles<Q8ConvArgs, Q8ConvTile>(args, pool);
}

#if defined(EV_Q8_GEMM_VNNI)

namespace {

// acc += x (u8) . w (s8), in place. GCC 12 compiles _mm512_dpbusd_epi32 on
// an array of accumulators into two register copies (and spills) per
// instruction; the asm keeps each accumulator in its register.
__attribute__((target("avx512f,avx512vnni"), always_inline)) inline void Dpbusd(__m512i& acc,
                                                                               __m512i x,
                                                                               __m512i w) {
  asm("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(x), "v"(w));
}

struct Q8Kernel {
// MR pixels x (16 * NV) channels of the block starting at output channel
// `channel`; the last vector's lanes past n are masked.
template <int MR, int NV>
__attribute__((target("avx512f,avx512vnni"))) static void Tile(const Q8ConvArgs& g,
                                                               const vnni_tiles::TileRows<int8_t>& a,
                                                               size_t channel, int8_t* y,
                                                               __mmask16 last_mask) {
  const Q8GemmWeights& w = *g.weights;
  const size_t steps = w.k4 / 4;
  const int8_t* b = w.kernel.data() + channel * w.taps * w.k4;
  __m512i acc[MR][NV];
  __m512i init[NV];
  for (int v = 0; v < NV; ++v) init[v] = _mm512_loadu_si512(w.bias.data() + channel + 16 * v);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    for (int v = 0; v < NV; ++v) acc[r][v] = init[v];
  }
  const __m512i sign = _mm512_set1_epi32(static_cast<int32_t>(0x80808080u));
  for (size_t t = 0; t < w.taps; ++t) {
    const int8_t* p[MR];
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) p[r] = a.rows[t * a.row_step + r] + a.offsets[t];
    for (size_t s = 0; s < steps; ++s, b += 4 * kQ8GemmTileChannels) {
      __m512i wv[NV];
      for (int v = 0; v < NV; ++v) wv[v] = _mm512_loadu_si512(b + 64 * v);
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        int32_t four;
        std::memcpy(&four, p[r] + 4 * s, 4);
        const __m512i x = _mm512_xor_si512(_mm512_set1_epi32(four), sign);
        for (int v = 0; v < NV; ++v) Dpbusd(acc[r][v], x, wv[v]);
      }
    }
  }
  const __m512 max_less_zero =
      _mm512_set1_ps(static_cast<float>(static_cast<int32_t>(g.out_max) - g.out_zero));
  const __m512i min_less_zero = _mm512_set1_epi32(static_cast<int32_t>(g.out_min) - g.out_zero);
  const __m512i zero = _mm512_set1_epi32(g.out_zero);
  __m512 scale[NV];
  for (int v = 0; v < NV; ++v) scale[v] = _mm512_loadu_ps(w.scale.data() + channel + 16 * v);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r) {
    for (int v = 0; v < NV; ++v) {
      __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(acc[r][v]), scale[v]);
      f = _mm512_min_ps(f, max_less_zero);
      __m512i q = _mm512_max_epi32(_mm512_cvtps_epi32(f), min_less_zero);
      q = _mm512_add_epi32(q, zero);
      _mm512_mask_cvtepi32_storeu_epi8(y + r * g.y_stride + 16 * v,
                                       v + 1 == NV ? last_mask : 0xFFFF, q);
    }
  }
}

};

}  // namespace

static_assert(kQ8GemmTileRows == vnni_tiles::kTileRows && kQ8GemmTileChannels == vnni_tiles::kTileChannels &&
              kQ8GemmMaxTaps == vnni_tiles::kMaxTaps);

bool Q8GemmAvailable() {
  static const bool available =
      __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vnni");
  return available;
}

void Q8ConvTile(const Q8ConvArgs& g, size_t pixel, size_t rows) {
  vnni_tiles::ConvTile<Q8Kernel>(g, pixel, rows, g.weights->n, g.weights->zeros.data(),
                                 g.y + pixel * g.y_stride);
}

#else  // not x86-64: never used

bool Q8GemmAvailable() {
  return false;
}

void Q8ConvTile(const Q8ConvArgs&, size_t, size_t) {}

#endif

}  // namespace edgevision::engine::int8_internal
