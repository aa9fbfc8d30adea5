// `edgevision serve`: wires the components and runs until SIGINT/SIGTERM.
#include <pthread.h>
#include <malloc.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "cli/capture_twin.h"
#include "cli/commands.h"
#include "cli/config.h"
#include "cli/delivery_twin.h"
#include "cli/load.h"
#include "cli/source_twin.h"
#include "core/guard.h"
#include "delivery/model_delivery.h"
#include "http/access.h"
#include "http/capture_routes.h"
#include "http/metrics_routes.h"
#include "http/model_routes.h"
#include "http/prediction_routes.h"
#include "http/server.h"
#include "http/source_routes.h"
#include "http/upstream_health.h"
#include "http/url_fetcher.h"
#include "metrics/process.h"
#include "metrics/registry.h"
#include "predict/model_reloader.h"
#include "predict/model_slot.h"
#include "store/capture_service.h"
#include "stream/source_runner.h"
#include "upstream/prediction_publisher.h"
#include "upstream/upstream.h"

namespace edgevision::cli {

namespace {

// Allocator settings for a long-running server on a small device (RunServe).
constexpr int kMallocArenas = 2;
// Blocks up to the size a worker keeps between requests
// (ClassifierOptions::keep_buffer_bytes) come from the heap; only larger,
// rare ones are mapped and unmapped per request.
constexpr int kMallocMmapThreshold = 8 << 20;
// Free memory at the top of a heap that stays mapped: a request's body and
// the decoder's working memory are reused by the next request instead of
// being unmapped and faulted in again.
constexpr int kMallocTrimThreshold = 8 << 20;

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

// ---- the parts `serve` builds, in start-up order ----------------------------

// Allocator settings for a long-running server on a small device.
// glibc gives each thread that allocates its own malloc arena, and keeps
// freed memory in each: with 16+ connection threads, RSS grew to ~69 MB
// serving a 3 MB model. Two arenas bound that. Image buffers are not
// allocated per request at all (each worker reuses its image::Workspace), so
// the mmap threshold only decides where outsized images go: a fixed 256 KiB
// threshold (f7484bd) made every request map and zero its buffers again
// (377 page faults per request, issue 17). A fixed threshold also turns off
// glibc's dynamic one, which would otherwise rise to the largest block ever
// freed (up to 32 MiB) and keep it. MALLOC_ARENA_MAX etc. still override
// (docs/performance.md#footprint).
void TuneAllocator() {
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, kMallocArenas);
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr) mallopt(M_MMAP_THRESHOLD, kMallocMmapThreshold);
  if (std::getenv("MALLOC_TRIM_THRESHOLD_") == nullptr) mallopt(M_TRIM_THRESHOLD, kMallocTrimThreshold);
}

// Blocks SIGINT and SIGTERM in this thread and every thread started after it;
// WaitForShutdownSignal takes them with sigwait.
sigset_t BlockShutdownSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// What the options decide before any component exists.
struct ServeConfig {
  std::string model_path;
  predict::ClassifierOptions classifier;
  http::AccessKeys keys;
  std::unique_ptr<http::UrlFetcher> fetcher;
  std::unique_ptr<delivery::FileDownloader> downloader;  // model delivery's, same address policy
};

Result<ServeConfig> MakeConfig(const ServeOptions& options) {
  ServeConfig config;
  config.model_path = options.model.empty() ? DefaultModelPath() : options.model;
  const int threads = options.threads > 0 ? options.threads : CpuCount();
  const int workers = options.workers > 0 ? std::min(options.workers, threads) : threads;
  config.classifier.workers = workers;
  config.classifier.threads_per_inference = std::max(1, threads / workers);
  config.classifier.detector = MakeDetectorOptions(options.detection);
  EV_RETURN_IF_ERROR(ApplyPrecision(options.precision, options.data_dir, options.int8_fallback, &config.classifier));
  if (options.queue_depth >= 0) config.classifier.max_waiting = options.queue_depth;
  if (options.queue_timeout_ms > 0) {
    config.classifier.queue_timeout = std::chrono::milliseconds(options.queue_timeout_ms);
  }
  EV_ASSIGN_OR_RETURN(config.keys, LoadAccessKeys(options));
  http::UrlFetchPolicy url_policy;
  url_policy.allow_loopback = options.url_allow_loopback;
  url_policy.allow_cidrs = options.url_allow;
  url_policy.deny_cidrs = options.url_deny;
  EV_ASSIGN_OR_RETURN(config.fetcher, http::MakeCurlFetcher(url_policy));
  const delivery::DeliveryLimits delivery_limits;
  url_policy.timeout = delivery_limits.download_timeout;
  url_policy.connect_timeout = delivery_limits.connect_timeout;
  url_policy.max_bytes = delivery_limits.max_download_bytes;
  EV_ASSIGN_OR_RETURN(config.downloader, http::MakeCurlDownloader(url_policy));
  return config;
}

