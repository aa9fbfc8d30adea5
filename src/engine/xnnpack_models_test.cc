// The XNNPACK backend on network fragments and whole networks built in the
// IR: in-place concatenation (and where it must not happen), MobileNet
// blocks, memory reuse, concurrent sessions and the Session contract.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "engine/engine_test_util.h"
#include "engine/pointwise_gemm.h"
#include "engine/xnnpack_backend.h"

namespace edgevision::engine {
namespace {

using graph::Op;
using graph::ValueId;
using testing::ConvParams;
using testing::ExpectMatchesReference;
using testing::GraphBuilder;
using ::testing::HasSubstr;

ConvParams Relu(int pad = 0) {
  ConvParams p;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = pad;
  p.act_min = 0.0f;
  return p;
}

// squeeze 1x1 -> (expand 1x1, expand 3x3) -> concat on channels.
struct Fire {
  ValueId squeeze, e1, e3, out;
};
Fire AddFire(GraphBuilder& b, ValueId x, int squeeze, int expand) {
  Fire f;
  f.squeeze = b.Conv(x, squeeze, 1, 1, Relu());
  f.e1 = b.Conv(f.squeeze, expand, 1, 1, Relu());
  f.e3 = b.Conv(f.squeeze, expand, 3, 3, Relu(1));
  f.out = b.Concat({f.e1, f.e3}, 3);
  return f;
}

XnnpackPlanStats Stats(const graph::Graph& g) {
  auto model = MakeXnnpackBackend()->Compile(g, {});
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return model.ok() ? *GetXnnpackPlanStats(**model) : XnnpackPlanStats{};
}

TEST(InPlaceConcatTest, FireModulesWriteStraightIntoTheConcat) {
  GraphBuilder b(1);
  const ValueId x = b.Input({1, 15, 15, 16});
  const Fire f1 = AddFire(b, x, 8, 16);
  const Fire f2 = AddFire(b, f1.out, 8, 24);  // the squeeze reads the concat output
  testing::PoolParams pool;
  pool.kernel_h = pool.kernel_w = 3;
  pool.stride_h = pool.stride_w = 2;
  const graph::Graph g = b.Finish(b.Pool(Op::kMaxPool2D, f2.out, pool));
  ExpectMatchesReference(g, "Fire x2");
  const XnnpackPlanStats s = Stats(g);
  EXPECT_EQ(s.inplace_concat_inputs, 4);
  EXPECT_EQ(s.copied_concat_inputs, 0);
  EXPECT_EQ(s.free_nodes, 2);
  EXPECT_EQ(s.reference_nodes, 0);
}

TEST(InPlaceConcatTest, MemberAlsoReadByAStridedConsumerStaysInPlace) {
  GraphBuilder b(2);
  const ValueId x = b.Input({1, 9, 9, 8});
  const Fire f = AddFire(b, x, 8, 8);
  // e1 is also pooled on its own: pooling reads any pixel stride.
  testing::PoolParams pool;
  pool.kernel_h = pool.kernel_w = 2;
  const ValueId side = b.Pool(Op::kMaxPool2D, f.e1, pool);
  const ValueId main = b.Pool(Op::kAvgPool2D, f.out, pool);
  const graph::Graph g = b.Finish(b.Concat({side, main}, 3));
  ExpectMatchesReference(g, "Fire + strided side branch");
  const XnnpackPlanStats s = Stats(g);
  EXPECT_EQ(s.inplace_concat_inputs, 4);  // e1, e3, and both pools into the last concat
  EXPECT_EQ(s.copied_concat_inputs, 0);
}

TEST(InPlaceConcatTest, MemberAlsoReadByADenseConsumerIsCopied) {
  GraphBuilder b(3);
  const ValueId x = b.Input({1, 9, 9, 8});
  const Fire f = AddFire(b, x, 8, 8);
  // Add needs dense operands: e1 keeps its own buffer and is copied.
  const ValueId sum = b.Binary(Op::kAdd, f.e1, f.e3);
  const graph::Graph g = b.Finish(b.Concat({f.out, sum}, 3));
  ExpectMatchesReference(g, "Fire with e1 read densely");
  const XnnpackPlanStats s = Stats(g);
  // Inner concat: e1 copied, e3 in place (read by Add too? yes -> copied).
  EXPECT_EQ(s.copied_concat_inputs, 3);   // e1, e3 (both read by Add), sum (Add output)
  EXPECT_EQ(s.inplace_concat_inputs, 1);  // the inner concat inside the outer one
}

TEST(InPlaceConcatTest, GraphInputConstantAndRepeatedInputsAreCopied) {
  GraphBuilder b(4);
  const ValueId x = b.Input({1, 5, 5, 3});
  const ValueId y = b.Conv(x, 4, 3, 3, Relu(1));
  const ValueId c = b.RandomConstant({1, 5, 5, 2}, -1, 1);
  const graph::Graph g = b.Finish(b.Concat({x, y, c, y}, 3));
  ExpectMatchesReference(g, "Concat of input, conv, constant, conv again");
  const XnnpackPlanStats s = Stats(g);
  EXPECT_EQ(s.inplace_concat_inputs, 1);  // the first y
  EXPECT_EQ(s.copied_concat_inputs, 3);   // x, c, the second y
}

TEST(InPlaceConcatTest, NestedConcatsCompose) {
  GraphBuilder b(5);
  const ValueId x = b.Input({1, 6, 6, 4});
  const ValueId a = b.Conv(x, 3, 1, 1, Relu());
  const ValueId c = b.Conv(x, 5, 3, 3, Relu(1));
  const ValueId inner = b.Concat({a, c}, 3);
  const ValueId d = b.Unary(Op::kSigmoid, x);
  const ValueId outer = b.Concat({d, inner}, 3);
  const graph::Graph g = b.Finish(b.Conv(outer, 6, 3, 3, Relu(1)));
  ExpectMatchesReference(g, "Nested concat");
  const XnnpackPlanStats s = Stats(g);
  EXPECT_EQ(s.inplace_concat_inputs, 4);
  EXPECT_EQ(s.copied_concat_inputs, 0);
  EXPECT_EQ(s.free_nodes, 2);
}

TEST(InPlaceConcatTest, NonChannelAxisAndReferenceProducersCopy) {
  GraphBuilder b(6);
  const ValueId x = b.Input({1, 4, 6, 8});
  const ValueId a = b.Conv(x, 8, 1, 1, Relu());
  const ValueId rows = b.Concat({a, x}, 1);           // axis H: copies
  const ValueId t = b.Transpose(rows, {0, 2, 1, 3});  // reference kernel
  const ValueId e = b.Conv(t, 4, 1, 1, Relu());
  const graph::Graph g = b.Finish(b.Concat({t, e}, 3));
  ExpectMatchesReference(g, "Concat on rows, transpose member");
  const XnnpackPlanStats s = Stats(g);
  EXPECT_EQ(s.copied_concat_inputs, 3);   // a, x on rows; t from the reference kernel
  EXPECT_EQ(s.inplace_concat_inputs, 1);  // e
  EXPECT_EQ(s.reference_nodes, 1);
}

TEST(InPlaceConcatTest, ConcatFeedingReshapeAndFullyConnected) {
  GraphBuilder b(7);
  const ValueId x = b.Input({1, 3, 3, 4});
  const Fire f = AddFire(b, x, 4, 6);
  const ValueId flat = b.Reshape(f.out, {1, 3 * 3 * 12});
  const graph::Graph g = b.Finish(b.FullyConnected(flat, 10));
  ExpectMatchesReference(g, "Fire -> Reshape -> FC");
  const XnnpackPlanStats s = Stats(g);
  EXPECT_EQ(s.inplace_concat_inputs, 2);
  EXPECT_EQ(s.free_nodes, 2);  // the concat and the reshape
}

// --- MobileNet blocks ---------------------------------------------------------

TEST(MobileNetBlockTest, V2InvertedResidual) {
  GraphBuilder b(8);
  const ValueId x = b.Input({1, 14, 14, 16});
  ConvParams relu6;
  relu6.act_min = 0.0f;
  relu6.act_max = 6.0f;
  ValueId y = b.Conv(x, 96, 1, 1, relu6);
  ConvParams dw = relu6;
  dw.groups = 96;
  dw.pad_top = dw.pad_left = dw.pad_bottom = dw.pad_right = 1;
  y = b.Conv(y, 96, 3, 3, dw);
  y = b.Conv(y, 16, 1, 1);
  const graph::Graph g = b.Finish(b.Binary(Op::kAdd, x, y));
  ExpectMatchesReference(g, "MobileNetV2 block");
}

TEST(MobileNetBlockTest, V3WithHardSwishAndSqueezeExcite) {
  GraphBuilder b(9);
  const ValueId x = b.Input({1, 14, 14, 16});
  ValueId y = b.Unary(Op::kHardSwish, b.Conv(x, 64, 1, 1));
  ConvParams dw;
  dw.groups = 64;
  dw.pad_top = dw.pad_left = dw.pad_bottom = dw.pad_right = 2;
  y = b.Unary(Op::kHardSwish, b.Conv(y, 64, 5, 5, dw));
  // Squeeze-excite: GAP -> FC -> ReLU -> FC -> hard sigmoid -> scale channels.
  ValueId se = b.GlobalAvgPool(y);
  se = b.FullyConnected(se, 16, true, 0.0f);
  se = b.FullyConnected(se, 64);
  se = b.Binary(Op::kAdd, se, b.RandomConstant({}, 3.0f, 3.0f), 0.0f, 6.0f);
  se = b.Binary(Op::kMul, se, b.RandomConstant({}, 1.0f / 6, 1.0f / 6));
  se = b.Reshape(se, {1, 1, 1, 64});
  y = b.Binary(Op::kMul, y, se);
  y = b.Conv(y, 16, 1, 1);
  const graph::Graph g = b.Finish(b.Binary(Op::kAdd, y, x));
  ExpectMatchesReference(g, "MobileNetV3 block");
}

// --- Whole networks -------------------------------------------------------------

TEST(NetworkTest, SqueezeNet11) {
  const graph::Graph g = testing::SqueezeNet11(99, 10, 31);
  ExpectMatchesReference(g, "SqueezeNet 1.1 @99", testing::kModelTolerance, 5, 0.0f, 1.0f);
  const XnnpackPlanStats s = Stats(g);
  EXPECT_EQ(s.inplace_concat_inputs, 16);
  EXPECT_EQ(s.copied_concat_inputs, 0);
  EXPECT_EQ(s.reference_nodes, 0);
  // fire4-fire9's expand3x3 (32-64 input channels); fire2-3's (16) too
  // where the products run on our GEMM (AVX-512: all eight), else they stay
  // direct.
  const bool gemm = xnnpack_internal::PointwiseGemmAvailable();
  EXPECT_EQ(s.winograd_nodes, gemm ? 8 : 6);
  EXPECT_EQ(s.winograd_gemm_nodes, gemm ? 8 : 0);
  // Liveness reuse: the arena holds a few live activations, not all of them.
  EXPECT_LT(s.arena_bytes * 3, s.activation_bytes);
}

TEST(NetworkTest, MobileNetV2) {
  const graph::Graph g = testing::MobileNetV2(96, 10, 37);
  ExpectMatchesReference(g, "MobileNetV2 @96", testing::kModelTolerance, 6, -1.0f, 1.0f);
  const XnnpackPlanStats s = Stats(g);
  EXPECT_EQ(s.reference_nodes, 0);
  EXPECT_LT(s.arena_bytes * 3, s.activation_bytes);
}

// --- Sessions -------------------------------------------------------------------

TEST(SessionTest, ConcurrentSessionsGiveIdenticalResults) {
  const graph::Graph g = testing::SqueezeNet11(67, 12, 41);
  constexpr int kThreads = 4, kRuns = 8;
  for (int engine_threads : {1, 2}) {
    EngineOptions options;
    options.threads = engine_threads;
    auto model = MakeXnnpackBackend()->Compile(g, options);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    const size_t in_size = 67 * 67 * 3;
    // Expected outputs from one session, run serially.
    std::vector<std::vector<float>> inputs, expected;
    auto serial = (*model)->CreateSession();
    ASSERT_TRUE(serial.ok());
    for (int t = 0; t < kThreads; ++t) {
      inputs.push_back(testing::RandomData(in_size, 100 + t, 0.0f, 1.0f));
      expected.emplace_back((*model)->output_size());
      ASSERT_TRUE((*serial)->Run(inputs[t], expected[t]).ok());
    }
    std::vector<std::unique_ptr<Session>> sessions;
    for (int t = 0; t < kThreads; ++t) {
      auto s = (*model)->CreateSession();
      ASSERT_TRUE(s.ok());
      sessions.push_back(std::move(*s));
    }
    std::vector<int> mismatches(kThreads, 0);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::vector<float> out((*model)->output_size());
        for (int r = 0; r < kRuns; ++r) {
          // Alternate inputs so a session never just keeps its last result.
          const int which = (t + r) % kThreads;
          if (!sessions[t]->Run(inputs[which], out).ok() ||
              std::memcmp(out.data(), expected[which].data(), out.size() * sizeof(float)) != 0) {
            ++mismatches[t];
          }
        }
      });
    }
    for (std::thread& th : threads) th.join();
    for (int t = 0; t < kThreads; ++t) {
      EXPECT_EQ(mismatches[t], 0) << "session " << t << ", threads " << engine_threads;
    }
  }
}

