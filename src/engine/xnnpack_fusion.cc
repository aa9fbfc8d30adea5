#include "engine/xnnpack_fusion.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "engine/conv_taps.h"
#include "engine/depthwise_conv.h"
#include "engine/inverted_residual.h"
#include "engine/pointwise_gemm.h"
#include "engine/xnnpack_constants.h"

namespace edgevision::engine::xnnpack_internal {

using graph::Graph;
using graph::Node;
using graph::Op;
using graph::ValueId;

namespace {

// Inverted-residual blocks run in row bands (BlockStep) when the tensor
// their depthwise convolution reads is at least this large: the memory-bound
// ones (one thread: MobileNetV2's 112x112 and 56x56 blocks 2-12 % faster,
// the detector's 224x304 and 112x152 ones 35-50 %). Its 14x14 ones gain
// ~4 %, the detector's 14x19x960 ones lose ~10 % (the pixel tiles sweep
// 614 KB of weights). Computing this many depthwise output rows at a time
// (2 and 4 measured the same).
constexpr size_t kBlockMinBytes = 1024 * 1024;
// ... and from this size on when it has at most kBlockFewChannels channels
// (weights too small to matter when the pixel tiles sweep them):
// MobileNetV3-Large's 112x112x16 and 56x56x72 (0.8-0.9 MB) run ~3-6 %
// faster in one-thread whole-model minima with the column depthwise kernel;
// the detector's 14x19x960 (1.0 MB) stays out.
constexpr size_t kBlockMinBytesFewChannels = 768 * 1024;
constexpr int64_t kBlockFewChannels = 128;
constexpr size_t kBlockGroupRows = 1;
// With threads, this many bands per thread (each with its scratch; a band's
// first rows' halo is expanded twice): 2 threads on the loaded bench machine,
// detector 14.2 -> 12.8 ms and MobileNetV2 2.55 -> 2.28 ms (median) from 1 to
// 2; 4 measured as 2.
constexpr size_t kBlockBandsPerThread = 2;
// With threads, smaller blocks run in row bands too, one band per thread,
// when each band has at least this many depthwise output rows (a band
// expands its 1-2 halo rows twice)...
constexpr size_t kThreadedBlockRowsPerThread = 7;
// ... and the depthwise layer at most this many channels. It saves two of
// the block's three fork-joins and the depthwise output's round trip to
// memory. Chosen on MobileNetV2 at 2 threads (per-op minima over 400 runs,
// 3 repeats, loaded machine): its 28x28x192 and 14x14x384/576 blocks
// (out_h 14-28) ran 2-5 us (4-9 %) faster each in bands, its 14x14 -> 7x7
// stride-2 block (out_h 7) 5 us slower and its 7x7x960 ones 3-7 us slower
// (their 614 KB projection weights swept per row, like the detector's
// 14x19x960 blocks at one thread); two bands per thread lost at 7x7 (a band
// of 1-2 rows expands as many halo rows as it computes).
constexpr int64_t kThreadedBlockMaxChannels = 576;
constexpr size_t kThreadedBlockBandsPerThread = 1;

constexpr size_t kLineFloats = kGemmWeightAlignBytes / sizeof(float);  // packed weights' alignment

// The only reader of `v`, reading it as its first input, else -1.
int OnlyReader(const Graph& g, const Dataflow& flow, ValueId v) {
  if (v == g.outputs[0] || flow.consumers[v].size() != 1 || flow.consumers[v][0].input != 0) return -1;
  return flow.consumers[v][0].node;
}

// A depthwise node under the size thresholds that runs in row bands anyway
// with `threads` (kThreadedBlockRowsPerThread, kThreadedBlockMaxChannels).
bool ThreadedBlock(const Graph& g, const Node& depthwise, int threads) {
  const graph::Shape& ys = g.values[depthwise.outputs[0]].shape;
  if (threads <= 1 || ys.size() != 4 || ys[3] > kThreadedBlockMaxChannels) return false;
  return static_cast<size_t>(ys[1]) >= kThreadedBlockRowsPerThread * static_cast<size_t>(threads);
}

}  // namespace

Dataflow TraceDataflow(const Graph& g) {
  Dataflow flow;
  flow.producer.assign(g.values.size(), -1);
  flow.consumers.assign(g.values.size(), {});
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& node = g.nodes[i];
    flow.producer[node.outputs[0]] = static_cast<int>(i);
    for (size_t k = 0; k < node.inputs.size(); ++k) {
      if (node.inputs[k] != graph::kNoValue) flow.consumers[node.inputs[k]].push_back({static_cast<int>(i), k});
    }
  }
  return flow;
}

