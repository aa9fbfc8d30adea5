// Test doubles for upstream: a clock the test moves by hand. Test-only; not part of the library.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>

#include "core/clock.h"
#include "test_support.h"

namespace edgevision::upstream::testing {

class FakeClock : public Clock {
 public:
  FakeClock() : now_(std::chrono::system_clock::time_point(std::chrono::seconds(1750000000))) {}
  std::chrono::system_clock::time_point Now() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return now_;
  }
  std::chrono::steady_clock::time_point Monotonic() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return std::chrono::steady_clock::time_point(mono_);
  }
  void Advance(std::chrono::milliseconds d) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ += d;
    mono_ += d;
  }
  void SetWall(std::chrono::system_clock::time_point t) {
    std::lock_guard<std::mutex> lock(mu_);
    now_ = t;
  }

 private:
  mutable std::mutex mu_;
  std::chrono::system_clock::time_point now_;
  std::chrono::steady_clock::duration mono_{std::chrono::hours(1)};
};

// The shared temp-folder helper (tests/test_support.h).
using TempDir = edgevision::testing::TempDir;

}  // namespace edgevision::upstream::testing
