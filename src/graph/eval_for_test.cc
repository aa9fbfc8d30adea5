#include "graph/eval_for_test.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/half.h"
#include "graph/broadcast.h"
#include "graph/shape_inference.h"

namespace edgevision::graph {

namespace {

struct Tensor {
  Shape shape;
  std::vector<float> data;
};

float Act(const Attrs& a, float v) {
  return std::min(std::max(v, a.act_min), a.act_max);
}

void Conv(const Attrs& a, const Tensor& x, const Tensor& w, const Tensor* b, Tensor* y) {
  const int64_t H = x.shape[1], W = x.shape[2], C = x.shape[3];
  const int64_t O = w.shape[0], KH = w.shape[1], KW = w.shape[2], CG = w.shape[3];
  const int64_t OH = y->shape[1], OW = y->shape[2];
  const int64_t out_per_group = O / a.groups;
  for (int64_t oy = 0; oy < OH; ++oy) {
    for (int64_t ox = 0; ox < OW; ++ox) {
      for (int64_t o = 0; o < O; ++o) {
        const int64_t g = o / out_per_group;
        double acc = b ? b->data[o] : 0.0;
        for (int64_t ky = 0; ky < KH; ++ky) {
          const int64_t iy = oy * a.stride_h - a.pad_top + ky * a.dilation_h;
          if (iy < 0 || iy >= H) continue;
          for (int64_t kx = 0; kx < KW; ++kx) {
            const int64_t ix = ox * a.stride_w - a.pad_left + kx * a.dilation_w;
            if (ix < 0 || ix >= W) continue;
            for (int64_t c = 0; c < CG; ++c) {
              acc += static_cast<double>(x.data[(iy * W + ix) * C + g * CG + c]) *
                     w.data[((o * KH + ky) * KW + kx) * CG + c];
            }
          }
        }
        y->data[(oy * OW + ox) * O + o] = Act(a, static_cast<float>(acc));
      }
    }
  }
}

void Pool(Op op, const Attrs& a, const Tensor& x, Tensor* y) {
  const int64_t H = x.shape[1], W = x.shape[2], C = x.shape[3];
  const int64_t OH = y->shape[1], OW = y->shape[2];
  for (int64_t oy = 0; oy < OH; ++oy) {
    for (int64_t ox = 0; ox < OW; ++ox) {
      for (int64_t c = 0; c < C; ++c) {
        double sum = 0;
        float best = -std::numeric_limits<float>::infinity();
        int valid = 0;
        for (int64_t ky = 0; ky < a.kernel_h; ++ky) {
          const int64_t iy = oy * a.stride_h - a.pad_top + ky;
          if (iy < 0 || iy >= H) continue;
          for (int64_t kx = 0; kx < a.kernel_w; ++kx) {
            const int64_t ix = ox * a.stride_w - a.pad_left + kx;
            if (ix < 0 || ix >= W) continue;
            const float v = x.data[(iy * W + ix) * C + c];
            best = std::max(best, v);
            sum += v;
            ++valid;
          }
        }
        float r;
        if (op == Op::kMaxPool2D) {
          r = best;
        } else {
          const int64_t div = a.count_include_pad ? a.kernel_h * a.kernel_w : valid;
          r = static_cast<float>(sum / static_cast<double>(div));
        }
        y->data[(oy * OW + ox) * C + c] = r;
      }
    }
  }
}

// y = x transposed by `perm` (output axis d is input axis perm[d]).
void TransposeData(const Tensor& x, const std::vector<int64_t>& perm, Tensor* y) {
  const size_t r = x.shape.size();
  const std::vector<int64_t> xs = RowMajorStrides(x.shape);
  std::vector<int64_t> idx(r, 0);
  for (int64_t o = 0; o < ShapeProduct(y->shape); ++o) {
    int64_t src = 0;
    for (size_t d = 0; d < r; ++d) src += idx[d] * xs[perm[d] < 0 ? perm[d] + r : perm[d]];
    y->data[o] = x.data[src];
    for (size_t d = r; d-- > 0;) {
      if (++idx[d] < y->shape[d]) break;
      idx[d] = 0;
    }
  }
}

// ints = begins, then sizes (y's shape already holds the resolved sizes).
void SliceData(const Attrs& a, const Tensor& x, Tensor* y) {
  const size_t r = x.shape.size();
  const std::vector<int64_t> xs = RowMajorStrides(x.shape);
  std::vector<int64_t> idx(r, 0);
  for (int64_t o = 0; o < ShapeProduct(y->shape); ++o) {
    int64_t src = 0;
    for (size_t d = 0; d < r; ++d) src += (a.ints[d] + idx[d]) * xs[d];
    y->data[o] = x.data[src];
    for (size_t d = r; d-- > 0;) {
      if (++idx[d] < y->shape[d]) break;
      idx[d] = 0;
    }
  }
}

// Reshape [.., G, K] -> swap the last two -> Reshape: output channel j reads
// input channel (j % G) * K + j / G.
void ChannelShuffleData(int groups, const Tensor& x, Tensor* y) {
  const int64_t c = x.shape.back(), k = c / groups;
  for (int64_t i = 0; i < ShapeProduct(x.shape); ++i) {
    const int64_t j = i % c;
    y->data[i] = x.data[i - j + (j % groups) * k + j / groups];
  }
}

void PadData(const Attrs& a, const Tensor& x, Tensor* y) {
  const size_t r = x.shape.size();
  std::fill(y->data.begin(), y->data.end(), a.pad_value);
  const std::vector<int64_t> ys = RowMajorStrides(y->shape);
  std::vector<int64_t> idx(r, 0);
  for (int64_t i = 0; i < ShapeProduct(x.shape); ++i) {
    int64_t dst = 0;
    for (size_t d = 0; d < r; ++d) dst += (idx[d] + a.ints[d]) * ys[d];
    y->data[dst] = x.data[i];
    for (size_t d = r; d-- > 0;) {
      if (++idx[d] < x.shape[d]) break;
      idx[d] = 0;
    }
  }
}

// Mean over the axes in a.ints (all axes when empty); y holds one value per
// kept position.
void ReduceMeanData(const Attrs& a, const Tensor& x, Tensor* y) {
  const size_t r = x.shape.size();
  std::vector<bool> reduce(r, a.ints.empty());
  for (int64_t ax : a.ints) reduce[ax < 0 ? ax + r : ax] = true;
  // Output index = input index with reduced axes dropped (or set to 0).
  Shape kept_shape;
  for (size_t d = 0; d < r; ++d) kept_shape.push_back(reduce[d] ? 1 : x.shape[d]);
  const std::vector<int64_t> ks = RowMajorStrides(kept_shape);
  std::vector<double> sum(ShapeProduct(kept_shape), 0.0);
  int64_t reduced = 1;
  for (size_t d = 0; d < r; ++d) reduced *= reduce[d] ? x.shape[d] : 1;
  std::vector<int64_t> idx(r, 0);
  for (int64_t i = 0; i < ShapeProduct(x.shape); ++i) {
    int64_t dst = 0;
    for (size_t d = 0; d < r; ++d) dst += reduce[d] ? 0 : idx[d] * ks[d];
    sum[dst] += x.data[i];
    for (size_t d = r; d-- > 0;) {
      if (++idx[d] < x.shape[d]) break;
      idx[d] = 0;
    }
  }
  for (size_t i = 0; i < sum.size(); ++i) y->data[i] = static_cast<float>(sum[i] / reduced);
}

void SoftmaxData(int axis, const Tensor& x, Tensor* y) {
  const size_t r = x.shape.size();
  const size_t ax = axis < 0 ? axis + r : axis;
  int64_t outer = 1, inner = 1;
  for (size_t d = 0; d < ax; ++d) outer *= x.shape[d];
  for (size_t d = ax + 1; d < r; ++d) inner *= x.shape[d];
  const int64_t n = x.shape[ax];
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t in = 0; in < inner; ++in) {
      auto at = [&](int64_t k) { return (o * n + k) * inner + in; };
      float mx = -std::numeric_limits<float>::infinity();
      for (int64_t k = 0; k < n; ++k) mx = std::max(mx, x.data[at(k)]);
      double s = 0;
      for (int64_t k = 0; k < n; ++k) s += std::exp(static_cast<double>(x.data[at(k)] - mx));
      for (int64_t k = 0; k < n; ++k) {
        y->data[at(k)] = static_cast<float>(std::exp(static_cast<double>(x.data[at(k)] - mx)) / s);
      }
    }
  }
}

}  // namespace

