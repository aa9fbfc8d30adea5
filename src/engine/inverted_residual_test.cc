// Inverted-residual blocks in row bands (engine/inverted_residual.h): on
// random blocks (odd sizes, stride 1 and 2, with and without expansion or
// with a stem convolution, residual Add or HardSwish) the fused path gives exactly what XNNPACK alone
// gives, at 1, 2 and 3 threads, and matches the reference kernels; so do
// the 7x7 blocks whose 1x1s threads split by output channels (with the
// depthwise layer in the expansion's tasks).
#include "engine/inverted_residual.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "engine/engine_test_util.h"
#include "engine/pointwise_gemm.h"

namespace edgevision::engine {
namespace {

using graph::Op;
using graph::ValueId;
using testing::ConvParams;
using testing::GraphBuilder;

struct BlockCase {
  std::string name;
  graph::Shape input;  // [1,H,W,C]
  int expand;       // expanded channels; 0: no expansion
  int kernel;       // depthwise window
  int stride;
  bool same;        // TF SAME padding on a stride-2 even input (bottom and right only)
  int out;          // projection channels
  bool residual;    // + the block input
  bool hardswish;   // after the expansion and the depthwise convolution, instead of ReLU6
  int fused;        // expected fused_blocks at 1 thread
  int fused2 = -1;  // ... at 2 threads, if not `fused` (kThreadedBlock*); 3 threads: `fused`
};

// ReLU6, or no clamp (a HardSwish follows).
ConvParams Activation(bool hardswish) {
  ConvParams act;
  if (!hardswish) {
    act.act_min = 0.0f;
    act.act_max = 6.0f;
  }
  return act;
}

// `act` with a kernel x kernel window's stride and padding: symmetric, or
// TF SAME on a stride-2 even input (bottom and right only).
ConvParams Window(ConvParams act, int kernel, int stride, bool same) {
  act.stride_h = act.stride_w = stride;
  act.pad_top = act.pad_left = same ? 0 : kernel / 2;
  act.pad_bottom = act.pad_right = same ? 1 : kernel / 2;
  return act;
}

// expansion 1x1 -> depthwise -> projection 1x1 (-> + input). `twice`: the
// depthwise output is also read by a second projection (added to the first).
graph::Graph Block(const BlockCase& c, bool twice = false) {
  GraphBuilder b(61);
  const ValueId x = b.Input(c.input);
  const ConvParams act = Activation(c.hardswish);
  ValueId h = x;
  if (c.expand > 0) {
    h = b.Conv(x, c.expand, 1, 1, act);
    if (c.hardswish) h = b.Unary(Op::kHardSwish, h);
  }
  const int channels = c.expand > 0 ? c.expand : static_cast<int>(c.input[3]);
  ConvParams dw = Window(act, c.kernel, c.stride, c.same);
  dw.groups = channels;
  ValueId y = b.Conv(h, channels, c.kernel, c.kernel, dw);
  if (c.hardswish) y = b.Unary(Op::kHardSwish, y);
  ValueId out = b.Conv(y, c.out, 1, 1);
  if (twice) out = b.Binary(Op::kAdd, out, b.Conv(y, c.out, 1, 1));
  if (c.residual) out = b.Binary(Op::kAdd, out, x);
  return b.Finish(out);
}

std::vector<BlockCase> Cases() {
  // Depthwise inputs of at least 1 MiB are fused (kBlockMinBytes), of at
  // least 768 KiB with at most 128 channels (kBlockMinBytesFewChannels);
  // smaller ones with threads when each thread gets at least 7 depthwise
  // output rows and there are at most 576 channels (kThreadedBlock*).
  return {
      {"s1_residual_odd", {1, 45, 41, 24}, 144, 3, 1, false, 24, true, false, 1},
      {"s2_odd", {1, 47, 45, 16}, 128, 3, 2, false, 24, false, false, 1},
      {"s2_same_even", {1, 48, 46, 16}, 120, 3, 2, true, 32, false, false, 1},
      {"no_expansion", {1, 61, 59, 80}, 0, 3, 1, false, 40, false, false, 1},
      {"hardswish_k5_residual", {1, 33, 35, 40}, 240, 5, 1, false, 40, true, true, 1},
      {"channel_tails", {1, 39, 37, 20}, 200, 3, 1, false, 36, false, false, 1},
      {"small_fused_on_two_threads", {1, 14, 14, 16}, 96, 3, 1, false, 16, true, false, 0, 1},
      {"small_s2_too_few_rows", {1, 14, 14, 96}, 576, 3, 2, false, 160, false, false, 0},
      {"small_576_channels_two_threads", {1, 17, 15, 96}, 576, 3, 1, false, 96, true, false, 0, 1},
      {"small_no_expansion_two_threads", {1, 28, 27, 192}, 0, 3, 2, false, 64, false, false, 0, 1},
      {"few_channels_under_1mib", {1, 56, 56, 24}, 72, 3, 1, false, 24, true, false, 1},
      {"many_channels_under_1mib", {1, 14, 19, 40}, 960, 3, 1, false, 40, false, true, 0},
      {"small_960_channels", {1, 16, 16, 160}, 960, 3, 1, false, 160, true, false, 0},
  };
}

struct SplitCase {
  BlockCase block;
  int splits2, paired2;  // expected channel_split_gemms, paired_depthwise at 2 threads
  int splits3, paired3;  // ... at 3
};

// Blocks too small for row bands (MobileNets' 7x7 ones): with threads, a 1x1
// over at most 64 pixels (kChannelSplitMaxRows) with at least 32 output
// channels a thread (kChannelPartMinChannels) is split by output channels,
// and an expansion's depthwise layer runs in its tasks on the same channels.
// Each output is computed as XNNPACK computes it: equal at 1, 2 and 3 threads.
std::vector<SplitCase> SplitCases() {
  return {
      {{"v2_7x7_residual", {1, 7, 7, 160}, 960, 3, 1, false, 160, true, false, 0}, 2, 1, 2, 1},
      {{"v3_hardswish_k5", {1, 7, 7, 96}, 576, 5, 1, false, 96, true, true, 0}, 2, 1, 2, 1},
      // 64 pixels; 64 expanded channels: two parts of 32, not three.
      {{"rows_at_limit", {1, 8, 8, 32}, 64, 3, 1, false, 48, false, false, 0}, 1, 1, 0, 0},
      {{"rows_over_limit", {1, 5, 13, 32}, 128, 3, 1, false, 64, false, false, 0}, 0, 0, 0, 0},
      // Parts of 96 / 104 and 64 / 64 / 72 channels (a 8-lane tail), stride 2.
      {{"channel_tails_s2", {1, 7, 7, 40}, 200, 3, 2, false, 72, false, false, 0}, 2, 1, 1, 1},
  };
}

TEST(InvertedResidualTest, RowBandsEqualXnnpack) {
  const bool available = xnnpack_internal::PointwiseGemmAvailable();
  for (const BlockCase& c : Cases()) {
    SCOPED_TRACE(c.name);
    const graph::Graph g = Block(c);
    const int fused2 = c.fused2 >= 0 ? c.fused2 : c.fused;
    EXPECT_EQ(testing::PlanStats(g).fused_blocks, available ? c.fused : 0);
    const XnnpackPlanStats two = testing::PlanStats(g, false, 2);
    EXPECT_EQ(two.fused_blocks, available ? fused2 : 0);
    // A block fused for threads has one band per thread, the others two.
    EXPECT_EQ(two.threaded_blocks, available ? fused2 - c.fused : 0);
    EXPECT_EQ(two.block_bands, available ? 2 * (fused2 - c.fused) + 4 * c.fused : 0);
    EXPECT_EQ(testing::PlanStats(g, false, 3).fused_blocks, available ? c.fused : 0);
    EXPECT_EQ(testing::PlanStats(g, /*xnnpack_only=*/true).fused_blocks, 0);
    testing::ExpectEqualsXnnpackOnly(g, 17);
    testing::ExpectMatchesReference(g, "InvertedResidual/" + c.name);
  }
}

struct StemCase {
  std::string name;
  graph::Shape image;  // [1,H,W,C]
  int channels;        // the stem's output channels
  int kernel, stride;  // the stem's window and stride
  bool same;           // TF SAME padding (bottom and right only), else symmetric
  bool hardswish;      // after the stem and the depthwise convolution, instead of ReLU6
  int dw_kernel, dw_stride, out;
  int fused;  // expected fused_blocks (and fused_block_stems)
  int fused_threads = -1;  // ... at 2 and 3 threads, if not `fused` (kThreadedBlock*)
};

// stem convolution -> depthwise -> projection 1x1: MobileNetV2's first layers.
graph::Graph Stem(const StemCase& c) {
  GraphBuilder b(67);
  const ValueId x = b.Input(c.image);
  const ConvParams act = Activation(c.hardswish);
  ValueId h = b.Conv(x, c.channels, c.kernel, c.kernel, Window(act, c.kernel, c.stride, c.same));
  if (c.hardswish) h = b.Unary(Op::kHardSwish, h);
  ConvParams dw = Window(act, c.dw_kernel, c.dw_stride, false);
  dw.groups = c.channels;
  ValueId y = b.Conv(h, c.channels, c.dw_kernel, c.dw_kernel, dw);
  if (c.hardswish) y = b.Unary(Op::kHardSwish, y);
  return b.Finish(b.Conv(y, c.out, 1, 1));
}

// A stem on the conv GEMM whose output only a block's depthwise convolution
// reads (and is at least kBlockMinBytes) is the block's first layer: its
// output rows go to the band's ring, never to memory whole.
TEST(InvertedResidualTest, StemInRowBandsEqualsXnnpack) {
  const bool available = xnnpack_internal::PointwiseGemmAvailable();
  const std::vector<StemCase> cases = {
      {"v2_stem_odd", {1, 185, 177, 3}, 32, 3, 2, false, false, 3, 1, 16, 1},
      {"same_hardswish_dw5_s2", {1, 188, 180, 3}, 40, 3, 2, true, true, 5, 2, 24, 1},
      {"stem5x5_s1_tails", {1, 77, 75, 5}, 52, 5, 1, false, false, 3, 1, 20, 1},
      {"small_fused_on_threads", {1, 64, 64, 3}, 32, 3, 2, false, false, 3, 1, 16, 0, 1},
      {"small_too_few_rows", {1, 24, 24, 3}, 32, 3, 2, false, false, 3, 1, 16, 0},
  };
  for (const StemCase& c : cases) {
    SCOPED_TRACE(c.name);
    const graph::Graph g = Stem(c);
    for (int threads : {1, 2, 3}) {
      const XnnpackPlanStats stats = testing::PlanStats(g, false, threads);
      const int fused = threads > 1 && c.fused_threads >= 0 ? c.fused_threads : c.fused;
      EXPECT_EQ(stats.fused_blocks, available ? fused : 0) << "threads=" << threads;
      EXPECT_EQ(stats.fused_block_stems, available ? fused : 0) << "threads=" << threads;
    }
    testing::ExpectEqualsXnnpackOnly(g, 19);
    testing::ExpectMatchesReference(g, "InvertedResidual/" + c.name);
  }
}

// One profiled run of `g` at `threads`; `listed` and `macs`: how often the
// profile lists each node (as its own or absorbed) and their multiply-adds.
struct ListedProfile {
  std::vector<NodeProfile> profile;
  size_t listed = 0;
  uint64_t macs = 0;
};

// `g` compiled for `threads` and a Session of it.
struct Compiled {
  std::unique_ptr<CompiledModel> model;
  std::unique_ptr<Session> session;
};

void CompileAt(const graph::Graph& g, int threads, Compiled* out) {
  EngineOptions options;
  options.threads = threads;
  auto model = MakeXnnpackBackend()->Compile(g, options);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  auto session = (*model)->CreateSession();
  ASSERT_TRUE(session.ok());
  out->model = std::move(*model);
  out->session = std::move(*session);
}

void ProfileOnce(const graph::Graph& g, int threads, ListedProfile* out) {
  Compiled c;
  ASSERT_NO_FATAL_FAILURE(CompileAt(g, threads, &c));
  const std::vector<float> in = testing::RandomData(
      static_cast<size_t>(graph::ShapeProduct(g.values[g.inputs[0]].shape)), 5);
  auto profile = ProfileXnnpackSession(*c.session, in, 1);
  ASSERT_TRUE(profile.ok()) << profile.status().ToString();
  out->profile = *profile;
  for (const NodeProfile& p : *profile) {
    for (const graph::Node& node : g.nodes) {
      const size_t n = std::count(p.absorbed.begin(), p.absorbed.end(), node.name) + (node.name == p.node);
      out->listed += n;
      out->macs += n * graph::NodeMultiplyAdds(g, node);
    }
  }
}

// The profile lists a block once, as its first node, with the nodes whose
// work it did (`edgevision bench --per-op` counts their multiply-adds there):
// every node's multiply-adds are accounted for once.
TEST(InvertedResidualTest, ProfileListsTheBlocksAbsorbedNodes) {
  const StemCase stem{"stem", {1, 185, 177, 3}, 32, 3, 2, false, true, 3, 1, 16, 1};
  for (const graph::Graph& g : {Block(Cases()[0]), Block(Cases()[4]), Stem(stem)}) {
    ListedProfile p;
    ASSERT_NO_FATAL_FAILURE(ProfileOnce(g, 1, &p));
    EXPECT_EQ(p.listed, g.nodes.size());
    EXPECT_EQ(p.macs, graph::CountMultiplyAdds(g));
    if (xnnpack_internal::PointwiseGemmAvailable()) {
      ASSERT_EQ(p.profile.size(), 1u);
      EXPECT_NE(p.profile[0].op.find("in row bands"), std::string::npos) << p.profile[0].op;
    }
  }
}

// At 2 threads a 7x7 block's expansion lists its paired depthwise layer
// (`gemm by channels + depthwise`), every node once.
TEST(InvertedResidualTest, ProfileListsThePairedDepthwise) {
  const graph::Graph g = Block(SplitCases()[0].block);
  ListedProfile p;
  ASSERT_NO_FATAL_FAILURE(ProfileOnce(g, 2, &p));
  EXPECT_EQ(p.listed, g.nodes.size());
  EXPECT_EQ(p.macs, graph::CountMultiplyAdds(g));
  if (xnnpack_internal::PointwiseGemmAvailable()) {
    ASSERT_EQ(p.profile.size(), 2u);  // the expansion with the depthwise layer, the projection with its Add
    EXPECT_EQ(p.profile[0].op, "Conv2D (gemm by channels + depthwise)");
    EXPECT_EQ(p.profile[1].op, "Conv2D (gemm by channels + Add)");
  }
}

// A depthwise output that two convolutions read stays a tensor.
TEST(InvertedResidualTest, DepthwiseReadTwiceNotFused) {
  const BlockCase c = Cases()[0];
  const graph::Graph g = Block(c, /*twice=*/true);
  EXPECT_EQ(testing::PlanStats(g).fused_blocks, 0);
  testing::ExpectEqualsXnnpackOnly(g, 18);
}

// A whole MobileNetV2 (TF SAME padding) at 192x192: its 96x96 and 48x48
// blocks run in row bands (with threads, its 24x24 ones too), and its
// output equals XNNPACK's alone at 1, 2 and 3 threads.
TEST(InvertedResidualTest, WholeMobileNetV2EqualsXnnpack) {
  const graph::Graph g = testing::MobileNetV2(192, 10, 47);
  const XnnpackPlanStats stats = testing::PlanStats(g);
  const int fused = stats.fused_blocks;
  std::printf("[ engine  ] MobileNetV2 @192: %d blocks in row bands (%d with the stem)\n", fused,
              stats.fused_block_stems);
  EXPECT_EQ(fused, xnnpack_internal::PointwiseGemmAvailable() ? 4 : 0);
  EXPECT_EQ(stats.fused_block_stems, xnnpack_internal::PointwiseGemmAvailable() ? 1 : 0);
  // On 2 threads its 24x24x192 blocks too (24 depthwise output rows); not
  // the 12x12 and 6x6 ones.
  EXPECT_EQ(testing::PlanStats(g, false, 2).threaded_blocks, xnnpack_internal::PointwiseGemmAvailable() ? 2 : 0);
  testing::ExpectEqualsXnnpackOnly(g, 23);
}

TEST(InvertedResidualTest, ChannelSplitsEqualXnnpack) {
  const bool available = xnnpack_internal::PointwiseGemmAvailable();
  for (const SplitCase& c : SplitCases()) {
    SCOPED_TRACE(c.block.name);
    const graph::Graph g = Block(c.block);
    const XnnpackPlanStats one = testing::PlanStats(g), two = testing::PlanStats(g, false, 2),
                           three = testing::PlanStats(g, false, 3);
    EXPECT_EQ(one.channel_split_gemms + one.paired_depthwise, 0);
    EXPECT_EQ(two.channel_split_gemms, available ? c.splits2 : 0);
    EXPECT_EQ(two.paired_depthwise, available ? c.paired2 : 0);
    EXPECT_EQ(three.channel_split_gemms, available ? c.splits3 : 0);
    EXPECT_EQ(three.paired_depthwise, available ? c.paired3 : 0);
    EXPECT_EQ(two.fused_blocks + three.fused_blocks, 0);
    testing::ExpectEqualsXnnpackOnly(g, 29);
    testing::ExpectMatchesReference(g, "InvertedResidual/" + c.block.name);
  }
}

// The block's kernels read their packed weights at run time: they survive
// ReleaseSessionCreationData, and a Session whose arena holds another
// input's activations (not zeroed) answers exactly as a fresh one.
TEST(InvertedResidualTest, ReleasedWeightsAndDirtyArenas) {
  const std::vector<BlockCase> cases = Cases();
  // With and without expansion; a 7x7 one split by channels with threads.
  for (const BlockCase& c : {cases[0], cases[3], SplitCases()[0].block}) {
    SCOPED_TRACE(c.name);
    const graph::Graph g = Block(c);
    for (int threads : {1, 2}) {
      Compiled compiled;
      ASSERT_NO_FATAL_FAILURE(CompileAt(g, threads, &compiled));
      CompiledModel& model = *compiled.model;
      Session& session = *compiled.session;
      const size_t n = static_cast<size_t>(graph::ShapeProduct(g.values[g.inputs[0]].shape));
      const std::vector<float> input = testing::RandomData(n, 21, -4.0f, 4.0f);
      const std::vector<float> other = testing::RandomData(n, 22, -40.0f, 40.0f);
      std::vector<float> want(model.output_size()), got(want.size());
      ASSERT_TRUE(session.Run(input, want).ok());
      // A block (or a split 1x1 and its paired depthwise layer) keeps only
      // its packed weights (BuildProgram copies none of the graph's), so the
      // release frees exactly what the model held.
      const size_t held = GetXnnpackWeightStats(model).unpacked_bytes;
      // Every node's weights are packed ones, read at run time: none is
      // only for creating Sessions (a paired depthwise layer's included).
      if (xnnpack_internal::PointwiseGemmAvailable()) {
        EXPECT_EQ(held, 0u) << "threads=" << threads;
      }
      EXPECT_EQ(model.ReleaseSessionCreationData(), held);
      EXPECT_EQ(GetXnnpackWeightStats(model).unpacked_bytes, 0u);
      ASSERT_TRUE(session.Run(other, got).ok());
      ASSERT_TRUE(session.Run(input, got).ok());
      EXPECT_EQ(got, want) << "threads=" << threads;
    }
  }
}

// The ring holds the expanded rows one group's windows span.
TEST(InvertedResidualTest, RingRows) {
  xnnpack_internal::DepthwiseArgs d;
  d.in_h = 40;
  d.kernel_h = 3;
  EXPECT_EQ(xnnpack_internal::InvertedResidualRingRows(d, 1), 3u);
  EXPECT_EQ(xnnpack_internal::InvertedResidualRingRows(d, 4), 6u);
  d.stride_h = 2;
  EXPECT_EQ(xnnpack_internal::InvertedResidualRingRows(d, 4), 9u);
  d.kernel_h = 5;
  d.in_h = 4;
  EXPECT_EQ(xnnpack_internal::InvertedResidualRingRows(d, 1), 4u);
}

}  // namespace
}  // namespace edgevision::engine
