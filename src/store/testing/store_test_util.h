// Helpers for the capture store's tests: a temporary folder, a settable
// clock, and captures built from real test images or seeded random bytes.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/uuid.h"
#include "store/capture_store.h"
#include "test_support.h"

namespace edgevision::store::testing {

// The shared temp-folder helper (tests/test_support.h).
using TempDir = edgevision::testing::TempDir;

// A clock the test moves by hand. Thread-safe.
class FakeClock final : public Clock {
 public:
  FakeClock() : now_us_(1'700'000'000'000'000), mono_us_(1'000'000) {}
  std::chrono::system_clock::time_point Now() const override {
    return std::chrono::system_clock::time_point(std::chrono::microseconds(now_us_.load()));
  }
  std::chrono::steady_clock::time_point Monotonic() const override {
    return std::chrono::steady_clock::time_point(std::chrono::microseconds(mono_us_.load()));
  }
  void Advance(std::chrono::microseconds d) {
    now_us_ += d.count();
    mono_us_ += d.count();
  }

 private:
  std::atomic<int64_t> now_us_;
  std::atomic<int64_t> mono_us_;
};

inline std::vector<uint8_t> RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> out(n);
  for (uint8_t& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

// A real JPEG from the apple/banana export.
inline std::vector<uint8_t> FruitJpeg(const std::string& name) {
  return edgevision::testing::ReadBytes(
      edgevision::testing::Export("iotedge-applebanana-tf/images/" + name));
}

inline NewCapture MakeCapture(std::vector<uint8_t> image, const std::string& top_tag, double top_p,
                              std::chrono::system_clock::time_point created) {
  NewCapture c;
  c.id = NewUuid();
  c.created = created;
  c.route = "POST /image";
  c.iteration = "Iteration3";
  c.model_sha1 = "0123456789abcdef0123456789abcdef01234567";
  c.predictions.push_back({top_tag, top_p});
  c.predictions.push_back({top_tag == "Apple" ? "Banana" : "Apple", 1.0 - top_p});
  c.image_format = "jpeg";
  c.image_width = 640;
  c.image_height = 480;
  c.image = std::move(image);
  return c;
}

// A detector's capture: two overlapping boxes and one crossing the left
// border (the shipped code never clips), as a detector route would store it.
inline NewCapture MakeDetectionCapture(std::vector<uint8_t> image,
                                       std::chrono::system_clock::time_point created) {
  NewCapture c = MakeCapture(std::move(image), "", 0, created);
  c.predictions.clear();
  c.kind = CaptureKind::kDetection;
  c.detections = {{"screw", 1, 0.75, {0.1, 0.2, 0.3, 0.4}},
                  {"crack", 0, 0.91, {0.25, 0.3, 0.2, 0.2}},
                  {"screw", 1, 0.125, {-0.05, 0.6, 0.2, 0.3}}};
  return c;
}

// Options for tests: no free-space floor (tmpfs may be small), no age limit.
inline StoreOptions TestOptions() {
  StoreOptions o;
  o.min_free_bytes = 0;
  o.max_age = std::chrono::seconds(0);
  return o;
}

// A fixture: a store opened to serve (Mode::kServe) in a fresh temporary
// folder, on a fake clock. Reopen closes it and opens it again.
class ServedStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { Reopen(); }
  void Reopen(StoreOptions options = TestOptions()) {
    store_.reset();
    Result<std::unique_ptr<CaptureStore>> s =
        CaptureStore::Open(dir_.path(), options, CaptureStore::Mode::kServe, DefaultEnv(), &clock_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<CaptureStore> store_;
};

}  // namespace edgevision::store::testing