TEST(SessionTest, WrongSizesAreInvalidArgumentAndTheSessionStaysUsable) {
  const graph::Graph g = testing::SqueezeNet11(35, 4, 43);
  auto model = MakeXnnpackBackend()->Compile(g, {});
  ASSERT_TRUE(model.ok());
  auto session = (*model)->CreateSession();
  ASSERT_TRUE(session.ok());
  const size_t in_size = 35 * 35 * 3;
  EXPECT_EQ((*model)->input_shape(), (std::vector<int64_t>{1, 35, 35, 3}));
  ASSERT_EQ((*model)->output_size(), 4u);
  std::vector<float> in = testing::RandomData(in_size, 1, 0, 1), out(4), big(5);
  std::vector<float> short_in(in_size - 1);
  Status s = (*session)->Run(short_in, out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr(std::to_string(in_size)));
  EXPECT_EQ((*session)->Run(in, big).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ((*session)->Run({}, {}).code(), StatusCode::kInvalidArgument);
  ASSERT_TRUE((*session)->Run(in, out).ok());
  float sum = 0;
  for (float v : out) sum += v;
  EXPECT_NEAR(sum, 1.0f, 1e-5f);  // softmax
}

TEST(SessionTest, SessionOutlivesItsModel) {
  const graph::Graph g = testing::SqueezeNet11(35, 4, 47);
  const std::vector<float> in = testing::RandomData(35 * 35 * 3, 2, 0, 1);
  auto expected = testing::RunOnce(*MakeReferenceBackend(), g, in);
  ASSERT_TRUE(expected.ok());
  std::unique_ptr<Session> session;
  {
    auto model = MakeXnnpackBackend()->Compile(g, {});
    ASSERT_TRUE(model.ok());
    auto s = (*model)->CreateSession();
    ASSERT_TRUE(s.ok());
    session = std::move(*s);
  }
  std::vector<float> out(4);
  ASSERT_TRUE(session->Run(in, out).ok());
  EXPECT_LE(testing::WorstRelativeError(out, *expected), testing::kModelTolerance);
}

TEST(SessionTest, ProfileListsTheNodesThatDoWork) {
  GraphBuilder b(3);
  const ValueId x = b.Input({1, 7, 7, 4});
  const Fire f = AddFire(b, x, 4, 4);                  // the concat is free
  const ValueId t = b.Transpose(f.out, {0, 2, 1, 3});  // reference kernel
  const graph::Graph g = b.Finish(b.Unary(Op::kSigmoid, t));
  auto model = MakeXnnpackBackend()->Compile(g, {});
  ASSERT_TRUE(model.ok());
  auto session = (*model)->CreateSession();
  ASSERT_TRUE(session.ok());
  const std::vector<float> in = testing::RandomData(7 * 7 * 4, 3);
  auto profile = ProfileXnnpackSession(**session, in, 3);
  ASSERT_TRUE(profile.ok()) << profile.status().ToString();
  std::vector<std::string> ops;
  for (const NodeProfile& p : *profile) {
    ops.push_back(p.op);
    EXPECT_GE(p.microseconds, 0.0);
  }
  // On AVX-512 the fire module's convolutions run on our GEMM kernel.
  const std::string conv =
      xnnpack_internal::PointwiseGemmAvailable() ? "Conv2D (gemm)" : "Conv2D";
  EXPECT_THAT(ops, ::testing::ElementsAre(conv, conv, conv, "Transpose (reference)", "Sigmoid"));
  EXPECT_EQ(ProfileXnnpackSession(**session, in, 0).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ProfileXnnpackSession(**session, {}, 1).status().code(), StatusCode::kInvalidArgument);
  auto reference = MakeReferenceBackend()->Compile(g, {});
  ASSERT_TRUE(reference.ok());
  auto reference_session = (*reference)->CreateSession();
  ASSERT_TRUE(reference_session.ok());
  EXPECT_EQ(ProfileXnnpackSession(**reference_session, in, 1).status().code(),
            StatusCode::kInvalidArgument);
}

TEST(SessionTest, UnsupportedOpNamesTheNode) {
  GraphBuilder b(1);
  const ValueId x = b.Input({1, 4, 4, 3});
  const ValueId y = b.Raw(Op::kReduceMean, {x}, {}, {1, 1, 1, 3});
  b.graph().nodes.back().name = "pool/reduce_mean";
  auto model = MakeXnnpackBackend()->Compile(b.Finish(b.Unary(Op::kSoftmax, y)), {});
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), StatusCode::kUnsupported);
  EXPECT_THAT(model.status().message(), HasSubstr("pool/reduce_mean"));
  EXPECT_THAT(model.status().message(), HasSubstr("ReduceMean"));
}

