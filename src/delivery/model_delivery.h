// ModelDelivery: puts a model named by URL and SHA-256 into service, from
// PUT /admin/model or the module twin's desired "model" (docs/model-delivery.md).
//
// One background thread takes the latest request through these steps, each
// committed to disk before the next (data dir layout):
//   models/downloads/<sha256>.part  the download, resumed with HTTP Range
//                                   after a cut, a failure or a restart
//   models/<sha256>.tmp/            the zip unpacked safely (delivery/unpack.h)
//                                   or the single model file, fsynced
//   models/<sha256>/                renamed in when complete
//   models/delivery.state           the commit point (delivery/delivery_record.h)
// then loads the model beside the serving one (ModelReloader::Load), runs the
// export's own test images, records it as current (the serving one becomes
// previous: the last-known-good) and swaps it in (ModelReloader::Switch;
// requests in flight keep their snapshot, so none fails). The first
// `probation_predictions` are watched: `max_probation_failures` model errors
// swap the previous model back. A model that fails to download, verify,
// unpack, load or pass its test images is never swapped in.
//
// At start-up StartupPaths() lists what to try, in order: the current
// delivered model, its last-known-good, then --model; all from disk, so a
// device that restarts offline comes up on what it last served.
//
// Thread-safety: all public methods are safe from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "delivery/delivery_limits.h"
#include "delivery/delivery_record.h"
#include "delivery/delivery_status.h"
#include "delivery/file_downloader.h"
#include "predict/model_reloader.h"

namespace edgevision::delivery {

struct DeliveryRequest {
  std::string url;
  std::string sha256;   // 64 hex digits (any case)
  std::string version;  // optional; default: the first 12 digits of sha256
};

struct DeliveryOptions {
  std::string data_dir;          // required
  std::string configured_model;  // --model
  DeliveryLimits limits;
};

class ModelDelivery {
 public:
  // Creates models/ under the data dir and reads the record. Errors: IOError,
  // Corrupt (an unreadable record).
  static Result<std::unique_ptr<ModelDelivery>> Open(DeliveryOptions options, predict::ModelReloader* reloader,
                                                     const FileDownloader* downloader);
  ~ModelDelivery();  // Stop()
  ModelDelivery(const ModelDelivery&) = delete;
  ModelDelivery& operator=(const ModelDelivery&) = delete;

  // The model paths to try at start-up, best first.
  std::vector<std::string> StartupPaths() const;
  // Start-up served `path` (one of StartupPaths); `skipped` says why the
  // better ones did not load (empty when none was skipped). Rolls the record
  // back when the current model was skipped.
  void StartedOn(const std::string& path, const std::string& skipped);

  // Starts the thread; a request pending before a restart resumes.
  void Start();
  void Stop();

  // Accepts a request (it replaces one not yet applied). Returns at once.
  // A request for the model already serving or already pending is a no-op,
  // except that a pending one waiting for its next round starts it now.
  // Errors: InvalidArgument (a bad URL, checksum or version).
  Status Request(const DeliveryRequest& request);

  DeliveryStatus status() const;

  // Called with every prediction's outcome (OK or the error) and the model
  // that served it; quick when no model is on probation.
  void OnOutcome(const predict::Classifier* model, const Status& outcome);

  // Called after every state change (the twin reports it).
  void SetListener(std::function<void()> listener);

 private:
  ModelDelivery(DeliveryOptions options, predict::ModelReloader* reloader, const FileDownloader* downloader,
                DeliveryRecord record);
  void Run();
  // One request through every step; returns when applied or failed.
  void Deliver(const ModelRef& target);
  // Download (resumed), then the checksum; OK also when superseded meanwhile.
  Status FetchAndVerify(const ModelRef& target);
  // After a round that failed with `error`: true when another round is
  // scheduled (transient error, rounds left), false when the request fails.
  bool ScheduleRetry(const ModelRef& target, const Status& error);
  bool WaitingForRetry() const;  // caller holds mu_
  void RestoreRetries();         // the constructor: the pending request's rounds from the record
  Status Download(const ModelRef& target, bool* resumed);
  Result<std::string> Unpack(const ModelRef& target);
  Status Accept(const predict::Classifier& model, const std::string& path);
  void Apply(const ModelRef& target, std::shared_ptr<const predict::Classifier> model);
  void RollBack(const std::string& why);
  void Fail(const ModelRef& target, const Status& error);
  void SetState(DeliveryState state, const ModelRef* about, const std::string& error = "");
  // SetState's change with mu_ held; returns the listener to call once it is released.
  std::function<void()> SetStateLocked(DeliveryState state, const ModelRef* about, const std::string& error);
  Status Commit(const DeliveryRecord& record);  // caller holds mu_
  void CollectGarbage();
  bool Superseded(const ModelRef& target) const;  // stop or a newer request
  std::string ModelsDir() const { return options_.data_dir + "/models"; }
  std::string RecordPath() const { return ModelsDir() + "/delivery.state"; }
  std::string PartPath(const std::string& sha) const { return ModelsDir() + "/downloads/" + sha + ".part"; }

  const DeliveryOptions options_;
  predict::ModelReloader* const reloader_;
  const FileDownloader* const downloader_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  DeliveryRecord record_;           // guarded by mu_: as on disk
  DeliveryStatus status_;           // guarded by mu_
  bool stopping_ = false;           // guarded by mu_
  bool rollback_requested_ = false;  // guarded by mu_
  std::string rollback_reason_;     // guarded by mu_
  std::function<void()> listener_;  // guarded by mu_
  // The next round of the pending request (whose sha256 is retry_sha_)
  // starts at retry_at_; retry_round_ rounds were retried so far. Kept in
  // the record too (DeliveryRecord::retries, next_retry).
  std::optional<std::chrono::steady_clock::time_point> retry_at_;  // guarded by mu_
  std::string retry_sha_;                                          // guarded by mu_
  int retry_round_ = 0;                                            // guarded by mu_
  // Probation: the model just swapped in and the one it replaced.
  std::atomic<const predict::Classifier*> probation_{nullptr};
  std::shared_ptr<const predict::Classifier> probation_model_;  // guarded by mu_
  std::shared_ptr<const predict::Classifier> fallback_model_;   // guarded by mu_
  std::atomic<int> probation_seen_{0};
  std::atomic<int> probation_failed_{0};
  std::atomic<bool> cancel_{false};
  std::thread thread_;
};

// The URL as safe to show: scheme, host and path, without user info or query.
std::string RedactUrl(const std::string& url);

}  // namespace edgevision::delivery
