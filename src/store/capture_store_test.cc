#include "store/capture_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "store/testing/store_test_util.h"

namespace edgevision::store {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::FruitJpeg;
using testing::MakeCapture;
using testing::RandomBytes;
using testing::TempDir;
using testing::TestOptions;

class CaptureStoreTest : public testing::ServedStoreTest {
 protected:
  NewCapture Add(const std::string& tag, double p, std::vector<uint8_t> image = {}) {
    if (image.empty()) image = RandomBytes(1000 + static_cast<size_t>(next_seed_ % 97), next_seed_);
    ++next_seed_;
    NewCapture c = MakeCapture(std::move(image), tag, p, clock_.Now());
    Status s = store_->Add(c);
    EXPECT_TRUE(s.ok()) << s.ToString();
    clock_.Advance(1s);
    return c;
  }
  uint64_t next_seed_ = 1;
};

TEST_F(CaptureStoreTest, AddThenGetReturnsEverythingStored) {
  const std::vector<uint8_t> apple = FruitJpeg("apple1.jpg");
  ASSERT_FALSE(apple.empty());
  NewCapture c = MakeCapture(apple, "Apple", 0.9875, clock_.Now());
  c.project = "proj";
  ASSERT_TRUE(store_->Add(c).ok());

  Result<Capture> got = store_->Get(c.id);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(got->id, c.id);
  EXPECT_EQ(got->created, c.created);
  EXPECT_EQ(got->route, "POST /image");
  EXPECT_EQ(got->project, "proj");
  EXPECT_EQ(got->iteration, "Iteration3");
  EXPECT_EQ(got->model_sha1, c.model_sha1);
  ASSERT_EQ(got->predictions.size(), 2u);
  EXPECT_EQ(got->predictions[0].tag, "Apple");
  EXPECT_DOUBLE_EQ(got->predictions[0].probability, 0.9875);
  EXPECT_EQ(got->predictions[1].tag, "Banana");
  EXPECT_EQ(got->top_tag, "Apple");
  EXPECT_DOUBLE_EQ(got->top_probability, 0.9875);
  EXPECT_EQ(got->image_sha256, Sha256Hex(apple));
  EXPECT_EQ(got->image_bytes, apple.size());
  EXPECT_EQ(got->image_format, "jpeg");
  EXPECT_EQ(got->image_width, 640);
  EXPECT_FALSE(got->label.has_value());
  EXPECT_FALSE(got->reviewed.has_value());

  // Content-addressed file, byte-identical.
  const std::string path =
      dir_ / ("captures/" + got->image_sha256.substr(0, 2) + "/" + got->image_sha256 + ".jpg");
  EXPECT_TRUE(std::filesystem::exists(path));
  Result<std::vector<uint8_t>> image = store_->ReadImage(*got);
  ASSERT_TRUE(image.ok());
  EXPECT_EQ(*image, apple);
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "captures/tmp"));
  EXPECT_EQ(store_->Health().captures, 1);
  EXPECT_EQ(store_->Health().image_bytes, apple.size());
  EXPECT_TRUE(store_->CheckConsistency().ok());
}

