// ModelSlot: the classifier currently serving, and whether one is ready.
//
// main() starts HTTP before the model has loaded, so /health can say
// "loading"; request handlers take a shared_ptr snapshot per request, so a
// later swap (a new iteration) never pulls a model out from under a running
// request.
//
// Thread-safety: all methods are safe from any thread.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "core/status.h"
#include "predict/classifier.h"

namespace edgevision::predict {

class ModelSlot {
 public:
  enum class State { kLoading, kReady, kFailed };

  // The serving classifier, or nullptr while loading / after a failed load.
  std::shared_ptr<const Classifier> Get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return classifier_;
  }

  void SetLoading(std::string what) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!classifier_) state_ = State::kLoading;
    loading_ = std::move(what);
  }
  void SetReady(std::shared_ptr<const Classifier> classifier) {
    std::lock_guard<std::mutex> lock(mu_);
    classifier_ = std::move(classifier);
    ready_since_ = std::chrono::system_clock::now();
    state_ = State::kReady;
    error_ = Status::Ok();
  }
  // Records a failed load. A classifier already serving keeps serving.
  void SetFailed(Status error) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!classifier_) state_ = State::kFailed;
    error_ = std::move(error);
  }

  State state() const {
    std::lock_guard<std::mutex> lock(mu_);
    return state_;
  }
  // The last load error (OK if none).
  Status error() const {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }
  std::string loading() const {
    std::lock_guard<std::mutex> lock(mu_);
    return loading_;
  }
  // When the serving classifier was put in (epoch when none has been).
  std::chrono::system_clock::time_point ready_since() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ready_since_;
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Classifier> classifier_;  // guarded by mu_
  State state_ = State::kLoading;                 // guarded by mu_
  Status error_;                                  // guarded by mu_
  std::string loading_;                           // guarded by mu_
  std::chrono::system_clock::time_point ready_since_{};  // guarded by mu_
};

}  // namespace edgevision::predict
