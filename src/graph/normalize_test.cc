#include "graph/normalize.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "graph/eval_for_test.h"
#include "graph/graph_test_util.h"
#include "graph/normalize_passes.h"

namespace edgevision::graph {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::vector<float> Random(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// Builds small graphs tersely.
struct Builder {
  Graph g;
  uint32_t seed = 1;

  ValueId Input(const std::string& name, Shape shape) {
    const ValueId v = g.AddActivation(name, std::move(shape));
    g.inputs.push_back(v);
    return v;
  }
  ValueId Const(const std::string& name, Shape shape, float lo = -1.0f, float hi = 1.0f) {
    const size_t n = static_cast<size_t>(ShapeProduct(shape));
    return g.AddConstant(name, std::move(shape), Random(n, seed++, lo, hi));
  }
  ValueId Add(Op op, const std::string& name, std::vector<ValueId> in, Attrs a = {}) {
    const ValueId out = g.AddActivation(name);
    g.AddNode({op, name, std::move(in), {out}, std::move(a)});
    return out;
  }
  void Output(ValueId v) { g.outputs.push_back(v); }
};

Attrs Pads(int t, int l, int b, int r) {
  Attrs a;
  a.pad_top = t;
  a.pad_left = l;
  a.pad_bottom = b;
  a.pad_right = r;
  return a;
}

Attrs Pool(int k, int s) {
  Attrs a;
  a.kernel_h = a.kernel_w = k;
  a.stride_h = a.stride_w = s;
  return a;
}

Attrs Ints(std::vector<int64_t> v) {
  Attrs a;
  a.ints = std::move(v);
  return a;
}

std::vector<std::vector<float>> Inputs(const Graph& g, uint32_t seed, float lo = -1, float hi = 1) {
  std::vector<std::vector<float>> in;
  for (ValueId id : g.inputs) {
    Shape s = g.values[id].shape;
    if (s[0] < 0) s[0] = 1;
    in.push_back(Random(static_cast<size_t>(ShapeProduct(s)), seed++, lo, hi));
  }
  return in;
}

void ExpectNear(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b,
                float tol) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t k = 0; k < a.size(); ++k) {
    ASSERT_EQ(a[k].size(), b[k].size());
    for (size_t i = 0; i < a[k].size(); ++i) {
      ASSERT_NEAR(a[k][i], b[k][i], tol * (1.0f + std::fabs(b[k][i])))
          << "output " << k << "[" << i << "]";
    }
  }
}

// Normalises `g` and checks: OK, Validate-clean, static shapes, only exec ops,
// same outputs as before on a random input. Returns the report.
NormalizeReport NormalizeAndCompare(Graph* g, float tol = 1e-5f, float lo = -1, float hi = 1) {
  NormalizeReport report;
  const std::vector<std::vector<float>> in = Inputs(*g, 99, lo, hi);
  // The reference run needs a topological order; sort a copy for it.
  Graph sorted = *g;
  EXPECT_TRUE(SortTopologically(&sorted, &report).ok());
  report.rewrites.clear();
  auto before = EvaluateForTest(sorted, in);
  EXPECT_TRUE(before.ok()) << before.status().ToString();
  Status s = Normalize(g, &report);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (!s.ok() || !before.ok()) return report;
  EXPECT_TRUE(Validate(*g).ok());
  EXPECT_TRUE(CheckExecutable(*g).ok());
  for (const Value& v : g->values) {
    for (int64_t d : v.shape) EXPECT_GT(d, 0) << v.name;
  }
  auto after = EvaluateForTest(*g, in);
  EXPECT_TRUE(after.ok()) << after.status().ToString();
  if (after.ok()) ExpectNear(*after, *before, tol);
  // Normalising a normalised graph changes nothing.
  Graph again = *g;
  NormalizeReport second;
  EXPECT_TRUE(Normalize(&again, &second).ok());
  EXPECT_EQ(again.OpSummary(), g->OpSummary());
  EXPECT_EQ(again.values.size(), g->values.size());
  return report;
}

bool Mentions(const NormalizeReport& r, const std::string& text) {
  return std::any_of(r.rewrites.begin(), r.rewrites.end(),
                     [&](const std::string& s) { return s.find(text) != std::string::npos; });
}

std::string Joined(const NormalizeReport& r) {
  std::string out;
  for (const std::string& s : r.rewrites) out += s + "\n";
  return out;
}

const Node* FindNode(const Graph& g, Op op) {
  for (const Node& n : g.nodes) {
    if (n.op == op) return &n;
  }
  return nullptr;
}

// ---- Identity, topological order, dead code --------------------------------

TEST(NormalizeTest, RemovesIdentitiesKeepingTheLaterName) {
  Builder b;
  const ValueId x = b.Input("x", {1, 4});
  const ValueId r = b.Add(Op::kRelu, "relu", {x});
  const ValueId i1 = b.Add(Op::kIdentity, "id1", {r});
  const ValueId i2 = b.Add(Op::kIdentity, "scores", {i1});
  b.Output(i2);
  NormalizeReport report = NormalizeAndCompare(&b.g);
  EXPECT_EQ(b.g.nodes.size(), 1u);
  EXPECT_EQ(b.g.values[b.g.outputs[0]].name, "scores");
  EXPECT_TRUE(Mentions(report, "removed 2 Identity")) << Joined(report);
}

