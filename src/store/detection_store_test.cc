// Detection captures in the store (issue 13): boxes stored with the
// capture, regions a person sets, validation that leaves the store as it
// was, and the migration of a store written by schema version 1.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "store/capture_store.h"
#include "store/testing/fault_vfs.h"
#include "store/testing/store_test_util.h"

namespace edgevision::store {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::FruitJpeg;
using testing::MakeCapture;
using testing::MakeDetectionCapture;
using testing::TempDir;
using testing::TestOptions;

const std::vector<std::string> kModelTags = {"crack", "screw", "washer"};

class DetectionStoreTest : public testing::ServedStoreTest {
 protected:
  NewCapture AddDetection(const std::string& image = "apple1.jpg") {
    NewCapture c = MakeDetectionCapture(FruitJpeg(image), clock_.Now());
    Status s = store_->Add(c);
    EXPECT_TRUE(s.ok()) << s.ToString();
    clock_.Advance(1s);
    return c;
  }
};

TEST_F(DetectionStoreTest, BoxesAreStoredWithTheCaptureInTheirOrder) {
  const NewCapture c = AddDetection();
  Result<Capture> got = store_->Get(c.id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->kind, CaptureKind::kDetection);
  EXPECT_TRUE(got->predictions.empty());
  ASSERT_EQ(got->detections.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(got->detections[i].tag, c.detections[i].tag);
    EXPECT_EQ(got->detections[i].tag_index, c.detections[i].tag_index);
    EXPECT_EQ(got->detections[i].probability, c.detections[i].probability);
    EXPECT_EQ(got->detections[i].box.left, c.detections[i].box.left);
    EXPECT_EQ(got->detections[i].box.top, c.detections[i].box.top);
    EXPECT_EQ(got->detections[i].box.width, c.detections[i].box.width);
    EXPECT_EQ(got->detections[i].box.height, c.detections[i].box.height);
  }
  // The box crossing the border is kept unclipped, as the response showed it.
  EXPECT_EQ(got->detections[2].box.left, -0.05);
  // Top = the most probable box, not the first.
  EXPECT_EQ(got->top_tag, "crack");
  EXPECT_EQ(got->top_probability, 0.91);
  EXPECT_FALSE(got->regions.has_value());
  EXPECT_FALSE(got->is_reviewed());
  // A detection capture with no boxes has no top tag.
  NewCapture empty = MakeDetectionCapture(FruitJpeg("apple2.jpg"), clock_.Now());
  empty.detections.clear();
  ASSERT_TRUE(store_->Add(empty).ok());
  EXPECT_EQ(store_->Get(empty.id)->top_tag, "");
  EXPECT_TRUE(store_->CheckConsistency().ok());
}

TEST_F(DetectionStoreTest, RegionsAreSetReplacedAndCleared) {
  const NewCapture c = AddDetection();
  std::vector<Region> regions = {{"screw", {0.1, 0.2, 0.3, 0.4}},
                                 {"washer", {0.0, 0.0, 1.0, 1.0}}};
  Result<Capture> set = store_->SetRegions(c.id, regions, kModelTags);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  ASSERT_TRUE(set->regions.has_value());
  ASSERT_EQ(set->regions->size(), 2u);
  EXPECT_EQ((*set->regions)[1].tag, "washer");
  EXPECT_EQ((*set->regions)[1].box.width, 1.0);
  EXPECT_TRUE(set->is_reviewed());
  EXPECT_EQ(set->reviewed, clock_.Now());
  EXPECT_FALSE(set->label.has_value());
  // The predicted boxes stay as they were.
  EXPECT_EQ(set->detections.size(), 3u);

  // Replace with one region; reopen: it persisted.
  ASSERT_TRUE(store_->SetRegions(c.id, std::vector<Region>{{"crack", {0.5, 0.5, 0.25, 0.5}}},
                                 kModelTags)
                  .ok());
  Reopen();
  Result<Capture> got = store_->Get(c.id);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->regions->size(), 1u);
  EXPECT_EQ((*got->regions)[0].tag, "crack");
  EXPECT_EQ((*got->regions)[0].box.left, 0.5);
  EXPECT_EQ((*got->regions)[0].box.height, 0.5);

  // An empty list is a review too: "nothing to find here".
  got = store_->SetRegions(c.id, std::vector<Region>{}, kModelTags);
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->regions.has_value());
  EXPECT_TRUE(got->regions->empty());
  EXPECT_TRUE(got->is_reviewed());

  // null clears the review.
  got = store_->SetRegions(c.id, std::nullopt, kModelTags);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->regions.has_value());
  EXPECT_FALSE(got->reviewed.has_value());
  EXPECT_TRUE(store_->CheckConsistency().ok());
}

