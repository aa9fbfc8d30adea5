// FaultInjectionEnv: an Env over the real filesystem that can fail on
// purpose, for tests (leveldb's fault_injection_test, for our store).
//
//   - SetWriteError(s): every Append fails with `s` after writing half of its
//     bytes (a disk filling up mid-file); ResourceExhausted = ENOSPC.
//   - SetFreeBytes(n): FreeBytes() reports n (a nearly full card).
//   - CrashAfter(n): after n more mutating operations every mutating
//     operation fails and does nothing, as if the process had died there.
//     SimulateCrash() then truncates what was written but never fsynced (the
//     page cache lost with the power).
//   - SetSyncDelay(d): each Sync sleeps d (a slow SD card).
//
// Thread-safety: all methods are safe from any thread.
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "store/env.h"

namespace edgevision::store::testing {

class FaultInjectionEnv final : public Env {
 public:
  explicit FaultInjectionEnv(Env* base = DefaultEnv()) : base_(base) {}

  void SetWriteError(std::optional<Status> s) {
    std::lock_guard<std::mutex> l(mu_);
    write_error_ = std::move(s);
  }
  void SetFreeBytes(std::optional<uint64_t> n) {
    std::lock_guard<std::mutex> l(mu_);
    free_bytes_ = n;
  }
  // n = -1: never crash.
  void CrashAfter(int64_t n) { crash_countdown_ = n; }
  bool crashed() const { return crash_countdown_ == 0; }
  void SetSyncDelay(std::chrono::milliseconds d) { sync_delay_ms_ = d.count(); }

  // Mutating operations attempted so far (including refused ones).
  int64_t mutations() const { return mutations_; }
  // Any operation at all (FreeBytes and FileExists included).
  int64_t calls() const { return calls_; }

  // Truncates every file written since its last Sync to its synced length.
  void SimulateCrash() {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [path, synced] : unsynced_) {
      if (::truncate(path.c_str(), static_cast<off_t>(synced)) != 0) {
        // Removed meanwhile; nothing to lose.
      }
    }
    unsynced_.clear();
  }

  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    if (Status s = Mutate("create " + path); !s.ok()) return s;
    Result<std::unique_ptr<WritableFile>> f = base_->NewWritableFile(path);
    if (!f.ok()) return f;
    {
      std::lock_guard<std::mutex> l(mu_);
      unsynced_[path] = 0;
    }
    return std::unique_ptr<WritableFile>(new File(this, path, std::move(f).value()));
  }
  Status RenameFile(const std::string& from, const std::string& to) override {
    EV_RETURN_IF_ERROR(Mutate("rename " + from));
    EV_RETURN_IF_ERROR(base_->RenameFile(from, to));
    std::lock_guard<std::mutex> l(mu_);
    auto it = unsynced_.find(from);
    if (it != unsynced_.end()) {
      unsynced_[to] = it->second;
      unsynced_.erase(it);
    }
    return Status::Ok();
  }
  Status SyncDir(const std::string& dir) override {
    EV_RETURN_IF_ERROR(Mutate("fsync " + dir));
    return base_->SyncDir(dir);
  }
  Status RemoveFile(const std::string& path) override {
    EV_RETURN_IF_ERROR(Mutate("remove " + path));
    EV_RETURN_IF_ERROR(base_->RemoveFile(path));
    std::lock_guard<std::mutex> l(mu_);
    unsynced_.erase(path);
    return Status::Ok();
  }
  Status CreateDir(const std::string& path) override {
    EV_RETURN_IF_ERROR(Mutate("mkdir " + path));
    return base_->CreateDir(path);
  }
  Status RemoveDir(const std::string& path) override {
    EV_RETURN_IF_ERROR(Mutate("rmdir " + path));
    return base_->RemoveDir(path);
  }
  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    ++calls_;
    return base_->ListDir(dir);
  }
  bool IsDirectory(const std::string& path) override {
    ++calls_;
    return base_->IsDirectory(path);
  }
  bool FileExists(const std::string& path) override {
    ++calls_;
    return base_->FileExists(path);
  }
  Result<uint64_t> FileSize(const std::string& path) override {
    ++calls_;
    return base_->FileSize(path);
  }
  Result<std::vector<uint8_t>> ReadFile(const std::string& path, uint64_t max_bytes) override {
    ++calls_;
    return base_->ReadFile(path, max_bytes);
  }
  Result<uint64_t> FreeBytes(const std::string& path) override {
    ++calls_;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (free_bytes_) return *free_bytes_;
    }
    return base_->FreeBytes(path);
  }
  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    ++calls_;
    return base_->LockFile(path);
  }

 private:
  class File final : public WritableFile {
   public:
    File(FaultInjectionEnv* env, std::string path, std::unique_ptr<WritableFile> base)
        : env_(env), path_(std::move(path)), base_(std::move(base)) {}
    Status Append(std::span<const uint8_t> data) override {
      EV_RETURN_IF_ERROR(env_->Mutate("write " + path_));
      std::optional<Status> error;
      {
        std::lock_guard<std::mutex> l(env_->mu_);
        error = env_->write_error_;
      }
      if (error) {
        (void)base_->Append(data.first(data.size() / 2));
        return *error;
      }
      return base_->Append(data);
    }
    Status Sync() override {
      EV_RETURN_IF_ERROR(env_->Mutate("fsync " + path_));
      if (env_->sync_delay_ms_ > 0)
        std::this_thread::sleep_for(std::chrono::milliseconds(env_->sync_delay_ms_));
      EV_RETURN_IF_ERROR(base_->Sync());
      std::lock_guard<std::mutex> l(env_->mu_);
      env_->unsynced_.erase(path_);
      return Status::Ok();
    }
    Status Close() override {
      if (env_->crashed()) return IOError("simulated crash: close " + path_);
      return base_->Close();
    }

   private:
    FaultInjectionEnv* env_;
    std::string path_;
    std::unique_ptr<WritableFile> base_;
  };

  Status Mutate(const std::string& what) {
    ++calls_;
    ++mutations_;
    int64_t n = crash_countdown_.load();
    while (n > 0 && !crash_countdown_.compare_exchange_weak(n, n - 1)) {
    }
    if (n == 0) return IOError("simulated crash: " + what);
    return Status::Ok();
  }

  Env* const base_;
  std::mutex mu_;
  std::optional<Status> write_error_;         // guarded by mu_
  std::optional<uint64_t> free_bytes_;        // guarded by mu_
  std::map<std::string, uint64_t> unsynced_;  // guarded by mu_: path -> synced length
  std::atomic<int64_t> crash_countdown_{-1};
  std::atomic<int64_t> sync_delay_ms_{0};
  std::atomic<int64_t> mutations_{0};
  std::atomic<int64_t> calls_{0};
};

}  // namespace edgevision::store::testing
