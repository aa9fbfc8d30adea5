// Internal to BuildProgram (engine/xnnpack_program.h): which nodes our
// kernels compute together, decided once every node's Exec is known:
//   - a max pooling computed by the kConvGemm node before it (fused_pool);
//   - a HardSwish or residual Add computed in the epilogue of our kernels'
//     node before it (fused_epilogue);
//   - a squeeze-excite Mul computed in the input read of the 1x1
//     convolution that alone reads it (scaled_input);
//   - an inverted-residual block (expansion 1x1, depthwise, projection 1x1)
//     run in row bands (kBlock, Program::blocks; engine/inverted_residual.h);
//   - with threads, a 1x1 over few pixels split by output channels, with the
//     depthwise layer that alone reads it (Program::channel_parts).
// Each pass marks the nodes it absorbs kFused and counts them in the stats.
//
// Thread-safety: functions of their arguments.
#pragma once

#include <cstddef>
#include <vector>

#include "engine/xnnpack_program.h"
#include "graph/graph.h"

namespace edgevision::engine::xnnpack_internal {

struct Use {
  int node;      // the reading node
  size_t input;  // which of its inputs
};
// Use::input of the factors that a 1x1 convolution with a fused
// squeeze-excite Mul reads (FuseInputScales).
inline constexpr size_t kScaleInput = 1000;

// Per value: the node that writes it (-1: graph input or constant) and the
// nodes that read it.
struct Dataflow {
  std::vector<int> producer;
  std::vector<std::vector<Use>> consumers;
};
Dataflow TraceDataflow(const graph::Graph& g);

// `packed` copied into p->extra_weights[i] from a kGemmWeightAlignBytes
// boundary on (Program::gemm_offset): the kernels' weight loads never
// straddle cache lines.
void StoreAligned(const std::vector<float>& packed, size_t i, Program* p);

// kPointwiseGemm, kConvGemm: node i's kernel [N][KH][KW][C] and bias packed
// once into p->extra_weights[i] (StoreAligned).
void PackGemm(const graph::Graph& g, size_t i, Program* p);

// kWinograd with its products on our GEMM (WinogradStep::gemm_products):
// node i's transformed kernel U, one PackPointwiseGemm block per transformed
// position (U_k: output x input channels, no bias), then its bias (zeros if
// none), into p->extra_weights[i] as PackGemm; sets p->winograd[i]'s
// gemm_products and point_floats.
void PackWinogradGemm(const graph::Graph& g, size_t i, Program* p);

// The HardSwish or residual Add that node i's kernels could compute in their
// epilogue (the only reader of its output; an Add's other operand of the
// same shape and computed before node i runs), else -1.
int EpilogueCandidate(const graph::Graph& g, const Dataflow& flow, size_t i, bool add_too);

// The passes, in this order (each reads the decisions of the ones before).
// `g`: the graph being planned (the caller's; p->graph is filled in after
// planning, BuildProgram).
void FusePools(const graph::Graph& g, const Dataflow& flow, Program* p);
void FuseEpilogues(const graph::Graph& g, const Dataflow& flow, Program* p);
// Adds the fused Muls' operands as inputs of their convolutions to `flow`
// (they live until it runs).
void FuseInputScales(const graph::Graph& g, Dataflow* flow, Program* p);
// threads: the Sessions' (the blocks are split into bands for them).
void FuseBlocks(const graph::Graph& g, const Dataflow& flow, int threads, Program* p);
// threads: the Sessions'. A 1x1 left on our GEMM over few rows (MobileNets'
// 7x7 layers) is split by output channels, one part per thread, each with
// its own packed weights, and takes the depthwise layer that alone reads it
// (Program::channel_parts).
void SplitChannels(const graph::Graph& g, const Dataflow& flow, int threads, Program* p);

// After planning: the per-exec counts of p->stats (XnnpackPlanStats), from
// p->exec, p->winograd and p->concat_copies.
void CollectExecStats(const graph::Graph& g, Program* p);

// The value node i's kernels write: its fused epilogue's output, else its own.
graph::ValueId Written(const graph::Graph& g, const Program& p, size_t i);

}  // namespace edgevision::engine::xnnpack_internal
