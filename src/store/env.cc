#include "store/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/uuid.h"

namespace edgevision::store {

namespace {

// The OS error for `what` on `path`, with ENOSPC/EDQUOT as ResourceExhausted.
Status OsError(const std::string& what, const std::string& path, int err) {
  std::string message = what + " " + path + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) return ResourceExhausted(message + " (disk full)");
  if (err == ENOENT) return NotFound(message);
  return IOError(message);
}

// Closes a file descriptor when it goes out of scope.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() { Reset(); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override { (void)Close(); }

  Status Append(std::span<const uint8_t> data) override {
    if (fd_.get() < 0) return IOError("write " + path_ + ": file is closed");
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd_.get(), data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return OsError("write", path_, errno);
      }
      done += static_cast<size_t>(n);
    }
    return Status::Ok();
  }

  Status Sync() override {
    if (fd_.get() < 0) return IOError("fsync " + path_ + ": file is closed");
    if (::fsync(fd_.get()) != 0) return OsError("fsync", path_, errno);
    return Status::Ok();
  }

  Status Close() override {
    if (fd_.get() < 0) return Status::Ok();
    int fd = fd_.Release();
    if (::close(fd) != 0) return OsError("close", path_, errno);
    return Status::Ok();
  }

 private:
  std::string path_;
  Fd fd_;
};

class PosixFileLock final : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override { ::flock(fd_.get(), LOCK_UN); }

 private:
  Fd fd_;
};

struct DirCloser {
  void operator()(DIR* d) const { ::closedir(d); }
};

class PosixEnv final : public Env {
 public:
  Result<std::unique_ptr<WritableFile>> NewWritableFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return OsError("create", path, errno);
    return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
  }

  Status RenameFile(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0)
      return OsError("rename " + from + " to", to, errno);
    return Status::Ok();
  }

  Status SyncDir(const std::string& dir) override {
    Fd fd(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) return OsError("open directory", dir, errno);
    if (::fsync(fd.get()) != 0) return OsError("fsync directory", dir, errno);
    return Status::Ok();
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return OsError("remove", path, errno);
    return Status::Ok();
  }

  Status CreateDir(const std::string& path) override {
    if (::mkdir(path.c_str(), 0755) != 0 && errno != EEXIST)
      return OsError("create directory", path, errno);
    if (!IsDirectory(path))
      return IOError("create directory " + path + ": exists and is not a directory");
    return Status::Ok();
  }

  Status RemoveDir(const std::string& path) override {
    if (::rmdir(path.c_str()) != 0) return OsError("remove directory", path, errno);
    return Status::Ok();
  }

  Result<std::vector<std::string>> ListDir(const std::string& dir) override {
    std::unique_ptr<DIR, DirCloser> d(::opendir(dir.c_str()));
    if (!d) return OsError("list", dir, errno);
    std::vector<std::string> names;
    errno = 0;
    while (dirent* e = ::readdir(d.get())) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
      errno = 0;
    }
    if (errno != 0) return OsError("list", dir, errno);
    return names;
  }

  bool IsDirectory(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }

  bool FileExists(const std::string& path) override {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0;
  }

  Result<uint64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return OsError("stat", path, errno);
    return static_cast<uint64_t>(st.st_size);
  }

  Result<std::vector<uint8_t>> ReadFile(const std::string& path, uint64_t max_bytes) override {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) return OsError("open", path, errno);
    struct stat st;
    if (::fstat(fd.get(), &st) != 0) return OsError("stat", path, errno);
    if (static_cast<uint64_t>(st.st_size) > max_bytes) {
      return ResourceExhausted("read " + path + ": " + std::to_string(st.st_size) +
                               " bytes exceeds the limit of " + std::to_string(max_bytes));
    }
    std::vector<uint8_t> data(static_cast<size_t>(st.st_size));
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::read(fd.get(), data.data() + done, data.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return OsError("read", path, errno);
      }
      if (n == 0) break;  // shrank while reading
      done += static_cast<size_t>(n);
    }
    data.resize(done);
    return data;
  }

  Result<uint64_t> FreeBytes(const std::string& path) override {
    struct statvfs st;
    if (::statvfs(path.c_str(), &st) != 0) return OsError("statvfs", path, errno);
    return static_cast<uint64_t>(st.f_bavail) * static_cast<uint64_t>(st.f_frsize);
  }

  Result<std::unique_ptr<FileLock>> LockFile(const std::string& path) override {
    Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (fd.get() < 0) return OsError("open lock file", path, errno);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) {
        return Unavailable("lock " + path +
                           ": another edgevision process is using this data directory");
      }
      return OsError("lock", path, errno);
    }
    return std::unique_ptr<FileLock>(new PosixFileLock(fd.Release()));
  }
};

}  // namespace

Env* DefaultEnv() {
  static PosixEnv* env = new PosixEnv();  // never destroyed: used until exit
  return env;
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return "";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status WriteFileAtomic(Env* env, const std::string& tmp_dir, const std::string& path,
                       std::span<const uint8_t> data) {
  const std::string tmp = tmp_dir + "/" + NewUuid() + ".tmp";
  Result<std::unique_ptr<WritableFile>> file = env->NewWritableFile(tmp);
  if (!file.ok()) return file.status();
  Status s = (*file)->Append(data);
  if (s.ok()) s = (*file)->Sync();
  Status closed = (*file)->Close();
  if (s.ok()) s = closed;
  if (s.ok()) s = env->RenameFile(tmp, path);
  if (!s.ok()) {
    (void)env->RemoveFile(tmp);
    return s;
  }
  return env->SyncDir(DirName(path));
}

Status WriteFile(Env* env, const std::string& path, std::span<const uint8_t> data) {
  if (env->FileExists(path)) EV_RETURN_IF_ERROR(env->RemoveFile(path));
  Result<std::unique_ptr<WritableFile>> file = env->NewWritableFile(path);
  if (!file.ok()) return file.status();
  Status s = (*file)->Append(data);
  Status closed = (*file)->Close();
  return s.ok() ? closed : s;
}

}  // namespace edgevision::store
