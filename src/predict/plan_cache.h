// ShapePlanCache: one model compiled at several input sizes.
//
// A compact detector is fully convolutional and its containers run it at the
// size of each resized image (about 512^2 pixels, sides multiples of 32), so
// the engine needs one compiled plan per input shape. Compiling (planning
// memory, packing weights) costs far more than an inference, so plans are
// kept per shape, at most `capacity` of them, least recently used evicted
// first. Each plan keeps the sessions it has created (at most one per
// concurrent request; callers bound concurrency, see predict/detector.h).
//
// A plan is the graph with its input set to [1, H, W, C] and every shape
// inferred again (graph::InferShapes); a graph whose layers cannot take that
// size fails that request only (InvalidArgument), not the cache.
//
// Thread-safety: all methods are safe from any thread. A lease keeps its plan
// alive after eviction; the plan is freed when the last lease goes.
#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "core/status.h"
#include "engine/backend.h"
#include "graph/graph.h"

namespace edgevision::predict {

// Named limit: compiled input shapes kept per detector. Each holds its own
// activation arena and packed weights per session. Phone and camera images
// come in a handful of aspect ratios (4:3, 3:4, 16:9, 1:1, ...).
inline constexpr int kDefaultMaxPlans = 8;

struct PlanCacheStats {
  int capacity = 0;
  uint64_t hits = 0;       // a request found its shape compiled
  uint64_t misses = 0;     // a request compiled a plan
  uint64_t evictions = 0;  // plans dropped for the capacity
  uint64_t failures = 0;   // shapes the graph could not be compiled at
  std::vector<std::pair<int, int>> shapes;  // (height, width) cached, most recently used first
};

class ShapePlanCache {
 public:
  // `graph`: normalised, one NHWC input. Errors are reported by Acquire.
  ShapePlanCache(graph::Graph graph, std::shared_ptr<const engine::Backend> backend,
                 engine::EngineOptions options, int capacity);
  ~ShapePlanCache();
  ShapePlanCache(const ShapePlanCache&) = delete;
  ShapePlanCache& operator=(const ShapePlanCache&) = delete;

  class Plan;
  // A session of the plan for one shape, given back when the lease goes.
  class Lease {
   public:
    Lease(std::shared_ptr<Plan> plan, std::unique_ptr<engine::Session> session);
    Lease(Lease&&) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    engine::Session* session() const { return session_.get(); }
    // The output's shape at this input size, e.g. [1, 14, 19, 35].
    const graph::Shape& output_shape() const;
    size_t output_size() const;

   private:
    std::shared_ptr<Plan> plan_;
    std::unique_ptr<engine::Session> session_;
  };

  // The plan for input [1, height, width, channels], compiled now on a miss.
  // Errors: InvalidArgument when the graph cannot run at that size; the
  // backend's errors.
  Result<Lease> Acquire(int height, int width);

  PlanCacheStats stats() const;

 private:
  Result<std::shared_ptr<Plan>> Compile(int height, int width) const;

  const graph::Graph graph_;
  const std::shared_ptr<const engine::Backend> backend_;
  const engine::EngineOptions options_;
  const int capacity_;

  mutable std::mutex mu_;
  // Most recently used first; guarded by mu_.
  std::list<std::pair<std::pair<int, int>, std::shared_ptr<Plan>>> plans_;
  PlanCacheStats stats_;  // guarded by mu_ (shapes filled by stats())
  // Serialises compilation so two requests for a new shape compile it once.
  std::mutex compile_mu_;
};

}  // namespace edgevision::predict
