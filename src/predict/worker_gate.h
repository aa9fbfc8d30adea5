// WorkerGate: at most `workers` inferences at once, a bounded queue of
// waiters with a timeout. What both the classifier's session pool and the
// detector's plan cache take before any image work, so an overloaded server
// refuses (Unavailable -> 503) before decoding anything.
//
// Thread-safety: all methods are safe from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>

#include "core/status.h"
#include "image/decode.h"

namespace edgevision::predict {

// How many inferences run at once and how requests wait for one; shared by
// classifiers (ClassifierOptions) and detectors (Detector::Create).
struct InferenceLimits {
  // Engine sessions, i.e. inferences that may run at once.
  int workers = 1;
  // Threads each inference may use (EngineOptions::threads).
  int threads_per_inference = 1;
  // Requests allowed to wait for a free session; more are refused.
  int max_waiting = 64;
  // Longest a request waits for a free session.
  std::chrono::milliseconds queue_timeout{10'000};
  image::DecodeLimits decode;
};

class WorkerGate {
 public:
  WorkerGate(int workers, int max_waiting, std::chrono::milliseconds timeout)
      : free_(workers), workers_(workers), max_waiting_(max_waiting), timeout_(timeout) {}
  WorkerGate(const WorkerGate&) = delete;
  WorkerGate& operator=(const WorkerGate&) = delete;

  // A held worker slot, released when the permit goes.
  class Permit {
   public:
    explicit Permit(WorkerGate* gate) : gate_(gate) {}
    Permit(Permit&& other) noexcept : gate_(other.gate_) { other.gate_ = nullptr; }
    Permit& operator=(Permit&&) = delete;
    ~Permit() {
      if (gate_) gate_->Release();
    }

   private:
    WorkerGate* gate_;
  };

  // Waits for a free slot. Errors: Unavailable when `max_waiting` requests
  // already wait, or none became free within the timeout. `waited_ms`
  // (optional) receives the time spent waiting.
  Result<Permit> Acquire(double* waited_ms = nullptr) {
    const auto start = std::chrono::steady_clock::now();
    std::unique_lock<std::mutex> lock(mu_);
    if (free_ == 0) {
      if (waiting_ >= max_waiting_) {
        return Unavailable("all " + std::to_string(workers_) + " inference workers are busy and " +
                           std::to_string(waiting_) + " requests are waiting");
      }
      ++waiting_;
      const bool got = freed_.wait_for(lock, timeout_, [&] { return free_ > 0; });
      --waiting_;
      if (!got) {
        return Unavailable("no inference worker became free within " + std::to_string(timeout_.count()) + " ms");
      }
    }
    --free_;
    lock.unlock();
    if (waited_ms) {
      *waited_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    }
    return Permit(this);
  }

 private:
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++free_;
    }
    freed_.notify_one();
  }

  std::mutex mu_;
  std::condition_variable freed_;
  int free_;         // guarded by mu_
  int waiting_ = 0;  // guarded by mu_
  const int workers_;
  const int max_waiting_;
  const std::chrono::milliseconds timeout_;
};

}  // namespace edgevision::predict
