#include "model/package.h"

#include <gtest/gtest.h>
#include <zip.h>

#include <filesystem>
#include <fstream>

#include "test_support.h"

namespace edgevision::model {
namespace {

namespace fs = std::filesystem;

class PackageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ev_package_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void Write(const fs::path& rel, const std::string& text) {
    fs::create_directories((dir_ / rel).parent_path());
    std::ofstream(dir_ / rel, std::ios::binary) << text;
  }

  // Writes a zip holding `members` (name -> content) and returns its path.
  fs::path WriteZip(const std::vector<std::pair<std::string, std::string>>& members) {
    fs::path path = dir_ / "export.zip";
    int err = 0;
    zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
    EXPECT_NE(z, nullptr);
    for (const auto& [name, content] : members) {
      zip_source_t* src = zip_source_buffer(z, content.data(), content.size(), 0);
      EXPECT_GE(zip_file_add(z, name.c_str(), src, ZIP_FL_OVERWRITE), 0);
    }
    EXPECT_EQ(zip_close(z), 0);  // reads the buffers, which are still alive here
    return path;
  }

  fs::path dir_;
};

TEST_F(PackageTest, SavedModelBringsItsVariablesFolder) {
  Write("export/saved_model.pb", "pb");
  Write("export/variables/variables.index", "index");
  Write("export/variables/variables.data-00000-of-00001", "data");
  Write("export/labels.txt", "a\nb\n");
  for (const fs::path& path : {dir_ / "export", dir_ / "export" / "saved_model.pb"}) {
    Result<ExportFiles> files = ReadExport(path.string());
    ASSERT_TRUE(files.ok()) << files.status().ToString();
    EXPECT_EQ(files->model_name, "saved_model.pb");
    ASSERT_EQ(files->companions.size(), 2u) << path;
    EXPECT_EQ(files->companions[0].rel, "variables/variables.data-00000-of-00001");
    EXPECT_EQ(std::string(files->companions[1].bytes.begin(), files->companions[1].bytes.end()), "index");
  }
  // Inside a zip with a top-level folder, too.
  fs::path zip = WriteZip({{"x/saved_model.pb", "pb"}, {"x/variables/variables.index", "index"}});
  Result<ExportFiles> zipped = ReadExport(zip.string());
  ASSERT_TRUE(zipped.ok()) << zipped.status().ToString();
  ASSERT_EQ(zipped->companions.size(), 1u);
  EXPECT_EQ(zipped->companions[0].rel, "variables/variables.index");
}

TEST_F(PackageTest, TfjsModelBringsTheShardsItLists) {
  Write("export/model.json",
        R"({"format": "graph-model", "modelTopology": {}, "weightsManifest":
            [{"paths": ["group1-shard1of2.bin", "group1-shard2of2.bin"], "weights": []}]})");
  Write("export/group1-shard1of2.bin", "one");
  Write("export/group1-shard2of2.bin", "two");
  Write("export/unrelated.bin", "not listed");
  Result<ExportFiles> files = ReadExport((dir_ / "export").string());
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_EQ(files->model_name, "model.json");
  ASSERT_EQ(files->companions.size(), 2u);
  EXPECT_EQ(files->companions[1].rel, "group1-shard2of2.bin");
  fs::remove(dir_ / "export" / "group1-shard2of2.bin");
  Result<ExportFiles> missing = ReadExport((dir_ / "export").string());
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("group1-shard2of2.bin"), std::string::npos);
}

TEST_F(PackageTest, CompanionsCountAgainstTheModelSizeLimit) {
  Write("export/model.json",
        R"({"format": "graph-model", "modelTopology": {}, "weightsManifest":
            [{"paths": ["w.bin"], "weights": []}]})");
  Write("export/w.bin", std::string(4096, 'x'));
  PackageLimits limits;
  limits.max_model_bytes = 1024;
  Result<ExportFiles> files = ReadExport((dir_ / "export").string(), limits);
  ASSERT_FALSE(files.ok());
  EXPECT_EQ(files.status().code(), StatusCode::kResourceExhausted) << files.status().ToString();
}

