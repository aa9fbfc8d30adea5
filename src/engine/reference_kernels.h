// Reference kernels: one plain, obviously-correct loop nest per [exec] op.
//
// They are the oracle the XNNPACK backend is tested against, the executor of
// the reference backend, and the fallback the XNNPACK backend uses for ops or
// shapes XNNPACK cannot run. Sums accumulate in double. Speed is not a goal.
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <span>

#include "core/status.h"
#include "graph/graph.h"

namespace edgevision::engine::reference {

// Runs `node` of `graph` on dense row-major float buffers laid out as the
// values' shapes say. inputs[i] holds node.inputs[i] (nullptr where that
// input is absent, kNoValue); `output` receives node.outputs[0] and must not
// overlap any input.
// Precondition: CheckExecutableGraph(graph) succeeded (engine/graph_check.h),
// so shapes and attributes are consistent and kernels index without checks.
// Errors: Internal for an op outside the [exec] set or a wrong input count.
Status RunNode(const graph::Graph& graph, const graph::Node& node,
               std::span<const float* const> inputs, float* output);

}  // namespace edgevision::engine::reference
