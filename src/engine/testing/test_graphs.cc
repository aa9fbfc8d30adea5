#include "engine/testing/test_graphs.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>
#include <utility>

#include "graph/broadcast.h"

namespace edgevision::engine::testing {

using graph::Attrs;
using graph::Op;
using graph::Shape;
using graph::ValueId;

namespace {

int64_t WindowOut(int64_t in, int64_t pad_begin, int64_t pad_end, int64_t kernel, int64_t stride,
                  int64_t dilation) {
  return (in + pad_begin + pad_end - (dilation * (kernel - 1) + 1)) / stride + 1;
}

}  // namespace

std::vector<float> RandomData(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<float> GraphBuilder::Uniform(size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng_);
  return v;
}

ValueId GraphBuilder::Input(Shape shape) {
  const ValueId id = graph_.AddActivation("input", std::move(shape));
  graph_.inputs.push_back(id);
  return id;
}

ValueId GraphBuilder::RandomConstant(Shape shape, float lo, float hi) {
  std::vector<float> data = Uniform(static_cast<size_t>(graph::ShapeProduct(shape)), lo, hi);
  return graph_.AddConstant("const" + std::to_string(graph_.values.size()), std::move(shape),
                            std::move(data));
}

ValueId GraphBuilder::AddNode(Op op, std::vector<ValueId> inputs, Attrs attrs, Shape out_shape) {
  const std::string name =
      std::string(graph::OpName(op)) + "_" + std::to_string(graph_.nodes.size());
  graph::Node node;
  node.op = op;
  node.name = name;
  node.inputs = std::move(inputs);
  node.attrs = std::move(attrs);
  node.outputs.push_back(graph_.AddActivation(name + ":0", std::move(out_shape)));
  graph_.AddNode(std::move(node));
  return graph_.nodes.back().outputs[0];
}

ValueId GraphBuilder::Raw(Op op, std::vector<ValueId> inputs, Attrs attrs, Shape out_shape) {
  return AddNode(op, std::move(inputs), std::move(attrs), std::move(out_shape));
}

ValueId GraphBuilder::Conv(ValueId x, int out_channels, int kh, int kw, const ConvParams& p) {
  const Shape xs = ShapeOf(x);
  const int64_t cg = xs[3] / p.groups;
  const float scale = std::sqrt(3.0f / static_cast<float>(cg * kh * kw));
  const ValueId w = RandomConstant({out_channels, kh, kw, cg}, -scale, scale);
  std::vector<ValueId> inputs{x, w};
  if (p.bias) inputs.push_back(RandomConstant({out_channels}, -0.1f, 0.1f));
  Attrs a;
  a.stride_h = p.stride_h;
  a.stride_w = p.stride_w;
  a.dilation_h = p.dilation_h;
  a.dilation_w = p.dilation_w;
  a.pad_top = p.pad_top;
  a.pad_left = p.pad_left;
  a.pad_bottom = p.pad_bottom;
  a.pad_right = p.pad_right;
  a.groups = p.groups;
  a.act_min = p.act_min;
  a.act_max = p.act_max;
  const Shape out{xs[0], WindowOut(xs[1], p.pad_top, p.pad_bottom, kh, p.stride_h, p.dilation_h),
                  WindowOut(xs[2], p.pad_left, p.pad_right, kw, p.stride_w, p.dilation_w),
                  out_channels};
  return AddNode(Op::kConv2D, std::move(inputs), a, out);
}

ValueId GraphBuilder::Pool(Op op, ValueId x, const PoolParams& p) {
  const Shape xs = ShapeOf(x);
  Attrs a;
  a.kernel_h = p.kernel_h;
  a.kernel_w = p.kernel_w;
  a.stride_h = p.stride_h;
  a.stride_w = p.stride_w;
  a.pad_top = p.pad_top;
  a.pad_left = p.pad_left;
  a.pad_bottom = p.pad_bottom;
  a.pad_right = p.pad_right;
  a.count_include_pad = p.count_include_pad;
  a.act_min = p.act_min;
  a.act_max = p.act_max;
  const Shape out{xs[0], WindowOut(xs[1], p.pad_top, p.pad_bottom, p.kernel_h, p.stride_h, 1),
                  WindowOut(xs[2], p.pad_left, p.pad_right, p.kernel_w, p.stride_w, 1), xs[3]};
  return AddNode(op, {x}, a, out);
}

ValueId GraphBuilder::GlobalAvgPool(ValueId x) {
  const Shape xs = ShapeOf(x);
  return AddNode(Op::kGlobalAvgPool, {x}, {}, {xs[0], 1, 1, xs[3]});
}

ValueId GraphBuilder::FullyConnected(ValueId x, int out_features, bool bias, float act_min,
                                     float act_max) {
  const Shape xs = ShapeOf(x);
  const int64_t k = graph::ShapeProduct(xs) / xs[0];
  const float scale = std::sqrt(3.0f / static_cast<float>(k));
  std::vector<ValueId> inputs{x, RandomConstant({out_features, k}, -scale, scale)};
  if (bias) inputs.push_back(RandomConstant({out_features}, -0.1f, 0.1f));
  Attrs a;
  a.act_min = act_min;
  a.act_max = act_max;
  return AddNode(Op::kFullyConnected, std::move(inputs), a, {xs[0], out_features});
}

ValueId GraphBuilder::Concat(const std::vector<ValueId>& xs, int axis) {
  Shape out = ShapeOf(xs[0]);
  for (size_t i = 1; i < xs.size(); ++i) out[axis] += ShapeOf(xs[i])[axis];
  Attrs a;
  a.axis = axis;
  return AddNode(Op::kConcat, xs, a, out);
}

ValueId GraphBuilder::Binary(Op op, ValueId x, ValueId y, float act_min, float act_max) {
  Result<Shape> out = graph::BroadcastShape(ShapeOf(x), ShapeOf(y));
  Attrs a;
  a.act_min = act_min;
  a.act_max = act_max;
  return AddNode(op, {x, y}, a, out.ok() ? *out : Shape{});
}

ValueId GraphBuilder::Unary(Op op, ValueId x) {
  Attrs a;
  if (op == Op::kSoftmax) a.axis = static_cast<int>(ShapeOf(x).size()) - 1;
  return AddNode(op, {x}, a, ShapeOf(x));
}

ValueId GraphBuilder::Clamp(ValueId x, float lo, float hi) {
  Attrs a;
  a.act_min = lo;
  a.act_max = hi;
  return AddNode(Op::kClamp, {x}, a, ShapeOf(x));
}

ValueId GraphBuilder::LeakyRelu(ValueId x, float alpha) {
  Attrs a;
  a.alpha = alpha;
  return AddNode(Op::kLeakyRelu, {x}, a, ShapeOf(x));
}

ValueId GraphBuilder::Reshape(ValueId x, Shape shape) {
  Attrs a;
  a.ints = shape;
  return AddNode(Op::kReshape, {x}, a, shape);
}

ValueId GraphBuilder::Pad(ValueId x, std::vector<int64_t> pads, float value) {
  Shape out = ShapeOf(x);
  for (size_t d = 0; d < out.size(); ++d) out[d] += pads[d] + pads[out.size() + d];
  Attrs a;
  a.ints = std::move(pads);
  a.pad_value = value;
  return AddNode(Op::kPad, {x}, a, out);
}

ValueId GraphBuilder::Transpose(ValueId x, std::vector<int64_t> perm) {
  const Shape xs = ShapeOf(x);
  Shape out(xs.size());
  for (size_t i = 0; i < perm.size(); ++i) out[i] = xs[perm[i]];
  Attrs a;
  a.ints = std::move(perm);
  return AddNode(Op::kTranspose, {x}, a, out);
}

ValueId GraphBuilder::Slice(ValueId x, std::vector<int64_t> begin, std::vector<int64_t> size) {
  Attrs a;
  a.ints = begin;
  a.ints.insert(a.ints.end(), size.begin(), size.end());
  return AddNode(Op::kSlice, {x}, a, Shape(size.begin(), size.end()));
}

ValueId GraphBuilder::ChannelShuffle(ValueId x, int groups) {
  Attrs a;
  a.groups = groups;
  return AddNode(Op::kChannelShuffle, {x}, a, ShapeOf(x));
}

graph::Graph GraphBuilder::Finish(ValueId output) {
  graph_.outputs = {output};
  return std::move(graph_);
}

namespace {

// Caffe's ceil-mode pooling as extra bottom/right padding.
PoolParams CeilMaxPool(const Shape& xs, int kernel, int stride) {
  PoolParams p;
  p.kernel_h = p.kernel_w = kernel;
  p.stride_h = p.stride_w = stride;
  p.pad_bottom = static_cast<int>((stride - (xs[1] - kernel) % stride) % stride);
  p.pad_right = static_cast<int>((stride - (xs[2] - kernel) % stride) % stride);
  return p;
}

ValueId Fire(GraphBuilder& b, ValueId x, int squeeze, int expand) {
  ConvParams relu;
  relu.act_min = 0.0f;
  const ValueId s = b.Conv(x, squeeze, 1, 1, relu);
  const ValueId e1 = b.Conv(s, expand, 1, 1, relu);
  ConvParams relu_pad = relu;
  relu_pad.pad_top = relu_pad.pad_left = relu_pad.pad_bottom = relu_pad.pad_right = 1;
  const ValueId e3 = b.Conv(s, expand, 3, 3, relu_pad);
  return b.Concat({e1, e3}, 3);
}

// TensorFlow SAME padding for one axis.
std::pair<int, int> SamePadding(int64_t in, int kernel, int stride) {
  const int64_t out = (in + stride - 1) / stride;
  const int64_t total = std::max<int64_t>((out - 1) * stride + kernel - in, 0);
  return {static_cast<int>(total / 2), static_cast<int>(total - total / 2)};
}

ConvParams SameConv(const Shape& xs, int kernel, int stride, bool relu6) {
  ConvParams p;
  p.stride_h = p.stride_w = stride;
  std::tie(p.pad_top, p.pad_bottom) = SamePadding(xs[1], kernel, stride);
  std::tie(p.pad_left, p.pad_right) = SamePadding(xs[2], kernel, stride);
  if (relu6) {
    p.act_min = 0.0f;
    p.act_max = 6.0f;
  }
  return p;
}

}  // namespace

graph::Graph SqueezeNet11(int input_size, int classes, uint32_t seed) {
  GraphBuilder b(seed);
  ValueId x = b.Input({1, input_size, input_size, 3});
  ConvParams conv1;
  conv1.stride_h = conv1.stride_w = 2;
  conv1.act_min = 0.0f;
  x = b.Conv(x, 64, 3, 3, conv1);
  x = b.Pool(Op::kMaxPool2D, x, CeilMaxPool(b.ShapeOf(x), 3, 2));
  x = Fire(b, x, 16, 64);
  x = Fire(b, x, 16, 64);
  x = b.Pool(Op::kMaxPool2D, x, CeilMaxPool(b.ShapeOf(x), 3, 2));
  x = Fire(b, x, 32, 128);
  x = Fire(b, x, 32, 128);
  x = b.Pool(Op::kMaxPool2D, x, CeilMaxPool(b.ShapeOf(x), 3, 2));
  x = Fire(b, x, 48, 192);
  x = Fire(b, x, 48, 192);
  x = Fire(b, x, 64, 256);
  x = Fire(b, x, 64, 256);
  ConvParams conv10;
  conv10.act_min = 0.0f;
  x = b.Conv(x, classes, 1, 1, conv10);
  x = b.GlobalAvgPool(x);
  x = b.Reshape(x, {1, classes});
  return b.Finish(b.Unary(Op::kSoftmax, x));
}

graph::Graph MobileNetV2(int input_size, int classes, uint32_t seed) {
  GraphBuilder b(seed);
  ValueId x = b.Input({1, input_size, input_size, 3});
  x = b.Conv(x, 32, 3, 3, SameConv(b.ShapeOf(x), 3, 2, true));
  struct Stage {
    int expansion, channels, repeats, stride;
  };
  const Stage stages[] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                          {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
  for (const Stage& stage : stages) {
    for (int r = 0; r < stage.repeats; ++r) {
      const int stride = r == 0 ? stage.stride : 1;
      const int64_t in_channels = b.ShapeOf(x)[3];
      ValueId y = x;
      const int hidden = static_cast<int>(in_channels) * stage.expansion;
      if (stage.expansion != 1) y = b.Conv(y, hidden, 1, 1, SameConv(b.ShapeOf(y), 1, 1, true));
      ConvParams dw = SameConv(b.ShapeOf(y), 3, stride, true);
      dw.groups = hidden;
      y = b.Conv(y, hidden, 3, 3, dw);
      y = b.Conv(y, stage.channels, 1, 1, SameConv(b.ShapeOf(y), 1, 1, false));
      if (stride == 1 && in_channels == stage.channels) y = b.Binary(Op::kAdd, x, y);
      x = y;
    }
  }
  x = b.Conv(x, 1280, 1, 1, SameConv(b.ShapeOf(x), 1, 1, true));
  x = b.GlobalAvgPool(x);
  x = b.FullyConnected(x, classes);
  return b.Finish(b.Unary(Op::kSoftmax, x));
}

double WorstRelativeError(std::span<const float> x, std::span<const float> ref) {
  if (x.size() != ref.size()) return std::numeric_limits<double>::infinity();
  double sum_sq = 0.0;
  for (float r : ref) sum_sq += double{r} * r;
  const double rms = ref.empty() ? 0.0 : std::sqrt(sum_sq / static_cast<double>(ref.size()));
  const double floor = std::max(rms, 1e-30);
  double worst = 0.0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double err =
        std::abs(double{x[i]} - double{ref[i]}) / std::max(std::abs(double{ref[i]}), floor);
    if (std::isnan(err)) return std::numeric_limits<double>::infinity();
    worst = std::max(worst, err);
  }
  return worst;
}

Result<std::vector<float>> RunOnce(const Backend& backend, const graph::Graph& graph,
                                   std::span<const float> input, int threads,
                                   bool xnnpack_only) {
  EngineOptions options;
  options.threads = threads;
  options.xnnpack_only = xnnpack_only;
  EV_ASSIGN_OR_RETURN(std::unique_ptr<CompiledModel> model, backend.Compile(graph, options));
  EV_ASSIGN_OR_RETURN(std::unique_ptr<Session> session, model->CreateSession());
  std::vector<float> out(model->output_size());
  EV_RETURN_IF_ERROR(session->Run(input, out));
  return out;
}

}  // namespace edgevision::engine::testing
