// Test and benchmark support: build graphs directly in the IR, with random
// weights from fixed seeds, and compare backends' outputs.
//
// GraphBuilder computes each output shape itself (independently of the
// engines' checks) so a builder graph looks like a normalised one: NHWC,
// batch 1, static shapes, topological order. Not thread-safe.
#pragma once

#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "engine/backend.h"
#include "graph/graph.h"

namespace edgevision::engine::testing {

inline constexpr float kInf = std::numeric_limits<float>::infinity();

struct ConvParams {
  int stride_h = 1, stride_w = 1;
  int dilation_h = 1, dilation_w = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int groups = 1;
  bool bias = true;
  float act_min = -kInf, act_max = kInf;
};

// Square stride and symmetric padding, with a clamp.
inline ConvParams SquareConv(int stride, int pad, float act_min = -kInf, float act_max = kInf) {
  ConvParams p;
  p.stride_h = p.stride_w = stride;
  p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = pad;
  p.act_min = act_min;
  p.act_max = act_max;
  return p;
}

struct PoolParams {
  int kernel_h = 2, kernel_w = 2;
  int stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  bool count_include_pad = false;
  float act_min = -kInf, act_max = kInf;
};

class GraphBuilder {
 public:
  explicit GraphBuilder(uint32_t seed) : rng_(seed) {}

  graph::ValueId Input(graph::Shape shape);
  // A constant with uniform random values in [lo, hi].
  graph::ValueId RandomConstant(graph::Shape shape, float lo, float hi);

  // Weights are uniform in +-sqrt(3 / fan_in), so activations stay near 1.
  graph::ValueId Conv(graph::ValueId x, int out_channels, int kernel_h, int kernel_w,
                      const ConvParams& p = {});
  graph::ValueId Pool(graph::Op op, graph::ValueId x, const PoolParams& p);
  graph::ValueId GlobalAvgPool(graph::ValueId x);
  graph::ValueId FullyConnected(graph::ValueId x, int out_features, bool bias = true,
                                float act_min = -kInf, float act_max = kInf);
  graph::ValueId Concat(const std::vector<graph::ValueId>& xs, int axis);
  graph::ValueId Binary(graph::Op op, graph::ValueId a, graph::ValueId b, float act_min = -kInf,
                        float act_max = kInf);
  // Relu, Sigmoid, Softmax (last axis), HardSwish; see Clamp and LeakyRelu.
  graph::ValueId Unary(graph::Op op, graph::ValueId x);
  graph::ValueId Clamp(graph::ValueId x, float lo, float hi);
  graph::ValueId LeakyRelu(graph::ValueId x, float alpha);
  graph::ValueId Reshape(graph::ValueId x, graph::Shape shape);
  graph::ValueId Pad(graph::ValueId x, std::vector<int64_t> pads, float value);
  graph::ValueId Transpose(graph::ValueId x, std::vector<int64_t> perm);
  // begins and sizes, one per axis (no -1 here).
  graph::ValueId Slice(graph::ValueId x, std::vector<int64_t> begin, std::vector<int64_t> size);
  graph::ValueId ChannelShuffle(graph::ValueId x, int groups);
  // Appends a node whose output shape the caller states (for invalid graphs).
  graph::ValueId Raw(graph::Op op, std::vector<graph::ValueId> inputs, graph::Attrs attrs,
                     graph::Shape output_shape);

  const graph::Shape& ShapeOf(graph::ValueId v) const { return graph_.values[v].shape; }
  // Marks `output` as the graph output and returns the graph.
  graph::Graph Finish(graph::ValueId output);
  graph::Graph& graph() { return graph_; }

 private:
  graph::ValueId AddNode(graph::Op op, std::vector<graph::ValueId> inputs, graph::Attrs attrs,
                         graph::Shape output_shape);
  std::vector<float> Uniform(size_t n, float lo, float hi);

  graph::Graph graph_;
  std::mt19937 rng_;
};

// Uniform random floats in [lo, hi] from a fixed seed.
std::vector<float> RandomData(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f);

// SqueezeNet 1.1 (Caffe layout: ceil-mode pooling as extra bottom/right
// padding) ending in conv10 + ReLU + GlobalAvgPool + Softmax.
graph::Graph SqueezeNet11(int input_size, int classes, uint32_t seed);
// MobileNetV2 1.0 (TF SAME padding, ReLU6, residual Adds) ending in
// GlobalAvgPool + FullyConnected + Softmax.
graph::Graph MobileNetV2(int input_size, int classes, uint32_t seed);

// Largest |x - ref| / max(|ref|, rms(ref)): the relative error, with the
// output's RMS as the floor for elements near zero. Infinite on NaN.
double WorstRelativeError(std::span<const float> x, std::span<const float> ref);

// Compiles `graph` with `backend` and runs it once on `input`.
Result<std::vector<float>> RunOnce(const Backend& backend, const graph::Graph& graph,
                                   std::span<const float> input, int threads = 1,
                                   bool xnnpack_only = false);

}  // namespace edgevision::engine::testing
