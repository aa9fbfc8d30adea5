// Helpers shared by the tests: where test data lives and how to read it.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

namespace edgevision::testing {

// The trees the tests were built from, in a generated file
// (cmake/EdgevisionHelpers.cmake, edgevision_test_paths): no test object
// carries an absolute path, so ccache shares them across worktrees.
extern const char kBuiltSourceDir[];
extern const char kBuiltBinaryDir[];

// The source tree's root: $EDGEVISION_SOURCE_DIR, else the tree the test was
// built from (so a test binary also runs when started by hand).
inline std::filesystem::path SourceDir() {
  if (const char* dir = std::getenv("EDGEVISION_SOURCE_DIR")) return dir;
  return kBuiltSourceDir;
}

// The build tree (where the edgevision binary is).
inline std::filesystem::path BinaryDir() {
  if (const char* dir = std::getenv("EDGEVISION_BINARY_DIR")) return dir;
  return kBuiltBinaryDir;
}

// tests/data/<relative>.
inline std::filesystem::path TestData(const std::string& relative) {
  return SourceDir() / "tests" / "data" / relative;
}

// A real Custom Vision export under tests/data/cv-exports/<name>.
inline std::filesystem::path Export(const std::string& name) {
  return TestData("cv-exports/" + name);
}

// The shared reference folder (../shared/cv-exports), present on the
// developers' machines and in CI but not in a user's clone. Empty if absent.
inline std::filesystem::path SharedExports() {
  if (const char* dir = std::getenv("EDGEVISION_SHARED_EXPORTS")) return dir;
  std::filesystem::path p = SourceDir() / ".." / "shared" / "cv-exports";
  return std::filesystem::exists(p) ? p : std::filesystem::path();
}

inline std::vector<uint8_t> ReadBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// The whole file as a string (empty when it cannot be read).
inline std::string ReadText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// EDGEVISION_REQUIRE_ALL=1 (CI sets it through .ci/run): every component a
// test needs (a program such as mosquitto, permission to mount, the built
// binary) is required, and its absence is a failure instead of a skip. The
// same switch exists for the shell, Python and Node tests (tests/support.sh,
// tests/support.py, tests/support.mjs).
inline bool RequireAll() {
  const char* v = std::getenv("EDGEVISION_REQUIRE_ALL");
  return v != nullptr && std::string(v) == "1";
}

// Skips the running test because a component it needs is missing (`why`
// names it and how to get it), or fails it under EDGEVISION_REQUIRE_ALL=1.
// Use where GTEST_SKIP() would go: in a test body or a fixture's SetUp.
#define EDGEVISION_SKIP_OR_FAIL(why)                                                    \
  do {                                                                                  \
    if (::edgevision::testing::RequireAll())                                            \
      GTEST_FAIL() << "a required component is missing (EDGEVISION_REQUIRE_ALL=1): " \
                   << (why);                                                            \
    GTEST_SKIP() << (why);                                                              \
  } while (0)

// EDGEVISION_TEST_TIME_SCALE (a number >= 1; default 1): how many times slower
// than the 2-core x86 test machine this run's CPU is. Every time bound in the
// tests (WaitFor's timeouts, a server's ready and exit waits, the deadlines
// and windows of the time-bound e2e tests) is multiplied by it; counts and
// answers are not. scripts/arm/build-and-test.sh sets 10 for unit tests under
// qemu-user (~1.8 s per inference instead of ~5 ms); docs/deploy.md#arm lists
// the tests it stretches. An unparsable value or one below 1 counts as 1.
inline double TimeScale() {
  const char* v = std::getenv("EDGEVISION_TEST_TIME_SCALE");
  if (v == nullptr) return 1.0;
  char* end = nullptr;
  const double scale = std::strtod(v, &end);
  return end != v && scale >= 1.0 ? scale : 1.0;
}

// `d` times TimeScale(), in milliseconds.
template <typename Rep, typename Period>
std::chrono::milliseconds Scaled(std::chrono::duration<Rep, Period> d) {
  return std::chrono::milliseconds(static_cast<int64_t>(
      std::chrono::duration<double, std::milli>(d).count() * TimeScale()));
}
inline double ScaledSeconds(double seconds) { return seconds * TimeScale(); }

// Checks `done` every few milliseconds until it holds; false when `timeout`
// (times TimeScale()) passes first. For conditions another thread or process
// sets that offer no event to block on (a counter, a file, a port); the test
// then asserts on the condition itself, never on how long it took.
// `interval` spaces the checks of a costly condition (a request each).
template <typename Predicate>
bool WaitFor(Predicate done, std::chrono::milliseconds timeout = std::chrono::seconds(30),
             std::chrono::milliseconds interval = std::chrono::milliseconds(2)) {
  const auto deadline = std::chrono::steady_clock::now() + Scaled(timeout);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(interval);
  }
  return true;
}

// The one temp-folder helper for every test (src/**/*_test.cc and tests/):
// a fresh, empty folder under the system temp folder (mkdtemp), removed with
// everything in it when the object goes.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "edgevision_test") {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "_XXXXXX")).string();
    if (::mkdtemp(pattern.data()) != nullptr) path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  // The folder as a string, for building command lines and paths by `+`.
  std::string str() const { return path_.string(); }
  // A path inside the folder, as a string.
  std::string File(const std::string& rel) const { return (path_ / rel).string(); }
  std::string operator/(const std::string& rel) const { return File(rel); }

 private:
  std::filesystem::path path_;
};

// The synthetic compact detector (tests/data/synthetic/yolo_compact_fruit.onnx)
// as an ONNX detector export folder in `dir`: the model plus a real 2024 ONNX
// export's manifest and metadata (tests/data/detection/exports/onnx-yolo-2024)
// and its own labels, apple and banana. Returns the folder.
inline std::string MakeSyntheticDetectorExport(const TempDir& dir) {
  namespace fs = std::filesystem;
  fs::copy_file(TestData("synthetic/yolo_compact_fruit.onnx"), dir.path() / "model.onnx");
  for (const char* f : {"cvexport.manifest", "metadata_properties.json"}) {
    fs::copy_file(TestData(std::string("detection/exports/onnx-yolo-2024/") + f), dir.path() / f);
  }
  std::ofstream(dir.path() / "labels.txt") << "apple\nbanana\n";
  return dir.str();
}

}  // namespace edgevision::testing
