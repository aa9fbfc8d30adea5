// A fake inference backend for tests of everything above the engine: its
// "model" outputs the mean of each input channel (so results depend on the
// image), and it can be made slow or failing to test queueing and errors.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>

#include "engine/backend.h"
#include "model/model.h"

namespace edgevision::testing {

struct FakeControl {
  std::atomic<int> delay_ms{0};
  std::atomic<bool> fail{false};
  std::atomic<int> running{0};
  std::atomic<int> max_running{0};
  std::atomic<int> runs{0};

  // While held, every Run blocks (counted as running) until Release().
  void Hold() {
    std::lock_guard<std::mutex> lock(mu);
    held = true;
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu);
      held = false;
    }
    cv.notify_all();
  }
  // Waits until at least `n` runs are in progress; false on timeout.
  bool WaitRunning(int n, std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, timeout, [&] { return running.load() >= n; });
  }

  std::mutex mu;
  std::condition_variable cv;
  bool held = false;  // guarded by mu
};

class FakeSession : public engine::Session {
 public:
  explicit FakeSession(FakeControl* control) : control_(control) {}
  Status Run(std::span<const float> input, std::span<float> output) override {
    ++control_->runs;
    int now = ++control_->running;
    int prev = control_->max_running.load();
    while (now > prev && !control_->max_running.compare_exchange_weak(prev, now)) {
    }
    {
      std::unique_lock<std::mutex> lock(control_->mu);
      control_->cv.notify_all();  // for WaitRunning
      control_->cv.wait(lock, [&] { return !control_->held; });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(control_->delay_ms.load()));
    --control_->running;
    if (control_->fail) return Internal("injected engine failure");
    for (size_t c = 0; c < output.size(); ++c) {
      double sum = 0;
      for (size_t i = c % 3; i < input.size(); i += 3) sum += input[i];
      output[c] = static_cast<float>(sum / (input.size() / 3) / 255.0);
    }
    return Status::Ok();
  }

 private:
  FakeControl* control_;
};

class FakeCompiled : public engine::CompiledModel {
 public:
  FakeCompiled(FakeControl* control, std::vector<int64_t> shape, size_t outputs)
      : control_(control), shape_(std::move(shape)), outputs_(outputs) {}
  const std::vector<int64_t>& input_shape() const override { return shape_; }
  size_t output_size() const override { return outputs_; }
  Result<std::unique_ptr<engine::Session>> CreateSession() const override {
    return std::unique_ptr<engine::Session>(new FakeSession(control_));
  }

 private:
  FakeControl* control_;
  std::vector<int64_t> shape_;
  size_t outputs_;
};

class FakeBackend : public engine::Backend {
 public:
  std::string_view name() const override { return "fake"; }
  Result<std::unique_ptr<engine::CompiledModel>> Compile(const graph::Graph& g,
                                                         const engine::EngineOptions&) const override {
    return std::unique_ptr<engine::CompiledModel>(new FakeCompiled(&control, shape, outputs));
  }
  std::vector<int64_t> shape = {1, 8, 8, 3};
  size_t outputs = 3;
  mutable FakeControl control;
};

// A LoadedModel matching FakeBackend's defaults: 8x8 input, tags red/green/blue
// (the fake's score for tag c is the mean of channel c; RGB order here).
inline model::LoadedModel FakeModel() {
  model::LoadedModel m;
  m.preprocess.input_height = 8;
  m.preprocess.input_width = 8;
  m.preprocess.color = image::ColorOrder::kRGB;
  m.info.labels = {"red", "green", "blue"};
  m.info.format = "fake";
  m.info.iteration_id = "fake-iteration";
  return m;
}

}  // namespace edgevision::testing
