#include "predict/inference_pool.h"

#include <pthread.h>

#include <algorithm>

namespace edgevision::predict {

namespace {

// Runs a job; no exception may end a worker's thread or escape to the caller.
bool RunCatching(const std::function<void(int)>& fn, int worker) {
  try {
    fn(worker);
    return false;
  } catch (...) {
    return true;
  }
}

}  // namespace

InferencePool::InferencePool(int workers, int max_waiting, std::chrono::milliseconds queue_timeout)
    : workers_(std::max(1, workers)),
      max_waiting_(std::max(0, max_waiting)),
      timeout_(queue_timeout),
      state_(static_cast<size_t>(workers_)) {
  threads_.reserve(static_cast<size_t>(workers_));
  for (int i = 0; i < workers_; ++i) threads_.emplace_back([this, i] { Loop(i); });
}

InferencePool::~InferencePool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    for (Worker& w : state_) w.wake.notify_one();
  }
  for (std::thread& t : threads_) t.join();
}

QueueStats InferencePool::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return QueueStats{workers_, busy_, static_cast<int>(queue_.size())};
}

Status InferencePool::Execute(const std::function<void(int)>& fn, double* waited_ms) {
  const auto start = std::chrono::steady_clock::now();
  std::unique_lock<std::mutex> lock(mu_);
  if (queue_.empty()) {
    for (int w = 0; w < workers_; ++w) {
      if (state_[static_cast<size_t>(w)].busy) continue;
      // An idle worker: run on the caller's thread.
      state_[static_cast<size_t>(w)].busy = true;
      ++busy_;
      lock.unlock();
      if (waited_ms) *waited_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      const bool threw = RunCatching(fn, w);
      lock.lock();
      Free(w);
      if (threw) return Internal("an inference job threw an exception");
      return Status::Ok();
    }
  }
  if (static_cast<int>(queue_.size()) >= max_waiting_) {
    return Unavailable("all " + std::to_string(workers_) + " inference workers are busy and " +
                       std::to_string(queue_.size()) + " requests are waiting");
  }
  Job job;
  job.fn = &fn;
  queue_.push_back(&job);
  if (!job.finished.wait_for(lock, timeout_, [&] { return job.started; })) {
    queue_.erase(std::find(queue_.begin(), queue_.end(), &job));
    return Unavailable("no inference worker became free within " + std::to_string(timeout_.count()) + " ms");
  }
  job.finished.wait(lock, [&] { return job.done; });
  if (waited_ms) *waited_ms = std::chrono::duration<double, std::milli>(job.started_at - start).count();
  if (job.threw) return Internal("an inference job threw an exception");
  return Status::Ok();
}

void InferencePool::Free(int worker) {
  Worker& w = state_[static_cast<size_t>(worker)];
  if (queue_.empty()) {
    w.busy = false;
    --busy_;
    return;
  }
  Job* next = queue_.front();
  queue_.pop_front();
  next->started = true;
  next->started_at = std::chrono::steady_clock::now();
  w.job = next;  // still busy
  w.wake.notify_one();
}

void InferencePool::Loop(int worker) {
  const std::string name = "ev-infer-" + std::to_string(worker);
  pthread_setname_np(pthread_self(), name.c_str());
  Worker& w = state_[static_cast<size_t>(worker)];
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    w.wake.wait(lock, [&] { return stopping_ || w.job != nullptr; });
    if (w.job == nullptr) return;  // stopping
    Job* job = w.job;
    w.job = nullptr;
    lock.unlock();
    const bool threw = RunCatching(*job->fn, worker);
    lock.lock();
    job->threw = threw;
    job->done = true;
    // Under mu_: the caller cannot return (and destroy the job) before this.
    job->finished.notify_one();
    Free(worker);  // the next queued job, if any, without sleeping
  }
}

}  // namespace edgevision::predict
