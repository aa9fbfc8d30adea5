// The XNNPACK backend against the reference kernels, op by op, over many
// shapes, strides, paddings, groups, dilations and broadcasts (random data,
// fixed seeds, 1 and 2 threads).
#include "engine/xnnpack_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "engine/engine_test_util.h"
#include "engine/pointwise_gemm.h"
#include "engine/xnnpack_ops.h"

namespace edgevision::engine {
namespace {

using graph::Op;
using graph::Shape;
using graph::ValueId;
using testing::ConvParams;
using testing::ExpectEqualsXnnpackOnly;
using testing::ExpectMatchesReference;
using testing::GraphBuilder;
using testing::kInf;
using testing::PlanStats;
using testing::PoolParams;

const auto* const kReporter = ::testing::AddGlobalTestEnvironment(new testing::WorstErrorReporter);

// --- Conv2D -----------------------------------------------------------------

using ConvCase = testing::ConvLayerCase;

ConvParams Params(int stride, int pad, int groups = 1) {
  ConvParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = pad;
  p.groups = groups;
  return p;
}

std::vector<ConvCase> ConvCases() {
  std::vector<ConvCase> cases;
  cases.push_back({"pointwise", {1, 8, 8, 16}, 32, 1, 1, Params(1, 0)});
  cases.push_back({"pointwise_stride2", {1, 9, 9, 8}, 12, 1, 1, Params(2, 0)});
  cases.push_back({"k3_pad1", {1, 7, 9, 5}, 6, 3, 3, Params(1, 1)});
  ConvParams first = Params(2, 0);
  first.pad_bottom = first.pad_right = 1;  // TF SAME on an even input
  first.act_min = 0.0f;
  first.act_max = 6.0f;
  cases.push_back({"first_layer_same_relu6", {1, 10, 10, 3}, 8, 3, 3, first});
  ConvParams odd = Params(1, 0);
  odd.stride_h = 2;
  odd.pad_top = 2;
  odd.pad_left = 1;
  odd.pad_bottom = 1;
  cases.push_back({"k5x3_asymmetric", {1, 11, 8, 4}, 5, 5, 3, odd});
  ConvParams dilated = Params(1, 2);
  dilated.dilation_h = dilated.dilation_w = 2;
  cases.push_back({"dilated", {1, 9, 9, 6}, 7, 3, 3, dilated});
  ConvParams dilated_hw = Params(1, 0);
  dilated_hw.dilation_h = 3;
  dilated_hw.pad_left = dilated_hw.pad_right = 1;
  cases.push_back({"dilated_rows_only", {1, 12, 6, 3}, 4, 3, 3, dilated_hw});
  cases.push_back({"groups2", {1, 6, 6, 8}, 6, 3, 3, Params(1, 1, 2)});
  cases.push_back({"groups4_stride2", {1, 9, 9, 16}, 8, 3, 3, Params(2, 1, 4)});
  cases.push_back({"depthwise", {1, 8, 8, 24}, 24, 3, 3, Params(1, 1, 24)});
  ConvParams dw_s2 = Params(2, 0, 32);
  dw_s2.pad_bottom = dw_s2.pad_right = 1;
  dw_s2.act_min = 0.0f;
  dw_s2.act_max = 6.0f;
  cases.push_back({"depthwise_s2_same_relu6", {1, 10, 10, 32}, 32, 3, 3, dw_s2});
  cases.push_back({"depthwise_k5", {1, 9, 9, 40}, 40, 5, 5, Params(1, 2, 40)});
  cases.push_back({"depthwise_multiplier2", {1, 6, 6, 8}, 16, 3, 3, Params(1, 1, 8)});
  ConvParams dw_dilated = Params(1, 2, 12);
  dw_dilated.dilation_h = dw_dilated.dilation_w = 2;
  cases.push_back({"depthwise_dilated", {1, 8, 8, 12}, 12, 3, 3, dw_dilated});
  ConvParams clamp = Params(1, 1);
  clamp.act_min = -0.5f;
  clamp.act_max = 0.5f;
  cases.push_back({"fused_clamp", {1, 5, 5, 8}, 8, 3, 3, clamp});
  ConvParams nobias = Params(1, 1);
  nobias.bias = false;
  cases.push_back({"no_bias", {1, 5, 5, 8}, 8, 3, 3, nobias});
  cases.push_back({"deep_k3", {1, 6, 6, 128}, 64, 3, 3, Params(1, 1)});
  cases.push_back({"k11_stride4", {1, 31, 31, 3}, 16, 11, 11, Params(4, 0)});
  cases.push_back({"kernel_over_padding", {1, 2, 2, 3}, 4, 3, 3, Params(1, 1)});
  cases.push_back({"single_pixel", {1, 1, 1, 7}, 9, 1, 1, Params(1, 0)});
  cases.push_back({"wide_row", {1, 1, 37, 5}, 3, 1, 3, Params(1, 0)});
  // 3x3 stride 1 with >= kWinogradMinInputChannels inputs: Winograd F(2x2, 3x3).
  ConvParams relu = Params(1, 1);
  relu.act_min = 0.0f;
  cases.push_back({"winograd_odd_size_relu", {1, 7, 9, 32}, 80, 3, 3, relu});
  ConvParams valid = Params(1, 0);
  valid.bias = false;
  cases.push_back({"winograd_unpadded_no_bias", {1, 8, 7, 48}, 70, 3, 3, valid});
  ConvParams skewed = Params(1, 0);
  skewed.pad_top = 1;
  skewed.pad_right = 2;
  skewed.act_min = -0.5f;
  skewed.act_max = 0.5f;
  cases.push_back({"winograd_asymmetric_pad_clamp", {1, 7, 6, 33}, 130, 3, 3, skewed});
  cases.push_back({"winograd_one_tile", {1, 1, 2, 40}, 16, 3, 3, Params(1, 1)});
  // 1x1 on the pointwise GEMM (AVX-512 CPUs): pixel tails (15 = 8 + 7),
  // channel tails (72 = 32 + 32 + 8, 50 = 32 + 18, 7 < 16).
  cases.push_back({"pointwise_tails", {1, 5, 3, 40}, 72, 1, 1, Params(1, 0)});
  ConvParams relu6 = Params(1, 0);
  relu6.act_min = 0.0f;
  relu6.act_max = 6.0f;
  cases.push_back({"pointwise_split_tail_relu6", {1, 4, 4, 64}, 50, 1, 1, relu6});
  ConvParams pw_nobias = Params(1, 0);
  pw_nobias.bias = false;
  cases.push_back({"pointwise_narrow_no_bias", {1, 3, 3, 33}, 7, 1, 1, pw_nobias});
  cases.push_back({"pointwise_many_pixels", {1, 100, 90, 64}, 40, 1, 1, Params(1, 0)});
  // 196 tiles of 20 KB of V and M: 3 bands (66, 66, 64 tiles), not aligned
  // to tile rows, the last of another size; odd width (edge tiles).
  cases.push_back({"winograd_three_bands", {1, 28, 27, 64}, 256, 3, 3, Params(1, 1)});
  // Too thin for Winograd: the conv GEMM (AVX-512), 3 output channel blocks
  // with a tail (80 = 32 + 32 + 16), pixel tails across output rows.
  ConvParams thin = Params(1, 1);
  thin.act_min = 0.0f;
  cases.push_back({"thin_k3_relu", {1, 11, 13, 8}, 80, 3, 3, thin});
  // 16 input channels (SqueezeNet's 56x56 expand 3x3): Winograd with the
  // products on our GEMM on AVX-512 CPUs (odd size: edge tiles; 80 output
  // channels: a narrow last block), else the conv GEMM or XNNPACK.
  cases.push_back({"winograd_gemm_thin_relu", {1, 11, 13, 16}, 80, 3, 3, thin});
  return cases;
}

class ConvTest : public ::testing::TestWithParam<ConvCase> {};

TEST_P(ConvTest, MatchesReference) {
  const ConvCase& c = GetParam();
  graph::Graph g = testing::ConvLayerGraph(c, 42);
  ExpectMatchesReference(g, "Conv2D/" + c.name);
}

INSTANTIATE_TEST_SUITE_P(Shapes, ConvTest, ::testing::ValuesIn(ConvCases()),
                         [](const auto& test_info) { return test_info.param.name; });

TEST(XnnpackOpTest, PointwiseGemmForEvery1x1Stride1ConvolutionOnAvx512) {
  const bool available = xnnpack_internal::PointwiseGemmAvailable();
  std::printf("[ engine  ] pointwise GEMM %s on this CPU\n", available ? "used" : "not available");
  for (const ConvCase& c : ConvCases()) {
    SCOPED_TRACE(c.name);
    const graph::Graph g = testing::ConvLayerGraph(c, 42);
    const bool pointwise = c.kernel_h == 1 && c.kernel_w == 1 && c.p.stride_h == 1 &&
                           c.p.stride_w == 1 && c.p.groups == 1 && c.p.pad_top == 0 &&
                           c.p.pad_left == 0 && c.p.pad_bottom == 0 && c.p.pad_right == 0;
    EXPECT_EQ(PlanStats(g).pointwise_gemm_nodes, available && pointwise ? 1 : 0);
  }
}

// Expected as Winograd: the cases named so (3x3 stride 1) with enough input
// channels for XNNPACK's products, or for ours where our GEMM runs.
bool OnWinograd(const ConvCase& c) {
  const bool shape = c.name.rfind("winograd_", 0) == 0 || c.name == "deep_k3";
  const auto channels = static_cast<size_t>(c.input[3]);
  return shape && (channels >= xnnpack_internal::kWinogradMinInputChannels ||
                   (xnnpack_internal::PointwiseGemmAvailable() &&
                    channels >= xnnpack_internal::kWinogradGemmMinInputChannels));
}

TEST(XnnpackOpTest, WinogradOnlyFor3x3Stride1WithEnoughInputChannels) {
  const bool available = xnnpack_internal::PointwiseGemmAvailable();
  for (const ConvCase& c : ConvCases()) {
    SCOPED_TRACE(c.name);
    const graph::Graph g = testing::ConvLayerGraph(c, 42);
    const XnnpackPlanStats stats = PlanStats(g);
    EXPECT_EQ(stats.winograd_nodes, OnWinograd(c) ? 1 : 0);
    // The products on our GEMM where it runs and XNNPACK's are too thin.
    const bool thin = static_cast<size_t>(c.input[3]) < xnnpack_internal::kWinogradMinInputChannels;
    EXPECT_EQ(stats.winograd_gemm_nodes, OnWinograd(c) && available && thin ? 1 : 0);
  }
}

// Expected on the conv GEMM: AVX-512, one group, neither the pointwise GEMM
// nor Winograd, a window of at most kConvGemmMaxTaps.
bool OnConvGemm(const ConvCase& c) {
  const bool pointwise = c.kernel_h == 1 && c.kernel_w == 1 && c.p.stride_h == 1 &&
                         c.p.stride_w == 1 && c.p.pad_top == 0 && c.p.pad_left == 0 &&
                         c.p.pad_bottom == 0 && c.p.pad_right == 0;
  const bool winograd = OnWinograd(c);
  return xnnpack_internal::PointwiseGemmAvailable() && c.p.groups == 1 && !pointwise &&
         !winograd &&
         static_cast<size_t>(c.kernel_h * c.kernel_w) <= xnnpack_internal::kConvGemmMaxTaps;
}

// The conv GEMM (1 and 2 threads) sums the same products in the same order
// as XNNPACK's IGEMM (EngineOptions::xnnpack_only): the outputs are equal.
TEST(XnnpackOpTest, ConvGemmForOtherDenseConvolutionsEqualsXnnpack) {
  int used = 0;
  for (const ConvCase& c : ConvCases()) {
    SCOPED_TRACE(c.name);
    const graph::Graph g = testing::ConvLayerGraph(c, 42);
    const bool expected = OnConvGemm(c);
    EXPECT_EQ(PlanStats(g).conv_gemm_nodes, expected ? 1 : 0);
    const XnnpackPlanStats only = PlanStats(g, /*xnnpack_only=*/true);
    EXPECT_EQ(only.conv_gemm_nodes + only.pointwise_gemm_nodes + only.winograd_nodes, 0);
    if (!expected) continue;
    ++used;
    const std::vector<float> input =
        testing::RandomData(static_cast<size_t>(graph::ShapeProduct(c.input)), 7, -1.0f, 1.0f);
    auto xnnpack = testing::RunOnce(*MakeXnnpackBackend(), g, input, 1, /*xnnpack_only=*/true);
    ASSERT_TRUE(xnnpack.ok());
    for (int threads : {1, 2}) {
      auto ours = testing::RunOnce(*MakeXnnpackBackend(), g, input, threads);
      ASSERT_TRUE(ours.ok());
      EXPECT_EQ(*ours, *xnnpack) << "threads=" << threads;
    }
  }
  std::printf("[ engine  ] conv GEMM on %d of %zu convolution cases\n", used, ConvCases().size());
}

// The depthwise kernel (AVX-512) sums the same products in the same order as
// XNNPACK's up16x9 and up16x25 kernels, and a HardSwish it computes is
// XNNPACK's formula: the outputs equal EngineOptions::xnnpack_only's, at 1, 2
// and 3 threads, whether it reads and writes dense or strided rows. Square
// 3x3 and 5x5 windows with dilation_w 1 and stride_w 1 or 2 take the column
// schedule (full 8-pixel tiles inside the input, and tables of column
// pointers at the borders and for a row's last tile); other windows the
// per-tap one.
TEST(XnnpackOpTest, DepthwiseKernelEqualsXnnpack) {
  const bool available = xnnpack_internal::PointwiseGemmAvailable();
  std::printf("[ engine  ] depthwise kernel %s on this CPU\n", available ? "used" : "not available");
  struct Case {
    std::string name;
    Shape input;
    int kernel;
    ConvParams p;
    bool hardswish;
    bool strided;  // read a channel slice in place, write into a channel concat
  };
  ConvParams relu6_s2 = Params(2, 0, 72);
  relu6_s2.pad_bottom = relu6_s2.pad_right = 1;
  relu6_s2.act_min = 0.0f;
  relu6_s2.act_max = 6.0f;
  ConvParams k5_s2 = Params(2, 1, 120);
  k5_s2.pad_bottom = k5_s2.pad_right = 2;
  ConvParams dilated = Params(1, 2, 12);
  dilated.dilation_h = dilated.dilation_w = 2;
  ConvParams clamp = Params(1, 1, 24);
  clamp.act_min = -0.5f;
  clamp.act_max = 2.0f;
  ConvParams nobias = Params(1, 1, 20);
  nobias.bias = false;
  ConvParams tall = Params(1, 0, 16);
  tall.pad_top = tall.pad_bottom = 1;  // padding above and below only
  ConvParams k5_s2_tail = Params(2, 2, 8);
  k5_s2_tail.pad_right = 1;
  ConvParams rows_dilated = Params(1, 1, 19);
  rows_dilated.dilation_h = 2;
  rows_dilated.pad_top = rows_dilated.pad_bottom = 2;
  ConvParams tall_stride = Params(1, 1, 16);
  tall_stride.stride_h = 2;
  ConvParams wide_stride = Params(1, 1, 24);
  wide_stride.stride_w = 2;
  const std::vector<Case> cases = {
      {"high_res_16", {1, 40, 37, 16}, 3, Params(1, 1, 16), false, false},
      {"relu6_stride2_same", {1, 21, 20, 72}, 3, relu6_s2, false, false},
      {"k5_channel_tail_hardswish", {1, 15, 14, 40}, 5, Params(1, 2, 40), true, false},
      {"k5_stride2_hardswish", {1, 14, 14, 120}, 5, k5_s2, true, false},
      {"dilated_channel_tail", {1, 12, 11, 12}, 3, dilated, false, false},
      {"clamp_then_hardswish", {1, 9, 9, 24}, 3, clamp, true, false},
      {"no_bias_one_row", {1, 1, 5, 20}, 3, nobias, false, false},
      {"rows_padded_only", {1, 6, 19, 16}, 3, tall, false, false},
      {"strided_hardswish", {1, 10, 11, 24}, 3, Params(1, 1, 24), true, true},
      {"strided", {1, 7, 9, 40}, 5, Params(1, 2, 40), false, true},
      // The column schedule: 37 channels (2 vectors and a 5-lane tail) over
      // 5 full tiles and a 3-pixel one; a 16-pixel row in one tile (rows of
      // 9-16 pixels above: 9, 10, 11); stride 2 over full and partial tiles
      // with padding on the right; 8 channels (a masked vector only); an
      // input narrower than the window; rows dilated, columns not; stride
      // 2 in one direction only; a strip read in place with stride 2.
      {"columns_37_channels", {1, 9, 43, 37}, 3, Params(1, 1, 37), false, false},
      {"columns_16_pixel_row", {1, 5, 16, 40}, 3, Params(1, 1, 40), true, false},
      {"columns_stride2_right_pad", {1, 13, 40, 24}, 3, Params(2, 1, 24), true, false},
      {"columns_k5_stride2_8_channels", {1, 11, 45, 8}, 5, k5_s2_tail, true, false},
      {"columns_k5_wide_120", {1, 7, 30, 120}, 5, Params(1, 2, 120), false, false},
      {"columns_k5_narrow_input", {1, 3, 2, 20}, 5, Params(1, 2, 20), true, false},
      {"columns_rows_dilated", {1, 12, 21, 19}, 3, rows_dilated, false, false},
      {"columns_stride_h2", {1, 10, 19, 16}, 3, tall_stride, false, false},
      {"columns_stride_w2", {1, 7, 37, 24}, 3, wide_stride, true, false},
      {"columns_strided_stride2", {1, 6, 36, 24}, 3, Params(2, 1, 24), false, true},
      // The per-tap schedule: stride 3.
      {"taps_stride3", {1, 11, 13, 24}, 3, Params(3, 1, 24), false, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    GraphBuilder b(44);
    const int channels = static_cast<int>(c.input[3]);
    ValueId x = b.Input(c.strided ? Shape{c.input[0], c.input[1], c.input[2], channels + 8} : c.input);
    if (c.strided) x = b.Slice(x, {0, 0, 0, 8}, c.input);
    ValueId y = b.Conv(x, channels, c.kernel, c.kernel, c.p);
    if (c.hardswish) y = b.Unary(Op::kHardSwish, y);
    ConvParams beside = Params(1, 0);  // a 1x1 convolution of the same output size
    beside.stride_h = c.p.stride_h;
    beside.stride_w = c.p.stride_w;
    if (c.strided) y = b.Concat({b.Conv(x, 8, 1, 1, beside), y}, 3);
    const graph::Graph g = b.Finish(y);
    const XnnpackPlanStats stats = PlanStats(g);
    EXPECT_EQ(stats.depthwise_nodes, available ? 1 : 0);
    EXPECT_EQ(stats.fused_epilogues, available && c.hardswish ? 1 : 0);
    if (c.strided) {
      EXPECT_EQ(stats.copied_concat_inputs, 0);
    }
    const XnnpackPlanStats only = PlanStats(g, /*xnnpack_only=*/true);
    EXPECT_EQ(only.depthwise_nodes + only.fused_epilogues, 0);
    ExpectEqualsXnnpackOnly(g, 7);
    ExpectMatchesReference(g, "Depthwise/" + c.name);
  }
}

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
  ConvParams relu6 = Params(1, 0);
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
         return b.Unary(Op::kHardSwish, b.Conv(x, 16, 3, 3, Params(2, 1)));
       },
       {1, 33, 31, 3}, 1},
      {"conv_gemm_add_residual",
       [](GraphBuilder& b, ValueId x) { return b.Binary(Op::kAdd, b.Conv(x, 12, 3, 3, Params(1, 1)), x); },
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
  ConvParams relu = Params(1, 0);
  relu.act_min = 0.0f;
  ConvParams sigmoid01 = Params(1, 0);
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
         return b.Conv(b.Binary(Op::kMul, x, factors(b, x, 12)), 16, 3, 3, Params(1, 1));
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
  ConvParams sigmoid01 = Params(1, 0);
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
    ValueId y = b.Conv(x, c.n, 1, 1, c.epilogue == 0 ? sigmoid01 : Params(1, 0));
    if (c.epilogue == 1) y = b.Unary(Op::kHardSwish, y);
    if (c.epilogue == 2) y = b.Binary(Op::kAdd, y, b.Conv(x, c.n, 1, 1));
    const graph::Graph g = b.Finish(y);
    EXPECT_EQ(PlanStats(g).pointwise_gemm_nodes, available ? (c.epilogue == 2 ? 2 : 1) : 0);
    ExpectEqualsXnnpackOnly(g, 11);
    ExpectMatchesReference(g, "OnePixelGemm");
  }
}