// Every component `serve` runs. Members are declared in start-up order, so
// an early return destroys them in reverse; ShutDownInOrder is the normal way.
struct ServeParts {
  predict::ModelSlot slot;
  metrics::Registry metrics;  // GET /metrics; instruments first, collectors added by AddRoutes
  std::unique_ptr<http::RequestMetrics> request_metrics;
  std::unique_ptr<http::PredictionMetrics> prediction_metrics;
  http::Router router;
  predict::PredictionSink predictions;  // HTTP predictions and source frames alike; configured before any runs
  http::PredictionApi prediction_api;
  std::unique_ptr<upstream::Publisher> publisher;  // null when upstream publishing is off
  std::unique_ptr<upstream::UpstreamObserver> upstream_observer;
  std::unique_ptr<store::CaptureService> captures;  // null when off or when the store failed
  std::string capture_error;                        // why the store failed, for /health
  http::CaptureApi capture_api;
  std::unique_ptr<predict::ModelReloader> reloader;
  std::unique_ptr<stream::Sources> sources;  // null without --source and without a module twin
  std::unique_ptr<SourceTwin> source_twin;   // the twin's desired "sources"; null without a twin
  std::unique_ptr<delivery::ModelDelivery> delivery;  // null unless --model-delivery
  std::unique_ptr<http::HttpServer> server;
  std::thread http_thread;
  std::atomic<bool> listener_failed{false};  // set by the HTTP thread when accepting fails

  // An early return: the publisher's thread calls the twin handlers of parts
  // declared after it (delivery, source_twin), so it stops before they go.
  // (ShutDownInOrder has stopped it already; Stop is idempotent.)
  ~ServeParts() {
    if (publisher) publisher->Stop();
  }
};

// The instruments the request path updates: every HTTP answer and every
// prediction (the collectors that read the components come with the routes).
void StartMetrics(ServeParts* parts) {
  parts->request_metrics = std::make_unique<http::RequestMetrics>(&parts->metrics);
  parts->prediction_metrics = std::make_unique<http::PredictionMetrics>(&parts->metrics);
  parts->predictions.AddObserver(parts->prediction_metrics.get());
}

upstream::UpstreamOptions UpstreamOptionsFrom(const ServeOptions& options) {
  upstream::UpstreamOptions u;
  u.target = options.upstream;
  u.ca_file = options.upstream_ca;
  u.connection_string = options.connection_string;
  u.password_file = options.upstream_password_file;
  u.client_id = options.upstream_client_id;
  u.output = options.upstream_output;
  u.data_dir = options.data_dir;
  u.rule.tags = options.upstream_tags;
  u.rule.min_probability = options.upstream_min_probability;
  u.rule.max_probability = options.upstream_max_probability;
  u.outbox.max_bytes = options.upstream_outbox_max_bytes;
  u.outbox.max_age = std::chrono::seconds(options.upstream_outbox_max_age_s);
  u.outbox.sync_full = options.upstream_outbox_sync != "normal";
  u.limits.token_ttl = std::chrono::seconds(options.upstream_token_ttl_s);
  return u;
}

// Upstream publishing: creates and starts the publisher (when configured) and
// makes it an observer of every prediction.
Status StartUpstream(const ServeOptions& options, ServeParts* parts) {
  upstream::PublisherHooks hooks;
  hooks.model_info = [slot = &parts->slot]() -> std::optional<upstream::ReportedModel> {
    if (std::shared_ptr<const predict::Classifier> c = slot->Get())
      return upstream::ToReportedModel(c->info());
    return std::nullopt;
  };
  EV_ASSIGN_OR_RETURN(parts->publisher,
                      upstream::MakePublisher(
                          UpstreamOptionsFrom(options),
                          [](const char* name) -> const char* { return std::getenv(name); },
                          std::move(hooks), EDGEVISION_VERSION));
  if (parts->publisher) {
    parts->upstream_observer = std::make_unique<upstream::UpstreamObserver>(parts->publisher.get());
    parts->predictions.AddObserver(parts->upstream_observer.get());
    parts->publisher->Start();
  }
  return Status::Ok();
}

