// The tile walk shared by the engine's VNNI GEMM kernels (int8:
// engine/int8_gemm.h, int16: engine/int16_gemm.h): output pixels in tiles
// of kRows, output channels in blocks of 64 (4 vectors of 16 lanes, a
// narrower last block with fewer), each window read through pointers
// (conv_taps.h), and the tiles spread over a pthreadpool. A kernel supplies
// `template <int MR, int NV> static void Tile(const Args&, const TileRows<T>&,
// size_t channel, Y* y, __mmask16 last_mask)`.
//
// Thread-safety: pure functions; disjoint tiles may run on different threads.
#pragma once

#include <algorithm>
#include <cstddef>

#include <pthreadpool.h>

#include "engine/conv_taps.h"
#include "engine/int8_gemm.h"  // EV_Q8_GEMM_BUILT
#include "engine/x86_intrinsics.h"

namespace edgevision::engine::vnni_tiles {

inline constexpr size_t kTileRows = 6;       // output pixels per tile
inline constexpr size_t kTileChannels = 64;  // output channels per block
inline constexpr size_t kMaxTaps = 49;       // the largest kernel window (7x7)
// Pixel tiles per task: this many tasks per thread, as the float32 conv
// GEMM (one-tile tasks cost 10-25 % in pthreadpool's bookkeeping).
inline constexpr size_t kTasksPerThread = 4;

// Every tile of `args` (out_h * out_w pixels) through `tile(args, pixel,
// rows)`, on `pool` (nullptr: the calling thread).
template <typename Args, void (*TileFn)(const Args&, size_t, size_t)>
void RunTiles(const Args& args, pthreadpool_t pool) {
  const size_t pixels = args.out_h * args.out_w;
  const size_t tiles = (pixels + kTileRows - 1) / kTileRows;
  const size_t threads = pool ? pthreadpool_get_threads_count(pool) : 1;
  const size_t tasks = threads * kTasksPerThread;
  auto task = [](void* context, size_t first_tile, size_t count) {
    const auto& g = *static_cast<const Args*>(context);
    const size_t n = g.out_h * g.out_w;
    for (size_t p = first_tile * kTileRows; p < std::min(n, (first_tile + count) * kTileRows);
         p += kTileRows) {
      TileFn(g, p, std::min(kTileRows, n - p));
    }
  };
  pthreadpool_parallelize_1d_tile_1d(pool, task, const_cast<Args*>(&args), tiles,
                                     std::max<size_t>(1, (tiles + tasks - 1) / tasks), 0);
}

#if defined(EV_Q8_GEMM_BUILT)

// The A side of one tile: row r reads tap t from rows[t * row_step + r] +
// offsets[t] (interior tiles: one base pointer per row and the taps'
// offsets; border tiles: a pointer per tap and row).
template <typename T>
struct TileRows {
  const T* const* rows = nullptr;
  size_t row_step = 0;
  const ptrdiff_t* offsets = nullptr;  // [taps]
};

inline constexpr ptrdiff_t kNoOffsets[kMaxTaps] = {};

template <typename Kernel, int NV, typename Args, typename T, typename Y>
void Rows(size_t rows, const Args& g, const TileRows<T>& a, size_t channel, Y* y, __mmask16 mask) {
  switch (rows) {
    case 6: Kernel::template Tile<6, NV>(g, a, channel, y, mask); break;
    case 5: Kernel::template Tile<5, NV>(g, a, channel, y, mask); break;
    case 4: Kernel::template Tile<4, NV>(g, a, channel, y, mask); break;
    case 3: Kernel::template Tile<3, NV>(g, a, channel, y, mask); break;
    case 2: Kernel::template Tile<2, NV>(g, a, channel, y, mask); break;
    case 1: Kernel::template Tile<1, NV>(g, a, channel, y, mask); break;
    default: break;
  }
}

// Every channel block (n output channels) of the tile whose first output
// pixel is at `y`.
template <typename Kernel, typename Args, typename T, typename Y>
void Blocks(const Args& g, const TileRows<T>& a, size_t n, size_t rows, Y* y) {
  for (size_t channel = 0; channel < n; channel += kTileChannels) {
    const size_t width = std::min(kTileChannels, n - channel);
    const size_t vectors = (width + 15) / 16;
    const size_t tail = width - 16 * (vectors - 1);
    const auto mask = static_cast<__mmask16>(tail == 16 ? 0xFFFFu : (1u << tail) - 1);
    switch (vectors) {
      case 4: Rows<Kernel, 4>(rows, g, a, channel, y + channel, mask); break;
      case 3: Rows<Kernel, 3>(rows, g, a, channel, y + channel, mask); break;
      case 2: Rows<Kernel, 2>(rows, g, a, channel, y + channel, mask); break;
      default: Rows<Kernel, 1>(rows, g, a, channel, y + channel, mask); break;
    }
  }
}

// Output pixels [pixel, pixel + rows) of `g` (geometry as conv_taps.h, input
// g.x of T), n output channels, written from `y`; padding taps read `zeros`.
template <typename Kernel, typename Args, typename T, typename Y>
void ConvTile(const Args& g, size_t pixel, size_t rows, size_t n, const T* zeros, Y* y) {
  const T* pointers[kMaxTaps * kTileRows];
  if (InteriorWindows(g, pixel, rows, pointers)) {
    ptrdiff_t offsets[kMaxTaps];
    for (size_t kh = 0; kh < g.kernel_h; ++kh) {
      for (size_t kw = 0; kw < g.kernel_w; ++kw) {
        offsets[kh * g.kernel_w + kw] =
            static_cast<ptrdiff_t>((kh * g.dilation_h * g.in_w + kw * g.dilation_w) * g.in_stride);
      }
    }
    Blocks<Kernel>(g, TileRows<T>{pointers, 0, offsets}, n, rows, y);
    return;
  }
  WindowTaps(g, pixel, rows, zeros, kTileRows, pointers);
  Blocks<Kernel>(g, TileRows<T>{pointers, kTileRows, kNoOffsets}, n, rows, y);
}

#endif  // EV_Q8_GEMM_BUILT

}  // namespace edgevision::engine::vnni_tiles
