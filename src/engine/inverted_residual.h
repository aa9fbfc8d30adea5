// Internal to the XNNPACK backend: an inverted-residual block (MobileNetV2's)
// computed in row bands on our AVX-512 kernels, so that its wide middle
// tensors never go to memory whole:
//
//   expansion 1x1 (PointwiseGemmTile; optional) or a dense convolution
//   (ConvGemmTile: the network's stem, e.g. MobileNetV2's 3x3 stride-2
//   first layer) -> depthwise 3x3/5x5 (DepthwiseRows) -> projection 1x1
//   (PointwiseGemmTile, with its fused residual Add or HardSwish, if any)
//
// At high resolution these layers are memory-bound: MobileNetV2's
// 112x112x16 -> 96 expansion writes a 4.8 MB tensor that the depthwise layer
// reads back (the compact detector's 224x304 one: 26 MB), and the depthwise
// output is read again by the projection; the stem's output before a
// block without expansion is the same kind of tensor (112x112x32, 1.6 MB;
// the detector's 224x304x32, 8.7 MB). Here each band of output rows
// keeps the expanded rows it reads in a ring of `ring_rows` rows and the
// depthwise rows of one group in a second buffer, both in the calling
// thread's scratch (a few hundred KB: the core's L2).
//
// Every value is computed by the same kernels with the same arithmetic as
// the unfused layers (the expanded rows at a band's edge are computed by
// both bands, with the same values): the block's output is bit-identical to
// the unfused path's, which is bit-identical to XNNPACK's.
//
// Thread-safety: InvertedResidualRows is pure apart from its scratch;
// disjoint output row ranges with their own scratch may run on different
// threads.
#pragma once

#include <cstddef>

#include "engine/depthwise_conv.h"
#include "engine/pointwise_gemm.h"

namespace edgevision::engine::xnnpack_internal {

struct InvertedResidualArgs {
  // The expansion: a, lda (the block input), k, n (expanded channels),
  // packed, out.lo/hi/hardswish; m and out.c/ldc are set per row. Unused
  // when `expand` is false (the depthwise layer then reads depthwise.x).
  bool expand = false;
  PointwiseGemmArgs expansion;
  // With `expand`: the first layer is instead the convolution `stem`
  // (everything but out.c, which is unused; out.ldc: depthwise.channels).
  bool conv_stem = false;
  ConvGemmArgs stem;
  // The depthwise layer's geometry over the whole tensors, packed weights,
  // zeros, clamp, hardswish; with `expand`, x/in_stride/x_ring_rows are set
  // to the ring; y/out_stride/y_row0 are set per group.
  DepthwiseArgs depthwise;
  // The projection: k, n, packed, out (c and residual: the whole output);
  // a, lda and m are set per group.
  PointwiseGemmArgs projection;
  size_t group_rows = 1;  // depthwise output rows per group
  size_t ring_rows = 0;   // expanded rows the ring holds (RingRows)
};

// The ring a group of `group_rows` output rows needs: the expanded rows its
// windows span.
size_t InvertedResidualRingRows(const DepthwiseArgs& depthwise, size_t group_rows);

// Floats of scratch one band needs (ring, then the group's depthwise rows,
// each starting on a cache line).
size_t InvertedResidualScratchFloats(const InvertedResidualArgs& args);

// Output rows [begin, end) of the block, every pixel and channel.
void InvertedResidualRows(const InvertedResidualArgs& args, size_t begin, size_t end,
                          float* scratch);

}  // namespace edgevision::engine::xnnpack_internal
