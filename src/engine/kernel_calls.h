// Internal to the XNNPACK backend: our kernels' work for one node, bound
// once per Session (buffers, geometry, thread split), and how it runs on the
// Session's thread pool (engine/xnnpack_session.cc).
//
// Thread-safety: a call is read-only while it runs; the Run functions split
// its work into disjoint ranges on the pool (null: the caller's thread).
#pragma once

#include <pthreadpool.h>

#include <cstddef>
#include <vector>

#include "engine/depthwise_conv.h"
#include "engine/inverted_residual.h"
#include "engine/pointwise_gemm.h"
#include "engine/winograd.h"

namespace edgevision::engine::xnnpack_internal {

// kPointwiseGemm: pixels outer (each tile of pixels meets every weight block
// while it is in L1) when the input is at least this large, else weight
// blocks outer (each block stays in L1 while the pixels stream past).
// Measured on MobileNet shapes: 12544 x 16 -> 64 1.13x XNNPACK pixels outer,
// 0.77x weights outer; 266 x 320 -> 1280 1.28x weights outer, 1.12x pixels
// outer.
inline constexpr size_t kGemmPixelsOuterBytes = 512 * 1024;

// A kPointwiseGemm node's work. With a thread pool the rows are split into
// runs of whole tiles, this many per thread; one row's output channels
// (a FullyConnected, a squeeze-excite 1x1) into runs of kGemmRowChannels.
inline constexpr size_t kPointwiseTasksPerThread = 4;

struct PointwiseGemmCall {
  PointwiseGemmArgs args;
  // Program::channel_parts: each part's args (its channels' packed weights,
  // n, output and residual columns), one task each; empty: split by rows.
  std::vector<PointwiseGemmArgs> parts;
  // ChannelParts::depthwise: per part, the depthwise layer on its channels
  // (every row), run after the part's GEMM in the same task; else empty.
  std::vector<DepthwiseArgs> depthwise_parts;
  bool pixels_outer = false;
  size_t rows_per_task = 0;  // a multiple of kGemmTileRows
  size_t threads = 1;
};

void RunPointwiseGemm(const PointwiseGemmCall& c, pthreadpool_t pool);

// A kConvGemm node's work. Without a fused pooling (pool.y null) the tasks
// are runs of output rows (ConvGemmRow); with one, bands of pooled rows, one per thread,
// each with its ring.
struct ConvGemmCall {
  ConvGemmArgs args;
  MaxPoolGeometry pool;
  float* rings = nullptr;
  size_t ring_floats = 0;
  size_t bands = 1;
};

void RunConvGemm(ConvGemmCall& c, pthreadpool_t pool);

// A kDepthwise node's work: runs of output rows.
struct DepthwiseCall {
  DepthwiseArgs args;
  size_t threads = 1;
};

void RunDepthwise(DepthwiseCall& c, pthreadpool_t pool);

// A kWinograd node with WinogradStep::gemm_products: the tiles split into
// `slots` ranges (WinogradSlotTiles), one task each, so the layer costs one
// fork-join; a task runs its range band by band (band_tiles tiles: the input
// transform into its slot's V, the 16 products M_k = V_k U_k on
// PointwiseGemmRows, the output transform from its M). V: rows of 16 x
// in_channels floats, position k's at k x in_channels; M likewise with
// out_channels; U_k packed at k x point_floats.
struct WinogradGemmCall {
  const WinogradShape* shape = nullptr;
  const float* x = nullptr;
  const float* zeros = nullptr;
  const float* packed = nullptr;  // position 0's block
  size_t point_floats = 0;
  const float* bias = nullptr;  // may be null
  float lo = 0, hi = 0;
  float* y = nullptr;
  float* scratch = nullptr;  // slot s's V at s * slot_floats, its M m_offset after it
  size_t slot_floats = 0;
  size_t m_offset = 0;
  size_t band_tiles = 0;
  size_t slots = 1;
};

// Tiles [begin, end) of slot `slot` of `slots`: nearly equal ranges that
// cover [0, tiles) once.
struct TileRange {
  size_t begin = 0, end = 0;
};
TileRange WinogradSlotTiles(size_t tiles, size_t slots, size_t slot);

// Slot `slot`'s range, band by band (a pool's task; also the test's view of
// the split: every tile's output is written by exactly one call).
void RunWinogradGemmSlot(const WinogradGemmCall& c, size_t slot);

void RunWinogradGemm(const WinogradGemmCall& c, pthreadpool_t pool);

// A kBlock node's work: one band of output rows per thread, each with its
// scratch (band_floats floats from scratch + band * band_floats).
struct BlockCall {
  InvertedResidualArgs args;
  float* scratch = nullptr;
  size_t band_floats = 0;
  size_t bands = 1;
};

void RunBlock(BlockCall& c, pthreadpool_t pool);

}  // namespace edgevision::engine::xnnpack_internal
