// The edgevision command line: one binary, one function per sub-command.
// main.cc parses flags into these option structs and calls the command; each
// command returns the process exit code (0 success, 1 failure, 2 usage).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace edgevision::cli {

// Object detectors' post-processing flags (serve and predict); unset = the
// container's value (0.10, 0.45, 20) and kDefaultMaxPlans compiled sizes.
struct DetectionFlags {
  std::optional<double> probability_threshold;
  std::optional<double> iou_threshold;
  std::optional<int> max_detections;
  int max_plans = 8;  // predict::kDefaultMaxPlans
};

// Where the bundled demo model is: $EDGEVISION_DEMO_MODEL, else
// <binary>/../share/edgevision/demo (installed), else the source tree's
// models/demo (a development build).
std::string DefaultModelPath();

struct ServeOptions {
  std::string model;
  std::string host = "0.0.0.0";
  int port = 8080;
  int threads = 0;  // inference threads in total; 0 = number of CPU cores
  int workers = 0;  // concurrent inferences; 0 = same as threads
  size_t max_body_bytes = 0;  // 0 = the server's default
  int http_threads = 0;       // 0 = the server's default
  bool url_allow_loopback = false;
  std::vector<std::string> url_allow;
  std::vector<std::string> url_deny;
  std::string tls_cert;
  std::string tls_key;
  // --- hardening: access, overload, lifecycle (docs/security.md) ---
  // Key files (one key per line); EDGEVISION_PREDICTION_KEY / _ADMIN_KEY /
  // _HEALTH_KEY add keys from the environment. Never on the command line.
  std::string prediction_key_file;
  std::string admin_key_file;
  std::string health_key_file;
  int max_connections = 0;    // 0 = the server's default
  int queue_depth = -1;       // requests waiting for an inference worker; -1 = default
  int queue_timeout_ms = 0;   // longest wait for a worker; 0 = default
  int header_timeout_s = 0;   // request line + headers must arrive within; 0 = default
  int model_watch_s = 0;      // poll the model path every N s and reload on change; 0 = off
  // Model delivery from the cloud (PUT /admin/model, the twin's desired
  // "model"; docs/model-delivery.md). Needs data_dir.
  bool model_delivery = false;
  // Its later download rounds (delivery::DeliveryLimits::max_retry_rounds,
  // retry_round_delay); -1 = the default.
  int model_retry_rounds = -1;
  int model_retry_delay_ms = -1;
  int shutdown_timeout_s = 10;  // SIGTERM: exit within this, however the drain goes
  // Where durable state lives (capture store, upstream outbox). Empty: none;
  // every feature that needs it stays off.
  std::string data_dir;
  // --- upstream publishing (src/upstream) ---
  // See docs/upstream.md. Secrets: connection_string and the URL's password.
  std::string upstream;           // "", "off", "iothub", "iotedge", "mqtt[s]://[user:pass@]host[:port]/topic"
  std::string upstream_ca;        // PEM CA file for mqtts:// (or an IoT Hub gateway)
  std::string connection_string;  // IoT Hub device/module connection string
  std::string upstream_password_file;
  std::string upstream_client_id;
  std::string upstream_output = "classification";  // IoT Edge module output
  std::vector<std::string> upstream_tags;           // publish only these tags (empty: any)
  double upstream_min_probability = 0.0;
  double upstream_max_probability = 1.0;
  size_t upstream_outbox_max_bytes = 64u << 20;
  int upstream_outbox_max_age_s = 7 * 24 * 3600;
  std::string upstream_outbox_sync = "full";  // "full" or "normal"
  int upstream_token_ttl_s = 3600;
  // --- capture store (src/store) ---
  // See docs/store.md.
  std::string capture = "none";               // none | all | uncertain:<p> | sample:<fraction>
  std::vector<std::string> capture_tags;      // keep only these top tags (empty: any)
  uint64_t capture_max_bytes = 1ull << 30;    // images + database
  int capture_max_age_days = 30;              // unreviewed captures older than this go; 0 = never
  uint64_t capture_min_free_bytes = 256ull << 20;  // pause storing below this much free disk
  size_t capture_queue = 32;                  // captures waiting for the writer; more are dropped
  // --- live sources (src/stream, docs/streams.md) ---
  std::vector<std::string> sources;  // NAME=URL[,fps=5,debounce=3,threshold=0.5,heartbeat=60,...]
  // --- answers (docs/models.md) ---
  std::string preprocess;    // "" = the detected generation; d1 | d2 | d3 | file
  bool label_order = false;  // predictions in label-file order (the container's)
  DetectionFlags detection;
  // "fp32" (default: the containers' answers) or "int8" (docs/performance.md,
  // "int8"); int8 caches its calibration under data_dir.
  std::string precision = "fp32";
  // int8: "on" (float32 answers int8's near ties) or "off".
  std::string int8_fallback = "on";
};
int RunServe(const ServeOptions& options);

