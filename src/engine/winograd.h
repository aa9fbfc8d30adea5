// Internal to the XNNPACK backend: 3x3 stride-1 convolutions as Winograd
// F(2x2, 3x3).
//
// Each 2x2 block of output pixels (a tile) comes from a 4x4 input patch. The
// patch is transformed (V = B^T d B), the 3x3 kernels once at load
// (U = G g G^T), and the convolution becomes 16 independent products
// M_k = V_k U_k (k = one of the 4x4 transformed positions) followed by the
// output transform (Y = A^T M A). The 16 products are one grouped 1x1
// XNNPACK convolution over the tiles (groups = 16): 16 multiply-adds per tile
// and channel pair instead of 36, 2.25x fewer. The layouts here are those
// that convolution reads and writes:
//   V: [tiles][16][input channels]     (the tile is XNNPACK's pixel)
//   U: [16 * output channels][input channels]
//   M: [tiles][16][output channels]
// The arithmetic differs from a direct convolution only in rounding
// (a relative difference of a few float ulps times the kernel's size).
//
// Thread-safety: the functions are pure; disjoint tile ranges of one call
// may run on different threads.
#pragma once

#include <cstddef>

namespace edgevision::engine::xnnpack_internal {

inline constexpr size_t kWinogradPoints = 16;  // 4x4 transformed positions

struct WinogradShape {
  size_t in_h = 0, in_w = 0;    // input pixels
  size_t out_h = 0, out_w = 0;  // output pixels (in + pads - 2)
  size_t pad_top = 0, pad_left = 0;
  size_t in_channels = 0, out_channels = 0;
  size_t in_stride = 0, out_stride = 0;  // floats between pixels (>= channels)

  size_t tiles_h() const { return (out_h + 1) / 2; }
  size_t tiles_w() const { return (out_w + 1) / 2; }
  size_t tiles() const { return tiles_h() * tiles_w(); }
};

// kernel: [out_channels][3][3][in_channels] (the engine's OHWI layout).
// u: [16 * out_channels][in_channels].
void WinogradTransformKernel(const float* kernel, size_t out_channels, size_t in_channels,
                             float* u);

// Tiles [begin, end) of one image: x (NHWC rows of in_stride floats) -> v,
// which holds the tiles from `first` (<= begin) on. `zeros` holds at least
// in_channels zero floats (read for padding).
void WinogradTransformInput(const WinogradShape& s, const float* x, const float* zeros,
                            size_t first, size_t begin, size_t end, float* v);

// Tiles [begin, end): m (holding the tiles from `first` on) -> y (rows of
// out_stride floats), plus bias (may be null), clamped to [lo, hi]. Edge
// tiles of an odd-sized output write only the pixels inside it.
void WinogradTransformOutput(const WinogradShape& s, const float* m, size_t first,
                             const float* bias, float lo, float hi, size_t begin, size_t end,
                             float* y);

}  // namespace edgevision::engine::xnnpack_internal
