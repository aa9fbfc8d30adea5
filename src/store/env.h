// Env: the filesystem as the capture store sees it, behind a small interface
// so tests can inject faults (disk full, a crash between two steps) the way
// leveldb's Env and fault_injection_test do.
//
// Paths are plain strings; the store never builds one from user text (image
// files are named by their SHA-256 from the database).
//
// Errors: every method returns a Status naming the path and the OS reason.
// A full disk or quota (ENOSPC, EDQUOT) is ResourceExhausted so callers can
// pause instead of failing hard; a missing file is NotFound; anything else
// the OS refuses is IOError.
//
// Thread-safety: DefaultEnv() is safe from any thread; a WritableFile is used
// by one thread at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace edgevision::store {

// A file being written. Not copyable; Close() (or the destructor) releases it.
class WritableFile {
 public:
  virtual ~WritableFile() = default;
  virtual Status Append(std::span<const uint8_t> data) = 0;
  // Makes the written bytes durable (fsync).
  virtual Status Sync() = 0;
  virtual Status Close() = 0;
};

// An exclusive advisory lock on a file; released when destroyed.
class FileLock {
 public:
  virtual ~FileLock() = default;
};

class Env {
 public:
  virtual ~Env() = default;

  // Creates `path` for writing; fails if it exists (O_EXCL).
  virtual Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) = 0;
  // Atomically replaces `to` with `from` (rename(2)).
  virtual Status RenameFile(const std::string& from, const std::string& to) = 0;
  // Makes a directory's entries durable (fsync on the directory).
  virtual Status SyncDir(const std::string& dir) = 0;
  // NotFound if it does not exist.
  virtual Status RemoveFile(const std::string& path) = 0;
  // Creates one directory level; OK if it already exists.
  virtual Status CreateDir(const std::string& path) = 0;
  // Removes an empty directory.
  virtual Status RemoveDir(const std::string& path) = 0;
  // Entry names (not paths) in `dir`, without "." and "..".
  virtual Result<std::vector<std::string>> ListDir(const std::string& dir) = 0;
  virtual bool IsDirectory(const std::string& path) = 0;
  virtual bool FileExists(const std::string& path) = 0;
  virtual Result<uint64_t> FileSize(const std::string& path) = 0;
  // Reads a whole file; ResourceExhausted if it is larger than max_bytes.
  virtual Result<std::vector<uint8_t>> ReadFile(const std::string& path, uint64_t max_bytes) = 0;
  // Bytes an unprivileged writer may still use on the filesystem of `path`.
  virtual Result<uint64_t> FreeBytes(const std::string& path) = 0;
  // Takes an exclusive lock on `path` (created if missing) without waiting.
  // Unavailable if another process holds it.
  virtual Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) = 0;
};

// The real filesystem (POSIX). One shared instance; thread-safe.
Env* DefaultEnv();

// Writes `data` to `path` atomically and durably: a temporary file in
// `tmp_dir` (same filesystem), write, fsync, rename over `path`, fsync the
// directory of `path`. After a crash at any point, `path` either does not
// exist or holds all of `data`; a leftover temporary file may remain in
// `tmp_dir` (callers remove those at start-up). On failure the temporary file
// is removed when possible.
Status WriteFileAtomic(Env* env, const std::string& tmp_dir, const std::string& path,
                       std::span<const uint8_t> data);

// Writes `data` to `path` (created or replaced) without the durability
// dance; for outputs a person copies away (exports).
Status WriteFile(Env* env, const std::string& path, std::span<const uint8_t> data);

// The directory part of `path` ("" for a bare name).
std::string DirName(const std::string& path);

}  // namespace edgevision::store
