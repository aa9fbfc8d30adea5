#include "engine/reference_backend.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "engine/graph_check.h"
#include "engine/reference_kernels.h"

namespace edgevision::engine {

namespace {

using graph::Graph;
using graph::ValueId;

class ReferenceSession final : public Session {
 public:
  explicit ReferenceSession(std::shared_ptr<const Graph> graph) : graph_(std::move(graph)) {
    // Buffers for the input and every node output; CheckExecutableGraph
    // guarantees their shapes are static and bounded.
    buffers_.resize(graph_->values.size());
    auto allocate = [&](ValueId id) {
      buffers_[id].resize(static_cast<size_t>(graph::ShapeProduct(graph_->values[id].shape)));
    };
    allocate(graph_->inputs[0]);
    for (const graph::Node& node : graph_->nodes) allocate(node.outputs[0]);
  }
  ReferenceSession(const ReferenceSession&) = delete;
  ReferenceSession& operator=(const ReferenceSession&) = delete;

  Status Run(std::span<const float> input, std::span<float> output) override {
    const Graph& g = *graph_;
    std::vector<float>& in_buffer = buffers_[g.inputs[0]];
    const std::vector<float>& out_buffer = buffers_[g.outputs[0]];
    if (input.size() != in_buffer.size() || output.size() != out_buffer.size()) {
      return InvalidArgument("reference session: got " + std::to_string(input.size()) +
                             " input and " + std::to_string(output.size()) +
                             " output floats, the model takes " + std::to_string(in_buffer.size()) +
                             " and gives " + std::to_string(out_buffer.size()));
    }
    std::copy(input.begin(), input.end(), in_buffer.begin());
    std::vector<const float*> inputs;
    for (const graph::Node& node : g.nodes) {
      inputs.clear();
      for (ValueId id : node.inputs) {
        if (id == graph::kNoValue) {
          inputs.push_back(nullptr);
        } else {
          const graph::Value& v = g.values[id];
          inputs.push_back(v.is_constant ? v.f32.data() : buffers_[id].data());
        }
      }
      EV_RETURN_IF_ERROR(reference::RunNode(g, node, inputs, buffers_[node.outputs[0]].data()));
    }
    std::copy(out_buffer.begin(), out_buffer.end(), output.begin());
    return Status::Ok();
  }

 private:
  std::shared_ptr<const Graph> graph_;
  std::vector<std::vector<float>> buffers_;  // one per value; empty for constants
};

class ReferenceModel final : public CompiledModel {
 public:
  explicit ReferenceModel(std::shared_ptr<const Graph> graph)
      : graph_(std::move(graph)),
        input_shape_(graph_->values[graph_->inputs[0]].shape),
        output_size_(
            static_cast<size_t>(graph::ShapeProduct(graph_->values[graph_->outputs[0]].shape))) {}
  ReferenceModel(const ReferenceModel&) = delete;
  ReferenceModel& operator=(const ReferenceModel&) = delete;

  const std::vector<int64_t>& input_shape() const override { return input_shape_; }
  size_t output_size() const override { return output_size_; }
  Result<std::unique_ptr<Session>> CreateSession() const override {
    return std::unique_ptr<Session>(std::make_unique<ReferenceSession>(graph_));
  }

 private:
  std::shared_ptr<const Graph> graph_;
  std::vector<int64_t> input_shape_;
  size_t output_size_;
};

class ReferenceBackend final : public Backend {
 public:
  std::string_view name() const override { return "reference"; }
  Result<std::unique_ptr<CompiledModel>> Compile(const Graph& graph,
                                                 const EngineOptions& options) const override {
    EV_RETURN_IF_ERROR(CheckEngineOptions(options));
    EV_RETURN_IF_ERROR(CheckExecutableGraph(graph));
    return std::unique_ptr<CompiledModel>(
        std::make_unique<ReferenceModel>(std::make_shared<const Graph>(graph)));
  }
};

}  // namespace

std::unique_ptr<Backend> MakeReferenceBackend() {
  return std::make_unique<ReferenceBackend>();
}

}  // namespace edgevision::engine
