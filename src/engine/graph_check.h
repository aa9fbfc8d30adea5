// Admission checks shared by every backend: is this graph something the
// engines can run without reading or writing out of bounds?
//
// Graphs come from untrusted model files, so the engines never trust the
// shapes an importer or normaliser wrote: CheckExecutableGraph re-derives
// every node's output shape from its inputs and attributes and compares. After
// it succeeds the kernels may index by the declared shapes without further
// checks (their documented precondition).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "engine/backend.h"
#include "graph/graph.h"
#include "graph/limits.h"

namespace edgevision::engine {

// Largest number of elements one value may hold (graph/limits.h).
inline constexpr int64_t kMaxTensorElements = graph::kMaxTensorElements;
// Largest sum of all activation sizes of one graph (input and node outputs),
// which bounds what a session may allocate (4 GiB of float32).
inline constexpr int64_t kMaxTotalActivationElements = int64_t{1} << 30;
// Highest tensor rank the engines accept (XNNPACK's XNN_MAX_TENSOR_DIMS).
inline constexpr size_t kMaxTensorRank = 6;
// Largest kernel size, stride, dilation or padding accepted on any axis
// (graph/limits.h).
inline constexpr int64_t kMaxSpatialParameter = graph::kMaxWindow;

// Most threads one Session may use (EngineOptions::threads).
inline constexpr int kMaxThreads = 64;

// InvalidArgument unless 1 <= options.threads <= kMaxThreads.
Status CheckEngineOptions(const EngineOptions& options);

// Checks that `graph` is a normalised graph the engines can execute:
//  - graph::Validate() holds; exactly one input and one output; the output is
//    produced by a node;
//  - every activation is float32 with a static shape (all dimensions >= 1,
//    rank <= kMaxTensorRank, at most kMaxTensorElements elements, all together
//    at most kMaxTotalActivationElements); the input's first dimension (batch) is 1;
//  - every node runs an [exec] op with the inputs, attributes and output shape
//    that op requires (weights and biases are float32 constants; fused
//    activation bounds only on ops that support them).
// Errors: Unsupported naming the node and op for ops outside the [exec] set or
// features the engines do not implement (e.g. dilated pooling);
// ResourceExhausted when a size limit above is exceeded;
// InvalidArgument naming the node for inconsistent shapes or attributes;
// Corrupt from graph::Validate().
Status CheckExecutableGraph(const graph::Graph& graph);

// True for ops that apply attrs.act_min/act_max to their output.
bool HasFusedActivation(graph::Op op);

}  // namespace edgevision::engine
