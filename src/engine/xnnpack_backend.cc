#include "engine/xnnpack_backend.h"

#include <string>
#include <utility>
#include <vector>

#include "engine/graph_check.h"
#include "engine/xnnpack_constants.h"
#include "engine/xnnpack_ops.h"
#include "engine/xnnpack_program.h"
#include "engine/xnnpack_session.h"
#include "engine/xnnpack_weights.h"

namespace edgevision::engine {

namespace {

using graph::ValueId;
using xnnpack_internal::Exec;
using xnnpack_internal::Program;
using xnnpack_internal::WeightRegistry;

// Calls visit(weights) on each weight vector read only while an operator is
// created: the constants Sessions do not read at run time, and the
// extra_weights of the nodes PackedWeightNodes does not mark (the others are
// read at run time). `P` is Program or const Program.
template <typename P, typename Visit>
void ForEachCreationOnlyWeight(P& p, Visit visit) {
  const std::vector<bool> packed = xnnpack_internal::PackedWeightNodes(p);
  const std::vector<bool> run = xnnpack_internal::ConstantsSessionsRead(p.graph, p.exec, packed, /*creating=*/false);
  for (size_t v = 0; v < p.graph.values.size(); ++v) {
    if (p.graph.values[v].is_constant && !run[v]) visit(p.graph.values[v].f32);
  }
  for (size_t i = 0; i < p.extra_weights.size(); ++i) {
    if (!packed[i]) visit(p.extra_weights[i]);
  }
}

// XnnpackWeightStats::unpacked_bytes.
size_t CreationOnlyBytes(const Program& p) {
  size_t bytes = 0;
  ForEachCreationOnlyWeight(p, [&](const std::vector<float>& w) { bytes += w.size() * sizeof(float); });
  return bytes;
}

class XnnpackModel final : public CompiledModel {
 public:
  XnnpackModel(std::shared_ptr<Program> program, int threads)
      : program_(std::move(program)),
        weights_(std::make_shared<WeightRegistry>(program_->graph.nodes.size())),
        threads_(threads) {
    const graph::Graph& g = program_->graph;
    input_shape_ = g.values[g.inputs[0]].shape;
    output_size_ = static_cast<size_t>(graph::ShapeProduct(g.values[g.outputs[0]].shape));
  }
  XnnpackModel(const XnnpackModel&) = delete;
  XnnpackModel& operator=(const XnnpackModel&) = delete;

  const std::vector<int64_t>& input_shape() const override { return input_shape_; }
  size_t output_size() const override { return output_size_; }
  const XnnpackPlanStats& stats() const { return program_->stats; }
  XnnpackWeightStats weight_stats() const {
    XnnpackWeightStats stats = weights_->stats();
    stats.unpacked_bytes = CreationOnlyBytes(*program_);
    return stats;
  }

  Result<std::unique_ptr<Session>> CreateSession() const override {
    if (released_) return Internal("XNNPACK model: the unpacked weights were released (ReleaseSessionCreationData)");
    return xnnpack_internal::CreateXnnpackSession(program_, weights_, threads_);
  }

 private:
  // The weights of nodes that run as XNNPACK operators are read only while
  // an operator is created (it packs them): Sessions never read them again
  // (reference kernels read their constants from the graph, binary operators
  // from Program::constants: those stay). The one change to a Program after
  // BuildProgram, made through the model's own non-const pointer (Sessions
  // hold const ones).
  size_t ReleaseSessionCreationData() override {
    if (released_) return 0;
    released_ = true;
    size_t freed = 0;
    ForEachCreationOnlyWeight(*program_, [&](std::vector<float>& w) {
      freed += w.capacity() * sizeof(float);
      std::vector<float>().swap(w);
    });
    return freed;
  }

  std::shared_ptr<Program> program_;  // non-const only for ReleaseSessionCreationData
  std::shared_ptr<WeightRegistry> weights_;
  int threads_;
  bool released_ = false;
  std::vector<int64_t> input_shape_;
  size_t output_size_ = 0;
};

class XnnpackBackend final : public Backend {
 public:
  std::string_view name() const override { return "xnnpack"; }
  Result<std::unique_ptr<CompiledModel>> Compile(const graph::Graph& graph,
                                                 const EngineOptions& options) const override {
    EV_RETURN_IF_ERROR(CheckEngineOptions(options));
    EV_RETURN_IF_ERROR(CheckExecutableGraph(graph));
    EV_RETURN_IF_ERROR(xnnpack_internal::InitializeXnnpack());
    EV_ASSIGN_OR_RETURN(std::shared_ptr<Program> program,
                        xnnpack_internal::BuildProgram(graph, options.threads,
                                                       options.xnnpack_only));
    return std::unique_ptr<CompiledModel>(
        std::make_unique<XnnpackModel>(std::move(program), options.threads));
  }
};

}  // namespace

std::unique_ptr<Backend> MakeXnnpackBackend() {
  return std::make_unique<XnnpackBackend>();
}

const XnnpackPlanStats* GetXnnpackPlanStats(const CompiledModel& model) {
  const auto* xnnpack = dynamic_cast<const XnnpackModel*>(&model);
  return xnnpack ? &xnnpack->stats() : nullptr;
}

XnnpackWeightStats GetXnnpackWeightStats(const CompiledModel& model) {
  const auto* xnnpack = dynamic_cast<const XnnpackModel*>(&model);
  return xnnpack ? xnnpack->weight_stats() : XnnpackWeightStats{};
}

Status CheckProfileRequest(size_t input_floats, size_t model_input_floats, int runs) {
  if (runs < 1) return InvalidArgument("profile: runs must be at least 1");
  if (input_floats != model_input_floats) {
    return InvalidArgument("profile: got " + std::to_string(input_floats) + " input floats, the model takes " +
                           std::to_string(model_input_floats));
  }
  return Status::Ok();
}

}  // namespace edgevision::engine
