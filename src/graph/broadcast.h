// Numpy-style broadcasting for the binary element-wise ops (Add, Sub, Mul,
// Div), in plain loops. Used by constant folding (graph/normalize.h) and by
// the reference backend (engine/reference_backend.h); the XNNPACK backend
// broadcasts natively and only uses BroadcastShape.
//
// Thread-safety: pure functions.
#pragma once

#include <span>

#include "core/status.h"
#include "graph/graph.h"

namespace edgevision::graph {

// The broadcast result shape of a and b (right-aligned, each dimension equal
// or 1). Errors: InvalidArgument when the shapes do not broadcast; unknown
// (-1) dimensions are not allowed.
Result<Shape> BroadcastShape(const Shape& a, const Shape& b);

// out = a (op) b element-wise with broadcasting; op is kAdd, kSub, kMul or
// kDiv. `out` must hold BroadcastShape(a_shape, b_shape) elements.
// Errors: InvalidArgument for a non-binary op or mismatched sizes.
Status BroadcastBinary(Op op, std::span<const float> a, const Shape& a_shape,
                       std::span<const float> b, const Shape& b_shape, std::span<float> out);

}  // namespace edgevision::graph