// The weight sharing and release tests below need XNNPACK operators that
// pack weights: on AVX-512 MobileNetV2 and SqueezeNet run wholly on our
// kernels (their classifiers and Winograd products too), so they are
// compiled for XNNPACK alone.
struct PackingCase {
  graph::Graph g;
  EngineOptions options;
};
std::vector<PackingCase> PackingCases() {
  EngineOptions xnnpack_only;
  xnnpack_only.xnnpack_only = true;
  return {{testing::MobileNetV2(64, 10, 43), xnnpack_only}, {testing::SqueezeNet11(67, 12, 44), xnnpack_only}};
}

// Sessions of one model share one packed copy of the weights
// (xnnpack_weights.h), answer exactly as a separately compiled model does,
// and keep working whichever Session goes first.
// issue 17, part 2: once a model has every Session it will use, the unpacked
// weights it still holds (only operator creation reads them) are freed; the Sessions answer
// bit-identically, and a later CreateSession is refused instead of packing
// from freed weights.
TEST(SessionTest, ReleasingSessionCreationDataKeepsTheSessionsExact) {
  for (const auto& [g, options] : PackingCases()) {
    size_t weight_bytes = 0;
    for (const graph::Value& v : g.values) {
      if (v.is_constant) weight_bytes += v.f32.size() * sizeof(float);
    }
    auto model = MakeXnnpackBackend()->Compile(g, options);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    auto first = (*model)->CreateSession();
    auto second = (*model)->CreateSession();
    ASSERT_TRUE(first.ok() && second.ok());
    const auto& shape = g.values[g.inputs[0]].shape;
    const std::vector<float> input =
        testing::RandomData(static_cast<size_t>(shape[1] * shape[2] * shape[3]), 11, 0.0f, 1.0f);
    std::vector<float> want((*model)->output_size()), got(want.size());
    ASSERT_TRUE((*first)->Run(input, want).ok());

    // What the XNNPACK operators packed (our kernels' weights were never
    // copied: CompiledModelKeepsNoUnpackedCopyOfPackedWeights).
    const size_t held = GetXnnpackWeightStats(**model).unpacked_bytes;
    const size_t freed = (*model)->ReleaseSessionCreationData();
    std::printf("[ release ] %zu bytes freed, %zu held for creating Sessions, %zu in the graph\n", freed, held,
                weight_bytes);
    EXPECT_GT(held, 0u);
    EXPECT_GE(freed, held);
    EXPECT_EQ((*model)->ReleaseSessionCreationData(), 0u);
    for (Session* s : {first->get(), second->get()}) {
      std::fill(got.begin(), got.end(), 0.0f);
      ASSERT_TRUE(s->Run(input, got).ok());
      EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
    }
    auto late = (*model)->CreateSession();
    ASSERT_FALSE(late.ok());
    EXPECT_EQ(late.status().code(), StatusCode::kInternal);
  }
}

