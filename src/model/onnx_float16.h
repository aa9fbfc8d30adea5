// Where ONNX Runtime stores a float16 (OnnxFloat16) model's tensors as
// float16, so that edgevision, computing in float32, rounds to half at the
// same places (graph::Op::kRoundHalf, core/half.h).
//
// ONNX Runtime's CPU provider (measured: onnxruntime-node 1.30, x86-64) has
// float16 kernels only for data-movement and min/max ops
// (kOrtCpuFloat16Ops); every other node with a float16 input runs its
// float32 kernel between Casts that InsertCastTransformer adds, and the
// Cast pairs between two such nodes are removed, so values stay float32
// there. A tensor is therefore rounded to half where a float32-running node
// hands it to a node that runs on float16. ForceSingleNodeCPUFloat16ToFloat32
// first moves an "isolated" float16-capable node (every float16 input from,
// and every float16 output to, a float32-running node; no graph output) to
// float32 too: a Flatten between AveragePool and Gemm runs in float32, a
// channel shuffle (Concat -> Reshape -> Transpose -> Reshape -> Slice)
// between convolutions on float16.
#pragma once

#include <onnx/onnx_pb.h>

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace edgevision::model::onnx_import {

// The standard-domain ops ONNX Runtime 1.30's CPU provider runs on float16
// data on x86-64 (each probed alone: float16 in, float16 out, no Cast added).
// All of them move or select values: on half inputs their outputs are halves.
bool HasOrtCpuFloat16Kernel(const std::string& op_type);

// Each tensor's producing node among `nodes` (the last one naming it) and
// its readers (once per input slot, in node order); built once and shared
// by OrtFloat16Nodes and OrtRoundingNodes.
struct Edges {
  std::map<std::string, const onnx::NodeProto*> producer;
  std::map<std::string, std::vector<const onnx::NodeProto*>> consumers;
};
Edges EdgesOf(const std::vector<const onnx::NodeProto*>& nodes);

// The nodes of `nodes` (the model's nodes in file order, as ONNX Runtime
// visits them) that ONNX Runtime runs on float16 data. `holds_float16`
// tells whether a tensor is float16; `graph_outputs` names the graph's
// outputs.
std::set<const onnx::NodeProto*> OrtFloat16Nodes(const std::vector<const onnx::NodeProto*>& nodes,
                                                 const Edges& edges,
                                                 const std::function<bool(const std::string&)>& holds_float16,
                                                 const std::set<std::string>& graph_outputs);

// The nodes whose float outputs ONNX Runtime holds as halves rounded from
// float32 values: a node of `float16_nodes` with a float16 input computed
// by a node that runs in float32 (ONNX Runtime casts that input to float16;
// data movement and min/max on half values give half values, so rounding
// the node's outputs is the same). Not a Cast: ONNX Runtime's duplicate-Cast
// removal cancels a model's Cast between float types against the Casts it
// inserts (measured on tests/data/synthetic/handmade_float16_opset12.onnx:
// its answers are the float32 arithmetic's).
std::set<const onnx::NodeProto*> OrtRoundingNodes(const std::vector<const onnx::NodeProto*>& nodes,
                                                  const Edges& edges,
                                                  const std::set<const onnx::NodeProto*>& float16_nodes,
                                                  const std::function<bool(const std::string&)>& holds_float16);

}  // namespace edgevision::model::onnx_import
