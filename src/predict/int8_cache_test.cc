// The int8 calibration cache's file (predict/int8_cache.h): a version-9
// cache written by an earlier build (tests/data/int8-cache) is read and
// written back byte for byte; every stored field of the report comes back
// as written; damaged or foreign caches are not read; a write that fails
// leaves the old cache and is reported; the folder keeps its mode.
#include "predict/int8_cache.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <string>

#include "model/model.h"
#include "predict/int8_mixed.h"
#include "test_support.h"

namespace edgevision::predict {
namespace {

using nlohmann::json;
using testing::TempDir;

std::filesystem::path Golden() {
  return testing::TestData("int8-cache/docker22-appleorange-tflite.v9.json");
}

// The golden cache as this machine would have written it: its prefix budget
// (predict/int8_mixed.h LeadingBudget) is the machine's, 0.4 where it was
// written (x86 with AVX512-VNNI), 0.25 elsewhere (an arm64 Pi), and a cache
// of another budget is not read. Unchanged byte for byte on a machine of the
// golden's budget (the file is a json dump, which parse + dump reproduces).
std::string ThisMachinesGolden() {
  const std::string text = testing::ReadText(Golden());
  json doc = json::parse(text);
  if (doc["mixed_precision"]["leading"]["budget"] == json(LeadingBudget())) return text;
  doc["mixed_precision"]["leading"]["budget"] = LeadingBudget();
  return doc.dump();
}

model::LoadedModel Docker22() {
  Result<model::LoadedModel> m = model::LoadModel(testing::Export("docker22-appleorange-tflite").string());
  EXPECT_TRUE(m.ok()) << m.status().message();
  return m.ok() ? std::move(*m) : model::LoadedModel{};
}

void WriteText(const std::filesystem::path& file, const std::string& text) {
  std::filesystem::create_directories(file.parent_path());
  std::ofstream(file, std::ios::trunc) << text;
}

TEST(Int8CacheTest, Version9CacheReadsAndWritesBackByteForByte) {
  const model::LoadedModel m = Docker22();
  ASSERT_FALSE(m.graph.values.empty());
  EXPECT_EQ(testing::ReadText(Golden()), json::parse(testing::ReadText(Golden())).dump());
  const std::string golden = ThisMachinesGolden();
  const json doc = json::parse(golden);
  TempDir in;
  WriteText(in.path() / "golden.json", golden);
  Int8Report report;
  std::optional<engine::Int8Calibration> c = ReadInt8Cache(in.path() / "golden.json", m.graph, &report);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->value_names.size(), m.graph.values.size());
  EXPECT_EQ(c->float_nodes, report.mixed.float_nodes);
  EXPECT_EQ(report.agreement.images, 1);
  EXPECT_EQ(report.agreement.top1_rate, 1.0);
  EXPECT_EQ(report.mixed.leading_nodes, 13);
  EXPECT_EQ(report.fallback.bound, 0.8658443384155241);
  // The key and the report's source are the run's, not read back.
  report.calibration_source = doc["source"].get<std::string>();
  report.calibration_images = doc["images"].get<int>();
  TempDir dir;
  const std::filesystem::path out = dir.path() / "int8-calibration" / "cache.json";
  const json rewritten =
      Int8CacheJson(*c, report, doc["model_sha1"].get<std::string>(), doc["images_sha256"].get<std::string>());
  ASSERT_TRUE(WriteInt8Cache(out, rewritten).ok());
  const std::string written = testing::ReadText(out);
  const auto [w, g] = std::mismatch(written.begin(), written.end(), golden.begin(), golden.end());
  const size_t at = static_cast<size_t>(w - written.begin());
  EXPECT_TRUE(w == written.end() && g == golden.end())
      << "written " << written.size() << " bytes, the v9 cache " << golden.size() << "; first difference at byte " << at
      << ": ..." << written.substr(at < 80 ? 0 : at - 80, 160) << "... vs ..."
      << golden.substr(at < 80 ? 0 : at - 80, 160) << "...";
}

TEST(Int8CacheTest, EveryStoredFieldComesBackAsWritten) {
  const model::LoadedModel m = Docker22();
  ASSERT_FALSE(m.graph.values.empty());
  Int8Report golden;
  TempDir in;
  WriteText(in.path() / "golden.json", ThisMachinesGolden());
  std::optional<engine::Int8Calibration> c = ReadInt8Cache(in.path() / "golden.json", m.graph, &golden);
  ASSERT_TRUE(c.has_value());
  // Every stored member different from its default and from the others.
  Int8Report written;
  written.agreement = {
      .images = 7, .top1_agree = 5, .top1_rate = 5.0 / 7, .mean_abs_diff = 0.125, .max_abs_diff = 0.375};
  written.mixed = {.float_nodes = {golden.mixed.float_nodes[0], golden.mixed.float_nodes[1]},
                   .leading_nodes = 1,
                   .leading_share = 0.0625,
                   .leading_error = 0.3125,
                   .all_int8_error = 0.4375,
                   .leading_tolerance = 0.5625,
                   .bar_met = true,
                   .inputs = 28,
                   .top1_agree = 27,
                   .max_abs_diff = 0.6875,
                   .all_int8_max_abs_diff = 0.8125,
                   .trials = 3};
  written.fallback = {.enabled = false,
                      .inputs = 28,
                      .near_tie_inputs = 6,
                      .max_margin_error = 0.9375,
                      .safety_factor = 2.0,
                      .bound = 1.875,
                      .below_bound = 2};
  c->float_nodes = written.mixed.float_nodes;
  TempDir dir;
  const std::filesystem::path file = dir.path() / "cache.json";
  ASSERT_TRUE(WriteInt8Cache(file, Int8CacheJson(*c, written, "sha1", "sha256")).ok());
  Int8Report read;
  read.fallback.enabled = true;  // the run's option: kept
  std::optional<engine::Int8Calibration> again = ReadInt8Cache(file, m.graph, &read);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(read.agreement, written.agreement);
  EXPECT_EQ(read.mixed, written.mixed);
  Int8FallbackBound expected = written.fallback;
  expected.enabled = true;
  EXPECT_EQ(read.fallback, expected);
  EXPECT_EQ(again->float_nodes, written.mixed.float_nodes);
  EXPECT_EQ(again->value_names, c->value_names);
}

TEST(Int8CacheTest, DamagedOrForeignCachesAreNotRead) {
  const model::LoadedModel m = Docker22();
  ASSERT_FALSE(m.graph.values.empty());
  const json golden = json::parse(ThisMachinesGolden());
  struct Damage {
    const char* what;
    std::function<void(json&)> apply;
  };
  const Damage damages[] = {
      {"another version", [](json& d) { d["version"] = 8; }},
      {"an agreement field missing", [](json& d) { d["agreement"].erase("max_abs_diff"); }},
      {"an agreement count not an integer", [](json& d) { d["agreement"]["images"] = 1.5; }},
      {"a nested mixed field missing", [](json& d) { d["mixed_precision"]["leading"].erase("tolerance"); }},
      {"leading not an object", [](json& d) { d["mixed_precision"]["leading"] = 3; }},
      {"bar_met not a boolean", [](json& d) { d["mixed_precision"]["bar_met"] = 1; }},
      {"a float node not a string", [](json& d) { d["mixed_precision"]["float_nodes"][0] = 1; }},
      {"a longer prefix than float nodes", [](json& d) { d["mixed_precision"]["leading"]["nodes"] = 14; }},
      {"another machine's prefix budget",
       [](json& d) {
         d["mixed_precision"]["leading"]["budget"] =
             LeadingBudget() == kMaxLeadingInt16Share ? kMaxLeadingFloatShare : kMaxLeadingInt16Share;
       }},
      {"no prefix budget", [](json& d) { d["mixed_precision"]["leading"].erase("budget"); }},
      {"another safety factor", [](json& d) { d["fallback"]["safety_factor"] = 3.0; }},
      {"another near-tie margin", [](json& d) { d["fallback"]["near_tie_margin"] = 5.0; }},
      {"a fallback field missing", [](json& d) { d["fallback"].erase("below_bound"); }},
      {"a value renamed", [](json& d) { d["value_names"][0] = "renamed"; }},
      {"a range cut short", [](json& d) { d["ranges"][0] = json::array({1.0}); }},
  };
  TempDir dir;
  for (const Damage& damage : damages) {
    SCOPED_TRACE(damage.what);
    json doc = golden;
    damage.apply(doc);
    const std::filesystem::path file = dir.path() / "cache.json";
    WriteText(file, doc.dump());
    Int8Report report;
    report.fallback.enabled = true;
    report.agreement.images = 99;
    EXPECT_FALSE(ReadInt8Cache(file, m.graph, &report).has_value());
    // Untouched.
    EXPECT_EQ(report.agreement.images, 99);
    EXPECT_TRUE(report.mixed.float_nodes.empty());
    EXPECT_EQ(report.fallback.bound, 0);
    EXPECT_TRUE(report.fallback.enabled);
  }
  Int8Report report;
  EXPECT_FALSE(ReadInt8Cache(dir.path() / "missing.json", m.graph, &report).has_value());
  WriteText(dir.path() / "cut.json", testing::ReadText(Golden()).substr(0, 200));
  EXPECT_FALSE(ReadInt8Cache(dir.path() / "cut.json", m.graph, &report).has_value());
}

// A failed write (its temporary name taken by a folder, which stops root too)
// is an error value; the old cache and the other caches are left as they were.
TEST(Int8CacheTest, AFailedWriteLeavesTheOldCacheAndIsReported) {
  TempDir dir;
  const std::filesystem::path folder = dir.path() / "int8-calibration";
  const std::filesystem::path file = folder / "model-set.json";
  const std::string old = testing::ReadText(Golden());
  WriteText(file, old);
  WriteText(folder / "other-set.json", "{}");
  std::filesystem::create_directory(file.string() + ".tmp");
  const Status s = WriteInt8Cache(file, json{{"version", 0}});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kIOError);
  EXPECT_NE(s.message().find(file.string() + ".tmp"), std::string::npos) << s.message();
  EXPECT_EQ(testing::ReadText(file), old);
  EXPECT_TRUE(std::filesystem::exists(folder / "other-set.json"));
}

// The cache lives in the data folder: its folder keeps the mode it has (no
// chmod 0700 as delivery's private folders get), the file is 0666 less the
// umask as before it was fsynced, and the other caches go.
TEST(Int8CacheTest, AWriteKeepsTheFolderModeAndRemovesOtherCaches) {
  TempDir dir;
  const std::filesystem::path folder = dir.path() / "int8-calibration";
  std::filesystem::create_directory(folder);
  ASSERT_EQ(::chmod(folder.c_str(), 0755), 0);
  WriteText(folder / "other-set.json", "{}");
  const mode_t old_mask = ::umask(022);
  const Status s = WriteInt8Cache(folder / "model-set.json", json{{"version", 0}});
  ::umask(old_mask);
  ASSERT_TRUE(s.ok()) << s.message();
  struct stat st {};
  ASSERT_EQ(::stat(folder.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(::stat((folder / "model-set.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  EXPECT_EQ(testing::ReadText(folder / "model-set.json"), R"({"version":0})");
  EXPECT_FALSE(std::filesystem::exists(folder / "other-set.json"));
  EXPECT_FALSE(std::filesystem::exists(folder / "model-set.json.tmp"));
}

}  // namespace
}  // namespace edgevision::predict
