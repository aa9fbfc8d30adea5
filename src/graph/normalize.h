// Normalisation: rewriting an imported graph into the canonical form the
// engines execute.
//
// Passes, in order (each records one sentence per rewrite in the report):
//   - drop Identity nodes;
//   - fold constant sub-graphs (e.g. TensorFlow's data_bn: Rsqrt, Neg, Mul, Add
//     on constants) using the reference kernels;
//   - fold BatchNorm into the neighbouring Conv2D, or turn it into Mul + Add;
//   - fold a per-channel Mul/Add on the graph input into the first Conv2D when
//     that is exact (no padding);
//   - merge explicit Pad (-inf before MaxPool, 0 before Conv2D) into the op;
//   - recognise ShuffleNet's channel shuffle (Reshape, Transpose, Reshape);
//   - turn ReduceMean over H,W into GlobalAvgPool; Flatten-like Reshapes before
//     FullyConnected into no-ops;
//   - fuse Relu/Clamp into the producing Conv2D/FullyConnected/Add;
//   - topological order; dead-node elimination;
//   - shape inference with batch 1: every value gets a static shape.
//
// Afterwards Validate() holds, shapes are static, the batch is 1 and only ops
// marked [exec] in graph.h remain. Errors: Unsupported naming the node and op
// that cannot be normalised, Corrupt for inconsistent shapes.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"

namespace edgevision::graph {

struct NormalizeReport {
  std::vector<std::string> rewrites;
};

Status Normalize(Graph* graph, NormalizeReport* report);

// Shape inference alone (Normalize runs it): fills every value's shape from
// the graph input's shape, with an unknown batch set to 1.
Status InferShapes(Graph* graph);

}  // namespace edgevision::graph
