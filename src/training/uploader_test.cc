// The uploader over a real capture store and an in-memory TrainingApi: what
// is recorded for each per-image answer, batching by count and bytes, tags
// created once, answers matched by name, and the errors that stop a run.
#include "training/uploader.h"

#include <gtest/gtest.h>

#include <set>

#include "store/testing/store_test_util.h"

namespace edgevision::training {
namespace {

using namespace std::chrono_literals;
using store::testing::FakeClock;
using store::testing::FruitJpeg;
using store::testing::MakeCapture;
using store::testing::MakeDetectionCapture;
using store::testing::TempDir;
using store::testing::TestOptions;

const std::string kProject = "8d1d5e3c-3a0e-4c39-9c39-0b6f7d1c2a10";

// Answers like the service; `answer` may override an image's status by name.
class FakeApi : public TrainingApi {
 public:
  std::string type = "Classification";
  std::vector<Tag> tags;
  std::vector<std::vector<ImageFile>> batches;
  std::map<std::string, std::string> answer;  // image name -> status
  bool quote_names = false;
  bool reverse_answers = false;
  Status fail_batches = Status::Ok();
  int next_id = 0;

  Result<Project> GetProject(const std::string& id) override {
    if (id != kProject) return NotFound("project");
    return Project{id, "line-3", "domain-1"};
  }
  Result<Domain> GetDomain(const std::string& id) override { return Domain{id, type}; }
  Result<std::vector<Tag>> GetTags(const std::string&) override { return tags; }
  Result<Tag> CreateTag(const std::string&, const std::string& name) override {
    Tag t{"tag-" + std::to_string(next_id++), name, "Regular"};
    tags.push_back(t);
    return t;
  }
  Result<BatchResult> CreateImagesFromFiles(const std::string&,
                                            const std::vector<ImageFile>& images) override {
    if (!fail_batches.ok()) return fail_batches;
    batches.push_back(images);
    BatchResult r;
    for (const ImageFile& f : images) {
      auto it = answer.find(f.name);
      const std::string status = it != answer.end() ? it->second : "OK";
      r.images.push_back({quote_names ? "\"" + f.name + "\"" : f.name, status,
                          status.rfind("OK", 0) == 0 ? "img-" + f.name : ""});
    }
    if (reverse_answers) std::reverse(r.images.begin(), r.images.end());
    return r;
  }
};

class UploaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<store::CaptureStore>> s = store::CaptureStore::Open(
        dir_.path(), TestOptions(), store::CaptureStore::Mode::kServe, store::DefaultEnv(),
        &clock_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  // n labelled classification captures of distinct images.
  std::vector<std::string> AddLabelled(int n, const std::string& label) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      std::vector<uint8_t> image = FruitJpeg(i % 2 ? "apple1.jpg" : "banana1.jpg");
      image.push_back(static_cast<uint8_t>(serial_++));  // distinct bytes
      store::NewCapture c = MakeCapture(std::move(image), label, 0.9, clock_.Now());
      EXPECT_TRUE(store_->Add(c).ok());
      EXPECT_TRUE(store_->SetLabel(c.id, label).ok());
      ids.push_back(c.id);
      clock_.Advance(1s);
    }
    return ids;
  }
  Result<UploadSummary> Upload(UploadOptions o = {}) {
    o.project_id = kProject;
    return UploadReviewed(*store_, api_, o);
  }
  int64_t Pending() {
    store::CaptureQuery q;
    q.reviewed = true;
    q.not_uploaded_to = kProject;
    return *store_->Count(q);
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<store::CaptureStore> store_;
  FakeApi api_;
  int serial_ = 0;
};

TEST_F(UploaderTest, BatchesOfAtMostTheBatchSizeAndTagsCreatedOnce) {
  AddLabelled(5, "Apple");
  AddLabelled(4, "Banana");
  api_.tags.push_back({"existing", "apple", "Regular"});  // matched ignoring case
  UploadOptions o;
  o.batch_size = 4;
  Result<UploadSummary> s = Upload(o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  ASSERT_EQ(api_.batches.size(), 3u);
  EXPECT_EQ(api_.batches[0].size(), 4u);
  EXPECT_EQ(api_.batches[2].size(), 1u);
  EXPECT_EQ(s->tags_created, std::vector<std::string>{"Banana"});
  EXPECT_EQ(api_.batches[0][0].tag_ids, std::vector<std::string>{"existing"});
  EXPECT_EQ(api_.batches[2][0].tag_ids, std::vector<std::string>{"tag-0"});
  EXPECT_EQ(s->created, 9);
  EXPECT_EQ(Pending(), 0);
  // Nothing left to send.
  Result<UploadSummary> again = Upload(o);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->sent, 0);
  EXPECT_EQ(again->already_recorded, 9);
  EXPECT_EQ(api_.batches.size(), 3u);
}

TEST_F(UploaderTest, ABatchAlsoStopsAtItsByteBudget) {
  AddLabelled(6, "Apple");
  UploadOptions o;
  o.max_batch_bytes = 2 * FruitJpeg("apple1.jpg").size() + 1000;
  ASSERT_TRUE(Upload(o).ok());
  ASSERT_GT(api_.batches.size(), 1u);
  size_t images = 0;
  for (size_t i = 0; i < api_.batches.size(); ++i) {
    uint64_t bytes = 0;
    for (const ImageFile& f : api_.batches[i]) bytes += f.contents.size();
    EXPECT_LE(bytes, o.max_batch_bytes);
    // A batch ends only when the next image would not fit.
    if (i + 1 < api_.batches.size()) {
      EXPECT_GT(bytes + api_.batches[i + 1][0].contents.size(), o.max_batch_bytes);
    }
    images += api_.batches[i].size();
  }
  EXPECT_EQ(images, 6u);
}

TEST_F(UploaderTest, PerImageAnswersDecideWhatIsRecorded) {
  const std::vector<std::string> ids = AddLabelled(5, "Apple");
  api_.answer[ids[0] + ".jpg"] = "OKDuplicate";
  api_.answer[ids[1] + ".jpg"] = "ErrorImageFormat";  // given again: recorded, never re-sent
  api_.answer[ids[2] + ".jpg"] = "ErrorStorage";      // transient: sent again next time
  api_.answer[ids[3] + ".jpg"] = "ErrorUnknown";
  api_.quote_names = true;     // sourceUrl "\"name\""
  api_.reverse_answers = true;  // matched by name, not position
  Result<UploadSummary> s = Upload();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->created, 1);
  EXPECT_EQ(s->duplicates, 1);
  EXPECT_EQ(s->rejected, (std::map<std::string, int64_t>{{"ErrorImageFormat", 1}}));
  EXPECT_EQ(s->retry_later, 2);
  EXPECT_EQ(*store_->UploadCounts(kProject),
            (std::map<std::string, int64_t>{{"OK", 1}, {"OKDuplicate", 1}, {"ErrorImageFormat", 1}}));
  api_.answer.clear();
  Result<UploadSummary> again = Upload();
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(api_.batches.size(), 2u);
  std::set<std::string> resent;
  for (const ImageFile& f : api_.batches[1]) resent.insert(f.name);
  EXPECT_EQ(resent, (std::set<std::string>{ids[2] + ".jpg", ids[3] + ".jpg"}));
}

