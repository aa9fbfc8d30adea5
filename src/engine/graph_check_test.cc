// Admission: both backends refuse graphs they cannot run safely, with a
// status code and a message naming the node.
#include "engine/graph_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "engine/reference_backend.h"
#include "engine/testing/test_graphs.h"
#include "engine/xnnpack_backend.h"

namespace edgevision::engine {
namespace {

using graph::Op;
using graph::ValueId;
using testing::GraphBuilder;
using ::testing::HasSubstr;

class AdmissionTest : public ::testing::TestWithParam<std::string> {
 protected:
  std::unique_ptr<Backend> backend() const {
    return GetParam() == "xnnpack" ? MakeXnnpackBackend() : MakeReferenceBackend();
  }
  Status Compile(const graph::Graph& g, int threads = 1) const {
    EngineOptions options;
    options.threads = threads;
    return backend()->Compile(g, options).status();
  }
};

graph::Graph ConvGraph() {
  GraphBuilder b(1);
  const auto x = b.Input({1, 8, 8, 4});
  return b.Finish(b.Conv(x, 8, 3, 3));
}

TEST_P(AdmissionTest, AcceptsAValidGraph) {
  EXPECT_TRUE(Compile(ConvGraph()).ok());
}

TEST_P(AdmissionTest, UnsupportedOpNamesTheNode) {
  GraphBuilder b(1);
  const auto x = b.Input({1, 4, 4, 3});
  const auto c = b.RandomConstant({3}, 0, 1);
  graph::Attrs attrs;
  const auto y = b.Raw(Op::kBatchNorm, {x, c, c, c, c}, attrs, {1, 4, 4, 3});
  b.graph().nodes.back().name = "bn_conv1";
  const Status s = Compile(b.Finish(b.Unary(Op::kRelu, y)));
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_THAT(s.message(), HasSubstr("bn_conv1"));
  EXPECT_THAT(s.message(), HasSubstr("BatchNorm"));
}

TEST_P(AdmissionTest, WrongDeclaredOutputShape) {
  graph::Graph g = ConvGraph();
  g.values[g.outputs[0]].shape = {1, 6, 7, 8};  // really [1,6,6,8]
  const Status s = Compile(g);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr(g.nodes[0].name));
  EXPECT_THAT(s.message(), HasSubstr("[1,6,6,8]"));
}

TEST_P(AdmissionTest, NonConstantWeightsAreUnsupported) {
  GraphBuilder b(1);
  const auto x = b.Input({1, 3, 3, 1});
  graph::Attrs attrs;
  // The weights are the graph input itself: [1,3,3,1] read as OHWI.
  const Status s = Compile(b.Finish(b.Raw(Op::kConv2D, {x, x}, attrs, {1, 1, 1, 1})));
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_THAT(s.message(), HasSubstr("weights"));
}

TEST_P(AdmissionTest, GroupsThatDoNotDivideChannels) {
  graph::Graph g = ConvGraph();
  g.nodes[0].attrs.groups = 3;
  const Status s = Compile(g);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("groups"));
}

TEST_P(AdmissionTest, KernelLargerThanPaddedInput) {
  GraphBuilder b(1);
  const auto x = b.Input({1, 2, 2, 1});
  const auto w = b.RandomConstant({1, 5, 5, 1}, -1, 1);
  graph::Attrs attrs;
  const Status s = Compile(b.Finish(b.Raw(Op::kConv2D, {x, w}, attrs, {1, 1, 1, 1})));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("exceeds"));
}

TEST_P(AdmissionTest, PoolPaddingAsLargeAsTheKernel) {
  GraphBuilder b(1);
  const auto x = b.Input({1, 4, 4, 2});
  testing::PoolParams p;
  p.kernel_h = p.kernel_w = 2;
  p.pad_top = 2;
  const Status s = Compile(b.Finish(b.Pool(Op::kMaxPool2D, x, p)));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
}

TEST_P(AdmissionTest, BatchOtherThanOne) {
  GraphBuilder b(1);
  const auto x = b.Input({2, 4, 4, 3});
  const Status s = Compile(b.Finish(b.Unary(Op::kRelu, x)));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("batch"));
}

TEST_P(AdmissionTest, UnknownDimension) {
  GraphBuilder b(1);
  const auto x = b.Input({1, 4, 4, 3});
  const auto y = b.Unary(Op::kRelu, x);
  graph::Graph g = b.Finish(b.Unary(Op::kSigmoid, y));
  g.values[y].shape = {1, -1, 4, 3};
  EXPECT_EQ(Compile(g).code(), StatusCode::kInvalidArgument);
}

