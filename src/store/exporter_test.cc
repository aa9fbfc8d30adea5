#include "store/exporter.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

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

// Splits RFC 4180 CSV (quoted fields may hold commas, quotes, newlines).
std::vector<std::vector<std::string>> ParseCsv(const std::string& text) {
  std::vector<std::vector<std::string>> rows(1, std::vector<std::string>(1));
  bool quoted = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        rows.back().back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        rows.back().back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      rows.back().emplace_back();
    } else if (c == '\n') {
      rows.emplace_back(1);
    } else {
      rows.back().back() += c;
    }
  }
  if (rows.back().size() == 1 && rows.back()[0].empty()) rows.pop_back();
  return rows;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class ExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<CaptureStore>> s = CaptureStore::Open(
        dir_.path(), TestOptions(), CaptureStore::Mode::kServe, DefaultEnv(), &clock_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }
  NewCapture Add(const std::string& tag, double p, std::vector<uint8_t> image) {
    NewCapture c = MakeCapture(std::move(image), tag, p, clock_.Now());
    EXPECT_TRUE(store_->Add(c).ok());
    clock_.Advance(1s);
    return c;
  }
  // manifest rows keyed by capture id.
  std::map<std::string, std::map<std::string, std::string>> Manifest(const std::string& path) {
    auto rows = ParseCsv(Slurp(path));
    std::map<std::string, std::map<std::string, std::string>> out;
    EXPECT_FALSE(rows.empty());
    if (rows.empty()) return out;
    for (size_t r = 1; r < rows.size(); ++r) {
      EXPECT_EQ(rows[r].size(), rows[0].size());
      std::map<std::string, std::string> m;
      for (size_t i = 0; i < rows[0].size() && i < rows[r].size(); ++i) m[rows[0][i]] = rows[r][i];
      out[m["capture_id"]] = m;
    }
    return out;
  }

  TempDir dir_;
  TempDir out_parent_;
  FakeClock clock_;
  std::unique_ptr<CaptureStore> store_;
};

TEST_F(ExporterTest, LabelledCapturesGoUnderTheirLabelAndUnreviewedOnlyOnRequest) {
  NewCapture apple = Add("Apple", 0.99, FruitJpeg("apple1.jpg"));
  NewCapture wrong =
      Add("Apple", 0.62, FruitJpeg("banana1.jpg"));  // a banana the model called apple
  NewCapture unreviewed = Add("Banana", 0.97, FruitJpeg("banana2.jpg"));
  ASSERT_TRUE(store_->SetLabel(apple.id, std::string("Apple")).ok());
  ASSERT_TRUE(store_->SetLabel(wrong.id, std::string("Banana")).ok());

  ExportOptions o;
  o.out_dir = out_parent_ / "reviewed";
  std::vector<std::pair<int64_t, int64_t>> progress;
  Result<ExportSummary> r =
      ExportDataset(*store_, o, DefaultEnv(),
                    [&](int64_t done, int64_t total) { progress.emplace_back(done, total); });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->matched, 3);
  EXPECT_EQ(r->exported, 2);
  EXPECT_EQ(r->skipped_unreviewed, 1);
  EXPECT_EQ(r->per_tag["Apple"], 1);
  EXPECT_EQ(r->per_tag["Banana"], 1);
  ASSERT_EQ(progress.size(), 3u);
  EXPECT_EQ(progress.back(), std::make_pair(int64_t{3}, int64_t{3}));
  const std::string sha_apple = Sha256Hex(apple.image), sha_wrong = Sha256Hex(wrong.image);
  EXPECT_EQ(edgevision::testing::ReadBytes(o.out_dir + "/Apple/" + sha_apple + ".jpg"),
            apple.image);
  EXPECT_EQ(edgevision::testing::ReadBytes(o.out_dir + "/Banana/" + sha_wrong + ".jpg"),
            wrong.image);
  EXPECT_FALSE(
      std::filesystem::exists(o.out_dir + "/Banana/" + Sha256Hex(unreviewed.image) + ".jpg"));

  auto m = Manifest(o.out_dir + "/manifest.csv");
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[wrong.id]["file"], "Banana/" + sha_wrong + ".jpg");
  EXPECT_EQ(m[wrong.id]["tag"], "Banana");
  EXPECT_EQ(m[wrong.id]["tag_source"], "label");
  EXPECT_EQ(m[wrong.id]["predicted_tag"], "Apple");
  EXPECT_EQ(m[wrong.id]["predicted_probability"], "0.62");
  EXPECT_EQ(m[wrong.id]["label"], "Banana");
  EXPECT_FALSE(m[wrong.id]["reviewed"].empty());
  EXPECT_EQ(m[wrong.id]["predictions"],
            R"([{"tag":"Apple","probability":0.62},{"tag":"Banana","probability":0.38}])");

  // With --include-predicted the unreviewed one goes under its prediction.
  o.out_dir = out_parent_ / "all";
  o.include_predicted = true;
  r = ExportDataset(*store_, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exported, 3);
  EXPECT_EQ(r->per_tag["Banana"], 2);
  m = Manifest(o.out_dir + "/manifest.csv");
  EXPECT_EQ(m[unreviewed.id]["tag_source"], "predicted");
  EXPECT_EQ(m[unreviewed.id]["label"], "");
  EXPECT_EQ(
      edgevision::testing::ReadBytes(o.out_dir + "/Banana/" + Sha256Hex(unreviewed.image) + ".jpg"),
      unreviewed.image);
}

