#include "predict/plan_cache.h"

#include <algorithm>
#include <string>

#include "graph/normalize.h"

namespace edgevision::predict {

class ShapePlanCache::Plan {
 public:
  Plan(std::unique_ptr<engine::CompiledModel> compiled, graph::Shape output_shape)
      : compiled_(std::move(compiled)), output_shape_(std::move(output_shape)) {}

  Result<std::unique_ptr<engine::Session>> Take() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!idle_.empty()) {
        std::unique_ptr<engine::Session> s = std::move(idle_.back());
        idle_.pop_back();
        return s;
      }
    }
    return compiled_->CreateSession();
  }
  void Give(std::unique_ptr<engine::Session> session) {
    std::lock_guard<std::mutex> lock(mu_);
    idle_.push_back(std::move(session));
  }
  const graph::Shape& output_shape() const { return output_shape_; }
  size_t output_size() const { return compiled_->output_size(); }

 private:
  const std::unique_ptr<engine::CompiledModel> compiled_;
  const graph::Shape output_shape_;
  std::mutex mu_;
  std::vector<std::unique_ptr<engine::Session>> idle_;  // guarded by mu_
};

ShapePlanCache::Lease::Lease(std::shared_ptr<Plan> plan, std::unique_ptr<engine::Session> session)
    : plan_(std::move(plan)), session_(std::move(session)) {}
ShapePlanCache::Lease::Lease(Lease&&) noexcept = default;
ShapePlanCache::Lease::~Lease() {
  if (plan_ && session_) plan_->Give(std::move(session_));
}
const graph::Shape& ShapePlanCache::Lease::output_shape() const { return plan_->output_shape(); }
size_t ShapePlanCache::Lease::output_size() const { return plan_->output_size(); }

ShapePlanCache::ShapePlanCache(graph::Graph graph, std::shared_ptr<const engine::Backend> backend,
                               engine::EngineOptions options, int capacity)
    : graph_(std::move(graph)), backend_(std::move(backend)), options_(options),
      capacity_(std::max(1, capacity)) {
  stats_.capacity = capacity_;
}

ShapePlanCache::~ShapePlanCache() = default;

Result<std::shared_ptr<ShapePlanCache::Plan>> ShapePlanCache::Compile(int height, int width) const {
  if (graph_.inputs.size() != 1) return InvalidArgument("plan cache: the graph must have one input");
  graph::Graph g = graph_;
  graph::Value& input = g.values[g.inputs[0]];
  if (input.shape.size() != 4) return InvalidArgument("plan cache: the input is not NHWC");
  input.shape = {1, height, width, input.shape[3]};
  const std::string size = std::to_string(width) + "x" + std::to_string(height);
  if (Status s = graph::InferShapes(&g); !s.ok()) {
    return InvalidArgument("the model cannot run at " + size + ": " + s.message());
  }
  EV_ASSIGN_OR_RETURN(std::unique_ptr<engine::CompiledModel> compiled, backend_->Compile(g, options_));
  return std::make_shared<Plan>(std::move(compiled), g.values[g.outputs[0]].shape);
}

Result<ShapePlanCache::Lease> ShapePlanCache::Acquire(int height, int width) {
  const std::pair<int, int> key{height, width};
  auto find = [&]() -> std::shared_ptr<Plan> {
    for (auto it = plans_.begin(); it != plans_.end(); ++it) {
      if (it->first != key) continue;
      plans_.splice(plans_.begin(), plans_, it);  // most recently used first
      return plans_.front().second;
    }
    return nullptr;
  };
  std::shared_ptr<Plan> plan;
  {
    std::lock_guard<std::mutex> lock(mu_);
    plan = find();
    if (plan) ++stats_.hits;
  }
  if (!plan) {
    std::lock_guard<std::mutex> compiling(compile_mu_);
    {
      std::lock_guard<std::mutex> lock(mu_);
      plan = find();  // compiled by another request while this one waited
      if (plan) ++stats_.hits;
    }
    if (!plan) {
      Result<std::shared_ptr<Plan>> compiled = Compile(height, width);
      std::lock_guard<std::mutex> lock(mu_);
      if (!compiled.ok()) {
        ++stats_.failures;
        return compiled.status();
      }
      plan = std::move(compiled).value();
      ++stats_.misses;
      plans_.emplace_front(key, plan);
      while (static_cast<int>(plans_.size()) > capacity_) {
        plans_.pop_back();
        ++stats_.evictions;
      }
    }
  }
  EV_ASSIGN_OR_RETURN(std::unique_ptr<engine::Session> session, plan->Take());
  return Lease(std::move(plan), std::move(session));
}

PlanCacheStats ShapePlanCache::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  PlanCacheStats s = stats_;
  s.shapes.clear();
  for (const auto& [key, plan] : plans_) s.shapes.push_back(key);
  return s;
}

}  // namespace edgevision::predict
