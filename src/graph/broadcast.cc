#include "graph/broadcast.h"

#include <algorithm>
#include <string>
#include <vector>

namespace edgevision::graph {

namespace {

// Strides of `s` right-aligned into `rank` dimensions, 0 where broadcast.
std::vector<int64_t> BroadcastStrides(const Shape& s, size_t rank) {
  std::vector<int64_t> strides(rank, 0);
  int64_t stride = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    size_t dim = s.size() - 1 - i;
    size_t out_dim = rank - 1 - i;
    strides[out_dim] = s[dim] == 1 ? 0 : stride;
    stride *= s[dim];
  }
  return strides;
}

float Apply(Op op, float a, float b) {
  switch (op) {
    case Op::kAdd: return a + b;
    case Op::kSub: return a - b;
    case Op::kMul: return a * b;
    default: return a / b;  // kDiv; callers check the op first
  }
}

}  // namespace

Result<Shape> BroadcastShape(const Shape& a, const Shape& b) {
  size_t rank = std::max(a.size(), b.size());
  Shape out(rank, 1);
  for (size_t i = 0; i < rank; ++i) {
    int64_t da = i < a.size() ? a[a.size() - 1 - i] : 1;
    int64_t db = i < b.size() ? b[b.size() - 1 - i] : 1;
    if (da < 0 || db < 0) {
      return InvalidArgument("cannot broadcast unknown dimensions " + ShapeToString(a) + " and " +
                             ShapeToString(b));
    }
    if (da != db && da != 1 && db != 1) {
      return InvalidArgument("shapes " + ShapeToString(a) + " and " + ShapeToString(b) +
                             " do not broadcast");
    }
    out[rank - 1 - i] = da == 1 ? db : da;
  }
  return out;
}

Status BroadcastBinary(Op op, std::span<const float> a, const Shape& a_shape,
                       std::span<const float> b, const Shape& b_shape, std::span<float> out) {
  if (op != Op::kAdd && op != Op::kSub && op != Op::kMul && op != Op::kDiv) {
    return InvalidArgument(std::string(OpName(op)) + " is not a binary element-wise op");
  }
  EV_ASSIGN_OR_RETURN(Shape out_shape, BroadcastShape(a_shape, b_shape));
  if (static_cast<int64_t>(a.size()) != ShapeProduct(a_shape) ||
      static_cast<int64_t>(b.size()) != ShapeProduct(b_shape) ||
      static_cast<int64_t>(out.size()) != ShapeProduct(out_shape)) {
    return InvalidArgument("element counts do not match shapes " + ShapeToString(a_shape) + ", " +
                           ShapeToString(b_shape));
  }
  const size_t rank = out_shape.size();
  if (rank == 0) {
    out[0] = Apply(op, a[0], b[0]);
    return Status::Ok();
  }
  const std::vector<int64_t> sa = BroadcastStrides(a_shape, rank);
  const std::vector<int64_t> sb = BroadcastStrides(b_shape, rank);
  std::vector<int64_t> index(rank, 0);
  int64_t ia = 0, ib = 0;
  for (size_t o = 0; o < out.size(); ++o) {
    out[o] = Apply(op, a[ia], b[ib]);
    // Odometer increment over the output index, keeping ia/ib in step.
    for (size_t d = rank; d-- > 0;) {
      ++index[d];
      ia += sa[d];
      ib += sb[d];
      if (index[d] < out_shape[d]) break;
      ia -= sa[d] * index[d];
      ib -= sb[d] * index[d];
      index[d] = 0;
    }
  }
  return Status::Ok();
}

}  // namespace edgevision::graph
