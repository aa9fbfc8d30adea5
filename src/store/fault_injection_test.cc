// Disk full and crashes between steps, injected through the Env and a SQLite
// VFS (the style of leveldb's fault_injection_test).
#include <gtest/gtest.h>

#include <filesystem>

#include "store/capture_store.h"
#include "store/testing/fault_injection_env.h"
#include "store/testing/fault_vfs.h"
#include "store/testing/store_test_util.h"

namespace edgevision::store {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::FaultInjectionEnv;
using testing::MakeCapture;
using testing::RandomBytes;
using testing::TempDir;
using testing::TestOptions;

class FaultInjectionTest : public ::testing::Test {
 protected:
  std::unique_ptr<CaptureStore> Open(Env* env, StoreOptions o = TestOptions()) {
    Result<std::unique_ptr<CaptureStore>> s =
        CaptureStore::Open(dir_.path(), o, CaptureStore::Mode::kServe, env, &clock_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  NewCapture Next(size_t bytes = 5000) {
    NewCapture c = MakeCapture(RandomBytes(bytes, seed_++), "Apple", 0.6, clock_.Now());
    clock_.Advance(1ms);
    return c;
  }
  bool TmpIsEmpty() { return std::filesystem::is_empty(dir_ / "captures/tmp"); }

  TempDir dir_;
  FakeClock clock_;
  uint64_t seed_ = 1;
};

TEST_F(FaultInjectionTest, EnospcPausesStoringAndItResumesWhenSpaceReturns) {
  FaultInjectionEnv env;
  StoreOptions o = TestOptions();
  o.pause_retry = 1000ms;
  auto store = Open(&env, o);
  ASSERT_TRUE(store);
  NewCapture ok1 = Next();
  ASSERT_TRUE(store->Add(ok1).ok());

  env.SetWriteError(ResourceExhausted("write: No space left on device (disk full)"));
  NewCapture full = Next();
  Status s = store->Add(full);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  StoreHealth h = store->Health();
  EXPECT_TRUE(h.paused);
  EXPECT_NE(h.paused_reason.find("disk full"), std::string::npos) << h.paused_reason;
  // Nothing of the failed capture remains: no row, no file, no temporary file.
  EXPECT_EQ(store->Get(full.id).status().code(), StatusCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(store->ImagePath(Sha256Hex(full.image), "jpeg")));
  EXPECT_TRUE(TmpIsEmpty());
  EXPECT_TRUE(store->CheckConsistency().ok());

  // While paused, Add refuses at once without touching the disk.
  const int64_t calls = env.calls();
  EXPECT_EQ(store->Add(Next()).code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(env.calls(), calls);
  EXPECT_EQ(store->Health().refused_disk_full, 2);

  // Still full after the retry interval: one attempt, paused again.
  clock_.Advance(1500ms);
  EXPECT_EQ(store->Add(Next()).code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(store->Health().paused);

  // Space is back: the next attempt after the interval stores and resumes.
  env.SetWriteError(std::nullopt);
  EXPECT_EQ(store->Add(Next()).code(),
            StatusCode::kResourceExhausted);  // still within the interval
  clock_.Advance(1500ms);
  NewCapture ok2 = Next();
  EXPECT_TRUE(store->Add(ok2).ok());
  EXPECT_FALSE(store->Health().paused);
  EXPECT_TRUE(store->Health().paused_reason.empty());
  EXPECT_TRUE(store->Get(ok1.id).ok());
  EXPECT_TRUE(store->Get(ok2.id).ok());
  EXPECT_EQ(store->Health().captures, 2);
  EXPECT_TRUE(store->CheckConsistency().ok());
}

TEST_F(FaultInjectionTest, LowFreeSpacePausesBeforeTheDiskIsFull) {
  FaultInjectionEnv env;
  StoreOptions o = TestOptions();
  o.min_free_bytes = 10 << 20;
  auto store = Open(&env, o);
  ASSERT_TRUE(store);
  env.SetFreeBytes(uint64_t{10 << 20} + 1000);  // less than the floor plus the image
  Status s = store->Add(Next(5000));
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_TRUE(store->Health().paused);
  EXPECT_NE(store->Health().paused_reason.find("disk low"), std::string::npos)
      << store->Health().paused_reason;
  EXPECT_EQ(store->Health().captures, 0);
  env.SetFreeBytes(uint64_t{100} << 20);
  clock_.Advance(2s);
  EXPECT_TRUE(store->Add(Next(5000)).ok());
  EXPECT_FALSE(store->Health().paused);
}

TEST_F(FaultInjectionTest, DatabaseFullPausesAndLeavesNoImageBehind) {
  testing::RegisterFaultVfs();
  StoreOptions o = TestOptions();
  o.sqlite_vfs = testing::kFaultVfsName;
  auto store = Open(DefaultEnv(), o);
  ASSERT_TRUE(store);
  NewCapture before = Next();
  ASSERT_TRUE(store->Add(before).ok());

  testing::SetSqliteDiskFull(true);
  NewCapture full = Next();
  Status s = store->Add(full);
  testing::SetSqliteDiskFull(false);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted) << s.ToString();
  EXPECT_TRUE(store->Health().paused);
  // The image was written before the row; the failed commit removed it again.
  EXPECT_FALSE(std::filesystem::exists(store->ImagePath(Sha256Hex(full.image), "jpeg")));
  EXPECT_EQ(store->Get(full.id).status().code(), StatusCode::kNotFound);
  // Reads keep working while storing is paused.
  EXPECT_TRUE(store->Get(before.id).ok());
  EXPECT_TRUE(store->CheckConsistency().ok());

  clock_.Advance(2s);
  NewCapture after = Next();
  EXPECT_TRUE(store->Add(after).ok());
  EXPECT_FALSE(store->Health().paused);
  store.reset();
  // The database is intact after reopening.
  auto reopened = Open(DefaultEnv(), o);
  ASSERT_TRUE(reopened);
  EXPECT_EQ(reopened->Health().captures, 2);
  EXPECT_TRUE(reopened->CheckConsistency().ok());
}

TEST_F(FaultInjectionTest, FullDiskDuringLabellingIsAnErrorNotACrash) {
  testing::RegisterFaultVfs();
  StoreOptions o = TestOptions();
  o.sqlite_vfs = testing::kFaultVfsName;
  auto store = Open(DefaultEnv(), o);
  ASSERT_TRUE(store);
  NewCapture c = Next();
  ASSERT_TRUE(store->Add(c).ok());
  testing::SetSqliteDiskFull(true);
  Result<Capture> r = store->SetLabel(c.id, std::string("Banana"));
  Status d = store->Delete(c.id);
  testing::SetSqliteDiskFull(false);
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted) << r.status().ToString();
  EXPECT_EQ(d.code(), StatusCode::kResourceExhausted) << d.ToString();
  Result<Capture> got = store->Get(c.id);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->label.has_value());
  EXPECT_TRUE(store->SetLabel(c.id, std::string("Banana")).ok());
  EXPECT_TRUE(store->CheckConsistency().ok());
}

// A crash after each possible number of filesystem steps of Add and Delete,
// with unsynced data lost: after reopening, the capture is either complete
// or absent, never half there.
TEST_F(FaultInjectionTest, CrashAtEveryStepLeavesAConsistentStore) {
  // How many mutating steps does one Add take (with a new fan-out folder)?
  int64_t add_steps = 0;
  {
    FaultInjectionEnv counting;
    TempDir probe_dir;
    Result<std::unique_ptr<CaptureStore>> probe = CaptureStore::Open(
        probe_dir.path(), TestOptions(), CaptureStore::Mode::kServe, &counting, &clock_);
    ASSERT_TRUE(probe.ok());
    const int64_t before = counting.mutations();
    ASSERT_TRUE((*probe)->Add(Next()).ok());
    add_steps = counting.mutations() - before;
  }
  ASSERT_GE(add_steps, 5);  // mkdir, fsync dir, create, write, fsync, rename, fsync dir

  std::vector<std::string> earlier;
  for (int64_t k = 0; k <= add_steps + 3; ++k) {
    SCOPED_TRACE("crash after " + std::to_string(k) + " steps");
    NewCapture c = Next(3000 + static_cast<size_t>(k));
    Status added = Status::Ok();
    {
      FaultInjectionEnv env;
      auto store = Open(&env);
      ASSERT_TRUE(store);
      env.CrashAfter(k);
      added = store->Add(c);
      // Deleting an earlier capture in the same "process" crashes too.
      if (!earlier.empty()) (void)store->Delete(earlier.back());
      env.SimulateCrash();
      // The store object is dropped here as a dead process would drop it.
    }
    auto store = Open(DefaultEnv());
    ASSERT_TRUE(store);
    Status check = store->CheckConsistency();
    EXPECT_TRUE(check.ok()) << check.ToString();
    EXPECT_TRUE(TmpIsEmpty());
    Result<Capture> got = store->Get(c.id);
    if (added.ok()) {
      // Add said OK: the capture is durable, image and all.
      ASSERT_TRUE(got.ok()) << got.status().ToString();
    }
    if (got.ok()) {
      Result<std::vector<uint8_t>> image = store->ReadImage(*got);
      ASSERT_TRUE(image.ok());
      EXPECT_EQ(*image, c.image);
    } else {
      EXPECT_EQ(got.status().code(), StatusCode::kNotFound);
    }
    earlier.clear();
    CaptureQuery all;
    all.limit = kMaxPageSize;
    Result<CapturePage> page = store->List(all);
    ASSERT_TRUE(page.ok());
    for (const Capture& x : page->captures) earlier.push_back(x.id);
    EXPECT_EQ(store->Health().captures, static_cast<int64_t>(earlier.size()));
  }
}

}  // namespace
}  // namespace edgevision::store
