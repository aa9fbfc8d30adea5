// Winograd F(2x2, 3x3) with the products on our GEMM split between threads
// (kernel_calls.h, WinogradGemmCall): each slot its range of tiles, band by
// band. The split covers every tile once, and the layer gives the same bytes
// at 1, 2 and 3 threads. And the products on our GEMM against XNNPACK's own
// (its grouped 1x1 convolution, which our GEMM replaces for every Winograd
// layer on AVX-512): the same bytes.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/engine_test_util.h"
#include "engine/graph_check.h"
#include "engine/kernel_calls.h"
#include "engine/pointwise_gemm.h"
#include "engine/winograd.h"
#include "engine/xnnpack_ops.h"
#include "engine/xnnpack_program.h"
#include "engine/xnnpack_session.h"
#include "engine/xnnpack_weights.h"

namespace edgevision::engine {
namespace {

using graph::Shape;
using graph::ValueId;
using testing::GraphBuilder;
using xnnpack_internal::kWinogradPoints;
using xnnpack_internal::TileRange;
using xnnpack_internal::WinogradGemmCall;
using xnnpack_internal::WinogradShape;
using xnnpack_internal::WinogradSlotTiles;

TEST(WinogradGemmSplitTest, SlotsCoverEveryTileOnce) {
  for (size_t tiles : {1, 2, 7, 49, 196, 784, 785}) {
    for (size_t slots : {1, 2, 3, 4}) {
      std::vector<int> seen(tiles, 0);
      for (size_t s = 0; s < slots; ++s) {
        const TileRange r = WinogradSlotTiles(tiles, slots, s);
        ASSERT_LE(r.begin, r.end);
        ASSERT_LE(r.end, tiles);
        for (size_t t = r.begin; t < r.end; ++t) ++seen[t];
      }
      for (size_t t = 0; t < tiles; ++t) {
        EXPECT_EQ(seen[t], 1) << "tiles=" << tiles << " slots=" << slots << " tile=" << t;
      }
    }
  }
}

#if defined(EV_POINTWISE_GEMM_BUILT)  // our GEMM's products: built on x86-64
// One layer (odd output size: edge tiles), run slot by slot, each slot into
// its own NaN-filled output: every output pixel is written by exactly one
// slot, through bands of `band_tiles` (not dividing a slot's range), and
// the slots' pixels together equal one slot's run over all the tiles.
TEST(WinogradGemmSplitTest, EachSlotWritesItsOwnPixelsBandByBand) {
  if (!xnnpack_internal::PointwiseGemmAvailable()) GTEST_SKIP() << "no AVX-512F on this CPU: the kernel is not used";
  WinogradShape shape;
  shape.in_h = shape.out_h = 23;
  shape.in_w = shape.out_w = 17;
  shape.pad_top = shape.pad_left = 1;
  shape.in_channels = shape.in_stride = 16;
  shape.out_channels = shape.out_stride = 40;
  const size_t in = shape.in_channels, out = shape.out_channels;
  const std::vector<float> x = testing::RandomData(shape.in_h * shape.in_w * in, 5);
  const std::vector<float> kernel = testing::RandomData(out * 9 * in, 6);
  const std::vector<float> bias = testing::RandomData(out, 7);
  std::vector<float> u(kWinogradPoints * out * in);
  xnnpack_internal::WinogradTransformKernel(kernel.data(), out, in, u.data());
  std::vector<float> packed;
  size_t point_floats = 0;
  for (size_t k = 0; k < kWinogradPoints; ++k) {
    const std::vector<float> point = xnnpack_internal::PackPointwiseGemm(u.data() + k * out * in, nullptr, out, in);
    point_floats = point.size();
    packed.insert(packed.end(), point.begin(), point.end());
  }
  const std::vector<float> zeros(in, 0.0f);
  constexpr size_t kBandTiles = 7;  // 108 tiles: 2 slots of 7 x 7 + 5, 3 of 5 x 7 + 1
  const size_t slot_floats = kBandTiles * kWinogradPoints * (in + out);
  auto run = [&](size_t slots, size_t slot) {
    std::vector<float> scratch(slots * slot_floats);
    std::vector<float> y(shape.out_h * shape.out_w * out, std::numeric_limits<float>::quiet_NaN());
    WinogradGemmCall c;
    c.shape = &shape;
    c.x = x.data();
    c.zeros = zeros.data();
    c.packed = packed.data();
    c.point_floats = point_floats;
    c.bias = bias.data();
    c.lo = -std::numeric_limits<float>::infinity();
    c.hi = std::numeric_limits<float>::infinity();
    c.y = y.data();
    c.scratch = scratch.data();
    c.slot_floats = slot_floats;
    c.m_offset = kBandTiles * kWinogradPoints * in;
    c.band_tiles = kBandTiles;
    c.slots = slots;
    xnnpack_internal::RunWinogradGemmSlot(c, slot);
    return y;
  };
  const std::vector<float> whole = run(1, 0);
  for (float v : whole) ASSERT_FALSE(std::isnan(v)) << "one slot left a pixel unwritten";
  for (size_t slots : {2, 3}) {
    std::vector<std::vector<float>> parts;
    for (size_t s = 0; s < slots; ++s) parts.push_back(run(slots, s));
    for (size_t p = 0; p < shape.out_h * shape.out_w; ++p) {
      int writers = 0;
      for (const auto& part : parts) {
        if (std::isnan(part[p * out])) continue;
        ++writers;
        for (size_t c = 0; c < out; ++c) {
          ASSERT_EQ(part[p * out + c], whole[p * out + c]) << "slots=" << slots << " pixel=" << p;
        }
      }
      EXPECT_EQ(writers, 1) << "slots=" << slots << " pixel=" << p;
    }
  }
}
#endif  // EV_POINTWISE_GEMM_BUILT

// SqueezeNet's 56x56 expand 3x3 (16 -> 64, ReLU, 784 tiles in bands of 49)
// and an odd-sized one without bias, through the backend: the reference's
// answers, and the same bytes at 1, 2 and 3 threads.
TEST(WinogradGemmSplitTest, SameBytesAtOneTwoAndThreeThreads) {
  struct Case {
    std::string name;
    Shape input;
    int out_channels;
    bool bias;
  };
  for (const Case& c : {Case{"squeezenet_56x56", {1, 56, 56, 16}, 64, true},
                        Case{"odd_no_bias", {1, 29, 31, 24}, 48, false}}) {
    SCOPED_TRACE(c.name);
    GraphBuilder b(45);
    const ValueId x = b.Input(c.input);
    testing::ConvParams p = testing::SquareConv(1, 1, 0.0f);
    p.bias = c.bias;
    const graph::Graph g = b.Finish(b.Conv(x, c.out_channels, 3, 3, p));
    testing::ExpectMatchesReference(g, "winograd_gemm_threads/" + c.name);
    const bool available = xnnpack_internal::PointwiseGemmAvailable();
    for (int threads : {1, 2, 3}) {
      EXPECT_EQ(testing::PlanStats(g, false, threads).winograd_gemm_nodes, available ? 1 : 0);
    }
    const std::vector<float> input =
        testing::RandomData(static_cast<size_t>(graph::ShapeProduct(c.input)), 11, -1.0f, 1.0f);
    auto one = testing::RunOnce(*MakeXnnpackBackend(), g, input, 1);
    ASSERT_TRUE(one.ok()) << one.status().ToString();
    for (int threads : {2, 3}) {
      auto more = testing::RunOnce(*MakeXnnpackBackend(), g, input, threads);
      ASSERT_TRUE(more.ok()) << more.status().ToString();
      EXPECT_EQ(*more, *one) << "threads=" << threads;
    }
  }
}

#if defined(EV_POINTWISE_GEMM_BUILT)  // our GEMM's products: built on x86-64
// `g` planned with Winograd's products on our GEMM (`winograd_gemm`, as the
// backend plans it on AVX-512) or on XNNPACK (BuildProgram's test seam), run
// once on `input` at `threads`; `stats`: the plan's.
Result<std::vector<float>> RunWithWinogradProducts(const graph::Graph& g, const std::vector<float>& input,
                                                   int threads, bool winograd_gemm, XnnpackPlanStats* stats) {
  EV_RETURN_IF_ERROR(CheckExecutableGraph(g));
  EV_RETURN_IF_ERROR(xnnpack_internal::InitializeXnnpack());
  EV_ASSIGN_OR_RETURN(std::shared_ptr<xnnpack_internal::Program> program,
                      xnnpack_internal::BuildProgram(g, threads, /*xnnpack_only=*/false, winograd_gemm));
  *stats = program->stats;
  EV_ASSIGN_OR_RETURN(std::unique_ptr<Session> session,
                      xnnpack_internal::CreateXnnpackSession(
                          program, std::make_shared<xnnpack_internal::WeightRegistry>(g.nodes.size()), threads));
  std::vector<float> out(static_cast<size_t>(graph::ShapeProduct(g.values[g.outputs[0]].shape)));
  EV_RETURN_IF_ERROR(session->Run(input, out));
  return out;
}

// Winograd layers with XNNPACK's products (its grouped 1x1 convolution over
// the tiles, what runs where our GEMM does not) and with ours (what runs on
// AVX-512): the same transforms around them, and our GEMM sums each product
// in XNNPACK's order (WinogradStep::gemm_products), so the outputs are the
// same to the bit, at 1 and 2 threads. Shapes: SqueezeNet's 28x28 and 13x13
// expand layers (K = 32 and 64 products per sum), one with K = 256, an odd
// output (edge tiles) without bias, output channels not a multiple of 16, a
// ReLU6 clamp and no padding.
TEST(WinogradGemmTest, SameBytesAsXnnpacksProducts) {
  if (!xnnpack_internal::PointwiseGemmAvailable()) {
    GTEST_SKIP() << "no AVX-512F on this CPU: XNNPACK's products are the only ones";
  }
  struct Case {
    std::string name;
    Shape input;
    int out_channels;
    testing::ConvParams p;
  };
  const testing::ConvParams plain = testing::SquareConv(1, 1), relu = testing::SquareConv(1, 1, 0.0f);
  const testing::ConvParams relu6_no_pad = testing::SquareConv(1, 0, 0.0f, 6.0f);
  testing::ConvParams no_bias = plain;
  no_bias.bias = false;
  for (const Case& c : {Case{"squeezenet_28x28_32_to_128", {1, 28, 28, 32}, 128, relu},
                        Case{"squeezenet_13x13_64_to_256", {1, 13, 13, 64}, 256, relu},
                        Case{"k256_7x9_to_40", {1, 7, 9, 256}, 40, plain},
                        Case{"odd_15x11_48_to_24_no_bias", {1, 15, 11, 48}, 24, no_bias},
                        Case{"no_pad_relu6_12x17_32_to_72", {1, 12, 17, 32}, 72, relu6_no_pad}}) {
    SCOPED_TRACE(c.name);
    GraphBuilder b(71);
    const ValueId x = b.Input(c.input);
    const graph::Graph g = b.Finish(b.Conv(x, c.out_channels, 3, 3, c.p));
    const std::vector<float> input =
        testing::RandomData(static_cast<size_t>(graph::ShapeProduct(c.input)), 13, -1.0f, 1.0f);
    for (int threads : {1, 2}) {
      SCOPED_TRACE("threads=" + std::to_string(threads));
      XnnpackPlanStats xnnpack_stats, ours_stats;
      auto xnnpack = RunWithWinogradProducts(g, input, threads, false, &xnnpack_stats);
      ASSERT_TRUE(xnnpack.ok()) << xnnpack.status().ToString();
      auto ours = RunWithWinogradProducts(g, input, threads, true, &ours_stats);
      ASSERT_TRUE(ours.ok()) << ours.status().ToString();
      // Both ran the layer as Winograd, with the products where asked.
      EXPECT_EQ(xnnpack_stats.winograd_nodes, 1);
      EXPECT_EQ(xnnpack_stats.winograd_gemm_nodes, 0);
      EXPECT_EQ(ours_stats.winograd_gemm_nodes, 1);
      EXPECT_EQ(*ours, *xnnpack);
    }
  }
}
#endif  // EV_POINTWISE_GEMM_BUILT

}  // namespace
}  // namespace edgevision::engine