TEST_F(CaptureStoreTest, Sha256MatchesAKnownVector) {
  const std::string abc = "abc";
  EXPECT_EQ(
      Sha256Hex(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(abc.data()), abc.size())),
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_F(CaptureStoreTest, TheSameImageIsStoredOnceAndRemovedWithItsLastCapture) {
  const std::vector<uint8_t> img = FruitJpeg("banana1.jpg");
  NewCapture a = Add("Banana", 0.9, img);
  NewCapture b = Add("Banana", 0.8, img);
  EXPECT_EQ(store_->Health().image_bytes, img.size());
  const std::string path = store_->ImagePath(Sha256Hex(img), "jpeg");
  ASSERT_TRUE(store_->Delete(a.id).ok());
  EXPECT_TRUE(std::filesystem::exists(path));
  EXPECT_TRUE(store_->Get(b.id).ok());
  ASSERT_TRUE(store_->Delete(b.id).ok());
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(store_->Health().image_bytes, 0u);
  EXPECT_EQ(store_->Health().captures, 0);
  EXPECT_EQ(store_->Delete(b.id).code(), StatusCode::kNotFound);
}

TEST_F(CaptureStoreTest, IdsMustBeUuids) {
  EXPECT_TRUE(IsValidCaptureId("0f8fad5b-d9cb-469f-a165-70867728950e"));
  EXPECT_TRUE(IsValidCaptureId("0F8FAD5B-D9CB-469F-A165-70867728950E"));
  for (const std::string& bad : std::vector<std::string>{
           "", "..", "../../etc/passwd", "0f8fad5b-d9cb-469f-a165-70867728950",
           "0f8fad5b-d9cb-469f-a165-70867728950e/", "0f8fad5b_d9cb-469f-a165-70867728950e",
           "0f8fad5b-d9cb-469f-a165-70867728950g", "0f8fad5b-d9cb-469f-a165-70867728950e\n"}) {
    EXPECT_FALSE(IsValidCaptureId(bad)) << bad;
    EXPECT_EQ(store_->Get(bad).status().code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(store_->Delete(bad).code(), StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(store_->SetLabel(bad, "x").status().code(), StatusCode::kInvalidArgument) << bad;
  }
  NewCapture c = MakeCapture(RandomBytes(10, 1), "Apple", 0.5, clock_.Now());
  c.id = "../../x";
  EXPECT_EQ(store_->Add(c).code(), StatusCode::kInvalidArgument);
  // An uppercase id finds the (lowercase) stored capture.
  NewCapture d = Add("Apple", 0.5);
  std::string upper = d.id;
  for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  EXPECT_TRUE(store_->Get(upper).ok());
}

TEST_F(CaptureStoreTest, DuplicateIdIsRefusedAndLeavesNoFile) {
  NewCapture c = Add("Apple", 0.9);
  NewCapture again = MakeCapture(RandomBytes(500, 777), "Apple", 0.9, clock_.Now());
  again.id = c.id;
  Status s = store_->Add(again);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_FALSE(std::filesystem::exists(store_->ImagePath(Sha256Hex(again.image), "jpeg")));
  EXPECT_EQ(store_->Health().captures, 1);
  EXPECT_TRUE(store_->CheckConsistency().ok());
}

TEST_F(CaptureStoreTest, EmptyAndOversizedImagesAreRefused) {
  NewCapture empty = MakeCapture({}, "Apple", 0.9, clock_.Now());
  EXPECT_EQ(store_->Add(empty).code(), StatusCode::kInvalidArgument);
  StoreOptions o = TestOptions();
  o.max_image_bytes = 100;
  Reopen(o);
  EXPECT_EQ(store_->Add(MakeCapture(RandomBytes(101, 3), "Apple", 0.9, clock_.Now())).code(),
            StatusCode::kInvalidArgument);
  EXPECT_TRUE(store_->Add(MakeCapture(RandomBytes(100, 3), "Apple", 0.9, clock_.Now())).ok());
}

TEST_F(CaptureStoreTest, ListFiltersByTagProbabilityReviewAndTime) {
  const auto t0 = clock_.Now();
  NewCapture a1 = Add("Apple", 0.99);
  NewCapture a2 = Add("Apple", 0.55);
  NewCapture b1 = Add("Banana", 0.70);
  NewCapture b2 = Add("Banana", 0.95);
  const auto t_mid = clock_.Now();
  NewCapture a3 = Add("Apple", 0.40);
  ASSERT_TRUE(store_->SetLabel(a2.id, std::string("Banana")).ok());
  ASSERT_TRUE(store_->SetLabel(b2.id, std::string("Banana")).ok());

  auto ids = [&](CaptureQuery q) {
    Result<CapturePage> page = store_->List(q);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    std::vector<std::string> out;
    if (page.ok()) {
      for (const Capture& c : page->captures) out.push_back(c.id);
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(ids({}), (V{a3.id, b2.id, b1.id, a2.id, a1.id}));  // newest first
  CaptureQuery q;
  q.tag = "Apple";
  EXPECT_EQ(ids(q), (V{a3.id, a2.id, a1.id}));
  q = {};
  q.max_p = 0.8;  // uncertain
  EXPECT_EQ(ids(q), (V{a3.id, b1.id, a2.id}));
  q.min_p = 0.5;
  EXPECT_EQ(ids(q), (V{b1.id, a2.id}));
  q = {};
  q.reviewed = true;
  EXPECT_EQ(ids(q), (V{b2.id, a2.id}));
  q.reviewed = false;
  EXPECT_EQ(ids(q), (V{a3.id, b1.id, a1.id}));
  q = {};
  q.label = "Banana";
  EXPECT_EQ(ids(q), (V{b2.id, a2.id}));
  q = {};
  q.from = t_mid;
  EXPECT_EQ(ids(q), (V{a3.id}));
  q = {};
  q.from = t0;
  q.to = t_mid;
  q.oldest_first = true;
  EXPECT_EQ(ids(q), (V{a1.id, a2.id, b1.id, b2.id}));
  q = {};
  q.tag = "Cherry";
  EXPECT_TRUE(ids(q).empty());
  q = {};
  q.min_p = 0.9;
  q.max_p = 0.1;
  EXPECT_EQ(store_->List(q).status().code(), StatusCode::kInvalidArgument);
  q = {};
  q.tag = "Apple";
  q.reviewed = false;
  Result<int64_t> n = store_->Count(q);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2);
}

TEST_F(CaptureStoreTest, PagingVisitsEveryCaptureOnceInBothOrders) {
  std::vector<std::string> added;
  for (int i = 0; i < 23; ++i) added.push_back(Add(i % 2 ? "Apple" : "Banana", 0.5 + i / 100.0).id);
  for (bool oldest_first : {false, true}) {
    CaptureQuery q;
    q.limit = 5;
    q.oldest_first = oldest_first;
    std::vector<std::string> seen;
    int pages = 0;
    while (true) {
      Result<CapturePage> page = store_->List(q);
      ASSERT_TRUE(page.ok());
      ++pages;
      EXPECT_LE(page->captures.size(), 5u);
      for (const Capture& c : page->captures) seen.push_back(c.id);
      if (!page->next) break;
      q.after = page->next;
    }
    std::vector<std::string> want = added;
    if (!oldest_first) std::reverse(want.begin(), want.end());
    EXPECT_EQ(seen, want);
    EXPECT_EQ(pages, 5);
  }
  // A page that ends exactly at the last capture says so.
  CaptureQuery all;
  all.limit = 23;
  Result<CapturePage> page = store_->List(all);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->captures.size(), 23u);
  EXPECT_FALSE(page->next.has_value());
  // Limits are clamped.
  all.limit = 0;
  EXPECT_EQ(store_->List(all)->captures.size(), 1u);
}

TEST_F(CaptureStoreTest, LabelsAreSetClearedAndValidated) {
  NewCapture c = Add("Apple", 0.6);
  const auto when = clock_.Now();
  Result<Capture> labelled = store_->SetLabel(c.id, std::string("Banana"));
  ASSERT_TRUE(labelled.ok()) << labelled.status().ToString();
  EXPECT_EQ(labelled->label, "Banana");
  ASSERT_TRUE(labelled->reviewed.has_value());
  EXPECT_EQ(*labelled->reviewed, when);
  Result<Capture> cleared = store_->SetLabel(c.id, std::nullopt);
  ASSERT_TRUE(cleared.ok());
  EXPECT_FALSE(cleared->label.has_value());
  EXPECT_FALSE(cleared->reviewed.has_value());
  // A new tag nobody predicted is fine (a product the model does not know yet).
  EXPECT_TRUE(store_->SetLabel(c.id, std::string("Cherry tomato")).ok());
  EXPECT_TRUE(store_->SetLabel(c.id, std::string("Äpfel \xF0\x9F\x8D\x8E")).ok());
  for (const std::string& bad :
       {std::string(""), std::string("a\nb"), std::string("tab\there"), std::string("\xC0\xAF"),
        std::string("\xED\xA0\x80"), std::string(257, 'x'), std::string("nul\0x", 5)}) {
    EXPECT_EQ(store_->SetLabel(c.id, bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_EQ(store_->Get(c.id)->label, "Äpfel \xF0\x9F\x8D\x8E");
  EXPECT_EQ(
      store_->SetLabel("0f8fad5b-d9cb-469f-a165-70867728950e", std::string("x")).status().code(),
      StatusCode::kNotFound);
}

TEST_F(CaptureStoreTest, StatsCountPerTagAndReview) {
  NewCapture a1 = Add("Apple", 0.9);
  NewCapture a2 = Add("Apple", 0.6);
  NewCapture a3 = Add("Apple", 0.7);
  NewCapture b1 = Add("Banana", 0.8);
  ASSERT_TRUE(store_->SetLabel(a1.id, std::string("Apple")).ok());   // confirmed
  ASSERT_TRUE(store_->SetLabel(a2.id, std::string("Banana")).ok());  // corrected
  ASSERT_TRUE(store_->SetLabel(b1.id, std::string("Cherry")).ok());  // a new tag
  Result<StoreStats> st = store_->Stats();
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->captures, 4);
  EXPECT_EQ(st->reviewed, 3);
  EXPECT_EQ(st->unreviewed, 1);
  ASSERT_EQ(st->tags.size(), 3u);
  const TagCounts& apple = st->tags.at("Apple");
  EXPECT_EQ(apple.predicted, 3);
  EXPECT_EQ(apple.unreviewed, 1);
  EXPECT_EQ(apple.labelled, 1);
  EXPECT_EQ(apple.confirmed, 1);
  const TagCounts& banana = st->tags.at("Banana");
  EXPECT_EQ(banana.predicted, 1);
  EXPECT_EQ(banana.unreviewed, 0);
  EXPECT_EQ(banana.labelled, 1);
  EXPECT_EQ(banana.confirmed, 0);
  const TagCounts& cherry = st->tags.at("Cherry");
  EXPECT_EQ(cherry.predicted, 0);
  EXPECT_EQ(cherry.labelled, 1);
}

TEST_F(CaptureStoreTest, CapturesSurviveReopening) {
  NewCapture a = Add("Apple", 0.9, FruitJpeg("apple2.jpg"));
  ASSERT_TRUE(store_->SetLabel(a.id, std::string("Apple")).ok());
  Reopen();
  Result<Capture> got = store_->Get(a.id);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->label, "Apple");
  EXPECT_EQ(store_->Health().captures, 1);
  EXPECT_EQ(store_->Health().image_bytes, a.image.size());
  EXPECT_TRUE(store_->CheckConsistency().ok());
}

TEST_F(CaptureStoreTest, OneServerPerDataDirectoryButReadersMayOpen) {
  Add("Apple", 0.9);
  Result<std::unique_ptr<CaptureStore>> second = CaptureStore::Open(dir_.path(), TestOptions());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable) << second.status().ToString();
  Result<std::unique_ptr<CaptureStore>> reader =
      CaptureStore::Open(dir_.path(), TestOptions(), CaptureStore::Mode::kReader);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->List({})->captures.size(), 1u);
  // A reader never writes.
  EXPECT_FALSE((*reader)->Add(MakeCapture(RandomBytes(10, 9), "Apple", 0.9, clock_.Now())).ok());
  // Once the server closes, another may open.
  store_.reset();
  EXPECT_TRUE(CaptureStore::Open(dir_.path(), TestOptions()).ok());
}

TEST_F(CaptureStoreTest, ReaderNeedsAnExistingStore) {
  TempDir empty;
  EXPECT_EQ(
      CaptureStore::Open(empty.path(), TestOptions(), CaptureStore::Mode::kReader).status().code(),
      StatusCode::kNotFound);
  EXPECT_FALSE(std::filesystem::exists(empty / "captures.db"));
}

TEST_F(CaptureStoreTest, AForeignFileIsNotTakenForAStore) {
  TempDir other;
  {
    std::ofstream(other / "captures.db")
        << "this is not a database, just some text that is long enough........";
  }
  Result<std::unique_ptr<CaptureStore>> s = CaptureStore::Open(other.path(), TestOptions());
  EXPECT_EQ(s.status().code(), StatusCode::kCorrupt) << s.status().ToString();

  TempDir foreign;
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((foreign / "captures.db").c_str(), &db), SQLITE_OK);
    sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr);
    sqlite3_close(db);
  }
  s = CaptureStore::Open(foreign.path(), TestOptions());
  EXPECT_EQ(s.status().code(), StatusCode::kCorrupt) << s.status().ToString();
  EXPECT_NE(s.status().message().find("captures.db"), std::string::npos);
}