// A SqueezeNet fire module (the 2018 exports): the Winograd convolution
// writes its output into the concat's buffer with the concat's row stride,
// and reads a channel slice in place (the input's row stride); so do the 1x1
// convolutions (on the pointwise GEMM on AVX-512 CPUs).
TEST(XnnpackOpTest, WinogradReadsAndWritesStridedRows) {
  GraphBuilder b(43);
  const ValueId x = b.Input({1, 9, 10, 64});
  ConvParams relu = Params(1, 0);
  relu.act_min = 0.0f;
  const ValueId squeeze = b.Conv(x, 48, 1, 1, relu);
  ConvParams relu_pad = Params(1, 1);
  relu_pad.act_min = 0.0f;
  const ValueId expand1 = b.Conv(squeeze, 24, 1, 1, relu);
  const ValueId expand3 = b.Conv(squeeze, 40, 3, 3, relu_pad);
  const ValueId fire = b.Concat({expand1, expand3}, 3);  // [1,9,10,64]
  const ValueId half = b.Slice(fire, {0, 0, 0, 16}, {1, 9, 10, 40});
  const ValueId next = b.Conv(half, 36, 3, 3, Params(1, 1));
  const ValueId pointwise = b.Conv(half, 20, 1, 1);  // a strided 1x1 read too
  const graph::Graph g = b.Finish(b.Concat({next, b.Unary(Op::kRelu, fire), pointwise}, 3));
  ExpectMatchesReference(g, "Winograd/fire module");
  auto model = MakeXnnpackBackend()->Compile(g, {});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const XnnpackPlanStats& stats = *GetXnnpackPlanStats(**model);
  EXPECT_EQ(stats.winograd_nodes, 2);
  EXPECT_EQ(stats.reference_nodes, 0);
  EXPECT_GE(stats.inplace_concat_inputs, 4);  // expand1, expand3, next, pointwise in place
}

