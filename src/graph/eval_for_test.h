// A deliberately plain interpreter for graphs, used only by tests.
//
// It runs every op in graph.h (including the ones Normalize removes) with
// straightforward loops and no cleverness, so tests can check that a rewrite
// keeps a graph's function ("normalised == imported" on the same input) and
// that importers translate layouts correctly (against outputs computed by an
// independent framework). Not linked into any product target; slow by design.
//
// Thread-safety: pure function.
#pragma once

#include <vector>

#include "core/status.h"
#include "graph/graph.h"

namespace edgevision::graph {

// Runs `graph` at batch 1 (an unknown batch dimension is taken as 1). `inputs`
// holds one row-major buffer per graph input. The graph must be topologically
// ordered. Returns one buffer per graph output. Errors: shape inference
// errors, InvalidArgument for wrong input sizes.
Result<std::vector<std::vector<float>>> EvaluateForTest(
    const Graph& graph, const std::vector<std::vector<float>>& inputs);

}  // namespace edgevision::graph
