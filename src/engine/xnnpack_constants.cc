#include "engine/xnnpack_constants.h"

#include "engine/winograd.h"

namespace edgevision::engine::xnnpack_internal {

using graph::Graph;
using graph::Node;
using graph::Shape;
using graph::ValueId;

std::vector<float> WinogradKernel(const Graph& graph, const Node& node) {
  const Shape& ws = graph.values[node.inputs[1]].shape;
  const size_t co = static_cast<size_t>(ws[0]), ci = static_cast<size_t>(ws[3]);
  std::vector<float> u(kWinogradPoints * co * ci);
  WinogradTransformKernel(graph.values[node.inputs[1]].f32.data(), co, ci, u.data());
  return u;
}

std::vector<bool> PackedWeightNodes(const Program& p) {
  const std::vector<Exec>& exec = p.exec;
  std::vector<bool> packed(exec.size(), false);
  for (size_t i = 0; i < exec.size(); ++i) {
    const Exec e = exec[i];
    if (e == Exec::kPointwiseGemm || e == Exec::kConvGemm || e == Exec::kDepthwise || e == Exec::kBlock ||
        (e == Exec::kWinograd && i < p.winograd.size() && p.winograd[i].gemm_products)) {
      packed[i] = true;
    }
    if (e == Exec::kBlock && i < p.blocks.size()) {
      packed[static_cast<size_t>(p.blocks[i].depthwise)] = true;
      packed[static_cast<size_t>(p.blocks[i].projection)] = true;
    }
    if (e == Exec::kPointwiseGemm && i < p.channel_parts.size() && p.channel_parts[i].depthwise >= 0) {
      packed[static_cast<size_t>(p.channel_parts[i].depthwise)] = true;
    }
  }
  return packed;
}

std::vector<bool> ConstantsSessionsRead(const Graph& graph, const std::vector<Exec>& exec,
                                        const std::vector<bool>& packed, bool creating) {
  std::vector<bool> read(graph.values.size(), false);
  for (size_t i = 0; i < graph.nodes.size(); ++i) {
    const std::vector<ValueId>& in = graph.nodes[i].inputs;
    if (packed[i]) continue;  // packed into Program::extra_weights
    switch (exec[i]) {
      case Exec::kXnnpack:
      case Exec::kDepthwiseAvgPool:
      case Exec::kBandedConv: if (!creating) continue; break;  // packed by the operator
      case Exec::kWinograd:
        // The output transform adds the bias; U is made from the kernel.
        if (in.size() > 2 && in[2] != graph::kNoValue) read[in[2]] = true;
        if (!creating) continue;
        break;
      default: break;  // reference kernels, copies: their operands as they are
    }
    for (ValueId v : in) {
      if (v != graph::kNoValue) read[v] = true;
    }
  }
  for (ValueId v : graph.outputs) read[v] = true;
  return read;
}

}  // namespace edgevision::engine::xnnpack_internal