// --- Pooling ------------------------------------------------------------------

struct PoolCase {
  std::string name;
  Op op;
  Shape input;
  PoolParams p;
};

PoolParams Pool(int kernel, int stride, int pad = 0) {
  PoolParams p;
  p.kernel_h = p.kernel_w = kernel;
  p.stride_h = p.stride_w = stride;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = pad;
  return p;
}

std::vector<PoolCase> PoolCases() {
  std::vector<PoolCase> cases;
  for (Op op : {Op::kMaxPool2D, Op::kAvgPool2D}) {
    const std::string prefix = op == Op::kMaxPool2D ? "max_" : "avg_";
    cases.push_back({prefix + "k2s2", op, {1, 8, 8, 16}, Pool(2, 2)});
    PoolParams ceil = Pool(3, 2);
    ceil.pad_bottom = ceil.pad_right = 1;  // Caffe ceil mode
    cases.push_back({prefix + "k3s2_ceil", op, {1, 14, 14, 8}, ceil});
    cases.push_back({prefix + "k3s1_pad1", op, {1, 7, 5, 6}, Pool(3, 1, 1)});
    cases.push_back({prefix + "k1s2", op, {1, 7, 7, 4}, Pool(1, 2)});
    cases.push_back({prefix + "k2s3", op, {1, 9, 9, 4}, Pool(2, 3)});
    PoolParams rect = Pool(3, 1);
    rect.kernel_w = 2;
    rect.stride_w = 2;
    rect.pad_top = 1;
    cases.push_back({prefix + "rect_k3x2", op, {1, 6, 9, 5}, rect});
    PoolParams clamped = Pool(2, 2);
    clamped.act_min = -0.25f;
    clamped.act_max = 0.5f;
    cases.push_back({prefix + "fused_clamp", op, {1, 6, 6, 3}, clamped});
  }
  PoolParams include = Pool(3, 1, 1);
  include.count_include_pad = true;
  cases.push_back({"avg_k3s1_pad1_include_pad", Op::kAvgPool2D, {1, 7, 5, 6}, include});
  PoolParams include_s2 = Pool(3, 2);
  include_s2.pad_bottom = include_s2.pad_right = 2;
  include_s2.count_include_pad = true;
  cases.push_back({"avg_k3s2_asym_include_pad", Op::kAvgPool2D, {1, 9, 9, 10}, include_s2});
  return cases;
}