// The capture store: opens it (a store that cannot open disables capturing,
// never prediction; /health reports why), makes its recorder an observer of
// every prediction, adds its routes, and lets the module twin switch the
// capture policy live when upstream uses a twin.
Status StartCaptureStore(const ServeOptions& options, ServeParts* parts) {
  EV_ASSIGN_OR_RETURN(store::CapturePolicy policy,
                      store::CapturePolicy::Parse(options.capture, options.capture_tags));
  if (policy.enabled() && options.data_dir.empty()) {
    return InvalidArgument("--capture " + options.capture +
                           " needs --data-dir (where captures are stored)");
  }
  store::CaptureServiceOptions capture_options;
  capture_options.data_dir = options.data_dir;
  capture_options.store.max_bytes = options.capture_max_bytes;
  capture_options.store.max_age = std::chrono::hours(24) * options.capture_max_age_days;
  capture_options.store.min_free_bytes = options.capture_min_free_bytes;
  capture_options.recorder.queue_depth = options.capture_queue;
  upstream::Publisher* twin =
      parts->publisher && parts->publisher->uses_twin() ? parts->publisher.get() : nullptr;
  capture_options.live_policy = twin != nullptr;
  Result<std::unique_ptr<store::CaptureService>> service =
      store::CaptureService::Start(capture_options, policy);
  if (service.ok()) {
    parts->captures = std::move(service).value();
  } else {
    parts->capture_error = service.status().message();
    spdlog::error("capture store disabled: {}", service.status().ToString());
  }
  store::CaptureService* captures = parts->captures.get();
  parts->capture_api = http::CaptureApi{captures ? captures->store() : nullptr,
                                        captures ? captures->recorder() : nullptr, &parts->slot};
  if (captures) {
    if (captures->recorder()) parts->predictions.AddObserver(captures->recorder());
    http::AddCaptureRoutes(&parts->router, parts->capture_api);
  }
  if (twin) {
    store::CaptureRecorder* recorder = captures ? captures->recorder() : nullptr;
    store::CaptureStore* capture_store = captures ? captures->store() : nullptr;
    twin->SetCaptureHandler(
        [recorder, capture_store, configured = policy](const upstream::DesiredCapture& d) -> Status {
          if (recorder == nullptr || capture_store == nullptr) {
            return Unavailable("no capture store (set --data-dir)");
          }
          EV_ASSIGN_OR_RETURN(TwinCapturePolicy applied, CapturePolicyFromTwin(d, configured));
          recorder->SetPolicy(applied.policy);
          spdlog::info("capture policy from the module twin: {}", applied.policy.ToString());
          if (applied.max_bytes || applied.max_age) {
            // Retention runs at once with the new limits (a smaller quota evicts now).
            EV_RETURN_IF_ERROR(capture_store->SetLimits(applied.max_bytes, applied.max_age));
            spdlog::info("capture store limits from the module twin: {} bytes, max age {} s",
                         capture_store->max_bytes(), capture_store->max_age().count());
          }
          return Status::Ok();
        });
  }
  return Status::Ok();
}

// Live sources (--source, the config file, the module twin's desired
// "sources"): parsed and built, not started; their frames go to the same
// sink as HTTP predictions (probation; the metrics, the outbox, the store).
Status MakeSources(const ServeOptions& options, ServeParts* parts) {
  upstream::Publisher* twin = parts->publisher && parts->publisher->uses_twin() ? parts->publisher.get() : nullptr;
  if (options.sources.empty() && !twin) return Status::Ok();
  std::vector<stream::RunnerOptions> runners;
  for (const std::string& text : options.sources) {
    EV_ASSIGN_OR_RETURN(stream::SourceSpec spec, stream::ParseSourceSpec(text));
    runners.push_back(ShownSource(std::move(spec)));
  }
  stream::RunnerContext context;
  context.slot = &parts->slot;
  context.sink = &parts->predictions;
  EV_ASSIGN_OR_RETURN(parts->sources, stream::Sources::Create(runners, std::move(context)));
  // FFmpeg's libraries are loaded (stream/ffmpeg_module.h) when the first
  // source that needs them opens; that logs their versions.
  spdlog::info("{} live source(s){}", parts->sources->size(),
               twin ? " (the module twin may add more)" : "");
  if (twin) {
    parts->source_twin = std::make_unique<SourceTwin>(parts->sources.get(), std::move(runners));
    SourceTwin* st = parts->source_twin.get();
    twin->SetSourcesReporter([st] { return st->Report(); });
    twin->SetSourcesHandler([st](const std::map<std::string, std::string>& desired) { st->Apply(desired); });
  }
  return Status::Ok();
}

