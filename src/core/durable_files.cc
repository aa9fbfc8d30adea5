#include "core/durable_files.h"

#include "core/sha256.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

namespace edgevision {

namespace {

namespace fs = std::filesystem;

Status OsError(const std::string& what, const std::string& path, int err) {
  const std::string m = what + " " + path + ": " + std::strerror(err);
  if (err == ENOSPC || err == EDQUOT) return ResourceExhausted(m);
  if (err == ENOENT) return NotFound(m);
  return IOError(m);
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

Status SyncPath(const std::string& path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) return OsError("cannot open", path, errno);
  if (::fsync(f.fd) != 0) return OsError("cannot fsync", path, errno);
  return Status::Ok();
}

Status WriteFileAtomically(const std::string& path, std::string_view content, mode_t mode) {
  const std::string tmp = path + ".tmp";
  {
    Fd f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode)};
    if (f.fd < 0) return OsError("cannot create", tmp, errno);
    // A failed step drops the temporary file; `path` is not touched.
    const auto fail = [&tmp](const char* what, int err) {
      ::unlink(tmp.c_str());
      return OsError(what, tmp, err);
    };
    for (size_t done = 0; done < content.size();) {
      const ssize_t w = ::write(f.fd, content.data() + done, content.size() - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return fail("cannot write", w < 0 ? errno : EIO);
      done += static_cast<size_t>(w);
    }
    if (::fsync(f.fd) != 0) return fail("cannot fsync", errno);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return OsError("cannot rename onto", path, err);
  }
  return SyncPath(fs::path(path).parent_path().string());
}

Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) return OsError("cannot open", path, errno);
  std::string out;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return OsError("cannot read", path, errno);
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) return ResourceExhausted(path + ": larger than " + std::to_string(max_bytes) + " bytes");
  }
  return out;
}

Status MakeDirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(path, ec);
  if (ec) return IOError("cannot create " + path + ": " + ec.message());
  ::chmod(path.c_str(), 0700);
  return Status::Ok();
}

Status RemoveTree(const std::string& path) {
  std::error_code ec;
  fs::remove_all(path, ec);
  if (ec) return IOError("cannot remove " + path + ": " + ec.message());
  return Status::Ok();
}

Result<std::string> Sha256OfFile(const std::string& path) {
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (f.fd < 0) return OsError("cannot open", path, errno);
  Sha256Hasher hasher;
  std::vector<uint8_t> buf(1 << 16);
  for (;;) {
    const ssize_t n = ::read(f.fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return OsError("cannot read", path, errno);
    if (n == 0) break;
    hasher.Update(std::span<const uint8_t>(buf.data(), static_cast<size_t>(n)));
  }
  return hasher.HexDigest();
}

}  // namespace edgevision