TEST_F(UploaderTest, AFullProjectStopsTheRunAfterRecordingTheBatch) {
  const std::vector<std::string> ids = AddLabelled(3, "Apple");
  api_.answer[ids[1] + ".jpg"] = "ErrorLimitExceed";
  UploadOptions o;
  o.batch_size = 2;
  Result<UploadSummary> s = Upload(o);
  EXPECT_EQ(s.status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(api_.batches.size(), 1u);
  EXPECT_EQ(Pending(), 2);  // the full one and the one never sent
}

TEST_F(UploaderTest, AFailedBatchRecordsNothing) {
  AddLabelled(3, "Apple");
  api_.fail_batches = Unavailable("HTTP 503 (gave up after 6 attempts)");
  EXPECT_EQ(Upload().status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(Pending(), 3);
}

TEST_F(UploaderTest, OnlyReviewedCapturesOfTheProjectsKind) {
  AddLabelled(2, "Apple");
  ASSERT_TRUE(store_->Add(MakeCapture(FruitJpeg("apple2.jpg"), "Apple", 0.9, clock_.Now())).ok());
  store::NewCapture d = MakeDetectionCapture(FruitJpeg("banana2.jpg"), clock_.Now());
  ASSERT_TRUE(store_->Add(d).ok());
  ASSERT_TRUE(store_->SetRegions(d.id, std::vector<store::Region>{{"screw", {0.1, 0.2, 0.3, 0.4}}}, {"screw"}).ok());
  store::NewCapture nothing = MakeDetectionCapture(FruitJpeg("apple2.jpg"), clock_.Now());
  ASSERT_TRUE(store_->Add(nothing).ok());
  ASSERT_TRUE(store_->SetRegions(nothing.id, std::vector<store::Region>{}, {}).ok());

  Result<UploadSummary> s = Upload();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->sent, 2);  // the unreviewed classification capture is never sent
  EXPECT_EQ(s->skipped_other_kind, 2);

  api_.type = "ObjectDetection";
  api_.batches.clear();
  s = Upload();
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->sent, 1);
  EXPECT_EQ(s->skipped_no_regions, 1);
  ASSERT_EQ(api_.batches.size(), 1u);
  const ImageFile& f = api_.batches[0][0];
  EXPECT_TRUE(f.tag_ids.empty());
  ASSERT_EQ(f.regions.size(), 1u);
  EXPECT_EQ(f.regions[0].left, 0.1);
  EXPECT_EQ(f.regions[0].height, 0.4);
  EXPECT_EQ(api_.tags.back().name, "screw");

  api_.type = "Something";
  EXPECT_EQ(Upload().status().code(), StatusCode::kUnsupported);
}

TEST_F(UploaderTest, BadOptionsAreRefusedBeforeAnyCall) {
  UploadOptions o;
  o.project_id = "not-a-uuid";
  EXPECT_EQ(UploadReviewed(*store_, api_, o).status().code(), StatusCode::kInvalidArgument);
  o.project_id = kProject;
  o.batch_size = 65;
  EXPECT_EQ(UploadReviewed(*store_, api_, o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace edgevision::training
