// `edgevision serve`: wires the components and runs until SIGINT/SIGTERM.
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "cli/commands.h"
#include "cli/load.h"
#include "http/capture_routes.h"
#include "http/prediction_routes.h"
#include "http/server.h"
#include "http/upstream_health.h"
#include "http/url_fetcher.h"
#include "predict/model_slot.h"
#include "store/capture_service.h"
#include "upstream/prediction_publisher.h"
#include "upstream/upstream.h"

namespace edgevision::cli {

namespace {

int CpuCount() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

}  // namespace

int RunServe(const ServeOptions& options) {
  // Signals are taken by sigwait below; block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  const std::string model_path = options.model.empty() ? DefaultModelPath() : options.model;
  predict::ClassifierOptions classifier_options;
  const int threads = options.threads > 0 ? options.threads : CpuCount();
  const int workers = options.workers > 0 ? std::min(options.workers, threads) : threads;
  classifier_options.workers = workers;
  classifier_options.threads_per_inference = std::max(1, threads / workers);

  http::UrlFetchPolicy url_policy;
  url_policy.allow_loopback = options.url_allow_loopback;
  url_policy.allow_cidrs = options.url_allow;
  url_policy.deny_cidrs = options.url_deny;
  Result<std::unique_ptr<http::UrlFetcher>> fetcher = http::MakeCurlFetcher(url_policy);
  if (!fetcher.ok()) {
    PrintError(fetcher.status());
    return 2;
  }

  predict::ModelSlot slot;
  slot.SetLoading(model_path);

  http::Router router;
  http::PredictionApi prediction_api;
  prediction_api.slot = &slot;
  prediction_api.fetcher = fetcher->get();
  // --- upstream publishing: create the publisher, add it to prediction_api.observers ---
  upstream::UpstreamOptions upstream_options;
  upstream_options.target = options.upstream;
  upstream_options.ca_file = options.upstream_ca;
  upstream_options.connection_string = options.connection_string;
  upstream_options.password_file = options.upstream_password_file;
  upstream_options.client_id = options.upstream_client_id;
  upstream_options.output = options.upstream_output;
  upstream_options.data_dir = options.data_dir;
  upstream_options.rule.tags = options.upstream_tags;
  upstream_options.rule.min_probability = options.upstream_min_probability;
  upstream_options.rule.max_probability = options.upstream_max_probability;
  upstream_options.outbox.max_bytes = options.upstream_outbox_max_bytes;
  upstream_options.outbox.max_age = std::chrono::seconds(options.upstream_outbox_max_age_s);
  upstream_options.outbox.sync_full = options.upstream_outbox_sync != "normal";
  upstream_options.limits.token_ttl = std::chrono::seconds(options.upstream_token_ttl_s);
  upstream::PublisherHooks upstream_hooks;
  upstream_hooks.model_info = [&slot]() -> std::optional<upstream::ReportedModel> {
    if (std::shared_ptr<const predict::Classifier> c = slot.Get()) return upstream::ToReportedModel(c->info());
    return std::nullopt;
  };
  Result<std::unique_ptr<upstream::Publisher>> upstream_publisher = upstream::MakePublisher(
      upstream_options, [](const char* name) -> const char* { return std::getenv(name); }, std::move(upstream_hooks),
      EDGEVISION_VERSION);
  if (!upstream_publisher.ok()) {
    PrintError(upstream_publisher.status());
    return 2;
  }
  std::unique_ptr<upstream::UpstreamObserver> upstream_observer;
  if (*upstream_publisher) {
    upstream_observer = std::make_unique<upstream::UpstreamObserver>(upstream_publisher->get());
    prediction_api.observers.push_back(upstream_observer.get());
    (*upstream_publisher)->Start();
  }
  // --- capture store: open the store, add it to prediction_api.observers, add its routes ---
  Result<store::CapturePolicy> capture_policy = store::CapturePolicy::Parse(options.capture, options.capture_tags);
  if (!capture_policy.ok()) {
    PrintError(capture_policy.status());
    return 2;
  }
  if (capture_policy->enabled() && options.data_dir.empty()) {
    PrintError(InvalidArgument("--capture " + options.capture + " needs --data-dir (where captures are stored)"));
    return 2;
  }
  store::CaptureServiceOptions capture_options;
  capture_options.data_dir = options.data_dir;
  capture_options.store.max_bytes = options.capture_max_bytes;
  capture_options.store.max_age = std::chrono::hours(24) * options.capture_max_age_days;
  capture_options.store.min_free_bytes = options.capture_min_free_bytes;
  capture_options.recorder.queue_depth = options.capture_queue;
  // A store that cannot open (disk full, corrupt, locked) disables capturing,
  // never prediction; /health reports why.
  std::string capture_error;
  Result<std::unique_ptr<store::CaptureService>> capture_service =
      store::CaptureService::Start(capture_options, *capture_policy);
  if (!capture_service.ok()) {
    capture_error = capture_service.status().message();
    spdlog::error("capture store disabled: {}", capture_service.status().ToString());
  }
  store::CaptureService* captures = capture_service.ok() ? capture_service->get() : nullptr;
  http::CaptureApi capture_api{captures ? captures->store() : nullptr, captures ? captures->recorder() : nullptr,
                               &slot};
  if (captures) {
    if (captures->recorder()) prediction_api.observers.push_back(captures->recorder());
    http::AddCaptureRoutes(&router, capture_api);
  }
  http::AddPredictionRoutes(&router, prediction_api);
  http::HealthApi health_api;
  health_api.slot = &slot;
  health_api.version = EDGEVISION_VERSION;
  if (upstream::Publisher* p = upstream_publisher->get()) {  // upstream publishing: its /health member
    health_api.sections.push_back(http::UpstreamHealthSection([p] { return p->GetStatus(); }));
  }
  health_api.sections.push_back([capture_api, capture_error](nlohmann::json* doc) {  // capture store
    http::AddStoreHealth(capture_api, capture_error, doc);
  });
  http::AddHealthRoutes(&router, health_api);

  http::ServerLimits limits;
  if (options.max_body_bytes > 0) limits.max_body_bytes = options.max_body_bytes;
  if (options.http_threads > 0) limits.http_threads = options.http_threads;
  http::HttpServer server(std::move(router), limits, {options.tls_cert, options.tls_key});
  Result<int> port = server.Bind(options.host, options.port);
  if (!port.ok()) {
    PrintError(port.status());
    return 1;
  }
  // HTTP starts before the model is ready so /health can say "loading".
  std::thread http_thread([&server] {
    Status s = server.Serve();
    if (!s.ok()) spdlog::error("{}", s.message());
  });
  spdlog::info("edgevision {} listening on {}:{}", EDGEVISION_VERSION, options.host, *port);

  const auto start = std::chrono::steady_clock::now();
  Result<std::unique_ptr<predict::Classifier>> classifier = LoadClassifier(model_path, classifier_options);
  int exit_code = 0;
  if (!classifier.ok()) {
    slot.SetFailed(classifier.status());
    PrintError(classifier.status());
    exit_code = 1;
  } else {
    const model::ModelInfo& info = (*classifier)->info();
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    spdlog::info("model {} ({}, {}) ready in {:.0f} ms: {} tags, input {}x{}, {} workers x {} threads", info.model_file,
                 info.format, info.generation, ms, info.labels.size(), (*classifier)->preprocess().input_width,
                 (*classifier)->preprocess().input_height, workers, classifier_options.threads_per_inference);
    slot.SetReady(std::shared_ptr<const predict::Classifier>(std::move(classifier).value()));
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  }
  server.Stop();
  http_thread.join();
  // Upstream publishing: wait briefly for PUBACKs, disconnect, close the outbox.
  if (*upstream_publisher) (*upstream_publisher)->Stop();
  // Capture store: write what is queued, close the database.
  if (captures) captures->Stop();
  return exit_code;
}

}  // namespace edgevision::cli
