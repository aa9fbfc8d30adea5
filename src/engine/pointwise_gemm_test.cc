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
using xnnpack_internal::ConvGemmArgs;
using xnnpack_internal::ConvGemmRow;
using xnnpack_internal::ConvGemmTile;
using xnnpack_internal::GemmOutput;
using xnnpack_internal::kGemmNarrowTileRows;
using xnnpack_internal::kGemmTileChannels;
using xnnpack_internal::kGemmTileRows;
using xnnpack_internal::PackPointwiseGemm;
using xnnpack_internal::PointwiseGemmArgs;
using xnnpack_internal::PointwiseGemmAvailable;
using xnnpack_internal::PointwiseGemmRows;
using xnnpack_internal::PointwiseGemmScaledTile;
using xnnpack_internal::PointwiseGemmTile;

// The kernel's own tests: built where it is (x86-64).
#if defined(EV_POINTWISE_GEMM_BUILT)

struct GemmCase {
  size_t m, k, n;
  bool residual, hardswish;
};

// The epilogue of every case here: a clamp to [-1.5, 2.5], then with
// `residual` (rows of ldc floats) its Add clamped to [-2, 3], or HardSwish.
GemmOutput TestOutput(size_t ldc, const float* residual, bool hardswish) {
  GemmOutput o;
  o.ldc = ldc;
  o.lo = -1.5f;
  o.hi = 2.5f;
  if (residual) {
    o.residual = residual;
    o.residual_stride = ldc;
    o.add_lo = -2.0f;
    o.add_hi = 3.0f;
  }
  o.hardswish = hardswish;
  return o;
}

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
  g.out = TestOutput(c.n, c.residual ? residual.data() : nullptr, c.hardswish);
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
  // 8 (one vector, not shared: the second row's lanes would start before it),
  // 144, 44, 41 and 240 (a last block of 16, 12, 9 and 16 lanes, with the
  // block before it in three vectors).
  const std::vector<GemmCase> cases = {
      {49, 160, 96, false, false}, {25, 24, 24, true, false},  {9, 16, 40, false, true},
      {143, 33, 200, true, true},  {2, 8, 17, false, false},   {64, 3, 16, false, false},
      {12, 96, 8, true, false},    {16, 1, 64, false, true},   {56, 144, 24, true, false},
      {21, 40, 20, true, true},    {33, 7, 36, true, false},   {7, 5, 56, false, false},
      // A narrow last block of 16, 12 and 9 lanes after full ones (TripleTile).
      {50, 24, 144, true, false},  {19, 16, 44, false, true},  {9, 33, 41, true, true},
      {13, 160, 240, false, false},
  };
  for (const GemmCase& c : cases) {
    ExpectRowsEqualTiles(c, 0, c.m);
    if (c.m > 10) ExpectRowsEqualTiles(c, 3, c.m - 2);  // a thread's range inside the rows
    if (c.m > 1) ExpectRowsEqualTiles(c, 0, c.m, /*scaled=*/true);
  }
}

// At most 16 output channels (one vector per row): tiles of up to
// kGemmNarrowTileRows rows, every height from 16 down to 9 and the 8-row
// ones below, whole or in a thread's range, with the epilogues.
TEST(PointwiseGemmTest, NarrowOutputsInTallTilesEqualTileByTile) {
  if (!PointwiseGemmAvailable()) GTEST_SKIP() << "no AVX-512F on this CPU: the kernel is not used";
  static_assert(kGemmNarrowTileRows == 16);
  // 112 rows: 7 x 16 (MobileNetV2's 112x112 32 -> 16 projection, per row);
  // 113: 8 x 15 - 7 (one 15, seven 14); 31: 16 + 15; 9..13: one tile;
  // 3: below 8 rows.
  const std::vector<GemmCase> cases = {
      {112, 32, 16, false, false}, {113, 24, 16, true, false}, {31, 16, 5, false, true},
      {9, 7, 16, true, true},      {10, 32, 1, false, false},  {11, 3, 11, true, false},
      {12, 64, 16, false, false},  {13, 40, 15, false, true},  {3, 16, 16, true, false},
      {50, 96, 8, true, true},
  };
  for (const GemmCase& c : cases) {
    ExpectRowsEqualTiles(c, 0, c.m);
    if (c.m > 10) ExpectRowsEqualTiles(c, 3, c.m - 2);  // a thread's range inside the rows
  }
}

