// Test doubles for upstream: a clock the test moves by hand and a scratch
// directory. Test-only; not part of the library.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>

#include "core/clock.h"

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

// A fresh directory under the system temp dir, removed with its contents.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& name) {
    static std::atomic<int> counter{0};
    path_ =
        std::filesystem::temp_directory_path() /
        ("edgevision_" + name + "_" + std::to_string(getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace edgevision::upstream::testing
