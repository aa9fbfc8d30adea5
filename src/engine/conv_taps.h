// The implicit im2col shared by the engine's convolution GEMMs (float32:
// engine/pointwise_gemm.h ConvGemmTile; int8: engine/int8_gemm.h): each
// output pixel of a tile reads its kernel window through pointers, with no
// copy. `Args` is the kernel's argument struct; it has the geometry fields
// below (sizes in elements; in_stride: elements between input pixels) and
// `x`, the input.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>

#include "graph/graph.h"

namespace edgevision::engine {

// Sets a batch-1 NHWC Conv2D node's geometry fields in `args` (the conv GEMM's,
// the depthwise kernel's, the int8 VNNI kernel's): in_h, in_w,
// out_h, out_w, kernel_h, kernel_w, stride_h/w, dilation_h/w, pad_top,
// pad_left.
template <typename Args>
void SetWindowGeometry(const graph::Graph& g, const graph::Node& node, Args* args) {
  const graph::Shape& xs = g.values[node.inputs[0]].shape;
  const graph::Shape& ws = g.values[node.inputs[1]].shape;
  const graph::Shape& ys = g.values[node.outputs[0]].shape;
  const graph::Attrs& a = node.attrs;
  args->in_h = static_cast<size_t>(xs[1]);
  args->in_w = static_cast<size_t>(xs[2]);
  args->out_h = static_cast<size_t>(ys[1]);
  args->out_w = static_cast<size_t>(ys[2]);
  args->kernel_h = static_cast<size_t>(ws[1]);
  args->kernel_w = static_cast<size_t>(ws[2]);
  args->stride_h = static_cast<size_t>(a.stride_h);
  args->stride_w = static_cast<size_t>(a.stride_w);
  args->dilation_h = static_cast<size_t>(a.dilation_h);
  args->dilation_w = static_cast<size_t>(a.dilation_w);
  args->pad_top = static_cast<size_t>(a.pad_top);
  args->pad_left = static_cast<size_t>(a.pad_left);
}

// Output pixels [pixel, pixel + rows) in row-major order. If every window
// lies inside the input, sets rows[r] to each window's top-left input pixel
// and returns true (the taps are then fixed offsets from it).
template <typename Args, typename T>
bool InteriorWindows(const Args& g, size_t pixel, size_t rows, const T** row_pointers) {
  const auto span_h = static_cast<ptrdiff_t>((g.kernel_h - 1) * g.dilation_h);
  const auto span_w = static_cast<ptrdiff_t>((g.kernel_w - 1) * g.dilation_w);
  size_t oy = pixel / g.out_w, ox = pixel % g.out_w;
  for (size_t r = 0; r < rows; ++r) {
    const auto iy = static_cast<ptrdiff_t>(oy * g.stride_h) - static_cast<ptrdiff_t>(g.pad_top);
    const auto ix = static_cast<ptrdiff_t>(ox * g.stride_w) - static_cast<ptrdiff_t>(g.pad_left);
    if (iy < 0 || ix < 0 || iy + span_h >= static_cast<ptrdiff_t>(g.in_h) ||
        ix + span_w >= static_cast<ptrdiff_t>(g.in_w)) {
      return false;
    }
    row_pointers[r] = g.x + (static_cast<size_t>(iy) * g.in_w + static_cast<size_t>(ix)) * g.in_stride;
    if (++ox == g.out_w) {
      ox = 0;
      ++oy;
    }
  }
  return true;
}

// The same pixels, one pointer per tap and row: pointers[tap * row_step + r],
// `zeros` for taps in the padding.
template <typename Args, typename T>
void WindowTaps(const Args& g, size_t pixel, size_t rows, const T* zeros, size_t row_step,
                const T** pointers) {
  for (size_t r = 0; r < rows; ++r) {
    const size_t oy = (pixel + r) / g.out_w, ox = (pixel + r) % g.out_w;
    for (size_t kh = 0; kh < g.kernel_h; ++kh) {
      const auto iy = static_cast<ptrdiff_t>(oy * g.stride_h + kh * g.dilation_h) -
                      static_cast<ptrdiff_t>(g.pad_top);
      for (size_t kw = 0; kw < g.kernel_w; ++kw) {
        const auto ix = static_cast<ptrdiff_t>(ox * g.stride_w + kw * g.dilation_w) -
                        static_cast<ptrdiff_t>(g.pad_left);
        const bool inside = iy >= 0 && iy < static_cast<ptrdiff_t>(g.in_h) && ix >= 0 &&
                            ix < static_cast<ptrdiff_t>(g.in_w);
        pointers[(kh * g.kernel_w + kw) * row_step + r] =
            inside ? g.x + (static_cast<size_t>(iy) * g.in_w + static_cast<size_t>(ix)) * g.in_stride
                   : zeros;
      }
    }
  }
}

}  // namespace edgevision::engine
