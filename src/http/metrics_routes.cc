#include "http/metrics_routes.h"

#include <algorithm>
#include <chrono>

#include "model/generation.h"

namespace edgevision::http {

namespace {

using metrics::Labels;
using metrics::TextWriter;

// The last upstream error as a label value is cut to this length.
constexpr size_t kMaxErrorLabelBytes = 256;

double Seconds(double ms) { return ms / 1000.0; }

double EpochSeconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

double D(uint64_t v) { return static_cast<double>(v); }
double D(int64_t v) { return static_cast<double>(v); }

}  // namespace

RequestMetrics::RequestMetrics(metrics::Registry* registry)
    : requests_(registry->AddCounterFamily("edgevision_requests_total",
                                           "HTTP requests answered, by method, route pattern and status code "
                                           "(scrapes of /metrics are not counted here).",
                                           {"method", "route", "status"})),
      scrapes_(registry->AddCounter("edgevision_metrics_scrapes_total", "Scrapes of /metrics answered.")) {}

void RequestMetrics::Record(const RequestOutcome& outcome) {
  if (outcome.route == kMetricsPath && outcome.status == 200) {
    scrapes_->Increment();
    return;
  }
  requests_->With({std::string(outcome.method), std::string(outcome.route), std::to_string(outcome.status)})
      ->Increment();
}

PredictionMetrics::PredictionMetrics(metrics::Registry* registry) {
  metrics::HistogramFamily* stages = registry->AddHistogramFamily(
      "edgevision_prediction_stage_seconds",
      "Time spent per stage of a successful prediction: decode, preprocess, queue (waiting for an inference "
      "worker), inference, and total (from the handler's start to the response body).",
      {"stage"}, metrics::LatencyBuckets());
  decode_ = stages->With({"decode"});
  preprocess_ = stages->With({"preprocess"});
  queue_ = stages->With({"queue"});
  inference_ = stages->With({"inference"});
  total_ = stages->With({"total"});
  by_tag_ = registry->AddCounterFamily("edgevision_predictions_total",
                                       "Successful predictions, by the tag with the highest probability.", {"tag"});
  probability_ = registry->AddHistogramFamily("edgevision_prediction_probability",
                                              "The highest probability of each prediction, by its tag.", {"tag"},
                                              metrics::ProbabilityBuckets());
}

void PredictionMetrics::OnPrediction(const predict::PredictionRecord& record) {
  if (record.result) {
    const predict::Timings& t = record.result->timings;
    decode_->Observe(Seconds(t.decode_ms));
    preprocess_->Observe(Seconds(t.preprocess_ms));
    queue_->Observe(Seconds(t.queue_ms));
    inference_->Observe(Seconds(t.inference_ms));
  }
  if (record.received != std::chrono::steady_clock::time_point{}) {
    total_->Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - record.received).count());
  }
  // The answer's top tag: scores are sorted by probability; detections are
  // not. A prediction with no tag at all is counted under tag="".
  if (record.detections) {
    const auto top = std::max_element(
        record.detections->begin(), record.detections->end(),
        [](const detect::Detection& a, const detect::Detection& b) { return a.probability < b.probability; });
    if (top == record.detections->end()) {
      by_tag_->With({""})->Increment();
    } else {
      by_tag_->With({top->tag})->Increment();
      probability_->With({top->tag})->Observe(top->probability);
    }
  } else if (record.result && !record.result->scores.empty()) {
    const predict::TagScore& top = record.result->scores.front();
    by_tag_->With({top.tag})->Increment();
    probability_->With({top.tag})->Observe(top.probability);
  } else if (record.result) {
    by_tag_->With({""})->Increment();
  }
}

void AddMetricsRoute(Router* router, const metrics::Registry* registry) {
  router->Add("GET", kMetricsPath, [registry](const HttpRequest&) {
    HttpResponse res;
    res.content_type = std::string(metrics::kContentType);
    res.body = registry->Render();
    return res;
  }, false, Access::kHealth);
}

metrics::Registry::Collector DeliveryCollector(const delivery::ModelDelivery* delivery) {
  return [delivery](TextWriter* out) {
    const delivery::DeliveryStatus s = delivery->status();
    out->Family("edgevision_model_delivery_state", "gauge", "Model delivery's state: 1 for the current one.");
    for (delivery::DeliveryState state :
         {delivery::DeliveryState::kIdle, delivery::DeliveryState::kDownloading, delivery::DeliveryState::kVerifying,
          delivery::DeliveryState::kUnpacking, delivery::DeliveryState::kLoading, delivery::DeliveryState::kApplied,
          delivery::DeliveryState::kFailed, delivery::DeliveryState::kRolledBack}) {
      out->Sample("edgevision_model_delivery_state", {{"state", delivery::DeliveryStateName(state)}},
                  state == s.state ? 1 : 0);
    }
    out->Family("edgevision_model_deliveries_total", "counter",
                "Delivered models since start, by result (failed: never swapped in; rolled_back: swapped out again).");
    out->Sample("edgevision_model_deliveries_total", {{"result", "applied"}}, D(s.applied));
    out->Sample("edgevision_model_deliveries_total", {{"result", "failed"}}, D(s.failed));
    out->Sample("edgevision_model_deliveries_total", {{"result", "rolled_back"}}, D(s.rolled_back));
    out->Single("edgevision_model_delivery_downloaded_bytes_total", "counter",
                "Bytes of models downloaded since start (resumed parts counted once).", D(s.downloaded_bytes));
  };
}