void PrintTo(const PoolCase& c, std::ostream* os) {
  *os << c.name;
}

class PoolTest : public ::testing::TestWithParam<PoolCase> {};

TEST_P(PoolTest, MatchesReference) {
  const PoolCase& c = GetParam();
  GraphBuilder b(42);
  const ValueId x = b.Input(c.input);
  // Mostly negative inputs: a zero-padded max would differ at the borders.
  ExpectMatchesReference(b.Finish(b.Pool(c.op, x, c.p)),
                         std::string(graph::OpName(c.op)) + "/" + c.name, testing::kOpTolerance,
                         1234, -2.0f, 0.25f);
}

INSTANTIATE_TEST_SUITE_P(Shapes, PoolTest, ::testing::ValuesIn(PoolCases()),
                         [](const auto& test_info) { return test_info.param.name; });

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
      ConvParams p = Params(2, 0);
      p.pad_left = p.pad_right = c.pad_side;
      if (!separate_relu) p.act_min = 0.0f;
      ValueId y = b.Conv(x, 64, 3, 3, p);
      if (separate_relu) y = b.Unary(Op::kRelu, y);
      return b.Finish(b.Pool(Op::kMaxPool2D, y, Pool(3, 2)));
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
  ConvParams first = Params(2, 0);
  first.act_min = 0.0f;
  cases.push_back({"squeezenet_first_layer", {1, 31, 31, 3}, 64, 3, first, Pool(3, 2)});
  ConvParams same = Params(2, 0);
  same.pad_bottom = same.pad_right = 1;
  PoolParams same_pool = Pool(3, 2);
  same_pool.pad_bottom = same_pool.pad_right = 1;
  cases.push_back({"tf_same_both", {1, 16, 18, 3}, 40, 3, same, same_pool});
  PoolParams clamped = Pool(2, 2, 1);
  clamped.act_min = -0.3f;
  clamped.act_max = 0.4f;
  cases.push_back({"padded_clamped_pool", {1, 9, 11, 12}, 24, 3, Params(1, 1), clamped});
  cases.push_back({"stride_over_window", {1, 14, 13, 5}, 7, 3, Params(1, 0), Pool(2, 3)});
  // 72 channels: four vectors at a time and a masked tail; rows of 17
  // convolution pixels in tiles of 6, 6 and 5.
  cases.push_back({"wide_channels_uneven_tiles", {1, 37, 35, 3}, 72, 3, first, Pool(3, 2)});
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
    const ValueId conv = b.Conv(x, 16, 3, 3, Params(1, 1));
    const ValueId pool = b.Pool(Op::kMaxPool2D, conv, Pool(2, 2));
    const ValueId other = b.Pool(Op::kAvgPool2D, conv, Pool(2, 2));
    const graph::Graph g = b.Finish(b.Concat({pool, other}, 3));
    ExpectMatchesReference(g, "Conv2D+MaxPool2D/second reader");
    EXPECT_EQ(PlanStats(g).fused_pools, 0);
  }
  GraphBuilder b(46);
  const ValueId x = b.Input({1, 12, 10, 3});
  const ValueId conv = b.Conv(x, 16, 3, 3, Params(1, 1));
  const ValueId pool = b.Pool(Op::kMaxPool2D, conv, Pool(2, 2));
  const ValueId squeeze = b.Conv(pool, 8, 1, 1);  // reads the pooled rows strided
  const graph::Graph g = b.Finish(b.Concat({pool, squeeze}, 3));
  ExpectMatchesReference(g, "Conv2D+MaxPool2D/into a concat");
  const XnnpackPlanStats stats = PlanStats(g);
  EXPECT_EQ(stats.fused_pools, available ? 1 : 0);
  EXPECT_EQ(stats.inplace_concat_inputs, 2);
}

