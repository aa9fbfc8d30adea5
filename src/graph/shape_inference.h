// Static shape inference for single graph nodes.
//
// InferShapes (graph/normalize.h) runs this over a whole graph; importers use
// it while they translate, to know the ranks and sizes they need for layout
// decisions. Every input shape passed in must be static (no -1).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "core/status.h"
#include "graph/graph.h"
#include "graph/limits.h"

namespace edgevision::graph {

// The output shape of `node` (every IR op has exactly one output), given the
// static shapes of its inputs, indexed like node.inputs (the entry of an
// absent optional input is ignored). Negative axes are accepted.
// Errors: Corrupt naming the node when the shapes are inconsistent (a conv
// whose channels do not match its weights, a reshape changing the element
// count, a window larger than the padded input, ...), ResourceExhausted when a
// result exceeds kMaxTensorElements (graph/limits.h).
Result<Shape> InferNodeShape(const Node& node, std::span<const Shape> input_shapes);

// Output size of a sliding window along one axis: floor((in + pads - span) /
// stride) + 1 where span = (kernel - 1) * dilation + 1; -1 if the window does
// not fit or an argument is out of range.
int64_t WindowOutputSize(int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                         int64_t pad_begin, int64_t pad_end);

}  // namespace edgevision::graph
