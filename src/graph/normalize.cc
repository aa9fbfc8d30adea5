#include "graph/normalize.h"

#include <algorithm>
#include <string>
#include <vector>

#include "graph/normalize_passes.h"
#include "graph/shape_inference.h"

namespace edgevision::graph {

std::vector<std::vector<int>> ConsumerIndex(const Graph& g) {
  std::vector<std::vector<int>> consumers(g.values.size());
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (ValueId in : g.nodes[i].inputs) {
      if (in != kNoValue) consumers[in].push_back(static_cast<int>(i));
    }
  }
  return consumers;
}

std::vector<int> ProducerIndex(const Graph& g) {
  std::vector<int> producer(g.values.size(), -1);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    for (ValueId out : g.nodes[i].outputs) producer[out] = static_cast<int>(i);
  }
  return producer;
}

bool IsGraphOutput(const Graph& g, ValueId id) {
  return std::find(g.outputs.begin(), g.outputs.end(), id) != g.outputs.end();
}

bool IsGraphInput(const Graph& g, ValueId id) {
  return std::find(g.inputs.begin(), g.inputs.end(), id) != g.inputs.end();
}

int Uses(const Graph& g, const std::vector<std::vector<int>>& consumers, ValueId id) {
  int n = static_cast<int>(consumers[id].size());
  for (ValueId out : g.outputs) n += out == id;
  return n;
}

void ReplaceUses(Graph* g, ValueId from, ValueId to) {
  for (Node& node : g->nodes) {
    for (ValueId& in : node.inputs) {
      if (in == from) in = to;
    }
  }
  for (ValueId& out : g->outputs) {
    if (out == from) out = to;
  }
}

void EraseNodes(Graph* g, const std::vector<bool>& remove) {
  size_t kept = 0;
  for (size_t i = 0; i < g->nodes.size(); ++i) {
    if (!remove[i]) {
      if (kept != i) g->nodes[kept] = std::move(g->nodes[i]);
      ++kept;
    }
  }
  g->nodes.resize(kept);
}

bool IsFloatConstant(const Graph& g, ValueId v) {
  return v != kNoValue && g.values[v].is_constant && g.values[v].dtype == DataType::kFloat32;
}

std::vector<float> PerChannel(const Value& v, int64_t channels, size_t rank) {
  if (!v.is_constant || v.dtype != DataType::kFloat32 || v.shape.size() > rank) return {};
  for (size_t d = 0; d + 1 < v.shape.size(); ++d) {
    if (v.shape[d] != 1) return {};
  }
  const int64_t last = v.shape.empty() ? 1 : v.shape.back();
  if (last == 1 && v.f32.size() == 1) return std::vector<float>(channels, v.f32[0]);
  if (last == channels && static_cast<int64_t>(v.f32.size()) == channels) return v.f32;
  return {};
}

std::string CountOf(size_t n, const std::string& what) {
  return std::to_string(n) + " " + what;
}

Status Normalize(Graph* graph, NormalizeReport* report) {
  if (graph == nullptr || report == nullptr) return InvalidArgument("Normalize: null argument");
  Graph& g = *graph;
  EV_RETURN_IF_ERROR(CheckStructure(g));
  EV_RETURN_IF_ERROR(SortTopologically(&g, report));
  EV_RETURN_IF_ERROR(RemoveIdentities(&g, report));
  EV_RETURN_IF_ERROR(FoldConstants(&g, report));
  EliminateDeadCode(&g, report);  // reports nodes the file itself left unused
  EV_RETURN_IF_ERROR(InferShapes(&g));

  // Each rewrite below keeps the graph ordered; shapes are re-inferred after
  // each so the next pass sees the values it created.
  using Pass = Status (*)(Graph*, NormalizeReport*);
  constexpr Pass kPasses[] = {
      FoldBatchNorms,  FoldInputAffine,     FoldAffineIntoProducers, MergePads,
      RewritePooling,  FuseChannelShuffles, SimplifyReshapes,        FuseHardSwish,
      FuseActivations, LowerUnaryOps,       CanonicalizeAxes};
  for (Pass pass : kPasses) {
    EV_RETURN_IF_ERROR(pass(&g, report));
    EliminateDeadCode(&g, nullptr);
    EV_RETURN_IF_ERROR(InferShapes(&g));
  }
  EV_RETURN_IF_ERROR(CheckExecutable(g));
  return Validate(g);
}

}  // namespace edgevision::graph