TEST(NormalizeTest, SortsOutOfOrderNodesAndRejectsCycles) {
  Builder b;
  const ValueId x = b.Input("x", {1, 4});
  const ValueId a = b.Add(Op::kSigmoid, "a", {x});
  const ValueId c = b.Add(Op::kAdd, "c", {a, x});
  const ValueId d = b.Add(Op::kSigmoid, "d", {c});
  b.Output(d);
  std::reverse(b.g.nodes.begin(), b.g.nodes.end());
  EXPECT_FALSE(Validate(b.g).ok());
  NormalizeReport report = NormalizeAndCompare(&b.g);
  EXPECT_TRUE(Validate(b.g).ok());
  EXPECT_TRUE(Mentions(report, "re-ordered")) << Joined(report);

  Builder cyc;
  const ValueId in = cyc.Input("in", {1, 4});
  const ValueId p = cyc.g.AddActivation("p");
  const ValueId q = cyc.g.AddActivation("q");
  cyc.g.AddNode({Op::kAdd, "loop_a", {in, q}, {p}, {}});
  cyc.g.AddNode({Op::kRelu, "loop_b", {p}, {q}, {}});
  cyc.Output(q);
  NormalizeReport r2;
  Status s = Normalize(&cyc.g, &r2);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_NE(s.message().find("cycle"), std::string::npos) << s.message();
}

TEST(NormalizeTest, EliminatesDeadNodesAndCompactsValues) {
  Builder b;
  const ValueId x = b.Input("x", {1, 4});
  const ValueId unused_const = b.Const("unused", {4});
  const ValueId dead = b.Add(Op::kAdd, "dead", {x, unused_const});
  b.Add(Op::kSigmoid, "dead2", {dead});
  const ValueId y = b.Add(Op::kRelu, "y", {x});
  b.Output(y);
  const size_t values_before = b.g.values.size();
  NormalizeReport report = NormalizeAndCompare(&b.g);
  EXPECT_EQ(b.g.nodes.size(), 1u);
  EXPECT_EQ(b.g.values.size(), 2u);
  EXPECT_LT(b.g.values.size(), values_before);
  EXPECT_EQ(b.g.values[b.g.outputs[0]].name, "y");
  EXPECT_TRUE(Mentions(report, "removed unused nodes")) << Joined(report);
}

TEST(NormalizeTest, RejectsBrokenStructure) {
  Builder b;
  const ValueId x = b.Input("x", {1, 4});
  const ValueId y = b.Add(Op::kRelu, "y", {x});
  b.Output(y);
  Graph bad_id = b.g;
  bad_id.nodes[0].inputs[0] = 42;
  NormalizeReport r;
  EXPECT_EQ(Normalize(&bad_id, &r).code(), StatusCode::kCorrupt);
  Graph twice = b.g;
  twice.AddNode({Op::kSigmoid, "again", {x}, {y}, {}});
  EXPECT_EQ(Normalize(&twice, &r).code(), StatusCode::kCorrupt);
  Graph orphan = b.g;
  const ValueId ghost = orphan.AddActivation("ghost", {1, 4});
  orphan.nodes[0].inputs[0] = ghost;
  Status s = Normalize(&orphan, &r);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_NE(s.message().find("ghost"), std::string::npos);
}

// ---- constant folding --------------------------------------------------------

// TensorFlow's data_bn block as the TF importer produces it: the statistics
// pass through Identity/Add/Rsqrt/Neg/Mul on constants, the input through
// one Mul and one Add.
Builder TfDataBnGraph(bool padded_conv) {
  Builder b;
  const ValueId x = b.Input("Placeholder", {-1, 9, 9, 3});
  const ValueId mean = b.g.AddConstant("data_bn/mean", {3}, {104.0f, 117.0f, 123.0f});
  const ValueId var = b.g.AddConstant("data_bn/variance", {3}, {900.0f, 400.0f, 1600.0f});
  const ValueId eps = b.g.AddConstant("data_bn/data_bn/add/y", {}, {1e-5f});
  const ValueId mean_r = b.Add(Op::kIdentity, "data_bn/mean/read", {mean});
  const ValueId var_r = b.Add(Op::kIdentity, "data_bn/variance/read", {var});
  const ValueId add = b.Add(Op::kAdd, "data_bn/data_bn/add", {var_r, eps});
  const ValueId rsqrt = b.Add(Op::kRsqrt, "data_bn/data_bn/Rsqrt", {add});
  const ValueId mul = b.Add(Op::kMul, "data_bn/data_bn/mul", {x, rsqrt});
  const ValueId neg = b.Add(Op::kNeg, "data_bn/data_bn/Neg", {mean_r});
  const ValueId mul1 = b.Add(Op::kMul, "data_bn/data_bn/mul_1", {neg, rsqrt});
  const ValueId bn = b.Add(Op::kAdd, "data_bn/data_bn/add_1", {mul, mul1});
  const ValueId w = b.Const("conv1/weights", {8, 3, 3, 3});
  const ValueId bias = b.Const("conv1/biases", {8});
  Attrs conv = padded_conv ? Pads(1, 1, 1, 1) : Attrs{};
  conv.stride_h = conv.stride_w = 2;
  const ValueId c = b.Add(Op::kConv2D, "conv1/Conv2D", {bn, w, bias}, conv);
  const ValueId r = b.Add(Op::kRelu, "conv1/conv1", {c});
  b.Output(r);
  return b;
}

TEST(NormalizeTest, FoldsTensorFlowDataBnIntoTheFirstConvExactly) {
  Builder b = TfDataBnGraph(/*padded_conv=*/false);
  NormalizeReport report = NormalizeAndCompare(&b.g, 1e-4f, 0.0f, 255.0f);
  EXPECT_TRUE(Mentions(report, "folded constant block 'data_bn/data_bn' (4 nodes"))
      << Joined(report);
  EXPECT_TRUE(Mentions(report, "folded the per-channel affine on input 'Placeholder'"))
      << Joined(report);
  ASSERT_EQ(b.g.nodes.size(), 1u) << Joined(report);
  const Node& conv = b.g.nodes[0];
  EXPECT_EQ(conv.op, Op::kConv2D);
  EXPECT_EQ(conv.inputs[0], b.g.inputs[0]);
  EXPECT_EQ(conv.attrs.act_min, 0.0f);  // the Relu was fused too
}

