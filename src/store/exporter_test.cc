#include "store/exporter.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "store/testing/store_test_util.h"

namespace edgevision::store {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::FruitJpeg;
using testing::MakeCapture;
using testing::MakeDetectionCapture;
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

// Issue 13: detection captures export as Custom Vision training regions and
// as COCO; parsing both gives back exactly the regions the store holds.
TEST_F(ExporterTest, DetectionRegionsRoundTripThroughBothFormats) {
  using nlohmann::json;
  const std::vector<std::string> tags = {"crack", "screw"};
  NewCapture reviewed = MakeDetectionCapture(FruitJpeg("apple1.jpg"), clock_.Now());
  NewCapture empty = MakeDetectionCapture(FruitJpeg("apple2.jpg"), clock_.Now() + 1s);
  NewCapture predicted = MakeDetectionCapture(FruitJpeg("banana1.jpg"), clock_.Now() + 2s);
  predicted.image_width = 301;
  predicted.image_height = 194;
  NewCapture classified = MakeCapture(FruitJpeg("banana2.jpg"), "Banana", 0.9, clock_.Now() + 3s);
  for (const NewCapture* c : {&reviewed, &empty, &predicted, &classified})
    ASSERT_TRUE(store_->Add(*c).ok());
  const std::vector<Region> regions = {{"screw", {0.1, 0.2, 0.3, 0.4}},
                                       {"crack", {0.123456789, 0.5, 0.876543211, 0.5}},
                                       {"screw", {0.0, 0.0, 1.0 / 3.0, 1.0}}};
  ASSERT_TRUE(store_->SetRegions(reviewed.id, regions, tags).ok());
  ASSERT_TRUE(store_->SetRegions(empty.id, std::vector<Region>{}, tags).ok());
  ASSERT_TRUE(store_->SetLabel(classified.id, std::string("Banana")).ok());

  ExportOptions o;
  o.out_dir = out_parent_ / "detection";
  o.include_predicted = true;
  Result<ExportSummary> r = ExportDataset(*store_, o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->exported, 4);
  EXPECT_EQ(r->detection_images, 3);
  // 3 reviewed + 3 predicted boxes (the one crossing the border is clipped, not dropped).
  EXPECT_EQ(r->regions, 6);
  EXPECT_EQ(r->per_tag["Banana"], 1);  // the classification capture, as before

  // What each capture should export: its regions, or its boxes clipped.
  std::map<std::string, std::vector<Region>> expected = {
      {reviewed.id, regions},
      {empty.id, {}},
      {predicted.id,
       {{"screw", {0.1, 0.2, 0.3, 0.4}},
        {"crack", {0.25, 0.3, 0.2, 0.2}},
        {"screw", {0.0, 0.6, 0.2 + -0.05, 0.3}}}}};
  std::map<std::string, const NewCapture*> by_id = {
      {reviewed.id, &reviewed}, {empty.id, &empty}, {predicted.id, &predicted}};

  // customvision.json: normalised regions, exactly.
  json cv = json::parse(Slurp(r->customvision));
  EXPECT_EQ(cv["projectType"], "ObjectDetection");
  EXPECT_EQ(cv["tags"], json::parse(R"([{"name":"crack"},{"name":"screw"}])"));
  ASSERT_EQ(cv["images"].size(), 3u);
  for (const json& image : cv["images"]) {
    const std::string id = image["captureId"];
    ASSERT_TRUE(expected.count(id)) << id;
    EXPECT_EQ(image["source"], id == predicted.id ? "predicted" : "regions");
    const std::string file = image["file"];
    EXPECT_EQ(file, "images/" + Sha256Hex(by_id[id]->image) + ".jpg");
    EXPECT_EQ(image["name"], file.substr(7));
    EXPECT_EQ(Slurp(o.out_dir + "/" + file),
              std::string(by_id[id]->image.begin(), by_id[id]->image.end()));
    const std::vector<Region>& want = expected[id];
    ASSERT_EQ(image["regions"].size(), want.size()) << id;
    for (size_t i = 0; i < want.size(); ++i) {
      const json& got = image["regions"][i];
      EXPECT_EQ(got["tagName"], want[i].tag);
      EXPECT_EQ(got["left"].get<double>(), want[i].box.left);
      EXPECT_EQ(got["top"].get<double>(), want[i].box.top);
      EXPECT_EQ(got["width"].get<double>(), want[i].box.width);
      EXPECT_EQ(got["height"].get<double>(), want[i].box.height);
      EXPECT_GE(got["left"].get<double>(), 0.0);
      EXPECT_LE(got["left"].get<double>() + got["width"].get<double>(), 1.0 + 1e-12);
    }
  }

  // coco.json: pixels; back to normalised through the image size.
  json coco = json::parse(Slurp(r->coco));
  std::map<int, std::string> category;
  for (const json& c : coco["categories"]) category[c["id"]] = c["name"];
  EXPECT_EQ(category, (std::map<int, std::string>{{1, "crack"}, {2, "screw"}}));
  ASSERT_EQ(coco["images"].size(), 3u);
  std::map<int, std::vector<Region>> from_coco;
  std::map<int, std::pair<double, double>> size;
  std::map<int, std::string> file_of;
  for (const json& image : coco["images"]) {
    size[image["id"]] = {image["width"].get<double>(), image["height"].get<double>()};
    file_of[image["id"]] = image["file_name"];
  }
  for (const json& a : coco["annotations"]) {
    const auto [w, h] = size[a["image_id"]];
    const json& b = a["bbox"];
    from_coco[a["image_id"]].push_back({category[a["category_id"]],
                                        {b[0].get<double>() / w, b[1].get<double>() / h,
                                         b[2].get<double>() / w, b[3].get<double>() / h}});
    EXPECT_DOUBLE_EQ(a["area"].get<double>(), b[2].get<double>() * b[3].get<double>());
  }
  for (const json& image : cv["images"]) {
    // The COCO image with the same file and the same capture order.
    int coco_id = 0;
    for (const auto& [cid, file] : file_of) {
      if (file == image["file"]) coco_id = cid;
    }
    ASSERT_NE(coco_id, 0);
    const std::vector<Region>& want = expected[image["captureId"]];
    const NewCapture* c = by_id[image["captureId"]];
    EXPECT_EQ(size[coco_id].first, c->image_width);
    ASSERT_EQ(from_coco[coco_id].size(), want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_EQ(from_coco[coco_id][i].tag, want[i].tag);
      EXPECT_NEAR(from_coco[coco_id][i].box.left, want[i].box.left, 1e-12);
      EXPECT_NEAR(from_coco[coco_id][i].box.top, want[i].box.top, 1e-12);
      EXPECT_NEAR(from_coco[coco_id][i].box.width, want[i].box.width, 1e-12);
      EXPECT_NEAR(from_coco[coco_id][i].box.height, want[i].box.height, 1e-12);
    }
  }

  // The manifest lists every exported capture; detection rows carry their regions.
  auto manifest = Manifest(r->manifest);
  ASSERT_EQ(manifest.size(), 4u);
  EXPECT_EQ(manifest[reviewed.id]["tag_source"], "regions");
  EXPECT_EQ(manifest[reviewed.id]["tag"], "");
  EXPECT_EQ(json::parse(manifest[reviewed.id]["predictions"]).size(), 3u);
  EXPECT_EQ(manifest[classified.id]["tag"], "Banana");
  EXPECT_EQ(manifest[classified.id]["file"].rfind("Banana/", 0), 0u);

  // Without include_predicted, the unreviewed detection capture is skipped.
  o.out_dir = out_parent_ / "reviewed-only";
  o.include_predicted = false;
  r = ExportDataset(*store_, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->detection_images, 2);
  EXPECT_EQ(r->skipped_unreviewed, 1);
}

TEST_F(ExporterTest, AClassificationOnlyExportHasNoDetectionFiles) {
  NewCapture apple = Add("Apple", 0.99, FruitJpeg("apple1.jpg"));
  ASSERT_TRUE(store_->SetLabel(apple.id, std::string("images")).ok());  // a tag named like the folder
  ExportOptions o;
  o.out_dir = out_parent_ / "cls";
  Result<ExportSummary> r = ExportDataset(*store_, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->customvision, "");
  EXPECT_FALSE(std::filesystem::exists(o.out_dir + "/customvision.json"));
  EXPECT_FALSE(std::filesystem::exists(o.out_dir + "/coco.json"));
  EXPECT_TRUE(std::filesystem::is_directory(o.out_dir + "/images~2"));
  EXPECT_FALSE(std::filesystem::exists(o.out_dir + "/images"));
}

}  // namespace
}  // namespace edgevision::store
