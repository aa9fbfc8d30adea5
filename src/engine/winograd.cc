#include "engine/winograd.h"

#include <algorithm>

// Vectors pass between the helpers below by value, which GCC flags because
// the clones' ABIs differ; they are always inlined, so no call crosses them.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace edgevision::engine::xnnpack_internal {

namespace {

// The channel loops work on 16 channels at a time in a GCC vector type, which
// the compiler lowers to the widest vectors of the target; on x86-64 they are
// also built for AVX2 and AVX-512 and picked at load (ifunc). The remaining
// channels (fewer than 16) take the same arithmetic one at a time.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define EV_WINOGRAD_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define EV_WINOGRAD_CLONES
#endif

// The helpers below take and return vectors by value: they must be inlined
// into each clone (a call would cross the clones' different vector ABIs).
#define EV_WINOGRAD_INLINE [[gnu::always_inline]] inline

constexpr size_t kLanes = 16;
typedef float Lanes __attribute__((vector_size(kLanes * sizeof(float))));

template <typename T>
EV_WINOGRAD_INLINE T Load(const float* p) {
  if constexpr (sizeof(T) == sizeof(float)) {
    return *p;
  } else {
    T v;
    __builtin_memcpy(&v, p, sizeof v);
    return v;
  }
}

template <typename T>
EV_WINOGRAD_INLINE void Store(float* p, T v) {
  if constexpr (sizeof(T) == sizeof(float)) {
    *p = v;
  } else {
    __builtin_memcpy(p, &v, sizeof v);
  }
}

// V = B^T d B for one tile and channels [c, c + lanes(T)); d[i * 4 + j] is
// the patch's row i, column j.
template <typename T>
EV_WINOGRAD_INLINE void InputChannels(const float* const* d, size_t c, size_t v_stride, float* v) {
  T t[4][4];
  for (int j = 0; j < 4; ++j) {  // B^T d
    const T d0 = Load<T>(d[0 * 4 + j] + c), d1 = Load<T>(d[1 * 4 + j] + c),
            d2 = Load<T>(d[2 * 4 + j] + c), d3 = Load<T>(d[3 * 4 + j] + c);
    t[0][j] = d0 - d2;
    t[1][j] = d1 + d2;
    t[2][j] = d2 - d1;
    t[3][j] = d1 - d3;
  }
  for (int i = 0; i < 4; ++i) {  // (B^T d) B
    float* row = v + (i * 4) * v_stride + c;
    Store(row + 0 * v_stride, t[i][0] - t[i][2]);
    Store(row + 1 * v_stride, t[i][1] + t[i][2]);
    Store(row + 2 * v_stride, t[i][2] - t[i][1]);
    Store(row + 3 * v_stride, t[i][1] - t[i][3]);
  }
}

EV_WINOGRAD_CLONES
void InputTile(const float* const* d, size_t n, size_t v_stride, float* v) {
  size_t c = 0;
  for (; c + kLanes <= n; c += kLanes) InputChannels<Lanes>(d, c, v_stride, v);
  for (; c < n; ++c) InputChannels<float>(d, c, v_stride, v);
}

template <typename T>
EV_WINOGRAD_INLINE T Clamp(T x, T lo, T hi) {
  if constexpr (sizeof(T) == sizeof(float)) {
    return std::min(std::max(x, lo), hi);
  } else {
    x = x < lo ? lo : x;
    return x > hi ? hi : x;
  }
}

// Y = A^T m A (+ bias, clamped) for one tile and channels [c, c + lanes(T))
// into the pixels y[i * 2 + j].
template <typename T>
EV_WINOGRAD_INLINE void OutputChannels(const float* m, size_t m_stride, const float* bias, T lo, T hi,
                           size_t c, float* const* y) {
  T t[2][4];
  for (int j = 0; j < 4; ++j) {  // A^T m
    const T m0 = Load<T>(m + (0 * 4 + j) * m_stride + c), m1 = Load<T>(m + (1 * 4 + j) * m_stride + c),
            m2 = Load<T>(m + (2 * 4 + j) * m_stride + c), m3 = Load<T>(m + (3 * 4 + j) * m_stride + c);
    t[0][j] = m0 + m1 + m2;
    t[1][j] = m1 - m2 - m3;
  }
  const T b = bias ? Load<T>(bias + c) : T{} * 0.0f;
  for (int i = 0; i < 2; ++i) {  // (A^T m) A
    Store(y[i * 2 + 0] + c, Clamp<T>(t[i][0] + t[i][1] + t[i][2] + b, lo, hi));
    Store(y[i * 2 + 1] + c, Clamp<T>(t[i][1] - t[i][2] - t[i][3] + b, lo, hi));
  }
}

EV_WINOGRAD_CLONES
void OutputTile(const float* m, size_t m_stride, const float* bias, float lo, float hi, size_t n,
                float* const* y) {
  const Lanes lo_v = Lanes{} + lo, hi_v = Lanes{} + hi;
  size_t c = 0;
  for (; c + kLanes <= n; c += kLanes) OutputChannels<Lanes>(m, m_stride, bias, lo_v, hi_v, c, y);
  for (; c < n; ++c) OutputChannels<float>(m, m_stride, bias, lo, hi, c, y);
}

}  // namespace