TEST(NormalizeTest, KeepsTheInputAffineBeforeAPaddedConv) {
  Builder b = TfDataBnGraph(/*padded_conv=*/true);
  NormalizeReport report = NormalizeAndCompare(&b.g, 1e-4f, 0.0f, 255.0f);
  EXPECT_TRUE(Mentions(report, "kept the per-channel affine")) << Joined(report);
  EXPECT_EQ(CountOp(b.g, Op::kMul), 1);
  EXPECT_EQ(CountOp(b.g, Op::kAdd), 1);
  EXPECT_EQ(CountOp(b.g, Op::kConv2D), 1);
}

TEST(NormalizeTest, FoldsConstantReshapeTransposeConcat) {
  Builder b;
  const ValueId x = b.Input("x", {1, 6});
  const ValueId c1 = b.Const("c1", {2, 3});
  const ValueId c2 = b.Const("c2", {2, 3});
  Attrs axis;
  axis.axis = 0;
  const ValueId cat = b.Add(Op::kConcat, "k/cat", {c1, c2}, axis);         // [4,3]
  const ValueId tr = b.Add(Op::kTranspose, "k/tr", {cat}, Ints({1, 0}));   // [3,4]
  const ValueId flat = b.Add(Op::kReshape, "k/flat", {tr}, Ints({2, 6}));  // [2,6]
  const ValueId sig = b.Add(Op::kSigmoid, "k/sig", {flat});
  const ValueId y = b.Add(Op::kMul, "y", {x, sig});  // [2,6]
  b.Output(y);
  NormalizeReport report = NormalizeAndCompare(&b.g);
  EXPECT_EQ(b.g.nodes.size(), 1u);
  EXPECT_TRUE(Mentions(report, "folded constant block 'k' (4 nodes")) << Joined(report);
}

// ---- BatchNorm -----------------------------------------------------------

Builder ConvBn(bool conv_output_shared, bool fc) {
  Builder b;
  const ValueId x = b.Input("x", {1, 7, 7, 4});
  ValueId y;
  int64_t c = 6;
  if (fc) {
    const ValueId flat = b.Add(Op::kReshape, "flat", {x}, Ints({1, 196}));
    y = b.Add(Op::kFullyConnected, "fc", {flat, b.Const("fw", {c, 196}), b.Const("fb", {c})});
  } else {
    y = b.Add(Op::kConv2D, "conv", {x, b.Const("w", {c, 3, 3, 4}), kNoValue}, Pads(1, 1, 1, 1));
  }
  Attrs eps;
  eps.epsilon = 1e-3f;
  const ValueId bn = b.Add(Op::kBatchNorm, "bn",
                           {y, b.Const("scale", {c}, 0.5f, 1.5f), b.Const("beta", {c}),
                            b.Const("mean", {c}), b.Const("var", {c}, 0.5f, 2.0f)},
                           eps);
  b.Output(b.Add(Op::kRelu, "relu", {bn}));
  if (conv_output_shared) b.Output(b.Add(Op::kSigmoid, "side", {y}));
  return b;
}

TEST(NormalizeTest, FoldsBatchNormIntoTheConv) {
  Builder b = ConvBn(false, false);
  NormalizeReport report = NormalizeAndCompare(&b.g);
  EXPECT_TRUE(Mentions(report, "folded 1 BatchNorm into the preceding Conv2D")) << Joined(report);
  ASSERT_EQ(b.g.nodes.size(), 1u);
  EXPECT_NE(b.g.nodes[0].inputs[2], kNoValue);  // a bias was created
}

TEST(NormalizeTest, FoldsBatchNormIntoFullyConnected) {
  Builder b = ConvBn(false, true);
  NormalizeReport report = NormalizeAndCompare(&b.g);
  EXPECT_TRUE(Mentions(report, "into the preceding FullyConnected")) << Joined(report);
  EXPECT_EQ(CountOp(b.g, Op::kBatchNorm), 0);
}

TEST(NormalizeTest, TurnsBatchNormIntoMulAddWhenTheConvOutputIsShared) {
  Builder b = ConvBn(true, false);
  NormalizeReport report = NormalizeAndCompare(&b.g);
  EXPECT_TRUE(Mentions(report, "into Mul + Add")) << Joined(report);
  EXPECT_EQ(CountOp(b.g, Op::kMul), 1);
  EXPECT_EQ(CountOp(b.g, Op::kAdd), 1);
}

TEST(NormalizeTest, RejectsBatchNormWithNonConstantStatistics) {
  Builder b;
  const ValueId x = b.Input("x", {1, 2, 2, 3});
  const ValueId m = b.Input("m", {3});
  const ValueId y = b.Add(Op::kBatchNorm, "bn_dyn",
                          {x, b.Const("s", {3}), b.Const("b", {3}), m, b.Const("v", {3}, 1, 2)});
  b.Output(y);
  NormalizeReport report;
  Status s = Normalize(&b.g, &report);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("bn_dyn"), std::string::npos) << s.message();
}

// ---- the per-channel affine on the input -----------------------------------