// Hot model swap (POST /model/reload, --model-watch): the reloader loads the
// model into the slot; nothing is loaded yet.
void MakeModelReloader(const ServeOptions& options, const ServeConfig& config, ServeParts* parts) {
  parts->reloader = std::make_unique<predict::ModelReloader>(
      &parts->slot, config.model_path,
      [classifier = config.classifier, preprocess = options.preprocess,
       label_order = options.label_order](const std::string& path) -> Result<std::shared_ptr<const predict::Classifier>> {
        EV_ASSIGN_OR_RETURN(model::LoadOptions load, MakeLoadOptions(preprocess, label_order));
        EV_ASSIGN_OR_RETURN(std::unique_ptr<predict::Classifier> c,
                            LoadClassifier(path, classifier, load));
        // Importing, probing and packing freed far more than serving keeps
        // (the later workers' packed copies among it): give it back.
        malloc_trim(0);
        return std::shared_ptr<const predict::Classifier>(std::move(c));
      },
      predict::ReloaderOptions{
          std::chrono::milliseconds(1000LL * std::max(0, options.model_watch_s)),
          // Logged once the slot serves it: a client that waits for this
          // line (the tests do) is never answered "still loading".
          [classifier = config.classifier](const predict::Classifier& c, double ms) {
            const model::ModelInfo& info = c.info();
            spdlog::info(
                "model {} ({}, {}, sha1 {}) ready in {:.0f} ms: {} tags, input {}x{}, {} workers x {} "
                "threads",
                info.model_file, info.format, info.generation, info.model_sha1, ms, info.labels.size(),
                c.preprocess().input_width, c.preprocess().input_height, classifier.workers,
                classifier.threads_per_inference);
          }});
}

// Model delivery (--model-delivery): opens its state under the data dir,
// watches every prediction's outcome (probation after a swap) and takes the
// module twin's desired "model" when upstream keeps a twin. Nothing runs yet.
Status MakeModelDelivery(const ServeOptions& options, const ServeConfig& config, ServeParts* parts) {
  if (!options.model_delivery) return Status::Ok();
  if (options.data_dir.empty()) return InvalidArgument("--model-delivery needs --data-dir (where models are kept)");
  delivery::DeliveryOptions d;
  d.data_dir = options.data_dir;
  d.configured_model = config.model_path;
  if (options.model_retry_rounds >= 0) d.limits.max_retry_rounds = options.model_retry_rounds;
  if (options.model_retry_delay_ms > 0) {
    d.limits.retry_round_delay = std::chrono::milliseconds(options.model_retry_delay_ms);
  }
  EV_ASSIGN_OR_RETURN(parts->delivery,
                      delivery::ModelDelivery::Open(d, parts->reloader.get(), config.downloader.get()));
  // Every prediction, posted or from a source's frame, counts for probation.
  parts->predictions.SetOutcomeHook([d = parts->delivery.get()](const predict::Classifier& model, const Status& s) {
    d->OnOutcome(&model, s);
  });
  if (parts->publisher && parts->publisher->uses_twin()) {
    ConnectDeliveryToTwin(parts->delivery.get(), parts->publisher.get());
  }
  return Status::Ok();
}

// GET /metrics: collectors that read each component's own statistics at
// scrape time (nothing is counted twice).
void AddMetrics(ServeParts* parts) {
  metrics::Registry& m = parts->metrics;
  m.AddCollector(http::BuildInfoCollector(EDGEVISION_VERSION));
  m.AddCollector(http::ModelCollector(&parts->slot, parts->reloader.get()));
  m.AddCollector(http::QueueCollector(&parts->slot));
  // The server exists before it serves, so a scrape always finds it.
  m.AddCollector(http::ServerCollector(
      [parts] { return parts->server ? parts->server->stats() : http::ServerStats{}; }));
  m.AddCollector(http::StoreCollector(parts->capture_api));
  if (upstream::Publisher* p = parts->publisher.get()) {
    m.AddCollector(http::UpstreamCollector([p] { return p->GetStatus(); }));
  }
  if (parts->sources) m.AddCollector(http::SourcesCollector(parts->sources.get()));
  if (parts->delivery) m.AddCollector(http::DeliveryCollector(parts->delivery.get()));
  m.AddCollector(metrics::ProcessCollector());
  http::AddMetricsRoute(&parts->router, &parts->metrics);
}

