// `edgevision serve`: wires the components and runs until SIGINT/SIGTERM.
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "cli/commands.h"
#include "cli/load.h"
#include "http/prediction_routes.h"
#include "http/server.h"
#include "http/url_fetcher.h"
#include "predict/model_slot.h"

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
  // --- capture store: open the store, add it to prediction_api.observers, add its routes ---
  http::AddPredictionRoutes(&router, prediction_api);
  http::HealthApi health_api;
  health_api.slot = &slot;
  health_api.version = EDGEVISION_VERSION;
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
  return exit_code;
}

}  // namespace edgevision::cli
