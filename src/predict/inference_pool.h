// InferencePool: at most `workers` inferences at once (decode, preprocess,
// inference: the CPU-heavy part of a prediction), a bounded queue of waiting
// requests with a timeout, so an overloaded server refuses (Unavailable ->
// 503) before decoding anything. Both the classifier's sessions and the
// detector's plan cache sit behind one.
//
// A request that finds a worker idle runs on its own thread, as a gate would
// let it: no hand-off, no wake-up. A request that has to wait is queued, and
// each worker has a thread of its own that takes the next queued job as soon
// as the worker is free and keeps taking them while the queue is not empty.
// Why: when every waiting request had to be woken to run itself, each
// finished request handed its worker to another sleeping connection thread,
// which the kernel woke on whichever core it chose, often the one still
// running the other inference; the two shared that core while the first went
// idle, and 8 keep-alive connections on 2 workers gave 8-18 % (up to 40 % on
// a busy machine) less throughput than 2 (docs/performance.md). Under load the
// worker threads now stay runnable and the connection threads only wake to
// read and write.
//
// Thread-safety: all methods are safe from any thread; Run must not be
// called from inside a job (it could wait for itself).
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"
#include "image/decode.h"

namespace edgevision::predict {

// How many inferences run at once and how requests wait for one; shared by
// classifiers (ClassifierOptions) and detectors (Detector::Create).
struct InferenceLimits {
  // Engine sessions, i.e. inferences that may run at once (one thread each).
  int workers = 1;
  // Threads each inference may use (EngineOptions::threads).
  int threads_per_inference = 1;
  // Requests allowed to wait for a free session; more are refused.
  int max_waiting = 64;
  // Longest a request waits for a free session.
  std::chrono::milliseconds queue_timeout{10'000};
  image::DecodeLimits decode;
};

// The inference queue now.
struct QueueStats {
  int workers = 0;  // engine sessions
  int busy = 0;     // sessions running a request (decode, preprocess, inference)
  int waiting = 0;  // requests waiting for a session
};

class InferencePool {
 public:
  // Starts `workers` threads (at least 1). `workers`, `max_waiting` and
  // `queue_timeout` are InferenceLimits'.
  InferencePool(int workers, int max_waiting, std::chrono::milliseconds queue_timeout);
  // Runs the jobs still queued, then joins the threads.
  ~InferencePool();
  InferencePool(const InferencePool&) = delete;
  InferencePool& operator=(const InferencePool&) = delete;

  // Runs fn(worker), worker in [0, workers), on that worker's thread (no two
  // jobs use one worker at once) and returns its result. `waited_ms`
  // (optional) receives the time the job waited in the queue.
  // Errors: Unavailable when `max_waiting` requests already wait, or no
  // worker took the job within the timeout; Internal when fn threw.
  template <typename T, typename Fn>
  Result<T> Run(Fn&& fn, double* waited_ms = nullptr) {
    std::optional<Result<T>> out;
    EV_RETURN_IF_ERROR(Execute([&](int worker) { out.emplace(fn(worker)); }, waited_ms));
    return std::move(*out);
  }

  QueueStats stats() const;

 private:
  struct Job {
    const std::function<void(int)>* fn = nullptr;
    bool started = false;
    std::chrono::steady_clock::time_point started_at;
    bool done = false;
    bool threw = false;
    std::condition_variable finished;  // on the caller's stack; notified under mu_
  };
  struct Worker {
    bool busy = false;
    Job* job = nullptr;  // a queued job handed to this worker's thread
    std::condition_variable wake;
  };
  Status Execute(const std::function<void(int)>& fn, double* waited_ms);
  // Under mu_, when `worker` is done: hands it the next queued job (its
  // thread runs it), or marks it idle.
  void Free(int worker);
  void Loop(int worker);

  const int workers_;
  const int max_waiting_;
  const std::chrono::milliseconds timeout_;
  mutable std::mutex mu_;
  std::vector<Worker> state_;  // guarded by mu_; not empty queue_ => every worker busy
  std::deque<Job*> queue_;     // guarded by mu_
  int busy_ = 0;               // guarded by mu_
  bool stopping_ = false;      // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace edgevision::predict