metrics::Registry::Collector ModelCollector(const predict::ModelSlot* slot, const predict::ModelReloader* reloader) {
  return [slot, reloader](TextWriter* out) {
    const predict::ModelSlot::State state = slot->state();
    out->Single("edgevision_model_ready", "gauge", "1 when a model is loaded and serving, else 0.",
                state == predict::ModelSlot::State::kReady ? 1 : 0);
    out->Family("edgevision_model_state", "gauge", "The model slot's state: 1 for the current one.");
    for (auto [s, name] : {std::pair{predict::ModelSlot::State::kLoading, "loading"},
                           std::pair{predict::ModelSlot::State::kReady, "ready"},
                           std::pair{predict::ModelSlot::State::kFailed, "failed"}}) {
      out->Sample("edgevision_model_state", {{"state", name}}, s == state ? 1 : 0);
    }
    if (std::shared_ptr<const predict::Classifier> c = slot->Get()) {
      const model::ModelInfo& m = c->info();
      out->Single("edgevision_model_info", "gauge", "The serving model: always 1; its facts are the labels.", 1,
                  {{"format", m.format},
                   {"generation", m.generation},
                   {"export_generation", std::string(model::GenerationName(m.export_generation))},
                   {"domain", m.domain},
                   {"sha1", m.model_sha1},
                   {"file", m.model_file},
                   {"iteration", m.iteration_id}});
      out->Single("edgevision_model_tags", "gauge", "Tags the serving model knows.", static_cast<double>(m.labels.size()));
      out->Single("edgevision_model_loaded_timestamp_seconds", "gauge",
                  "When the serving model was put into service (Unix time).", EpochSeconds(slot->ready_since()));
    }
    if (reloader) {
      const predict::ReloadStats r = reloader->stats();
      out->Family("edgevision_model_reloads_total", "counter",
                  "Model reloads after the first load, by result (a failed reload leaves the previous model serving).");
      out->Sample("edgevision_model_reloads_total", {{"result", "success"}}, D(r.reloads));
      out->Sample("edgevision_model_reloads_total", {{"result", "failure"}}, D(r.failures));
      out->Single("edgevision_model_watching", "gauge", "1 when the model path is watched for changes.",
                  r.watching ? 1 : 0);
      if (r.last_reload) {
        out->Single("edgevision_model_last_reload_timestamp_seconds", "gauge",
                    "When the model was last reloaded successfully (Unix time).", EpochSeconds(*r.last_reload));
      }
    }
  };
}

metrics::Registry::Collector QueueCollector(const predict::ModelSlot* slot) {
  return [slot](TextWriter* out) {
    predict::QueueStats q;
    if (std::shared_ptr<const predict::Classifier> c = slot->Get()) q = c->queue_stats();
    out->Single("edgevision_inference_workers", "gauge", "Inference workers (engine sessions) of the serving model.",
                q.workers);
    out->Single("edgevision_inference_workers_busy", "gauge", "Inference workers running a request now.", q.busy);
    out->Single("edgevision_queue_depth", "gauge", "Requests waiting for an inference worker now.", q.waiting);
  };
}

metrics::Registry::Collector ServerCollector(std::function<ServerStats()> stats) {
  return [stats = std::move(stats)](TextWriter* out) {
    const ServerStats s = stats();
    out->Single("edgevision_http_open_connections", "gauge", "HTTP connections open now.", s.open);
    out->Single("edgevision_http_threads", "gauge", "HTTP connection threads now.", s.threads);
    out->Single("edgevision_http_connections_total", "counter", "HTTP connections accepted and served.",
                D(s.connections));
    out->Single("edgevision_http_connections_shed_total", "counter",
                "HTTP connections refused with 503 at --max-connections.", D(s.shed));
    out->Family("edgevision_http_timeouts_total", "counter",
                "HTTP connections closed because a deadline passed, by phase.");
    out->Sample("edgevision_http_timeouts_total", {{"phase", "header"}}, D(s.header_timeouts));
    out->Sample("edgevision_http_timeouts_total", {{"phase", "transfer"}}, D(s.transfer_timeouts));
  };
}

