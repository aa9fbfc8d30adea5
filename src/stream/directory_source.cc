#include "stream/directory_source.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <iterator>

namespace edgevision::stream {

namespace {

// A file descriptor, closed when it goes.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }
  int release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }

 private:
  int fd_;
};

class DirectorySource final : public FrameSource {
 public:
  DirectorySource(std::string directory, const SourceLimits& limits, int inotify_fd, int wake_fd)
      : directory_(std::move(directory)), limits_(limits), inotify_(inotify_fd), wake_(wake_fd) {}

  Result<Frame> Read() override {
    while (pending_.empty()) {
      pollfd fds[2] = {{inotify_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
      const int rc = poll(fds, 2, -1);
      if (rc < 0 && errno == EINTR) continue;
      if (rc < 0) return Unavailable(std::string("poll: ") + std::strerror(errno));
      if (fds[1].revents) return Unavailable("interrupted");
      alignas(inotify_event) char buf[16384];
      const ssize_t n = read(inotify_.get(), buf, sizeof buf);
      if (n <= 0) return Unavailable(std::string("inotify: ") + std::strerror(errno));
      for (char* p = buf; p < buf + n;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(p);
        p += sizeof(inotify_event) + ev->len;
        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) {
          return Unavailable(directory_ + " was removed or moved");
        }
        if (ev->mask & IN_Q_OVERFLOW) continue;  // events were lost: those files are missed
        if (ev->len == 0 || ev->name[0] == '.' || (ev->mask & IN_ISDIR)) continue;
        pending_.push_back(ev->name);
      }
    }
    const std::string path = directory_ + "/" + pending_.front();
    pending_.pop_front();
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) return InvalidArgument(path + ": cannot be read");
    const auto size = static_cast<size_t>(in.tellg());
    if (size == 0) return InvalidArgument(path + ": empty");
    if (size > limits_.max_frame_bytes) {
      return InvalidArgument(path + ": " + std::to_string(size) + " bytes is over the frame size limit");
    }
    in.seekg(0);
    Frame f;
    f.encoded.resize(size);
    if (!in.read(reinterpret_cast<char*>(f.encoded.data()), static_cast<std::streamsize>(size))) {
      return InvalidArgument(path + ": read failed");
    }
    f.read_at = std::chrono::steady_clock::now();
    return f;
  }

  DecoderInfo decoder() const override { return {"files as written", false, ""}; }

  void Interrupt() override {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t w = write(wake_.get(), &one, sizeof one);
  }

 private:
  std::string directory_;
  SourceLimits limits_;
  Fd inotify_;
  Fd wake_;
  std::deque<std::string> pending_;  // names seen, not yet read
};

}  // namespace

Result<std::unique_ptr<FrameSource>> OpenDirectorySource(const std::string& directory, const SourceLimits& limits) {
  const int in = inotify_init1(IN_CLOEXEC);
  if (in < 0) return Unavailable(std::string("inotify_init1: ") + std::strerror(errno));
  Fd inotify(in);
  if (inotify_add_watch(in, directory.c_str(), IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF) < 0) {
    return Unavailable("cannot watch " + directory + ": " + std::strerror(errno));
  }
  const int wake = eventfd(0, EFD_CLOEXEC);
  if (wake < 0) return Unavailable(std::string("eventfd: ") + std::strerror(errno));
  return std::unique_ptr<FrameSource>(std::make_unique<DirectorySource>(directory, limits, inotify.release(), wake));
}

}  // namespace edgevision::stream
