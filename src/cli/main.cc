// edgevision: main only parses flags and hands them to a command.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>

#include <cstdio>

#include "cli/commands.h"
#include "cli/config.h"
#include "cli/load.h"
#include "core/guard.h"

namespace {

const char* kVersion = EDGEVISION_VERSION;

// --precision fp32|int8 (docs/performance.md, "int8").
CLI::Option* AddPrecisionFlag(CLI::App* cmd, std::string* precision) {
  return cmd
      ->add_option("--precision", *precision,
                   "fp32 (the containers' answers) or int8 (faster; calibrated on the export's images or the "
                   "captures, agreement with fp32 reported)")
      ->check(CLI::IsMember({"fp32", "int8"}))
      ->capture_default_str();
}
// --int8-fallback on|off (docs/performance.md, "int8", the fallback).
CLI::Option* AddInt8FallbackFlag(CLI::App* cmd, std::string* fallback) {
  return cmd
      ->add_option("--int8-fallback", *fallback,
                   "With --precision int8: on (float32 answers when int8's answer is a near tie; keeps a float32 "
                   "copy of the model) or off")
      ->check(CLI::IsMember({"on", "off"}))
      ->capture_default_str();
}
constexpr const char* kPrecisionDataDirHelp =
    "With --precision int8: calibrate from this data dir's captures when the export ships no images, and cache "
    "the calibration here";

// --probability-threshold, --iou-threshold, --max-detections, --max-plans;
// with environment variables when `env` (serve).
void AddDetectionFlags(CLI::App* cmd, edgevision::cli::DetectionFlags* flags, bool env) {
  auto* p = cmd->add_option("--probability-threshold", flags->probability_threshold,
                            "Detector: keep boxes whose probability is above this (default: 0.10, the container's)")
                ->check(CLI::Range(0.0, 1.0));
  auto* i = cmd->add_option("--iou-threshold", flags->iou_threshold,
                            "Detector: NMS removes a box's class when its IoU with a better box is above this "
                            "(default: the metadata's, else 0.45)")
                ->check(CLI::Range(0.0, 1.0));
  auto* m = cmd->add_option("--max-detections", flags->max_detections,
                            "Detector: at most this many boxes per image (default: 20, the container's)")
                ->check(CLI::Range(1, 100000));
  auto* c = cmd->add_option("--max-plans", flags->max_plans,
                            "Detector: input sizes kept compiled (one per image aspect ratio)")
                ->check(CLI::Range(1, 256))
                ->capture_default_str();
  if (env) {
    p->envname("EDGEVISION_PROBABILITY_THRESHOLD");
    i->envname("EDGEVISION_IOU_THRESHOLD");
    m->envname("EDGEVISION_MAX_DETECTIONS");
    c->envname("EDGEVISION_MAX_PLANS");
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace edgevision::cli;
  // Captures, the outbox and exports hold camera images and results: not
  // for other users of the machine, whatever the caller's umask (the systemd
  // unit sets UMask=0027; containers and shells usually 0022).
  umask(umask(0) | 027);
  // Logs go to stderr: stdout carries results (predict's JSON, inspect's text).
  spdlog::set_default_logger(spdlog::stderr_color_mt("edgevision"));
  CLI::App app{"edgevision: Azure Custom Vision exports served on the edge"};
  app.require_subcommand(1);
  app.set_version_flag("--version", kVersion);

  ServeOptions serve;
  CLI::App* serve_cmd = app.add_subcommand("serve", "Serve a model over the Custom Vision prediction HTTP API");
  // --config and --print-config; Apply() below gives the config file's values
  // to what flags and environment left unset (precedence: cli/config.h).
  ConfigLayer serve_config(serve_cmd);
  serve_cmd->add_option("--model", serve.model,
                        "Export folder, Dockerfile export folder, export .zip or model file (default: demo model)")
      ->envname("EDGEVISION_MODEL");
  serve_cmd->add_option("--host", serve.host, "Address to listen on")->envname("EDGEVISION_HOST")->capture_default_str();
  serve_cmd->add_option("--port", serve.port, "Port to listen on")
      ->envname("EDGEVISION_PORT")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  serve_cmd->add_option("--threads", serve.threads, "Inference threads in total (default: CPU cores)")
      ->envname("EDGEVISION_THREADS")
      ->check(CLI::Range(0, 256));
  serve_cmd->add_option("--workers", serve.workers,
                        "Inferences run at once; each gets threads/workers threads (default: = threads)")
      ->envname("EDGEVISION_WORKERS")
      ->check(CLI::Range(0, 256));
  serve_cmd->add_option("--max-body-bytes", serve.max_body_bytes, "Largest accepted request body")
      ->envname("EDGEVISION_MAX_BODY_BYTES");
  serve_cmd->add_option("--http-threads", serve.http_threads, "Connection-handling threads")
      ->envname("EDGEVISION_HTTP_THREADS")
      ->check(CLI::Range(0, 1024));
  serve_cmd->add_flag("--url-allow-loopback", serve.url_allow_loopback,
                      "Let /url routes fetch from loopback addresses (denied by default)")
      ->envname("EDGEVISION_URL_ALLOW_LOOPBACK");
  serve_cmd->add_option("--url-allow", serve.url_allow, "Address ranges /url may always fetch from (CIDR)")
      ->envname("EDGEVISION_URL_ALLOW")
      ->delimiter(',');
  serve_cmd->add_option("--url-deny", serve.url_deny, "Address ranges /url may never fetch from (CIDR)")
      ->envname("EDGEVISION_URL_DENY")
      ->delimiter(',');
  serve_cmd->add_option("--tls-cert", serve.tls_cert, "PEM certificate: serve HTTPS")->envname("EDGEVISION_TLS_CERT");
  serve_cmd->add_option("--tls-key", serve.tls_key, "PEM private key for --tls-cert")->envname("EDGEVISION_TLS_KEY");
  // --- hardening: access keys, overload and lifecycle (docs/security.md) ---
  serve_cmd->add_option("--prediction-key-file", serve.prediction_key_file,
                        "File of keys (one a line) a Prediction-Key header must match on prediction routes; "
                        "$EDGEVISION_PREDICTION_KEY adds keys")
      ->envname("EDGEVISION_PREDICTION_KEY_FILE");
  serve_cmd->add_option("--admin-key-file", serve.admin_key_file,
                        "Keys for /captures, the review page's data and /model/reload (default: the prediction "
                        "keys); $EDGEVISION_ADMIN_KEY adds keys")
      ->envname("EDGEVISION_ADMIN_KEY_FILE");
  serve_cmd->add_option("--health-key-file", serve.health_key_file,
                        "Keys for /health and /health/ready (default: open); $EDGEVISION_HEALTH_KEY adds keys")
      ->envname("EDGEVISION_HEALTH_KEY_FILE");
  serve_cmd->add_option("--max-connections", serve.max_connections,
                        "Connections served at once; more are answered 503 at once (default: 128)")
      ->envname("EDGEVISION_MAX_CONNECTIONS")
      ->check(CLI::Range(1, 65536));
  serve_cmd->add_option("--queue-depth", serve.queue_depth,
                        "Requests that may wait for a busy inference worker; more are answered 503 (default: 64)")
      ->envname("EDGEVISION_QUEUE_DEPTH")
      ->check(CLI::Range(0, 100000));
  serve_cmd->add_option("--queue-timeout-ms", serve.queue_timeout_ms,
                        "Longest wait for an inference worker before 503 (default: 10000)")
      ->envname("EDGEVISION_QUEUE_TIMEOUT_MS")
      ->check(CLI::Range(1, 600000));
  serve_cmd->add_option("--header-timeout", serve.header_timeout_s,
                        "Seconds a client has to send the request line and headers (default: 10)")
      ->envname("EDGEVISION_HEADER_TIMEOUT")
      ->check(CLI::Range(1, 3600));
  serve_cmd->add_option("--model-watch", serve.model_watch_s,
                        "Check the --model path every N seconds and reload the model when it changes (0: off)")
      ->envname("EDGEVISION_MODEL_WATCH")
      ->check(CLI::Range(0, 86400))
      ->capture_default_str();
  serve_cmd->add_flag("--model-delivery", serve.model_delivery,
                      "Accept models from the cloud: PUT /admin/model and the module twin's desired \"model\" "
                      "(download, verify, swap, roll back; needs --data-dir; URLs follow the --url-* policy)")
      ->envname("EDGEVISION_MODEL_DELIVERY");
  serve_cmd->add_option("--model-retry-rounds", serve.model_retry_rounds,
                        "Model delivery: when a download's 5 attempts all fail (network, timeout, 5xx), start a "
                        "new round later, at most this many times (default: 6)")
      ->envname("EDGEVISION_MODEL_RETRY_ROUNDS")
      ->check(CLI::Range(0, 1000));
  serve_cmd->add_option("--model-retry-delay-ms", serve.model_retry_delay_ms,
                        "Model delivery: the wait before the first later round, doubled after each up to 30 min (or "
                        "this wait, if longer) (default: 60000)")
      ->envname("EDGEVISION_MODEL_RETRY_DELAY_MS")
      ->check(CLI::Range(1, 86400000));
  serve_cmd->add_option("--shutdown-timeout", serve.shutdown_timeout_s,
                        "On SIGTERM, finish requests in progress and flush captures and the outbox within this many "
                        "seconds, then exit")
      ->envname("EDGEVISION_SHUTDOWN_TIMEOUT")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  serve_cmd->add_option("--data-dir", serve.data_dir,
                        "Folder for durable state: capture store and upstream outbox (default: none)")
      ->envname("EDGEVISION_DATA_DIR");
  AddPrecisionFlag(serve_cmd, &serve.precision)->envname("EDGEVISION_PRECISION");
  AddInt8FallbackFlag(serve_cmd, &serve.int8_fallback)->envname("EDGEVISION_INT8_FALLBACK");
  // --- upstream publishing flags (src/upstream) ---
  serve_cmd->add_option("--upstream", serve.upstream,
                        "Send each result upstream: mqtt[s]://[user:pass@]host[:port]/topic, iothub, iotedge or off "
                        "(default: iotedge inside IoT Edge, else off; needs --data-dir)")
      ->envname("EDGEVISION_UPSTREAM");
  serve_cmd->add_option("--upstream-ca", serve.upstream_ca, "PEM CA bundle for mqtts:// (default: system CAs)")
      ->envname("EDGEVISION_UPSTREAM_CA");
  serve_cmd->add_option("--connection-string", serve.connection_string,
                        "IoT Hub device or module connection string for --upstream iothub")
      ->envname("EDGEVISION_CONNECTION_STRING");
  serve_cmd->add_option("--upstream-password-file", serve.upstream_password_file,
                        "File holding the MQTT password (instead of putting it in the URL)")
      ->envname("EDGEVISION_UPSTREAM_PASSWORD_FILE");
  serve_cmd->add_option("--upstream-client-id", serve.upstream_client_id,
                        "MQTT client id (default: edgevision-<hostname>)")
      ->envname("EDGEVISION_UPSTREAM_CLIENT_ID");
  serve_cmd->add_option("--upstream-output", serve.upstream_output, "IoT Edge module output to send results on")
      ->envname("EDGEVISION_UPSTREAM_OUTPUT")
      ->capture_default_str();
  serve_cmd->add_option("--upstream-tags", serve.upstream_tags, "Publish only results with one of these tags")
      ->envname("EDGEVISION_UPSTREAM_TAGS")
      ->delimiter(',');
  serve_cmd->add_option("--upstream-min-probability", serve.upstream_min_probability,
                        "Publish only results with a (matching) tag at or above this probability")
      ->envname("EDGEVISION_UPSTREAM_MIN_PROBABILITY")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  serve_cmd->add_option("--upstream-max-probability", serve.upstream_max_probability,
                        "Publish only results with a (matching) tag at or below this probability")
      ->envname("EDGEVISION_UPSTREAM_MAX_PROBABILITY")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  serve_cmd->add_option("--upstream-outbox-max-bytes", serve.upstream_outbox_max_bytes,
                        "Result bytes kept while the target is unreachable; the oldest are dropped beyond")
      ->envname("EDGEVISION_UPSTREAM_OUTBOX_MAX_BYTES")
      ->check(CLI::Range(size_t{4096}, size_t{1} << 40))
      ->capture_default_str();
  serve_cmd->add_option("--upstream-outbox-max-age", serve.upstream_outbox_max_age_s,
                        "Seconds a result is kept while the target is unreachable")
      ->envname("EDGEVISION_UPSTREAM_OUTBOX_MAX_AGE")
      ->check(CLI::Range(60, 365 * 24 * 3600))
      ->capture_default_str();
  serve_cmd->add_option("--upstream-outbox-sync", serve.upstream_outbox_sync,
                        "full: results survive power loss; normal: only crashes (fewer disk writes)")
      ->envname("EDGEVISION_UPSTREAM_OUTBOX_SYNC")
      ->check(CLI::IsMember({"full", "normal"}))
      ->capture_default_str();
  serve_cmd->add_option("--upstream-token-ttl", serve.upstream_token_ttl_s,
                        "Lifetime in seconds of IoT Hub SAS tokens (renewed before expiry)")
      ->envname("EDGEVISION_UPSTREAM_TOKEN_TTL")
      ->check(CLI::Range(300, 7 * 24 * 3600))
      ->capture_default_str();
  // --- capture store flags (src/store) ---
  serve_cmd->add_option("--capture", serve.capture,
                        "Keep predicted images for review and retraining: none, all, uncertain:<p> (top "
                        "probability below p) or sample:<fraction> (needs --data-dir)")
      ->envname("EDGEVISION_CAPTURE")
      ->capture_default_str();
  serve_cmd->add_option("--capture-tags", serve.capture_tags, "Capture only predictions whose top tag is one of these")
      ->envname("EDGEVISION_CAPTURE_TAGS")
      ->delimiter(',');
  serve_cmd->add_option("--capture-max-bytes", serve.capture_max_bytes,
                        "Disk the capture store may use (images + database), e.g. 2G; the oldest unreviewed "
                        "captures go first")
      ->envname("EDGEVISION_CAPTURE_MAX_BYTES")
      ->transform(CLI::AsSizeValue(false))
      ->check(CLI::Range(uint64_t{16} << 20, uint64_t{1} << 50))
      ->capture_default_str();
  serve_cmd->add_option("--capture-max-age", serve.capture_max_age_days,
                        "Days an unreviewed capture is kept (0: until the quota needs the space)")
      ->envname("EDGEVISION_CAPTURE_MAX_AGE")
      ->check(CLI::Range(0, 36500))
      ->capture_default_str();
  serve_cmd->add_option("--capture-min-free", serve.capture_min_free_bytes,
                        "Pause capturing while the disk has less free space than this, e.g. 256M")
      ->envname("EDGEVISION_CAPTURE_MIN_FREE")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  // --- live sources (src/stream, docs/streams.md) ---
  serve_cmd->add_option("--source", serve.sources,
                        "Watch a camera, stream, video file or directory: NAME=URL[,fps=5,debounce=3,"
                        "threshold=0.5,heartbeat=60,...] (rtsp://, http(s):// MJPEG, /dev/videoN, a file, "
                        "dir:PATH); repeat for more")
      ->envname("EDGEVISION_SOURCES")
      ->delimiter(';');
  serve_cmd->add_option("--capture-queue", serve.capture_queue,
                        "Captures waiting to be written; beyond this they are dropped (never delaying a prediction)")
      ->envname("EDGEVISION_CAPTURE_QUEUE")
      ->check(CLI::Range(size_t{1}, size_t{4096}))
      ->capture_default_str();
  serve_cmd->add_option("--preprocess", serve.preprocess,
                        "Follow this export generation's container code: d1, d2, d3 or file (default: detected)")
      ->envname("EDGEVISION_PREPROCESS");
  serve_cmd->add_flag("--label-order", serve.label_order,
                      "List predictions in label-file order, as the container does (default: by probability)")
      ->envname("EDGEVISION_LABEL_ORDER");
  AddDetectionFlags(serve_cmd, &serve.detection, true);

  PredictOptions predict;
  CLI::App* predict_cmd =
      app.add_subcommand("predict", "Classify or detect: print the JSON the server returns, one document per image");
  auto* model_opt = predict_cmd->add_option("--model", predict.model, "Model to run locally (default: demo model)");
  auto* server_opt = predict_cmd->add_option("--server", predict.server,
                                             "POST the images to this edgevision or container URL instead");
  model_opt->excludes(server_opt);
  predict_cmd->add_option("--threads", predict.threads, "Inference threads (local model)")->check(CLI::Range(1, 256));
  predict_cmd->add_option("--preprocess", predict.preprocess,
                          "Follow this export generation's container code: d1, d2, d3 or file (default: detected)");
  predict_cmd->add_flag("--label-order", predict.label_order,
                        "List predictions in label-file order, as the container does");
  AddDetectionFlags(predict_cmd, &predict.detection, false);
  AddPrecisionFlag(predict_cmd, &predict.precision);
  AddInt8FallbackFlag(predict_cmd, &predict.int8_fallback);
  predict_cmd->add_option("--data-dir", predict.data_dir, kPrecisionDataDirHelp);
  auto* draw_opt = predict_cmd->add_option("--draw", predict.draw,
                                           "Detector: write the image with its boxes to this JPEG file (one image)");
  draw_opt->excludes(server_opt);
  predict_cmd->add_option("images", predict.images, "Image files")->required()->check(CLI::ExistingFile);

  InspectOptions inspect;
  CLI::App* inspect_cmd = app.add_subcommand("inspect", "Describe a model: format, input, labels, ops, rewrites");
  inspect_cmd->add_option("--model", inspect.model, "Model to describe (default: demo model)");
  inspect_cmd->add_flag("--json", inspect.json, "Print JSON instead of text");
  inspect_cmd->add_option("--preprocess", inspect.preprocess,
                          "Follow this export generation's container code: d1, d2, d3 or file (default: detected)");
  AddPrecisionFlag(inspect_cmd, &inspect.precision);
  AddInt8FallbackFlag(inspect_cmd, &inspect.int8_fallback);
  inspect_cmd->add_option("--data-dir", inspect.data_dir, kPrecisionDataDirHelp);

  TensorOptions tensor;
  CLI::App* tensor_cmd = app.add_subcommand(
      "tensor", "Write the exact input tensor the model is fed for an image (float32 .npy, HxWx3)");
  tensor_cmd->add_option("--model", tensor.model, "Model whose preprocessing to use (default: demo model)");
  tensor_cmd->add_option("image", tensor.image, "Image file")->required()->check(CLI::ExistingFile);
  tensor_cmd->add_option("--out", tensor.out, "Output .npy file")->required();
  tensor_cmd->add_option("--preprocess", tensor.preprocess,
                         "Follow this export generation's container code: d1, d2, d3 or file (default: detected)");

  DecodeOptions decode;  // hidden (no group): a test tool, see docs/api.md#image-formats
  CLI::App* decode_cmd = app.add_subcommand("decode", "Write an image's decoded RGB pixels as binary PPM")->group("");
  decode_cmd->add_option("image", decode.image, "Image file")->required()->check(CLI::ExistingFile);
  decode_cmd->add_option("--out", decode.out, "Output .ppm file")->required();

  // --- export (src/store) ---
  ExportOptions export_options;
  CLI::App* export_cmd = app.add_subcommand(
      "export",
      "Write captures as a Custom Vision training set: a folder per tag plus manifest.csv; detection "
      "captures as images/ with customvision.json (training regions) and coco.json");
  export_cmd->add_option("--data-dir", export_options.data_dir, "The data directory the server captured into")
      ->envname("EDGEVISION_DATA_DIR")
      ->required();
  export_cmd->add_option("--out", export_options.out, "New (or empty) folder to write the dataset to");
  export_cmd->add_flag("--include-predicted", export_options.include_predicted,
                       "Also export unreviewed captures, under their predicted tag (detections: their "
                       "predicted boxes, clipped to the image)");
  export_cmd->add_option("--tag", export_options.tag, "Only captures whose top predicted tag is this");
  export_cmd->add_option("--label", export_options.label, "Only captures a person labelled with this tag");
  export_cmd->add_option("--min-p", export_options.min_p, "Only captures with top probability >= this")
      ->check(CLI::Range(0.0, 1.0));
  export_cmd->add_option("--max-p", export_options.max_p, "Only captures with top probability < this")
      ->check(CLI::Range(0.0, 1.0));
  export_cmd->add_option("--reviewed", export_options.reviewed, "Only reviewed (true) or unreviewed (false) captures")
      ->check(CLI::IsMember({"true", "false"}));
  export_cmd->add_option("--from", export_options.from, "Only captures at or after this time (2024-05-01T08:00Z)");
  export_cmd->add_option("--to", export_options.to, "Only captures before this time");
  export_cmd->add_flag("--upload", export_options.upload,
                       "Send the reviewed captures to a Custom Vision project (Training API v3.3) "
                       "instead of writing --out; resumable, nothing is sent twice");
  export_cmd->add_option("--endpoint", export_options.endpoint,
                         "--upload: the Custom Vision training resource's endpoint (https://…)")
      ->envname("EDGEVISION_TRAINING_ENDPOINT");
  export_cmd->add_option("--project", export_options.project, "--upload: the project id")
      ->envname("EDGEVISION_TRAINING_PROJECT");
  export_cmd->add_option("--training-key-file", export_options.training_key_file,
                         "--upload: file holding the training key (never logged)")
      ->envname("EDGEVISION_TRAINING_KEY_FILE");
  export_cmd->add_option("--batch-size", export_options.batch_size,
                         "--upload: images per request (at most 64, the API's limit)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  export_cmd->add_option("--retries", export_options.retries,
                         "--upload: attempts per request on 429, 5xx or no connection")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();

  HealthOptions health;
  CLI::App* health_cmd = app.add_subcommand(
      "health", "Exit 0 when a server's /health answers 200 (for container HEALTHCHECKs; no curl needed)");
  health_cmd->add_option("--url", health.url, "Full URL to check (default: http://HOST:PORT/health)");
  health_cmd->add_option("--host", health.host, "Server address")->capture_default_str();
  health_cmd->add_option("--port", health.port, "Server port")
      ->envname("EDGEVISION_PORT")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  health_cmd->add_option("--path", health.path, "Health route: /health (ready), /health/live")->capture_default_str();
  health_cmd->add_flag("--tls", health.tls, "Use https (the certificate is verified unless the server is on loopback)");
  health_cmd->add_option("--timeout", health.timeout_s, "Seconds to wait")
      ->check(CLI::Range(0.1, 600.0))
      ->capture_default_str();
  health_cmd->add_option("--key-file", health.key_file, "File with a key to send as Prediction-Key")
      ->envname("EDGEVISION_HEALTH_KEY_FILE");
  health_cmd->add_flag("--quiet,-q", health.quiet, "Print nothing");

  BenchOptions bench;
  CLI::App* bench_cmd = app.add_subcommand(
      "bench", "Time the inference engine alone (batch 1, fixed input, after warm-up); prints one JSON line");
  bench_cmd->add_option("--model", bench.model, "Model to time (default: demo model)");
  bench_cmd->add_option("--threads", bench.threads, "Threads for one inference")->check(CLI::Range(1, 256))->capture_default_str();
  bench_cmd->add_option("--runs", bench.runs, "Timed runs")->check(CLI::Range(1, 1000000))->capture_default_str();
  bench_cmd->add_option("--warmup", bench.warmup, "Untimed runs first")->check(CLI::Range(0, 1000000))->capture_default_str();
  bench_cmd->add_option("--backend", bench.backend, "Engine")->check(CLI::IsMember({"xnnpack", "reference"}))->capture_default_str();
  bench_cmd->add_flag("--profile", bench.profile, "Also report per-node times");
  bench_cmd->add_flag("--per-op", bench.per_op,
                      "Also report each op's time, share of the total, multiply-adds and GFLOP/s");
  bench_cmd->add_option("--peak-gflops", bench.peak_gflops,
                        "Peak GFLOP/s of this machine (bench/peak/fma_peak.cc): adds each op's compute floor to --per-op")
      ->check(CLI::PositiveNumber);
  AddPrecisionFlag(bench_cmd, &bench.precision);
  AddInt8FallbackFlag(bench_cmd, &bench.int8_fallback);
  bench_cmd->add_option("--data-dir", bench.data_dir, kPrecisionDataDirHelp);
  bench_cmd->add_option("--image", bench.image,
                        "Time the whole request path on this image: a classifier's decode + preprocess + "
                        "inference (and page faults), an object detector's decode, resize, infer, decode+NMS")
      ->check(CLI::ExistingFile);

  CLI11_PARSE(app, argc, argv);

  auto run = [&]() -> int {
    if (serve_cmd->parsed()) {
      if (edgevision::Status s = serve_config.Apply(); !s.ok()) {
        PrintError(s);
        return 2;
      }
      if (serve_config.print_requested()) {
        std::fputs(serve_config.Describe().c_str(), stdout);
        return 0;
      }
      return RunServe(serve);
    }
    if (health_cmd->parsed()) return RunHealth(health);
    if (predict_cmd->parsed()) return RunPredict(predict);
    if (inspect_cmd->parsed()) return RunInspect(inspect);
    if (tensor_cmd->parsed()) return RunTensor(tensor);
    if (decode_cmd->parsed()) return RunDecode(decode);
    if (bench_cmd->parsed()) return RunBench(bench);
    if (export_cmd->parsed()) return RunExport(export_options);  // export (src/store)
    return 2;
  };
  // Every command runs under one guard: an exception that escapes it is
  // reported (exit 1), not a crash (core/guard.h).
  return edgevision::RunCommand(app.get_subcommands().front()->get_name(), run);
}
