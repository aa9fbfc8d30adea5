#include "engine/inverted_residual.h"

#include <algorithm>

namespace edgevision::engine::xnnpack_internal {

namespace {

constexpr size_t kLineFloats = 16;  // scratch buffers start on a 64-byte line

size_t RoundToLine(size_t floats) {
  return (floats + kLineFloats - 1) / kLineFloats * kLineFloats;
}

// Every row of the GEMM, pixels outer: each tile of rows meets every block of
// weights while it is in L1.
void GemmAll(const PointwiseGemmArgs& g) { PointwiseGemmRows(g, /*pixels_outer=*/true, 0, g.m); }

// Expanded rows [row, row + count) into `out` (consecutive rows).
void ExpandRows(const InvertedResidualArgs& b, size_t row, size_t count, float* out) {
  const size_t width = b.depthwise.in_w;
  if (b.conv_stem) {  // the convolution's output rows
    for (size_t r = 0; r < count; ++r) ConvGemmRow(b.stem, row + r, out + r * width * b.stem.out.ldc);
    return;
  }
  PointwiseGemmArgs e = b.expansion;
  e.a = b.expansion.a + row * width * b.expansion.lda;
  e.m = count * width;
  e.out.c = out;
  e.out.ldc = b.depthwise.channels;
  GemmAll(e);
}

}  // namespace

size_t InvertedResidualRingRows(const DepthwiseArgs& d, size_t group_rows) {
  return std::min(d.in_h, (group_rows - 1) * d.stride_h + (d.kernel_h - 1) * d.dilation_h + 1);
}

size_t InvertedResidualScratchFloats(const InvertedResidualArgs& b) {
  const DepthwiseArgs& d = b.depthwise;
  const size_t ring = b.expand ? RoundToLine(b.ring_rows * d.in_w * d.channels) : 0;
  return ring + RoundToLine(b.group_rows * d.out_w * d.channels);
}

void InvertedResidualRows(const InvertedResidualArgs& b, size_t begin, size_t end,
                          float* scratch) {
  const size_t channels = b.depthwise.channels;
  DepthwiseArgs dw = b.depthwise;
  const size_t ring_floats = b.expand ? RoundToLine(b.ring_rows * dw.in_w * channels) : 0;
  float* ring = scratch;
  float* middle = scratch + ring_floats;
  if (b.expand) {
    dw.x = ring;
    dw.in_stride = channels;
    dw.x_ring_rows = b.ring_rows;
  }
  dw.y = middle;
  dw.out_stride = channels;
  const auto span_h = static_cast<ptrdiff_t>((dw.kernel_h - 1) * dw.dilation_h);
  size_t next = 0;  // the next expanded row to compute (or later)
  for (size_t first = begin; first < end; first += b.group_rows) {
    const size_t last = std::min(end, first + b.group_rows);
    if (b.expand) {  // the expanded rows [lo, hi) the group reads
      const ptrdiff_t top = static_cast<ptrdiff_t>(first * dw.stride_h) -
                            static_cast<ptrdiff_t>(dw.pad_top);
      const ptrdiff_t bottom = static_cast<ptrdiff_t>((last - 1) * dw.stride_h) -
                               static_cast<ptrdiff_t>(dw.pad_top) + span_h + 1;
      const size_t lo = static_cast<size_t>(std::max<ptrdiff_t>(top, 0));
      const size_t hi = std::min(dw.in_h, static_cast<size_t>(std::max<ptrdiff_t>(bottom, 0)));
      // Contiguous runs of ring slots, one GEMM each.
      for (size_t row = std::max(next, lo); row < hi;) {
        const size_t slot = row % b.ring_rows;
        const size_t count = std::min(hi - row, b.ring_rows - slot);
        ExpandRows(b, row, count, ring + slot * dw.in_w * channels);
        row += count;
      }
      next = std::max(next, hi);
    }
    dw.y_row0 = first;
    DepthwiseRows(dw, first, last);
    PointwiseGemmArgs p = b.projection;
    p.a = middle;
    p.lda = channels;
    p.m = (last - first) * dw.out_w;
    p.out.c += first * dw.out_w * p.out.ldc;
    if (p.out.residual) p.out.residual += first * dw.out_w * p.out.residual_stride;
    GemmAll(p);
  }
}

}  // namespace edgevision::engine::xnnpack_internal
