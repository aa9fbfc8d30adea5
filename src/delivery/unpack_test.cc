// Safe unpacking of a delivered zip: traversal, absolute names, symlinks and
// zip bombs are refused before anything is written; a good export unpacks.
#include "delivery/unpack.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zip.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_support.h"

namespace edgevision::delivery {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

struct Entry {
  std::string name;
  std::string content;
  bool symlink = false;
};

// Writes a zip with libzip; members stored deflated.
void MakeZip(const fs::path& path, const std::vector<Entry>& entries) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(z, nullptr);
  for (const Entry& e : entries) {
    if (e.name.back() == '/') {
      ASSERT_GE(zip_dir_add(z, e.name.c_str(), ZIP_FL_ENC_RAW), 0);
      continue;
    }
    void* copy = std::malloc(e.content.size() + 1);  // libzip frees it
    std::memcpy(copy, e.content.data(), e.content.size());
    zip_source_t* src = zip_source_buffer(z, copy, e.content.size(), 1);
    const zip_int64_t i = zip_file_add(z, e.name.c_str(), src, ZIP_FL_ENC_RAW);
    ASSERT_GE(i, 0) << zip_strerror(z);
    if (e.symlink) {
      zip_file_set_external_attributes(z, static_cast<zip_uint64_t>(i), 0, ZIP_OPSYS_UNIX,
                                       static_cast<zip_uint32_t>(S_IFLNK | 0777) << 16);
    }
  }
  ASSERT_EQ(zip_close(z), 0);
}

Status Unpack(const std::vector<Entry>& entries, const DeliveryLimits& limits = {}) {
  TempDir dir;
  MakeZip(dir.path() / "m.zip", entries);
  return UnpackZip((dir.path() / "m.zip").string(), (dir.path() / "out").string(), limits).status();
}

TEST(UnpackTest, AGoodExportUnpacksWithItsFolders) {
  TempDir dir;
  MakeZip(dir.path() / "m.zip", {{"app/", ""}, {"app/labels.txt", "a\nb\n"}, {"app/model.onnx", std::string(5000, 'x')},
                                 {"images/one.jpg", "jpeg"}});
  EXPECT_TRUE(LooksLikeZip((dir.path() / "m.zip").string()));
  Result<UnpackStats> s = UnpackZip((dir.path() / "m.zip").string(), (dir.path() / "out").string(), {});
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->files, 3u);
  EXPECT_EQ(s->bytes, 4u + 5000u + 4u);
  EXPECT_EQ(fs::file_size(dir.path() / "out/app/model.onnx"), 5000u);
  EXPECT_TRUE(fs::is_regular_file(dir.path() / "out/images/one.jpg"));
}

TEST(UnpackTest, PathTraversalIsRefusedBeforeAnythingIsWritten) {
  TempDir dir;
  MakeZip(dir.path() / "m.zip", {{"model.onnx", "x"}, {"../evil.txt", "pwned"}});
  Status s = UnpackZip((dir.path() / "m.zip").string(), (dir.path() / "out").string(), {}).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("../evil.txt"), std::string::npos) << s.message();
  EXPECT_FALSE(fs::exists(dir.path() / "evil.txt"));
  EXPECT_FALSE(fs::exists(dir.path() / "out")) << "checked before the folder is created";
  EXPECT_EQ(Unpack({{"app/../../x", "x"}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Unpack({{"/etc/cron.d/x", "x"}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Unpack({{"a\\..\\x", "x"}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Unpack({{"C:/x", "x"}}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Unpack({{"a//x", "x"}}).code(), StatusCode::kInvalidArgument);
}

TEST(UnpackTest, SymlinksAreRefused) {
  Status s = Unpack({{"model.onnx", "/etc/passwd", true}});
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("symbolic link"), std::string::npos) << s.message();
}

TEST(UnpackTest, ZipBombLimits) {
  DeliveryLimits limits;
  limits.max_zip_entries = 3;
  EXPECT_EQ(Unpack({{"a", "1"}, {"b", "2"}, {"c", "3"}, {"d", "4"}}, limits).code(), StatusCode::kResourceExhausted);
  limits = {};
  limits.max_unpacked_bytes = 1000;
  EXPECT_EQ(Unpack({{"a", std::string(600, 'x')}, {"b", std::string(600, 'y')}}, limits).code(),
            StatusCode::kResourceExhausted);
  limits = {};
  limits.ratio_exempt_bytes = 1000;
  // 4 MB of zeros deflate ~1000-fold.
  Status s = Unpack({{"zeros.bin", std::string(4 << 20, '\0')}}, limits);
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_NE(s.message().find("-fold"), std::string::npos) << s.message();
  EXPECT_TRUE(Unpack({{"labels.txt", std::string(512 << 10, '\0')}}).ok()) << "small members may compress well";
}

TEST(UnpackTest, NotAZipIsCorrupt) {
  TempDir dir;
  std::ofstream(dir.path() / "x.zip") << "PK\3\4 but not really a zip";
  EXPECT_EQ(UnpackZip((dir.path() / "x.zip").string(), (dir.path() / "out").string(), {}).status().code(),
            StatusCode::kCorrupt);
}

}  // namespace
}  // namespace edgevision::delivery
