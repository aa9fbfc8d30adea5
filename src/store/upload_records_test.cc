// The upload records of `edgevision export --upload` (schema version 3):
// recorded per project, first record kept, filtered out of "not uploaded"
// queries, gone with their capture, refused to a plain reader.
#include <gtest/gtest.h>

#include "store/capture_store.h"
#include "store/testing/store_test_util.h"

namespace edgevision::store {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::FruitJpeg;
using testing::MakeCapture;
using testing::TempDir;
using testing::TestOptions;

const std::string kProject = "8d1d5e3c-3a0e-4c39-9c39-0b6f7d1c2a10";
const std::string kOtherProject = "5b7a9a62-6c1e-4f0e-8a57-3f5e2b9d7c21";

class UploadRecordsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<CaptureStore>> s = CaptureStore::Open(
        dir_.path(), TestOptions(), CaptureStore::Mode::kServe, DefaultEnv(), &clock_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    for (const char* image : {"apple1.jpg", "apple2.jpg", "banana1.jpg"}) {
      NewCapture c = MakeCapture(FruitJpeg(image), "Apple", 0.9, clock_.Now());
      ASSERT_TRUE(store_->Add(c).ok());
      ids_.push_back(c.id);
      clock_.Advance(1s);
    }
    ASSERT_TRUE(store_->SetLabel(ids_[0], std::string("Apple")).ok());
    ASSERT_TRUE(store_->SetLabel(ids_[1], std::string("Banana")).ok());
  }
  std::vector<std::string> Pending(const CaptureStore& store, const std::string& project) {
    CaptureQuery q;
    q.reviewed = true;
    q.not_uploaded_to = project;
    q.oldest_first = true;
    Result<CapturePage> page = store.List(q);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    std::vector<std::string> ids;
    if (page.ok()) {
      for (const Capture& c : page->captures) ids.push_back(c.id);
    }
    return ids;
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<CaptureStore> store_;
  std::vector<std::string> ids_;
};

TEST_F(UploadRecordsTest, RecordedCapturesLeaveThePendingSetOfTheirProjectOnly) {
  EXPECT_EQ(Pending(*store_, kProject), (std::vector<std::string>{ids_[0], ids_[1]}));
  ASSERT_TRUE(store_->RecordUploads(kProject, {{ids_[0], "OK", "image-a"}}).ok());
  EXPECT_EQ(Pending(*store_, kProject), (std::vector<std::string>{ids_[1]}));
  EXPECT_EQ(Pending(*store_, kOtherProject), (std::vector<std::string>{ids_[0], ids_[1]}));
  CaptureQuery q;
  q.reviewed = true;
  q.not_uploaded_to = kProject;
  EXPECT_EQ(*store_->Count(q), 1);

  // The first record stands; an error status the service gives again counts as recorded.
  ASSERT_TRUE(store_->RecordUploads(kProject, {{ids_[0], "OKDuplicate", "image-a"},
                                               {ids_[1], "ErrorImageFormat", ""}})
                  .ok());
  EXPECT_TRUE(Pending(*store_, kProject).empty());
  Result<std::map<std::string, int64_t>> counts = store_->UploadCounts(kProject);
  ASSERT_TRUE(counts.ok()) << counts.status().ToString();
  EXPECT_EQ(*counts, (std::map<std::string, int64_t>{{"OK", 1}, {"ErrorImageFormat", 1}}));
  // The captures themselves are unchanged.
  Result<Capture> c = store_->Get(ids_[0]);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->label, std::optional<std::string>("Apple"));
  EXPECT_TRUE(store_->CheckConsistency().ok());
}

TEST_F(UploadRecordsTest, ARecordGoesWithItsCapture) {
  ASSERT_TRUE(store_->RecordUploads(kProject, {{ids_[0], "OK", "a"}, {ids_[1], "OK", "b"}}).ok());
  ASSERT_TRUE(store_->Delete(ids_[0]).ok());
  EXPECT_EQ(*store_->UploadCounts(kProject), (std::map<std::string, int64_t>{{"OK", 1}}));
  // A record for a capture that no longer exists is not kept.
  ASSERT_TRUE(store_->RecordUploads(kOtherProject, {{ids_[0], "OK", "a"}}).ok());
  EXPECT_TRUE(store_->UploadCounts(kOtherProject)->empty());
}

TEST_F(UploadRecordsTest, AnUploaderWritesBesideAServerAndAReaderCannot) {
  // `export --upload` while `serve` holds the store.
  Result<std::unique_ptr<CaptureStore>> uploader = CaptureStore::Open(
      dir_.path(), TestOptions(), CaptureStore::Mode::kUploader, DefaultEnv(), &clock_);
  ASSERT_TRUE(uploader.ok()) << uploader.status().ToString();
  ASSERT_TRUE((*uploader)->RecordUploads(kProject, {{ids_[1], "OK", "b"}}).ok());
  EXPECT_EQ(Pending(*store_, kProject), (std::vector<std::string>{ids_[0]}));
  EXPECT_EQ((*uploader)->RecordUploads(kProject, {{"not-a-uuid", "OK", ""}}).code(),
            StatusCode::kInvalidArgument);
  // The server keeps capturing meanwhile.
  ASSERT_TRUE(store_->Add(MakeCapture(FruitJpeg("banana2.jpg"), "Banana", 0.8, clock_.Now())).ok());

  Result<std::unique_ptr<CaptureStore>> reader = CaptureStore::Open(
      dir_.path(), TestOptions(), CaptureStore::Mode::kReader, DefaultEnv(), &clock_);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->RecordUploads(kProject, {{ids_[0], "OK", "a"}}).code(),
            StatusCode::kUnsupported);
  EXPECT_EQ(Pending(**reader, kProject), (std::vector<std::string>{ids_[0]}));
}

}  // namespace
}  // namespace edgevision::store
