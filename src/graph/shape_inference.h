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

namespace edgevision::graph {

// Largest element count any inferred tensor may have (256 Mi floats = 1 GiB).
// Anything larger is treated as a corrupt model rather than allocated.
inline constexpr int64_t kMaxTensorElements = int64_t{1} << 28;
// Largest rank any tensor may have.
inline constexpr size_t kMaxRank = 8;

// The output shape of `node` (every IR op has exactly one output), given the
// static shapes of its inputs, indexed like node.inputs (the entry of an
// absent optional input is ignored). Negative axes are accepted.
// Errors: Corrupt naming the node when the shapes are inconsistent (a conv
// whose channels do not match its weights, a reshape changing the element
// count, a window larger than the padded input, ...), ResourceExhausted when a
// result exceeds kMaxTensorElements.
Result<Shape> InferNodeShape(const Node& node, std::span<const Shape> input_shapes);

// "[1,224,224,3]", for messages.
std::string ShapeToString(const Shape& shape);

// Output size of a sliding window along one axis: floor((in + pads - span) /
// stride) + 1 where span = (kernel - 1) * dilation + 1; -1 if the window does
// not fit or an argument is out of range.
int64_t WindowOutputSize(int64_t in, int64_t kernel, int64_t stride, int64_t dilation,
                         int64_t pad_begin, int64_t pad_end);

}  // namespace edgevision::graph
