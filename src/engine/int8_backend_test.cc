// The int8 engine (engine/int8_backend.h) on synthetic SqueezeNet 1.1 and
// MobileNetV2 graphs (random weights; the real exports are checked against
// float32 at the >= 99 % top-1 bar in tests/cli/int8_test.py): calibration
// observes what float32 computes, the int8 program stays close to float32,
// runs its convolutions in int8 and refuses a calibration of another graph.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/int8_backend.h"
#include "engine/int8_ops.h"
#include "engine/testing/test_graphs.h"
#include "engine/xnnpack_backend.h"
#include "engine/xnnpack_ops.h"

namespace edgevision::engine {
namespace {

using testing::RandomData;
using testing::RunOnce;

std::vector<std::vector<float>> Inputs(const graph::Graph& g, int n, uint32_t seed) {
  const size_t size = static_cast<size_t>(graph::ShapeProduct(g.values[g.inputs[0]].shape));
  std::vector<std::vector<float>> inputs;
  for (int i = 0; i < n; ++i) inputs.push_back(RandomData(size, seed + i, -1.0f, 1.0f));
  return inputs;
}

TEST(Int8BackendTest, CalibrationObservesTheInputAndOutputRanges) {
  const graph::Graph g = testing::SqueezeNet11(48, 5, 7);
  const auto inputs = Inputs(g, 3, 100);
  Result<Int8Calibration> c = CalibrateInt8(g, inputs);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->ranges.size(), g.values.size());
  float lo = inputs[0][0], hi = inputs[0][0];
  for (const auto& in : inputs) {
    lo = std::min(lo, *std::min_element(in.begin(), in.end()));
    hi = std::max(hi, *std::max_element(in.begin(), in.end()));
  }
  EXPECT_EQ(c->ranges[g.inputs[0]].min, lo);
  EXPECT_EQ(c->ranges[g.inputs[0]].max, hi);
  // The softmax output: probabilities.
  const ValueRange out = c->ranges[g.outputs[0]];
  EXPECT_GE(out.min, 0.0f);
  EXPECT_LE(out.max, 1.0f);
  EXPECT_GT(out.max, 0.0f);
}

TEST(Int8BackendTest, CalibrationRecordsEachChannelsMean) {
  const graph::Graph g = testing::SqueezeNet11(48, 5, 7);
  const auto inputs = Inputs(g, 3, 300);
  Result<Int8Calibration> c = CalibrateInt8(g, inputs);
  ASSERT_TRUE(c.ok()) << c.status().message();
  ASSERT_EQ(c->channel_means.size(), g.values.size());
  const std::vector<float>& means = c->channel_means[g.inputs[0]];
  ASSERT_EQ(means.size(), 3u);
  for (size_t ch = 0; ch < 3; ++ch) {
    double sum = 0;
    size_t n = 0;
    for (const auto& in : inputs) {
      for (size_t k = ch; k < in.size(); k += 3, ++n) sum += in[k];
    }
    EXPECT_NEAR(means[ch], sum / static_cast<double>(n), 1e-5) << "channel " << ch;
  }
  // The softmax output: one mean per class, summing to 1.
  const std::vector<float>& out = c->channel_means[g.outputs[0]];
  ASSERT_EQ(out.size(), 5u);
  double total = 0;
  for (float m : out) total += m;
  EXPECT_NEAR(total, 1.0, 1e-4);
}

// Bias correction: on an input at its channel means, the int8 weights and
// corrected bias give what the float weights and bias give, to within the
// bias's rounding; without means the bias is the float bias, rounded.
TEST(Int8BackendTest, BiasCorrectionCancelsTheWeightRoundingAtTheChannelMeans) {
  for (const int groups : {1, 4}) {
    SCOPED_TRACE(groups == 1 ? "dense" : "grouped");
    testing::GraphBuilder b(11);
    const graph::ValueId x = b.Input({1, 6, 6, 8});
    testing::ConvParams p;
    p.groups = groups;
    p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = 1;
    const graph::ValueId y = b.Conv(x, 8, 3, 3, p);
    const graph::Graph g = b.Finish(y);
    const graph::Node& node = g.nodes[0];
    const std::vector<float>& w = g.values[node.inputs[1]].f32;
    const std::vector<float>& bias = g.values[node.inputs[2]].f32;
    const int8_internal::Quant in{0.02f, -3};
    const std::vector<float> means = RandomData(8, 5, 0.5f, 4.0f);
    const auto plain = int8_internal::QuantizeWeights(g, node, int8_internal::Q8Kind::kConv, in);
    const auto corrected = int8_internal::QuantizeWeights(g, node, int8_internal::Q8Kind::kConv, in, means);
    ASSERT_EQ(plain.kernel, corrected.kernel);
    const size_t per_channel = w.size() / 8, group_in = 8 / static_cast<size_t>(groups);
    const size_t group_out = 8 / static_cast<size_t>(groups);
    double moved = 0;
    for (size_t o = 0; o < 8; ++o) {
      const double unit = static_cast<double>(in.scale) * corrected.scales[o];
      EXPECT_NEAR(plain.bias[o] * unit, bias[o], unit / 2 + 1e-9) << "channel " << o;
      double exact = bias[o], int8 = corrected.bias[o] * unit;
      for (size_t k = 0; k < per_channel; ++k) {
        const double mean = means[(o / group_out) * group_in + k % group_in];
        exact += static_cast<double>(w[o * per_channel + k]) * mean;
        int8 += corrected.kernel[o * per_channel + k] * static_cast<double>(corrected.scales[o]) * mean;
      }
      EXPECT_NEAR(int8, exact, unit / 2 + 1e-6) << "channel " << o;
      moved += std::fabs(static_cast<double>(corrected.bias[o]) - plain.bias[o]);
    }
    EXPECT_GT(moved, 0.0) << "the correction changed no bias";
  }
}

TEST(Int8BackendTest, StaysCloseToFloat32AndRunsConvolutionsInInt8) {
  for (const bool mobilenet : {false, true}) {
    SCOPED_TRACE(mobilenet ? "MobileNetV2" : "SqueezeNet 1.1");
    const graph::Graph g = mobilenet ? testing::MobileNetV2(64, 6, 3) : testing::SqueezeNet11(64, 6, 3);
    const auto inputs = Inputs(g, 6, 200);
    Result<Int8Calibration> c = CalibrateInt8(g, inputs);
    ASSERT_TRUE(c.ok()) << c.status().message();
    const auto calibration = std::make_shared<const Int8Calibration>(std::move(*c));
    const std::unique_ptr<Backend> int8 = MakeInt8Backend(calibration);
    const std::unique_ptr<Backend> fp32 = MakeXnnpackBackend();

    Result<std::unique_ptr<CompiledModel>> compiled = int8->Compile(g, {});
    ASSERT_TRUE(compiled.ok()) << compiled.status().message();
    const Int8PlanStats* stats = GetInt8PlanStats(**compiled);
    ASSERT_NE(stats, nullptr);
    int convs = 0;
    for (const graph::Node& n : g.nodes) convs += n.op == graph::Op::kConv2D;
    EXPECT_GE(stats->int8_nodes, convs);  // every convolution, and more
    EXPECT_GE(stats->conversions, 2);     // in at the input, out before the tail

    // Within and beyond the calibration set.
    auto check = [&](const std::vector<float>& input) {
      Result<std::vector<float>> a = RunOnce(*int8, g, input);
      Result<std::vector<float>> b = RunOnce(*fp32, g, input);
      ASSERT_TRUE(a.ok() && b.ok());
      double worst = 0, sum_a = 0;
      for (size_t k = 0; k < a->size(); ++k) {
        worst = std::max(worst, std::fabs(static_cast<double>((*a)[k]) - (*b)[k]));
        sum_a += (*a)[k];
      }
      EXPECT_NEAR(sum_a, 1.0, 1e-4);  // the softmax tail ran in float32
      EXPECT_LT(worst, 0.05);
    };
    for (const auto& input : inputs) check(input);
    for (const auto& input : Inputs(g, 3, 900)) check(input);
  }
}

// An input normalisation (x * scale + mean, 3-value constants, float32 in
// the int8 program) runs on the constants tiled along the rows
// (xnnpack_ops.h BroadcastWidening): the bytes are those of the same
// arithmetic on full-size constants, which XNNPACK runs element by element.
TEST(Int8BackendTest, WidenedInputNormalisationGivesTheSameBytes) {
  testing::GraphBuilder b(21);
  const graph::ValueId x = b.Input({1, 12, 10, 3});
  const graph::ValueId scale = b.RandomConstant({3}, 0.5f, 2.0f);
  const graph::ValueId mean = b.RandomConstant({3}, -1.0f, 1.0f);
  const graph::ValueId normalised = b.Binary(graph::Op::kAdd, b.Binary(graph::Op::kMul, x, scale), mean);
  testing::ConvParams p;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = 1;
  const graph::Graph widened = b.Finish(b.Unary(graph::Op::kSoftmax, b.Conv(normalised, 5, 3, 3, p)));
  ASSERT_GT(xnnpack_internal::BroadcastWidening(widened, widened.nodes[0]), 0u);
  graph::Graph full = widened;  // the same graph, the constants tiled over every pixel
  for (const graph::ValueId c : {scale, mean}) {
    std::vector<float> tiled;
    for (int pixel = 0; pixel < 12 * 10; ++pixel) {
      tiled.insert(tiled.end(), widened.values[c].f32.begin(), widened.values[c].f32.end());
    }
    full.values[c].f32 = tiled;
    full.values[c].shape = {1, 12, 10, 3};
  }
  ASSERT_EQ(xnnpack_internal::BroadcastWidening(full, full.nodes[0]), 0u);
  Result<Int8Calibration> c = CalibrateInt8(widened, Inputs(widened, 2, 40));
  ASSERT_TRUE(c.ok()) << c.status().message();
  const auto backend = MakeInt8Backend(std::make_shared<const Int8Calibration>(std::move(*c)));
  for (const auto& input : Inputs(widened, 3, 70)) {
    Result<std::vector<float>> a = RunOnce(*backend, widened, input);
    Result<std::vector<float>> e = RunOnce(*backend, full, input);
    ASSERT_TRUE(a.ok() && e.ok());
    EXPECT_EQ(*a, *e);
  }
}

// Mixed precision keeping Fire modules float32: their expand convolutions
// write their float32 outputs into the concat in place (as int8 ones do) or,
// on the int16 kernel, pooled into the pooling that alone reads it, and
// a program with every convolution kept float32 computes what float32 does.
TEST(Int8BackendTest, Float32ConvolutionsWriteIntoTheirConcatInPlace) {
  const graph::Graph g = testing::SqueezeNet11(64, 6, 5);
  const auto inputs = Inputs(g, 3, 500);
  Result<Int8Calibration> c = CalibrateInt8(g, inputs);
  ASSERT_TRUE(c.ok()) << c.status().message();
  int convs = 0;
  for (const graph::Node& n : g.nodes) {
    if (n.op == graph::Op::kConv2D) {
      c->float_nodes.push_back(n.name);
      ++convs;
    }
  }
  const auto backend = MakeInt8Backend(std::make_shared<const Int8Calibration>(std::move(*c)));
  Result<std::unique_ptr<CompiledModel>> compiled = backend->Compile(g, {});
  ASSERT_TRUE(compiled.ok()) << compiled.status().message();
  const Int8PlanStats* stats = GetInt8PlanStats(**compiled);
  ASSERT_NE(stats, nullptr);
  EXPECT_GE(stats->kept_float, convs - 1);  // the last is the float32 tail anyway
  // 8 Fire modules, 2 expands each; on the int16 kernel the two whose concat
  // only a max pooling reads pool their outputs into its output instead
  // (and the first convolution its pooling).
  const bool int16 = Int8FloatConvolutionsOnInt16();
  EXPECT_EQ(stats->inplace_concat_inputs, int16 ? 12 : 16);
  EXPECT_EQ(stats->fused_pools, int16 ? 3 : 0);
  const std::unique_ptr<Backend> fp32 = MakeXnnpackBackend();
  for (const auto& input : inputs) {
    Result<std::vector<float>> a = RunOnce(*backend, g, input);
    Result<std::vector<float>> b = RunOnce(*fp32, g, input);
    ASSERT_TRUE(a.ok() && b.ok());
    for (size_t k = 0; k < a->size(); ++k) EXPECT_NEAR((*a)[k], (*b)[k], 1e-4) << "output " << k;
  }
}

TEST(Int8BackendTest, SessionsOfOneModelAgree) {
  const graph::Graph g = testing::MobileNetV2(48, 4, 11);
  const auto inputs = Inputs(g, 2, 300);
  Result<Int8Calibration> c = CalibrateInt8(g, inputs);
  ASSERT_TRUE(c.ok());
  const auto backend = MakeInt8Backend(std::make_shared<const Int8Calibration>(std::move(*c)));
  for (const int threads : {1, 2}) {
    Result<std::unique_ptr<CompiledModel>> m = backend->Compile(g, {.threads = threads});
    ASSERT_TRUE(m.ok());
    auto s1 = (*m)->CreateSession();
    auto s2 = (*m)->CreateSession();
    ASSERT_TRUE(s1.ok() && s2.ok());
    std::vector<float> o1((*m)->output_size()), o2((*m)->output_size());
    ASSERT_TRUE((*s1)->Run(inputs[0], o1).ok());
    ASSERT_TRUE((*s2)->Run(inputs[0], o2).ok());
    EXPECT_EQ(o1, o2);
    std::vector<float> wrong(3);
    EXPECT_EQ((*s1)->Run(wrong, o1).code(), StatusCode::kInvalidArgument);
  }
}

TEST(Int8BackendTest, RefusesACalibrationOfAnotherGraphAndNoInputs) {
  const graph::Graph a = testing::SqueezeNet11(48, 5, 1);
  const graph::Graph b = testing::MobileNetV2(48, 5, 1);
  Result<Int8Calibration> c = CalibrateInt8(a, Inputs(a, 1, 1));
  ASSERT_TRUE(c.ok());
  const auto backend = MakeInt8Backend(std::make_shared<const Int8Calibration>(std::move(*c)));
  Result<std::unique_ptr<CompiledModel>> m = backend->Compile(b, {});
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(CalibrateInt8(a, {}).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(GetInt8PlanStats(**MakeXnnpackBackend()->Compile(a, {})), nullptr);
}

}  // namespace
}  // namespace edgevision::engine