// Arenas are not zeroed (so an idle worker's arena is never mapped): every
// activation must be written before it is read. A Session that ran on
// another input is destroyed first, so the next Sessions' arenas (glibc hands
// the freed block back) start with its stale activations: a byte read before
// it is written would change the output.
TEST(SessionTest, ArenasNeedNoZeroing) {
  for (const graph::Graph& g : {testing::SqueezeNet11(35, 12, 45), testing::MobileNetV2(32, 10, 46)}) {
    auto model = MakeXnnpackBackend()->Compile(g, {});
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    const auto& shape = g.values[g.inputs[0]].shape;
    const size_t in_size = static_cast<size_t>(shape[1] * shape[2] * shape[3]);
    const std::vector<float> input = testing::RandomData(in_size, 12, 0.0f, 1.0f);
    const std::vector<float> other = testing::RandomData(in_size, 13, -1.0f, 2.0f);
    std::vector<float> want((*model)->output_size()), got(want.size());
    {
      auto reference = (*model)->CreateSession();
      ASSERT_TRUE(reference.ok());
      ASSERT_TRUE((*reference)->Run(input, want).ok());
      ASSERT_TRUE((*reference)->Run(other, got).ok());  // leaves other's activations behind
      ASSERT_NE(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
    }
    auto first = (*model)->CreateSession();
    auto second = (*model)->CreateSession();
    ASSERT_TRUE(first.ok() && second.ok());
    for (Session* s : {first->get(), second->get(), first->get()}) {
      std::fill(got.begin(), got.end(), 0.0f);
      ASSERT_TRUE(s->Run(input, got).ok());
      EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
    }
  }
}

// A caller may write the input into the Session's own input buffer (a
// server worker preprocesses straight into it): Run then reads it in place,
// with the same answers, on every run.
TEST(SessionTest, RunReadsTheInputInPlaceFromItsInputBuffer) {
  const graph::Graph g = testing::SqueezeNet11(67, 12, 47);
  auto model = MakeXnnpackBackend()->Compile(g, {});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto session = (*model)->CreateSession();
  ASSERT_TRUE(session.ok());
  const auto& shape = g.values[g.inputs[0]].shape;
  const size_t in_size = static_cast<size_t>(shape[1] * shape[2] * shape[3]);
  const std::span<float> buffer = (*session)->input_buffer();
  ASSERT_EQ(buffer.size(), in_size);
  for (uint32_t seed : {21u, 22u, 21u}) {
    const std::vector<float> input = testing::RandomData(in_size, seed, 0.0f, 1.0f);
    std::vector<float> want((*model)->output_size()), got(want.size());
    ASSERT_TRUE((*session)->Run(input, want).ok());  // copied in
    std::copy(input.begin(), input.end(), buffer.begin());
    ASSERT_TRUE((*session)->Run(buffer, got).ok());  // in place
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
  }
}

TEST(SessionTest, SessionsShareOnePackedCopyOfTheWeights) {
  for (const auto& [g, options] : PackingCases()) {
    auto model = MakeXnnpackBackend()->Compile(g, options);
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    auto first = (*model)->CreateSession();
    ASSERT_TRUE(first.ok());
    const XnnpackWeightStats one = GetXnnpackWeightStats(**model);
    // What XNNPACK operators pack (the classifier at least; on AVX-512 our
    // kernels hold the convolutions' weights in the Program instead).
    ASSERT_GT(one.packed_bytes, 50'000u);
    EXPECT_EQ(one.shared_bytes, 0u);

    auto second = (*model)->CreateSession();
    ASSERT_TRUE(second.ok());
    const XnnpackWeightStats two = GetXnnpackWeightStats(**model);
    std::printf("[ weights ] %zu packed bytes; the second session shared %zu and packed %zu more\n",
                one.packed_bytes, two.shared_bytes, two.packed_bytes - one.packed_bytes);
    // The second Session adds (almost) no packed bytes: all of them are shared.
    EXPECT_LE(two.packed_bytes - one.packed_bytes, one.packed_bytes / 100);
    EXPECT_GE(two.shared_bytes, one.packed_bytes * 99 / 100);

    // Same answers as a model compiled on its own (its own packed weights).
    auto separate = MakeXnnpackBackend()->Compile(g, options);
    ASSERT_TRUE(separate.ok());
    auto own = (*separate)->CreateSession();
    ASSERT_TRUE(own.ok());
    const auto& shape = g.values[g.inputs[0]].shape;
    const std::vector<float> input =
        testing::RandomData(static_cast<size_t>(shape[1] * shape[2] * shape[3]), 7, 0.0f, 1.0f);
    std::vector<float> want((*model)->output_size()), got(want.size());
    ASSERT_TRUE((*own)->Run(input, want).ok());
    ASSERT_TRUE((*first)->Run(input, got).ok());
    EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);

    // The Session that packed the weights goes first; the others keep them.
    first->reset();
    auto third = (*model)->CreateSession();
    ASSERT_TRUE(third.ok());
    EXPECT_LE(GetXnnpackWeightStats(**model).packed_bytes - one.packed_bytes, one.packed_bytes / 100);
    for (Session* s : {second->get(), third->get()}) {
      std::fill(got.begin(), got.end(), 0.0f);
      ASSERT_TRUE(s->Run(input, got).ok());
      EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)), 0);
    }
  }
}