TEST_F(ExporterTest, FiltersSelectCaptures) {
  NewCapture a = Add("Apple", 0.55, RandomBytes(100, 1));
  NewCapture b = Add("Banana", 0.99, RandomBytes(100, 2));
  ExportOptions o;
  o.out_dir = out_parent_ / "uncertain";
  o.include_predicted = true;
  o.filter.max_p = 0.8;
  Result<ExportSummary> r = ExportDataset(*store_, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exported, 1);
  auto m = Manifest(o.out_dir + "/manifest.csv");
  EXPECT_TRUE(m.count(a.id));
  EXPECT_FALSE(m.count(b.id));
  EXPECT_FALSE(std::filesystem::exists(o.out_dir + "/Banana"));
}

TEST_F(ExporterTest, TheSameImageUnderOneTagIsWrittenOnce) {
  const std::vector<uint8_t> img = RandomBytes(500, 7);
  NewCapture a = Add("Apple", 0.9, img);
  NewCapture b = Add("Apple", 0.8, img);
  ExportOptions o;
  o.out_dir = out_parent_ / "dup";
  o.include_predicted = true;
  Result<ExportSummary> r = ExportDataset(*store_, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exported, 2);
  EXPECT_EQ(r->images_written, 1);
  EXPECT_EQ(Manifest(o.out_dir + "/manifest.csv").size(), 2u);
}