TEST(XnnpackOpTest, GlobalAvgPool) {
  for (const Shape& s : {Shape{1, 7, 7, 32}, Shape{1, 1, 1, 5}, Shape{1, 13, 13, 1000}}) {
    GraphBuilder b(3);
    const ValueId x = b.Input(s);
    ExpectMatchesReference(b.Finish(b.GlobalAvgPool(x)),
                           "GlobalAvgPool/" + std::to_string(s[1]) + "x" + std::to_string(s[3]));
  }
}

// One input row runs on the pointwise GEMM (PointwiseGemmRow; with threads
// its output channels are split), several on XNNPACK: both match the
// reference, and the GEMM equals EngineOptions::xnnpack_only at 1-3 threads,
// with a HardSwish after it fused too (MobileNetV3's classifier).
TEST(XnnpackOpTest, FullyConnected) {
  const bool available = xnnpack_internal::PointwiseGemmAvailable();
  struct Case {
    Shape input;
    int out;
    bool bias;
    float lo, hi;
    bool hardswish = false;
  };
  for (const Case& c :
       {Case{{1, 100}, 10, true, -kInf, kInf}, Case{{1, 1, 1, 64}, 7, true, -kInf, kInf},
        Case{{1, 48}, 5, false, -kInf, kInf}, Case{{1, 32}, 16, true, 0.0f, kInf},
        Case{{1, 1280}, 1000, true, -kInf, kInf}, Case{{1, 2, 3, 4}, 6, true, -kInf, kInf},
        Case{{1, 1, 1, 576}, 1024, true, -kInf, kInf, true}, Case{{1, 200}, 129, true, -1.0f, 1.0f}}) {
    const std::string label = "FullyConnected/" + std::to_string(c.input.back()) + "x" + std::to_string(c.out);
    SCOPED_TRACE(label);
    GraphBuilder b(5);
    const ValueId x = b.Input(c.input);
    ValueId y = b.FullyConnected(x, c.out, c.bias, c.lo, c.hi);
    if (c.hardswish) y = b.Unary(Op::kHardSwish, y);
    const graph::Graph g = b.Finish(y);
    const bool one_row = graph::ShapeProduct(c.input) == c.input.back();
    EXPECT_EQ(PlanStats(g).pointwise_gemm_nodes, available && one_row ? 1 : 0);
    EXPECT_EQ(PlanStats(g, false, 2).pointwise_gemm_nodes, available && one_row ? 1 : 0);
    EXPECT_EQ(PlanStats(g).fused_epilogues, available && c.hardswish ? 1 : 0);
    ExpectEqualsXnnpackOnly(g, 6);
    ExpectMatchesReference(g, label);
  }
}