TEST_F(PackageTest, RealExportFolderWithManifest) {
  Result<ExportFiles> files = ReadExport(testing::Export("android-fruit-tflite").string());
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_EQ(files->model_name, "model.tflite");
  EXPECT_EQ(files->model_bytes.size(), 2915824u);
  ASSERT_TRUE(files->labels && files->manifest);
  EXPECT_FALSE(files->metadata);
  EXPECT_NE(files->labels->text.find("Passionfruit"), std::string::npos);
}

TEST_F(PackageTest, BareModelFilePicksUpLabelsBesideIt) {
  Result<ExportFiles> files = ReadExport(testing::Export("winml-food-onnx/model.onnx").string());
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_EQ(files->model_name, "model.onnx");
  ASSERT_TRUE(files->labels);
  EXPECT_NE(files->labels->text.find("Fries"), std::string::npos);
}

TEST_F(PackageTest, DockerfileExportKeepsTheModelInApp) {
  Write("Dockerfile", "FROM python:3.7-slim\n");
  Write("app/model.pb", "\x0a\x01x");
  Write("app/labels.txt", "Apple\nBanana\n");
  Write("app/app.py", "# not ours");
  Result<ExportFiles> files = ReadExport(dir_.string());
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_EQ(files->model_label, (dir_ / "app/model.pb").string());
  ASSERT_TRUE(files->labels);
  EXPECT_EQ(files->labels->text, "Apple\nBanana\n");
}

TEST_F(PackageTest, ZipWithTopLevelFolderAsDownloaded) {
  fs::path zip = WriteZip({{"abc.DockerFile.Linux/Dockerfile", "FROM x"},
                           {"abc.DockerFile.Linux/app/model.pb", "\x0a\x01y"},
                           {"abc.DockerFile.Linux/app/labels.txt", "pass\nfail\n"}});
  Result<ExportFiles> files = ReadExport(zip.string());
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_EQ(files->model_label, zip.string() + ":abc.DockerFile.Linux/app/model.pb");
  EXPECT_EQ(std::string(files->model_bytes.begin(), files->model_bytes.end()), "\x0a\x01y");
  ASSERT_TRUE(files->labels);
  EXPECT_EQ(files->labels->text, "pass\nfail\n");
}

TEST_F(PackageTest, ManifestNamesAreFollowedButNeverLeaveTheFolder) {
  Write("cvexport.manifest",
        R"({"ModelFileName": "../../etc/passwd", "LabelFileName": "tags.txt"})");
  Write("model.onnx", "\x08\x03");
  Write("tags.txt", "a\nb\n");
  Result<ExportFiles> files = ReadExport(dir_.string());
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_EQ(files->model_name, "model.onnx");
  ASSERT_TRUE(files->labels);
  EXPECT_EQ(files->labels->text, "a\nb\n");
}

TEST_F(PackageTest, ErrorsNameThePathAndReason) {
  Result<ExportFiles> r = ReadExport((dir_ / "missing").string());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("missing"), std::string::npos);

  r = ReadExport(dir_.string());  // empty folder
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find("no model found"), std::string::npos);

  Write("model.pb", "x");
  Write("model.onnx", "y");
  r = ReadExport(dir_.string());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("model.onnx"), std::string::npos);
}

TEST_F(PackageTest, TruncatedZipIsCorruptNotACrash) {
  fs::path zip = WriteZip({{"model.pb", std::string(5000, 'a')}, {"labels.txt", "a\n"}});
  std::vector<uint8_t> bytes = testing::ReadBytes(zip);
  for (size_t cut : {size_t{4}, size_t{30}, bytes.size() / 2, bytes.size() - 10}) {
    std::ofstream(zip, std::ios::binary | std::ios::trunc)
        .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(cut));
    Result<ExportFiles> r = ReadExport(zip.string());
    EXPECT_FALSE(r.ok()) << "cut at " << cut;
  }
}

TEST_F(PackageTest, SizeLimitsAreEnforced) {
  Write("model.pb", std::string(2000, 'x'));
  PackageLimits limits;
  limits.max_model_bytes = 1000;
  Result<ExportFiles> r = ReadExport(dir_.string(), limits);
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
  fs::path zip = WriteZip({{"model.onnx", std::string(2000, 'x')}});
  fs::remove(dir_ / "model.pb");
  r = ReadExport(zip.string(), limits);
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
}

}  // namespace
}  // namespace edgevision::model