void StoreAligned(const std::vector<float>& packed, size_t i, Program* p) {
  std::vector<float>& buffer = p->extra_weights[i];
  buffer.assign(packed.size() + kLineFloats - 1, 0.0f);
  const auto address = reinterpret_cast<uintptr_t>(buffer.data());
  const size_t offset =
      (kGemmWeightAlignBytes - address % kGemmWeightAlignBytes) % kGemmWeightAlignBytes / sizeof(float);
  std::copy(packed.begin(), packed.end(), buffer.begin() + static_cast<ptrdiff_t>(offset));
  p->gemm_offset[i] = offset;
}

void PackGemm(const Graph& g, size_t i, Program* p) {
  const Node& node = g.nodes[i];
  const graph::Shape& ws = g.values[node.inputs[1]].shape;
  const bool bias = node.inputs.size() > 2 && node.inputs[2] != graph::kNoValue;
  StoreAligned(PackPointwiseGemm(g.values[node.inputs[1]].f32.data(),
                                 bias ? g.values[node.inputs[2]].f32.data() : nullptr,
                                 static_cast<size_t>(ws[0]), static_cast<size_t>(graph::ShapeProduct(ws) / ws[0])),
               i, p);
}

void PackWinogradGemm(const Graph& g, size_t i, Program* p) {
  const Node& node = g.nodes[i];
  const auto out = static_cast<size_t>(g.values[node.inputs[1]].shape[0]);
  const auto in = static_cast<size_t>(g.values[node.inputs[1]].shape[3]);
  const std::vector<float> u = WinogradKernel(g, node);
  std::vector<float> packed;
  for (size_t k = 0; k < kWinogradPoints; ++k) {
    const std::vector<float> point = PackPointwiseGemm(u.data() + k * out * in, nullptr, out, in);
    p->winograd[i].point_floats = point.size();
    packed.insert(packed.end(), point.begin(), point.end());
  }
  const bool bias = node.inputs.size() > 2 && node.inputs[2] != graph::kNoValue;
  if (bias) {
    const std::vector<float>& b = g.values[node.inputs[2]].f32;
    packed.insert(packed.end(), b.begin(), b.end());
  } else {
    packed.resize(packed.size() + out, 0.0f);
  }
  p->winograd[i].gemm_products = true;
  StoreAligned(packed, i, p);
}

// A kConvGemm node whose output only a max pooling reads computes the
// pooling too: the convolution's output is never written in full (the
// first layers of the SqueezeNet exports: 113x113x64, 3.3 MB written and
// read back).
void FusePools(const Graph& g, const Dataflow& flow, Program* p) {
  p->fused_pool.assign(g.nodes.size(), -1);
  p->ring_offset.assign(g.nodes.size(), 0);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (p->exec[i] != Exec::kConvGemm) continue;
    const ValueId y = g.nodes[i].outputs[0];
    if (y == g.outputs[0] || flow.consumers[y].size() != 1 || flow.consumers[y][0].input != 0) continue;
    const int j = flow.consumers[y][0].node;
    if (!FusablePool(g, g.nodes[j])) continue;
    p->fused_pool[i] = j;
    p->exec[j] = Exec::kFused;
    ++p->stats.fused_pools;
  }
}

