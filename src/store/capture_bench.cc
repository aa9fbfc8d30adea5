// capture_bench: what the capture store costs (docs/store.md, "Measured").
//
//   capture_bench [--dir DIR] [--image FILE] [--n N] [--pace-ms P] [--db-captures M]
//
// 1. request thread: the time OnPrediction adds to a prediction (policy +
//    copying the image into the queue), over N calls one every P ms (10)
//    while the writer stores them;
// 2. sustained writes: captures/s the writer thread stores (SHA-256, atomic
//    file write with fsync, SQLite commit) for N distinct images of the
//    image's size, in DIR (put DIR on the disk you care about: an SD card is
//    much slower than a tmpfs);
// 3. database size: captures.db bytes after M captures (default 10000).
//
// Prints one line per figure. Speed is never asserted anywhere.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "core/uuid.h"
#include "predict/classifier.h"
#include "store/capture_recorder.h"
#include "store/capture_store.h"

namespace {

using namespace edgevision;
using Steady = std::chrono::steady_clock;

std::vector<uint8_t> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

std::string FreshDir(const std::string& parent, const std::string& name) {
  std::string dir = parent + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = std::filesystem::temp_directory_path() / "capture_bench";
  std::string image_path = std::string(EDGEVISION_SOURCE_DIR) +
                           "/tests/data/cv-exports/iotedge-applebanana-tf/images/backpod.jpg";
  int n = 500;
  int db_captures = 10000;
  int pace_ms = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i];
    if (a == "--dir")
      dir = argv[i + 1];
    else if (a == "--image")
      image_path = argv[i + 1];
    else if (a == "--n")
      n = std::stoi(argv[i + 1]);
    else if (a == "--db-captures")
      db_captures = std::stoi(argv[i + 1]);
  }
  const std::vector<uint8_t> image = ReadFile(image_path);
  if (image.empty()) {
    std::fprintf(stderr, "cannot read %s\n", image_path.c_str());
    return 1;
  }
  std::filesystem::create_directories(dir);
  store::StoreOptions options;
  options.min_free_bytes = 0;
  options.max_bytes = uint64_t{64} << 30;
  std::printf("image %s: %zu bytes; data in %s\n", image_path.c_str(), image.size(), dir.c_str());

  // 1. The request thread's cost.
  {
    auto s = store::CaptureStore::Open(FreshDir(dir, "request"), options);
    if (!s.ok()) return std::fprintf(stderr, "%s\n", s.status().ToString().c_str()), 1;
    store::CaptureRecorder recorder(s->get(), store::CapturePolicy::Parse("all").value());
    predict::Classification result;
    result.scores = {{"Apple", 0, 0.97f}, {"Banana", 1, 0.03f}};
    result.image_format = "jpeg";
    model::ModelInfo info;
    info.model_sha1 = "ab742ab64bab3fc0a7436f2b603644b9f6b6c2bc";
    std::vector<double> us;
    for (int i = 0; i < n; ++i) {
      predict::PredictionRecord r;
      r.id = NewUuid();
      r.created = std::chrono::system_clock::now();
      r.route = "POST /image";
      r.image = image;
      r.result = &result;
      r.model = &info;
      const auto t0 = Steady::now();
      recorder.OnPrediction(r);
      us.push_back(std::chrono::duration<double, std::micro>(Steady::now() - t0).count());
      // Predictions arrive one every `pace` ms (a camera, a busy line).
      std::this_thread::sleep_for(std::chrono::milliseconds(pace_ms));
    }
    recorder.WaitIdle(std::chrono::minutes(10));
    auto report = [n](const char* what, const std::vector<double>& v) {
      double mean = 0;
      for (double x : v) mean += x;
      mean /= static_cast<double>(v.size());
      std::printf("%s: mean %.1f us, p50 %.1f us, p99 %.1f us over %d calls\n", what, mean,
                  Percentile(v, 0.5), Percentile(v, 0.99), n);
    };
    report("request thread (OnPrediction, policy all)", us);
    const store::RecorderStats rs = recorder.stats();
    std::printf(
        "  (one prediction every %d ms, default queue of 32: %lld stored, %lld dropped as the "
        "queue was full)\n",
        pace_ms, static_cast<long long>(rs.stored), static_cast<long long>(rs.dropped_queue_full));
    // Baseline under the same machine load, writer idle: only the copy of the
    // image. When its tail is as long, the tail is the scheduler, not the store.
    std::vector<double> base;
    for (int i = 0; i < n; ++i) {
      const auto t0 = Steady::now();
      std::vector<uint8_t> copy(image.begin(), image.end());
      asm volatile("" : : "r"(copy.data()) : "memory");
      base.push_back(std::chrono::duration<double, std::micro>(Steady::now() - t0).count());
    }
    report("baseline (copying the image alone)", base);
  }

  // 2. Sustained writes of distinct images.
  {
    auto s = store::CaptureStore::Open(FreshDir(dir, "sustained"), options);
    if (!s.ok()) return std::fprintf(stderr, "%s\n", s.status().ToString().c_str()), 1;
    std::mt19937_64 rng(1);
    std::vector<double> ms;
    const auto start = Steady::now();
    for (int i = 0; i < n; ++i) {
      store::NewCapture c;
      c.id = NewUuid();
      c.created = std::chrono::system_clock::now();
      c.route = "POST /image";
      c.model_sha1 = "ab742ab64bab3fc0a7436f2b603644b9f6b6c2bc";
      c.predictions = {{"Apple", 0.97}, {"Banana", 0.03}};
      c.image_format = "jpeg";
      c.image = image;
      for (int k = 0; k < 8; ++k)
        c.image[c.image.size() - 1 - k] = static_cast<uint8_t>(rng());  // distinct hash
      const auto t0 = Steady::now();
      Status st = (*s)->Add(c);
      ms.push_back(std::chrono::duration<double, std::milli>(Steady::now() - t0).count());
      if (!st.ok()) return std::fprintf(stderr, "%s\n", st.ToString().c_str()), 1;
    }
    const double secs = std::chrono::duration<double>(Steady::now() - start).count();
    std::printf(
        "sustained writes: %.0f captures/s (%.2f ms each: p50 %.2f ms, p99 %.2f ms) over %d "
        "captures\n",
        n / secs, 1000 * secs / n, Percentile(ms, 0.5), Percentile(ms, 0.99), n);
  }

  // 3. Database size per capture (tiny images: the database does not hold them).
  {
    const std::string db_dir = FreshDir(dir, "dbsize");
    {
      auto s = store::CaptureStore::Open(db_dir, options);
      if (!s.ok()) return std::fprintf(stderr, "%s\n", s.status().ToString().c_str()), 1;
      for (int i = 0; i < db_captures; ++i) {
        store::NewCapture c;
        c.id = NewUuid();
        c.created = std::chrono::system_clock::now();
        c.route =
            "POST "
            "/customvision/v3.0/prediction/{project}/classify/iterations/{publishedName}/image";
        c.project = "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9";
        c.iteration = "Iteration3";
        c.model_sha1 = "ab742ab64bab3fc0a7436f2b603644b9f6b6c2bc";
        c.predictions = {{"Apple", 0.97}, {"Banana", 0.03}};
        c.image_format = "jpeg";
        c.image_width = 640;
        c.image_height = 480;
        c.image.resize(16);
        for (int k = 0; k < 4; ++k) c.image[k] = static_cast<uint8_t>(i >> (8 * k));
        Status st = (*s)->Add(c);
        if (!st.ok()) return std::fprintf(stderr, "%s\n", st.ToString().c_str()), 1;
        if (i % 3 == 0) (void)(*s)->SetLabel(c.id, std::string("Apple"));
      }
    }  // closing checkpoints the WAL into captures.db
    const auto bytes = std::filesystem::file_size(db_dir + "/captures.db");
    std::printf(
        "database: %ju bytes for %d captures (2 tags each, a third labelled) = %.0f bytes/capture, "
        "%.2f MB per 10k\n",
        static_cast<uintmax_t>(bytes), db_captures, static_cast<double>(bytes) / db_captures,
        static_cast<double>(bytes) / db_captures * 10000 / 1e6);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
