#include "graph/shape_inference.h"

#include <gtest/gtest.h>

#include <limits>

#include "graph/normalize.h"

namespace edgevision::graph {
namespace {

Node MakeNode(Op op, size_t inputs, Attrs attrs = {}) {
  Node n;
  n.op = op;
  n.name = std::string(OpName(op)) + "_test";
  for (size_t i = 0; i < inputs; ++i) n.inputs.push_back(static_cast<ValueId>(i));
  n.outputs = {static_cast<ValueId>(inputs)};
  n.attrs = std::move(attrs);
  return n;
}

Result<Shape> Infer(Op op, std::vector<Shape> in, Attrs attrs = {}) {
  return InferNodeShape(MakeNode(op, in.size(), std::move(attrs)), in);
}

TEST(WindowOutputSizeTest, FloorArithmetic) {
  EXPECT_EQ(WindowOutputSize(227, 3, 2, 1, 0, 0), 113);
  EXPECT_EQ(WindowOutputSize(56, 3, 2, 1, 0, 1), 28);  // Caffe ceil via end padding
  EXPECT_EQ(WindowOutputSize(10, 3, 1, 2, 2, 2), 10);  // dilated, SAME
  EXPECT_EQ(WindowOutputSize(2, 3, 1, 1, 0, 0), -1);   // does not fit
  EXPECT_EQ(WindowOutputSize(5, 0, 1, 1, 0, 0), -1);
}

TEST(ShapeInferenceTest, Conv2D) {
  Attrs a;
  a.stride_h = a.stride_w = 2;
  EXPECT_EQ(*Infer(Op::kConv2D, {{1, 227, 227, 3}, {64, 3, 3, 3}, {64}}, a),
            (Shape{1, 113, 113, 64}));
  Attrs same;
  same.pad_top = same.pad_left = same.pad_bottom = same.pad_right = 2;
  same.dilation_h = same.dilation_w = 2;
  EXPECT_EQ(*Infer(Op::kConv2D, {{1, 9, 7, 8}, {4, 3, 3, 8}}, same), (Shape{1, 9, 7, 4}));
  Attrs dw;
  dw.groups = 16;
  dw.pad_top = dw.pad_left = dw.pad_bottom = dw.pad_right = 1;
  EXPECT_EQ(*Infer(Op::kConv2D, {{1, 8, 8, 16}, {16, 3, 3, 1}}, dw), (Shape{1, 8, 8, 16}));
  // Channel mismatch, groups that do not divide, bias mismatch, kernel too big.
  EXPECT_EQ(Infer(Op::kConv2D, {{1, 8, 8, 4}, {8, 3, 3, 3}}).status().code(), StatusCode::kCorrupt);
  Attrs g3;
  g3.groups = 3;
  EXPECT_EQ(Infer(Op::kConv2D, {{1, 8, 8, 6}, {8, 3, 3, 2}}, g3).status().code(),
            StatusCode::kCorrupt);
  EXPECT_EQ(Infer(Op::kConv2D, {{1, 8, 8, 3}, {8, 3, 3, 3}, {7}}).status().code(),
            StatusCode::kCorrupt);
  Status big = Infer(Op::kConv2D, {{1, 2, 2, 3}, {8, 3, 3, 3}}).status();
  EXPECT_EQ(big.code(), StatusCode::kCorrupt);
  EXPECT_NE(big.message().find("Conv2D_test"), std::string::npos) << big.message();
}

TEST(ShapeInferenceTest, Pools) {
  Attrs a;
  a.kernel_h = a.kernel_w = 3;
  a.stride_h = a.stride_w = 2;
  a.pad_bottom = a.pad_right = 1;
  EXPECT_EQ(*Infer(Op::kMaxPool2D, {{1, 56, 56, 128}}, a), (Shape{1, 28, 28, 128}));
  EXPECT_EQ(*Infer(Op::kAvgPool2D, {{1, 56, 56, 128}}, a), (Shape{1, 28, 28, 128}));
  EXPECT_EQ(*Infer(Op::kGlobalAvgPool, {{1, 13, 13, 512}}), (Shape{1, 1, 1, 512}));
  Attrs bad = a;
  bad.pad_top = 3;  // a window could lie entirely in the padding
  EXPECT_EQ(Infer(Op::kMaxPool2D, {{1, 8, 8, 1}}, bad).status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(Infer(Op::kGlobalAvgPool, {{1, 8}}).status().code(), StatusCode::kCorrupt);
}

TEST(ShapeInferenceTest, FullyConnectedConcatBinaryUnary) {
  EXPECT_EQ(*Infer(Op::kFullyConnected, {{1, 512}, {3, 512}, {3}}), (Shape{1, 3}));
  EXPECT_EQ(*Infer(Op::kFullyConnected, {{1, 1, 1, 512}, {3, 512}}), (Shape{1, 3}));
  EXPECT_FALSE(Infer(Op::kFullyConnected, {{1, 2, 2, 128}, {3, 512}}).ok());
  EXPECT_FALSE(Infer(Op::kFullyConnected, {{1, 511}, {3, 512}}).ok());
  Attrs c;
  c.axis = -1;
  EXPECT_EQ(*Infer(Op::kConcat, {{1, 4, 4, 64}, {1, 4, 4, 32}}, c), (Shape{1, 4, 4, 96}));
  c.axis = 3;
  EXPECT_FALSE(Infer(Op::kConcat, {{1, 4, 4, 64}, {1, 5, 4, 32}}, c).ok());
  for (Op op : {Op::kAdd, Op::kSub, Op::kMul, Op::kDiv}) {
    EXPECT_EQ(*Infer(op, {{1, 4, 4, 8}, {8}}), (Shape{1, 4, 4, 8}));
    EXPECT_EQ(*Infer(op, {{1, 1, 1, 8}, {1, 4, 4, 1}}), (Shape{1, 4, 4, 8}));
    EXPECT_FALSE(Infer(op, {{1, 4, 4, 8}, {3}}).ok());
  }
  for (Op op : {Op::kRelu, Op::kSigmoid, Op::kHardSwish, Op::kLeakyRelu, Op::kIdentity, Op::kNeg,
                Op::kRsqrt, Op::kSqrt, Op::kClamp}) {
    EXPECT_EQ(*Infer(op, {{1, 3, 5, 7}}), (Shape{1, 3, 5, 7})) << OpName(op);
  }
  Attrs inverted;
  inverted.act_min = 6;
  inverted.act_max = 0;
  EXPECT_FALSE(Infer(Op::kClamp, {{1, 3}}, inverted).ok());
  Attrs sm;
  sm.axis = -1;
  EXPECT_EQ(*Infer(Op::kSoftmax, {{1, 10}}, sm), (Shape{1, 10}));
  sm.axis = 2;
  EXPECT_FALSE(Infer(Op::kSoftmax, {{1, 10}}, sm).ok());
}

TEST(ShapeInferenceTest, ReshapePadTransposeReduceBatchNorm) {
  Attrs r;
  r.ints = {1, -1};
  EXPECT_EQ(*Infer(Op::kReshape, {{1, 1, 1, 512}}, r), (Shape{1, 512}));
  r.ints = {1, 7, -1};
  EXPECT_FALSE(Infer(Op::kReshape, {{1, 1, 1, 512}}, r).ok());
  r.ints = {-1, -1};
  EXPECT_FALSE(Infer(Op::kReshape, {{1, 4}}, r).ok());
  r.ints = {2, 0};
  EXPECT_FALSE(Infer(Op::kReshape, {{1, 4}}, r).ok());
  Attrs p;
  p.ints = {0, 1, 0, 0, 0, 2, 3, 0};
  EXPECT_EQ(*Infer(Op::kPad, {{1, 5, 5, 3}}, p), (Shape{1, 8, 8, 3}));
  p.ints = {0, -1, 0, 0, 0, 0, 0, 0};
  EXPECT_FALSE(Infer(Op::kPad, {{1, 5, 5, 3}}, p).ok());
  p.ints = {0, 1};
  EXPECT_FALSE(Infer(Op::kPad, {{1, 5, 5, 3}}, p).ok());
  Attrs t;
  t.ints = {0, 3, 1, 2};
  EXPECT_EQ(*Infer(Op::kTranspose, {{1, 5, 6, 3}}, t), (Shape{1, 3, 5, 6}));
  t.ints = {0, 3, 3, 2};
  EXPECT_FALSE(Infer(Op::kTranspose, {{1, 5, 6, 3}}, t).ok());
  Attrs m;
  m.ints = {1, -2};
  EXPECT_EQ(*Infer(Op::kReduceMean, {{1, 5, 6, 3}}, m), (Shape{1, 1, 1, 3}));
  m.keep_dims = false;
  EXPECT_EQ(*Infer(Op::kReduceMean, {{1, 5, 6, 3}}, m), (Shape{1, 3}));
  m.ints = {1, 1};
  EXPECT_FALSE(Infer(Op::kReduceMean, {{1, 5, 6, 3}}, m).ok());
  EXPECT_EQ(*Infer(Op::kBatchNorm, {{1, 4, 4, 3}, {3}, {3}, {3}, {3}}), (Shape{1, 4, 4, 3}));
  EXPECT_FALSE(Infer(Op::kBatchNorm, {{1, 4, 4, 3}, {3}, {4}, {3}, {3}}).ok());
}

TEST(ShapeInferenceTest, LimitsAndArity) {
  EXPECT_EQ(Infer(Op::kRelu, {{1 << 20, 1 << 20}}).status().code(), StatusCode::kResourceExhausted);
  Attrs p;
  p.ints = {0, 0, 0, 0, 0, 1 << 20, 1 << 20, 0};
  EXPECT_EQ(Infer(Op::kPad, {{1, 4, 4, 3}}, p).status().code(), StatusCode::kResourceExhausted);
  EXPECT_FALSE(Infer(Op::kAdd, {{1, 4}}).ok());  // one input for a binary op
  EXPECT_FALSE(Infer(Op::kRelu, {{1, 0, 3}}).ok());
  EXPECT_FALSE(Infer(Op::kRelu, {{1, -1, 3}}).ok());
  Node two_outputs = MakeNode(Op::kRelu, 1);
  two_outputs.outputs.push_back(5);
  std::vector<Shape> in = {{1, 2}};
  EXPECT_FALSE(InferNodeShape(two_outputs, in).ok());
}

TEST(InferShapesTest, FillsEveryValueAndSetsBatchOne) {
  Graph g;
  const ValueId x = g.AddActivation("x", {-1, 8, 8, 3});
  const ValueId w = g.AddConstant("w", {4, 3, 3, 3}, std::vector<float>(108, 0.1f));
  const ValueId c = g.AddActivation("c");
  const ValueId p = g.AddActivation("p");
  const ValueId f = g.AddActivation("f");
  const ValueId fw = g.AddConstant("fw", {2, 4}, std::vector<float>(8, 1.0f));
  const ValueId y = g.AddActivation("y");
  g.inputs = {x};
  g.AddNode({Op::kConv2D, "conv", {x, w, kNoValue}, {c}, {}});
  g.AddNode({Op::kGlobalAvgPool, "gap", {c}, {p}, {}});
  Attrs flat;
  flat.ints = {1, -1};
  g.AddNode({Op::kReshape, "flat", {p}, {f}, flat});
  g.AddNode({Op::kFullyConnected, "fc", {f, fw, kNoValue}, {y}, {}});
  g.outputs = {y};
  ASSERT_TRUE(InferShapes(&g).ok());
  EXPECT_EQ(g.values[x].shape, (Shape{1, 8, 8, 3}));
  EXPECT_EQ(g.values[c].shape, (Shape{1, 6, 6, 4}));
  EXPECT_EQ(g.values[p].shape, (Shape{1, 1, 1, 4}));
  EXPECT_EQ(g.values[f].shape, (Shape{1, 4}));
  EXPECT_EQ(g.values[y].shape, (Shape{1, 2}));
}

TEST(InferShapesTest, Errors) {
  Graph g;
  const ValueId x = g.AddActivation("x", {1, -1, 8, 3});
  const ValueId y = g.AddActivation("y");
  g.inputs = {x};
  g.AddNode({Op::kRelu, "relu", {x}, {y}, {}});
  g.outputs = {y};
  Status s = InferShapes(&g);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("'x'"), std::string::npos) << s.message();

  Graph h;
  const ValueId a = h.AddActivation("a", {1, 4});
  const ValueId b = h.AddActivation("b");
  const ValueId c = h.AddActivation("c");
  h.inputs = {a};
  h.AddNode({Op::kRelu, "second", {b}, {c}, {}});  // reads b before it is produced
  h.AddNode({Op::kRelu, "first", {a}, {b}, {}});
  h.outputs = {c};
  EXPECT_EQ(InferShapes(&h).code(), StatusCode::kCorrupt);
}

}  // namespace
}  // namespace edgevision::graph
