#include "engine/kernel_calls.h"

#include <algorithm>
#include <limits>

namespace edgevision::engine::xnnpack_internal {

namespace {

void PointwiseGemmTask(void* context, size_t task) {
  const auto& c = *static_cast<const PointwiseGemmCall*>(context);
  const size_t begin = task * c.rows_per_task;
  PointwiseGemmRows(c.args, c.pixels_outer, begin, std::min(c.args.m, begin + c.rows_per_task));
}

void PointwiseGemmPartTask(void* context, size_t part) {
  const auto& c = *static_cast<const PointwiseGemmCall*>(context);
  PointwiseGemmRows(c.parts[part], c.pixels_outer, 0, c.args.m);
  if (!c.depthwise_parts.empty()) {
    const DepthwiseArgs& d = c.depthwise_parts[part];
    DepthwiseRows(d, 0, d.out_h);
  }
}

// One row (a FullyConnected): a task per kGemmRowChannels output channels.
void PointwiseGemmChannelsTask(void* context, size_t task) {
  const auto& c = *static_cast<const PointwiseGemmCall*>(context);
  PointwiseGemmRow(c.args, 0, task * kGemmRowChannels, (task + 1) * kGemmRowChannels);
}

// Output rows per task: this many tasks per thread, as for the pointwise
// GEMM (one-tile tasks cost 10-25 % in pthreadpool's bookkeeping).
constexpr size_t kConvGemmTasksPerThread = 4;

void ConvGemmRowsTask(void* context, size_t first_row, size_t rows) {
  const auto& g = static_cast<const ConvGemmCall*>(context)->args;
  for (size_t oy = first_row; oy < std::min(g.out_h, first_row + rows); ++oy) {
    ConvGemmRow(g, oy, g.out.c + oy * g.out_w * g.out.ldc);
  }
}

void ConvGemmPoolTask(void* context, size_t band) {
  const auto& c = *static_cast<const ConvGemmCall*>(context);
  const size_t rows = c.pool.out_h;
  ConvGemmMaxPool(c.args, c.pool, band * rows / c.bands, (band + 1) * rows / c.bands,
                  c.rings + band * c.ring_floats);
}

// Depthwise output rows per task: this many tasks per thread (enough to even
// out rows of unequal cost: the border rows read the zeros pointer by
// pointer).
constexpr size_t kDepthwiseTasksPerThread = 4;

void DepthwiseRowsTask(void* context, size_t first_row, size_t rows) {
  const DepthwiseArgs& a = static_cast<const DepthwiseCall*>(context)->args;
  DepthwiseRows(a, first_row, std::min(a.out_h, first_row + rows));
}

void BlockTask(void* context, size_t band) {
  const auto& c = *static_cast<const BlockCall*>(context);
  const size_t rows = c.args.depthwise.out_h;
  InvertedResidualRows(c.args, band * rows / c.bands, (band + 1) * rows / c.bands,
                       c.scratch + band * c.band_floats);
}

void WinogradGemmSlotTask(void* context, size_t slot) {
  RunWinogradGemmSlot(*static_cast<const WinogradGemmCall*>(context), slot);
}

}  // namespace

TileRange WinogradSlotTiles(size_t tiles, size_t slots, size_t slot) {
  return {slot * tiles / slots, (slot + 1) * tiles / slots};
}

void RunWinogradGemmSlot(const WinogradGemmCall& c, size_t slot) {
  const TileRange range = WinogradSlotTiles(c.shape->tiles(), c.slots, slot);
  float* v = c.scratch + slot * c.slot_floats;
  float* m = v + c.m_offset;
  const size_t in = c.shape->in_channels, out = c.shape->out_channels;
  PointwiseGemmArgs a;  // position k's product: M_k = V_k U_k, no bias, no clamp
  a.k = in;
  a.n = out;
  a.lda = kWinogradPoints * in;
  a.out.ldc = kWinogradPoints * out;
  a.out.lo = -std::numeric_limits<float>::infinity();
  a.out.hi = std::numeric_limits<float>::infinity();
  for (size_t first = range.begin; first < range.end; first += c.band_tiles) {
    const size_t end = std::min(range.end, first + c.band_tiles);
    WinogradTransformInput(*c.shape, c.x, c.zeros, first, first, end, v);
    a.m = end - first;
    for (size_t k = 0; k < kWinogradPoints; ++k) {
      a.a = v + k * in;
      a.packed = c.packed + k * c.point_floats;
      a.out.c = m + k * out;
      PointwiseGemmRows(a, /*pixels_outer=*/true, 0, a.m);
    }
    WinogradTransformOutput(*c.shape, m, first, c.bias, c.lo, c.hi, first, end, c.y);
  }
}

void RunWinogradGemm(const WinogradGemmCall& c, pthreadpool_t pool) {
  if (c.slots <= 1) {
    RunWinogradGemmSlot(c, 0);
    return;
  }
  pthreadpool_parallelize_1d(pool, WinogradGemmSlotTask, const_cast<WinogradGemmCall*>(&c), c.slots, 0);
}

void RunPointwiseGemm(const PointwiseGemmCall& c, pthreadpool_t pool) {
  if (!c.parts.empty()) {  // (pthreadpool runs the tasks in order on a null pool)
    pthreadpool_parallelize_1d(pool, PointwiseGemmPartTask, const_cast<PointwiseGemmCall*>(&c), c.parts.size(), 0);
    return;
  }
  if (c.threads <= 1) {
    PointwiseGemmRows(c.args, c.pixels_outer, 0, c.args.m);
    return;
  }
  if (c.args.m == 1 && !c.args.a_scale) {  // one row: split its output channels
    pthreadpool_parallelize_1d(pool, PointwiseGemmChannelsTask, const_cast<PointwiseGemmCall*>(&c),
                               (c.args.n + kGemmRowChannels - 1) / kGemmRowChannels, 0);
    return;
  }
  pthreadpool_parallelize_1d(pool, PointwiseGemmTask, const_cast<PointwiseGemmCall*>(&c),
                             (c.args.m + c.rows_per_task - 1) / c.rows_per_task, 0);
}

void RunConvGemm(ConvGemmCall& c, pthreadpool_t pool) {
  if (c.pool.y) {
    pthreadpool_parallelize_1d(pool, ConvGemmPoolTask, &c, c.bands, 0);
    return;
  }
  const size_t tasks = c.bands * kConvGemmTasksPerThread;
  pthreadpool_parallelize_1d_tile_1d(pool, ConvGemmRowsTask, &c, c.args.out_h,
                                     std::max<size_t>(1, (c.args.out_h + tasks - 1) / tasks), 0);
}

void RunDepthwise(DepthwiseCall& c, pthreadpool_t pool) {
  const size_t tasks = c.threads * kDepthwiseTasksPerThread;
  pthreadpool_parallelize_1d_tile_1d(pool, DepthwiseRowsTask, &c, c.args.out_h,
                                     std::max<size_t>(1, (c.args.out_h + tasks - 1) / tasks), 0);
}

void RunBlock(BlockCall& c, pthreadpool_t pool) {
  if (c.bands == 1) {
    BlockTask(&c, 0);
    return;
  }
  pthreadpool_parallelize_1d(pool, BlockTask, &c, c.bands, 0);
}

}  // namespace edgevision::engine::xnnpack_internal