metrics::Registry::Collector StoreCollector(const CaptureApi& api) {
  return [api](TextWriter* out) {
    out->Single("edgevision_capture_store_enabled", "gauge", "1 when the capture store is open.",
                api.store ? 1 : 0);
    if (!api.store) return;
    const store::StoreHealth h = api.store->Health();
    out->Single("edgevision_capture_store_captures", "gauge", "Captures in the store.", D(h.captures));
    out->Family("edgevision_capture_store_bytes", "gauge", "Bytes the store uses, by kind.");
    out->Sample("edgevision_capture_store_bytes", {{"kind", "images"}}, D(h.image_bytes));
    out->Sample("edgevision_capture_store_bytes", {{"kind", "database"}}, D(h.db_bytes));
    out->Single("edgevision_capture_store_quota_bytes", "gauge",
                "The store's size limit (--capture-max-bytes); the oldest captures are removed beyond it.",
                D(h.quota_bytes));
    out->Single("edgevision_capture_store_paused", "gauge",
                "1 while storing is paused (disk full or below --capture-min-free-bytes).", h.paused ? 1 : 0);
    out->Single("edgevision_capture_store_added_total", "counter", "Captures added since start.", D(h.added));
    out->Single("edgevision_capture_store_removed_total", "counter",
                "Captures removed by retention (quota or age) since start.", D(h.removed_by_retention));
    if (!api.recorder) return;
    const store::RecorderStats r = api.recorder->stats();
    out->Single("edgevision_captures_queued", "gauge", "Captures waiting for the store's writer.", D(r.queued));
    out->Single("edgevision_captures_stored_total", "counter", "Captures written and committed since start.",
                D(r.stored));
    out->Family("edgevision_captures_dropped_total", "counter", "Captures the policy chose but that were not stored, by reason.");
    out->Sample("edgevision_captures_dropped_total", {{"reason", "queue_full"}}, D(r.dropped_queue_full));
    out->Sample("edgevision_captures_dropped_total", {{"reason", "disk_full"}}, D(r.dropped_disk_full));
    out->Sample("edgevision_captures_dropped_total", {{"reason", "error"}}, D(r.dropped_error));
  };
}

metrics::Registry::Collector UpstreamCollector(std::function<upstream::UpstreamStatus()> status) {
  return [status = std::move(status)](TextWriter* out) {
    const upstream::UpstreamStatus s = status();
    out->Single("edgevision_upstream_connected", "gauge", "1 while connected to the upstream broker or hub.",
                s.connected ? 1 : 0, {{"kind", s.kind}});
    out->Single("edgevision_upstream_outbox_messages", "gauge", "Messages waiting in the outbox.", D(s.outbox.depth));
    out->Single("edgevision_upstream_outbox_bytes", "gauge", "Payload bytes waiting in the outbox.", D(s.outbox.bytes));
    out->Single("edgevision_upstream_in_flight_messages", "gauge", "Messages sent and not yet acknowledged.",
                D(s.in_flight));
    out->Single("edgevision_upstream_sent_total", "counter",
                "Messages handed to the broker since start (resends after a reconnect included).", D(s.sent));
    out->Single("edgevision_upstream_acked_total", "counter", "Messages the broker acknowledged since start.",
                D(s.published));
    out->Single("edgevision_upstream_filtered_total", "counter", "Predictions the publish rule left out.",
                D(s.filtered));
    out->Family("edgevision_upstream_dropped_total", "counter", "Messages dropped from the outbox, by reason.");
    out->Sample("edgevision_upstream_dropped_total", {{"reason", "full"}}, D(s.outbox.dropped_full));
    out->Sample("edgevision_upstream_dropped_total", {{"reason", "expired"}}, D(s.outbox.dropped_expired));
    out->Sample("edgevision_upstream_dropped_total", {{"reason", "too_large"}}, D(s.outbox.dropped_too_large));
    out->Sample("edgevision_upstream_dropped_total", {{"reason", "corrupt"}}, D(s.outbox.dropped_corrupt));
    out->Single("edgevision_upstream_enqueue_failures_total", "counter",
                "Predictions that could not be written to the outbox.", D(s.enqueue_failures));
    out->Single("edgevision_upstream_connection_failures_total", "counter",
                "Failed connection attempts and lost connections.", D(s.connection_failures));
    if (s.outbox.oldest) {
      out->Single("edgevision_upstream_outbox_oldest_timestamp_seconds", "gauge",
                  "When the oldest message waiting in the outbox was made (Unix time).", EpochSeconds(*s.outbox.oldest));
    }
    if (s.last_error_at) {
      out->Single("edgevision_upstream_last_error_timestamp_seconds", "gauge",
                  "When upstream publishing last failed (Unix time).", EpochSeconds(*s.last_error_at));
      out->Single("edgevision_upstream_last_error_info", "gauge",
                  "The last upstream error: always 1; the message is the label.", 1, {{"message", s.last_error.substr(0, kMaxErrorLabelBytes)}});
    }
  };
}

metrics::Registry::Collector BuildInfoCollector(std::string version) {
  return [version = std::move(version)](TextWriter* out) {
    out->Single("edgevision_build_info", "gauge", "The running edgevision: always 1; its version is the label.", 1,
                {{"version", version}});
  };
}

}  // namespace edgevision::http
