// `edgevision serve`: wires the components and runs until SIGINT/SIGTERM.
#include <pthread.h>
#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "cli/capture_twin.h"
#include "cli/commands.h"
#include "cli/load.h"
#include "core/guard.h"
#include "http/access.h"
#include "http/capture_routes.h"
#include "http/model_routes.h"
#include "http/prediction_routes.h"
#include "http/server.h"
#include "http/upstream_health.h"
#include "http/url_fetcher.h"
#include "predict/model_reloader.h"
#include "predict/model_slot.h"
#include "store/capture_service.h"
#include "upstream/prediction_publisher.h"
#include "upstream/upstream.h"

namespace edgevision::cli {

namespace {

// Allocator settings for a long-running server on a small device (RunServe).
constexpr int kMallocArenas = 2;
constexpr int kMallocMmapThreshold = 256 * 1024;

int CpuCount() {
  unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

// Keys from a file and/or an environment variable (never from flags).
Result<std::vector<std::string>> LoadKeys(const std::string& file, const char* env_name) {
  std::vector<std::string> keys;
  if (!file.empty()) {
    EV_ASSIGN_OR_RETURN(keys, http::ReadKeyFile(file));
  }
  if (const char* value = std::getenv(env_name); value && *value) {
    EV_ASSIGN_OR_RETURN(std::vector<std::string> more, http::ParseKeys(value, std::string("$") + env_name));
    keys.insert(keys.end(), more.begin(), more.end());
  }
  return keys;
}

Result<http::AccessKeys> LoadAccessKeys(const ServeOptions& options) {
  http::AccessKeys keys;
  EV_ASSIGN_OR_RETURN(keys.prediction, LoadKeys(options.prediction_key_file, "EDGEVISION_PREDICTION_KEY"));
  EV_ASSIGN_OR_RETURN(keys.admin, LoadKeys(options.admin_key_file, "EDGEVISION_ADMIN_KEY"));
  EV_ASSIGN_OR_RETURN(keys.health, LoadKeys(options.health_key_file, "EDGEVISION_HEALTH_KEY"));
  return keys;
}

const char* Who(const http::AccessControl& access, http::Access a) {
  return access.Required(a) ? "key required" : "open";
}

// Exits the process if shutdown has not finished by the deadline: IoT Edge
// and Kubernetes kill a container that outstays its grace period anyway.
class ShutdownWatchdog {
 public:
  explicit ShutdownWatchdog(std::chrono::seconds limit)
      : thread_([this, limit] {
          std::unique_lock<std::mutex> lock(mu_);
          if (!cv_.wait_for(lock, limit, [&] { return done_; })) {
            spdlog::error("shutdown did not finish within {} s (--shutdown-timeout); exiting now", limit.count());
            spdlog::default_logger()->flush();
            std::_Exit(3);
          }
        }) {}
  ~ShutdownWatchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  std::thread thread_;
};

}  // namespace

int RunServe(const ServeOptions& options) {
  // glibc gives each thread that allocates its own malloc arena, and keeps
  // freed image buffers in them: with 16+ connection threads decoding in turn,
  // RSS grew to ~69 MB serving a 3 MB model. Two arenas and a fixed mmap
  // threshold (large decode buffers go back to the OS) keep it at ~45 MB
  // (docs/performance.md#footprint). MALLOC_ARENA_MAX etc. still override.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, kMallocArenas);
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) mallopt(M_MMAP_THRESHOLD, kMallocMmapThreshold);
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
  if (options.queue_depth >= 0) classifier_options.max_waiting = options.queue_depth;
  if (options.queue_timeout_ms > 0) classifier_options.queue_timeout = std::chrono::milliseconds(options.queue_timeout_ms);