TEST_P(AdmissionTest, HugeShapeHitsTheLimit) {
  GraphBuilder b(1);
  const auto x = b.Input({1, 1 << 16, 1 << 16, 3});
  EXPECT_EQ(Compile(b.Finish(b.Unary(Op::kRelu, x))).code(), StatusCode::kResourceExhausted);
}

TEST_P(AdmissionTest, OverflowingShapeHitsTheLimit) {
  GraphBuilder b(1);
  const auto x = b.Input({1, int64_t{1} << 40, int64_t{1} << 40, 3});
  EXPECT_EQ(Compile(b.Finish(b.Unary(Op::kRelu, x))).code(), StatusCode::kResourceExhausted);
}

TEST_P(AdmissionTest, ManyLargeActivationsHitTheTotalLimit) {
  GraphBuilder b(1);
  ValueId x = b.Input({1, 1 << 13, 1 << 13, 3});  // 2^27.6 elements, under the per-value limit
  for (int i = 0; i < 8; ++i) x = b.Unary(Op::kRelu, x);
  const Status s = Compile(b.Finish(x));
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("kMaxTotalActivationElements"));
}

TEST_P(AdmissionTest, FusedActivationOnAnOpWithoutOne) {
  GraphBuilder b(1);
  const auto x = b.Input({1, 4});
  graph::Graph g = b.Finish(b.Unary(Op::kSigmoid, x));
  g.nodes[0].attrs.act_min = 0.0f;
  const Status s = Compile(g);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_THAT(s.message(), HasSubstr(g.nodes[0].name));
}

TEST_P(AdmissionTest, EmptyActivationRange) {
  graph::Graph g = ConvGraph();
  g.nodes[0].attrs.act_min = 1.0f;
  g.nodes[0].attrs.act_max = 0.0f;
  EXPECT_EQ(Compile(g).code(), StatusCode::kInvalidArgument);
}

TEST_P(AdmissionTest, SoftmaxOnlyOnTheLastAxis) {
  GraphBuilder b(1);
  const auto x = b.Input({1, 4, 5});
  graph::Graph g = b.Finish(b.Unary(Op::kSoftmax, x));
  g.nodes[0].attrs.axis = 1;
  EXPECT_EQ(Compile(g).code(), StatusCode::kUnsupported);
}

TEST_P(AdmissionTest, MissingRequiredInput) {
  graph::Graph g = ConvGraph();
  g.nodes[0].inputs[0] = graph::kNoValue;
  const Status s = Compile(g);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("missing"));
}

TEST_P(AdmissionTest, BadPermutation) {
  GraphBuilder b(1);
  const auto x = b.Input({1, 2, 3});
  graph::Graph g = b.Finish(b.Transpose(x, {0, 2, 1}));
  g.nodes[0].attrs.ints = {0, 2, 2};
  EXPECT_EQ(Compile(g).code(), StatusCode::kInvalidArgument);
}

TEST_P(AdmissionTest, ConcatMismatchOffTheAxis) {
  GraphBuilder b(1);
  const auto x = b.Input({1, 4, 4, 3});
  const auto y = b.Pool(Op::kMaxPool2D, x, {});  // [1,3,3,3]
  graph::Attrs attrs;
  attrs.axis = 3;
  const Status s = Compile(b.Finish(b.Raw(Op::kConcat, {x, y}, attrs, {1, 4, 4, 6})));
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
}

TEST_P(AdmissionTest, ReshapeChangingTheElementCount) {
  GraphBuilder b(1);
  const auto x = b.Input({1, 4, 4, 3});
  graph::Graph g = b.Finish(b.Reshape(x, {1, 47}));
  EXPECT_EQ(Compile(g).code(), StatusCode::kInvalidArgument);
}

TEST_P(AdmissionTest, OutputMustBeComputed) {
  GraphBuilder b(1);
  const auto x = b.Input({1, 4});
  EXPECT_EQ(Compile(b.Finish(x)).code(), StatusCode::kInvalidArgument);
}

TEST_P(AdmissionTest, ThreadCountLimits) {
  EXPECT_EQ(Compile(ConvGraph(), 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Compile(ConvGraph(), kMaxThreads + 1).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Compile(ConvGraph(), 2).ok());
}

TEST_P(AdmissionTest, CorruptGraphFromValidate) {
  graph::Graph g = ConvGraph();
  g.nodes[0].inputs[0] = 9999;
  EXPECT_EQ(Compile(g).code(), StatusCode::kCorrupt);
}

INSTANTIATE_TEST_SUITE_P(Backends, AdmissionTest, ::testing::Values("reference", "xnnpack"));

}  // namespace
}  // namespace edgevision::engine
