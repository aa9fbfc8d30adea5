#include "engine/xnnpack_ops.h"

#include <array>
#include <bit>
#include <limits>
#include <mutex>
#include <string>

#include "engine/graph_check.h"
#include "engine/pointwise_gemm.h"
#include "engine/winograd.h"
#include "engine/xnnpack_weights.h"

namespace edgevision::engine::xnnpack_internal {

namespace {

using graph::Attrs;
using graph::Graph;
using graph::Node;
using graph::Op;
using graph::Shape;

constexpr float kInf = std::numeric_limits<float>::infinity();

const Shape& InputShape(const Graph& g, const Node& node, size_t i = 0) {
  return g.values[node.inputs[i]].shape;
}
const Shape& OutputShape(const Graph& g, const Node& node) {
  return g.values[node.outputs[0]].shape;
}
size_t LastDim(const Shape& s) {
  return s.empty() ? 1 : static_cast<size_t>(s.back());
}
size_t Rows(const Shape& s) {
  return static_cast<size_t>(graph::ShapeProduct(s)) / LastDim(s);
}

const float* ConstantData(const Graph& g, const Node& node, size_t i) {
  if (i >= node.inputs.size() || node.inputs[i] == graph::kNoValue) return nullptr;
  return g.values[node.inputs[i]].f32.data();
}

// XNNPACK wants at least one dimension per binary operand.
struct NdShape {
  std::array<size_t, XNN_MAX_TENSOR_DIMS> dims{};
  size_t rank = 0;
};
NdShape ToNd(const Shape& s) {
  NdShape nd;
  if (s.empty()) {
    nd.dims[0] = 1;
    nd.rank = 1;
    return nd;
  }
  nd.rank = s.size();
  for (size_t i = 0; i < s.size(); ++i) nd.dims[i] = static_cast<size_t>(s[i]);
  return nd;
}

// Constants with at least this many values per pixel already give XNNPACK
// rows long enough.
constexpr size_t kWidenBelowChannels = 16;

bool IsBinary(Op op) {
  return op == Op::kAdd || op == Op::kSub || op == Op::kMul || op == Op::kDiv;
}

}  // namespace

size_t BroadcastWidening(const Graph& g, const Node& node) {
  if (!IsBinary(node.op) || node.inputs.size() != 2) return 0;
  const graph::Value& a = g.values[node.inputs[0]];
  const graph::Value& b = g.values[node.inputs[1]];
  if (a.is_constant == b.is_constant) return 0;
  const graph::Value& data = a.is_constant ? b : a;
  const graph::Value& constant = a.is_constant ? a : b;
  const Shape& xs = data.shape;
  if (xs.size() < 2 || OutputShape(g, node) != xs) return 0;
  const size_t c = LastDim(xs);
  if (c >= kWidenBelowChannels || constant.shape.empty() || LastDim(constant.shape) != c ||
      static_cast<size_t>(graph::ShapeProduct(constant.shape)) != c) {
    return 0;
  }
  return static_cast<size_t>(xs[xs.size() - 2]);
}

std::vector<float> WideConstant(const Graph& g, const Node& node) {
  const size_t w = BroadcastWidening(g, node);
  if (w == 0) return {};
  const graph::ValueId k = g.values[node.inputs[0]].is_constant ? node.inputs[0] : node.inputs[1];
  const std::vector<float>& c = g.values[k].f32;
  constexpr size_t kTailFloats = (XNN_EXTRA_BYTES + sizeof(float) - 1) / sizeof(float);
  std::vector<float> wide;
  wide.reserve(w * c.size() + kTailFloats);
  for (size_t x = 0; x < w; ++x) wide.insert(wide.end(), c.begin(), c.end());
  wide.resize(w * c.size() + kTailFloats, 0.0f);
  return wide;
}

namespace {

// A batch-1 Conv2D on 4-D tensors with constant weights and bias: what our
// kernels (Winograd, the conv GEMM) take.
bool ConstantBatch1Conv(const Graph& g, const Node& node) {
  if (node.op != Op::kConv2D || node.inputs.size() < 2) return false;
  const Shape& xs = InputShape(g, node);
  if (xs.size() != 4 || InputShape(g, node, 1).size() != 4 || OutputShape(g, node).size() != 4 ||
      xs[0] != 1 || !g.values[node.inputs[1]].is_constant) {
    return false;
  }
  return node.inputs.size() < 3 || node.inputs[2] == graph::kNoValue ||
         g.values[node.inputs[2]].is_constant;
}

}  // namespace

namespace {

// A 3x3 stride-1 batch-1 convolution, one group, at least `min_inputs` input channels.
bool Winograd3x3(const Graph& g, const Node& node, size_t min_inputs) {
  if (!ConstantBatch1Conv(g, node)) return false;
  const Attrs& a = node.attrs;
  const Shape& xs = InputShape(g, node);
  const Shape& ws = InputShape(g, node, 1);
  const Shape& ys = OutputShape(g, node);
  return a.groups == 1 && ws[1] == 3 && ws[2] == 3 && a.stride_h == 1 && a.stride_w == 1 &&
         a.dilation_h == 1 && a.dilation_w == 1 && ws[3] == xs[3] &&
         static_cast<size_t>(xs[3]) >= min_inputs &&
         ys[1] == xs[1] + a.pad_top + a.pad_bottom - 2 &&
         ys[2] == xs[2] + a.pad_left + a.pad_right - 2 && ys[1] > 0 && ys[2] > 0;
}

}  // namespace

bool WinogradEligible(const Graph& g, const Node& node) {
  return Winograd3x3(g, node, kWinogradMinInputChannels);
}

bool WinogradGemmEligible(const Graph& g, const Node& node) {
  return PointwiseGemmAvailable() && Winograd3x3(g, node, kWinogradGemmMinInputChannels);
}

bool PointwiseGemmEligible(const Graph& g, const Node& node) {
  if (node.op != Op::kConv2D || node.inputs.size() < 2 || !PointwiseGemmAvailable()) return false;
  const Attrs& a = node.attrs;
  const Shape& xs = InputShape(g, node);
  const Shape& ws = InputShape(g, node, 1);
  if (xs.size() != 4 || ws.size() != 4 || !g.values[node.inputs[1]].is_constant) return false;
  if (node.inputs.size() > 2 && node.inputs[2] != graph::kNoValue &&
      !g.values[node.inputs[2]].is_constant) {
    return false;
  }
  return a.groups == 1 && ws[1] == 1 && ws[2] == 1 && ws[3] == xs[3] && a.stride_h == 1 &&
         a.stride_w == 1 && a.dilation_h == 1 && a.dilation_w == 1 && a.pad_top == 0 &&
         a.pad_left == 0 && a.pad_bottom == 0 && a.pad_right == 0 && OutputShape(g, node) ==
         Shape{xs[0], xs[1], xs[2], ws[0]};
}

bool FullyConnectedGemmEligible(const Graph& g, const Node& node) {
  if (node.op != Op::kFullyConnected || node.inputs.size() < 2 || !PointwiseGemmAvailable()) return false;
  const Shape& xs = InputShape(g, node);
  const Shape& ws = InputShape(g, node, 1);
  const Shape& ys = OutputShape(g, node);
  if (xs.empty() || ws.size() != 2 || xs.back() != ws[1] || graph::ShapeProduct(xs) != ws[1] ||
      ys.empty() || ys.back() != ws[0] || graph::ShapeProduct(ys) != ws[0] ||
      !g.values[node.inputs[1]].is_constant) {
    return false;
  }
  const bool bias = node.inputs.size() > 2 && node.inputs[2] != graph::kNoValue;
  return !bias || g.values[node.inputs[2]].is_constant;
}

bool ConvGemmEligible(const Graph& g, const Node& node) {
  if (!ConstantBatch1Conv(g, node) || !PointwiseGemmAvailable()) return false;
  if (PointwiseGemmEligible(g, node)) return false;  // the pointwise GEMM's
  const Attrs& a = node.attrs;
  const Shape& xs = InputShape(g, node);
  const Shape& ws = InputShape(g, node, 1);
  const Shape& ys = OutputShape(g, node);
  return a.groups == 1 && ws[3] == xs[3] && ys[3] == ws[0] && ws[1] > 0 && ws[2] > 0 &&
         static_cast<size_t>(ws[1] * ws[2]) <= kConvGemmMaxTaps && a.stride_h > 0 &&
         a.stride_w > 0 && a.dilation_h > 0 && a.dilation_w > 0 && ys[1] > 0 && ys[2] > 0;
}

bool DepthwiseEligible(const Graph& g, const Node& node) {
  if (!ConstantBatch1Conv(g, node) || !PointwiseGemmAvailable()) return false;
  const Attrs& a = node.attrs;
  const Shape& xs = InputShape(g, node);
  const Shape& ws = InputShape(g, node, 1);
  const Shape& ys = OutputShape(g, node);
  const int64_t taps = ws[1] * ws[2];
  return a.groups > 1 && a.groups == xs[3] && ws[0] == xs[3] && ws[3] == 1 && ys[3] == xs[3] &&
         (taps == 9 || taps == 25) && a.stride_h > 0 && a.stride_w > 0 && a.dilation_h > 0 &&
         a.dilation_w > 0 && ys[1] > 0 && ys[2] > 0;
}

Status InitializeXnnpack() {
  static std::once_flag once;
  static xnn_status status = xnn_status_uninitialized;
  std::call_once(once, [] { status = xnn_initialize(SharingAllocator()); });
  if (status == xnn_status_success) return Status::Ok();
  if (status == xnn_status_unsupported_hardware) {
    return Unsupported("XNNPACK does not support this CPU (xnn_initialize: unsupported_hardware)");
  }
  return Internal("xnn_initialize failed: " + std::string(XnnStatusName(status)));
}

std::string_view XnnStatusName(xnn_status status) {
  switch (status) {
    case xnn_status_success: return "success";
    case xnn_status_uninitialized: return "uninitialized";
    case xnn_status_invalid_parameter: return "invalid_parameter";
    case xnn_status_invalid_state: return "invalid_state";
    case xnn_status_unsupported_parameter: return "unsupported_parameter";
    case xnn_status_unsupported_hardware: return "unsupported_hardware";
    case xnn_status_out_of_memory: return "out_of_memory";
  }
  return "unknown";
}

bool IsChannelSlice(const Graph& g, const Node& node, size_t* begin) {
  if (node.op != Op::kSlice) return false;
  const Shape& xs = InputShape(g, node);
  const Shape& ys = OutputShape(g, node);
  const size_t rank = xs.size();
  if (rank == 0 || node.attrs.ints.size() != 2 * rank) return false;
  for (size_t d = 0; d + 1 < rank; ++d) {
    if (node.attrs.ints[d] != 0 || ys[d] != xs[d]) return false;
  }
  *begin = static_cast<size_t>(node.attrs.ints[rank - 1]);
  return true;
}

OpStrides DenseStrides(const Graph& g, const Node& node) {
  OpStrides s;
  s.input = LastDim(InputShape(g, node));
  s.output = LastDim(OutputShape(g, node));
  if (node.op == Op::kFullyConnected) s.input = static_cast<size_t>(InputShape(g, node, 1)[1]);
  return s;
}

xnn_status CreateNodeOperator(const Graph& g, const Node& node, Exec exec, OpStrides strides,
                              const float* extra_weights, XnnOperator* out) {
  const Attrs& a = node.attrs;
  const Shape& xs = InputShape(g, node);
  const float lo = a.act_min, hi = a.act_max;
  xnn_operator_t op = nullptr;
  xnn_status status = xnn_status_invalid_parameter;
  if (exec == Exec::kDepthwiseAvgPool) {
    const auto c = static_cast<uint32_t>(xs[3]);
    status = xnn_create_convolution2d_nhwc_f32(
        a.pad_top, a.pad_right, a.pad_bottom, a.pad_left, a.kernel_h, a.kernel_w, a.stride_h,
        a.stride_w, 1, 1, /*groups=*/c, /*group_input_channels=*/1, /*group_output_channels=*/1,
        strides.input, strides.output, extra_weights, /*bias=*/nullptr, lo, hi, 0, &op);
    out->reset(op);
    return status;
  }
  if (exec == Exec::kWinograd) {
    const size_t ci = static_cast<size_t>(xs[3]);
    const size_t co = static_cast<size_t>(OutputShape(g, node)[3]);
    status = xnn_create_convolution2d_nhwc_f32(
        0, 0, 0, 0, 1, 1, 1, 1, 1, 1, static_cast<uint32_t>(kWinogradPoints), ci, co,
        kWinogradPoints * ci, kWinogradPoints * co, extra_weights, /*bias=*/nullptr, -kInf, kInf,
        0, &op);
    out->reset(op);
    return status;
  }
  switch (node.op) {
    case Op::kConv2D: {
      const Shape& ws = InputShape(g, node, 1);
      const auto groups = static_cast<uint32_t>(a.groups);
      status = xnn_create_convolution2d_nhwc_f32(
          a.pad_top, a.pad_right, a.pad_bottom, a.pad_left, static_cast<uint32_t>(ws[1]),
          static_cast<uint32_t>(ws[2]), a.stride_h, a.stride_w, a.dilation_h, a.dilation_w, groups,
          /*group_input_channels=*/static_cast<size_t>(ws[3]),
          /*group_output_channels=*/static_cast<size_t>(ws[0]) / groups, strides.input,
          strides.output, ConstantData(g, node, 1), ConstantData(g, node, 2), lo, hi, 0, &op);
      break;
    }
    case Op::kMaxPool2D:
      status = xnn_create_max_pooling2d_nhwc_f32(a.pad_top, a.pad_right, a.pad_bottom, a.pad_left,
                                                 a.kernel_h, a.kernel_w, a.stride_h, a.stride_w, 1,
                                                 1, static_cast<size_t>(xs[3]), strides.input,
                                                 strides.output, lo, hi, 0, &op);
      break;
    case Op::kAvgPool2D:
      status = xnn_create_average_pooling2d_nhwc_f32(
          a.pad_top, a.pad_right, a.pad_bottom, a.pad_left, a.kernel_h, a.kernel_w, a.stride_h,
          a.stride_w, static_cast<size_t>(xs[3]), strides.input, strides.output, lo, hi, 0, &op);
      break;
    case Op::kGlobalAvgPool:
      status = xnn_create_global_average_pooling_nwc_f32(static_cast<size_t>(xs[3]), strides.input,
                                                         strides.output, lo, hi, 0, &op);
      break;
    case Op::kFullyConnected: {
      const Shape& ws = InputShape(g, node, 1);
      status = xnn_create_fully_connected_nc_f32(
          static_cast<size_t>(ws[1]), static_cast<size_t>(ws[0]), strides.input, strides.output,
          ConstantData(g, node, 1), ConstantData(g, node, 2), lo, hi, 0, &op);
      break;
    }
    case Op::kAdd: status = xnn_create_add_nd_f32(lo, hi, 0, &op); break;
    case Op::kSub: status = xnn_create_subtract_nd_f32(lo, hi, 0, &op); break;
    case Op::kMul: status = xnn_create_multiply_nd_f32(lo, hi, 0, &op); break;
    case Op::kDiv: status = xnn_create_divide_nd_f32(lo, hi, 0, &op); break;
    case Op::kRelu:
      status =
          xnn_create_clamp_nc_f32(LastDim(xs), strides.input, strides.output, 0.0f, kInf, 0, &op);
      break;
    case Op::kClamp:
      status = xnn_create_clamp_nc_f32(LastDim(xs), strides.input, strides.output, lo, hi, 0, &op);
      break;
    case Op::kSigmoid:
      status = xnn_create_sigmoid_nc_f32(LastDim(xs), strides.input, strides.output, 0, &op);
      break;
    case Op::kSoftmax:
      status = xnn_create_softmax_nc_f32(LastDim(xs), strides.input, strides.output, 0, &op);
      break;
    case Op::kHardSwish:
      status = xnn_create_hardswish_nc_f32(LastDim(xs), strides.input, strides.output, 0, &op);
      break;
    case Op::kLeakyRelu:
      status =
          xnn_create_leaky_relu_nc_f32(LastDim(xs), strides.input, strides.output, a.alpha, 0, &op);
      break;
    case Op::kPad: {
      const uint32_t bits = std::bit_cast<uint32_t>(a.pad_value);
      status = xnn_create_constant_pad_nd_x32(&bits, 0, &op);
      break;
    }
    case Op::kChannelShuffle: {
      const auto groups = static_cast<size_t>(a.groups);
      status = xnn_create_channel_shuffle_nc_x32(groups, LastDim(xs) / groups, strides.input,
                                                 strides.output, 0, &op);
      break;
    }
    case Op::kSlice: {  // a channel slice as a strided copy
      size_t begin = 0;
      if (!IsChannelSlice(g, node, &begin)) return xnn_status_unsupported_parameter;
      status = xnn_create_copy_nc_x32(LastDim(OutputShape(g, node)), strides.input,
                                      strides.output, 0, &op);
      break;
    }
    default: status = xnn_status_unsupported_parameter; break;
  }
  out->reset(op);
  return status;
}

xnn_status SetupNodeOperator(const Graph& g, const Node& node, Exec exec, xnn_operator_t op,
                             const float* in0, const float* in1, float* out, pthreadpool_t pool,
                             const float* wide_constant) {
  const Shape& xs = InputShape(g, node);
  if (exec == Exec::kDepthwiseAvgPool || node.op == Op::kConv2D) {
    return xnn_setup_convolution2d_nhwc_f32(op, static_cast<size_t>(xs[0]),
                                            static_cast<size_t>(xs[1]), static_cast<size_t>(xs[2]),
                                            in0, out, pool);
  }
  switch (node.op) {
    case Op::kMaxPool2D:
      return xnn_setup_max_pooling2d_nhwc_f32(op, static_cast<size_t>(xs[0]),
                                              static_cast<size_t>(xs[1]),
                                              static_cast<size_t>(xs[2]), in0, out, pool);
    case Op::kAvgPool2D:
      return xnn_setup_average_pooling2d_nhwc_f32(op, static_cast<size_t>(xs[0]),
                                                  static_cast<size_t>(xs[1]),
                                                  static_cast<size_t>(xs[2]), in0, out, pool);
    case Op::kGlobalAvgPool:
      return xnn_setup_global_average_pooling_nwc_f32(
          op, static_cast<size_t>(xs[0]), static_cast<size_t>(xs[1] * xs[2]), in0, out, pool);
    case Op::kFullyConnected:
      return xnn_setup_fully_connected_nc_f32(op, static_cast<size_t>(xs[0]), in0, out, pool);
    case Op::kAdd:
    case Op::kSub:
    case Op::kMul:
    case Op::kDiv: {
      const NdShape a = ToNd(xs), b = ToNd(InputShape(g, node, 1));
      auto setup = node.op == Op::kAdd   ? xnn_setup_add_nd_f32
                   : node.op == Op::kSub ? xnn_setup_subtract_nd_f32
                   : node.op == Op::kMul ? xnn_setup_multiply_nd_f32
                                         : xnn_setup_divide_nd_f32;
      const size_t w = wide_constant ? BroadcastWidening(g, node) : 0;
      if (w > 0) {
        const size_t row = w * LastDim(OutputShape(g, node));
        const size_t rows = static_cast<size_t>(graph::ShapeProduct(OutputShape(g, node))) / row;
        const size_t data_dims[2] = {rows, row};
        const size_t constant_dims[1] = {row};
        if (g.values[node.inputs[1]].is_constant) {
          return setup(op, 2, data_dims, 1, constant_dims, in0, wide_constant, out, pool);
        }
        return setup(op, 1, constant_dims, 2, data_dims, wide_constant, in1, out, pool);
      }
      return setup(op, a.rank, a.dims.data(), b.rank, b.dims.data(), in0, in1, out, pool);
    }
    case Op::kRelu:
    case Op::kClamp: return xnn_setup_clamp_nc_f32(op, Rows(xs), in0, out, pool);
    case Op::kSigmoid: return xnn_setup_sigmoid_nc_f32(op, Rows(xs), in0, out, pool);
    case Op::kSoftmax: return xnn_setup_softmax_nc_f32(op, Rows(xs), in0, out, pool);
    case Op::kHardSwish: return xnn_setup_hardswish_nc_f32(op, Rows(xs), in0, out, pool);
    case Op::kLeakyRelu: return xnn_setup_leaky_relu_nc_f32(op, Rows(xs), in0, out, pool);
    case Op::kChannelShuffle:
      return xnn_setup_channel_shuffle_nc_x32(op, Rows(xs), in0, out, pool);
    case Op::kSlice: {
      size_t begin = 0;
      if (!IsChannelSlice(g, node, &begin)) return xnn_status_unsupported_parameter;
      return xnn_setup_copy_nc_x32(op, Rows(xs), in0 + begin, out, pool);
    }
    case Op::kPad: {
      const NdShape shape = ToNd(xs);
      std::array<size_t, XNN_MAX_TENSOR_DIMS> pre{}, post{};
      for (size_t d = 0; d < xs.size(); ++d) {
        pre[d] = static_cast<size_t>(node.attrs.ints[d]);
        post[d] = static_cast<size_t>(node.attrs.ints[xs.size() + d]);
      }
      return xnn_setup_constant_pad_nd_x32(op, shape.rank, shape.dims.data(), pre.data(),
                                           post.data(), in0, out, pool);
    }
    default: return xnn_status_unsupported_parameter;
  }
}

}  // namespace edgevision::engine::xnnpack_internal