TEST_F(CaptureStoreTest, ReconciliationRemovesOrphansAndRowsWithoutFiles) {
  NewCapture keep = Add("Apple", 0.9);
  NewCapture lose = Add("Banana", 0.9);
  NewCapture shrink = Add("Banana", 0.7);
  const std::string lose_path = store_->ImagePath(Sha256Hex(lose.image), "jpeg");
  const std::string shrink_path = store_->ImagePath(Sha256Hex(shrink.image), "jpeg");
  store_.reset();
  // A crash left: a temporary file, an image no row refers to, a row whose
  // image is gone, an image of the wrong size, and a stray file we did not write.
  { std::ofstream(dir_ / "captures/tmp/0f8fad5b-d9cb-469f-a165-70867728950e.tmp") << "partial"; }
  const std::vector<uint8_t> orphan = RandomBytes(300, 4242);
  const std::string orphan_sha = Sha256Hex(orphan);
  std::filesystem::create_directories(dir_ / ("captures/" + orphan_sha.substr(0, 2)));
  const std::string orphan_path =
      dir_ / ("captures/" + orphan_sha.substr(0, 2) + "/" + orphan_sha + ".png");
  {
    std::ofstream(orphan_path, std::ios::binary)
        .write(reinterpret_cast<const char*>(orphan.data()), 300);
  }
  std::filesystem::remove(lose_path);
  std::filesystem::resize_file(shrink_path, 10);
  { std::ofstream(dir_ / "captures/README.txt") << "someone else's file"; }

  Reopen();
  EXPECT_TRUE(std::filesystem::is_empty(dir_ / "captures/tmp"));
  EXPECT_FALSE(std::filesystem::exists(orphan_path));
  EXPECT_FALSE(std::filesystem::exists(shrink_path));
  EXPECT_TRUE(store_->Get(keep.id).ok());
  EXPECT_EQ(store_->Get(lose.id).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->Get(shrink.id).status().code(), StatusCode::kNotFound);
  EXPECT_TRUE(std::filesystem::exists(dir_ / "captures/README.txt"));  // not ours: left alone
  EXPECT_EQ(store_->Health().captures, 1);
  EXPECT_EQ(store_->Health().image_bytes, keep.image.size());
  EXPECT_TRUE(store_->CheckConsistency().ok()) << store_->CheckConsistency().ToString();
}

