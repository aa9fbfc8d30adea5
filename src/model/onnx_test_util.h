// Shared by the ONNX importer's tests (onnx_importer_test.cc,
// onnx_handbuilt_test.cc): the test models' paths and queries over an
// imported graph and its rewrite log.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "graph/graph.h"

namespace edgevision::model::onnx_test {

// The real exports and the synthetic ones (tests/data, testing::TestData).
inline constexpr char kWinml[] = "cv-exports/winml-food-onnx/model.onnx";
inline constexpr char kUwp[] = "cv-exports/uwp-catdog-onnx12/model.onnx";
inline constexpr const char* kSynthetic[] = {
    "synthetic/torch_mobilenet_opset13.onnx",  "synthetic/torch_mobilenet_opset11_bn.onnx",
    "synthetic/torch_mobilenet_opset14.onnx",  "synthetic/handmade_opset10.onnx",
    "synthetic/handmade_float16_opset12.onnx", "synthetic/handmade_opset17.onnx"};

// True if a line of `lines` contains `text`.
inline bool Mentions(const std::vector<std::string>& lines, const std::string& text) {
  return std::any_of(lines.begin(), lines.end(),
                     [&](const std::string& s) { return s.find(text) != std::string::npos; });
}

// The lines, indented, one a line (for failure messages).
inline std::string Joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const std::string& s : lines) out += "  " + s + "\n";
  return out;
}

// The node called `name` with op `op`, or nullptr.
inline const graph::Node* NodeNamed(const graph::Graph& g, const std::string& name, graph::Op op) {
  for (const graph::Node& n : g.nodes) {
    if (n.name == name && n.op == op) return &n;
  }
  return nullptr;
}

// The nodes with op `op`, in graph order.
inline std::vector<const graph::Node*> NodesOf(const graph::Graph& g, graph::Op op) {
  std::vector<const graph::Node*> out;
  for (const graph::Node& n : g.nodes) {
    if (n.op == op) out.push_back(&n);
  }
  return out;
}

}  // namespace edgevision::model::onnx_test