struct ConvCase {
  size_t in_h, in_w, in_channels, in_stride, out_channels, kernel, stride, dilation, pad;
  bool residual, hardswish;
};

// Every output row through ConvGemmRow equals the same pixels through
// ConvGemmTile, 8 at a time: the interior in tiles of nearly equal width
// (RowWindowBlocks over several tiles), the border through the windows'
// pointers.
TEST(PointwiseGemmTest, ConvRowsEqualTileByTile) {
  if (!PointwiseGemmAvailable()) GTEST_SKIP() << "no AVX-512F on this CPU: the kernel is not used";
  const std::vector<ConvCase> cases = {
      {224, 224, 3, 3, 32, 3, 2, 1, 1, false, false},  // MobileNetV2's stem: 112 = 1 + 13 x 8 + 7
      {41, 37, 3, 3, 24, 3, 2, 1, 0, true, false},     // no padding: every column inside, 18 = 9 + 9
      {30, 61, 5, 8, 40, 5, 1, 1, 2, false, true},     // strided input (taps of 5 channels), 2 border columns
      {20, 45, 4, 4, 16, 3, 1, 2, 2, true, true},      // dilation 2
      {12, 9, 3, 3, 8, 3, 1, 1, 1, false, false},      // 7 interior columns: all through the tiles
      {9, 50, 2, 2, 33, 7, 2, 1, 3, true, false},      // 7x7 stride 2, a tail channel
  };
  for (const ConvCase& c : cases) {
    SCOPED_TRACE(std::to_string(c.in_h) + "x" + std::to_string(c.in_w) + "x" + std::to_string(c.in_channels) +
                 " k" + std::to_string(c.kernel) + " s" + std::to_string(c.stride) + " d" +
                 std::to_string(c.dilation) + " p" + std::to_string(c.pad));
    ConvGemmArgs g;
    g.in_h = c.in_h;
    g.in_w = c.in_w;
    g.in_channels = c.in_channels;
    g.in_stride = c.in_stride;
    g.kernel_h = g.kernel_w = c.kernel;
    g.stride_h = g.stride_w = c.stride;
    g.dilation_h = g.dilation_w = c.dilation;
    g.pad_top = g.pad_left = c.pad;
    const size_t span = (c.kernel - 1) * c.dilation + 1;
    g.out_h = (c.in_h + 2 * c.pad - span) / c.stride + 1;
    g.out_w = (c.in_w + 2 * c.pad - span) / c.stride + 1;
    g.out_channels = c.out_channels;
    const size_t k = c.kernel * c.kernel * c.in_channels, pixels = g.out_h * g.out_w;
    const std::vector<float> x = testing::RandomData(c.in_h * c.in_w * c.in_stride, 3, -2.0f, 2.0f);
    const std::vector<float> w = testing::RandomData(c.out_channels * k, 4, -1.0f, 1.0f);
    const std::vector<float> bias = testing::RandomData(c.out_channels, 5, -1.0f, 1.0f);
    const std::vector<float> residual = testing::RandomData(pixels * c.out_channels, 6, -3.0f, 3.0f);
    const std::vector<float> zeros(c.in_channels, 0.0f);
    const std::vector<float> packed = PackPointwiseGemm(w.data(), bias.data(), c.out_channels, k);
    g.x = x.data();
    g.zeros = zeros.data();
    g.packed = packed.data();
    g.out = TestOutput(c.out_channels, c.residual ? residual.data() : nullptr, c.hardswish);
    constexpr float kUntouched = 1234.5f;
    std::vector<float> tiles(pixels * c.out_channels, kUntouched), rows = tiles;
    for (size_t p = 0; p < pixels; p += kGemmTileRows) {
      ConvGemmTile(g, p, std::min(kGemmTileRows, pixels - p), tiles.data() + p * c.out_channels);
    }
    for (size_t oy = 0; oy < g.out_h; ++oy) ConvGemmRow(g, oy, rows.data() + oy * g.out_w * c.out_channels);
    size_t untouched = 0;
    for (float v : rows) untouched += v == kUntouched ? 1 : 0;
    EXPECT_EQ(untouched, 0u);
    EXPECT_EQ(rows, tiles);
  }
}

#endif  // EV_POINTWISE_GEMM_BUILT

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
      {{1, 64, 64, 32}, 48},  // 512 KB of input: pixels outer at one thread; a last block of 16
      {{1, 6, 5, 24}, 144},   // 30 rows: 8, 8, 7, 7; a last block of 16 (three-vector tiles)
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