// --- Element-wise -------------------------------------------------------------

struct BinaryCase {
  std::string name;
  Shape a, b;
  bool b_constant;
  bool swap;  // constant / second operand first
};

void PrintTo(const BinaryCase& c, std::ostream* os) {
  *os << c.name;
}

class BinaryTest : public ::testing::TestWithParam<std::tuple<Op, BinaryCase>> {};

TEST_P(BinaryTest, MatchesReference) {
  const auto& [op, c] = GetParam();
  GraphBuilder b(9);
  const ValueId x = b.Input(c.a);
  // Positive operands keep Div well conditioned.
  const ValueId y = c.b_constant ? b.RandomConstant(c.b, 0.5f, 2.0f) : b.Clamp(x, 0.5f, 2.0f);
  ValueId out = c.swap ? b.Binary(op, y, x) : b.Binary(op, x, y);
  ExpectMatchesReference(b.Finish(out), std::string(graph::OpName(op)) + "/" + c.name,
                         testing::kOpTolerance, 77, 0.5f, 2.0f);
}

INSTANTIATE_TEST_SUITE_P(
    Broadcasts, BinaryTest,
    ::testing::Combine(
        ::testing::Values(Op::kAdd, Op::kSub, Op::kMul, Op::kDiv),
        ::testing::Values(BinaryCase{"same_shape", {1, 4, 5, 8}, {1, 4, 5, 8}, false, false},
                          BinaryCase{"channel_vector", {1, 4, 5, 8}, {8}, true, false},
                          BinaryCase{"channel_vector_first", {1, 4, 5, 8}, {8}, true, true},
                          // An input normalisation: runs widened (BroadcastWidening).
                          BinaryCase{"rgb_scale", {1, 7, 9, 3}, {3}, true, false},
                          BinaryCase{"rgb_scale_first", {1, 7, 9, 3}, {1, 1, 1, 3}, true, true},
                          BinaryCase{"se_scale", {1, 6, 6, 16}, {1, 1, 1, 16}, true, false},
                          BinaryCase{"both_broadcast", {1, 4, 1, 8}, {1, 1, 5, 1}, true, false},
                          BinaryCase{"scalar", {1, 3, 3, 2}, {}, true, true},
                          BinaryCase{"rank2", {1, 10}, {1, 10}, true, false})),
    [](const auto& test_info) {
      return std::string(graph::OpName(std::get<0>(test_info.param))) + "_" +
             std::get<1>(test_info.param).name;
    });

