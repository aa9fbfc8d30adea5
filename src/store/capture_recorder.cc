#include "store/capture_recorder.h"

#include <spdlog/spdlog.h>

#include <random>

#include "core/guard.h"
#include "image/decode.h"
#include "predict/classifier.h"

namespace edgevision::store {

namespace {

double DefaultRandom() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

// Only the tags the response shows, with the probabilities it shows.
std::vector<StoredPrediction> ToStored(const predict::Classification& result) {
  std::vector<StoredPrediction> out;
  out.reserve(result.scores.size());
  for (const predict::TagScore& s : result.scores) {
    const double p = predict::RoundLikeReference(s.probability);
    if (p <= 1e-8) continue;
    out.push_back({s.tag, p});
  }
  return out;
}

// The boxes as the HTTP response shows them (DetectionJson's rounding).
std::vector<StoredDetection> ToStored(const std::vector<detect::Detection>& detections) {
  using detect::RoundLikePython;
  std::vector<StoredDetection> out;
  out.reserve(detections.size());
  for (const detect::Detection& d : detections) {
    out.push_back({d.tag,
                   d.tag_index,
                   RoundLikePython(d.probability),
                   {RoundLikePython(d.box.left), RoundLikePython(d.box.top),
                    RoundLikePython(d.box.width), RoundLikePython(d.box.height)}});
  }
  return out;
}

}  // namespace

CaptureRecorder::CaptureRecorder(CaptureStore* store, CapturePolicy policy, RecorderOptions options)
    : store_(store), options_(std::move(options)), policy_(std::make_shared<const CapturePolicy>(std::move(policy))) {
  writer_ = GuardedThread("capture writer", [this] { Run(); });
}

CaptureRecorder::~CaptureRecorder() {
  Stop();
}

CapturePolicy CaptureRecorder::policy() const {
  std::lock_guard<std::mutex> lock(policy_mu_);
  return *policy_;
}

void CaptureRecorder::SetPolicy(CapturePolicy policy) {
  auto next = std::make_shared<const CapturePolicy>(std::move(policy));
  std::lock_guard<std::mutex> lock(policy_mu_);
  policy_ = std::move(next);
}

void CaptureRecorder::OnPrediction(const predict::PredictionRecord& record) {
  ++seen_;
  std::shared_ptr<const CapturePolicy> policy;
  {
    std::lock_guard<std::mutex> lock(policy_mu_);
    policy = policy_;
  }
  if (record.nostore || !policy->enabled() ||
      (record.result == nullptr && record.detections == nullptr) || record.image.empty())
    return;
  // A classifier's tags, or a detector's boxes; the policy sees the top one.
  std::vector<StoredPrediction> predictions;
  std::vector<StoredDetection> detections;
  std::string top_tag;
  double top_p = 0.0;
  if (record.result) {
    predictions = ToStored(*record.result);
    if (!predictions.empty()) {
      top_tag = predictions[0].tag;
      top_p = predictions[0].probability;
    }
  } else {
    detections = ToStored(*record.detections);
    if (const StoredDetection* top = MostProbable(detections)) {
      top_tag = top->tag;
      top_p = top->probability;
    }
  }
  const double u = policy->mode == CapturePolicy::Mode::kSample
                       ? (options_.random ? options_.random() : DefaultRandom())
                       : 0.0;
  if (!policy->ShouldCapture(top_tag, top_p, u)) return;
  ++selected_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    if (queue_.size() >= options_.queue_depth ||
        queued_bytes_ + record.image.size() > options_.max_queued_bytes) {
      ++dropped_queue_full_;
      return;
    }
  }
  // Copy outside the lock; the record's spans die with the call.
  NewCapture c;
  c.id = record.id;
  c.created = record.created;
  c.route = record.route;
  c.project = record.project;
  c.iteration = record.iteration;
  if (record.model) c.model_sha1 = record.model->model_sha1;
  c.predictions = std::move(predictions);
  if (record.result) {
    c.image_format = record.result->image_format;
    c.image_width = record.result->image_width;
    c.image_height = record.result->image_height;
  } else {
    // The format from the header (the image decoded for the prediction, so
    // this only reads a few bytes); the size the boxes are normalised to,
    // after EXIF orientation, from the detector (a rotated JPEG's regions in
    // pixels, e.g. COCO's, need it), else the header's.
    Result<image::ImageHeader> header = image::ReadHeader(record.image);
    if (!header.ok()) {
      ++dropped_error_;
      return;
    }
    c.kind = CaptureKind::kDetection;
    c.detections = std::move(detections);
    c.image_format = header->format;
    const bool seen = record.seen_width > 0 && record.seen_height > 0;
    c.image_width = seen ? record.seen_width : header->width;
    c.image_height = seen ? record.seen_height : header->height;
  }
  c.image.assign(record.image.begin(), record.image.end());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    if (queue_.size() >= options_.queue_depth ||
        queued_bytes_ + c.image.size() > options_.max_queued_bytes) {
      ++dropped_queue_full_;
      return;
    }
    queued_bytes_ += c.image.size();
    queue_.push_back(std::move(c));
  }
  wake_.notify_one();
}

void CaptureRecorder::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (queue_.empty()) {
      if (stopping_) break;
      idle_.notify_all();
      const bool woken = wake_.wait_for(lock, store_->options().retention_interval,
                                        [this] { return stopping_ || !queue_.empty(); });
      if (!woken) {
        // Idle for a while: let age-based retention run without new captures.
        writing_ = true;
        lock.unlock();
        Status s = store_->EnforceRetention();
        if (!s.ok()) spdlog::warn("capture store: retention: {}", s.message());
        lock.lock();
        writing_ = false;
      }
      continue;
    }
    NewCapture c = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= c.image.size();
    writing_ = true;
    lock.unlock();
    const auto start = std::chrono::steady_clock::now();
    Status s = store_->Add(c);
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - start);
    if (s.ok()) {
      ++stored_;
      write_us_total_ += us.count();
    } else if (s.code() == StatusCode::kResourceExhausted) {
      ++dropped_disk_full_;
    } else {
      ++dropped_error_;
      spdlog::warn("capture store: {}", s.message());
    }
    lock.lock();
    writing_ = false;
  }
  idle_.notify_all();
}

void CaptureRecorder::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
}

bool CaptureRecorder::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_.wait_for(lock, timeout, [this] { return queue_.empty() && !writing_; });
}

RecorderStats CaptureRecorder::stats() const {
  RecorderStats s;
  s.seen = seen_;
  s.selected = selected_;
  s.stored = stored_;
  s.dropped_queue_full = dropped_queue_full_;
  s.dropped_disk_full = dropped_disk_full_;
  s.dropped_error = dropped_error_;
  s.write_ms_avg =
      s.stored > 0 ? static_cast<double>(write_us_total_) / 1000.0 / static_cast<double>(s.stored)
                   : 0;
  std::lock_guard<std::mutex> lock(mu_);
  s.queued = static_cast<int64_t>(queue_.size()) + (writing_ ? 1 : 0);
  return s;
}

}  // namespace edgevision::store