int EpilogueCandidate(const Graph& g, const Dataflow& flow, size_t i, bool add_too) {
  const ValueId y = g.nodes[i].outputs[0];
  if (y == g.outputs[0] || flow.consumers[y].size() != 1) return -1;
  const int j = flow.consumers[y][0].node;
  const Node& next = g.nodes[j];
  if (g.values[next.outputs[0]].shape != g.values[y].shape) return -1;
  if (next.op == Op::kHardSwish) return j;
  if (!add_too || next.op != Op::kAdd || next.inputs.size() != 2) return -1;
  const ValueId r = next.inputs[0] == y ? next.inputs[1] : next.inputs[0];
  const bool ok = r != y && !g.values[r].is_constant && g.values[r].shape == g.values[y].shape &&
                  flow.producer[r] < static_cast<int>(i);
  return ok ? j : -1;
}

// A node of our kernels whose output only a HardSwish or a residual Add
// reads computes that op too, while its output is in registers:
// MobileNetV3's HardSwishes after its depthwise and first convolutions
// (112x112x16 at the largest), the MobileNets' residual Adds after their
// projection 1x1s (the depthwise kernel takes HardSwish only).
void FuseEpilogues(const Graph& g, const Dataflow& flow, Program* p) {
  p->fused_epilogue.assign(g.nodes.size(), -1);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const bool depthwise = p->exec[i] == Exec::kDepthwise;
    const bool gemm = (p->exec[i] == Exec::kPointwiseGemm || p->exec[i] == Exec::kConvGemm) &&
                      p->fused_pool[i] < 0;
    if (!depthwise && !gemm) continue;
    const int j = EpilogueCandidate(g, flow, i, gemm);
    if (j < 0 || p->exec[j] != Exec::kXnnpack) continue;
    p->fused_epilogue[i] = j;
    p->exec[j] = Exec::kFused;
    ++p->stats.fused_epilogues;
  }
}

int ScaleOperand(const Graph& graph, const Node& mul) {
  if (mul.op != Op::kMul || mul.inputs.size() != 2) return -1;
  const graph::Shape& ys = graph.values[mul.outputs[0]].shape;
  const int64_t c = ys.empty() ? 0 : ys.back();
  for (size_t k = 0; k < 2; ++k) {
    const graph::Value& scale = graph.values[mul.inputs[k]];
    const graph::Value& tensor = graph.values[mul.inputs[1 - k]];
    if (scale.is_constant || tensor.is_constant || tensor.shape != ys || scale.shape.empty() ||
        scale.shape.back() != c || graph::ShapeProduct(scale.shape) != c) {
      continue;
    }
    return static_cast<int>(k);
  }
  return -1;
}

bool FusedInputScale(const Graph& graph, const Program& p, size_t i) {
  return p.exec[i] == Exec::kFused && graph.nodes[i].op == Op::kMul;
}

namespace {

// The Mul node that alone feeds 1x1 convolution i and multiplies a tensor
// of the same shape by per-channel factors, both computed (not constants),
// with no clamp, at most kGemmMaxScaledK channels, on XNNPACK; else -1.
int ScaleCandidate(const Graph& g, const Dataflow& flow, const Program& p, size_t i) {
  const ValueId x = g.nodes[i].inputs[0];
  const int j = flow.producer[x];
  if (j < 0 || x == g.outputs[0] || flow.consumers[x].size() != 1) return -1;
  const Node& mul = g.nodes[j];
  if (mul.op != Op::kMul || p.exec[j] != Exec::kXnnpack || mul.inputs.size() != 2 ||
      mul.inputs[0] == mul.inputs[1] || mul.attrs.act_min != -std::numeric_limits<float>::infinity() ||
      mul.attrs.act_max != std::numeric_limits<float>::infinity()) {
    return -1;
  }
  const graph::Shape& xs = g.values[x].shape;
  const int64_t c = xs.empty() ? 0 : xs.back();
  if (c <= 0 || static_cast<size_t>(c) > kGemmMaxScaledK) return -1;
  return ScaleOperand(g, mul) >= 0 ? j : -1;
}

}  // namespace