TEST_F(ExporterTest, UnsafeTagNamesBecomeSafeFoldersAndTheManifestKeepsTheTag) {
  NewCapture a = Add("Apple", 0.9, RandomBytes(100, 11));
  NewCapture b = Add("Apple", 0.9, RandomBytes(100, 12));
  ASSERT_TRUE(store_->SetLabel(a.id, std::string("../../etc")).ok());
  ASSERT_TRUE(store_->SetLabel(b.id, std::string("a/b, \"c\"")).ok());
  ExportOptions o;
  o.out_dir = out_parent_ / "unsafe";
  Result<ExportSummary> r = ExportDataset(*store_, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  // Nothing escaped the output folder.
  for (const auto& e : std::filesystem::recursive_directory_iterator(out_parent_.path())) {
    EXPECT_EQ(e.path().string().rfind(o.out_dir, 0), 0u) << e.path();
  }
  auto m = Manifest(o.out_dir + "/manifest.csv");
  EXPECT_EQ(m[a.id]["tag"], "../../etc");
  EXPECT_EQ(m[a.id]["file"].substr(0, m[a.id]["file"].find('/')), TagFolderName("../../etc"));
  EXPECT_EQ(m[b.id]["tag"], "a/b, \"c\"");
  EXPECT_TRUE(std::filesystem::exists(o.out_dir + "/" + m[b.id]["file"]));
  EXPECT_EQ(TagFolderName(".."), "__");
  EXPECT_EQ(TagFolderName("a:b*c?"), "a_b_c_");
  EXPECT_EQ(TagFolderName("Cherry tomato"), "Cherry tomato");
  EXPECT_EQ(TagFolderName(""), "_");
}

// Project names, tags and labels come from clients: none may start a
// formula when manifest.csv is opened in a spreadsheet.
TEST_F(ExporterTest, ManifestFieldsCannotStartAFormula) {
  NewCapture a = MakeCapture(RandomBytes(100, 61), "Apple", 0.9, clock_.Now());
  a.project = "=HYPERLINK(\"http://evil/\",\"x\")";
  ASSERT_TRUE(store_->Add(a).ok());
  NewCapture b = Add("Apple", 0.9, RandomBytes(100, 62));
  ASSERT_TRUE(store_->SetLabel(a.id, std::string("+cmd|' /C calc'!A0")).ok());
  ASSERT_TRUE(store_->SetLabel(b.id, std::string("@SUM(1,2)")).ok());
  ExportOptions o;
  o.out_dir = out_parent_ / "formula";
  Result<ExportSummary> r = ExportDataset(*store_, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const std::string raw = Slurp(o.out_dir + "/manifest.csv");
  for (const char* bad : {",=", ",+", ",@", "\n=", "\n+", "\n@"}) {
    EXPECT_EQ(raw.find(bad), std::string::npos) << bad << " in\n" << raw;
  }
  auto m = Manifest(o.out_dir + "/manifest.csv");
  EXPECT_EQ(m[a.id]["project"], "'" + a.project);
  EXPECT_EQ(m[a.id]["tag"], "'+cmd|' /C calc'!A0");
  EXPECT_EQ(m[b.id]["tag"], "'@SUM(1,2)");
}

TEST_F(ExporterTest, DistinctTagsWithTheSameFolderNameDoNotMix) {
  NewCapture a = Add("Apple", 0.9, RandomBytes(100, 21));
  NewCapture b = Add("Apple", 0.9, RandomBytes(100, 22));
  ASSERT_TRUE(store_->SetLabel(a.id, std::string("a/b")).ok());
  ASSERT_TRUE(store_->SetLabel(b.id, std::string("a:b")).ok());
  ExportOptions o;
  o.out_dir = out_parent_ / "clash";
  ASSERT_TRUE(ExportDataset(*store_, o).ok());
  auto m = Manifest(o.out_dir + "/manifest.csv");
  const std::string fa = m[a.id]["file"].substr(0, m[a.id]["file"].find('/'));
  const std::string fb = m[b.id]["file"].substr(0, m[b.id]["file"].find('/'));
  EXPECT_NE(fa, fb);
}

TEST_F(ExporterTest, CountsFormatsCustomVisionTrainingRefuses) {
  NewCapture webp = MakeCapture(RandomBytes(100, 51), "Apple", 0.9, clock_.Now());
  webp.image_format = "webp";
  ASSERT_TRUE(store_->Add(webp).ok());
  Add("Apple", 0.9, RandomBytes(100, 52));
  ExportOptions o;
  o.out_dir = out_parent_ / "formats";
  o.include_predicted = true;
  Result<ExportSummary> r = ExportDataset(*store_, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exported, 2);
  EXPECT_EQ(r->unsupported_format, 1);
  EXPECT_TRUE(std::filesystem::exists(o.out_dir + "/Apple/" + Sha256Hex(webp.image) + ".webp"));
}

TEST_F(ExporterTest, RefusesANonEmptyOutputFolder) {
  Add("Apple", 0.9, RandomBytes(100, 31));
  std::filesystem::create_directories(out_parent_ / "busy");
  { std::ofstream(out_parent_ / "busy/x") << "x"; }
  ExportOptions o;
  o.out_dir = out_parent_ / "busy";
  EXPECT_EQ(ExportDataset(*store_, o).status().code(), StatusCode::kInvalidArgument);
  // An empty existing folder is fine.
  std::filesystem::create_directories(out_parent_ / "empty");
  o.out_dir = out_parent_ / "empty";
  EXPECT_TRUE(ExportDataset(*store_, o).ok());
}

TEST_F(ExporterTest, AReaderExportsWhileTheServerHoldsTheStore) {
  NewCapture a = Add("Apple", 0.9, RandomBytes(100, 41));
  ASSERT_TRUE(store_->SetLabel(a.id, std::string("Apple")).ok());
  Result<std::unique_ptr<CaptureStore>> reader =
      CaptureStore::Open(dir_.path(), TestOptions(), CaptureStore::Mode::kReader);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  ExportOptions o;
  o.out_dir = out_parent_ / "live";
  Result<ExportSummary> r = ExportDataset(**reader, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exported, 1);
}

}  // namespace
}  // namespace edgevision::store
