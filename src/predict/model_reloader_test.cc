#include "predict/model_reloader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "fake_backend.h"
#include "test_support.h"

namespace edgevision::predict {
namespace {

namespace fs = std::filesystem;
using testing::FakeBackend;
using testing::TempDir;


void Write(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

// A loader over the fake backend: fails while `fail` is set; counts loads.
struct FakeLoader {
  FakeBackend backend;
  std::atomic<bool> fail{false};
  std::atomic<int> loads{0};
  ModelReloader::Loader Get() {
    return [this](const std::string&) -> Result<std::shared_ptr<const Classifier>> {
      ++loads;
      if (fail) return Corrupt("model.onnx: injected load failure");
      EV_ASSIGN_OR_RETURN(std::unique_ptr<Classifier> c, Classifier::Create(testing::FakeModel(), backend, {}));
      return std::shared_ptr<const Classifier>(std::move(c));
    };
  }
};

TEST(ModelReloaderTest, FingerprintFollowsContentNamesAndReplacement) {
  TempDir dir;
  EXPECT_EQ(ModelReloader::Fingerprint((dir.path() / "nope").string()), "missing");
  Write(dir.path() / "model.onnx", "aaaa");
  Write(dir.path() / "labels.txt", "x\n");
  const std::string a = ModelReloader::Fingerprint(dir.path().string());
  EXPECT_EQ(a, ModelReloader::Fingerprint(dir.path().string())) << "stable when nothing changes";
  // Same size, replaced by rename (a new inode), as an atomic update does.
  Write(dir.path() / "model.onnx.new", "bbbb");
  fs::rename(dir.path() / "model.onnx.new", dir.path() / "model.onnx");
  const std::string b = ModelReloader::Fingerprint(dir.path().string());
  EXPECT_NE(a, b);
  Write(dir.path() / "cvexport.manifest", "{}");
  EXPECT_NE(b, ModelReloader::Fingerprint(dir.path().string())) << "a new file counts";
  // A single file path works too.
  EXPECT_NE(ModelReloader::Fingerprint((dir.path() / "model.onnx").string()), "missing");
}

TEST(ModelReloaderTest, ReloadSwapsTheSnapshotAndOldSnapshotsStayUsable) {
  TempDir dir;
  FakeLoader loader;
  ModelSlot slot;
  ModelReloader reloader(&slot, dir.path().string(), loader.Get());
  ASSERT_TRUE(reloader.Reload("start").ok());
  std::shared_ptr<const Classifier> first = slot.Get();
  ASSERT_TRUE(first);
  ASSERT_TRUE(reloader.Reload("test").ok());
  std::shared_ptr<const Classifier> second = slot.Get();
  EXPECT_NE(first.get(), second.get());
  // The request that took `first` before the swap still runs on it.
  image::Tensor t{8, 8, 3, std::vector<float>(8 * 8 * 3, 100.0f)};
  EXPECT_TRUE(first->ClassifyTensor(t).ok());
  EXPECT_EQ(reloader.stats().reloads, 1u);
  EXPECT_EQ(reloader.stats().failures, 0u);
}

// What serve logs as "ready" (and clients wait for) is said only once the
// slot serves that model: on a reload, on a switch, never on a failed load.
TEST(ModelReloaderTest, OnServingIsCalledOnceTheSlotServesTheModel) {
  TempDir dir;
  FakeLoader loader;
  ModelSlot slot;
  std::vector<const Classifier*> served;  // what the slot held at each call
  std::vector<const Classifier*> told;    // what on_serving was told
  ReloaderOptions options;
  options.on_serving = [&](const Classifier& c, double load_ms) {
    served.push_back(slot.Get().get());
    told.push_back(&c);
    EXPECT_GE(load_ms, 0.0);
  };
  ModelReloader reloader(&slot, dir.path().string(), loader.Get(), options);
  ASSERT_TRUE(reloader.Reload("start").ok());
  ASSERT_EQ(told.size(), 1u);
  EXPECT_EQ(served[0], told[0]) << "told before the slot held the model";
  EXPECT_EQ(told[0], slot.Get().get());
  loader.fail = true;
  EXPECT_FALSE(reloader.Reload("broken").ok());
  EXPECT_EQ(told.size(), 1u) << "a failed load is not serving";
  loader.fail = false;
  Result<std::shared_ptr<const Classifier>> next = reloader.Load(dir.path().string());
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(told.size(), 1u) << "loaded, not yet serving";
  const Classifier* expected = next.value().get();
  reloader.Switch(dir.path().string(), std::move(next).value(), "test");
  ASSERT_EQ(told.size(), 2u);
  EXPECT_EQ(told[1], expected);
  EXPECT_EQ(served[1], expected) << "told before the slot held the switched model";
}

TEST(ModelReloaderTest, AFailedReloadKeepsThePreviousModelServing) {
  TempDir dir;
  FakeLoader loader;
  ModelSlot slot;
  ModelReloader reloader(&slot, dir.path().string(), loader.Get());
  ASSERT_TRUE(reloader.Reload("start").ok());
  std::shared_ptr<const Classifier> serving = slot.Get();
  loader.fail = true;
  Status s = reloader.Reload("test");
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_EQ(slot.Get().get(), serving.get());
  EXPECT_EQ(slot.state(), ModelSlot::State::kReady);
  EXPECT_NE(slot.error().message().find("injected"), std::string::npos);
  EXPECT_EQ(reloader.stats().failures, 1u);
  EXPECT_NE(reloader.stats().last_error.find("injected"), std::string::npos);
  loader.fail = false;
  ASSERT_TRUE(reloader.Reload("test").ok());
  EXPECT_TRUE(slot.error().ok()) << "a good reload clears the error";
}

TEST(ModelReloaderTest, AFailedFirstLoadMarksTheSlotFailed) {
  TempDir dir;
  FakeLoader loader;
  loader.fail = true;
  ModelSlot slot;
  ModelReloader reloader(&slot, dir.path().string(), loader.Get());
  EXPECT_FALSE(reloader.Reload("start").ok());
  EXPECT_EQ(slot.state(), ModelSlot::State::kFailed);
  EXPECT_FALSE(slot.Get());
}

// Waits until the watcher has finished `n` more polls than it had at the call.
bool WaitForPolls(const ModelReloader& reloader, uint64_t n) {
  const uint64_t target = reloader.stats().polls + n;
  return testing::WaitFor([&] { return reloader.stats().polls >= target; });
}

TEST(ModelReloaderTest, WatchingReloadsOnceAfterAFileChangeSettles) {
  TempDir dir;
  Write(dir.path() / "model.onnx", "one");
  FakeLoader loader;
  ModelSlot slot;
  ModelReloader reloader(&slot, dir.path().string(), loader.Get(), {std::chrono::milliseconds(20), {}});
  ASSERT_TRUE(reloader.Reload("start").ok());
  reloader.Start();
  EXPECT_TRUE(reloader.stats().watching);
  ASSERT_TRUE(WaitForPolls(reloader, 3));
  EXPECT_EQ(loader.loads.load(), 1) << "no change, no reload";
  Write(dir.path() / "model.onnx.tmp", "two!");
  fs::rename(dir.path() / "model.onnx.tmp", dir.path() / "model.onnx");
  ASSERT_TRUE(testing::WaitFor([&] { return reloader.stats().reloads >= 1; }));
  EXPECT_EQ(reloader.stats().reloads, 1u);
  // Polls after the reload see the files as loaded: no second reload.
  ASSERT_TRUE(WaitForPolls(reloader, 3));
  EXPECT_EQ(loader.loads.load(), 2) << "one change, one reload";
  reloader.Stop();
  EXPECT_FALSE(reloader.stats().watching);
}

TEST(ModelReloaderTest, ABrokenFileIsTriedOnceNotEveryPoll) {
  TempDir dir;
  Write(dir.path() / "model.onnx", "one");
  FakeLoader loader;
  ModelSlot slot;
  ModelReloader reloader(&slot, dir.path().string(), loader.Get(), {std::chrono::milliseconds(20), {}});
  ASSERT_TRUE(reloader.Reload("start").ok());
  reloader.Start();
  loader.fail = true;
  Write(dir.path() / "model.onnx", "broken");
  ASSERT_TRUE(testing::WaitFor([&] { return reloader.stats().failures >= 1; }));
  ASSERT_TRUE(WaitForPolls(reloader, 5));
  EXPECT_EQ(reloader.stats().failures, 1u);
  EXPECT_EQ(loader.loads.load(), 2);
  EXPECT_TRUE(slot.Get()) << "the first model still serves";
}

}  // namespace
}  // namespace edgevision::predict