  Result<http::AccessKeys> keys = LoadAccessKeys(options);
  if (!keys.ok()) {
    PrintError(keys.status());
    return 2;
  }
  const http::AccessControl access(*keys);

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
  // With a module twin, capturing can be switched on live (capture_twin.h).
  upstream::Publisher* twin_publisher =
      *upstream_publisher && (*upstream_publisher)->uses_twin() ? upstream_publisher->get() : nullptr;
  capture_options.live_policy = twin_publisher != nullptr;
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
  if (twin_publisher) {
    store::CaptureRecorder* recorder = captures ? captures->recorder() : nullptr;
    twin_publisher->SetCaptureHandler([recorder, configured = *capture_policy](const upstream::DesiredCapture& d) -> Status {
      if (recorder == nullptr) return Unavailable("no capture store (set --data-dir)");
      EV_ASSIGN_OR_RETURN(TwinCapturePolicy applied, CapturePolicyFromTwin(d, configured));
      recorder->SetPolicy(applied.policy);
      spdlog::info("capture policy from the module twin: {}", applied.policy.ToString());
      if (!applied.not_applied.empty()) return Unsupported(applied.not_applied);
      return Status::Ok();
    });
  }
  // Hot model swap: POST /model/reload, and --model-watch.
  predict::ModelReloader reloader(
      &slot, model_path,
      [&model_path, &classifier_options, workers]() -> Result<std::shared_ptr<const predict::Classifier>> {
        const auto start = std::chrono::steady_clock::now();
        EV_ASSIGN_OR_RETURN(std::unique_ptr<predict::Classifier> c, LoadClassifier(model_path, classifier_options));
        const model::ModelInfo& info = c->info();
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        spdlog::info("model {} ({}, {}, sha1 {}) ready in {:.0f} ms: {} tags, input {}x{}, {} workers x {} threads",
                     info.model_file, info.format, info.generation, info.model_sha1, ms, info.labels.size(),
                     c->preprocess().input_width, c->preprocess().input_height, workers,
                     classifier_options.threads_per_inference);
        return std::shared_ptr<const predict::Classifier>(std::move(c));
      },
      predict::ReloaderOptions{std::chrono::milliseconds(1000LL * std::max(0, options.model_watch_s))});
  http::AddModelRoutes(&router, http::ModelApi{&reloader, &slot});
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
  health_api.sections.push_back(http::ReloadHealthSection(&reloader));
  http::HttpServer* server_ptr = nullptr;  // set below; /health is served only after that
  health_api.sections.push_back([&server_ptr, &access](nlohmann::json* doc) {
    if (!server_ptr) return;
    const http::ServerStats st = server_ptr->stats();
    (*doc)["http"] = {{"open", st.open},
                      {"threads", st.threads},
                      {"connections", st.connections},
                      {"shed", st.shed},
                      {"headerTimeouts", st.header_timeouts},
                      {"transferTimeouts", st.transfer_timeouts}};
    // Whether keys are required; never the keys.
    (*doc)["access"] = {{"prediction", access.Required(http::Access::kPredict)},
                        {"admin", access.Required(http::Access::kAdmin)},
                        {"health", access.Required(http::Access::kHealth)}};
  });
  http::AddHealthRoutes(&router, health_api);

  http::ServerLimits limits;
  if (options.max_body_bytes > 0) limits.max_body_bytes = options.max_body_bytes;
  if (options.http_threads > 0) limits.http_threads = options.http_threads;
  if (options.max_connections > 0) limits.max_connections = options.max_connections;
  if (options.header_timeout_s > 0) limits.header_timeout = std::chrono::seconds(options.header_timeout_s);
  limits.http_threads = std::min(limits.http_threads, limits.max_connections);
  // SIGTERM: requests in progress get two thirds of --shutdown-timeout; the
  // rest is left for flushing the capture store and the outbox.
  limits.drain_timeout = std::chrono::milliseconds(options.shutdown_timeout_s * 2000 / 3);
  http::HttpServer server(std::move(router), limits, {options.tls_cert, options.tls_key}, access);
  server_ptr = &server;
  Result<int> port = server.Bind(options.host, options.port);
  if (!port.ok()) {
    PrintError(port.status());
    return 1;
  }
  // HTTP starts before the model is ready so /health can say "loading".
  std::thread http_thread = GuardedThread("HTTP server", [&server] {
    Status s = server.Serve();
    if (!s.ok()) spdlog::error("{}", s.message());
  });
  spdlog::info("edgevision {} listening on {}:{} ({}); access: predictions {}, captures/admin {}, health {}",
               EDGEVISION_VERSION, options.host, *port, options.tls_cert.empty() ? "HTTP" : "HTTPS",
               Who(access, http::Access::kPredict), Who(access, http::Access::kAdmin),
               Who(access, http::Access::kHealth));

  int exit_code = 0;
  if (Status loaded = reloader.Reload("start"); !loaded.ok()) {
    PrintError(loaded);
    exit_code = 1;
  } else {
    reloader.Start();
    int sig = 0;
    sigwait(&signals, &sig);
    spdlog::info("received {}, shutting down (at most {} s)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                 options.shutdown_timeout_s);
  }
  // Drain: stop accepting, let requests in progress finish (their
  // predictions reach the observers), then flush the capture writer and the
  // outbox. The watchdog bounds the whole sequence.
  ShutdownWatchdog watchdog(std::chrono::seconds(std::max(1, options.shutdown_timeout_s)));
  const auto stop_start = std::chrono::steady_clock::now();
  reloader.Stop();
  server.Stop();
  http_thread.join();
  const http::ServerStats st = server.stats();
  // Upstream publishing: wait briefly for PUBACKs, disconnect, close the outbox.
  if (*upstream_publisher) (*upstream_publisher)->Stop();
  // Capture store: write what is queued, close the database.
  if (captures) captures->Stop();
  spdlog::info("stopped in {:.0f} ms ({} connections served, {} shed)",
               std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - stop_start).count(),
               st.connections, st.shed);
  return exit_code;
}

}  // namespace edgevision::cli
