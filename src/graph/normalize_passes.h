// The individual passes Normalize() runs, exposed for unit tests.
//
// Each pass rewrites the graph in place and appends one sentence per kind of
// rewrite it made to the report (nothing when it changed nothing). Unless a
// pass says otherwise it needs a topologically ordered graph whose value ids
// are in range; passes marked "needs shapes" also need InferShapes() to have
// run. Passes may leave dead nodes and values behind: EliminateDeadCode()
// removes them. Not thread-safe: they mutate the graph.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"
#include "graph/normalize.h"

namespace edgevision::graph {

// Most nodes Normalize() accepts. Imported Custom Vision graphs have a few
// hundred; the limit keeps hostile graphs from making passes slow.
inline constexpr size_t kMaxNormalizeNodes = 100000;

// ---- structure (normalize_structure.cc) ----

// Ids in range, one output per node, node count within kMaxNormalizeNodes.
// Works on any graph. Errors: Corrupt / ResourceExhausted.
Status CheckStructure(const Graph& graph);
// Stable topological order (nodes already in order keep it). Works on any
// graph that passed CheckStructure. Errors: Corrupt on a cycle, on a value
// produced twice, or on a read of a value nothing produces.
Status SortTopologically(Graph* graph, NormalizeReport* report);
// Removes nodes whose outputs nobody reads and values nothing references,
// renumbering value ids (graph inputs, outputs and constants keep their order).
void EliminateDeadCode(Graph* graph, NormalizeReport* report);
// Makes Concat/Softmax axes, ReduceMean axes and Transpose permutations
// non-negative. Needs shapes. Errors: Unsupported for a Softmax that is not
// over the last axis.
Status CanonicalizeAxes(Graph* graph, NormalizeReport* report);
// Unsupported naming the first node whose op is not marked [exec] in graph.h.
Status CheckExecutable(const Graph& graph);

// ---- folding (normalize_fold.cc) ----

// Drops Identity nodes, keeping the later value's name where possible.
Status RemoveIdentities(Graph* graph, NormalizeReport* report);
// Evaluates nodes whose inputs are all float32 constants (binary ops, Neg,
// Rsqrt, Sqrt, activations, Reshape, Transpose, Concat, BatchNorm).
Status FoldConstants(Graph* graph, NormalizeReport* report);
// Folds each BatchNorm into the preceding Conv2D/FullyConnected when it is
// that node's only consumer, else turns it into Mul + Add with [C] constants.
// Needs shapes. Errors: Unsupported for non-constant parameters.
Status FoldBatchNorms(Graph* graph, NormalizeReport* report);
// Folds a chain of per-channel Mul/Add/Sub/Div by constants on a graph input
// into the Conv2D it feeds when that conv has no padding (exact then).
// Needs shapes.
Status FoldInputAffine(Graph* graph, NormalizeReport* report);
// Folds per-channel Mul/Add/Sub/Div by constants that directly follow a
// Conv2D/FullyConnected (its only consumer, no fused activation) into its
// weights and bias. Needs shapes.
Status FoldAffineIntoProducers(Graph* graph, NormalizeReport* report);

// ---- rewrites (normalize_rewrite.cc) ----

// Merges Pad(-inf or <= -FLT_MAX) into a following MaxPool2D, Pad(0) into a
// following Conv2D or unpadded AvgPool2D; drops Pads that pad nothing. Needs shapes.
Status MergePads(Graph* graph, NormalizeReport* report);
// ReduceMean over H,W -> GlobalAvgPool (+ Reshape when keep_dims is false);
// AvgPool2D whose window is the whole unpadded input -> GlobalAvgPool.
// Needs shapes.
Status RewritePooling(Graph* graph, NormalizeReport* report);
// Collapses Reshape chains, removes identity Reshapes/Transposes, turns
// Transposes that only move size-1 dimensions into Reshapes, and drops
// Reshapes [N,1,1,K] -> [N,K] that only feed FullyConnected. Needs shapes.
Status SimplifyReshapes(Graph* graph, NormalizeReport* report);
// Reshape [..,G,K] -> Transpose (swap the last two axes) -> Reshape on a
// value with C = G * K channels -> ChannelShuffle(groups = G). Needs shapes.
Status FuseChannelShuffles(Graph* graph, NormalizeReport* report);
// Rewrites x * relu6(x + 3) / 6 (Add, Clamp, Mul and Div by 6 or Mul by 1/6,
// in either grouping) into HardSwish. Needs shapes.
Status FuseHardSwish(Graph* graph, NormalizeReport* report);
// Fuses Relu/Clamp into the producing Conv2D/FullyConnected/Add/Sub/Mul when
// it is that node's only consumer.
Status FuseActivations(Graph* graph, NormalizeReport* report);
// Neg on an activation -> Mul by -1.
Status LowerUnaryOps(Graph* graph, NormalizeReport* report);

// ---- helpers shared by the passes (normalize.cc) ----

// For each value, the indices of the nodes reading it (once per input slot).
std::vector<std::vector<int>> ConsumerIndex(const Graph& graph);
// For each value, the index of the node producing it, or -1.
std::vector<int> ProducerIndex(const Graph& graph);
bool IsGraphOutput(const Graph& graph, ValueId id);
bool IsGraphInput(const Graph& graph, ValueId id);
// Node readers plus graph-output references of `id`.
int Uses(const Graph& graph, const std::vector<std::vector<int>>& consumers, ValueId id);
// Rewrites every node input and graph output reading `from` to read `to`.
void ReplaceUses(Graph* graph, ValueId from, ValueId to);
// Removes the nodes whose flag is set, keeping the others' order.
void EraseNodes(Graph* graph, const std::vector<bool>& remove);
// True when `v` is a float32 constant.
bool IsFloatConstant(const Graph& graph, ValueId v);
// When constant `v` broadcasts as a per-channel vector over the last axis of
// a tensor with `channels` channels and rank `rank` (shape all 1s except an
// optional last dimension equal to `channels`, rank <= `rank`), its values
// expanded to `channels` entries; else empty.
std::vector<float> PerChannel(const Value& v, int64_t channels, size_t rank);
// "1 Conv2D" / "3 Conv2D": a count with an op name, for report sentences.
std::string CountOf(size_t n, const std::string& what);

}  // namespace edgevision::graph
