#include "engine/int8_ops.h"

#include <algorithm>
#include <array>
#include <cmath>

namespace edgevision::engine::int8_internal {

namespace {

using graph::Graph;
using graph::Node;
using graph::Op;
using graph::Shape;

size_t Dim(const Shape& s, size_t i) { return static_cast<size_t>(s[i]); }
size_t LastDim(const Shape& s) { return s.empty() ? 1 : static_cast<size_t>(s.back()); }
size_t Rows(const Shape& s) { return static_cast<size_t>(graph::ShapeProduct(s)) / LastDim(s); }
const Shape& In(const Graph& g, const Node& n, size_t i = 0) { return g.values[n.inputs[i]].shape; }
const Shape& Out(const Graph& g, const Node& n) { return g.values[n.outputs[0]].shape; }

// The node's fused output clamp in the output's int8 units.
int8_t ActMin(const Node& n, Quant out) { return Quantize(n.attrs.act_min, out); }
int8_t ActMax(const Node& n, Quant out) { return Quantize(n.attrs.act_max, out); }

// [N, C] -> rank 1+ dims for the nd binary operators.
size_t NdDims(const Shape& s, std::array<size_t, XNN_MAX_TENSOR_DIMS>* dims) {
  if (s.empty()) {
    (*dims)[0] = 1;
    return 1;
  }
  for (size_t i = 0; i < s.size(); ++i) (*dims)[i] = static_cast<size_t>(s[i]);
  return s.size();
}

}  // namespace

Quant QuantFromRange(ValueRange range) {
  const double lo = std::min(0.0, static_cast<double>(range.min));
  double hi = std::max(0.0, static_cast<double>(range.max));
  if (hi - lo < 1e-12) hi = lo + 1e-6;  // a constant-zero value: any positive scale
  Quant q;
  q.scale = static_cast<float>((hi - lo) / 255.0);
  const double zero = std::round(-128.0 - lo / q.scale);
  q.zero = static_cast<int8_t>(std::clamp(zero, -128.0, 127.0));
  return q;
}

int8_t Quantize(float v, Quant q) {
  if (std::isnan(v)) return q.zero;
  const double r = std::round(static_cast<double>(v) / q.scale) + q.zero;
  return static_cast<int8_t>(std::clamp(r, -128.0, 127.0));
}

Q8Weights QuantizeWeights(const Graph& g, const Node& node, Q8Kind kind, Quant input,
                          const std::vector<float>& input_means) {
  Q8Weights w;
  if (kind == Q8Kind::kAvgPool) {
    const size_t c = LastDim(In(g, node));
    const size_t window = static_cast<size_t>(node.attrs.kernel_h) * node.attrs.kernel_w;
    w.kernel.assign(c * window, 127);
    w.scales.assign(c, 1.0f / static_cast<float>(window) / 127.0f);
    w.bias.assign(c, 0);
    return w;
  }
  const graph::Value& wv = g.values[node.inputs[1]];
  const size_t out_channels = Dim(wv.shape, 0);
  const size_t per_channel = wv.f32.size() / out_channels;
  const float* bias = node.inputs.size() > 2 && node.inputs[2] != graph::kNoValue
                          ? g.values[node.inputs[2]].f32.data()
                          : nullptr;
  // Input channel of weight element k of output channel o: Conv2D weights
  // are [O, KH, KW, I/groups], FullyConnected's [O, I].
  const size_t groups = kind == Q8Kind::kConv ? static_cast<size_t>(node.attrs.groups) : 1;
  const size_t group_in = kind == Q8Kind::kConv ? LastDim(wv.shape) : per_channel;
  const size_t group_out = out_channels / groups;
  const bool correct = !input_means.empty() && group_in > 0 && group_out > 0 &&
                       input_means.size() == group_in * groups;
  w.kernel.resize(wv.f32.size());
  w.scales.resize(out_channels);
  w.bias.resize(out_channels);
  for (size_t o = 0; o < out_channels; ++o) {
    const float* row = wv.f32.data() + o * per_channel;
    float amax = 0.0f;
    for (size_t k = 0; k < per_channel; ++k) amax = std::max(amax, std::fabs(row[k]));
    const float scale = amax > 0.0f ? amax / 127.0f : 1.0f;
    w.scales[o] = scale;
    for (size_t k = 0; k < per_channel; ++k) {
      w.kernel[o * per_channel + k] =
          static_cast<int8_t>(std::clamp(std::round(row[k] / scale), -127.0f, 127.0f));
    }
    double b = bias ? static_cast<double>(bias[o]) : 0.0;
    if (correct) {
      const size_t first = (o / group_out) * group_in;
      for (size_t k = 0; k < per_channel; ++k) {
        const double err = static_cast<double>(w.kernel[o * per_channel + k]) * scale - row[k];
        b -= err * input_means[first + k % group_in];
      }
    }
    const double q = std::round(b / (static_cast<double>(input.scale) * scale));
    w.bias[o] = static_cast<int32_t>(std::clamp(q, -2147483647.0, 2147483647.0));
  }
  return w;
}

xnn_status CreateQ8Operator(const Graph& g, const Node& node, Q8Kind kind, const Quant* in,
                            Quant out, const Q8Weights* w, size_t output_stride,
                            xnnpack_internal::XnnOperator* result) {
  const graph::Attrs& a = node.attrs;
  const Shape& xs = In(g, node);
  xnn_operator_t op = nullptr;
  xnn_status status = xnn_status_unsupported_parameter;
  switch (kind) {
    case Q8Kind::kConv: {
      const Shape& ws = In(g, node, 1);
      const auto groups = static_cast<uint32_t>(a.groups);
      status = xnn_create_convolution2d_nhwc_qc8(
          a.pad_top, a.pad_right, a.pad_bottom, a.pad_left, static_cast<uint32_t>(ws[1]),
          static_cast<uint32_t>(ws[2]), a.stride_h, a.stride_w, a.dilation_h, a.dilation_w, groups,
          Dim(ws, 3), Dim(ws, 0) / groups, Dim(ws, 3) * groups,
          output_stride ? output_stride : Dim(ws, 0), in[0].zero,
          in[0].scale, w->scales.data(), w->kernel.data(), w->bias.data(), out.zero, out.scale,
          ActMin(node, out), ActMax(node, out), 0, &op);
      break;
    }
    case Q8Kind::kFullyConnected: {
      const Shape& ws = In(g, node, 1);
      status = xnn_create_convolution2d_nhwc_qc8(
          0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, Dim(ws, 1), Dim(ws, 0), Dim(ws, 1), Dim(ws, 0),
          in[0].zero, in[0].scale, w->scales.data(), w->kernel.data(), w->bias.data(), out.zero,
          out.scale, ActMin(node, out), ActMax(node, out), 0, &op);
      break;
    }
    case Q8Kind::kAvgPool: {
      const auto c = static_cast<uint32_t>(LastDim(xs));
      status = xnn_create_convolution2d_nhwc_qc8(
          a.pad_top, a.pad_right, a.pad_bottom, a.pad_left, a.kernel_h, a.kernel_w, a.stride_h,
          a.stride_w, 1, 1, c, 1, 1, c, c, in[0].zero, in[0].scale, w->scales.data(),
          w->kernel.data(), w->bias.data(), out.zero, out.scale, ActMin(node, out),
          ActMax(node, out), 0, &op);
      break;
    }
    case Q8Kind::kBinary: {
      auto create = node.op == Op::kAdd   ? xnn_create_add_nd_qs8
                    : node.op == Op::kSub ? xnn_create_subtract_nd_qs8
                                          : xnn_create_multiply_nd_qs8;
      status = create(in[0].zero, in[0].scale, in[1].zero, in[1].scale, out.zero, out.scale,
                      ActMin(node, out), ActMax(node, out), 0, &op);
      break;
    }
    case Q8Kind::kGlobalAvgPool:
      status = xnn_create_global_average_pooling_nwc_qs8(
          LastDim(xs), LastDim(xs), LastDim(xs), in[0].zero, in[0].scale, out.zero, out.scale,
          ActMin(node, out), ActMax(node, out), 0, &op);
      break;
    case Q8Kind::kMaxPool:
      status = xnn_create_max_pooling2d_nhwc_s8(
          a.pad_top, a.pad_right, a.pad_bottom, a.pad_left, a.kernel_h, a.kernel_w, a.stride_h,
          a.stride_w, 1, 1, LastDim(xs), LastDim(xs), LastDim(xs), ActMin(node, out),
          ActMax(node, out), 0, &op);
      break;
    case Q8Kind::kClamp: {
      const int8_t lo = node.op == Op::kRelu ? Quantize(0.0f, out) : ActMin(node, out);
      const int8_t hi = node.op == Op::kRelu ? int8_t{127} : ActMax(node, out);
      status = xnn_create_clamp_nc_s8(LastDim(xs), LastDim(xs), LastDim(xs), lo, hi, 0, &op);
      break;
    }
    case Q8Kind::kChannelShuffle: {
      const auto groups = static_cast<size_t>(a.groups);
      status = xnn_create_channel_shuffle_nc_x8(groups, LastDim(xs) / groups, LastDim(xs),
                                                LastDim(xs), 0, &op);
      break;
    }
    case Q8Kind::kSlice:
      status = xnn_create_copy_nc_x8(LastDim(Out(g, node)), LastDim(xs), LastDim(Out(g, node)), 0,
                                     &op);
      break;
    case Q8Kind::kPad: {
      const int8_t value = Quantize(a.pad_value, out);
      status = xnn_create_constant_pad_nd_x8(&value, 0, &op);
      break;
    }
  }
  result->reset(op);
  return status;
}

xnn_status SetupQ8Operator(const Graph& g, const Node& node, Q8Kind kind, xnn_operator_t op,
                           const int8_t* in0, const int8_t* in1, int8_t* out, pthreadpool_t pool) {
  const Shape& xs = In(g, node);
  switch (kind) {
    case Q8Kind::kConv:
    case Q8Kind::kAvgPool:
      return xnn_setup_convolution2d_nhwc_qc8(op, Dim(xs, 0), Dim(xs, 1), Dim(xs, 2), in0, out,
                                              pool);
    case Q8Kind::kFullyConnected:
      return xnn_setup_convolution2d_nhwc_qc8(op, Dim(xs, 0), 1, 1, in0, out, pool);
    case Q8Kind::kBinary: {
      std::array<size_t, XNN_MAX_TENSOR_DIMS> a{}, b{};
      const size_t ra = NdDims(xs, &a), rb = NdDims(In(g, node, 1), &b);
      auto setup = node.op == Op::kAdd   ? xnn_setup_add_nd_qs8
                   : node.op == Op::kSub ? xnn_setup_subtract_nd_qs8
                                         : xnn_setup_multiply_nd_qs8;
      return setup(op, ra, a.data(), rb, b.data(), in0, in1, out, pool);
    }
    case Q8Kind::kGlobalAvgPool:
      return xnn_setup_global_average_pooling_nwc_qs8(op, Dim(xs, 0), Dim(xs, 1) * Dim(xs, 2), in0,
                                                      out, pool);
    case Q8Kind::kMaxPool:
      return xnn_setup_max_pooling2d_nhwc_s8(op, Dim(xs, 0), Dim(xs, 1), Dim(xs, 2), in0, out, pool);
    case Q8Kind::kClamp: return xnn_setup_clamp_nc_s8(op, Rows(xs), in0, out, pool);
    case Q8Kind::kChannelShuffle:
      return xnn_setup_channel_shuffle_nc_x8(op, Rows(xs), in0, out, pool);
    case Q8Kind::kSlice: {
      size_t begin = 0;
      if (!xnnpack_internal::IsChannelSlice(g, node, &begin)) return xnn_status_unsupported_parameter;
      return xnn_setup_copy_nc_x8(op, Rows(xs), in0 + begin, out, pool);
    }
    case Q8Kind::kPad: {
      std::array<size_t, XNN_MAX_TENSOR_DIMS> dims{}, pre{}, post{};
      const size_t rank = NdDims(xs, &dims);
      for (size_t d = 0; d < xs.size(); ++d) {
        pre[d] = static_cast<size_t>(node.attrs.ints[d]);
        post[d] = static_cast<size_t>(node.attrs.ints[xs.size() + d]);
      }
      return xnn_setup_constant_pad_nd_x8(op, rank, dims.data(), pre.data(), post.data(), in0, out,
                                          pool);
    }
  }
  return xnn_status_unsupported_parameter;
}

}  // namespace edgevision::engine::int8_internal