// A squeeze-excite Mul (the tensor times its channels' factors) that only
// a 1x1 convolution on our GEMM reads is computed in that convolution's
// input read, one tile of rows at a time (MobileNetV3: the Mul's output
// was written and read back, 56x56x16 to 7x7x960).
void FuseInputScales(const Graph& g, Dataflow* flow, Program* p) {
  p->scaled_input.assign(g.nodes.size(), -1);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (p->exec[i] != Exec::kPointwiseGemm) continue;
    const int j = ScaleCandidate(g, *flow, *p, i);
    if (j < 0) continue;
    p->scaled_input[i] = j;
    p->exec[j] = Exec::kFused;
    // The convolution now reads the Mul's operands (the factors as an input
    // no strided layout is offered for).
    const Node& mul = g.nodes[j];
    const size_t operand = static_cast<size_t>(ScaleOperand(g, mul));
    flow->consumers[mul.inputs[1 - operand]].push_back({static_cast<int>(i), 0});
    flow->consumers[mul.inputs[operand]].push_back({static_cast<int>(i), kScaleInput});
    ++p->stats.fused_input_scales;
  }
}

ValueId Written(const Graph& g, const Program& p, size_t i) {
  const int f = p.fused_epilogue[i];
  return g.nodes[f >= 0 ? static_cast<size_t>(f) : i].outputs[0];
}