TEST(NormalizeTest, FoldsAnInputAffineChainIntoADepthwiseConv) {
  Builder b;
  const ValueId x = b.Input("x", {-1, 6, 6, 4});
  const ValueId m = b.Add(Op::kMul, "m", {x, b.Const("s", {4}, 0.5f, 2.0f)});
  const ValueId a = b.Add(Op::kSub, "a", {m, b.Const("t", {1, 1, 1, 4})});
  const ValueId d = b.Add(Op::kDiv, "d", {a, b.g.AddConstant("two", {1}, {2.0f})});
  Attrs dw;
  dw.groups = 4;
  const ValueId c =
      b.Add(Op::kConv2D, "dw", {d, b.Const("w", {8, 3, 3, 1}), b.Const("b", {8})}, dw);
  b.Output(c);
  NormalizeReport report = NormalizeAndCompare(&b.g, 1e-5f, 0.0f, 255.0f);
  EXPECT_TRUE(Mentions(report, "(3 nodes, 'm' to 'd') into Conv2D 'dw'")) << Joined(report);
  ASSERT_EQ(b.g.nodes.size(), 1u);
}

// ---- Pad merging -------------------------------------------------------------

TEST(NormalizeTest, MergesPadsIntoPoolsAndConvs) {
  Builder b;
  const ValueId x = b.Input("x", {1, 8, 8, 3});
  Attrs neg_inf = Ints({0, 0, 0, 0, 0, 1, 1, 0});
  neg_inf.pad_value = -kInf;
  const ValueId p1 = b.Add(Op::kPad, "pad_inf", {x}, neg_inf);
  const ValueId m1 = b.Add(Op::kMaxPool2D, "pool_a", {p1}, Pool(3, 2));
  Attrs flt_max = Ints({0, 1, 1, 0, 0, 0, 0, 0});
  flt_max.pad_value = -std::numeric_limits<float>::max();
  const ValueId p2 = b.Add(Op::kPad, "pad_fltmax", {m1}, flt_max);
  const ValueId m2 = b.Add(Op::kMaxPool2D, "pool_b", {p2}, Pool(2, 1));
  const ValueId p3 = b.Add(Op::kPad, "pad_zero", {m2}, Ints({0, 1, 2, 0, 0, 1, 0, 0}));
  const ValueId c = b.Add(Op::kConv2D, "conv", {p3, b.Const("w", {4, 3, 3, 3}), kNoValue});
  const ValueId p4 = b.Add(Op::kPad, "pad_zero_avg", {c}, Ints({0, 0, 0, 0, 0, 1, 1, 0}));
  const ValueId a = b.Add(Op::kAvgPool2D, "avg", {p4}, Pool(2, 2));
  b.Output(a);
  NormalizeReport report = NormalizeAndCompare(&b.g);
  EXPECT_EQ(CountOp(b.g, Op::kPad), 0) << Joined(report);
  EXPECT_TRUE(Mentions(report, "merged 2 Pad(-FLT_MAX) into the following MaxPool2D"));
  EXPECT_TRUE(Mentions(report, "merged 1 Pad(0) into the following Conv2D"));
  EXPECT_TRUE(Mentions(report, "into the following AvgPool2D pads")) << Joined(report);
  const Node* avg = FindNode(b.g, Op::kAvgPool2D);
  ASSERT_NE(avg, nullptr);
  EXPECT_TRUE(avg->attrs.count_include_pad);
  const Node* conv = FindNode(b.g, Op::kConv2D);
  EXPECT_EQ(conv->attrs.pad_top, 1);
  EXPECT_EQ(conv->attrs.pad_left, 2);
  EXPECT_EQ(conv->attrs.pad_bottom, 1);
  EXPECT_EQ(conv->attrs.pad_right, 0);
}

TEST(NormalizeTest, KeepsPadsThatCannotMerge) {
  Builder b;
  const ValueId x = b.Input("x", {1, 6, 6, 2});
  // Zero padding before a max pool: padded zeros may win, so it must stay.
  const ValueId p1 = b.Add(Op::kPad, "pad_zero", {x}, Ints({0, 1, 1, 0, 0, 1, 1, 0}));
  const ValueId m = b.Add(Op::kMaxPool2D, "pool", {p1}, Pool(2, 2));
  // Channel padding.
  const ValueId p2 = b.Add(Op::kPad, "pad_c", {m}, Ints({0, 0, 0, 1, 0, 0, 0, 1}));
  const ValueId c = b.Add(Op::kConv2D, "conv", {p2, b.Const("w", {3, 1, 1, 4}), kNoValue});
  b.Output(c);
  NormalizeAndCompare(&b.g);
  EXPECT_EQ(CountOp(b.g, Op::kPad), 2);
}

TEST(NormalizeTest, MergesAZeroPadIntoAMaxPoolWhenItsInputIsNonNegative) {
  // The Docker 2.2 stem: Conv2D + Relu, Pad(0), MaxPool. After a Relu the
  // padded zeros never win a window, so the pool's own padding is the same.
  for (bool fused : {false, true}) {
    Builder b;
    const ValueId x = b.Input("x", {1, 8, 8, 3});
    Attrs conv_attrs;
    if (fused) conv_attrs.act_min = 0.0f;
    ValueId y = b.Add(Op::kConv2D, "conv", {x, b.Const("w", {4, 3, 3, 3}), kNoValue}, conv_attrs);
    if (!fused) y = b.Add(Op::kRelu, "relu", {y});
    const ValueId p = b.Add(Op::kPad, "pad_zero", {y}, Ints({0, 0, 0, 0, 0, 1, 1, 0}));
    b.Output(b.Add(Op::kMaxPool2D, "pool", {p}, Pool(3, 2)));
    NormalizeReport report = NormalizeAndCompare(&b.g);
    EXPECT_EQ(CountOp(b.g, Op::kPad), 0) << Joined(report);
    EXPECT_TRUE(Mentions(report, "merged 1 Pad(0) of a non-negative input into the following MaxPool2D"))
        << Joined(report);
    const Node* pool = FindNode(b.g, Op::kMaxPool2D);
    ASSERT_NE(pool, nullptr);
    EXPECT_EQ(pool->attrs.pad_bottom, 1);
    EXPECT_EQ(pool->attrs.pad_right, 1);
  }
}

