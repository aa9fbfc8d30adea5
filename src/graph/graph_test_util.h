// Node lookups the graph and importer tests share (header-only; for tests).
#pragma once

#include <algorithm>
#include <string_view>

#include "graph/graph.h"

namespace edgevision::graph {

// The first node named `name`, else nullptr.
inline const Node* FindNode(const Graph& g, std::string_view name) {
  for (const Node& n : g.nodes) {
    if (n.name == name) return &n;
  }
  return nullptr;
}

// How many nodes run `op`.
inline int CountOp(const Graph& g, Op op) {
  return static_cast<int>(std::count_if(g.nodes.begin(), g.nodes.end(), [&](const Node& n) { return n.op == op; }));
}

}  // namespace edgevision::graph
