// The XNNPACK backend's convolutions against the reference kernels over many
// shapes, strides, paddings, groups and dilations (random data, fixed seeds,
// 1 and 2 threads), and which of our kernels takes each (pointwise GEMM,
// Winograd, conv GEMM, depthwise). Fusions: xnnpack_fusion_test.cc; the
// other ops: xnnpack_backend_test.cc.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "engine/engine_test_util.h"
#include "engine/pointwise_gemm.h"
#include "engine/xnnpack_backend.h"
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
using testing::GroupedConv;
using testing::PlanStats;

// --- Conv2D -----------------------------------------------------------------

using ConvCase = testing::ConvLayerCase;

std::vector<ConvCase> ConvCases() {
  std::vector<ConvCase> cases;
  cases.push_back({"pointwise", {1, 8, 8, 16}, 32, 1, 1, GroupedConv(1, 0)});
  cases.push_back({"pointwise_stride2", {1, 9, 9, 8}, 12, 1, 1, GroupedConv(2, 0)});
  cases.push_back({"k3_pad1", {1, 7, 9, 5}, 6, 3, 3, GroupedConv(1, 1)});
  ConvParams first = GroupedConv(2, 0);
  first.pad_bottom = first.pad_right = 1;  // TF SAME on an even input
  first.act_min = 0.0f;
  first.act_max = 6.0f;
  cases.push_back({"first_layer_same_relu6", {1, 10, 10, 3}, 8, 3, 3, first});
  ConvParams odd = GroupedConv(1, 0);
  odd.stride_h = 2;
  odd.pad_top = 2;
  odd.pad_left = 1;
  odd.pad_bottom = 1;
  cases.push_back({"k5x3_asymmetric", {1, 11, 8, 4}, 5, 5, 3, odd});
  ConvParams dilated = GroupedConv(1, 2);
  dilated.dilation_h = dilated.dilation_w = 2;
  cases.push_back({"dilated", {1, 9, 9, 6}, 7, 3, 3, dilated});
  ConvParams dilated_hw = GroupedConv(1, 0);
  dilated_hw.dilation_h = 3;
  dilated_hw.pad_left = dilated_hw.pad_right = 1;
  cases.push_back({"dilated_rows_only", {1, 12, 6, 3}, 4, 3, 3, dilated_hw});
  cases.push_back({"groups2", {1, 6, 6, 8}, 6, 3, 3, GroupedConv(1, 1, 2)});
  cases.push_back({"groups4_stride2", {1, 9, 9, 16}, 8, 3, 3, GroupedConv(2, 1, 4)});
  cases.push_back({"depthwise", {1, 8, 8, 24}, 24, 3, 3, GroupedConv(1, 1, 24)});
  ConvParams dw_s2 = GroupedConv(2, 0, 32);
  dw_s2.pad_bottom = dw_s2.pad_right = 1;
  dw_s2.act_min = 0.0f;
  dw_s2.act_max = 6.0f;
  cases.push_back({"depthwise_s2_same_relu6", {1, 10, 10, 32}, 32, 3, 3, dw_s2});
  cases.push_back({"depthwise_k5", {1, 9, 9, 40}, 40, 5, 5, GroupedConv(1, 2, 40)});
  cases.push_back({"depthwise_multiplier2", {1, 6, 6, 8}, 16, 3, 3, GroupedConv(1, 1, 8)});
  ConvParams dw_dilated = GroupedConv(1, 2, 12);
  dw_dilated.dilation_h = dw_dilated.dilation_w = 2;
  cases.push_back({"depthwise_dilated", {1, 8, 8, 12}, 12, 3, 3, dw_dilated});
  ConvParams clamp = GroupedConv(1, 1);
  clamp.act_min = -0.5f;
  clamp.act_max = 0.5f;
  cases.push_back({"fused_clamp", {1, 5, 5, 8}, 8, 3, 3, clamp});
  ConvParams nobias = GroupedConv(1, 1);
  nobias.bias = false;
  cases.push_back({"no_bias", {1, 5, 5, 8}, 8, 3, 3, nobias});
  cases.push_back({"deep_k3", {1, 6, 6, 128}, 64, 3, 3, GroupedConv(1, 1)});
  cases.push_back({"k11_stride4", {1, 31, 31, 3}, 16, 11, 11, GroupedConv(4, 0)});
  cases.push_back({"kernel_over_padding", {1, 2, 2, 3}, 4, 3, 3, GroupedConv(1, 1)});
  cases.push_back({"single_pixel", {1, 1, 1, 7}, 9, 1, 1, GroupedConv(1, 0)});
  cases.push_back({"wide_row", {1, 1, 37, 5}, 3, 1, 3, GroupedConv(1, 0)});
  // 3x3 stride 1 with >= kWinogradMinInputChannels inputs: Winograd F(2x2, 3x3).
  ConvParams relu = GroupedConv(1, 1);
  relu.act_min = 0.0f;
  cases.push_back({"winograd_odd_size_relu", {1, 7, 9, 32}, 80, 3, 3, relu});
  ConvParams valid = GroupedConv(1, 0);
  valid.bias = false;
  cases.push_back({"winograd_unpadded_no_bias", {1, 8, 7, 48}, 70, 3, 3, valid});
  ConvParams skewed = GroupedConv(1, 0);
  skewed.pad_top = 1;
  skewed.pad_right = 2;
  skewed.act_min = -0.5f;
  skewed.act_max = 0.5f;
  cases.push_back({"winograd_asymmetric_pad_clamp", {1, 7, 6, 33}, 130, 3, 3, skewed});
  cases.push_back({"winograd_one_tile", {1, 1, 2, 40}, 16, 3, 3, GroupedConv(1, 1)});
  // 1x1 on the pointwise GEMM (AVX-512 CPUs): pixel tails (15 = 8 + 7),
  // channel tails (72 = 32 + 32 + 8, 50 = 32 + 18, 7 < 16).
  cases.push_back({"pointwise_tails", {1, 5, 3, 40}, 72, 1, 1, GroupedConv(1, 0)});
  ConvParams relu6 = GroupedConv(1, 0);
  relu6.act_min = 0.0f;
  relu6.act_max = 6.0f;
  cases.push_back({"pointwise_split_tail_relu6", {1, 4, 4, 64}, 50, 1, 1, relu6});
  ConvParams pw_nobias = GroupedConv(1, 0);
  pw_nobias.bias = false;
  cases.push_back({"pointwise_narrow_no_bias", {1, 3, 3, 33}, 7, 1, 1, pw_nobias});
  cases.push_back({"pointwise_many_pixels", {1, 100, 90, 64}, 40, 1, 1, GroupedConv(1, 0)});
  // 196 tiles of 20 KB of V and M: 3 bands (66, 66, 64 tiles), not aligned
  // to tile rows, the last of another size; odd width (edge tiles).
  cases.push_back({"winograd_three_bands", {1, 28, 27, 64}, 256, 3, 3, GroupedConv(1, 1)});
  // Too thin for Winograd: the conv GEMM (AVX-512), 3 output channel blocks
  // with a tail (80 = 32 + 32 + 16), pixel tails across output rows.
  ConvParams thin = GroupedConv(1, 1);
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
  ConvParams relu6_s2 = GroupedConv(2, 0, 72);
  relu6_s2.pad_bottom = relu6_s2.pad_right = 1;
  relu6_s2.act_min = 0.0f;
  relu6_s2.act_max = 6.0f;
  ConvParams k5_s2 = GroupedConv(2, 1, 120);
  k5_s2.pad_bottom = k5_s2.pad_right = 2;
  ConvParams dilated = GroupedConv(1, 2, 12);
  dilated.dilation_h = dilated.dilation_w = 2;
  ConvParams clamp = GroupedConv(1, 1, 24);
  clamp.act_min = -0.5f;
  clamp.act_max = 2.0f;
  ConvParams nobias = GroupedConv(1, 1, 20);
  nobias.bias = false;
  ConvParams tall = GroupedConv(1, 0, 16);
  tall.pad_top = tall.pad_bottom = 1;  // padding above and below only
  ConvParams k5_s2_tail = GroupedConv(2, 2, 8);
  k5_s2_tail.pad_right = 1;
  ConvParams rows_dilated = GroupedConv(1, 1, 19);
  rows_dilated.dilation_h = 2;
  rows_dilated.pad_top = rows_dilated.pad_bottom = 2;
  ConvParams tall_stride = GroupedConv(1, 1, 16);
  tall_stride.stride_h = 2;
  ConvParams wide_stride = GroupedConv(1, 1, 24);
  wide_stride.stride_w = 2;
  const std::vector<Case> cases = {
      {"high_res_16", {1, 40, 37, 16}, 3, GroupedConv(1, 1, 16), false, false},
      {"relu6_stride2_same", {1, 21, 20, 72}, 3, relu6_s2, false, false},
      {"k5_channel_tail_hardswish", {1, 15, 14, 40}, 5, GroupedConv(1, 2, 40), true, false},
      {"k5_stride2_hardswish", {1, 14, 14, 120}, 5, k5_s2, true, false},
      {"dilated_channel_tail", {1, 12, 11, 12}, 3, dilated, false, false},
      {"clamp_then_hardswish", {1, 9, 9, 24}, 3, clamp, true, false},
      {"no_bias_one_row", {1, 1, 5, 20}, 3, nobias, false, false},
      {"rows_padded_only", {1, 6, 19, 16}, 3, tall, false, false},
      {"strided_hardswish", {1, 10, 11, 24}, 3, GroupedConv(1, 1, 24), true, true},
      {"strided", {1, 7, 9, 40}, 5, GroupedConv(1, 2, 40), false, true},
      // The column schedule: 37 channels (2 vectors and a 5-lane tail) over
      // 5 full tiles and a 3-pixel one; a 16-pixel row in one tile (rows of
      // 9-16 pixels above: 9, 10, 11); stride 2 over full and partial tiles
      // with padding on the right; 8 channels (a masked vector only); an
      // input narrower than the window; rows dilated, columns not; stride
      // 2 in one direction only; a strip read in place with stride 2.
      {"columns_37_channels", {1, 9, 43, 37}, 3, GroupedConv(1, 1, 37), false, false},
      {"columns_16_pixel_row", {1, 5, 16, 40}, 3, GroupedConv(1, 1, 40), true, false},
      {"columns_stride2_right_pad", {1, 13, 40, 24}, 3, GroupedConv(2, 1, 24), true, false},
      {"columns_k5_stride2_8_channels", {1, 11, 45, 8}, 5, k5_s2_tail, true, false},
      {"columns_k5_wide_120", {1, 7, 30, 120}, 5, GroupedConv(1, 2, 120), false, false},
      {"columns_k5_narrow_input", {1, 3, 2, 20}, 5, GroupedConv(1, 2, 20), true, false},
      {"columns_rows_dilated", {1, 12, 21, 19}, 3, rows_dilated, false, false},
      {"columns_stride_h2", {1, 10, 19, 16}, 3, tall_stride, false, false},
      {"columns_stride_w2", {1, 7, 37, 24}, 3, wide_stride, true, false},
      {"columns_strided_stride2", {1, 6, 36, 24}, 3, GroupedConv(2, 1, 24), false, true},
      // The per-tap schedule: stride 3.
      {"taps_stride3", {1, 11, 13, 24}, 3, GroupedConv(3, 1, 24), false, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    GraphBuilder b(44);
    const int channels = static_cast<int>(c.input[3]);
    ValueId x = b.Input(c.strided ? Shape{c.input[0], c.input[1], c.input[2], channels + 8} : c.input);
    if (c.strided) x = b.Slice(x, {0, 0, 0, 8}, c.input);
    ValueId y = b.Conv(x, channels, c.kernel, c.kernel, c.p);
    if (c.hardswish) y = b.Unary(Op::kHardSwish, y);
    ConvParams beside = GroupedConv(1, 0);  // a 1x1 convolution of the same output size
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

// A SqueezeNet fire module (the 2018 exports): the Winograd convolution
// writes its output into the concat's buffer with the concat's row stride,
// and reads a channel slice in place (the input's row stride); so do the 1x1
// convolutions (on the pointwise GEMM on AVX-512 CPUs).
TEST(XnnpackOpTest, WinogradReadsAndWritesStridedRows) {
  GraphBuilder b(43);
  const ValueId x = b.Input({1, 9, 10, 64});
  ConvParams relu = GroupedConv(1, 0);
  relu.act_min = 0.0f;
  const ValueId squeeze = b.Conv(x, 48, 1, 1, relu);
  ConvParams relu_pad = GroupedConv(1, 1);
  relu_pad.act_min = 0.0f;
  const ValueId expand1 = b.Conv(squeeze, 24, 1, 1, relu);
  const ValueId expand3 = b.Conv(squeeze, 40, 3, 3, relu_pad);
  const ValueId fire = b.Concat({expand1, expand3}, 3);  // [1,9,10,64]
  const ValueId half = b.Slice(fire, {0, 0, 0, 16}, {1, 9, 10, 40});
  const ValueId next = b.Conv(half, 36, 3, 3, GroupedConv(1, 1));
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

}  // namespace
}  // namespace edgevision::engine