// ---- pooling and reshapes ------------------------------------------------------

TEST(NormalizeTest, TurnsReduceMeanAndWholeWindowAvgPoolIntoGlobalAvgPool) {
  Builder b;
  const ValueId x = b.Input("x", {1, 5, 4, 3});
  Attrs keep = Ints({-3, 2});
  const ValueId r1 = b.Add(Op::kReduceMean, "mean_keep", {x}, keep);
  Attrs drop = Ints({1, 2});
  drop.keep_dims = false;
  const ValueId r2 = b.Add(Op::kReduceMean, "mean_drop", {x}, drop);
  Attrs whole = Pool(1, 1);
  whole.kernel_h = 5;
  whole.kernel_w = 4;
  const ValueId a = b.Add(Op::kAvgPool2D, "avg_whole", {x}, whole);
  b.Output(r1);
  b.Output(r2);
  b.Output(a);
  NormalizeReport report = NormalizeAndCompare(&b.g);
  EXPECT_EQ(CountOp(b.g, Op::kGlobalAvgPool), 3) << Joined(report);
  EXPECT_EQ(b.g.values[b.g.outputs[1]].shape, (Shape{1, 3}));
  EXPECT_TRUE(Mentions(report, "turned 2 ReduceMean"));
  EXPECT_TRUE(Mentions(report, "whose window covers the whole input"));
}

TEST(NormalizeTest, RejectsReduceMeanOverChannels) {
  Builder b;
  const ValueId x = b.Input("x", {1, 5, 4, 3});
  b.Output(b.Add(Op::kReduceMean, "mean_c", {x}, Ints({3})));
  NormalizeReport report;
  Status s = Normalize(&b.g, &report);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("mean_c"), std::string::npos);
}

TEST(NormalizeTest, DropsFlattenBeforeFullyConnectedOnly) {
  Builder b;
  const ValueId x = b.Input("x", {1, 3, 3, 8});
  const ValueId g = b.Add(Op::kGlobalAvgPool, "gap", {x});
  const ValueId f = b.Add(Op::kReshape, "flatten", {g}, Ints({1, -1}));
  const ValueId fc = b.Add(Op::kFullyConnected, "fc", {f, b.Const("w", {2, 8}), kNoValue});
  b.Output(fc);
  NormalizeReport report = NormalizeAndCompare(&b.g);
  EXPECT_EQ(CountOp(b.g, Op::kReshape), 0) << Joined(report);
  EXPECT_EQ(b.g.values[FindNode(b.g, Op::kFullyConnected)->inputs[0]].shape, (Shape{1, 1, 1, 8}));

  Builder k;
  const ValueId x2 = k.Input("x", {1, 3, 3, 8});
  const ValueId g2 = k.Add(Op::kGlobalAvgPool, "gap", {x2});
  const ValueId f2 = k.Add(Op::kReshape, "flatten", {g2}, Ints({1, -1}));
  k.Output(k.Add(Op::kSoftmax, "softmax", {f2}));
  NormalizeAndCompare(&k.g);
  EXPECT_EQ(CountOp(k.g, Op::kReshape), 1);
}

TEST(NormalizeTest, SimplifiesTransposeAndReshapeChains) {
  Builder b;
  const ValueId x = b.Input("x", {1, 4, 5, 6});
  const ValueId t1 = b.Add(Op::kTranspose, "to_nchw", {x}, Ints({0, 3, 1, 2}));
  const ValueId t2 = b.Add(Op::kTranspose, "to_nhwc", {t1}, Ints({0, 2, 3, 1}));  // cancels
  const ValueId r1 = b.Add(Op::kReshape, "r1", {t2}, Ints({1, 20, 6}));
  const ValueId r2 = b.Add(Op::kReshape, "r2", {r1}, Ints({1, 120}));
  const ValueId s = b.Add(Op::kSigmoid, "sig", {r2});
  const ValueId u = b.Add(Op::kReshape, "u", {s}, Ints({1, 1, 120}));
  const ValueId t3 = b.Add(Op::kTranspose, "size1", {u}, Ints({1, 0, -1}));  // only moves 1s
  b.Output(t3);
  NormalizeReport report = NormalizeAndCompare(&b.g);
  EXPECT_EQ(CountOp(b.g, Op::kTranspose), 0) << Joined(report);
  EXPECT_EQ(CountOp(b.g, Op::kReshape), 2) << Joined(report);
}

TEST(NormalizeTest, RecognisesShuffleNetChannelShuffles) {
  // As the Docker 2.2 TFLite graph writes it: [1,H,W,C] -> [1,H*W,G,K] ->
  // swap the last two -> [1,H,W,C], then a channel split by two Slices.
  Builder b;
  const ValueId x = b.Input("x", {-1, 3, 4, 6});
  const ValueId r = b.Add(Op::kReshape, "reshape0", {x}, Ints({-1, 12, 2, 3}));
  const ValueId t = b.Add(Op::kTranspose, "transpose", {r}, Ints({0, 1, 3, 2}));
  const ValueId y = b.Add(Op::kReshape, "reshape1", {t}, Ints({-1, 3, 4, 6}));
  const ValueId s0 = b.Add(Op::kSlice, "slice0", {y}, Ints({0, 0, 0, 0, -1, 3, 4, 3}));
  const ValueId s1 = b.Add(Op::kSlice, "slice1", {y}, Ints({0, 0, 0, 3, -1, -1, -1, 3}));
  const ValueId c = b.Add(Op::kConcat, "concat", {s1, s0}, [] { Attrs a; a.axis = 3; return a; }());
  b.Output(c);
  NormalizeReport report = NormalizeAndCompare(&b.g);
  EXPECT_EQ(CountOp(b.g, Op::kChannelShuffle), 1) << Joined(report);
  EXPECT_EQ(CountOp(b.g, Op::kTranspose), 0) << Joined(report);
  EXPECT_EQ(CountOp(b.g, Op::kReshape), 0) << Joined(report);
  EXPECT_EQ(FindNode(b.g, Op::kChannelShuffle)->attrs.groups, 2);
  EXPECT_TRUE(Mentions(report, "channel shuffle")) << Joined(report);
}