// A depthwise convolution on our kernel whose output only a 1x1
// convolution reads (the projection), and whose input only a 1x1
// convolution or a conv-GEMM convolution without a fused pooling writes
// (the expansion or the stem, if any; one with a fused Add is left out) runs with them in row bands (BlockStep) when the tensor it reads is
// at least kBlockMinBytes (kBlockMinBytesFewChannels with few channels), or
// with threads when each thread gets enough of its rows (ThreadedBlock). (The 1x1s, on the pointwise GEMM, give outputs
// bit-identical to XNNPACK's.)
void FuseBlocks(const Graph& g, const Dataflow& flow, int threads, Program* p) {
  p->blocks.assign(g.nodes.size(), {});
  std::vector<int> epilogue_of(g.nodes.size(), -1);  // fused node -> its producer
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (p->fused_epilogue[i] >= 0) epilogue_of[p->fused_epilogue[i]] = static_cast<int>(i);
  }
  for (size_t d = 0; d < g.nodes.size(); ++d) {
    if (p->exec[d] != Exec::kDepthwise) continue;
    const ValueId x = g.nodes[d].inputs[0];
    const int proj = OnlyReader(g, flow, Written(g, *p, d));
    if (proj < 0 || !PointwiseGemmEligible(g, g.nodes[proj]) ||
        (p->exec[proj] != Exec::kPointwiseGemm && p->exec[proj] != Exec::kXnnpack)) {
      continue;
    }
    const graph::Shape& xs = g.values[x].shape;
    const size_t bytes = static_cast<size_t>(graph::ShapeProduct(xs)) * sizeof(float);
    const bool few_channels = !xs.empty() && xs.back() <= kBlockFewChannels;
    const bool threaded = bytes < (few_channels ? kBlockMinBytesFewChannels : kBlockMinBytes);
    if (threaded && !ThreadedBlock(g, g.nodes[d], threads)) continue;
    int e = flow.producer[x];
    if (e >= 0 && p->exec[e] == Exec::kFused) e = epilogue_of[e];
    // The first layer: a 1x1 convolution or one on the conv GEMM without
    // a fused pooling (a stem). (One with a fused Add is left alone.)
    const bool pointwise = e >= 0 && PointwiseGemmEligible(g, g.nodes[e]) &&
                           (p->exec[e] == Exec::kPointwiseGemm || p->exec[e] == Exec::kXnnpack);
    const bool stem = e >= 0 && p->exec[e] == Exec::kConvGemm && p->fused_pool[e] < 0;
    const bool expand = (pointwise || stem) && OnlyReader(g, flow, x) == static_cast<int>(d) &&
                        p->scaled_input[e] < 0 &&
                        (p->fused_epilogue[e] < 0 || g.nodes[p->fused_epilogue[e]].op == Op::kHardSwish);
    const size_t head = expand ? static_cast<size_t>(e) : d;
    // A residual Add's other operand must exist when the block starts.
    const int add = p->fused_epilogue[proj];
    if (add >= 0 && g.nodes[add].op == Op::kAdd) {
      const Node& a = g.nodes[add];
      const ValueId r = a.inputs[0] == g.nodes[proj].outputs[0] ? a.inputs[1] : a.inputs[0];
      if (flow.producer[r] >= static_cast<int>(head)) continue;
    }
    for (int n : {expand ? e : -1, proj}) {
      if (n >= 0 && p->exec[n] == Exec::kXnnpack) PackGemm(g, static_cast<size_t>(n), p);
    }
    BlockStep& b = p->blocks[head];
    b.depthwise = static_cast<int>(d);
    b.projection = proj;
    b.conv_stem = expand && stem;
    InvertedResidualArgs args;
    args.expand = expand;
    SetWindowGeometry(g, g.nodes[d], &args.depthwise);
    args.depthwise.channels = static_cast<size_t>(g.values[x].shape.back());
    b.group_rows = std::min(args.depthwise.out_h, kBlockGroupRows);
    b.ring_rows = InvertedResidualRingRows(args.depthwise, b.group_rows);
    args.group_rows = b.group_rows;
    args.ring_rows = b.ring_rows;
    b.band_floats = InvertedResidualScratchFloats(args);
    const size_t per_thread = threaded ? kThreadedBlockBandsPerThread : kBlockBandsPerThread;
    b.bands = threads > 1 ? std::min(args.depthwise.out_h, static_cast<size_t>(threads) * per_thread) : 1;
    p->exec[d] = Exec::kFused;
    p->exec[proj] = Exec::kFused;
    p->exec[head] = Exec::kBlock;
    ++p->stats.fused_blocks;
    if (threaded) ++p->stats.threaded_blocks;
    p->stats.block_bands += static_cast<int>(b.bands);
    if (b.conv_stem) ++p->stats.fused_block_stems;
  }
}

namespace {

// With threads, a 1x1 convolution over at most this many pixels is split by
// output channels instead of rows: a row split of 7x7 = 49 pixels gives one
// thread 4 tiles of 7 rows and the other 3, and each sweeps all the weights
// (MobileNetV2's 7x7 layers: 614 KB to 1.6 MB); a channel split reads half
// of them each, in parts within one channel vector of each other. On
// MobileNetV2 at 2 threads (per-op minima, 12 alternating rounds, load 2-4)
// its 7x7 1x1s ran 2-12 us faster each, an expansion with its depthwise
// layer 11 us faster than the two apart (docs/performance.md#v2-fork-joins).
// Its 14x14 expansion (196 pixels) measured level: left out.
constexpr int64_t kChannelSplitMaxRows = 64;
// Parts start at multiples of this many channels (one vector)...
constexpr size_t kChannelPartGranule = 16;
// ... so a paired depthwise layer's part starts on a tile of its packed
// weights (the Session offsets them by whole tiles).
static_assert(kChannelPartGranule % kDepthwiseTileChannels == 0);
// ... and have at least this many.
constexpr size_t kChannelPartMinChannels = 32;

}  // namespace

