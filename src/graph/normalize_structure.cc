// Structural passes: checks, topological order, dead code, axes, op set.
#include <algorithm>
#include <functional>
#include <map>
#include <queue>
#include <string>
#include <vector>

#include "graph/normalize_passes.h"

namespace edgevision::graph {

namespace {

bool InRange(const Graph& g, ValueId id) {
  return id >= 0 && static_cast<size_t>(id) < g.values.size();
}

std::string OpList(const std::map<std::string, int>& ops) {
  std::string out;
  for (const auto& [op, n] : ops) {
    if (!out.empty()) out += ", ";
    out += std::to_string(n) + " " + op;
  }
  return out;
}

}  // namespace

Status CheckStructure(const Graph& g) {
  if (g.nodes.size() > kMaxNormalizeNodes) {
    return ResourceExhausted("graph has " + std::to_string(g.nodes.size()) +
                             " nodes, more than the limit of " +
                             std::to_string(kMaxNormalizeNodes));
  }
  if (g.values.size() > 4 * kMaxNormalizeNodes + 1024) {
    return ResourceExhausted("graph has " + std::to_string(g.values.size()) + " values");
  }
  if (g.inputs.empty()) return Corrupt("graph has no input");
  if (g.outputs.empty()) return Corrupt("graph has no output");
  for (ValueId id : g.inputs) {
    if (!InRange(g, id)) return Corrupt("graph input id out of range");
    if (g.values[id].is_constant)
      return Corrupt("graph input '" + g.values[id].name + "' is a constant");
  }
  for (ValueId id : g.outputs) {
    if (!InRange(g, id)) return Corrupt("graph output id out of range");
  }
  for (const Node& node : g.nodes) {
    if (node.outputs.size() != 1 || !InRange(g, node.outputs[0])) {
      return Corrupt("node '" + node.name + "' (" + std::string(OpName(node.op)) +
                     ") must have exactly one valid output");
    }
    for (ValueId in : node.inputs) {
      if (in != kNoValue && !InRange(g, in)) {
        return Corrupt("node '" + node.name + "' has an input id out of range");
      }
    }
  }
  return Status::Ok();
}

Status SortTopologically(Graph* graph, NormalizeReport* report) {
  Graph& g = *graph;
  const size_t n = g.nodes.size();
  std::vector<int> producer(g.values.size(), -1);
  for (size_t i = 0; i < n; ++i) {
    const ValueId out = g.nodes[i].outputs[0];
    if (producer[out] >= 0 || g.values[out].is_constant || IsGraphInput(g, out)) {
      return Corrupt("value '" + g.values[out].name + "' is produced twice (node '" +
                     g.nodes[i].name + "')");
    }
    producer[out] = static_cast<int>(i);
  }
  std::vector<int> pending(n, 0);
  std::vector<std::vector<int>> dependents(n);
  for (size_t i = 0; i < n; ++i) {
    for (ValueId in : g.nodes[i].inputs) {
      if (in == kNoValue || g.values[in].is_constant || IsGraphInput(g, in)) continue;
      if (producer[in] < 0) {
        return Corrupt("node '" + g.nodes[i].name + "' reads '" + g.values[in].name +
                       "', which nothing produces");
      }
      ++pending[i];
      dependents[producer[in]].push_back(static_cast<int>(i));
    }
  }
  std::priority_queue<int, std::vector<int>, std::greater<int>> ready;
  for (size_t i = 0; i < n; ++i) {
    if (pending[i] == 0) ready.push(static_cast<int>(i));
  }
  std::vector<int> order;
  order.reserve(n);
  while (!ready.empty()) {
    const int i = ready.top();
    ready.pop();
    order.push_back(i);
    for (int d : dependents[i]) {
      if (--pending[d] == 0) ready.push(d);
    }
  }
  if (order.size() != n) {
    for (size_t i = 0; i < n; ++i) {
      if (pending[i] > 0) {
        return Corrupt("node '" + g.nodes[i].name + "' (" + std::string(OpName(g.nodes[i].op)) +
                       ") is part of a cycle");
      }
    }
  }
  size_t moved = 0;
  for (size_t i = 0; i < n; ++i) moved += order[i] != static_cast<int>(i);
  if (moved == 0) return Status::Ok();
  std::vector<Node> sorted;
  sorted.reserve(n);
  for (int i : order) sorted.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(sorted);
  if (report) {
    report->rewrites.push_back("re-ordered the nodes topologically (" + CountOf(moved, "nodes") +
                               " moved)");
  }
  return Status::Ok();
}

void EliminateDeadCode(Graph* graph, NormalizeReport* report) {
  Graph& g = *graph;
  std::vector<bool> live(g.values.size(), false);
  for (ValueId id : g.outputs) live[id] = true;
  std::vector<bool> dead_node(g.nodes.size(), false);
  std::map<std::string, int> removed;
  for (size_t i = g.nodes.size(); i-- > 0;) {
    const Node& node = g.nodes[i];
    if (!live[node.outputs[0]]) {
      dead_node[i] = true;
      ++removed[std::string(OpName(node.op))];
      continue;
    }
    for (ValueId in : node.inputs) {
      if (in != kNoValue) live[in] = true;
    }
  }
  EraseNodes(&g, dead_node);
  for (ValueId id : g.inputs) live[id] = true;

  std::vector<ValueId> remap(g.values.size(), kNoValue);
  std::vector<Value> kept;
  for (size_t i = 0; i < g.values.size(); ++i) {
    if (!live[i]) continue;
    remap[i] = static_cast<ValueId>(kept.size());
    kept.push_back(std::move(g.values[i]));
  }
  g.values = std::move(kept);
  for (Node& node : g.nodes) {
    for (ValueId& in : node.inputs) {
      if (in != kNoValue) in = remap[in];
    }
    for (ValueId& out : node.outputs) out = remap[out];
  }
  for (ValueId& id : g.inputs) id = remap[id];
  for (ValueId& id : g.outputs) id = remap[id];
  if (report && !removed.empty()) {
    report->rewrites.push_back("removed unused nodes (" + OpList(removed) + ")");
  }
}

Status CanonicalizeAxes(Graph* graph, NormalizeReport* report) {
  Graph& g = *graph;
  size_t changed = 0;
  auto norm = [&](int64_t axis, size_t rank) -> int64_t {
    if (axis < 0) {
      ++changed;
      return axis + static_cast<int64_t>(rank);
    }
    return axis;
  };
  for (Node& node : g.nodes) {
    const Value& in = g.values[node.inputs.empty() || node.inputs[0] == kNoValue ? node.outputs[0]
                                                                                 : node.inputs[0]];
    const size_t rank = in.shape.size();
    switch (node.op) {
      case Op::kConcat: node.attrs.axis = static_cast<int>(norm(node.attrs.axis, rank)); break;
      case Op::kSoftmax:
        node.attrs.axis = static_cast<int>(norm(node.attrs.axis, rank));
        if (static_cast<size_t>(node.attrs.axis) + 1 != rank) {
          return Unsupported("node '" + node.name + "' (Softmax) is over axis " +
                             std::to_string(node.attrs.axis) + " of a rank-" +
                             std::to_string(rank) + " tensor; only the last axis is supported");
        }
        break;
      case Op::kTranspose:
        for (int64_t& p : node.attrs.ints) p = norm(p, rank);
        break;
      case Op::kReduceMean:
        for (int64_t& p : node.attrs.ints) p = norm(p, rank);
        std::sort(node.attrs.ints.begin(), node.attrs.ints.end());
        break;
      default: break;
    }
  }
  if (report && changed > 0) {
    report->rewrites.push_back("made " + CountOf(changed, "negative axes") + " non-negative");
  }
  return Status::Ok();
}

Status CheckExecutable(const Graph& g) {
  for (const Node& node : g.nodes) {
    if (IsExecutableOp(node.op)) continue;
    if (node.op == Op::kReduceMean) {
      return Unsupported("node '" + node.name +
                         "' (ReduceMean) averages over axes other than height and width");
    }
    return Unsupported("node '" + node.name + "' (" + std::string(OpName(node.op)) +
                       ") on a non-constant input cannot be executed");
  }
  return Status::Ok();
}

}  // namespace edgevision::graph