TEST(NormalizeTest, RecognisesNchwChannelShuffles) {
  // As the ONNX importer writes an NCHW shuffle of an NHWC value: to NCHW ->
  // [N,G,K,H,W] -> swap G and K -> [N,C,H,W] -> back to NHWC.
  Builder b;
  const ValueId x = b.Input("x", {1, 3, 4, 6});
  const ValueId t1 = b.Add(Op::kTranspose, "to_nchw", {x}, Ints({0, 3, 1, 2}));
  const ValueId r1 = b.Add(Op::kReshape, "split", {t1}, Ints({1, 2, 3, 3, 4}));
  const ValueId t2 = b.Add(Op::kTranspose, "shuffle", {r1}, Ints({0, 2, 1, 3, 4}));
  const ValueId r2 = b.Add(Op::kReshape, "merge", {t2}, Ints({1, 6, 3, 4}));
  const ValueId y = b.Add(Op::kTranspose, "to_nhwc", {r2}, Ints({0, 2, 3, 1}));
  b.Output(y);
  NormalizeReport report = NormalizeAndCompare(&b.g);
  EXPECT_EQ(CountOp(b.g, Op::kChannelShuffle), 1) << Joined(report);
  EXPECT_EQ(CountOp(b.g, Op::kTranspose), 0) << Joined(report);
  EXPECT_EQ(CountOp(b.g, Op::kReshape), 0) << Joined(report);
  EXPECT_EQ(FindNode(b.g, Op::kChannelShuffle)->attrs.groups, 2);
  EXPECT_TRUE(Mentions(report, "NCHW channel shuffle")) << Joined(report);
}

TEST(NormalizeTest, LeavesNchwChainsThatAreNoShuffleAlone) {
  // The same chain swapping K and H is no channel shuffle.
  Builder b;
  const ValueId x = b.Input("x", {1, 3, 4, 6});
  const ValueId t1 = b.Add(Op::kTranspose, "to_nchw", {x}, Ints({0, 3, 1, 2}));
  const ValueId r1 = b.Add(Op::kReshape, "split", {t1}, Ints({1, 2, 3, 3, 4}));
  const ValueId t2 = b.Add(Op::kTranspose, "other", {r1}, Ints({0, 1, 3, 2, 4}));
  const ValueId r2 = b.Add(Op::kReshape, "merge", {t2}, Ints({1, 6, 3, 4}));
  const ValueId y = b.Add(Op::kTranspose, "to_nhwc", {r2}, Ints({0, 2, 3, 1}));
  b.Output(y);
  NormalizeReport report = NormalizeAndCompare(&b.g);
  EXPECT_EQ(CountOp(b.g, Op::kChannelShuffle), 0) << Joined(report);
}

TEST(NormalizeTest, LeavesOtherTransposesAlone) {
  // Swapping H and W is no channel shuffle.
  Builder b;
  const ValueId x = b.Input("x", {1, 3, 4, 6});
  const ValueId r = b.Add(Op::kReshape, "r", {x}, Ints({1, 3, 4, 2, 3}));
  const ValueId t = b.Add(Op::kTranspose, "t", {r}, Ints({0, 2, 1, 3, 4}));
  const ValueId y = b.Add(Op::kReshape, "back", {t}, Ints({1, 4, 3, 6}));
  b.Output(y);
  NormalizeReport report = NormalizeAndCompare(&b.g);
  EXPECT_EQ(CountOp(b.g, Op::kChannelShuffle), 0) << Joined(report);
  EXPECT_EQ(CountOp(b.g, Op::kTranspose), 1) << Joined(report);
}

// ---- activation fusion -------------------------------------------------------

TEST(NormalizeTest, FusesReluAndClampIntoProducers) {
  Builder b;
  const ValueId x = b.Input("x", {1, 5, 5, 4});
  const ValueId c = b.Add(Op::kConv2D, "conv", {x, b.Const("w", {4, 1, 1, 4}), kNoValue});
  const ValueId r = b.Add(Op::kRelu, "relu", {c});
  Attrs six;
  six.act_min = 0;
  six.act_max = 6;
  const ValueId r6 = b.Add(Op::kClamp, "relu6", {r}, six);  // torch's Relu then Clip(0, 6)
  const ValueId add = b.Add(Op::kAdd, "add", {r6, x});
  const ValueId ra = b.Add(Op::kRelu, "relu_add", {add});
  const ValueId sub = b.Add(Op::kSub, "sub", {ra, b.Const("k", {4})});
  const ValueId rs = b.Add(Op::kClamp, "clamp_sub", {sub}, six);
  // A conv whose output has two readers keeps its Relu.
  const ValueId c2 = b.Add(Op::kConv2D, "conv2", {rs, b.Const("w2", {4, 1, 1, 4}), kNoValue});
  const ValueId r2 = b.Add(Op::kRelu, "relu2", {c2});
  b.Output(b.Add(Op::kMul, "mul", {r2, c2}));
  NormalizeReport report;
  report = NormalizeAndCompare(&b.g, 1e-5f, -3.0f, 3.0f);
  const Node* conv = nullptr;
  for (const Node& n : b.g.nodes) {
    if (n.name == "conv") conv = &n;
  }
  ASSERT_NE(conv, nullptr);
  EXPECT_EQ(conv->attrs.act_min, 0.0f);
  EXPECT_EQ(conv->attrs.act_max, 6.0f);
  EXPECT_EQ(CountOp(b.g, Op::kClamp), 0) << Joined(report);
  EXPECT_EQ(CountOp(b.g, Op::kRelu), 1) << Joined(report);  // relu2: conv2 has two readers
  EXPECT_TRUE(Mentions(report, "fused 1 Relu into Add")) << Joined(report);
  EXPECT_TRUE(Mentions(report, "fused 1 Clamp into Sub")) << Joined(report);
}

