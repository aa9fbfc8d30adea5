// The int8 VNNI kernel (engine/int8_gemm.h): bit-identical to XNNPACK's qc8
// convolution on random layers (1x1, 3x3, 7x7, strides, dilation, padding,
// channel counts that are not multiples of 4 or 16, clamps, saturation,
// strided outputs) at 1, 2 and 3 threads, and whole int8 models give the
// same bytes with it as with XNNPACK only (EngineOptions::xnnpack_only).
// The real exports' layers: src/predict/int8_vnni_test.cc.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "engine/engine_test_util.h"
#include "engine/int8_backend.h"
#include "engine/int8_gemm.h"
#include "engine/testing/int8_gemm_check.h"
#include "engine/testing/test_graphs.h"

namespace edgevision::engine {
namespace {

using int8_internal::Quant;
using testing::ConvParams;
using testing::GraphBuilder;
using testing::SquareConv;

// The scalar requantization is XNNPACK's: round half to even, the clamp,
// saturation far below (the kernel's INT32_MIN path).
TEST(Int8GemmTest, RequantizationRoundsHalfToEvenAndClamps) {
  EXPECT_EQ(int8_internal::RequantizeQ8(5, 0.5f, 0, -128, 127), 2);   // 2.5 -> 2
  EXPECT_EQ(int8_internal::RequantizeQ8(7, 0.5f, 0, -128, 127), 4);   // 3.5 -> 4
  EXPECT_EQ(int8_internal::RequantizeQ8(-5, 0.5f, 3, -128, 127), 1);  // -2.5 -> -2, + 3
  EXPECT_EQ(int8_internal::RequantizeQ8(1000, 1.0f, -10, -128, 100), 100);
  EXPECT_EQ(int8_internal::RequantizeQ8(-2147483647 - 1, 200.0f, 127, -20, 127), -20);
  EXPECT_EQ(int8_internal::RequantizeQ8(-300, 1.0f, 100, -128, 127), -128);
}

// The kernel against XNNPACK: only where it is built (x86-64); on ARM these
// two tests are not compiled, so an ARM run has nothing to skip. A CPU
// without AVX512-VNNI in an x86 build skips them.
#if defined(EV_Q8_GEMM_BUILT)
struct LayerCase : testing::ConvLayerCase {
  Quant in, out;
  size_t y_stride = 0;  // 0: dense
};

std::vector<LayerCase> Cases() {
  const Quant in{0.02f, -7}, out{0.05f, 12};
  std::vector<LayerCase> c;
  c.push_back({"pointwise_64_to_64", {1, 9, 11, 64}, 64, 1, 1, SquareConv(1, 0), in, out});
  c.push_back({"pointwise_58_to_58_relu", {1, 7, 7, 58}, 58, 1, 1, SquareConv(1, 0, 0.0f), in, out});
  c.push_back({"pointwise_k5_n70", {1, 5, 6, 5}, 70, 1, 1, SquareConv(1, 0), in, out});
  c.push_back({"pointwise_stride2", {1, 9, 9, 24}, 40, 1, 1, SquareConv(2, 0), in, out});
  c.push_back({"first_layer_3x3s2_k3", {1, 23, 21, 3}, 24, 3, 3, SquareConv(2, 1, 0.0f), in, out});
  c.push_back({"first_layer_7x7s2", {1, 19, 19, 3}, 16, 7, 7, SquareConv(2, 3), in, out});
  c.push_back({"expand_3x3_pad1", {1, 13, 13, 16}, 64, 3, 3, SquareConv(1, 1, 0.0f), in, out});
  c.push_back({"no_pad_3x3_k13", {1, 8, 10, 13}, 33, 3, 3, SquareConv(1, 0), in, out});
  ConvParams asym = SquareConv(2, 0, -1.0f, 6.0f);
  asym.pad_top = 1;
  asym.pad_bottom = 2;
  asym.pad_right = 1;
  c.push_back({"asymmetric_pad_clamp", {1, 10, 9, 8}, 20, 3, 2, asym, in, {0.03f, -128}});
  ConvParams dilated = SquareConv(1, 2);
  dilated.dilation_h = dilated.dilation_w = 2;
  c.push_back({"dilated_3x3", {1, 9, 9, 12}, 17, 3, 3, dilated, in, out});
  // A tiny output scale: most outputs saturate at both ends.
  c.push_back({"saturating", {1, 6, 6, 32}, 48, 3, 3, SquareConv(1, 1), {0.1f, 100}, {0.0005f, -3}});
  c.push_back({"zero_point_extremes", {1, 5, 5, 8}, 8, 1, 1, SquareConv(1, 0), {0.01f, 127}, {0.02f, 127}});
  c.push_back({"strided_output", {1, 6, 7, 16}, 24, 3, 3, SquareConv(1, 1, 0.0f), in, out, 40});
  c.push_back({"one_pixel_rows", {1, 1, 3, 20}, 36, 1, 1, SquareConv(1, 0), in, out});
  return c;
}

TEST(Int8GemmTest, VnniKernelIsBitIdenticalToXnnpackOnRandomLayers) {
  if (!int8_internal::Q8GemmAvailable()) GTEST_SKIP() << "no AVX512-VNNI on this CPU: XNNPACK runs int8";
  size_t saturated = 0, compared = 0;
  for (const LayerCase& lc : Cases()) {
    SCOPED_TRACE(lc.name);
    const graph::Graph g = testing::ConvLayerGraph(lc, 7);
    for (int threads : {1, 2, 3}) {
      Result<testing::Q8GemmComparison> r =
          testing::CompareQ8GemmWithXnnpack(g, 0, lc.in, lc.out, lc.y_stride, threads, 11u + threads);
      ASSERT_TRUE(r.ok()) << r.status().message();
      EXPECT_EQ(r->different, 0u) << "threads=" << threads << " of " << r->bytes << " bytes";
      saturated += r->saturated;
      compared += r->bytes;
    }
  }
  EXPECT_GT(saturated, 0u);  // the clamps were exercised
  std::printf("[ engine  ] int8 VNNI: %zu bytes compared, %zu outputs at a clamp\n", compared, saturated);
}

TEST(Int8GemmTest, FullyConnectedOnTheVnniKernelIsBitIdentical) {
  if (!int8_internal::Q8GemmAvailable()) GTEST_SKIP() << "no AVX512-VNNI on this CPU: XNNPACK runs int8";
  GraphBuilder b(9);
  const graph::ValueId x = b.Input({1, 150});
  const graph::Graph g = b.Finish(b.FullyConnected(x, 37));
  for (int threads : {1, 2, 3}) {
    auto r = testing::CompareQ8GemmWithXnnpack(g, 0, {0.03f, 5}, {0.04f, -9}, 0, threads, 3);
    ASSERT_TRUE(r.ok()) << r.status().message();
    EXPECT_EQ(r->different, 0u) << "threads=" << threads;
  }
}

#endif  // EV_Q8_GEMM_BUILT

std::vector<std::vector<float>> Inputs(const graph::Graph& g, int n, uint32_t seed) {
  const size_t size = static_cast<size_t>(graph::ShapeProduct(g.values[g.inputs[0]].shape));
  std::vector<std::vector<float>> inputs;
  for (int i = 0; i < n; ++i) inputs.push_back(testing::RandomData(size, seed + i, -1.0f, 1.0f));
  return inputs;
}

// Whole models: the int8 program on the VNNI kernel gives the bytes it gives
// on XNNPACK only, at 1, 2 and 3 threads (SqueezeNet's Fire concats are
// written in place with a strided output; MobileNetV2's first layer is
// padded, its 1x1s dense).
TEST(Int8GemmTest, Int8ModelsGiveTheSameOutputsWithAndWithoutTheVnniKernel) {
  for (const auto& [name, g] : {std::pair{"SqueezeNet11", testing::SqueezeNet11(64, 5, 3)},
                                std::pair{"MobileNetV2", testing::MobileNetV2(64, 6, 4)}}) {
    SCOPED_TRACE(name);
    const auto calibration_inputs = Inputs(g, 3, 500);
    Result<Int8Calibration> c = CalibrateInt8(g, calibration_inputs);
    ASSERT_TRUE(c.ok()) << c.status().message();
    auto backend = MakeInt8Backend(std::make_shared<Int8Calibration>(*c));
    EngineOptions only;
    only.xnnpack_only = true;
    auto reference_model = backend->Compile(g, only);
    ASSERT_TRUE(reference_model.ok()) << reference_model.status().message();
    EXPECT_EQ(GetInt8PlanStats(**reference_model)->vnni_nodes, 0);
    for (int threads : {1, 2, 3}) {
      EngineOptions options;
      options.threads = threads;
      auto model = backend->Compile(g, options);
      ASSERT_TRUE(model.ok()) << model.status().message();
      const Int8PlanStats& stats = *GetInt8PlanStats(**model);
      if (int8_internal::Q8GemmAvailable()) {
        EXPECT_GT(stats.vnni_nodes, 0);
      } else {
        EXPECT_EQ(stats.vnni_nodes, 0);
      }
      auto session = (*model)->CreateSession();
      auto reference = (*reference_model)->CreateSession();
      ASSERT_TRUE(session.ok() && reference.ok());
      std::vector<float> y((*model)->output_size()), expected(y.size());
      for (const auto& input : Inputs(g, 3, 900)) {
        ASSERT_TRUE((*reference)->Run(input, expected).ok());
        ASSERT_TRUE((*session)->Run(input, y).ok());
        EXPECT_EQ(y, expected) << "threads=" << threads;
      }
    }
  }
}

}  // namespace
}  // namespace edgevision::engine