TEST_F(CaptureStoreTest, ConsistencyCheckNoticesATamperedImage) {
  NewCapture a = Add("Apple", 0.9);
  const std::string path = store_->ImagePath(Sha256Hex(a.image), "jpeg");
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(10);
    f.put('\x55');
    f.put('\x66');
  }
  Status s = store_->CheckConsistency();
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_NE(s.message().find(a.id), std::string::npos) << s.message();
}

TEST_F(CaptureStoreTest, FormatsMapToExtensionsAndMimeTypes) {
  EXPECT_EQ(ExtensionForFormat("jpeg"), "jpg");
  EXPECT_EQ(MimeTypeForFormat("jpeg"), "image/jpeg");
  EXPECT_EQ(ExtensionForFormat("webp"), "webp");
  EXPECT_EQ(MimeTypeForFormat("png"), "image/png");
  EXPECT_EQ(ExtensionForFormat("../x"), "bin");
  EXPECT_EQ(MimeTypeForFormat("text/html"), "application/octet-stream");
  NewCapture c = MakeCapture(RandomBytes(50, 5), "Apple", 0.9, clock_.Now());
  c.image_format = "png";
  ASSERT_TRUE(store_->Add(c).ok());
  EXPECT_TRUE(std::filesystem::exists(store_->ImagePath(Sha256Hex(c.image), "png")));
  EXPECT_NE(store_->ImagePath(Sha256Hex(c.image), "png").find(".png"), std::string::npos);
}

}  // namespace
}  // namespace edgevision::store