TEST(NormalizeTest, FusesDecomposedHardSwish) {
  Builder b;
  const ValueId x = b.Input("x", {1, 4, 4, 3});
  const ValueId three = b.g.AddConstant("three", {1}, {3.0f});
  Attrs six;
  six.act_min = 0;
  six.act_max = 6;
  // torch < 1.6 / Keras: x * relu6(x + 3) / 6.
  const ValueId a = b.Add(Op::kAdd, "hs1/add", {x, three});
  const ValueId c = b.Add(Op::kClamp, "hs1/relu6", {a}, six);
  const ValueId m = b.Add(Op::kMul, "hs1/mul", {x, c});
  const ValueId y = b.Add(Op::kDiv, "hs1/div", {m, b.g.AddConstant("six", {}, {6.0f})});
  // x * (relu6(3 + y) * (1/6)).
  const ValueId a2 = b.Add(Op::kAdd, "hs2/add", {three, y});
  const ValueId c2 = b.Add(Op::kClamp, "hs2/relu6", {a2}, six);
  const ValueId d2 =
      b.Add(Op::kMul, "hs2/scale", {c2, b.g.AddConstant("sixth", {1}, {1.0f / 6.0f})});
  const ValueId z = b.Add(Op::kMul, "hs2/mul", {d2, y});
  // Not a HardSwish: relu6(x + 2).
  const ValueId a3 = b.Add(Op::kAdd, "other/add", {z, b.g.AddConstant("two", {1}, {2.0f})});
  const ValueId c3 = b.Add(Op::kClamp, "other/relu6", {a3}, six);
  const ValueId m3 = b.Add(Op::kMul, "other/mul", {z, c3});
  b.Output(b.Add(Op::kDiv, "other/div", {m3, b.g.AddConstant("six2", {1}, {6.0f})}));
  NormalizeReport report = NormalizeAndCompare(&b.g, 1e-5f, -5.0f, 5.0f);
  EXPECT_EQ(CountOp(b.g, Op::kHardSwish), 2) << Joined(report);
  EXPECT_TRUE(Mentions(report, "fused 2 x * relu6(x + 3) / 6 patterns into HardSwish"));
  EXPECT_EQ(CountOp(b.g, Op::kDiv), 1);
}

// ---- axes, lowering, op set ----------------------------------------------------

TEST(NormalizeTest, CanonicalisesAxesAndLowersNeg) {
  Builder b;
  const ValueId x = b.Input("x", {1, 2, 2, 3});
  Attrs cat;
  cat.axis = -1;
  const ValueId c = b.Add(Op::kConcat, "cat", {x, x}, cat);
  const ValueId n = b.Add(Op::kNeg, "neg", {c});
  Attrs sm;
  sm.axis = -1;
  b.Output(b.Add(Op::kSoftmax, "sm", {n}, sm));
  NormalizeReport report = NormalizeAndCompare(&b.g);
  EXPECT_EQ(FindNode(b.g, Op::kConcat)->attrs.axis, 3);
  EXPECT_EQ(FindNode(b.g, Op::kSoftmax)->attrs.axis, 3);
  EXPECT_EQ(CountOp(b.g, Op::kNeg), 0);
  EXPECT_TRUE(Mentions(report, "turned 1 Neg into Mul by -1")) << Joined(report);
}

TEST(NormalizeTest, RejectsWhatEnginesCannotRun) {
  Builder b;
  const ValueId x = b.Input("x", {1, 4});
  b.Output(b.Add(Op::kRsqrt, "rsqrt_of_input", {x}));
  NormalizeReport report;
  Status s = Normalize(&b.g, &report);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("rsqrt_of_input"), std::string::npos);
  EXPECT_NE(s.message().find("Rsqrt"), std::string::npos);

  Builder k;
  const ValueId y = k.Input("y", {1, 2, 2, 3});
  Attrs sm;
  sm.axis = 1;
  k.Output(k.Add(Op::kSoftmax, "softmax_h", {y}, sm));
  s = Normalize(&k.g, &report);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("softmax_h"), std::string::npos);
}

TEST(NormalizeTest, ReportsCorruptShapes) {
  Builder b;
  const ValueId x = b.Input("x", {1, 4, 4, 3});
  b.Output(b.Add(Op::kConv2D, "conv_bad", {x, b.Const("w", {2, 3, 3, 5}), kNoValue}));
  NormalizeReport report;
  Status s = Normalize(&b.g, &report);
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_NE(s.message().find("conv_bad"), std::string::npos);
}

// ---- a SqueezeNet-like graph end to end --------------------------------------

