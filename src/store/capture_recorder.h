// CaptureRecorder: the prediction observer that feeds the capture store.
//
// On the request thread it only applies the CapturePolicy and, for a capture
// it keeps, copies the record into a small bounded queue (a memcpy of the
// image); a single writer thread hashes, writes and commits. When the queue
// is full the capture is dropped and counted: a prediction never waits for
// the disk. Routes marked nostore are never captured.
//
// The writer also runs the store's age-based retention when idle.
//
// Thread-safety: OnPrediction and stats() are safe from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "predict/prediction_observer.h"
#include "store/capture_policy.h"
#include "store/capture_store.h"

namespace edgevision::store {

// Named limits with safe defaults.
struct RecorderOptions {
  // Captures waiting for the writer; more are dropped.
  size_t queue_depth = 32;
  // Image bytes waiting for the writer; more are dropped.
  size_t max_queued_bytes = 32u << 20;
  // A uniform draw in [0, 1) for sample:<fraction>; default: a per-thread PRNG.
  std::function<double()> random;
};

struct RecorderStats {
  int64_t seen = 0;                // predictions observed (nostore ones included)
  int64_t selected = 0;            // ... the policy chose to keep
  int64_t queued = 0;              // waiting for the writer now
  int64_t stored = 0;              // written and committed
  int64_t dropped_queue_full = 0;  // the writer was behind
  int64_t dropped_disk_full = 0;   // the store was paused (disk full / low)
  int64_t dropped_error = 0;       // any other store error
  double write_ms_avg = 0;         // mean writer time per stored capture
};

class CaptureRecorder final : public predict::PredictionObserver {
 public:
  // `store` must outlive the recorder. Starts the writer thread.
  CaptureRecorder(CaptureStore* store, CapturePolicy policy, RecorderOptions options = {});
  ~CaptureRecorder() override;
  CaptureRecorder(const CaptureRecorder&) = delete;
  CaptureRecorder& operator=(const CaptureRecorder&) = delete;

  void OnPrediction(const predict::PredictionRecord& record) override;

  // Writes what is queued, then stops the writer. Idempotent; later
  // predictions are ignored.
  void Stop();

  // Waits until nothing is queued or being written. False on timeout.
  bool WaitIdle(std::chrono::milliseconds timeout);

  RecorderStats stats() const;
  // The policy in force, and a new one for the predictions that follow
  // (the module twin changes it live). Thread-safe.
  CapturePolicy policy() const;
  void SetPolicy(CapturePolicy policy);

 private:
  void Run();

  CaptureStore* const store_;
  const RecorderOptions options_;

  mutable std::mutex policy_mu_;
  std::shared_ptr<const CapturePolicy> policy_;  // guarded by policy_mu_; replaced, never changed

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<NewCapture> queue_;  // guarded by mu_
  size_t queued_bytes_ = 0;       // guarded by mu_
  bool writing_ = false;          // guarded by mu_
  bool stopping_ = false;         // guarded by mu_
  std::thread writer_;

  std::atomic<int64_t> seen_{0};
  std::atomic<int64_t> selected_{0};
  std::atomic<int64_t> stored_{0};
  std::atomic<int64_t> dropped_queue_full_{0};
  std::atomic<int64_t> dropped_disk_full_{0};
  std::atomic<int64_t> dropped_error_{0};
  std::atomic<int64_t> write_us_total_{0};
};

}  // namespace edgevision::store
