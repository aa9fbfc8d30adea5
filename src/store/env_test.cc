#include "store/env.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "store/testing/fault_injection_env.h"
#include "store/testing/store_test_util.h"

namespace edgevision::store {
namespace {

using testing::TempDir;

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(EnvTest, WriteFileAtomicWritesTheWholeFileAndLeavesNoTemporary) {
  TempDir dir;
  Env* env = DefaultEnv();
  ASSERT_TRUE(env->CreateDir(dir / "tmp").ok());
  ASSERT_TRUE(WriteFileAtomic(env, dir / "tmp", dir / "a.bin", Bytes("hello")).ok());
  Result<std::vector<uint8_t>> got = env->ReadFile(dir / "a.bin", 100);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(std::string(got->begin(), got->end()), "hello");
  EXPECT_TRUE(std::filesystem::is_empty(dir / "tmp"));
  // Replacing is atomic too.
  ASSERT_TRUE(WriteFileAtomic(env, dir / "tmp", dir / "a.bin", Bytes("bye")).ok());
  EXPECT_EQ(env->FileSize(dir / "a.bin").value(), 3u);
}

TEST(EnvTest, AFailedWriteLeavesNeitherTheFileNorItsTemporary) {
  TempDir dir;
  testing::FaultInjectionEnv env;
  ASSERT_TRUE(env.CreateDir(dir / "tmp").ok());
  env.SetWriteError(ResourceExhausted("No space left on device"));
  Status s = WriteFileAtomic(&env, dir / "tmp", dir / "a.bin", Bytes("hello world"));
  EXPECT_EQ(s.code(), StatusCode::kResourceExhausted);
  EXPECT_FALSE(std::filesystem::exists(dir / "a.bin"));
  EXPECT_TRUE(std::filesystem::is_empty(dir / "tmp"));
}

TEST(EnvTest, ErrorsNameThePathAndMapTheOsReason) {
  TempDir dir;
  Env* env = DefaultEnv();
  Result<std::vector<uint8_t>> missing = env->ReadFile(dir / "nope", 10);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(dir / "nope"), std::string::npos);
  EXPECT_EQ(env->RemoveFile(dir / "nope").code(), StatusCode::kNotFound);
  { std::ofstream(dir / "big") << std::string(100, 'x'); }
  EXPECT_EQ(env->ReadFile(dir / "big", 99).status().code(), StatusCode::kResourceExhausted);
  EXPECT_FALSE(env->NewWritableFile(dir / "big").ok());  // O_EXCL
  EXPECT_FALSE(env->CreateDir(dir / "big").ok());        // a file, not a folder
  EXPECT_TRUE(env->CreateDir(dir / "sub").ok());
  EXPECT_TRUE(env->CreateDir(dir / "sub").ok());  // idempotent
  Result<std::vector<std::string>> names = env->ListDir(dir.path());
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(names->size(), 2u);
  Result<uint64_t> free = env->FreeBytes(dir.path());
  ASSERT_TRUE(free.ok());
  EXPECT_GT(*free, 0u);
}

TEST(EnvTest, OnlyOneLockHolder) {
  TempDir dir;
  Env* env = DefaultEnv();
  Result<std::unique_ptr<FileLock>> a = env->LockFile(dir / "x.lock");
  ASSERT_TRUE(a.ok());
  Result<std::unique_ptr<FileLock>> b = env->LockFile(dir / "x.lock");
  EXPECT_EQ(b.status().code(), StatusCode::kUnavailable);
  a->reset();
  EXPECT_TRUE(env->LockFile(dir / "x.lock").ok());
}

TEST(EnvTest, DirName) {
  EXPECT_EQ(DirName("/a/b/c"), "/a/b");
  EXPECT_EQ(DirName("/a"), "/");
  EXPECT_EQ(DirName("a"), "");
}

}  // namespace
}  // namespace edgevision::store
