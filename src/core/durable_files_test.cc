// The crash-safe file steps (core/durable_files.h): a write replaces the
// file whole with the asked mode and leaves no temporary file; a write that
// fails leaves the old file as it was and says why; the small-file reader's
// limit and missing files; SHA-256 of a file.
#include "core/durable_files.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "test_support.h"

namespace edgevision {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

mode_t ModeOf(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

// Sets the umask for one scope (a file's mode is the asked one less it).
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : old_(::umask(mask)) {}
  ~ScopedUmask() { ::umask(old_); }

 private:
  mode_t old_;
};

TEST(DurableFilesTest, WriteReplacesTheFileWithTheAskedModeAndNoTemporaryFile) {
  TempDir dir;
  const ScopedUmask mask(022);
  const std::string file = dir / "state";
  ASSERT_TRUE(WriteFileAtomically(file, "first").ok());
  EXPECT_EQ(testing::ReadText(file), "first");
  EXPECT_EQ(ModeOf(file), 0600u);  // kPrivateFileMode, the default
  ASSERT_TRUE(WriteFileAtomically(file, "second, longer", kSharedFileMode).ok());
  EXPECT_EQ(testing::ReadText(file), "second, longer");
  EXPECT_EQ(ModeOf(file), 0644u);  // 0666 less the umask
  EXPECT_FALSE(fs::exists(file + ".tmp"));
  EXPECT_EQ(ModeOf(dir.path()), 0700u);  // the folder's mode is left as it is (mkdtemp's)
}

TEST(DurableFilesTest, AFailedWriteLeavesTheOldFileAndSaysWhy) {
  TempDir dir;
  const std::string file = dir / "state";
  ASSERT_TRUE(WriteFileAtomically(file, "old").ok());
  // The temporary name taken by a folder: the write cannot start (this works
  // as root, where a read-only folder would not stop it).
  fs::create_directory(file + ".tmp");
  const Status s = WriteFileAtomically(file, "new");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kIOError);
  EXPECT_NE(s.message().find(file + ".tmp"), std::string::npos) << s.message();
  EXPECT_EQ(testing::ReadText(file), "old");
  // The target a non-empty folder: the rename fails, the temporary file is dropped.
  const std::string folder = dir / "folder";
  fs::create_directories(fs::path(folder) / "inside");
  EXPECT_FALSE(WriteFileAtomically(folder, "new").ok());
  EXPECT_TRUE(fs::is_directory(fs::path(folder) / "inside"));
  EXPECT_FALSE(fs::exists(folder + ".tmp"));
  // A missing folder.
  EXPECT_EQ(WriteFileAtomically(dir / "missing/state", "new").code(), StatusCode::kNotFound);
}

TEST(DurableFilesTest, ReadSmallFileKeepsItsLimitAndReportsAMissingFile) {
  TempDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir / "f", "12345").ok());
  Result<std::string> read = ReadSmallFile(dir / "f", 5);
  ASSERT_TRUE(read.ok()) << read.status().message();
  EXPECT_EQ(*read, "12345");
  EXPECT_EQ(ReadSmallFile(dir / "f", 4).status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(ReadSmallFile(dir / "none", 4).status().code(), StatusCode::kNotFound);
}

TEST(DurableFilesTest, MakeDirsIsPrivateAndRemoveTreeAcceptsMissing) {
  TempDir dir;
  const std::string deep = dir / "a/b";
  ASSERT_TRUE(MakeDirs(deep).ok());
  EXPECT_EQ(ModeOf(deep), 0700u);
  ASSERT_TRUE(RemoveTree(dir / "a").ok());
  EXPECT_FALSE(fs::exists(dir / "a"));
  EXPECT_TRUE(RemoveTree(dir / "a").ok());
  EXPECT_TRUE(SyncPath(dir.str()).ok());
  EXPECT_FALSE(SyncPath(dir / "a").ok());
}

TEST(DurableFilesTest, Sha256OfFileMatchesTheStandardVector) {
  TempDir dir;
  ASSERT_TRUE(WriteFileAtomically(dir / "abc", "abc").ok());
  Result<std::string> sha = Sha256OfFile(dir / "abc");
  ASSERT_TRUE(sha.ok());
  EXPECT_EQ(*sha, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256OfFile(dir / "none").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace edgevision