TEST_F(DetectionStoreTest, BadRegionsAreRefusedAndChangeNothing) {
  const NewCapture c = AddDetection();
  const std::vector<Region> good = {{"screw", {0.1, 0.2, 0.3, 0.4}}};
  ASSERT_TRUE(store_->SetRegions(c.id, good, kModelTags).ok());
  const double nan = std::nan("");
  const std::vector<std::vector<Region>> bad = {
      {{"screw", {-0.01, 0.2, 0.3, 0.4}}},   // left < 0
      {{"screw", {0.8, 0.2, 0.3, 0.4}}},     // past the right edge
      {{"screw", {0.1, 0.7, 0.3, 0.4}}},     // past the bottom
      {{"screw", {0.1, 0.2, 0.0, 0.4}}},     // empty
      {{"screw", {0.1, 0.2, -0.1, 0.4}}},    // negative
      {{"screw", {nan, 0.2, 0.3, 0.4}}},     // not a number
      {{"bolt", {0.1, 0.2, 0.3, 0.4}}},      // unknown tag
      {{"", {0.1, 0.2, 0.3, 0.4}}},          // empty tag
      {{"a\nb", {0.1, 0.2, 0.3, 0.4}}},      // control character
      {{"screw", {0.1, 0.2, 0.3, 0.4}}, {"screw", {0.1, 0.2, 0.3, 1.4}}},  // the second is bad
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    Result<Capture> r = store_->SetRegions(c.id, bad[i], kModelTags);
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << i << " " << r.status().ToString();
  }
  StoreOptions few = TestOptions();
  few.max_regions = 2;
  Reopen(few);
  EXPECT_EQ(store_->SetRegions(c.id, std::vector<Region>(3, good[0]), kModelTags).status().code(),
            StatusCode::kInvalidArgument);
  // Still exactly the good regions.
  Result<Capture> got = store_->Get(c.id);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->regions->size(), 1u);
  EXPECT_EQ((*got->regions)[0].box.left, 0.1);
  // A box that ends at the edge after floating-point sums is inside.
  EXPECT_TRUE(store_->SetRegions(c.id, std::vector<Region>{{"screw", {0.7, 0.9, 0.1 + 0.2, 0.1}}},
                                 kModelTags)
                  .ok());
  // Unknown id, bad id.
  EXPECT_EQ(store_->SetRegions("00000000-0000-4000-8000-000000000000", good, kModelTags)
                .status()
                .code(),
            StatusCode::kNotFound);
  EXPECT_EQ(store_->SetRegions("../../etc", good, kModelTags).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(DetectionStoreTest, KnownTagsAreTheModelsAndThoseTheStoreHasSeen) {
  const NewCapture c = AddDetection();
  // Without the model's tags, the predicted ones are still known...
  EXPECT_TRUE(store_->SetRegions(c.id, std::vector<Region>{{"crack", {0, 0, 0.5, 0.5}}}, {}).ok());
  // ...but a tag nobody has seen is not.
  EXPECT_EQ(store_->SetRegions(c.id, std::vector<Region>{{"washer", {0, 0, 0.5, 0.5}}}, {})
                .status()
                .code(),
            StatusCode::kInvalidArgument);
  // Once a region uses a model tag, that tag stays known (a new model may drop it).
  ASSERT_TRUE(
      store_->SetRegions(c.id, std::vector<Region>{{"washer", {0, 0, 0.5, 0.5}}}, kModelTags).ok());
  const NewCapture d = AddDetection("apple2.jpg");
  EXPECT_TRUE(store_->SetRegions(d.id, std::vector<Region>{{"washer", {0, 0, 0.5, 0.5}}}, {}).ok());
}

TEST_F(DetectionStoreTest, LabelsAndRegionsBelongToTheirKind) {
  const NewCapture det = AddDetection();
  NewCapture cls = MakeCapture(FruitJpeg("banana1.jpg"), "Banana", 0.9, clock_.Now());
  ASSERT_TRUE(store_->Add(cls).ok());
  EXPECT_EQ(store_->SetLabel(det.id, std::string("screw")).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store_->SetRegions(cls.id, std::vector<Region>{}, kModelTags).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_FALSE(store_->Get(det.id)->is_reviewed());
  EXPECT_FALSE(store_->Get(cls.id)->is_reviewed());
  EXPECT_EQ(store_->SetLabel("00000000-0000-4000-8000-000000000000", std::string("x")).status().code(),
            StatusCode::kNotFound);
}

TEST_F(DetectionStoreTest, RegionsCountAsReviewForFiltersStatsAndRetention) {
  const NewCapture reviewed = AddDetection("apple1.jpg");
  const NewCapture open = AddDetection("apple2.jpg");
  ASSERT_TRUE(store_->SetRegions(reviewed.id,
                                 std::vector<Region>{{"screw", {0, 0, 0.5, 0.5}},
                                                     {"screw", {0.5, 0.5, 0.5, 0.5}}},
                                 kModelTags)
                  .ok());
  CaptureQuery q;
  q.reviewed = true;
  Result<CapturePage> page = store_->List(q);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->captures.size(), 1u);
  EXPECT_EQ(page->captures[0].id, reviewed.id);
  q.reviewed = false;
  page = store_->List(q);
  ASSERT_EQ(page->captures.size(), 1u);
  EXPECT_EQ(page->captures[0].id, open.id);
  q = CaptureQuery();
  q.tag = "crack";
  EXPECT_EQ(*store_->Count(q), 2);

  Result<StoreStats> stats = store_->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->reviewed, 1);
  EXPECT_EQ(stats->unreviewed, 1);
  EXPECT_EQ(stats->tags["crack"].predicted, 2);
  EXPECT_EQ(stats->tags["crack"].unreviewed, 1);
  EXPECT_EQ(stats->tags["screw"].regions, 2);

  // The age limit removes the unreviewed capture and keeps the reviewed one.
  clock_.Advance(std::chrono::hours(24 * 40));
  StoreOptions aged = TestOptions();
  aged.max_age = std::chrono::hours(24 * 30);
  Reopen(aged);
  EXPECT_TRUE(store_->Get(reviewed.id).ok());
  EXPECT_EQ(store_->Get(open.id).status().code(), StatusCode::kNotFound);
  // Deleting the capture takes its boxes and regions with it.
  ASSERT_TRUE(store_->Delete(reviewed.id).ok());
  EXPECT_TRUE(store_->CheckConsistency().ok());
}

