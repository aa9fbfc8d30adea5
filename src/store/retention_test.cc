// Retention: the byte quota and the age limit, and the order captures go in.
#include <gtest/gtest.h>

#include <set>

#include "store/capture_store.h"
#include "store/testing/store_test_util.h"

namespace edgevision::store {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::MakeCapture;
using testing::RandomBytes;
using testing::TempDir;
using testing::TestOptions;

class RetentionTest : public ::testing::Test {
 protected:
  std::unique_ptr<CaptureStore> Open(const StoreOptions& o) {
    Result<std::unique_ptr<CaptureStore>> s =
        CaptureStore::Open(dir_.path(), o, CaptureStore::Mode::kServe, DefaultEnv(), &clock_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  std::string Add(CaptureStore* store, size_t bytes) {
    NewCapture c = MakeCapture(RandomBytes(bytes, seed_++), "Apple", 0.7, clock_.Now());
    Status s = store->Add(c);
    EXPECT_TRUE(s.ok()) << s.ToString();
    clock_.Advance(1s);
    return c.id;
  }
  std::set<std::string> Ids(CaptureStore* store) {
    std::set<std::string> out;
    CaptureQuery q;
    q.limit = kMaxPageSize;
    Result<CapturePage> page = store->List(q);
    EXPECT_TRUE(page.ok());
    if (page.ok()) {
      for (const Capture& c : page->captures) out.insert(c.id);
    }
    return out;
  }

  TempDir dir_;
  FakeClock clock_;
  uint64_t seed_ = 100;
};

TEST_F(RetentionTest, QuotaRemovesOldestUnreviewedFirstAndReviewedLast) {
  StoreOptions o = TestOptions();
  auto probe = Open(o);
  ASSERT_TRUE(probe);
  // The database's own size counts towards the quota; measure it empty.
  const uint64_t db = probe->Health().db_bytes;
  probe.reset();
  // Room for the database, its WAL (bounded at about 1 MiB) and about ten
  // 100 kB images.
  o.max_bytes = db + (1200u << 10) + 10 * 100000;
  auto store = Open(o);
  ASSERT_TRUE(store);

  std::vector<std::string> reviewed, unreviewed;
  for (int i = 0; i < 3; ++i) reviewed.push_back(Add(store.get(), 100000));  // oldest of all
  for (const std::string& id : reviewed)
    ASSERT_TRUE(store->SetLabel(id, std::string("Apple")).ok());
  for (int i = 0; i < 30; ++i) unreviewed.push_back(Add(store.get(), 100000));

  StoreHealth h = store->Health();
  EXPECT_LE(h.image_bytes + h.db_bytes, o.max_bytes);
  EXPECT_GT(h.removed_by_retention, 0);
  std::set<std::string> left = Ids(store.get());
  // Every reviewed capture survives although it is older than all others.
  for (const std::string& id : reviewed) EXPECT_TRUE(left.count(id)) << "reviewed capture removed";
  // What is left of the unreviewed ones is the newest run, without gaps.
  size_t first_kept = unreviewed.size();
  for (size_t i = 0; i < unreviewed.size(); ++i) {
    if (left.count(unreviewed[i])) {
      first_kept = i;
      break;
    }
  }
  ASSERT_LT(first_kept, unreviewed.size());
  for (size_t i = first_kept; i < unreviewed.size(); ++i)
    EXPECT_TRUE(left.count(unreviewed[i])) << i;
  EXPECT_EQ(left.size(), reviewed.size() + (unreviewed.size() - first_kept));
  EXPECT_TRUE(store->CheckConsistency().ok());

  // Only reviewed captures left and still over quota: the oldest reviewed go.
  for (size_t i = first_kept; i < unreviewed.size(); ++i)
    ASSERT_TRUE(store->SetLabel(unreviewed[i], "Apple").ok());
  const std::string newest = Add(store.get(), 100000);
  ASSERT_TRUE(store->SetLabel(newest, std::string("Apple")).ok());
  Add(store.get(), 100000);
  left = Ids(store.get());
  EXPECT_FALSE(left.count(reviewed[0]))
      << "the oldest reviewed capture should go when nothing unreviewed is left";
  EXPECT_TRUE(left.count(newest));
  h = store->Health();
  EXPECT_LE(h.image_bytes + h.db_bytes, o.max_bytes);
}

TEST_F(RetentionTest, MaxAgeRemovesOldUnreviewedCapturesOnly) {
  StoreOptions o = TestOptions();
  o.max_age = std::chrono::hours(24);
  auto store = Open(o);
  ASSERT_TRUE(store);
  const std::string old_unreviewed = Add(store.get(), 100);
  const std::string old_reviewed = Add(store.get(), 100);
  ASSERT_TRUE(store->SetLabel(old_reviewed, std::string("Banana")).ok());
  clock_.Advance(std::chrono::hours(20));
  const std::string young = Add(store.get(), 100);
  clock_.Advance(std::chrono::hours(5));  // the first two are now 25 h old
  ASSERT_TRUE(store->EnforceRetention().ok());
  std::set<std::string> left = Ids(store.get());
  EXPECT_FALSE(left.count(old_unreviewed));
  EXPECT_TRUE(left.count(old_reviewed));
  EXPECT_TRUE(left.count(young));
  EXPECT_EQ(store->Health().removed_by_retention, 1);
  EXPECT_EQ(store->Health().image_bytes, 200u);
  EXPECT_TRUE(store->CheckConsistency().ok());
}

TEST_F(RetentionTest, AgeLimitAlsoAppliesAtStartAndDuringAdds) {
  StoreOptions o = TestOptions();
  o.max_age = std::chrono::hours(1);
  o.retention_interval = std::chrono::seconds(60);
  {
    auto store = Open(o);
    ASSERT_TRUE(store);
    Add(store.get(), 100);
  }
  clock_.Advance(std::chrono::hours(2));
  auto store = Open(o);  // at open
  ASSERT_TRUE(store);
  EXPECT_EQ(store->Health().captures, 0);
  const std::string first = Add(store.get(), 100);
  clock_.Advance(std::chrono::hours(2));
  const std::string second = Add(store.get(), 100);  // the interval has passed: Add cleans up
  std::set<std::string> left = Ids(store.get());
  EXPECT_FALSE(left.count(first));
  EXPECT_TRUE(left.count(second));
}

TEST_F(RetentionTest, ZeroMaxAgeKeepsEverything) {
  StoreOptions o = TestOptions();
  o.max_age = std::chrono::seconds(0);
  auto store = Open(o);
  ASSERT_TRUE(store);
  Add(store.get(), 100);
  clock_.Advance(std::chrono::hours(24 * 3650));
  ASSERT_TRUE(store->EnforceRetention().ok());
  EXPECT_EQ(store->Health().captures, 1);
}

TEST_F(RetentionTest, ASmallerQuotaSetLiveEvictsAtOnceOldestFirst) {
  StoreOptions o = TestOptions();  // 1 GiB quota, no age limit
  auto store = Open(o);
  ASSERT_TRUE(store);
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(Add(store.get(), 100000));
  ASSERT_EQ(store->Health().captures, 10);
  ASSERT_EQ(store->Health().removed_by_retention, 0);

  // About 4.5 images less than is in use now: no Add() needed, SetLimits
  // itself evicts before it returns.
  const StoreHealth before = store->Health();
  const uint64_t quota = before.image_bytes + before.db_bytes - 450000;
  ASSERT_TRUE(store->SetLimits(quota, std::nullopt).ok());
  StoreHealth h = store->Health();
  EXPECT_EQ(h.quota_bytes, quota);
  EXPECT_EQ(store->max_bytes(), quota);
  EXPECT_EQ(h.max_age.count(), 0);  // untouched
  EXPECT_LE(h.image_bytes + h.db_bytes, quota);
  EXPECT_GT(h.removed_by_retention, 0);
  EXPECT_LE(h.captures, 5);
  std::set<std::string> left = Ids(store.get());
  EXPECT_TRUE(left.count(ids.back())) << "the newest capture was evicted";
  EXPECT_FALSE(left.count(ids.front())) << "the oldest capture survived";
  EXPECT_TRUE(store->CheckConsistency().ok());

  // Later Adds keep to the new quota too.
  for (int i = 0; i < 5; ++i) Add(store.get(), 100000);
  h = store->Health();
  EXPECT_LE(h.image_bytes + h.db_bytes, quota);

  EXPECT_EQ(store->SetLimits(0, std::nullopt).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(store->max_bytes(), quota);  // a refused limit changes nothing
}

TEST_F(RetentionTest, AnAgeLimitSetLiveRemovesOldUnreviewedCapturesAtOnce) {
  StoreOptions o = TestOptions();  // no age limit at start
  auto store = Open(o);
  ASSERT_TRUE(store);
  const std::string old_unreviewed = Add(store.get(), 100);
  const std::string old_reviewed = Add(store.get(), 100);
  ASSERT_TRUE(store->SetLabel(old_reviewed, std::string("Banana")).ok());
  clock_.Advance(std::chrono::hours(3));
  const std::string young = Add(store.get(), 100);
  ASSERT_EQ(store->Health().captures, 3);

  ASSERT_TRUE(store->SetLimits(std::nullopt, std::chrono::hours(1)).ok());
  std::set<std::string> left = Ids(store.get());
  EXPECT_FALSE(left.count(old_unreviewed));
  EXPECT_TRUE(left.count(old_reviewed));
  EXPECT_TRUE(left.count(young));
  EXPECT_EQ(store->Health().removed_by_retention, 1);
  EXPECT_EQ(store->Health().max_age, std::chrono::seconds(3600));
  EXPECT_EQ(store->Health().quota_bytes, o.max_bytes);  // untouched
  EXPECT_TRUE(store->CheckConsistency().ok());

  // 0 removes the age limit again.
  ASSERT_TRUE(store->SetLimits(std::nullopt, std::chrono::seconds(0)).ok());
  clock_.Advance(std::chrono::hours(24 * 365));
  ASSERT_TRUE(store->EnforceRetention().ok());
  EXPECT_EQ(store->Health().captures, 2);
}

}  // namespace
}  // namespace edgevision::store