void WinogradTransformKernel(const float* kernel, size_t out_channels, size_t in_channels,
                             float* u) {
  // U = G g G^T with G = [[1,0,0],[1/2,1/2,1/2],[1/2,-1/2,1/2],[0,0,1]], in double.
  static constexpr double kG[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
  for (size_t o = 0; o < out_channels; ++o) {
    for (size_t i = 0; i < in_channels; ++i) {
      double g[3][3];
      for (int ky = 0; ky < 3; ++ky) {
        for (int kx = 0; kx < 3; ++kx) g[ky][kx] = kernel[((o * 3 + ky) * 3 + kx) * in_channels + i];
      }
      double gg[4][3];  // G g
      for (int r = 0; r < 4; ++r) {
        for (int kx = 0; kx < 3; ++kx) {
          gg[r][kx] = kG[r][0] * g[0][kx] + kG[r][1] * g[1][kx] + kG[r][2] * g[2][kx];
        }
      }
      for (int r = 0; r < 4; ++r) {
        for (int col = 0; col < 4; ++col) {
          const double value =
              gg[r][0] * kG[col][0] + gg[r][1] * kG[col][1] + gg[r][2] * kG[col][2];
          u[((r * 4 + col) * out_channels + o) * in_channels + i] = static_cast<float>(value);
        }
      }
    }
  }
}

void WinogradTransformInput(const WinogradShape& s, const float* x, const float* zeros,
                            size_t first, size_t begin, size_t end, float* v) {
  const size_t tw = s.tiles_w(), n = s.in_channels;
  for (size_t t = begin; t < end; ++t) {
    const size_t ty = t / tw, tx = t % tw;
    const float* d[16];
    for (int i = 0; i < 4; ++i) {
      const ptrdiff_t y = static_cast<ptrdiff_t>(2 * ty + i) - static_cast<ptrdiff_t>(s.pad_top);
      for (int j = 0; j < 4; ++j) {
        const ptrdiff_t xx =
            static_cast<ptrdiff_t>(2 * tx + j) - static_cast<ptrdiff_t>(s.pad_left);
        const bool inside = y >= 0 && y < static_cast<ptrdiff_t>(s.in_h) && xx >= 0 &&
                            xx < static_cast<ptrdiff_t>(s.in_w);
        d[i * 4 + j] = inside ? x + (static_cast<size_t>(y) * s.in_w + static_cast<size_t>(xx)) *
                                        s.in_stride
                              : zeros;
      }
    }
    InputTile(d, n, n, v + (t - first) * kWinogradPoints * n);
  }
}

void WinogradTransformOutput(const WinogradShape& s, const float* m, size_t first,
                             const float* bias, float lo, float hi, size_t begin, size_t end,
                             float* y) {
  const size_t tw = s.tiles_w(), n = s.out_channels;
  constexpr size_t kChunk = 64;  // edge tiles: channels per pass through `spill`
  for (size_t t = begin; t < end; ++t) {
    const size_t ty = t / tw, tx = t % tw;
    float* out[4];
    bool whole = true;
    for (int i = 0; i < 2; ++i) {
      for (int j = 0; j < 2; ++j) {
        const size_t oy = 2 * ty + i, ox = 2 * tx + j;
        const bool inside = oy < s.out_h && ox < s.out_w;
        out[i * 2 + j] = inside ? y + (oy * s.out_w + ox) * s.out_stride : nullptr;
        whole = whole && inside;
      }
    }
    const float* mt = m + (t - first) * kWinogradPoints * n;
    if (whole) {
      OutputTile(mt, n, bias, lo, hi, n, out);
      continue;
    }
    // An edge tile of an odd-sized output: the pixels past the edge go to a
    // local buffer, a chunk of channels at a time.
    float spill[kChunk];
    for (size_t c = 0; c < n; c += kChunk) {
      float* chunk_out[4];
      for (int k = 0; k < 4; ++k) chunk_out[k] = out[k] ? out[k] + c : spill;
      OutputTile(mt + c, n, bias ? bias + c : nullptr, lo, hi, std::min(kChunk, n - c),
                 chunk_out);
    }
  }
}

}  // namespace edgevision::engine::xnnpack_internal