// Bytes of every float constant of `g` read by a node that `take` accepts.
template <typename Take>
size_t ConstantBytes(const graph::Graph& g, Take take) {
  std::vector<bool> counted(g.values.size(), false);
  size_t bytes = 0;
  for (const graph::Node& n : g.nodes) {
    if (!take(n)) continue;
    for (graph::ValueId v : n.inputs) {
      if (v == graph::kNoValue || !g.values[v].is_constant || counted[v]) continue;
      counted[v] = true;
      bytes += g.values[v].f32.size() * sizeof(float);
    }
  }
  return bytes;
}

// Issue 17 (VmHWM): at load, a weight is held unpacked only while something
// still has to pack it. A compiled model keeps no unpacked copy of what our
// kernels packed at Compile, nor a Winograd node's transformed kernel U
// (16/9 of its kernel: with it, the model would hold more than the graph's
// weights), and nothing once the Sessions exist.
TEST(SessionTest, CompiledModelKeepsNoUnpackedCopyOfPackedWeights) {
  for (const graph::Graph& g : {testing::MobileNetV2(64, 10, 45), testing::SqueezeNet11(67, 12, 46)}) {
    auto model = MakeXnnpackBackend()->Compile(g, {});
    ASSERT_TRUE(model.ok()) << model.status().ToString();
    const XnnpackPlanStats& plan = *GetXnnpackPlanStats(**model);
    const size_t all = ConstantBytes(g, [](const graph::Node&) { return true; });
    const size_t held = GetXnnpackWeightStats(**model).unpacked_bytes;
    std::printf("[ weights ] graph %zu bytes, held unpacked after Compile %zu (winograd %d, gemm %d + %d, "
                "depthwise %d)\n", all, held, plan.winograd_nodes, plan.pointwise_gemm_nodes,
                plan.conv_gemm_nodes, plan.depthwise_nodes);
    EXPECT_LE(held, all);
    auto gemm_op = [](const graph::Node& n) {
      return n.op == graph::Op::kConv2D || n.op == graph::Op::kFullyConnected;
    };
    const auto convs = static_cast<int>(std::count_if(g.nodes.begin(), g.nodes.end(), gemm_op));
    if (plan.pointwise_gemm_nodes + plan.conv_gemm_nodes + plan.depthwise_nodes + plan.winograd_gemm_nodes ==
        convs) {
      // Every convolution and classifier on our kernels (both networks on
      // AVX-512): only the other nodes' weights.
      EXPECT_EQ(held, ConstantBytes(g, [&](const graph::Node& n) { return !gemm_op(n); }));
    } else {
      EXPECT_GT(held, 0u);  // for XNNPACK operators (SqueezeNet's Winograd convolutions without AVX-512)
    }
    for (int i = 0; i < 2; ++i) ASSERT_TRUE((*model)->CreateSession().ok());
    EXPECT_EQ(GetXnnpackWeightStats(**model).unpacked_bytes, held);  // creating Sessions keeps them
    EXPECT_GE((*model)->ReleaseSessionCreationData(), held);
    EXPECT_EQ(GetXnnpackWeightStats(**model).unpacked_bytes, 0u);
  }
}

}  // namespace
}  // namespace edgevision::engine
