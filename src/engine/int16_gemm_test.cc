// The int16 kernel (engine/int16_gemm.h) for the float32 convolutions of an
// int8 program: bit-identical to its scalar reference on random layers (1x1,
// 3x3, 7x7, odd channel counts, strides, dilation, padding, clamps, strided
// outputs; 1x1 layers quantising their input in their tiles) at 1, 2 and 3
// threads, with the outputs' peak measured as the
// reference measures it; within 16-bit rounding of the float32 convolution;
// no accumulator overflow on the worst-case window; a max pooling fused into
// it equal to the unfused pair bit for bit; and int8 programs that keep
// convolutions float32 run them on it (XNNPACK's f32 operator with
// EngineOptions::xnnpack_only), the fused pooling, the Fire modules' 1x1
// expands in their 3x3 expand's tiles and the measured peaks giving the
// same outputs as the unfused program.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/engine_test_util.h"
#include "engine/int16_gemm.h"
#include "engine/int8_backend.h"
#include "engine/max_pool_ring.h"
#include "engine/reference_kernels.h"
#include "engine/testing/test_graphs.h"
#include "engine/xnnpack_backend.h"
#include "engine/xnnpack_ops.h"

namespace edgevision::engine {
namespace {

using testing::ConvParams;
using testing::GraphBuilder;
using testing::SquareConv;
using testing::SquarePool;

// The kernel is built on x86-64 only; on ARM these tests are not compiled
// (an ARM run has nothing to skip). An x86 CPU without AVX512-VNNI skips.
#if defined(EV_Q8_GEMM_BUILT)

struct LayerCase : testing::ConvLayerCase {
  size_t y_stride = 0;  // 0: dense
  float input_scale = 1.0f;
};

std::vector<LayerCase> Cases() {
  std::vector<LayerCase> c;
  c.push_back({"first_layer_3x3s2_k3_relu", {1, 23, 21, 3}, 64, 3, 3, SquareConv(2, 0, 0.0f), 0, 120.0f});
  c.push_back({"first_layer_7x7s2_pad3", {1, 19, 19, 3}, 16, 7, 7, SquareConv(2, 3)});
  c.push_back({"squeeze_1x1_64_to_16", {1, 9, 11, 64}, 16, 1, 1, SquareConv(1, 0, 0.0f)});
  c.push_back({"expand_3x3_pad1_into_concat", {1, 13, 13, 16}, 64, 3, 3, SquareConv(1, 1, 0.0f), 128});
  c.push_back({"pointwise_k5_n70", {1, 5, 6, 5}, 70, 1, 1, SquareConv(1, 0)});
  c.push_back({"pointwise_stride2", {1, 9, 9, 24}, 40, 1, 1, SquareConv(2, 0)});
  c.push_back({"no_pad_3x3_k13", {1, 8, 10, 13}, 33, 3, 3, SquareConv(1, 0), 0, 0.001f});
  ConvParams asym = SquareConv(2, 0, -1.0f, 6.0f);
  asym.pad_top = 1;
  asym.pad_bottom = 2;
  asym.pad_right = 1;
  c.push_back({"asymmetric_pad_clamp", {1, 10, 9, 8}, 20, 3, 2, asym});
  ConvParams dilated = SquareConv(1, 2);
  dilated.dilation_h = dilated.dilation_w = 2;
  // A clamp below most outputs (Relu6-like, the epilogue's upper bound).
  c.push_back({"clamp_below_outputs_3x3", {1, 7, 8, 16}, 32, 3, 3, SquareConv(1, 1, -0.5f, 0.5f)});
  c.push_back({"dilated_3x3", {1, 9, 9, 12}, 17, 3, 3, dilated});
  c.push_back({"one_pixel_rows", {1, 1, 3, 20}, 36, 1, 1, SquareConv(1, 0)});
  // 1x1 layers quantise in their tiles (Q16QuantisesInTile): the Fire
  // squeeze after a concat, an odd k, a k past the tile buffer (not in tile).
  c.push_back({"squeeze_1x1_128_to_16", {1, 7, 9, 128}, 16, 1, 1, SquareConv(1, 0, 0.0f)});
  c.push_back({"pointwise_k129_n16", {1, 4, 5, 129}, 16, 1, 1, SquareConv(1, 0)});
  c.push_back({"pointwise_k520_n8_not_in_tile", {1, 3, 4, 520}, 8, 1, 1, SquareConv(1, 0)});
  c.push_back({"wide_3x3_k96_n130", {1, 7, 8, 96}, 130, 3, 3, SquareConv(1, 1)});
  // Row taps (odd channel counts; the padding is the quantised border): with vertical
  // padding, a 5-wide row of 5 channels, a 1-channel input.
  ConvParams vertical = SquareConv(1, 0, 0.0f);
  vertical.pad_top = 2;
  vertical.pad_bottom = 1;
  c.push_back({"row_taps_vertical_pad_5x3_k3", {1, 12, 14, 3}, 20, 5, 3, vertical});
  c.push_back({"row_taps_1x5_k5_stride2", {1, 9, 17, 5}, 40, 1, 5, SquareConv(2, 0)});
  c.push_back({"row_taps_3x3_k1", {1, 11, 10, 1}, 8, 3, 3, SquareConv(1, 0)});
  ConvParams same = SquareConv(2, 0);  // TensorFlow SAME, stride 2: right and bottom padding
  same.pad_bottom = same.pad_right = 1;
  c.push_back({"row_taps_same_pad_3x3s2_k3", {1, 16, 18, 3}, 24, 3, 3, same});
  return c;
}

// Runs `node` of `g` on `x` with the kernel (threads > 0: on a pool) or its
// scalar reference (threads == 0); `y` has y_stride floats per output pixel.
// `peak`: the outputs' max |y| as the run measured it (nullptr: not measured).
// `node_index`: the node whose geometry the run takes.
std::vector<float> RunInt16(const graph::Graph& g, const int8_internal::Q16GemmWeights& w,
                            const std::vector<float>& x, size_t y_stride, int threads,
                            float* peak = nullptr, size_t node_index = 0) {
  const graph::Node& node = g.nodes[node_index];
  const graph::Shape& ys = g.values[node.outputs[0]].shape;
  const size_t pixels = static_cast<size_t>(ys[1] * ys[2]);
  std::vector<float> y(pixels * (y_stride ? y_stride : w.n), -7.0f);
  std::vector<int16_t> q(int8_internal::Q16InputBytes(g, node, w) / sizeof(int16_t));
  int8_internal::Q16ConvArgs args =
      int8_internal::Q16GemmArgs(g, node, &w, x.data(), q.data(), y.data(), y_stride);
  if (peak) *peak = 0.0f;
  args.out_peak = peak;
  if (threads == 0) {
    int8_internal::QuantizeQ16Input(&args);
    int8_internal::Q16ConvReference(args);
    return y;
  }
  xnnpack_internal::ThreadPool pool;
  if (threads > 1) pool.reset(pthreadpool_create(static_cast<size_t>(threads)));
  int8_internal::RunQ16Gemm(args, pool.get());
  return y;
}

// max |v| over the first n of every `stride` floats.
float PeakOf(const std::vector<float>& v, size_t n, size_t stride) {
  float peak = 0.0f;
  for (size_t i = 0; i < v.size(); ++i) {
    if (i % stride < n) peak = std::max(peak, std::fabs(v[i]));
  }
  return peak;
}

int8_internal::Q16GemmWeights Pack(const graph::Graph& g) {
  return int8_internal::PackQ16GemmNode(g, g.nodes[0]);
}

TEST(Int16GemmTest, KernelIsBitIdenticalToItsReferenceAndNearFloat32) {
  if (!int8_internal::Q16GemmAvailable()) GTEST_SKIP() << "no AVX512-VNNI on this CPU: XNNPACK runs fp32";
  size_t compared = 0;
  double worst = 0.0;
  for (const LayerCase& lc : Cases()) {
    SCOPED_TRACE(lc.name);
    const graph::Graph g = testing::ConvLayerGraph(lc, 5);
    const int8_internal::Q16GemmWeights w = Pack(g);
    EXPECT_GE(w.input_max, 1000);  // at least 10 bits of input
    const bool row_taps = lc.input[3] % 2 == 1 && lc.kernel_w > 1 && lc.p.dilation_w == 1;
    EXPECT_EQ(w.row_taps, row_taps);
    const bool padded = lc.p.pad_top || lc.p.pad_left || lc.p.pad_bottom || lc.p.pad_right;
    const bool in_tile = lc.kernel_h == 1 && lc.kernel_w == 1 && !padded && lc.input[3] <= 512;
    EXPECT_EQ(int8_internal::Q16QuantisesInTile(g.nodes[0], w), in_tile);
    const std::vector<float> input = testing::RandomData(
        static_cast<size_t>(graph::ShapeProduct(lc.input)), 17, -lc.input_scale, lc.input_scale);
    float expected_peak = -1.0f;
    const std::vector<float> expected = RunInt16(g, w, input, lc.y_stride, 0, &expected_peak);
    const size_t out_stride = lc.y_stride ? lc.y_stride : w.n;
    // The peak is of the written outputs alone, not of the other channels.
    EXPECT_EQ(expected_peak, PeakOf(expected, w.n, out_stride));
    EXPECT_GT(expected_peak, 0.0f);
    for (int threads : {1, 2, 3}) {
      float peak = -1.0f;
      const std::vector<float> y = RunInt16(g, w, input, lc.y_stride, threads, &peak);
      ASSERT_EQ(y.size(), expected.size());
      size_t different = 0;
      for (size_t i = 0; i < y.size(); ++i) different += y[i] != expected[i] ? 1 : 0;
      EXPECT_EQ(different, 0u) << "threads=" << threads << " of " << y.size() << " floats";
      EXPECT_EQ(peak, expected_peak) << "threads=" << threads;
      compared += y.size();
    }
    // Unmeasured (a fused pooling's rows): the same floats (the epilogue without the peak).
    EXPECT_EQ(RunInt16(g, w, input, lc.y_stride, 1), expected);
    // The float32 convolution: within the 16-bit rounding (relative to the
    // output's range).
    std::vector<float> exact(static_cast<size_t>(graph::ShapeProduct(g.values[g.outputs[0]].shape)));
    const std::vector<const float*> operands{input.data(), g.values[g.nodes[0].inputs[1]].f32.data(),
                                             g.values[g.nodes[0].inputs[2]].f32.data()};
    ASSERT_TRUE(reference::RunNode(g, g.nodes[0], operands, exact.data()).ok());
    const size_t stride = lc.y_stride ? lc.y_stride : w.n;
    float range = 0.0f, error = 0.0f;
    for (size_t i = 0; i < exact.size(); ++i) {
      range = std::max(range, std::fabs(exact[i]));
      error = std::max(error, std::fabs(exact[i] - expected[i / w.n * stride + i % w.n]));
    }
    EXPECT_LT(error, 2e-3f * range);
    worst = std::max(worst, static_cast<double>(error / range));
    // A strided output leaves the other channels alone.
    if (lc.y_stride) {
      EXPECT_EQ(expected[w.n], -7.0f);
    }
  }
  std::printf("[ engine  ] int16: %zu floats compared, worst error %.2e of the output range\n",
              compared, worst);
}

// The quantised input value by value: round to nearest even of x * inverse
// within +-input_max, in order, over a count that is not a multiple of the
// 32-value step (1295 = 40 x 32 + 15), with a peak below max |x| so that the
// clamp bites.
TEST(Int16GemmTest, QuantisedInputIsEachValueRoundedAndClamped) {
  if (!int8_internal::Q16GemmAvailable()) GTEST_SKIP() << "no AVX512-VNNI on this CPU: XNNPACK runs fp32";
  const LayerCase lc{"quantise_5x7x37", {1, 5, 7, 37}, 8, 1, 1, SquareConv(1, 0)};
  const graph::Graph g = testing::ConvLayerGraph(lc, 5);
  const int8_internal::Q16GemmWeights w = Pack(g);
  const std::vector<float> input = testing::RandomData(static_cast<size_t>(graph::ShapeProduct(lc.input)), 23,
                                                       -3.0f, 3.0f);
  std::vector<int16_t> q(int8_internal::Q16InputBytes(g, g.nodes[0], w) / sizeof(int16_t), 99);
  ASSERT_EQ(q.size(), input.size() + 1);
  int8_internal::Q16ConvArgs args = int8_internal::Q16GemmArgs(g, g.nodes[0], &w, input.data(), q.data(), nullptr, 0);
  const float peak = 2.0f;
  args.input_peak = &peak;
  int8_internal::QuantizeQ16Input(&args);
  const float inverse = static_cast<float>(w.input_max) / peak;
  ASSERT_EQ(args.input_inverse, inverse);
  size_t clamped = 0, different = 0;
  for (size_t i = 0; i < input.size(); ++i) {
    const float v = std::nearbyint(input[i] * inverse);
    clamped += std::fabs(v) > static_cast<float>(w.input_max) ? 1 : 0;
    const auto want = static_cast<int16_t>(std::clamp(v, -static_cast<float>(w.input_max),
                                                      static_cast<float>(w.input_max)));
    if (q[i] != want && different++ < 5) ADD_FAILURE() << "value " << i << ": " << q[i] << " != " << want;
  }
  EXPECT_EQ(different, 0u);
  EXPECT_GT(clamped, 100u);
  EXPECT_EQ(q.back(), 0);  // the tail an odd k's last pair reads
}

// The worst case for the accumulators: every weight of a channel at its
// largest magnitude with one sign and the input at its bound. The sums must
// not wrap (PackQ16Gemm's bound), so the outputs match float32.
TEST(Int16GemmTest, WorstCaseWindowsDoNotOverflow) {
  if (!int8_internal::Q16GemmAvailable()) GTEST_SKIP() << "no AVX512-VNNI on this CPU: XNNPACK runs fp32";
  GraphBuilder b(3);
  const graph::ValueId x = b.Input({1, 6, 6, 64});
  graph::Graph g = b.Finish(b.Conv(x, 24, 3, 3, SquareConv(1, 1)));
  std::vector<float>& weights = g.values[g.nodes[0].inputs[1]].f32;
  for (size_t i = 0; i < weights.size(); ++i) weights[i] = (i / (9 * 64)) % 2 ? -0.5f : 0.5f;
  const int8_internal::Q16GemmWeights w = Pack(g);
  const std::vector<float> input(6 * 6 * 64, 3.0f);
  const std::vector<float> y = RunInt16(g, w, input, 0, 1);
  EXPECT_EQ(y, RunInt16(g, w, input, 0, 0));
  const float* bias = g.values[g.nodes[0].inputs[2]].f32.data();
  // The centre pixel sees all 9 taps: 576 * 0.5 * 3 = 864 (+ bias), with its sign.
  const size_t centre = (2 * 6 + 2) * 24;
  for (size_t o = 0; o < 24; ++o) {
    const float want = (o % 2 ? -864.0f : 864.0f) + bias[o];
    EXPECT_NEAR(y[centre + o], want, 864.0f * 1e-3f) << "channel " << o;
  }
}

struct PoolCase {
  std::string name;
  graph::Shape input;
  int out_channels, kernel;
  ConvParams conv;
  testing::PoolParams pool;
};

// The int16 convolution with the max pooling that alone reads it computed
// in the same pass (RunQ16GemmMaxPool, engine/max_pool_ring.h) equals the
// kernel's dense output pooled by the reference MaxPool2D, bit for bit, in
// 1-3 bands of pooled rows, and measures the pooled outputs' peak.
TEST(Int16GemmTest, FusedMaxPoolEqualsTheUnfusedPair) {
  if (!int8_internal::Q16GemmAvailable()) GTEST_SKIP() << "no AVX512-VNNI on this CPU: XNNPACK runs fp32";
  testing::PoolParams ceil = SquarePool(3, 2);
  ceil.pad_bottom = ceil.pad_right = 1;  // Caffe's ceil mode
  const std::vector<PoolCase> cases = {
      {"squeezenet_first_layer", {1, 31, 29, 3}, 64, 3, SquareConv(2, 0, 0.0f), SquarePool(3, 2)},
      {"ceil_mode_pool", {1, 20, 22, 3}, 24, 3, SquareConv(2, 0, 0.0f), ceil},
      {"padded_clamped_pool", {1, 13, 11, 8}, 70, 3, SquareConv(1, 1), SquarePool(3, 2, 1, -0.5f, 0.75f)},
      {"pool_2x2_no_relu", {1, 10, 14, 5}, 16, 1, SquareConv(1, 0), SquarePool(2, 2)},
      {"stride_over_window", {1, 17, 17, 4}, 33, 3, SquareConv(1, 1, 0.0f), SquarePool(2, 3)},
  };
  for (const PoolCase& pc : cases) {
    SCOPED_TRACE(pc.name);
    GraphBuilder b(9);
    const graph::ValueId x = b.Input(pc.input);
    const graph::ValueId c = b.Conv(x, pc.out_channels, pc.kernel, pc.kernel, pc.conv);
    const graph::Graph g = b.Finish(b.Pool(graph::Op::kMaxPool2D, c, pc.pool));
    const graph::Node& pool_node = g.nodes[1];
    ASSERT_TRUE(xnnpack_internal::FusablePool(g, pool_node));
    const int8_internal::Q16GemmWeights w = Pack(g);
    const std::vector<float> input =
        testing::RandomData(static_cast<size_t>(graph::ShapeProduct(pc.input)), 23);
    // Unfused: the kernel's dense output, then the reference pooling.
    const std::vector<float> conv = RunInt16(g, w, input, 0, 1);
    std::vector<float> expected(static_cast<size_t>(graph::ShapeProduct(g.values[g.outputs[0]].shape)));
    const std::vector<const float*> pooled_input{conv.data()};
    ASSERT_TRUE(reference::RunNode(g, pool_node, pooled_input, expected.data()).ok());
    const float expected_peak = PeakOf(expected, w.n, w.n);
    for (size_t threads : {1, 2, 3}) {
      std::vector<float> y(expected.size(), -7.0f);
      std::vector<int16_t> q(int8_internal::Q16InputBytes(g, g.nodes[0], w) / sizeof(int16_t));
      int8_internal::Q16ConvArgs args =
          int8_internal::Q16GemmArgs(g, g.nodes[0], &w, input.data(), q.data(), nullptr, 0);
      float peak = 0.0f;
      args.out_peak = &peak;
      const xnnpack_internal::MaxPoolGeometry geometry =
          xnnpack_internal::MaxPoolGeometryOf(g, pool_node, y.data(), w.n);
      const size_t ring_floats = xnnpack_internal::MaxPoolRingFloats(geometry.kernel_h, args.out_w, w.n);
      std::vector<float> rings(ring_floats * threads, 3.0e38f);  // garbage the rows must overwrite
      xnnpack_internal::ThreadPool pool;
      if (threads > 1) pool.reset(pthreadpool_create(threads));
      int8_internal::RunQ16GemmMaxPool(args, geometry, rings.data(), ring_floats, threads, pool.get());
      size_t different = 0;
      for (size_t i = 0; i < y.size(); ++i) different += y[i] != expected[i] ? 1 : 0;
      EXPECT_EQ(different, 0u) << "bands=" << threads << " of " << y.size() << " floats";
      EXPECT_EQ(peak, expected_peak) << "bands=" << threads;
    }
  }
}

// A SqueezeNet-like head whose first 7 convolutions (the food export's
// prefix) stay float32, built twice: as is, and with an identity ReLU after
// each of them and after the first pooling, which stops the poolings'
// fusion (after the first convolution, and after the second Fire module's
// concat) and the measured peaks (a ReLU's output is produced by XNNPACK).
// The calibrations are equal (a ReLU of a ReLU changes no value), so the two
// int8 programs must give the same floats; so must the 1x1 expands run in
// their 3x3 expand's tiles (Q16ConvArgs::folded), which the ReLUs also stop.
// `expand1`: the 1x1 expands' channels.
graph::Graph FoodLikeHead(bool identity_relus, std::vector<std::string>* prefix, int expand1 = 48) {
  GraphBuilder b(31);
  ConvParams relu = SquareConv(1, 0, 0.0f);
  ConvParams relu_pad = SquareConv(1, 1, 0.0f);
  const auto kept = [&](graph::ValueId v) {
    prefix->push_back(b.graph().nodes.back().name);
    return identity_relus ? b.Unary(graph::Op::kRelu, v) : v;
  };
  graph::ValueId x = b.Input({1, 47, 47, 3});
  x = kept(b.Conv(x, 64, 3, 3, SquareConv(2, 0, 0.0f)));
  x = b.Pool(graph::Op::kMaxPool2D, x, SquarePool(3, 2));
  if (identity_relus) x = b.Unary(graph::Op::kRelu, x);
  for (int fire = 0; fire < 2; ++fire) {
    const graph::ValueId s = kept(b.Conv(x, 16, 1, 1, relu));
    const graph::ValueId e1 = kept(b.Conv(s, expand1, 1, 1, relu));
    const graph::ValueId e3 = kept(b.Conv(s, 64, 3, 3, relu_pad));
    x = b.Concat({e1, e3}, 3);
  }
  x = b.Pool(graph::Op::kMaxPool2D, x, SquarePool(3, 2));
  x = b.Conv(x, 32, 1, 1, relu);
  x = b.Conv(x, 48, 3, 3, relu_pad);
  x = b.Conv(x, 5, 1, 1, relu);
  x = b.GlobalAvgPool(x);
  x = b.Reshape(x, {1, 5});
  return b.Finish(b.Unary(graph::Op::kSoftmax, x));
}

TEST(Int16GemmTest, FusedPoolFoldedExpandsAndMeasuredPeaksGiveTheUnfusedProgramsOutputs) {
  if (!int8_internal::Q16GemmAvailable()) GTEST_SKIP() << "no AVX512-VNNI on this CPU: XNNPACK runs fp32";
  std::vector<std::vector<float>> inputs;
  for (uint32_t s = 0; s < 3; ++s) inputs.push_back(testing::RandomData(47 * 47 * 3, 70 + s, 0.0f, 2.0f));
  for (int expand1 : {48, 64}) {
  SCOPED_TRACE("1x1 expands of " + std::to_string(expand1) + " channels");
  std::vector<std::vector<float>> outputs[2];
  for (int relus = 0; relus < 2; ++relus) {
    std::vector<std::string> prefix;
    const graph::Graph g = FoodLikeHead(relus == 1, &prefix, expand1);
    ASSERT_EQ(prefix.size(), 7u);
    Result<Int8Calibration> c = CalibrateInt8(g, inputs);
    ASSERT_TRUE(c.ok()) << c.status().message();
    c->float_nodes = prefix;
    const auto backend = MakeInt8Backend(std::make_shared<const Int8Calibration>(std::move(*c)));
    for (int threads : {1, 2}) {
      EngineOptions options;
      options.threads = threads;
      Result<std::unique_ptr<CompiledModel>> model = backend->Compile(g, options);
      ASSERT_TRUE(model.ok()) << model.status().message();
      const Int8PlanStats& stats = *GetInt8PlanStats(**model);
      EXPECT_EQ(stats.int16_nodes, 7);
      // The first layer's pooling, and the one after the second Fire module's concat.
      EXPECT_EQ(stats.fused_pools, relus ? 0 : 2);
      // Both Fire modules' 1x1 expands in their 3x3 expand's tiles: one
      // writing into its concat, one into the fused pooling.
      EXPECT_EQ(stats.folded_expands, relus ? 0 : 2);
      for (const auto& input : inputs) {
        Result<std::vector<float>> y = testing::RunOnce(*backend, g, input, threads);
        ASSERT_TRUE(y.ok()) << y.status().message();
        outputs[relus].push_back(*y);
      }
    }
  }
  ASSERT_EQ(outputs[0].size(), outputs[1].size());
  for (size_t i = 0; i < outputs[0].size(); ++i) EXPECT_EQ(outputs[0][i], outputs[1][i]) << "run " << i;
  }
}

// In an int8 program, the convolutions mixed precision keeps float32 run on
// the int16 kernel (not the logits), near the float32 engine; with
// xnnpack_only they run on XNNPACK's f32 operator and none is int16.
TEST(Int16GemmTest, Int8ProgramsRunTheirFloat32ConvolutionsOnIt) {
  const graph::Graph g = testing::SqueezeNet11(64, 6, 5);
  std::vector<std::vector<float>> inputs;
  for (uint32_t s = 0; s < 3; ++s) inputs.push_back(testing::RandomData(64 * 64 * 3, 40 + s));
  Result<Int8Calibration> c = CalibrateInt8(g, inputs);
  ASSERT_TRUE(c.ok()) << c.status().message();
  int convs = 0;
  for (const graph::Node& n : g.nodes) {
    if (n.op == graph::Op::kConv2D && convs++ < 4) c->float_nodes.push_back(n.name);
  }
  const auto backend = MakeInt8Backend(std::make_shared<const Int8Calibration>(std::move(*c)));
  EngineOptions only;
  only.xnnpack_only = true;
  Result<std::unique_ptr<CompiledModel>> xnnpack = backend->Compile(g, only);
  Result<std::unique_ptr<CompiledModel>> own = backend->Compile(g, {});
  ASSERT_TRUE(xnnpack.ok() && own.ok());
  EXPECT_EQ(GetInt8PlanStats(**xnnpack)->int16_nodes, 0);
  EXPECT_EQ(GetInt8PlanStats(**own)->int16_nodes, int8_internal::Q16GemmAvailable() ? 4 : 0);
  for (const auto& input : inputs) {
    Result<std::vector<float>> a = testing::RunOnce(*backend, g, input);
    Result<std::vector<float>> b = testing::RunOnce(*backend, g, input, 1, true);
    ASSERT_TRUE(a.ok() && b.ok());
    for (size_t k = 0; k < a->size(); ++k) EXPECT_NEAR((*a)[k], (*b)[k], 0.02) << "output " << k;
  }
}

#endif  // EV_Q8_GEMM_BUILT

}  // namespace
}  // namespace edgevision::engine
