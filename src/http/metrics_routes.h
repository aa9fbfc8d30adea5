// GET /metrics: Prometheus metrics (docs/operations.md has the reference).
//
// What is counted on the request path (atomics, metrics/registry.h):
//   RequestMetrics     every HTTP answer by method, route pattern and status
//                      (HttpServer's request observer); /metrics scrapes are
//                      counted apart, as edgevision_metrics_scrapes_total, so
//                      scraping does not change the request counts
//   PredictionMetrics  every successful prediction: per-stage latency and
//                      the top tag with its probability (a PredictionObserver)
// What is read at scrape time (collectors: nothing is counted twice):
//   ModelCollector     slot state, model info, load time, reloads
//   QueueCollector     waiting requests and busy inference workers
//   ServerCollector    open connections, connections served, shed, timeouts
//   StoreCollector     the capture store and its recorder
//   UpstreamCollector  the publisher and its outbox
//   DeliveryCollector  model delivery: state, results, bytes downloaded
// plus metrics::ProcessCollector (RSS, CPU, open fds).
//
// Access: /metrics is Access::kHealth, like /health (a health key, when
// configured, is required; Prometheus sends it as `Authorization: Bearer`).
//
// Thread-safety: everything here is safe from any thread once built.
#pragma once

#include <functional>
#include <string>

#include "delivery/model_delivery.h"
#include "http/capture_routes.h"
#include "http/router.h"
#include "http/server.h"
#include "metrics/registry.h"
#include "predict/model_reloader.h"
#include "predict/model_slot.h"
#include "predict/prediction_observer.h"
#include "upstream/upstream_status.h"

namespace edgevision::http {

// The route that serves the metrics.
inline constexpr const char* kMetricsPath = "/metrics";

// Counts HTTP answers into edgevision_requests_total{method,route,status}.
class RequestMetrics {
 public:
  explicit RequestMetrics(metrics::Registry* registry);
  // HttpServer's request observer. A request no route matched is counted
  // with route="unmatched".
  void Record(const RequestOutcome& outcome);

 private:
  metrics::CounterFamily* requests_;
  metrics::Counter* scrapes_;
};

// Per-stage latency and predictions by top tag.
class PredictionMetrics final : public predict::PredictionObserver {
 public:
  explicit PredictionMetrics(metrics::Registry* registry);
  void OnPrediction(const predict::PredictionRecord& record) override;

 private:
  metrics::Histogram* decode_;
  metrics::Histogram* preprocess_;
  metrics::Histogram* queue_;
  metrics::Histogram* inference_;
  metrics::Histogram* total_;
  metrics::CounterFamily* by_tag_;
  metrics::HistogramFamily* probability_;
};

// Adds GET /metrics (Access::kHealth), rendering `registry`.
void AddMetricsRoute(Router* router, const metrics::Registry* registry);

// Collectors (metrics::Registry::AddCollector).
metrics::Registry::Collector ModelCollector(const predict::ModelSlot* slot, const predict::ModelReloader* reloader);
metrics::Registry::Collector QueueCollector(const predict::ModelSlot* slot);
metrics::Registry::Collector ServerCollector(std::function<ServerStats()> stats);
metrics::Registry::Collector StoreCollector(const CaptureApi& api);
metrics::Registry::Collector UpstreamCollector(std::function<upstream::UpstreamStatus()> status);
metrics::Registry::Collector DeliveryCollector(const delivery::ModelDelivery* delivery);
// edgevision_build_info{version} 1.
metrics::Registry::Collector BuildInfoCollector(std::string version);

}  // namespace edgevision::http