struct PredictOptions {
  std::string model;   // local inference with this model...
  std::string server;  // ...or POST to this server URL
  std::vector<std::string> images;
  int threads = 1;
  std::string preprocess;  // as ServeOptions
  bool label_order = false;
  DetectionFlags detection;
  std::string draw;  // a detector: write the (single) image with its boxes here, JPEG
  std::string precision = "fp32";  // as ServeOptions (local model only)
  std::string data_dir;            // int8: calibration cache and captures
  std::string int8_fallback = "on";  // as ServeOptions
};
int RunPredict(const PredictOptions& options);

struct InspectOptions {
  std::string model;
  bool json = false;
  std::string preprocess;  // as ServeOptions
  std::string precision = "fp32";  // int8: also calibrate and report the agreement with fp32
  std::string data_dir;            // int8: calibration cache and captures
  std::string int8_fallback = "on";  // as ServeOptions
};
int RunInspect(const InspectOptions& options);

struct BenchOptions {
  std::string model;
  int threads = 1;
  int runs = 200;
  int warmup = 20;
  std::string backend = "xnnpack";  // or "reference"
  bool profile = false;             // add per-node timings
  // Time the whole in-process request path on this image instead of the
  // engine alone: a classifier's decode + preprocess + inference (with page
  // faults), a detector's decode, resize, infer, decode+NMS.
  std::string image;
  bool per_op = false;              // add each op's time, share, GFLOP/s (and floor)
  double peak_gflops = 0;           // the machine's peak, for --per-op's floors
  std::string precision = "fp32";   // int8: the int8 engine (backend xnnpack only)
  std::string data_dir;             // int8: calibration cache and captures
  std::string int8_fallback = "on";  // as ServeOptions (the engine bench runs it too)
};
int RunBench(const BenchOptions& options);

struct TensorOptions {
  std::string model;
  std::string image;
  std::string out;
  std::string preprocess;  // as ServeOptions
};
int RunTensor(const TensorOptions& options);

// Hidden test command: the decoded RGB8 image, before any preprocessing, as
// binary PPM (tests/parity/compare_decoders.py compares it with PIL).
struct DecodeOptions {
  std::string image;
  std::string out;
};
int RunDecode(const DecodeOptions& options);

// --- health (the container's HEALTHCHECK) ---
struct HealthOptions {
  std::string url;             // full URL; when empty, built from the fields below
  std::string host = "127.0.0.1";
  int port = 8080;             // EDGEVISION_PORT, as serve
  std::string path = "/health";
  bool tls = false;            // https (serve --tls-cert); the certificate is not verified
  double timeout_s = 5;
  std::string key_file;        // sent as the Prediction-Key header (a health key)
  bool quiet = false;
};
// 0 when the server answers 200, 1 otherwise.
int RunHealth(const HealthOptions& options);

// --- export (src/store) ---
struct ExportOptions {
  std::string data_dir;
  std::string out;
  bool include_predicted = false;
  std::string tag;    // top predicted tag
  std::string label;  // human label
  double min_p = -1;  // < 0: no filter
  double max_p = -1;
  std::string reviewed;  // "", "true" or "false"
  std::string from;
  std::string to;
  // --upload: send the reviewed captures to a Custom Vision project instead
  // of writing a folder (src/training).
  bool upload = false;
  std::string endpoint;
  std::string project;
  std::string training_key_file;
  int batch_size = 64;
  int retries = 6;
};
int RunExport(const ExportOptions& options);

}  // namespace edgevision::cli