Result<std::vector<std::vector<float>>> EvaluateForTest(
    const Graph& g, const std::vector<std::vector<float>>& inputs) {
  std::vector<Tensor> t(g.values.size());
  std::vector<bool> ready(g.values.size(), false);
  for (size_t i = 0; i < g.values.size(); ++i) {
    const Value& v = g.values[i];
    if (!v.is_constant) continue;
    t[i].shape = v.shape;
    if (v.dtype == DataType::kFloat32) {
      t[i].data = v.f32;
    } else if (v.dtype == DataType::kInt64) {
      t[i].data.assign(v.i64.begin(), v.i64.end());
    }
    ready[i] = true;
  }
  if (inputs.size() != g.inputs.size()) return InvalidArgument("wrong number of inputs");
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    Tensor& in = t[g.inputs[i]];
    in.shape = g.values[g.inputs[i]].shape;
    if (!in.shape.empty() && in.shape[0] < 0) in.shape[0] = 1;
    if (ShapeProduct(in.shape) != static_cast<int64_t>(inputs[i].size())) {
      return InvalidArgument("input " + std::to_string(i) + " has the wrong size");
    }
    in.data = inputs[i];
    ready[g.inputs[i]] = true;
  }
  for (const Node& node : g.nodes) {
    std::vector<Shape> shapes(node.inputs.size());
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (node.inputs[i] == kNoValue) continue;
      if (!ready[node.inputs[i]]) return Corrupt("node '" + node.name + "' is out of order");
      shapes[i] = t[node.inputs[i]].shape;
    }
    EV_ASSIGN_OR_RETURN(Shape out_shape, InferNodeShape(node, shapes));
    Tensor& y = t[node.outputs[0]];
    y.shape = out_shape;
    y.data.assign(ShapeProduct(out_shape), 0.0f);
    const Attrs& a = node.attrs;
    auto in = [&](size_t i) -> const Tensor& { return t[node.inputs[i]]; };
    auto unary = [&](auto f) {
      for (size_t i = 0; i < y.data.size(); ++i) y.data[i] = f(in(0).data[i]);
    };
    switch (node.op) {
      case Op::kConv2D:
        Conv(a, in(0), in(1),
             node.inputs.size() > 2 && node.inputs[2] != kNoValue ? &in(2) : nullptr, &y);
        break;
      case Op::kMaxPool2D:
      case Op::kAvgPool2D: Pool(node.op, a, in(0), &y); break;
      case Op::kGlobalAvgPool: {
        Attrs whole;
        whole.kernel_h = static_cast<int>(in(0).shape[1]);
        whole.kernel_w = static_cast<int>(in(0).shape[2]);
        Pool(Op::kAvgPool2D, whole, in(0), &y);
        break;
      }
      case Op::kFullyConnected: {
        const Tensor& w = in(1);
        const int64_t O = w.shape[0], K = w.shape[1], N = out_shape[0];
        for (int64_t n = 0; n < N; ++n) {
          for (int64_t o = 0; o < O; ++o) {
            double acc = node.inputs.size() > 2 && node.inputs[2] != kNoValue ? in(2).data[o] : 0.0;
            for (int64_t k = 0; k < K; ++k) {
              acc += static_cast<double>(in(0).data[n * K + k]) * w.data[o * K + k];
            }
            y.data[n * O + o] = Act(a, static_cast<float>(acc));
          }
        }
        break;
      }
      case Op::kConcat: {
        const size_t r = out_shape.size();
        const size_t ax = a.axis < 0 ? a.axis + r : a.axis;
        int64_t outer = 1;
        for (size_t d = 0; d < ax; ++d) outer *= out_shape[d];
        int64_t offset = 0;
        const int64_t out_block = ShapeProduct(out_shape) / outer;
        for (size_t i = 0; i < node.inputs.size(); ++i) {
          const int64_t block = ShapeProduct(in(i).shape) / outer;
          for (int64_t o = 0; o < outer; ++o) {
            std::copy_n(in(i).data.begin() + o * block, block,
                        y.data.begin() + o * out_block + offset);
          }
          offset += block;
        }
        break;
      }
      case Op::kAdd:
      case Op::kSub:
      case Op::kMul:
      case Op::kDiv:
        EV_RETURN_IF_ERROR(
            BroadcastBinary(node.op, in(0).data, in(0).shape, in(1).data, in(1).shape, y.data));
        for (float& v : y.data) v = Act(a, v);
        break;
      case Op::kRelu: unary([](float v) { return std::max(v, 0.0f); }); break;
      case Op::kClamp: unary([&](float v) { return Act(a, v); }); break;
      case Op::kSigmoid:
        unary([](float v) { return static_cast<float>(1.0 / (1.0 + std::exp(-double{v}))); });
        break;
      case Op::kSoftmax: SoftmaxData(a.axis, in(0), &y); break;
      case Op::kHardSwish:
        unary([](float v) { return v * std::min(std::max(v + 3.0f, 0.0f), 6.0f) / 6.0f; });
        break;
      case Op::kLeakyRelu: unary([&](float v) { return v < 0 ? v * a.alpha : v; }); break;
      case Op::kReshape:
      case Op::kIdentity: y.data = in(0).data; break;
      case Op::kPad: PadData(a, in(0), &y); break;
      case Op::kTranspose: TransposeData(in(0), a.ints, &y); break;
      case Op::kSlice: SliceData(a, in(0), &y); break;
      case Op::kChannelShuffle: ChannelShuffleData(a.groups, in(0), &y); break;
      case Op::kReduceMean: ReduceMeanData(a, in(0), &y); break;
      case Op::kBatchNorm: {
        const int64_t C = in(0).shape.back();
        for (size_t i = 0; i < y.data.size(); ++i) {
          const int64_t c = static_cast<int64_t>(i) % C;
          const double s = in(1).data[c] / std::sqrt(double{in(4).data[c]} + a.epsilon);
          y.data[i] = static_cast<float>((in(0).data[i] - in(3).data[c]) * s + in(2).data[c]);
        }
        break;
      }
      case Op::kNeg: unary([](float v) { return -v; }); break;
      case Op::kRsqrt: unary([](float v) { return 1.0f / std::sqrt(v); }); break;
      case Op::kSqrt: unary([](float v) { return std::sqrt(v); }); break;
      case Op::kRoundHalf: unary([](float v) { return RoundToHalf(v); }); break;
    }
    ready[node.outputs[0]] = true;
  }
  std::vector<std::vector<float>> outs;
  for (ValueId id : g.outputs) {
    if (!ready[id]) return Corrupt("output '" + g.values[id].name + "' is never produced");
    outs.push_back(t[id].data);
  }
  return outs;
}

}  // namespace edgevision::graph