// The one route table: model, prediction and health routes (capture routes
// were added with the store). /health gets one section per component.
void AddRoutes(const http::AccessControl& access, ServeParts* parts) {
  http::ModelApi model_api{parts->reloader.get(), &parts->slot, parts->delivery.get()};
  http::AddModelRoutes(&parts->router, model_api);
  http::AddPredictionRoutes(&parts->router, parts->prediction_api);
  if (parts->sources) http::AddSourceRoutes(&parts->router, parts->sources.get());
  http::HealthApi health;
  health.slot = &parts->slot;
  health.version = EDGEVISION_VERSION;
  if (upstream::Publisher* p = parts->publisher.get()) {
    health.sections.push_back(http::UpstreamHealthSection([p] { return p->GetStatus(); }));
  }
  health.sections.push_back([capture_api = parts->capture_api,
                             capture_error = parts->capture_error](nlohmann::json* doc) {
    http::AddStoreHealth(capture_api, capture_error, doc);
  });
  health.sections.push_back(http::ReloadHealthSection(parts->reloader.get()));
  health.sections.push_back(http::DeliveryHealthSection(parts->delivery.get()));
  // The server exists before it serves, so /health always finds it.
  health.sections.push_back([parts, access](nlohmann::json* doc) {
    if (!parts->server) return;
    const http::ServerStats st = parts->server->stats();
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
  http::AddHealthRoutes(&parts->router, health);
  AddMetrics(parts);
}

http::ServerLimits ServerLimitsFrom(const ServeOptions& options) {
  http::ServerLimits limits;
  if (options.max_body_bytes > 0) limits.max_body_bytes = options.max_body_bytes;
  if (options.http_threads > 0) limits.http_threads = options.http_threads;
  if (options.max_connections > 0) limits.max_connections = options.max_connections;
  if (options.header_timeout_s > 0) limits.header_timeout = std::chrono::seconds(options.header_timeout_s);
  limits.http_threads = std::min(limits.http_threads, limits.max_connections);
  // SIGTERM: requests in progress get two thirds of --shutdown-timeout; the
  // rest is left for flushing the capture store and the outbox.
  limits.drain_timeout = std::chrono::milliseconds(options.shutdown_timeout_s * 2000 / 3);
  return limits;
}

// Binds and starts serving on its own thread, before the model is loaded, so
// /health can say "loading". Returns the bound port.
//
// httplib closes its listener for good on accept errors such as ENFILE,
// ENOBUFS or ENOMEM. A process that no longer accepts must not look alive:
// it shuts down and exits 1, so that systemd, Kubernetes or IoT Edge
// restart it.
Result<int> StartHttp(const ServeOptions& options, const http::AccessControl& access,
                      ServeParts* parts) {
  parts->server = std::make_unique<http::HttpServer>(
      std::move(parts->router), ServerLimitsFrom(options),
      http::TlsOptions{options.tls_cert, options.tls_key}, access);
  parts->server->SetRequestObserver(
      [m = parts->request_metrics.get()](const http::RequestOutcome& outcome) { m->Record(outcome); });
  EV_ASSIGN_OR_RETURN(int port, parts->server->Bind(options.host, options.port));
  parts->http_thread = GuardedThread("HTTP server", [server = parts->server.get(), failed = &parts->listener_failed] {
    Status s = server->Serve();
    if (!s.ok()) {
      spdlog::error("{}; exiting so that the supervisor restarts edgevision", s.message());
      *failed = true;
      kill(getpid(), SIGTERM);
    }
  });
  spdlog::info(
      "edgevision {} listening on {}:{} ({}); access: predictions {}, captures/admin {}, health {}",
      EDGEVISION_VERSION, options.host, port, options.tls_cert.empty() ? "HTTP" : "HTTPS",
      Who(access, http::Access::kPredict), Who(access, http::Access::kAdmin),
      Who(access, http::Access::kHealth));
  return port;
}

// The first load. With model delivery: the delivered model, else its
// last-known-good, else --model, the first that loads (all from disk, so an
// offline restart comes up on what was last served).
Status LoadFirstModel(ServeParts* parts) {
  if (!parts->delivery) return parts->reloader->Reload("start");
  std::string skipped;
  Status loaded;
  for (const std::string& path : parts->delivery->StartupPaths()) {
    parts->reloader->SetPath(path);
    loaded = parts->reloader->Reload("start");
    if (loaded.ok()) {
      parts->delivery->StartedOn(path, skipped);
      return loaded;
    }
    spdlog::error("model {} did not load: {}", path, loaded.message());
    skipped += (skipped.empty() ? "" : "; ") + loaded.message();
  }
  return loaded;
}

// Loads the model (the slot becomes ready), starts watching it and, with
// model delivery, the delivery thread (which resumes a download a restart
// interrupted). Returns false when no model loads.
bool LoadModel(ServeParts* parts) {
  if (Status loaded = LoadFirstModel(parts); !loaded.ok()) {
    PrintError(loaded);
    return false;
  }
  parts->reloader->Start();
  if (parts->delivery) parts->delivery->Start();
  return true;
}

// Waits for SIGINT/SIGTERM. Returns the exit code.
int WaitForShutdownSignal(const ServeOptions& options, const sigset_t& signals, const ServeParts& parts) {
  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("received {}, shutting down (at most {} s)", sig == SIGTERM ? "SIGTERM" : "SIGINT",
               options.shutdown_timeout_s);
  return parts.listener_failed ? 1 : 0;
}

// Drain: stop reloading and accepting, let requests in progress finish
// (their predictions reach the observers), then stop the publisher (it waits
// briefly for PUBACKs and closes the outbox) and flush the capture writer
// (it writes what is queued and closes the database). The watchdog bounds
// the whole sequence.
void ShutDownInOrder(const ServeOptions& options, ServeParts* parts) {
  ShutdownWatchdog watchdog(std::chrono::seconds(std::max(1, options.shutdown_timeout_s)));
  const auto stop_start = std::chrono::steady_clock::now();
  if (parts->delivery) parts->delivery->Stop();
  parts->reloader->Stop();
  // The sources publish to the outbox and the store: they stop first.
  if (parts->sources) parts->sources->Stop();
  parts->server->Stop();
  parts->http_thread.join();
  const http::ServerStats st = parts->server->stats();
  if (parts->publisher) parts->publisher->Stop();
  if (parts->captures) parts->captures->Stop();
  spdlog::info("stopped in {:.0f} ms ({} connections served, {} shed)",
               std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - stop_start).count(),
               st.connections, st.shed);
}

}  // namespace