void SplitChannels(const Graph& g, const Dataflow& flow, int threads, Program* p) {
  p->channel_parts.assign(g.nodes.size(), {});
  if (threads <= 1) return;
  const auto parts = static_cast<size_t>(threads);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (p->exec[i] != Exec::kPointwiseGemm || p->scaled_input[i] >= 0) continue;
    const Node& node = g.nodes[i];
    const graph::Shape& xs = g.values[node.inputs[0]].shape;
    const graph::Shape& ws = g.values[node.inputs[1]].shape;
    const auto n = static_cast<size_t>(ws[0]);
    const auto k = static_cast<size_t>(graph::ShapeProduct(ws) / ws[0]);
    const int64_t m = graph::ShapeProduct(xs) / xs.back();
    if (m <= 1 || m > kChannelSplitMaxRows || n < parts * kChannelPartMinChannels) continue;
    const bool bias = node.inputs.size() > 2 && node.inputs[2] != graph::kNoValue;
    const float* weights = g.values[node.inputs[1]].f32.data();
    ChannelParts& split = p->channel_parts[i];
    std::vector<float> packed;
    for (size_t part = 0; part <= parts; ++part) {
      split.begin.push_back(part == parts ? n : part * n / parts / kChannelPartGranule * kChannelPartGranule);
    }
    for (size_t part = 0; part < parts; ++part) {
      const size_t c0 = split.begin[part], c1 = split.begin[part + 1];
      const std::vector<float> sub = PackPointwiseGemm(
          weights + c0 * k, bias ? g.values[node.inputs[2]].f32.data() + c0 : nullptr, c1 - c0, k);
      split.offset.push_back(packed.size());
      packed.insert(packed.end(), sub.begin(), sub.end());
      packed.resize((packed.size() + kLineFloats - 1) / kLineFloats * kLineFloats, 0.0f);
    }
    StoreAligned(packed, i, p);
    ++p->stats.channel_split_gemms;
    const int d = OnlyReader(g, flow, Written(g, *p, i));
    if (d >= 0 && p->exec[d] == Exec::kDepthwise && g.values[g.nodes[d].inputs[0]].shape.back() == ws[0]) {
      split.depthwise = d;
      p->exec[d] = Exec::kFused;
      ++p->stats.paired_depthwise;
    }
  }
}

void CollectExecStats(const Graph& g, Program* p) {
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    switch (p->exec[i]) {
      case Exec::kXnnpack:
      case Exec::kDepthwiseAvgPool: ++p->stats.xnnpack_nodes; break;
      case Exec::kWinograd:
        ++p->stats.xnnpack_nodes;
        ++p->stats.winograd_nodes;
        if (p->winograd[i].gemm_products) ++p->stats.winograd_gemm_nodes;
        break;
      case Exec::kPointwiseGemm:
        ++p->stats.xnnpack_nodes;
        ++p->stats.pointwise_gemm_nodes;
        break;
      case Exec::kBandedConv:
        ++p->stats.xnnpack_nodes;
        ++p->stats.banded_conv_nodes;
        break;
      case Exec::kInBand: ++p->stats.xnnpack_nodes; break;
      case Exec::kConvGemm:
        ++p->stats.xnnpack_nodes;
        ++p->stats.conv_gemm_nodes;
        break;
      case Exec::kDepthwise:
        ++p->stats.xnnpack_nodes;
        ++p->stats.depthwise_nodes;
        break;
      case Exec::kBlock: ++p->stats.xnnpack_nodes; break;
      case Exec::kReference:
        ++p->stats.reference_nodes;
        p->stats.reference_node_names.push_back(g.nodes[i].name);
        break;
      case Exec::kAlias:
      case Exec::kView:
      case Exec::kFused: ++p->stats.free_nodes; break;
      case Exec::kConcat:
        if (p->concat_copies[i].empty()) {
          ++p->stats.free_nodes;
        } else {
          ++p->stats.xnnpack_nodes;
        }
        break;
    }
  }
}

}  // namespace edgevision::engine::xnnpack_internal
