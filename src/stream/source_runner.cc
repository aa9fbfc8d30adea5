#include "stream/source_runner.h"

#include <spdlog/spdlog.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <set>

#include "core/guard.h"
#include "core/uuid.h"
#include "image/decode.h"
#include "image/draw.h"
#include "image/orientation.h"
#include "predict/draw_detections.h"

namespace edgevision::stream {

namespace {

// How many recent frames a rate is computed over, and how old the newest may
// be before the rate reads 0.
constexpr size_t kRateWindow = 32;
constexpr std::chrono::seconds kRateStale{5};
// A scores list in /sources is cut to this many tags.
constexpr size_t kLastScores = 5;
// A source's repeated frame errors are logged once, then every Nth.
constexpr uint64_t kLogEveryNthBadFrame = 100;

double ThreadCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// Events per second over the last kRateWindow events.
class RateMeter {
 public:
  void Tick(std::chrono::steady_clock::time_point t) {
    times_[next_ % kRateWindow] = t;
    ++next_;
  }
  double Rate(std::chrono::steady_clock::time_point now) const {
    const size_t n = std::min<size_t>(next_, kRateWindow);
    if (n < 2) return 0;
    const auto newest = times_[(next_ - 1) % kRateWindow];
    const auto oldest = times_[(next_ - n) % kRateWindow];
    if (now - newest > kRateStale || newest <= oldest) return 0;
    return static_cast<double>(n - 1) / std::chrono::duration<double>(newest - oldest).count();
  }

 private:
  std::array<std::chrono::steady_clock::time_point, kRateWindow> times_{};
  size_t next_ = 0;
};

bool IsJpeg(const std::vector<uint8_t>& bytes) {
  return bytes.size() > 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF;
}

}  // namespace

const char* SourceStateName(SourceState state) {
  switch (state) {
    case SourceState::kConnecting: return "connecting";
    case SourceState::kRunning: return "running";
    case SourceState::kBackoff: return "backoff";
    case SourceState::kStopped: return "stopped";
    case SourceState::kError: return "error";
  }
  return "unknown";
}

class SourceRunner::Impl {
 public:
  Impl(const RunnerOptions& options, const RunnerContext* context)
      : spec_(options.spec),
        context_(context),
        tracker_(spec_.debounce, std::chrono::seconds(spec_.heartbeat_s)) {
    stats_.name = spec_.name;
    stats_.url = options.display_url;
    stats_.target_fps = spec_.fps;
  }

