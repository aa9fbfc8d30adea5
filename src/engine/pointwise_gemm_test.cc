// PointwiseGemmRows (tiles of nearly equal height, inlined in one loop) next
// to PointwiseGemmTile (one call per tile of 8 rows) and to XNNPACK alone:
// the same products in the same order per output, so equal bit for bit.
#include "engine/pointwise_gemm.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/engine_test_util.h"

namespace edgevision::engine {
namespace {

using graph::Shape;
using graph::ValueId;
using testing::ConvParams;
using testing::GraphBuilder;
using xnnpack_internal::GemmOutput;
using xnnpack_internal::kGemmTileChannels;
using xnnpack_internal::kGemmTileRows;
using xnnpack_internal::PackPointwiseGemm;
using xnnpack_internal::PointwiseGemmArgs;
using xnnpack_internal::PointwiseGemmAvailable;
using xnnpack_internal::PointwiseGemmRows;
using xnnpack_internal::PointwiseGemmScaledTile;
using xnnpack_internal::PointwiseGemmTile;

struct GemmCase {
  size_t m, k, n;
  bool residual, hardswish;
};

// Rows [begin, end) through PointwiseGemmRows (both loop orders) and tile by
// tile through PointwiseGemmTile (with `scaled`, the input first multiplied
// by per-channel factors: PointwiseGemmScaledTile); rows outside the range
// stay untouched.
void ExpectRowsEqualTiles(const GemmCase& c, size_t begin, size_t end, bool scaled = false) {
  SCOPED_TRACE("m=" + std::to_string(c.m) + " k=" + std::to_string(c.k) + " n=" + std::to_string(c.n) +
               " rows " + std::to_string(begin) + "-" + std::to_string(end) +
               (c.residual ? " residual" : "") + (c.hardswish ? " hardswish" : "") + (scaled ? " scaled" : ""));
  const std::vector<float> a = testing::RandomData(c.m * c.k, 3, -2.0f, 2.0f);
  const std::vector<float> w = testing::RandomData(c.n * c.k, 4, -1.0f, 1.0f);
  const std::vector<float> bias = testing::RandomData(c.n, 5, -1.0f, 1.0f);
  const std::vector<float> residual = testing::RandomData(c.m * c.n, 6, -3.0f, 3.0f);
  const std::vector<float> scale = testing::RandomData(c.k, 8, 0.0f, 1.0f);
  const std::vector<float> packed = PackPointwiseGemm(w.data(), bias.data(), c.n, c.k);
  PointwiseGemmArgs g;
  g.m = c.m;
  g.k = c.k;
  g.n = c.n;
  g.a = a.data();
  g.lda = c.k;
  g.packed = packed.data();
  g.out.ldc = c.n;
  g.out.lo = -1.5f;
  g.out.hi = 2.5f;
  if (c.residual) {
    g.out.residual = residual.data();
    g.out.residual_stride = c.n;
    g.out.add_lo = -2.0f;
    g.out.add_hi = 3.0f;
  }
  g.out.hardswish = c.hardswish;
  if (scaled) g.a_scale = scale.data();
  constexpr float kUntouched = 1234.5f;
  std::vector<float> tiles(c.m * c.n, kUntouched);
  g.out.c = tiles.data();
  for (size_t r = begin; r < end; r += kGemmTileRows) {
    if (scaled) {
      PointwiseGemmScaledTile(g, r, std::min(kGemmTileRows, end - r));
      continue;
    }
    for (size_t ch = 0; ch < c.n; ch += kGemmTileChannels) {
      PointwiseGemmTile(g, r, std::min(kGemmTileRows, end - r), ch);
    }
  }
  for (bool pixels_outer : {true, false}) {
    std::vector<float> rows(c.m * c.n, kUntouched);
    g.out.c = rows.data();
    PointwiseGemmRows(g, pixels_outer, begin, end);
    EXPECT_EQ(rows, tiles) << "pixels_outer=" << pixels_outer;
  }
  size_t computed = 0;
  for (float v : tiles) computed += v != kUntouched ? 1 : 0;
  EXPECT_EQ(computed, (end - begin) * c.n);
}

TEST(PointwiseGemmTest, RowsInEqualTilesEqualTileByTile) {
  if (!PointwiseGemmAvailable()) GTEST_SKIP() << "no AVX-512F on this CPU: the kernel is not used";
  // Heights: 49 rows = 7 x 7, 25 = 7 + 3 x 6, 9 = 5 + 4, 143 = 17 x 8 + 7,
  // 2 = one tile of 2, odd ones (an unpaired row in PairedTile); widths:
  // full blocks, 24, 20 and 17 (a last vector of 8, 4 and 1 lanes shared by
  // two rows), 40, 36, 56 and 200 (a last block of 8, 4, 24 and 8), 16 and
  // 8 (one vector, not shared: the second row's lanes would start before it).
  const std::vector<GemmCase> cases = {
      {49, 160, 96, false, false}, {25, 24, 24, true, false},  {9, 16, 40, false, true},
      {143, 33, 200, true, true},  {2, 8, 17, false, false},   {64, 3, 16, false, false},
      {12, 96, 8, true, false},    {16, 1, 64, false, true},   {56, 144, 24, true, false},
      {21, 40, 20, true, true},    {33, 7, 36, true, false},   {7, 5, 56, false, false},
  };
  for (const GemmCase& c : cases) {
    ExpectRowsEqualTiles(c, 0, c.m);
    if (c.m > 10) ExpectRowsEqualTiles(c, 3, c.m - 2);  // a thread's range inside the rows
    if (c.m > 1) ExpectRowsEqualTiles(c, 0, c.m, /*scaled=*/true);
  }
}

// 1x1 convolutions whose row counts give tiles of every height from 8 down to
// 4 and whose widths end mid-vector, on our GEMM at 1-3 threads, equal
// XNNPACK alone.
TEST(PointwiseGemmTest, TileHeightsAndChannelTailsEqualXnnpack) {
  const bool available = PointwiseGemmAvailable();
  struct Case {
    Shape input;
    int out_channels;
  };
  const std::vector<Case> cases = {
      {{1, 7, 7, 40}, 96},    // 49 rows: 7 tiles of 7
      {{1, 5, 5, 24}, 24},    // 25 rows: 7, 6, 6, 6; the last 8 channels of two rows in one vector
      {{1, 4, 7, 12}, 36},    // 28 rows: 7 x 4; a last block of 4 channels, shared
      {{1, 3, 3, 16}, 40},    // 9 rows: 5 + 4
      {{1, 13, 11, 33}, 200}, // 143 rows: 17 x 8 + 7; a tail of 8 channels
      {{1, 64, 64, 32}, 48},  // 512 KB of input: pixels outer at one thread
  };
  ConvParams relu6;
  relu6.act_min = 0.0f;
  relu6.act_max = 6.0f;
  for (const Case& c : cases) {
    SCOPED_TRACE(std::to_string(c.input[1]) + "x" + std::to_string(c.input[2]) + "x" +
                 std::to_string(c.input[3]) + " -> " + std::to_string(c.out_channels));
    GraphBuilder b(21);
    const ValueId x = b.Input(c.input);
    const graph::Graph g = b.Finish(b.Conv(x, c.out_channels, 1, 1, relu6));
    EXPECT_EQ(testing::PlanStats(g).pointwise_gemm_nodes, available ? 1 : 0);
    testing::ExpectEqualsXnnpackOnly(g, 9);
  }
}

}  // namespace
}  // namespace edgevision::engine