// A store written by the version 1 code (tests/data/store-v1/SOURCE.md).
class MigrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::copy(edgevision::testing::TestData("store-v1"), dir_.path(),
                          std::filesystem::copy_options::recursive);
  }
  int64_t UserVersion() {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2((dir_ / "captures.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
              SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr);
    sqlite3_step(st);
    const int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
  }
  static void ExpectTheVersion1Captures(const CaptureStore& store) {
    CaptureQuery q;
    q.oldest_first = true;
    Result<CapturePage> page = store.List(q);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    ASSERT_EQ(page->captures.size(), 3u);
    const Capture& first = page->captures[0];
    EXPECT_EQ(first.id, "b455d4c8-2e9d-477a-a8ef-6cff20c2d660");
    EXPECT_EQ(first.kind, CaptureKind::kClassification);
    EXPECT_EQ(first.top_tag, "Banana");
    ASSERT_EQ(first.predictions.size(), 1u);
    EXPECT_EQ(first.predictions[0].probability, 0.9999957084655762);
    EXPECT_EQ(first.label, std::optional<std::string>("Apple"));
    EXPECT_TRUE(first.reviewed.has_value());
    EXPECT_FALSE(first.regions.has_value());
    EXPECT_EQ(first.image_width, 301);
    EXPECT_EQ(page->captures[1].id, "dce373f0-b646-4032-8646-890a8fc90b3f");
    EXPECT_EQ(page->captures[2].id, "cdb28562-2164-44fb-88f6-edb94067037c");
    EXPECT_FALSE(page->captures[2].is_reviewed());
    for (const Capture& c : page->captures) {
      Result<std::vector<uint8_t>> image = store.ReadImage(c);
      ASSERT_TRUE(image.ok()) << image.status().ToString();
      EXPECT_EQ(Sha256Hex(*image), c.image_sha256);
    }
    q = CaptureQuery();
    q.reviewed = true;
    EXPECT_EQ(*store.Count(q), 1);
    q.reviewed = false;
    EXPECT_EQ(*store.Count(q), 2);
  }

  TempDir dir_;
  FakeClock clock_;
};