  void Start() {
    reader_ = GuardedThread("source " + spec_.name + " reader", [this] { ReadLoop(); });
    worker_ = GuardedThread("source " + spec_.name + " worker", [this] { WorkLoop(); });
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stop_) return;
      stop_ = true;
      if (source_) source_->Interrupt();
    }
    cv_.notify_all();
    if (reader_.joinable()) reader_.join();
    if (worker_.joinable()) worker_.join();
    std::lock_guard<std::mutex> lock(mu_);
    stats_.state = SourceState::kStopped;
  }

  SourceStats Stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    SourceStats s = stats_;
    const auto now = std::chrono::steady_clock::now();
    s.fps_in = rate_in_.Rate(now);
    s.fps_out = rate_out_.Rate(now);
    if (s.frames_in > 0) s.read_cpu_ms = read_cpu_total_ms_ / static_cast<double>(s.frames_in);
    if (s.frames_out > 0) {
      const double n = static_cast<double>(s.frames_out);
      s.decode_ms = decode_total_ms_ / n;
      s.preprocess_ms = preprocess_total_ms_ / n;
      s.inference_ms = inference_total_ms_ / n;
    }
    return s;
  }

  Result<LatestImage> Latest() const {
    std::shared_ptr<const Frame> frame;
    LatestImage out;
    std::vector<detect::Detection> detections;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!last_frame_ || !stats_.last) return NotFound("source " + spec_.name + " has no classified frame yet");
      frame = last_frame_;
      detections = stats_.last->detections;
      out.at = stats_.last->at;
    }
    if (frame->is_encoded() && detections.empty() && IsJpeg(frame->encoded)) {
      out.jpeg = frame->encoded;  // as the camera sent it
      return out;
    }
    image::Image img;
    if (frame->is_encoded()) {
      // As the model saw it (EXIF orientation applied), so boxes land right.
      EV_ASSIGN_OR_RETURN(image::DecodedImage decoded, image::Decode(frame->encoded));
      const int orientation = image::ReferenceOrientation(decoded);
      img = image::ApplyExifOrientation(std::move(decoded.rgb), orientation);
    } else {
      img = frame->rgb;
    }
    predict::DrawDetections(&img, detections);
    EV_ASSIGN_OR_RETURN(out.jpeg, image::EncodeJpeg(img, context_->limits.jpeg_quality));
    return out;
  }

 private:
  // ---- the reader thread ----
  void ReadLoop() {
    int attempt = 0;
    bool first = true;
    while (!stop_) {
      SetState(SourceState::kConnecting);
      Result<std::unique_ptr<FrameSource>> opened = context_->opener(spec_, [this] { return stop_.load(); });
      if (!opened.ok()) {
        if (stop_) break;
        Failed(opened.status(), "cannot open");
        if (opened.status().code() == StatusCode::kUnsupported) {
          WaitInError();
          return;
        }
        Backoff(attempt++);
        continue;
      }
      std::unique_ptr<FrameSource> source = std::move(opened).value();
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stop_) break;
        source_ = source.get();
        if (!first) ++stats_.reconnects;
        stats_.state = SourceState::kRunning;
        stats_.decoder = source->decoder();
      }
      const DecoderInfo decoder = source->decoder();
      spdlog::info("source {}: opened {}; decoder {}{}{}", spec_.name, stats_url(), decoder.name,
                   decoder.hardware ? " (hardware)" : "",
                   decoder.fallback.empty() ? "" : " (software; no hardware decoder opened: " + decoder.fallback + ")");
      first = false;
      if (ReadFrames(source.get())) attempt = 0;
      {
        std::lock_guard<std::mutex> lock(mu_);
        source_ = nullptr;
      }
      source.reset();
      if (!stop_) Backoff(attempt++);
    }
    SetState(SourceState::kStopped);
  }

  // Reads until the source fails or stops. True when it gave a frame.
  bool ReadFrames(FrameSource* source) {
    bool any = false;
    int bad_in_a_row = 0;
    while (!stop_) {
      const double cpu_start = ThreadCpuMs();
      Result<Frame> frame = source->Read();
      const double cpu_ms = ThreadCpuMs() - cpu_start;
      if (stop_) break;
      if (frame.ok()) {
        any = true;
        bad_in_a_row = 0;
        auto f = std::make_unique<Frame>(std::move(frame).value());
        {
          std::lock_guard<std::mutex> lock(mu_);
          ++stats_.frames_in;
          read_cpu_total_ms_ += cpu_ms;
          rate_in_.Tick(f->read_at);
          if (slot_) ++stats_.dropped.superseded;  // never taken: no backlog, ever
          slot_ = std::move(f);
        }
        cv_.notify_all();
        continue;
      }
      const Status& s = frame.status();
      if (s.code() == StatusCode::kInvalidArgument || s.code() == StatusCode::kResourceExhausted) {
        BadFrame(s, /*by_model=*/false);
        if (++bad_in_a_row >= context_->limits.max_consecutive_bad_frames) {
          Failed(Unavailable(std::to_string(bad_in_a_row) + " unusable frames in a row"), "reopening");
          break;
        }
        continue;
      }
      Failed(s, "lost");
      break;
    }
    return any;
  }

  void Backoff(int attempt) {
    const auto initial = context_->limits.backoff_initial;
    auto wait = initial * (1LL << std::min(attempt, 16));
    wait = std::min<std::chrono::milliseconds>(wait, context_->limits.backoff_max);
    std::unique_lock<std::mutex> lock(mu_);
    if (stop_) return;
    stats_.state = SourceState::kBackoff;
    cv_.wait_for(lock, wait, [this] { return stop_.load(); });
  }

  // A source this installation cannot open: no retries; stays in state
  // error until Stop().
  void WaitInError() {
    std::unique_lock<std::mutex> lock(mu_);
    stats_.state = SourceState::kError;
    cv_.wait(lock, [this] { return stop_.load(); });
  }

  void SetState(SourceState state) {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.state = state;
  }

  void Failed(const Status& s, const char* what) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.last_error = s.message();
    }
    spdlog::warn("source {}: {}: {}", spec_.name, what, s.message());
  }

  void BadFrame(const Status& s, bool by_model) {
    uint64_t n = 0;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++(by_model ? stats_.bad_frames.model : stats_.bad_frames.source);
      n = stats_.bad_frames.total();
      stats_.last_error = s.message();
    }
    if (n == 1 || n % kLogEveryNthBadFrame == 0) {
      spdlog::warn("source {}: unusable frame ({} so far): {}", spec_.name, n, s.message());
    }
  }

  std::string stats_url() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_.url;
  }

  // ---- the worker thread ----
  void WorkLoop() {
    const bool paced = spec_.fps > 0;
    const auto period = paced ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                    std::chrono::duration<double>(1.0 / spec_.fps))
                              : std::chrono::steady_clock::duration::zero();
    auto next_due = std::chrono::steady_clock::now();
    while (true) {
      std::unique_ptr<Frame> frame;
      {
        std::unique_lock<std::mutex> lock(mu_);
        // The sampling rate: frames that come before their time wait in the
        // slot (and are replaced by newer ones).
        if (paced) cv_.wait_until(lock, next_due, [this] { return stop_.load(); });
        cv_.wait(lock, [this] { return stop_ || slot_ != nullptr; });
        if (stop_) break;
        frame = std::move(slot_);
      }
      if (paced) next_due = std::max(next_due + period, std::chrono::steady_clock::now());
      Process(std::move(frame));
    }
  }

  void Process(std::unique_ptr<Frame> frame) {
    std::shared_ptr<const predict::Classifier> model = context_->slot->Get();
    if (!model) {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.dropped.no_model;
      stats_.last_error = "no model is loaded yet";
      return;
    }
    LastResult last;
    last.at = std::chrono::system_clock::now();
    last.detector = model->detector() != nullptr;
    std::optional<predict::Classification> classification;
    int seen_width = 0, seen_height = 0;  // a detector's image after EXIF orientation
    double decode = 0, preprocess = 0, inference = 0;
    if (last.detector) {
      Result<predict::DetectionResult> r =
          frame->is_encoded() ? model->DetectImage(frame->encoded) : model->DetectPixels(frame->rgb);
      if (context_->sink) context_->sink->Outcome(*model, r.status());
      if (!r.ok()) return ModelFailed(r.status());
      last.detections = std::move(r->detections);
      seen_width = r->seen_width;
      seen_height = r->seen_height;
      last.scene = SceneOf(last.detections, spec_.threshold);
      decode = r->timings.decode_ms;
      preprocess = r->timings.resize_ms;
      inference = r->timings.inference_ms + r->timings.postprocess_ms;
    } else {
      Result<predict::Classification> r =
          frame->is_encoded() ? model->ClassifyImage(frame->encoded) : model->ClassifyPixels(frame->rgb);
      if (context_->sink) context_->sink->Outcome(*model, r.status());
      if (!r.ok()) return ModelFailed(r.status());
      last.scene = SceneOf(*r, spec_.threshold);
      last.scores.assign(r->scores.begin(), r->scores.begin() + static_cast<std::ptrdiff_t>(std::min(kLastScores, r->scores.size())));
      decode = r->timings.decode_ms;
      preprocess = r->timings.preprocess_ms;
      inference = r->timings.inference_ms;
      classification = std::move(r).value();
    }
    const EventKind kind = tracker_.Observe(last.scene, std::chrono::steady_clock::now());
    std::shared_ptr<const Frame> shared(std::move(frame));
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.frames_out;
      rate_out_.Tick(std::chrono::steady_clock::now());
      decode_total_ms_ += decode;
      preprocess_total_ms_ += preprocess;
      inference_total_ms_ += inference;
      if (kind == EventKind::kChange) ++stats_.events;
      if (kind == EventKind::kHeartbeat) ++stats_.heartbeats;
      stats_.last = last;
      last_frame_ = shared;
    }
    if (kind == EventKind::kNone) return;
    if (kind == EventKind::kChange) {
      spdlog::info("source {}: event: scene \"{}\"", spec_.name, last.scene);
    } else {
      spdlog::debug("source {}: heartbeat: scene \"{}\"", spec_.name, last.scene);
    }
    Publish(kind, *shared, *model, classification ? &*classification : nullptr,
            last.detector ? &last.detections : nullptr, seen_width, seen_height);
  }

  void ModelFailed(const Status& s) {
    if (s.code() == StatusCode::kUnavailable) {  // every inference worker busy with requests
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.dropped.model_busy;
      stats_.last_error = s.message();
      return;
    }
    BadFrame(s, /*by_model=*/true);
  }

  // The event to the prediction observers, as an HTTP prediction: the frame
  // (as sent, or JPEG-encoded when it was decoded here) and the answer.
  void Publish(EventKind kind, const Frame& frame, const predict::Classifier& model,
               const predict::Classification* classification, const std::vector<detect::Detection>* detections,
               int seen_width, int seen_height) {
    if (!context_->sink || !context_->sink->has_observers()) return;
    std::vector<uint8_t> jpeg;
    std::span<const uint8_t> image = frame.encoded;
    if (!frame.is_encoded()) {
      Result<std::vector<uint8_t>> encoded = image::EncodeJpeg(frame.rgb, context_->limits.jpeg_quality);
      if (encoded.ok()) jpeg = std::move(encoded).value();
      image = jpeg;
    }
    predict::PredictionRecord record;
    record.id = NewUuid();
    record.created = std::chrono::system_clock::now();
    record.received = frame.read_at;
    record.route = "SOURCE " + spec_.name + " " + EventKindName(kind);
    record.iteration = model.info().iteration_id;
    record.image = image;
    record.result = classification;
    record.detections = detections;
    record.seen_width = seen_width;
    record.seen_height = seen_height;
    record.model = &model.info();
    context_->sink->Notify(record);
  }

  const SourceSpec spec_;
  const RunnerContext* context_;
  EventTracker tracker_;  // the worker's
  std::thread reader_;
  std::thread worker_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  FrameSource* source_ = nullptr;                // guarded by mu_: the open source, to interrupt
  std::unique_ptr<Frame> slot_;                  // guarded by mu_: the latest frame not yet taken
  std::shared_ptr<const Frame> last_frame_;      // guarded by mu_: the last classified frame
  SourceStats stats_;                            // guarded by mu_
  RateMeter rate_in_;                            // guarded by mu_
  RateMeter rate_out_;                           // guarded by mu_
  double read_cpu_total_ms_ = 0;                 // guarded by mu_
  double decode_total_ms_ = 0;                   // guarded by mu_
  double preprocess_total_ms_ = 0;               // guarded by mu_
  double inference_total_ms_ = 0;                // guarded by mu_
};