TEST(XnnpackOpTest, OnlyPixelBroadcastsOfShortConstantsAreWidened) {
  GraphBuilder b(12);
  const ValueId x = b.Input({1, 6, 10, 3});
  const ValueId k3 = b.RandomConstant({3}, -1, 1);
  const ValueId scaled = b.Binary(Op::kMul, x, k3);
  const ValueId shifted = b.Binary(Op::kAdd, b.RandomConstant({1, 1, 1, 3}, -1, 1), scaled);
  const ValueId both = b.Binary(Op::kAdd, shifted, scaled);                      // no constant
  const ValueId col = b.Binary(Op::kMul, both, b.RandomConstant({1, 1, 10, 1}, -1, 1));  // not per channel
  graph::Graph g = b.Finish(col);
  std::vector<size_t> widening;
  for (const graph::Node& n : g.nodes) widening.push_back(xnnpack_internal::BroadcastWidening(g, n));
  EXPECT_EQ(widening, (std::vector<size_t>{10, 10, 0, 0}));
  ExpectMatchesReference(g, "widened normalisation");
}

TEST(XnnpackOpTest, BinaryFusedClamp) {
  GraphBuilder b(11);
  const ValueId x = b.Input({1, 5, 5, 4});
  const ValueId y = b.RandomConstant({4}, -1, 1);
  ExpectMatchesReference(b.Finish(b.Binary(Op::kAdd, x, y, 0.0f, 6.0f)), "Add/relu6");
}

struct UnaryCase {
  std::string name;
  Shape shape;
  float lo, hi;  // input range
};

void PrintTo(const UnaryCase& c, std::ostream* os) {
  *os << c.name;
}

class UnaryTest : public ::testing::TestWithParam<std::tuple<std::string, UnaryCase>> {};

TEST_P(UnaryTest, MatchesReference) {
  const auto& [op_name, c] = GetParam();
  GraphBuilder b(13);
  const ValueId x = b.Input(c.shape);
  ValueId y;
  if (op_name == "Relu")
    y = b.Unary(Op::kRelu, x);
  else if (op_name == "Sigmoid")
    y = b.Unary(Op::kSigmoid, x);
  else if (op_name == "Softmax")
    y = b.Unary(Op::kSoftmax, x);
  else if (op_name == "HardSwish")
    y = b.Unary(Op::kHardSwish, x);
  else if (op_name == "LeakyRelu")
    y = b.LeakyRelu(x, 0.2f);
  else if (op_name == "Relu6")
    y = b.Clamp(x, 0.0f, 6.0f);
  else if (op_name == "ClampEmpty")
    y = b.Clamp(x, 0.25f, 0.25f);  // XNNPACK refuses min == max
  else
    y = b.Clamp(x, -1.0f, 1.0f);
  ExpectMatchesReference(b.Finish(y), op_name + "/" + c.name, testing::kOpTolerance, 21, c.lo,
                         c.hi);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, UnaryTest,
    ::testing::Combine(::testing::Values("Relu", "Sigmoid", "Softmax", "HardSwish", "LeakyRelu",
                                         "Relu6", "Clamp", "ClampEmpty"),
                       ::testing::Values(UnaryCase{"nhwc", {1, 5, 7, 9}, -8.0f, 8.0f},
                                         UnaryCase{"logits", {1, 1000}, -10.0f, 10.0f},
                                         UnaryCase{"one", {1, 1}, -3.0f, 3.0f})),
    [](const auto& test_info) {
      return std::get<0>(test_info.param) + "_" + std::get<1>(test_info.param).name;
    });

// --- Layout -------------------------------------------------------------------

TEST(XnnpackOpTest, ReshapeIsFree) {
  GraphBuilder b(17);
  const ValueId x = b.Input({1, 2, 3, 4});
  const ValueId r = b.Reshape(b.Unary(Op::kRelu, x), {1, 24});
  graph::Graph g = b.Finish(b.FullyConnected(r, 5));
  ExpectMatchesReference(g, "Reshape+FC");
  auto model = MakeXnnpackBackend()->Compile(g, {});
  ASSERT_TRUE(model.ok());
  EXPECT_EQ(GetXnnpackPlanStats(**model)->free_nodes, 1);
}

