#include "engine/reference_kernels.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/half.h"
#include "engine/graph_check.h"
#include "graph/broadcast.h"

namespace edgevision::engine::reference {

namespace {

using graph::Attrs;
using graph::Graph;
using graph::Node;
using graph::Op;
using graph::Shape;

float Clamp(double v, const Attrs& a) {
  // std::clamp with double bounds keeps +-inf bounds exact.
  return static_cast<float>(std::min<double>(std::max<double>(v, a.act_min), a.act_max));
}

// y[n,oy,ox,o] = bias[o] + sum over ky,kx,ci of x[n, oy*s - pad + ky*d, ..., g*Cg + ci] *
// w[o, ky, kx, ci], where g = o / (O / groups) and Cg = C / groups.
void Conv2D(const float* x, const Shape& xs, const float* w, const Shape& ws, const float* bias,
            const Attrs& a, float* y, const Shape& ys) {
  const int64_t n_batch = xs[0], h = xs[1], wd = xs[2], c = xs[3];
  const int64_t o_total = ws[0], kh = ws[1], kw = ws[2], cg = ws[3];
  const int64_t oh = ys[1], ow = ys[2];
  const int64_t og = o_total / a.groups;
  for (int64_t n = 0; n < n_batch; ++n) {
    for (int64_t oy = 0; oy < oh; ++oy) {
      for (int64_t ox = 0; ox < ow; ++ox) {
        float* out = y + ((n * oh + oy) * ow + ox) * o_total;
        for (int64_t o = 0; o < o_total; ++o) {
          const int64_t group = o / og;
          double acc = bias ? bias[o] : 0.0;
          for (int64_t ky = 0; ky < kh; ++ky) {
            const int64_t iy = oy * a.stride_h - a.pad_top + ky * a.dilation_h;
            if (iy < 0 || iy >= h) continue;
            for (int64_t kx = 0; kx < kw; ++kx) {
              const int64_t ix = ox * a.stride_w - a.pad_left + kx * a.dilation_w;
              if (ix < 0 || ix >= wd) continue;
              const float* xp = x + ((n * h + iy) * wd + ix) * c + group * cg;
              const float* wp = w + ((o * kh + ky) * kw + kx) * cg;
              for (int64_t ci = 0; ci < cg; ++ci) acc += double{xp[ci]} * double{wp[ci]};
            }
          }
          out[o] = Clamp(acc, a);
        }
      }
    }
  }
}

// Max or average over each window; padded positions are skipped (never win
// the max, and count towards the average only with count_include_pad).
void Pool(bool is_max, const float* x, const Shape& xs, const Attrs& a, float* y, const Shape& ys) {
  const int64_t n_batch = xs[0], h = xs[1], wd = xs[2], c = xs[3];
  const int64_t oh = ys[1], ow = ys[2];
  for (int64_t n = 0; n < n_batch; ++n) {
    for (int64_t oy = 0; oy < oh; ++oy) {
      for (int64_t ox = 0; ox < ow; ++ox) {
        for (int64_t ch = 0; ch < c; ++ch) {
          double acc = is_max ? -std::numeric_limits<double>::infinity() : 0.0;
          int64_t valid = 0;
          for (int64_t ky = 0; ky < a.kernel_h; ++ky) {
            const int64_t iy = oy * a.stride_h - a.pad_top + ky;
            if (iy < 0 || iy >= h) continue;
            for (int64_t kx = 0; kx < a.kernel_w; ++kx) {
              const int64_t ix = ox * a.stride_w - a.pad_left + kx;
              if (ix < 0 || ix >= wd) continue;
              const double v = x[((n * h + iy) * wd + ix) * c + ch];
              acc = is_max ? std::max(acc, v) : acc + v;
              ++valid;
            }
          }
          if (!is_max) {
            const int64_t divisor = a.count_include_pad ? int64_t{a.kernel_h} * a.kernel_w : valid;
            acc /= static_cast<double>(divisor);
          }
          y[((n * oh + oy) * ow + ox) * c + ch] = Clamp(acc, a);
        }
      }
    }
  }
}

void GlobalAvgPool(const float* x, const Shape& xs, const Attrs& a, float* y) {
  const int64_t n_batch = xs[0], pixels = xs[1] * xs[2], c = xs[3];
  for (int64_t n = 0; n < n_batch; ++n) {
    for (int64_t ch = 0; ch < c; ++ch) {
      double acc = 0.0;
      for (int64_t p = 0; p < pixels; ++p) acc += x[(n * pixels + p) * c + ch];
      y[n * c + ch] = Clamp(acc / static_cast<double>(pixels), a);
    }
  }
}

void FullyConnected(const float* x, const Shape& xs, const float* w, const Shape& ws,
                    const float* bias, const Attrs& a, float* y) {
  const int64_t n_batch = xs[0], o_total = ws[0], k_total = ws[1];
  for (int64_t n = 0; n < n_batch; ++n) {
    for (int64_t o = 0; o < o_total; ++o) {
      double acc = bias ? bias[o] : 0.0;
      for (int64_t k = 0; k < k_total; ++k) {
        acc += double{x[n * k_total + k]} * double{w[o * k_total + k]};
      }
      y[n * o_total + o] = Clamp(acc, a);
    }
  }
}

void Concat(const Graph& g, const Node& node, std::span<const float* const> inputs, float* y) {
  const Shape& ys = g.values[node.outputs[0]].shape;
  const size_t axis = static_cast<size_t>(node.attrs.axis);
  int64_t outer = 1;
  for (size_t d = 0; d < axis; ++d) outer *= ys[d];
  const int64_t out_inner = graph::ShapeProduct(ys) / outer;
  int64_t prefix = 0;
  for (size_t i = 0; i < node.inputs.size(); ++i) {
    const int64_t inner = graph::ShapeProduct(g.values[node.inputs[i]].shape) / outer;
    for (int64_t o = 0; o < outer; ++o) {
      std::memcpy(y + o * out_inner + prefix, inputs[i] + o * inner, inner * sizeof(float));
    }
    prefix += inner;
  }
}

void Softmax(const float* x, const Shape& xs, float* y) {
  const int64_t c = xs.back(), rows = graph::ShapeProduct(xs) / c;
  for (int64_t r = 0; r < rows; ++r) {
    const float* in = x + r * c;
    float* out = y + r * c;
    const double max = *std::max_element(in, in + c);
    double sum = 0.0;
    std::vector<double> e(c);
    for (int64_t i = 0; i < c; ++i) sum += e[i] = std::exp(in[i] - max);
    for (int64_t i = 0; i < c; ++i) out[i] = static_cast<float>(e[i] / sum);
  }
}

// out[i] = x[i - begin] inside the input, pad_value elsewhere; negative pads crop.
void Pad(const float* x, const Shape& xs, const Attrs& a, float* y, const Shape& ys) {
  const size_t rank = xs.size();
  const int64_t total = graph::ShapeProduct(ys);
  std::array<int64_t, kMaxTensorRank> index{};
  for (int64_t o = 0; o < total; ++o) {
    int64_t in_offset = 0;
    bool inside = true;
    for (size_t d = 0; d < rank; ++d) {
      const int64_t i = index[d] - a.ints[d];
      if (i < 0 || i >= xs[d]) {
        inside = false;
        break;
      }
      in_offset = in_offset * xs[d] + i;
    }
    y[o] = inside ? x[in_offset] : a.pad_value;
    for (size_t d = rank; d-- > 0;) {
      if (++index[d] < ys[d]) break;
      index[d] = 0;
    }
  }
}

// out[i_0..i_r] = x[j] with j[perm[k]] = i_k.
void Transpose(const float* x, const Shape& xs, const std::vector<int64_t>& perm, float* y,
               const Shape& ys) {
  const size_t rank = xs.size();
  std::array<int64_t, kMaxTensorRank> in_strides{};
  int64_t stride = 1;
  for (size_t d = rank; d > 0; --d) {
    in_strides[d - 1] = stride;
    stride *= xs[d - 1];
  }
  const int64_t total = graph::ShapeProduct(ys);
  std::array<int64_t, kMaxTensorRank> index{};
  for (int64_t o = 0; o < total; ++o) {
    int64_t in_offset = 0;
    for (size_t k = 0; k < rank; ++k) in_offset += index[k] * in_strides[perm[k]];
    y[o] = x[in_offset];
    for (size_t d = rank; d-- > 0;) {
      if (++index[d] < ys[d]) break;
      index[d] = 0;
    }
  }
}

// Slice: ys is the output shape (sizes resolved); begins are ints[0..rank).
void Slice(const float* x, const Shape& xs, const std::vector<int64_t>& ints, float* y,
           const Shape& ys) {
  const size_t rank = xs.size();
  const std::vector<int64_t> strides = graph::RowMajorStrides(xs);
  const int64_t total = graph::ShapeProduct(ys);
  std::array<int64_t, kMaxTensorRank> index{};
  for (int64_t o = 0; o < total; ++o) {
    int64_t in_offset = 0;
    for (size_t d = 0; d < rank; ++d) in_offset += (ints[d] + index[d]) * strides[d];
    y[o] = x[in_offset];
    for (size_t d = rank; d-- > 0;) {
      if (++index[d] < ys[d]) break;
      index[d] = 0;
    }
  }
}

// out[.., k * G + g] = in[.., g * K + k].
void ChannelShuffle(const float* x, const Shape& xs, int groups, float* y) {
  const int64_t c = xs.back(), k = c / groups;
  const int64_t rows = graph::ShapeProduct(xs) / c;
  for (int64_t r = 0; r < rows; ++r, x += c, y += c) {
    for (int64_t g = 0; g < groups; ++g) {
      for (int64_t i = 0; i < k; ++i) y[i * groups + g] = x[g * k + i];
    }
  }
}

template <typename F>
void Map(const float* x, int64_t n, float* y, F f) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

}  // namespace

Status RunNode(const Graph& g, const Node& node, std::span<const float* const> in, float* y) {
  if (in.size() != node.inputs.size() || node.outputs.size() != 1 || in.empty()) {
    return Internal("reference kernel for node '" + node.name + "' got " +
                    std::to_string(in.size()) + " input buffers for " +
                    std::to_string(node.inputs.size()) + " inputs");
  }
  const Attrs& a = node.attrs;
  const Shape& xs = g.values[node.inputs[0]].shape;
  const Shape& ys = g.values[node.outputs[0]].shape;
  const float* x = in[0];
  const int64_t n = graph::ShapeProduct(ys);
  auto weights_shape = [&]() -> const Shape& { return g.values[node.inputs[1]].shape; };
  auto bias = [&]() -> const float* { return in.size() > 2 ? in[2] : nullptr; };
  switch (node.op) {
    case Op::kConv2D: Conv2D(x, xs, in[1], weights_shape(), bias(), a, y, ys); break;
    case Op::kMaxPool2D: Pool(true, x, xs, a, y, ys); break;
    case Op::kAvgPool2D: Pool(false, x, xs, a, y, ys); break;
    case Op::kGlobalAvgPool: GlobalAvgPool(x, xs, a, y); break;
    case Op::kFullyConnected: FullyConnected(x, xs, in[1], weights_shape(), bias(), a, y); break;
    case Op::kConcat: Concat(g, node, in, y); break;
    case Op::kAdd:
    case Op::kSub:
    case Op::kMul:
    case Op::kDiv: {
      const Shape& bs = g.values[node.inputs[1]].shape;
      EV_RETURN_IF_ERROR(graph::BroadcastBinary(
          node.op, {x, static_cast<size_t>(graph::ShapeProduct(xs))}, xs,
          {in[1], static_cast<size_t>(graph::ShapeProduct(bs))}, bs, {y, static_cast<size_t>(n)}));
      Map(y, n, y, [&](float v) { return Clamp(v, a); });
      break;
    }
    case Op::kRelu: Map(x, n, y, [](float v) { return v > 0.0f ? v : 0.0f; }); break;
    case Op::kClamp: Map(x, n, y, [&](float v) { return Clamp(v, a); }); break;
    case Op::kSigmoid:
      Map(x, n, y, [](float v) { return static_cast<float>(1.0 / (1.0 + std::exp(-double{v}))); });
      break;
    case Op::kSoftmax: Softmax(x, xs, y); break;
    case Op::kHardSwish:
      Map(x, n, y, [](float v) {
        const double d = v;
        return static_cast<float>(d * std::min(std::max(d + 3.0, 0.0), 6.0) / 6.0);
      });
      break;
    case Op::kLeakyRelu: Map(x, n, y, [&](float v) { return v < 0.0f ? v * a.alpha : v; }); break;
    case Op::kRoundHalf: Map(x, n, y, [](float v) { return RoundToHalf(v); }); break;
    case Op::kReshape: std::memcpy(y, x, n * sizeof(float)); break;
    case Op::kPad: Pad(x, xs, a, y, ys); break;
    case Op::kTranspose: Transpose(x, xs, a.ints, y, ys); break;
    case Op::kSlice: Slice(x, xs, a.ints, y, ys); break;
    case Op::kChannelShuffle: ChannelShuffle(x, xs, a.groups, y); break;
    default:
      return Internal("node '" + node.name + "': no reference kernel for op " +
                      std::string(graph::OpName(node.op)));
  }
  return Status::Ok();
}

}  // namespace edgevision::engine::reference