TEST(NormalizeTest, CaffeStyleGraphEndToEnd) {
  Builder b;
  const ValueId x = b.Input("data", {-1, 19, 19, 3});
  const ValueId bn =
      b.Add(Op::kBatchNorm, "data_bn",
            {x, b.g.AddConstant("s", {3}, {1, 1, 1}), b.g.AddConstant("b", {3}, {0, 0, 0}),
             b.g.AddConstant("m", {3}, {104, 117, 123}), b.g.AddConstant("v", {3}, {1, 1, 1})});
  Attrs s2;
  s2.stride_h = s2.stride_w = 2;
  const ValueId c1 =
      b.Add(Op::kConv2D, "conv1",
            {bn, b.Const("w1", {8, 3, 3, 3}, -0.01f, 0.01f), b.Const("b1", {8})}, s2);
  const ValueId r1 = b.Add(Op::kRelu, "relu1", {c1});
  Attrs caffe = Ints({0, 0, 0, 0, 0, 1, 1, 0});
  caffe.pad_value = -std::numeric_limits<float>::max();
  const ValueId p = b.Add(Op::kPad, "legacy_pad", {r1}, caffe);
  const ValueId m = b.Add(Op::kMaxPool2D, "pool1", {p}, Pool(3, 2));
  const ValueId e1 =
      b.Add(Op::kConv2D, "e1", {m, b.Const("we1", {4, 1, 1, 8}), b.Const("be1", {4})});
  const ValueId e3 = b.Add(
      Op::kConv2D, "e3", {m, b.Const("we3", {4, 3, 3, 8}), b.Const("be3", {4})}, Pads(1, 1, 1, 1));
  Attrs axis;
  axis.axis = 3;
  const ValueId cat = b.Add(Op::kConcat, "concat",
                            {b.Add(Op::kRelu, "r_e1", {e1}), b.Add(Op::kRelu, "r_e3", {e3})}, axis);
  const ValueId gap = b.Add(Op::kGlobalAvgPool, "pool10", {cat});
  const ValueId flat = b.Add(Op::kReshape, "flatten", {gap}, Ints({1, 8}));
  const ValueId fc =
      b.Add(Op::kFullyConnected, "fc", {flat, b.Const("fw", {3, 8}), b.Const("fb", {3})});
  b.Output(b.Add(Op::kSoftmax, "loss", {fc}));
  NormalizeReport report = NormalizeAndCompare(&b.g, 1e-5f, 0.0f, 255.0f);
  const std::map<std::string, int> expected = {{"Concat", 1},         {"Conv2D", 3},
                                               {"FullyConnected", 1}, {"GlobalAvgPool", 1},
                                               {"MaxPool2D", 1},      {"Softmax", 1}};
  EXPECT_EQ(b.g.OpSummary(), expected) << Joined(report);
  EXPECT_EQ(b.g.values[b.g.inputs[0]].shape, (Shape{1, 19, 19, 3}));
}

// ---- property test: random chains keep their function ------------------------

TEST(NormalizeTest, RandomConvChainsKeepTheirFunction) {
  std::mt19937 rng(2024);
  for (int trial = 0; trial < 40; ++trial) {
    Builder b;
    b.seed = 1000 + trial * 50;
    int64_t c = 3, h = 9;
    ValueId v = b.Input("x", {-1, h, h, c});
    const int steps = 3 + static_cast<int>(rng() % 4);
    for (int s = 0; s < steps; ++s) {
      const std::string tag = std::to_string(s);
      switch (rng() % 7) {
        case 0: {  // per-channel affine
          v = b.Add(Op::kMul, "mul" + tag, {v, b.Const("ms" + tag, {c}, 0.5f, 1.5f)});
          v = b.Add(Op::kAdd, "add" + tag, {v, b.Const("as" + tag, {c})});
          break;
        }
        case 1: {  // conv, maybe padded, maybe depthwise
          const bool dw = rng() % 2;
          const int pad = static_cast<int>(rng() % 2);
          Attrs a = Pads(pad, pad, pad, pad);
          const int64_t out = dw ? c : 2 + static_cast<int64_t>(rng() % 4);
          if (dw) a.groups = static_cast<int>(c);
          v = b.Add(Op::kConv2D, "conv" + tag,
                    {v, b.Const("w" + tag, {out, 3, 3, dw ? 1 : c}), b.Const("b" + tag, {out})}, a);
          c = out;
          h = h + 2 * pad - 2;
          break;
        }
        case 2: {  // BatchNorm
          v = b.Add(Op::kBatchNorm, "bn" + tag,
                    {v, b.Const("g" + tag, {c}, 0.5f, 1.5f), b.Const("be" + tag, {c}),
                     b.Const("mu" + tag, {c}), b.Const("va" + tag, {c}, 0.5f, 2.0f)});
          break;
        }
        case 3: v = b.Add(Op::kRelu, "relu" + tag, {v}); break;
        case 4: {
          Attrs six;
          six.act_min = 0;
          six.act_max = 6;
          v = b.Add(Op::kClamp, "clamp" + tag, {v}, six);
          break;
        }
        case 5: {  // padded max pool
          if (h < 4) break;
          Attrs pad = Ints({0, 0, 0, 0, 0, 1, 1, 0});
          pad.pad_value = -kInf;
          v = b.Add(Op::kPad, "pad" + tag, {v}, pad);
          v = b.Add(Op::kMaxPool2D, "pool" + tag, {v}, Pool(2, 2));
          h = (h + 1 - 2) / 2 + 1;
          break;
        }
        case 6: v = b.Add(Op::kIdentity, "id" + tag, {v}); break;
      }
      if (h < 3) break;
    }
    v = b.Add(Op::kConv2D, "head", {v, b.Const("wh", {2, 1, 1, c}), kNoValue});
    b.Output(v);
    SCOPED_TRACE("trial " + std::to_string(trial));
    NormalizeAndCompare(&b.g, 2e-5f);
  }
}

}  // namespace
}  // namespace edgevision::graph