TEST(XnnpackOpTest, TransposeKeepingOrderIsFreeOthersUseReference) {
  GraphBuilder b(19);
  const ValueId x = b.Input({1, 3, 4, 5});
  const ValueId pooled = b.GlobalAvgPool(x);               // [1,1,1,5]
  const ValueId flat = b.Transpose(pooled, {0, 3, 1, 2});  // [1,5,1,1]: same order
  const ValueId general = b.Transpose(x, {0, 3, 1, 2});    // [1,5,3,4]: reorders
  const ValueId sum = b.Binary(Op::kAdd, general, flat);   // broadcast [1,5,1,1]
  graph::Graph g = b.Finish(sum);
  ExpectMatchesReference(g, "Transpose");
  auto model = MakeXnnpackBackend()->Compile(g, {});
  ASSERT_TRUE(model.ok());
  const XnnpackPlanStats& stats = *GetXnnpackPlanStats(**model);
  EXPECT_EQ(stats.free_nodes, 1);
  EXPECT_EQ(stats.reference_nodes, 1);
  EXPECT_THAT(stats.reference_node_names, ::testing::ElementsAre(g.nodes[2].name));
}

TEST(XnnpackOpTest, PadOnXnnpackAndCropOnReference) {
  {
    GraphBuilder b(23);
    const ValueId x = b.Input({1, 4, 5, 3});
    graph::Graph g = b.Finish(b.Pad(x, {0, 1, 2, 0, 0, 2, 1, 1}, 0.5f));
    ExpectMatchesReference(g, "Pad");
    auto model = MakeXnnpackBackend()->Compile(g, {});
    ASSERT_TRUE(model.ok());
    EXPECT_EQ(GetXnnpackPlanStats(**model)->reference_nodes, 0);
  }
  {
    GraphBuilder b(23);
    const ValueId x = b.Input({1, 4, 5, 3});
    graph::Graph g = b.Finish(b.Pad(x, {0, -1, 2, 0, 0, 1, -2, 0}, -1.0f));
    ExpectMatchesReference(g, "Pad/crop");
    auto model = MakeXnnpackBackend()->Compile(g, {});
    ASSERT_TRUE(model.ok());
    EXPECT_EQ(GetXnnpackPlanStats(**model)->reference_nodes, 1);
  }
}

// ShuffleNet's unit as the Docker 2.2 export has it: concat, channel
// shuffle, channel split; one half feeds a 1x1 conv (read in place, a view),
// the other the next concat (copied from the view with its row stride).
TEST(XnnpackOpTest, ShuffleNetUnitRunsSlicesAsViews) {
  GraphBuilder b(31);
  const ValueId x = b.Input({1, 6, 5, 8});
  const ValueId a = b.Conv(x, 6, 1, 1);
  const ValueId c = b.Conv(x, 6, 3, 3, Params(1, 1));
  const ValueId cat = b.Concat({a, c}, 3);                      // [1,6,5,12]
  const ValueId shuffled = b.ChannelShuffle(cat, 2);
  const ValueId left = b.Slice(shuffled, {0, 0, 0, 0}, {1, 6, 5, 6});
  const ValueId right = b.Slice(shuffled, {0, 0, 0, 6}, {1, 6, 5, 6});
  const ValueId branch = b.Conv(right, 6, 1, 1);
  const ValueId out = b.Concat({left, branch}, 3);
  graph::Graph g = b.Finish(b.ChannelShuffle(out, 3));
  ExpectMatchesReference(g, "ShuffleNet unit");
  auto model = MakeXnnpackBackend()->Compile(g, {});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const XnnpackPlanStats& stats = *GetXnnpackPlanStats(**model);
  EXPECT_EQ(stats.reference_nodes, 0);
  EXPECT_GE(stats.free_nodes, 2);  // both slices are views
}

TEST(XnnpackOpTest, SlicesThatCannotBeViews) {
  {  // a channel slice that is the graph output: an XNNPACK strided copy
    GraphBuilder b(37);
    const ValueId x = b.Unary(Op::kRelu, b.Input({1, 3, 4, 10}));
    graph::Graph g = b.Finish(b.Slice(x, {0, 0, 0, 3}, {1, 3, 4, 5}));
    ExpectMatchesReference(g, "Slice/channel copy");
    auto model = MakeXnnpackBackend()->Compile(g, {});
    ASSERT_TRUE(model.ok());
    EXPECT_EQ(GetXnnpackPlanStats(**model)->reference_nodes, 0);
  }
  {  // a spatial slice read by a binary op: the reference kernel
    GraphBuilder b(41);
    const ValueId x = b.Input({1, 5, 6, 3});
    const ValueId s = b.Slice(x, {0, 1, 2, 0}, {1, 3, 4, 3});
    graph::Graph g = b.Finish(b.Binary(Op::kAdd, s, b.RandomConstant({3}, -1, 1)));
    ExpectMatchesReference(g, "Slice/spatial");
    auto model = MakeXnnpackBackend()->Compile(g, {});
    ASSERT_TRUE(model.ok());
    EXPECT_EQ(GetXnnpackPlanStats(**model)->reference_nodes, 1);
  }
}

TEST(XnnpackOpTest, ConcatOnEveryAxis) {
  for (int axis = 0; axis < 4; ++axis) {
    GraphBuilder b(29);
    const ValueId x = b.Input({1, 3, 4, 5});
    const ValueId y = b.Unary(Op::kSigmoid, x);
    const ValueId c = b.RandomConstant({1, 3, 4, 5}, -1, 1);
    ExpectMatchesReference(b.Finish(b.Concat({x, y, c}, axis)),
                           "Concat/axis" + std::to_string(axis));
  }
}

}  // namespace
}  // namespace edgevision::engine
