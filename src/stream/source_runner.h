// SourceRunner: one watched source, end to end. Sources: all of them, for
// `serve` and the /sources routes.
//
// Two threads per source:
//  - the reader opens the source (stream/source.h) and reads frames as fast
//    as they come, keeping only the latest in a one-frame slot: a frame the
//    worker has not taken when the next arrives is dropped and counted, so
//    there is never a backlog and memory stays bounded (at most three frames
//    per source: the slot, the one being classified, the last classified).
//    A source that fails to open, ends or stops sending is reopened with
//    exponential backoff; a frame that cannot be used is counted and skipped
//    (too many in a row: reopened).
//  - the worker takes the latest frame at the target rate (fps; 0 = as fast
//    as the model allows), classifies or detects it through the serving
//    model (predict::Classifier, the same preprocessing as a posted image),
//    and publishes events (stream/event_tracker.h) to the prediction
//    observers — the upstream outbox and the capture store, exactly as an
//    HTTP prediction reaches them.
//
// Nothing a source does can stop the server: every error is a value,
// logged, counted and shown in Stats().
//
// Thread-safety: Start/Stop from one thread; Stats and Latest from any.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "predict/model_slot.h"
#include "predict/prediction_sink.h"
#include "stream/event_tracker.h"
#include "stream/source.h"

namespace edgevision::stream {

// Reconnection and bad-frame limits (docs/streams.md).
struct RunnerLimits {
  std::chrono::milliseconds backoff_initial{500};  // first wait before reopening
  std::chrono::milliseconds backoff_max{30'000};   // the wait doubles up to this
  int max_consecutive_bad_frames = 50;             // then the source is reopened
  int jpeg_quality = 90;                           // frames encoded for events and latest.jpg
};

// Everything a runner shares with the server.
struct RunnerContext {
  const predict::ModelSlot* slot = nullptr;  // required
  // Told every classified frame's outcome (model delivery's probation) and
  // every event, as HTTP predictions are (predict/prediction_sink.h); null: no one.
  const predict::PredictionSink* sink = nullptr;
  SourceOpener opener = OpenSource;
  RunnerLimits limits;
};

// kError: the source can never open with this installation (the opener said
// Unsupported: the FFmpeg module or FFmpeg's libraries are missing); it is
// not retried, last_error says what to install. The server keeps serving.
enum class SourceState { kConnecting, kRunning, kBackoff, kStopped, kError };
// "connecting", "running", "backoff", "stopped", "error"
const char* SourceStateName(SourceState state);

// The last classified frame's answer.
struct LastResult {
  std::chrono::system_clock::time_point at{};
  std::string scene;                               // SceneOf
  std::vector<predict::TagScore> scores;           // a classifier's (top 5)
  std::vector<detect::Detection> detections;       // a detector's
  bool detector = false;
};

// Frames read but never classified, by cause (docs/streams.md).
struct DroppedFrames {
  uint64_t superseded = 0;  // a newer frame came before the worker took it: the sampling rate, or a model slower than the camera
  uint64_t model_busy = 0;  // every inference worker was busy (with HTTP requests) longer than the queue allows
  uint64_t no_model = 0;    // no model was loaded
  uint64_t total() const { return superseded + model_busy + no_model; }
};

// Frames that could not be used, by who refused them.
struct BadFrames {
  uint64_t source = 0;  // the source: an undecodable packet, a frame over the size limits
  uint64_t model = 0;   // the model's decoder: not an image it reads, too large
  uint64_t total() const { return source + model; }
};

// A snapshot of one source (GET /sources, /metrics).
struct SourceStats {
  std::string name;
  std::string url;  // as shown: the caller redacts passwords (RunnerOptions::display_url)
  SourceState state = SourceState::kConnecting;
  std::string last_error;  // "" when none yet
  uint64_t frames_in = 0;     // frames read from the source
  uint64_t frames_out = 0;    // frames classified
  DroppedFrames dropped;      // frames read and never classified
  BadFrames bad_frames;       // frames the source or the model could not use
  uint64_t reconnects = 0;    // times the source was (re)opened after the first
  uint64_t events = 0;        // changes published
  uint64_t heartbeats = 0;    // heartbeats published
  double fps_in = 0;          // over the last few seconds
  double fps_out = 0;
  double target_fps = 0;      // 0 = as fast as the model allows
  std::optional<DecoderInfo> decoder;  // of the open source (the last one opened); none before
  // Mean cost per frame: CPU of the reader thread per frame read (demux +
  // decode + colour conversion), and the worker's wall time per classified
  // frame in the model's stages (decode of an encoded frame, preprocess,
  // inference).
  double read_cpu_ms = 0;
  double decode_ms = 0;
  double preprocess_ms = 0;
  double inference_ms = 0;
  std::optional<LastResult> last;
};

// The latest classified frame as JPEG, with its boxes drawn when it has any.
struct LatestImage {
  std::vector<uint8_t> jpeg;
  std::chrono::system_clock::time_point at{};
};

struct RunnerOptions {
  SourceSpec spec;
  std::string display_url;  // the URL as /sources shows it (passwords redacted)
};

class SourceRunner {
 public:
  SourceRunner(RunnerOptions options, const RunnerContext* context);
  SourceRunner(const SourceRunner&) = delete;
  SourceRunner& operator=(const SourceRunner&) = delete;
  ~SourceRunner();  // Stop()

  void Start();
  // Interrupts the source, joins both threads. Idempotent.
  void Stop();

  const std::string& name() const { return options_.spec.name; }
  const RunnerOptions& options() const { return options_; }
  SourceStats Stats() const;
  // Errors: NotFound when no frame has been classified yet.
  Result<LatestImage> Latest() const;

 private:
  class Impl;
  RunnerOptions options_;
  std::unique_ptr<Impl> impl_;
};

// All sources: the configured ones, changed at run time by Apply (the
// module twin's desired "sources").
//
// Thread-safety: every method is safe from any thread; Start, Stop and Apply
// are serialised (each returns when its sources have started or stopped).
class Sources {
 public:
  // Errors: InvalidArgument for two sources with one name.
  static Result<std::unique_ptr<Sources>> Create(std::vector<RunnerOptions> sources, RunnerContext context);
  ~Sources();  // Stop()
  // Starts every source; a source added by Apply later starts at once.
  void Start();
  // Stops every source; Apply starts nothing after it.
  void Stop();
  // Makes `wanted` the set of sources, by name: a source whose spec and
  // shown URL are unchanged keeps running untouched, a changed one is
  // stopped and started again with its new spec, one no longer wanted is
  // stopped, a new one is started (once Start was called). Errors:
  // InvalidArgument for two sources with one name (nothing changes).
  Status Apply(std::vector<RunnerOptions> wanted);
  std::vector<SourceStats> Stats() const;
  // Every source's options, in the order of Stats.
  std::vector<RunnerOptions> Options() const;
  // Errors: NotFound (no such source, or no frame yet).
  Result<LatestImage> Latest(const std::string& name) const;
  size_t size() const;

 private:
  explicit Sources(RunnerContext context) : context_(std::move(context)) {}
  std::vector<std::shared_ptr<SourceRunner>> Snapshot() const;

  RunnerContext context_;
  std::mutex control_mu_;  // serialises Start, Stop and Apply
  bool started_ = false;   // guarded by control_mu_
  bool stopped_ = false;   // guarded by control_mu_
  mutable std::mutex mu_;
  std::vector<std::shared_ptr<SourceRunner>> runners_;  // guarded by mu_; in the order they were added
};

}  // namespace edgevision::stream
