// Runs the real edgevision binary as a child process on a loopback port, for
// end-to-end tests. The server's stderr goes to a log file that is printed
// when a test fails.
#pragma once

#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "test_support.h"

extern char** environ;

namespace edgevision::testing {

// A port on 127.0.0.1 that nothing listens on, for as long as this object
// lives (an unreachable upstream broker): the port is bound but never
// listened on, so a connection is refused and no other process can take it.
class ClosedPort {
 public:
  ClosedPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~ClosedPort() {
    if (fd_ >= 0) close(fd_);
  }
  ClosedPort(const ClosedPort&) = delete;
  ClosedPort& operator=(const ClosedPort&) = delete;
  int port() const { return port_; }  // 0 when no port could be bound

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A TCP port that was free a moment ago on 127.0.0.1 (a ClosedPort's,
// released at once). Racy by nature (another process may take it before it
// is used): only for an outside program that must be told its port
// (Prometheus), by a caller that retries on another port when the program
// cannot bind it. Our own servers bind port 0 (ServerProcess); an
// unreachable peer is a ClosedPort.
inline int FreePort() { return ClosedPort().port(); }

// A process's resident memory in KiB, open file descriptors and threads,
// from /proc; -1 when the process is gone.
inline long ProcStatusField(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::stol(line.substr(field.size() + 1));
  }
  return -1;
}
inline long RssKiB(pid_t pid) { return ProcStatusField(pid, "VmRSS"); }
inline int Threads(pid_t pid) { return static_cast<int>(ProcStatusField(pid, "Threads")); }
inline int OpenFds(pid_t pid) {
  std::error_code ec;
  int n = 0;
  for (std::filesystem::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++n;
  }
  return ec && n == 0 ? -1 : n;
}

// Whether the process has a file whose path contains `name` mapped
// (/proc/PID/maps): which shared libraries it has loaded.
inline bool MapsFile(pid_t pid, const std::string& name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(name) != std::string::npos) return true;
  }
  return false;
}

inline std::filesystem::path EdgevisionBinary() {
  if (const char* bin = std::getenv("EDGEVISION_BINARY")) return bin;
  return BinaryDir() / "src" / "cli" / "edgevision";
}

class ServerProcess {
 public:
  // Starts `edgevision serve --host 127.0.0.1 --port 0 <args...>`: the kernel
  // picks a free port when the server binds, so tests running in parallel
  // never race for one; port() reads it back from the server's log.
  explicit ServerProcess(std::vector<std::string> args, std::vector<std::string> env = {}) {
    static std::atomic<int> started{0};
    log_ = std::filesystem::temp_directory_path() /
           ("edgevision_e2e_" + std::to_string(getpid()) + "_" + std::to_string(started++) + ".log");
    std::vector<std::string> argv = {EdgevisionBinary().string(), "serve", "--host", "127.0.0.1", "--port", "0"};
    argv.insert(argv.end(), args.begin(), args.end());
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    std::vector<std::string> envs;
    for (char** e = environ; *e; ++e) envs.emplace_back(*e);
    envs.insert(envs.end(), env.begin(), env.end());
    std::vector<char*> cenv;
    for (std::string& e : envs) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn(&pid_, cargv[0], &actions, nullptr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&actions);
  }

  ~ServerProcess() {
    Stop(SIGKILL);
    std::error_code ec;
    std::filesystem::remove(log_, ec);
  }

  // Waits until /health answers `want_status` (200 = model ready). False on
  // timeout or if the process exited.
  bool WaitReady(int want_status = 200, std::chrono::seconds timeout = std::chrono::seconds(60)) {
    auto deadline = std::chrono::steady_clock::now() + Scaled(timeout);
    if (port() == 0) return false;
    httplib::Client client("127.0.0.1", port_);
    client.set_connection_timeout(0, 200000);
    while (std::chrono::steady_clock::now() < deadline) {
      if (!Running()) return false;
      auto res = client.Get("/health");
      if (res && res->status == want_status) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  bool Running() {
    if (pid_ <= 0) return false;
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      exit_status_ = status;
      pid_ = -1;
      return false;
    }
    return true;
  }

  // Sends `sig` and waits for the exit; returns the wait status.
  int Stop(int sig = SIGTERM) {
    if (pid_ > 0) {
      kill(pid_, sig);
      int status = 0;
      waitpid(pid_, &status, 0);
      exit_status_ = status;
      pid_ = -1;
    }
    return exit_status_;
  }

  // Waits for the process to exit by itself (e.g. a failed model load).
  int WaitExit(std::chrono::seconds timeout = std::chrono::seconds(60)) {
    auto deadline = std::chrono::steady_clock::now() + Scaled(timeout);
    while (Running() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return exit_status_;
  }

  std::string Log() const {
    std::ifstream in(log_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // Sends `sig` without waiting (then WaitExit).
  void Signal(int sig) {
    if (pid_ > 0) kill(pid_, sig);
  }
  pid_t pid() const { return pid_; }

  // The port the server listens on, from its log line "listening on
  // 127.0.0.1:PORT" (waited for). 0 when the process exits or 60 s pass
  // before it binds.
  int port() const {
    if (port_ == 0) {
      static const std::regex kListening(R"(listening on 127\.0\.0\.1:(\d+) )");
      WaitFor([this] {
        std::smatch m;
        const std::string log = Log();
        if (std::regex_search(log, m, kListening)) port_ = std::stoi(m[1]);
        return port_ != 0 || Exited();
      }, std::chrono::seconds(60));
    }
    return port_;
  }
  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", port());
    c.set_read_timeout(Scaled(std::chrono::seconds(30)));
    return c;
  }

 private:
  // Whether the process has ended (without reaping it: Running() does).
  bool Exited() const {
    if (pid_ <= 0) return true;
    siginfo_t info{};
    return waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
           info.si_pid == pid_;
  }

  pid_t pid_ = -1;
  mutable int port_ = 0;  // 0 until read from the log
  int exit_status_ = -1;
  std::filesystem::path log_;
};

}  // namespace edgevision::testing