// Wiring only: config -> model slot -> upstream -> capture store -> sources
// -> model reloader -> routes -> HTTP -> load -> sources start -> wait ->
// ordered shutdown
// (docs/architecture.md, "Start-up" and "Shutdown").
int RunServe(const ServeOptions& options) {
  TuneAllocator();
  const sigset_t signals = BlockShutdownSignals();  // before any thread starts
  Result<ServeConfig> config = MakeConfig(options);
  if (!config.ok()) {
    PrintError(config.status());
    return 2;
  }
  const http::AccessControl access(config->keys);
  ServeParts parts;
  parts.slot.SetLoading(config->model_path);
  parts.prediction_api.slot = &parts.slot;
  parts.prediction_api.sink = &parts.predictions;
  parts.prediction_api.fetcher = config->fetcher.get();
  StartMetrics(&parts);
  if (Status s = StartUpstream(options, &parts); !s.ok()) {
    PrintError(s);
    return 2;
  }
  if (Status s = StartCaptureStore(options, &parts); !s.ok()) {
    PrintError(s);
    return 2;
  }
  if (Status s = MakeSources(options, &parts); !s.ok()) {
    PrintError(s);
    return 2;
  }
  MakeModelReloader(options, *config, &parts);
  if (Status s = MakeModelDelivery(options, *config, &parts); !s.ok()) {
    PrintError(s);
    return 2;
  }
  AddRoutes(access, &parts);
  if (Result<int> port = StartHttp(options, access, &parts); !port.ok()) {
    PrintError(port.status());
    return 1;
  }
  if (!LoadModel(&parts)) {
    ShutDownInOrder(options, &parts);
    return 1;
  }
  if (parts.sources) parts.sources->Start();  // the model is ready: no frame is dropped for want of it
  const int exit_code = WaitForShutdownSignal(options, signals, parts);
  ShutDownInOrder(options, &parts);
  return exit_code;
}

}  // namespace edgevision::cli
