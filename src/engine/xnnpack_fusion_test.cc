// The XNNPACK backend's fusions into our kernels against the reference
// kernels and XNNPACK alone (EngineOptions::xnnpack_only): GEMM epilogues
// (HardSwish, residual Add), squeeze-excite input scales, one-pixel GEMMs,
// convolution + max pooling in row bands and in the conv GEMM. Random data,
// fixed seeds, 1-3 threads.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "engine/engine_test_util.h"
#include "engine/pointwise_gemm.h"
#include "engine/xnnpack_backend.h"

namespace edgevision::engine {
namespace {

using graph::Op;
using graph::Shape;
using graph::ValueId;
using testing::ConvParams;
using testing::ExpectEqualsXnnpackOnly;
using testing::ExpectMatchesReference;
using testing::GraphBuilder;
using testing::GroupedConv;
using testing::PlanStats;
using testing::PoolParams;
using testing::SquarePool;

// A graph in which the planner should fuse `fused` ops into our kernels
// (counted by one XnnpackPlanStats field), on 1 and 2 threads.
struct FusionCase {
  std::string name;
  std::function<ValueId(GraphBuilder&, ValueId)> build;
  Shape input;
  int fused;  // expected count, with the kernels
};

// Each case: the count with our kernels (none with xnnpack_only), the
// outputs equal xnnpack_only's at 1-3 threads and match the reference.
void ExpectFusions(const std::vector<FusionCase>& cases, int XnnpackPlanStats::*count,
                   uint32_t seed, const std::string& label) {
  const bool available = xnnpack_internal::PointwiseGemmAvailable();
  for (const FusionCase& c : cases) {
    SCOPED_TRACE(c.name);
    GraphBuilder b(seed);
    const ValueId x = b.Input(c.input);
    const graph::Graph g = b.Finish(c.build(b, x));
    EXPECT_EQ(PlanStats(g).*count, available ? c.fused : 0);
    EXPECT_EQ(PlanStats(g, false, 2).*count, available ? c.fused : 0);
    EXPECT_EQ(PlanStats(g, /*xnnpack_only=*/true).*count, 0);
    ExpectEqualsXnnpackOnly(g, seed);
    ExpectMatchesReference(g, label + "/" + c.name);
  }
}

// A HardSwish or residual Add that alone reads a convolution on our GEMM is
// computed in its epilogue with XNNPACK's arithmetic: the outputs equal
// EngineOptions::xnnpack_only's at 1, 2 and 3 threads (with threads, a 1x1
// convolution goes to the pointwise GEMM only when it has such an epilogue).
TEST(XnnpackOpTest, GemmEpilogueFusionEqualsXnnpack) {
  ConvParams relu6 = GroupedConv(1, 0);
  relu6.act_min = 0.0f;
  relu6.act_max = 6.0f;
  const std::vector<FusionCase> cases = {
      {"pointwise_add_residual",
       [](GraphBuilder& b, ValueId x) { return b.Binary(Op::kAdd, b.Conv(x, 24, 1, 1), x); },
       {1, 13, 11, 24}, 1},
      {"pointwise_add_residual_first_clamped",
       [&](GraphBuilder& b, ValueId x) {
         return b.Binary(Op::kAdd, x, b.Conv(x, 40, 1, 1, relu6), -1.0f, 4.0f);
       },
       {1, 7, 9, 40}, 1},
      {"pointwise_hardswish",
       [](GraphBuilder& b, ValueId x) { return b.Unary(Op::kHardSwish, b.Conv(x, 72, 1, 1)); },
       {1, 6, 7, 20}, 1},
      {"first_layer_stride2_hardswish",
       [](GraphBuilder& b, ValueId x) {
         return b.Unary(Op::kHardSwish, b.Conv(x, 16, 3, 3, GroupedConv(2, 1)));
       },
       {1, 33, 31, 3}, 1},
      {"conv_gemm_add_residual",
       [](GraphBuilder& b, ValueId x) { return b.Binary(Op::kAdd, b.Conv(x, 12, 3, 3, GroupedConv(1, 1)), x); },
       {1, 12, 10, 12}, 1},  // < kWinogradGemmMinInputChannels: on the conv GEMM
      {"residual_computed_after_the_conv_not_fused",
       [](GraphBuilder& b, ValueId x) {
         const ValueId y = b.Conv(x, 24, 1, 1);
         return b.Binary(Op::kAdd, y, b.Unary(Op::kRelu, x));
       },
       {1, 5, 6, 24}, 0},
      {"conv_read_twice_not_fused",
       [](GraphBuilder& b, ValueId x) {
         const ValueId y = b.Conv(x, 24, 1, 1);
         return b.Binary(Op::kAdd, b.Unary(Op::kHardSwish, y), y);
       },
       {1, 5, 6, 24}, 0},
  };
  ExpectFusions(cases, &XnnpackPlanStats::fused_epilogues, 45, "GemmEpilogue");
}

// MobileNetV3's squeeze-excite: the Mul of a tensor by its channels' factors
// that only a 1x1 convolution reads is computed in that convolution's input
// read (each product rounded as XNNPACK's Mul rounds it): the outputs equal
// EngineOptions::xnnpack_only's at 1, 2 and 3 threads, with a residual Add
// or HardSwish fused too, either operand order, a strided input, channel
// tails; a Mul read twice, by a 3x3 convolution or by a constant stays.
TEST(XnnpackOpTest, SqueezeExciteMulInTheGemmInputEqualsXnnpack) {
  ConvParams relu = GroupedConv(1, 0);
  relu.act_min = 0.0f;
  ConvParams sigmoid01 = GroupedConv(1, 0);
  sigmoid01.act_min = 0.0f;
  sigmoid01.act_max = 1.0f;
  // GlobalAvgPool -> 1x1 -> ReLU -> 1x1 -> [0, 1]: the factors of x.
  auto factors = [=](GraphBuilder& b, ValueId x, int c) {
    return b.Conv(b.Conv(b.GlobalAvgPool(x), 8, 1, 1, relu), c, 1, 1, sigmoid01);
  };
  const std::vector<FusionCase> cases = {
      {"project",
       [&](GraphBuilder& b, ValueId x) {
         return b.Conv(b.Binary(Op::kMul, x, factors(b, x, 40)), 24, 1, 1);
       },
       {1, 9, 11, 40}, 1},
      {"factors_first_with_residual",
       [&](GraphBuilder& b, ValueId x) {
         const ValueId h = b.Unary(Op::kHardSwish, b.Conv(x, 72, 1, 1));
         return b.Binary(Op::kAdd, b.Conv(b.Binary(Op::kMul, factors(b, h, 72), h), 20, 1, 1), x);
       },
       {1, 7, 6, 20}, 1},
      {"channel_tail_hardswish",
       [&](GraphBuilder& b, ValueId x) {
         return b.Unary(Op::kHardSwish, b.Conv(b.Binary(Op::kMul, x, factors(b, x, 37)), 50, 1, 1));
       },
       {1, 5, 5, 37}, 1},
      {"strided_input",
       [&](GraphBuilder& b, ValueId x) {
         const ValueId half = b.Slice(x, {0, 0, 0, 16}, {1, 6, 7, 32});
         return b.Conv(b.Binary(Op::kMul, half, factors(b, half, 32)), 16, 1, 1);
       },
       {1, 6, 7, 48}, 1},
      {"mul_read_twice_not_fused",
       [&](GraphBuilder& b, ValueId x) {
         const ValueId m = b.Binary(Op::kMul, x, factors(b, x, 24));
         return b.Binary(Op::kAdd, b.Conv(m, 24, 1, 1), m);
       },
       {1, 5, 6, 24}, 0},
      {"read_by_a_3x3_not_fused",
       [&](GraphBuilder& b, ValueId x) {
         return b.Conv(b.Binary(Op::kMul, x, factors(b, x, 12)), 16, 3, 3, GroupedConv(1, 1));
       },
       {1, 8, 8, 12}, 0},  // on the conv GEMM (< kWinogradGemmMinInputChannels)
      {"constant_factors_not_fused",
       [&](GraphBuilder& b, ValueId x) {
         return b.Conv(b.Binary(Op::kMul, x, b.RandomConstant({1, 1, 1, 16}, 0.0f, 1.0f)), 8, 1, 1);
       },
       {1, 4, 4, 16}, 0},
  };
  ExpectFusions(cases, &XnnpackPlanStats::fused_input_scales, 46, "SqueezeExcite");
}

// A 1x1 convolution over one pixel (squeeze-excite's, after the global
// average pool) on our GEMM computes up to 4 packed blocks of output
// channels at a time (PointwiseGemmRow): every width around the block and
// vector edges, with a clamp, a fused HardSwish or residual Add, equals
// EngineOptions::xnnpack_only at 1, 2 and 3 threads.
TEST(XnnpackOpTest, OnePixelGemmEqualsXnnpack) {
  const bool available = xnnpack_internal::PointwiseGemmAvailable();
  ConvParams sigmoid01 = GroupedConv(1, 0);
  sigmoid01.act_min = 0.0f;
  sigmoid01.act_max = 1.0f;
  struct Case {
    int k, n;
    int epilogue;  // 0: none, 1: HardSwish, 2: residual Add
  };
  for (const Case& c : std::vector<Case>{{16, 8, 0}, {40, 16, 0}, {37, 33, 0}, {72, 100, 0},
                                         {64, 128, 0}, {24, 130, 0}, {144, 576, 0}, {96, 250, 1},
                                         {48, 161, 2}, {13, 7, 1}}) {
    SCOPED_TRACE(::testing::Message() << "k=" << c.k << " n=" << c.n << " epilogue=" << c.epilogue);
    GraphBuilder b(47);
    const ValueId x = b.GlobalAvgPool(b.Input({1, 4, 3, c.k}));
    ValueId y = b.Conv(x, c.n, 1, 1, c.epilogue == 0 ? sigmoid01 : GroupedConv(1, 0));
    if (c.epilogue == 1) y = b.Unary(Op::kHardSwish, y);
    if (c.epilogue == 2) y = b.Binary(Op::kAdd, y, b.Conv(x, c.n, 1, 1));
    const graph::Graph g = b.Finish(y);
    EXPECT_EQ(PlanStats(g).pointwise_gemm_nodes, available ? (c.epilogue == 2 ? 2 : 1) : 0);
    ExpectEqualsXnnpackOnly(g, 11);
    ExpectMatchesReference(g, "OnePixelGemm");
  }
}

// SqueezeNet's first convolution and max pool (the 2018 exports): the
// convolution's output (>= 2 MiB) is computed in row bands with the pool
// and never held whole. The answers are bit for bit those of the same
// convolution and pool run whole (kept whole here by a separate Relu between
// them), at 1 and 2 threads, and match the reference. With our own kernels
// on an AVX-512 machine the convolution goes to the conv GEMM with the pool
// fused instead (FusedPoolTest), so this runs XNNPACK only, as on ARM.
TEST(XnnpackOpTest, ConvolutionAndMaxPoolInRowBands) {
  struct Case {
    std::string name;
    int size;      // input height and width
    int pad_side;  // left and right padding (rows are never padded when banded)
  };
  // 227: 113 rows -> 56 pool rows, 4 bands of 14. 251: 125 -> 62, 5 bands of
  // 13, the last starting at row 49 (it overlaps the band before).
  for (const Case& c : {Case{"squeezenet_227", 227, 0}, Case{"uneven_251_padded_sides", 251, 1}}) {
    SCOPED_TRACE(c.name);
    auto build = [&](bool separate_relu) {
      GraphBuilder b(44);
      const ValueId x = b.Input({1, c.size, c.size, 3});
      ConvParams p = GroupedConv(2, 0);
      p.pad_left = p.pad_right = c.pad_side;
      if (!separate_relu) p.act_min = 0.0f;
      ValueId y = b.Conv(x, 64, 3, 3, p);
      if (separate_relu) y = b.Unary(Op::kRelu, y);
      return b.Finish(b.Pool(Op::kMaxPool2D, y, SquarePool(3, 2)));
    };
    const graph::Graph banded = build(false);
    const graph::Graph whole = build(true);
    const XnnpackPlanStats stats = PlanStats(banded, /*xnnpack_only=*/true);
    EXPECT_EQ(stats.banded_conv_nodes, 1);
    EXPECT_EQ(PlanStats(whole, /*xnnpack_only=*/true).banded_conv_nodes, 0);
    // The arena never holds the convolution's whole output.
    const size_t conv_rows = static_cast<size_t>((c.size - 3) / 2 + 1);
    const size_t conv_cols = static_cast<size_t>((c.size + 2 * c.pad_side - 3) / 2 + 1);
    EXPECT_LT(stats.arena_bytes, conv_rows * conv_cols * 64 * sizeof(float));
    const std::vector<float> input =
        testing::RandomData(static_cast<size_t>(c.size) * static_cast<size_t>(c.size) * 3, 7);
    auto reference = testing::RunOnce(*MakeReferenceBackend(), banded, input);
    ASSERT_TRUE(reference.ok());
    for (int threads : {1, 2}) {
      auto a = testing::RunOnce(*MakeXnnpackBackend(), banded, input, threads, /*xnnpack_only=*/true);
      auto b = testing::RunOnce(*MakeXnnpackBackend(), whole, input, threads, /*xnnpack_only=*/true);
      ASSERT_TRUE(a.ok() && b.ok());
      EXPECT_LE(testing::WorstRelativeError(*a, *reference), testing::kOpTolerance) << "threads=" << threads;
      ASSERT_EQ(a->size(), b->size());
      EXPECT_EQ(0, std::memcmp(a->data(), b->data(), a->size() * sizeof(float))) << "threads=" << threads;
    }
  }
}

// Convolution -> max pooling, the pooling computed by the conv GEMM from a
// ring of convolution rows (2 threads: a band of pooled rows and a ring
// each): the reference's answers, and XNNPACK's two operators' exactly.
struct FusedPoolCase {
  std::string name;
  Shape input;
  int out_channels, kernel;
  ConvParams conv;
  PoolParams pool;
};

std::vector<FusedPoolCase> FusedPoolCases() {
  std::vector<FusedPoolCase> cases;
  ConvParams first = GroupedConv(2, 0);
  first.act_min = 0.0f;
  cases.push_back({"squeezenet_first_layer", {1, 31, 31, 3}, 64, 3, first, SquarePool(3, 2)});
  ConvParams same = GroupedConv(2, 0);
  same.pad_bottom = same.pad_right = 1;
  PoolParams same_pool = SquarePool(3, 2);
  same_pool.pad_bottom = same_pool.pad_right = 1;
  cases.push_back({"tf_same_both", {1, 16, 18, 3}, 40, 3, same, same_pool});
  PoolParams clamped = SquarePool(2, 2, 1);
  clamped.act_min = -0.3f;
  clamped.act_max = 0.4f;
  cases.push_back({"padded_clamped_pool", {1, 9, 11, 12}, 24, 3, GroupedConv(1, 1), clamped});
  cases.push_back({"stride_over_window", {1, 14, 13, 5}, 7, 3, GroupedConv(1, 0), SquarePool(2, 3)});
  // 72 channels: four vectors at a time and a masked tail; rows of 17
  // convolution pixels in tiles of 6, 6 and 5.
  cases.push_back({"wide_channels_uneven_tiles", {1, 37, 35, 3}, 72, 3, first, SquarePool(3, 2)});
  return cases;
}

void PrintTo(const FusedPoolCase& c, std::ostream* os) {
  *os << c.name;
}

class FusedPoolTest : public ::testing::TestWithParam<FusedPoolCase> {};

TEST_P(FusedPoolTest, MatchesReferenceAndXnnpack) {
  const FusedPoolCase& c = GetParam();
  GraphBuilder b(44);
  const ValueId x = b.Input(c.input);
  const ValueId conv = b.Conv(x, c.out_channels, c.kernel, c.kernel, c.conv);
  const graph::Graph g = b.Finish(b.Pool(Op::kMaxPool2D, conv, c.pool));
  ExpectMatchesReference(g, "Conv2D+MaxPool2D/" + c.name);
  const bool available = xnnpack_internal::PointwiseGemmAvailable();
  EXPECT_EQ(PlanStats(g).fused_pools, available ? 1 : 0);
  EXPECT_EQ(PlanStats(g, /*xnnpack_only=*/true).fused_pools, 0);
  const std::vector<float> input =
      testing::RandomData(static_cast<size_t>(graph::ShapeProduct(c.input)), 9, -1.0f, 1.0f);
  auto xnnpack = testing::RunOnce(*MakeXnnpackBackend(), g, input, 1, /*xnnpack_only=*/true);
  ASSERT_TRUE(xnnpack.ok());
  for (int threads : {1, 2, 3}) {
    auto fused = testing::RunOnce(*MakeXnnpackBackend(), g, input, threads);
    ASSERT_TRUE(fused.ok());
    EXPECT_EQ(*fused, *xnnpack) << "threads=" << threads;
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, FusedPoolTest, ::testing::ValuesIn(FusedPoolCases()),
                         [](const auto& test_info) { return test_info.param.name; });

// A pooling whose convolution output has another reader is not fused; a
// fused pooling writes into a channel concat in place.
TEST(XnnpackOpTest, PoolFusionOnlyForTheConvolutionsOnlyReader) {
  const bool available = xnnpack_internal::PointwiseGemmAvailable();
  {
    GraphBuilder b(45);
    const ValueId x = b.Input({1, 10, 10, 3});
    const ValueId conv = b.Conv(x, 16, 3, 3, GroupedConv(1, 1));
    const ValueId pool = b.Pool(Op::kMaxPool2D, conv, SquarePool(2, 2));
    const ValueId other = b.Pool(Op::kAvgPool2D, conv, SquarePool(2, 2));
    const graph::Graph g = b.Finish(b.Concat({pool, other}, 3));
    ExpectMatchesReference(g, "Conv2D+MaxPool2D/second reader");
    EXPECT_EQ(PlanStats(g).fused_pools, 0);
  }
  GraphBuilder b(46);
  const ValueId x = b.Input({1, 12, 10, 3});
  const ValueId conv = b.Conv(x, 16, 3, 3, GroupedConv(1, 1));
  const ValueId pool = b.Pool(Op::kMaxPool2D, conv, SquarePool(2, 2));
  const ValueId squeeze = b.Conv(pool, 8, 1, 1);  // reads the pooled rows strided
  const graph::Graph g = b.Finish(b.Concat({pool, squeeze}, 3));
  ExpectMatchesReference(g, "Conv2D+MaxPool2D/into a concat");
  const XnnpackPlanStats stats = PlanStats(g);
  EXPECT_EQ(stats.fused_pools, available ? 1 : 0);
  EXPECT_EQ(stats.inplace_concat_inputs, 2);
}

}  // namespace
}  // namespace edgevision::engine