TEST_F(MigrationTest, AVersion1StoreIsMigratedWithEveryCaptureKept) {
  ASSERT_EQ(UserVersion(), 1);
  {
    Result<std::unique_ptr<CaptureStore>> s = CaptureStore::Open(
        dir_.path(), TestOptions(), CaptureStore::Mode::kServe, DefaultEnv(), &clock_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    CaptureStore& store = **s;
    EXPECT_TRUE(store.CheckConsistency().ok()) << store.CheckConsistency().ToString();
    ExpectTheVersion1Captures(store);
    // The migrated store takes detection captures and regions beside the old ones.
    NewCapture c = MakeDetectionCapture(FruitJpeg("banana2.jpg"), clock_.Now());
    ASSERT_TRUE(store.Add(c).ok());
    ASSERT_TRUE(
        store.SetRegions(c.id, std::vector<Region>{{"screw", {0.1, 0.1, 0.2, 0.2}}}, {}).ok());
    // Old captures keep their labels; labelling still works on them.
    ASSERT_TRUE(store.SetLabel("cdb28562-2164-44fb-88f6-edb94067037c", std::string("Apple")).ok());
    EXPECT_TRUE(store.CheckConsistency().ok());
  }
  EXPECT_EQ(UserVersion(), 3);
  // Opening again does not migrate twice.
  Result<std::unique_ptr<CaptureStore>> again = CaptureStore::Open(
      dir_.path(), TestOptions(), CaptureStore::Mode::kServe, DefaultEnv(), &clock_);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  CaptureQuery q;
  EXPECT_EQ(*(*again)->Count(q), 4);
  q.reviewed = true;
  EXPECT_EQ(*(*again)->Count(q), 3);
}

TEST_F(MigrationTest, AReaderReadsAVersion1StoreWithoutChangingIt) {
  // `edgevision export` on a store no new server has opened yet.
  Result<std::unique_ptr<CaptureStore>> s = CaptureStore::Open(
      dir_.path(), TestOptions(), CaptureStore::Mode::kReader, DefaultEnv(), &clock_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ExpectTheVersion1Captures(**s);
  Result<StoreStats> stats = (*s)->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  EXPECT_EQ(stats->reviewed, 1);
  s->reset();
  EXPECT_EQ(UserVersion(), 1);
}

TEST_F(MigrationTest, AnUploaderMigratesAVersion1StoreAndRecordsUploads) {
  // `edgevision export --upload` on a store no new server has opened yet.
  const std::string project = "8d1d5e3c-3a0e-4c39-9c39-0b6f7d1c2a10";
  {
    Result<std::unique_ptr<CaptureStore>> reader = CaptureStore::Open(
        dir_.path(), TestOptions(), CaptureStore::Mode::kReader, DefaultEnv(), &clock_);
    ASSERT_TRUE(reader.ok()) << reader.status().ToString();
    CaptureQuery q;
    q.not_uploaded_to = project;
    EXPECT_EQ((*reader)->List(q).status().code(), StatusCode::kUnsupported);
  }
  Result<std::unique_ptr<CaptureStore>> s = CaptureStore::Open(
      dir_.path(), TestOptions(), CaptureStore::Mode::kUploader, DefaultEnv(), &clock_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(UserVersion(), 3);
  ExpectTheVersion1Captures(**s);
  CaptureQuery q;
  q.reviewed = true;
  q.not_uploaded_to = project;
  EXPECT_EQ(*(*s)->Count(q), 1);
  ASSERT_TRUE((*s)->RecordUploads(project, {{"b455d4c8-2e9d-477a-a8ef-6cff20c2d660", "OK", "img-1"}}).ok());
  EXPECT_EQ(*(*s)->Count(q), 0);
  EXPECT_TRUE((*s)->CheckConsistency().ok());
}

TEST_F(MigrationTest, AFailedMigrationLeavesTheVersion1StoreAsItWas) {
  // The disk fills during the migration: its transaction rolls back, the
  // store stays at version 1 with everything in it, and the next open (space
  // back) migrates.
  testing::RegisterFaultVfs();
  StoreOptions o = TestOptions();
  o.sqlite_vfs = testing::kFaultVfsName;
  testing::SetSqliteDiskFull(true);
  Result<std::unique_ptr<CaptureStore>> s =
      CaptureStore::Open(dir_.path(), o, CaptureStore::Mode::kServe, DefaultEnv(), &clock_);
  testing::SetSqliteDiskFull(false);
  EXPECT_FALSE(s.ok());
  s = Result<std::unique_ptr<CaptureStore>>(Internal("closed"));
  EXPECT_EQ(UserVersion(), 1);
  Result<std::unique_ptr<CaptureStore>> reader = CaptureStore::Open(
      dir_.path(), TestOptions(), CaptureStore::Mode::kReader, DefaultEnv(), &clock_);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  ExpectTheVersion1Captures(**reader);
  reader = Result<std::unique_ptr<CaptureStore>>(Internal("closed"));
  s = CaptureStore::Open(dir_.path(), o, CaptureStore::Mode::kServe, DefaultEnv(), &clock_);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ExpectTheVersion1Captures(**s);
  EXPECT_EQ(UserVersion(), 3);
}

}  // namespace
}  // namespace edgevision::store