SourceRunner::SourceRunner(RunnerOptions options, const RunnerContext* context)
    : options_(std::move(options)), impl_(std::make_unique<Impl>(options_, context)) {}

SourceRunner::~SourceRunner() { Stop(); }
void SourceRunner::Start() { impl_->Start(); }
void SourceRunner::Stop() { impl_->Stop(); }
SourceStats SourceRunner::Stats() const { return impl_->Stats(); }
Result<LatestImage> SourceRunner::Latest() const { return impl_->Latest(); }

namespace {

Status CheckUniqueNames(const std::vector<RunnerOptions>& sources) {
  std::set<std::string> names;
  for (const RunnerOptions& options : sources) {
    if (!names.insert(options.spec.name).second) return InvalidArgument("two sources are named " + options.spec.name);
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<Sources>> Sources::Create(std::vector<RunnerOptions> sources, RunnerContext context) {
  EV_RETURN_IF_ERROR(CheckUniqueNames(sources));
  std::unique_ptr<Sources> s(new Sources(std::move(context)));
  for (RunnerOptions& options : sources) {
    s->runners_.push_back(std::make_shared<SourceRunner>(std::move(options), &s->context_));
  }
  return s;
}

Sources::~Sources() { Stop(); }

std::vector<std::shared_ptr<SourceRunner>> Sources::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return runners_;
}

void Sources::Start() {
  std::lock_guard<std::mutex> control(control_mu_);
  if (started_ || stopped_) return;
  started_ = true;
  for (auto& r : Snapshot()) r->Start();
}

void Sources::Stop() {
  std::lock_guard<std::mutex> control(control_mu_);
  stopped_ = true;
  for (auto& r : Snapshot()) r->Stop();
}

Status Sources::Apply(std::vector<RunnerOptions> wanted) {
  EV_RETURN_IF_ERROR(CheckUniqueNames(wanted));
  std::lock_guard<std::mutex> control(control_mu_);
  if (stopped_) return Status::Ok();
  const std::vector<std::shared_ptr<SourceRunner>> before = Snapshot();
  std::vector<std::shared_ptr<SourceRunner>> after, started;
  for (RunnerOptions& options : wanted) {
    auto same = std::find_if(before.begin(), before.end(), [&](const std::shared_ptr<SourceRunner>& r) {
      return r->options().spec == options.spec && r->options().display_url == options.display_url;
    });
    if (same != before.end()) {
      after.push_back(*same);
      continue;
    }
    started.push_back(std::make_shared<SourceRunner>(std::move(options), &context_));
    after.push_back(started.back());
  }
  std::vector<std::shared_ptr<SourceRunner>> stopped;
  for (const auto& r : before) {
    if (std::find(after.begin(), after.end(), r) == after.end()) stopped.push_back(r);
  }
  // A changed source stops before its successor opens (one camera, one connection).
  for (const auto& r : stopped) {
    r->Stop();
    spdlog::info("source {}: stopped ({})", r->name(), "removed or changed");
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    runners_ = after;
  }
  for (const auto& r : started) {
    spdlog::info("source {}: added ({})", r->name(), r->options().display_url);
    if (started_) r->Start();
  }
  return Status::Ok();
}

std::vector<SourceStats> Sources::Stats() const {
  std::vector<SourceStats> out;
  for (const auto& r : Snapshot()) out.push_back(r->Stats());
  return out;
}

std::vector<RunnerOptions> Sources::Options() const {
  std::vector<RunnerOptions> out;
  for (const auto& r : Snapshot()) out.push_back(r->options());
  return out;
}

Result<LatestImage> Sources::Latest(const std::string& name) const {
  for (const auto& r : Snapshot()) {
    if (r->name() == name) return r->Latest();
  }
  return NotFound("no source named " + name);
}

size_t Sources::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return runners_.size();
}

}  // namespace edgevision::stream
