// Test harness for upstream publishing with a REAL mosquitto broker: the
// broker process on a loopback port held for it from construction to
// destruction, so no other process is given it between starts (plain or
// TLS with a CA made here by the openssl CLI, optional password auth via
// mosquitto_passwd), and a real libmosquitto subscriber (QoS 1, persistent
// session) that collects what arrives. The broker can be stopped and
// restarted mid-stream; its persistence keeps the subscriber's session and
// queued messages.
//
// Needs the mosquitto and openssl programs (Debian: mosquitto, openssl);
// tests skip when they are missing (fail under EDGEVISION_REQUIRE_ALL=1).
#pragma once

#include <fcntl.h>
#include <mosquitto.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "test_support.h"

extern char** environ;

namespace edgevision::testing {

inline bool HaveProgram(const std::string& name) {
  for (const char* dir :
       {"/usr/sbin/", "/usr/bin/", "/usr/local/sbin/", "/usr/local/bin/", "/sbin/", "/bin/"}) {
    if (access((std::string(dir) + name).c_str(), X_OK) == 0) return true;
  }
  return false;
}

// Empty when the programs the broker harness runs are installed; else what
// is missing and how to get it.
inline std::string MissingBrokerPrograms() {
  for (const char* p : {"mosquitto", "mosquitto_passwd", "openssl"}) {
    if (!HaveProgram(p))
      return std::string("needs ") + p + " (scripts/setup-debian.sh --test installs it)";
  }
  return "";
}

inline std::string FindProgram(const std::string& name) {
  for (const char* dir :
       {"/usr/sbin/", "/usr/bin/", "/usr/local/sbin/", "/usr/local/bin/", "/sbin/", "/bin/"}) {
    std::string path = std::string(dir) + name;
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return name;
}

// Starts a program with its stdout and stderr appended to `log`; its pid, or -1.
inline pid_t SpawnLogged(std::vector<std::string> argv, const std::filesystem::path& log) {
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, cargv[0], &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

// Runs a program to completion with its output in `log`; returns the exit code.
inline int RunProgram(std::vector<std::string> argv, const std::filesystem::path& log) {
  const pid_t pid = SpawnLogged(std::move(argv), log);
  if (pid < 0) return -1;
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// 127.0.0.1:port (0: any port, for bind).
inline sockaddr_in LoopbackAddress(int port = 0) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  return addr;
}

// A loopback port held for as long as this object lives: a bound, never
// listening socket with SO_REUSEADDR. The kernel picks a bound port for no
// bind(0) and no connect(), so no other process is given it while a broker
// is (re)started; mosquitto, which sets SO_REUSEADDR on its listeners, can
// still bind and listen on it. Only a process binding this very port with
// SO_REUSEADDR can take it (MosquittoBroker::Start copes with that).
class PortReservation {
 public:
  PortReservation() { Renew(); }
  ~PortReservation() { Release(); }
  PortReservation(const PortReservation&) = delete;
  PortReservation& operator=(const PortReservation&) = delete;

  // Drops the held port and holds a fresh one; port() is 0 if none could be had.
  void Renew() {
    Release();
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int on = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    sockaddr_in addr = LoopbackAddress();
    socklen_t len = sizeof addr;
    if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      Release();
      return;
    }
    port_ = ntohs(addr.sin_port);
  }
  // The held port (0 if none could be had).
  int port() const { return port_; }

 private:
  void Release() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    port_ = 0;
  }
  int fd_ = -1;
  int port_ = 0;
};

// A self-signed CA and a server certificate for localhost / 127.0.0.1,
// made with the openssl CLI in `dir`. Paths are empty on failure.
struct TestPki {
  std::string ca_cert, ca_key, server_cert, server_key;
  bool ok() const { return !ca_cert.empty(); }
};

inline TestPki MakeTestPki(const std::filesystem::path& dir, const std::string& name = "ca") {
  const std::string openssl = FindProgram("openssl");
  const std::filesystem::path log = dir / (name + "-openssl.log");
  auto p = [&](const std::string& f) { return (dir / (name + "-" + f)).string(); };
  {
    std::ofstream ext(p("ext.cnf"));
    ext << "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n";
  }
  const std::vector<std::vector<std::string>> steps = {
      {openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
       "-nodes", "-keyout", p("ca.key"), "-out", p("ca.crt"), "-days", "2", "-subj",
       "/CN=edgevision test CA " + name},
      {openssl, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
       "-keyout", p("server.key"), "-out", p("server.csr"), "-subj", "/CN=localhost"},
      {openssl, "x509", "-req", "-in", p("server.csr"), "-CA", p("ca.crt"), "-CAkey", p("ca.key"),
       "-CAcreateserial", "-out", p("server.crt"), "-days", "2", "-extfile", p("ext.cnf")},
  };
  for (const auto& step : steps) {
    if (RunProgram(step, log) != 0) return {};
  }
  return {p("ca.crt"), p("ca.key"), p("server.crt"), p("server.key")};
}

class MosquittoBroker {
 public:
  struct Options {
    bool tls = false;
    TestPki pki;           // when tls
    std::string username;  // with password: password auth, no anonymous
    std::string password;
    // Fault injection for the harness's own test: runs before each attempt
    // to start mosquitto, with the port that attempt will listen on.
    std::function<void(int port)> before_start;
  };

  // The TLS broker the upstream tests share: `pki`'s server certificate,
  // and password auth when `username` is set (else anonymous).
  static Options Tls(const TestPki& pki, std::string username = {}, std::string password = {}) {
    Options o;
    o.tls = true;
    o.pki = pki;
    o.username = std::move(username);
    o.password = std::move(password);
    return o;
  }

  MosquittoBroker(std::filesystem::path dir, Options options)
      : dir_(std::move(dir)), options_(std::move(options)) {
    std::filesystem::create_directories(dir_);
    conf_ = dir_ / "mosquitto.conf";
    std::ofstream conf(conf_);
    if (geteuid() == 0) conf << "user root\n";
    conf << Listener(port_.port());
    conf << "persistence true\npersistence_location " << dir_.string() << "/\n";
    conf << "autosave_interval 1\n";
    conf << "max_queued_messages 100000\n";
    conf << "log_type error\nlog_type warning\nlog_type notice\nlog_type information\n";
    if (!options_.username.empty()) {
      const std::string passwd = (dir_ / "passwd").string();
      RunProgram({FindProgram("mosquitto_passwd"), "-b", "-c", passwd, options_.username,
                  options_.password},
                 dir_ / "mosquitto_passwd.log");
      conf << "allow_anonymous false\npassword_file " << passwd << "\n";
    } else {
      conf << "allow_anonymous true\n";
    }
    if (options_.tls) {
      conf << "cafile " << options_.pki.ca_cert << "\ncertfile " << options_.pki.server_cert
           << "\nkeyfile " << options_.pki.server_key << "\n";
    }
  }

  ~MosquittoBroker() { Stop(SIGKILL); }
  MosquittoBroker(const MosquittoBroker&) = delete;
  MosquittoBroker& operator=(const MosquittoBroker&) = delete;

  // Starts mosquitto and waits for its log to say "running" (true) or for
  // it to exit (false; Log() says why). A start is given up after 30 s
  // (times TimeScale()). If the listener cannot bind ("Address already in
  // use": a process bound the held port with SO_REUSEADDR) and the port has
  // not been handed out yet (port(), Url(), an earlier start), mosquitto is
  // started again on a fresh port, up to kStartAttempts times; a port once
  // handed out never changes, so then Start() fails.
  bool Start() {
    static constexpr int kStartAttempts = 5;
    for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
      if (options_.before_start) options_.before_start(port_.port());
      switch (StartOnce()) {
        case Started::kRunning:
          handed_out_ = true;
          return true;
        case Started::kPortTaken:
          if (handed_out_) return false;
          MoveToFreshPort();
          break;
        case Started::kFailed:
          return false;
      }
    }
    return false;
  }

  // SIGTERM: mosquitto saves its persistence database and exits.
  void Stop(int sig = SIGTERM) {
    if (pid_ <= 0) return;
    kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  bool Restart() {
    Stop();
    return Start();
  }

  // The broker's port; from now on it stays the same (see Start()).
  int port() const {
    handed_out_ = true;
    return port_.port();
  }
  bool running() const { return pid_ > 0; }
  std::string Log() const {
    std::ifstream in(dir_ / "mosquitto.log");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  std::string Url(const std::string& topic, bool with_credentials = true) const {
    std::string url = options_.tls ? "mqtts://" : "mqtt://";
    if (with_credentials && !options_.username.empty())
      url += options_.username + ":" + options_.password + "@";
    return url + (options_.tls ? "localhost" : "127.0.0.1") + ":" + std::to_string(port()) + "/" +
           topic;
  }

 private:
  enum class Started { kRunning, kPortTaken, kFailed };

  static std::string Listener(int port) {
    return "listener " + std::to_string(port) + " 127.0.0.1\n";
  }

  // One mosquitto process: waits on its log (from where this start's lines
  // begin) for "running", or on its exit.
  Started StartOnce() {
    const std::filesystem::path log = dir_ / "mosquitto.log";
    std::error_code ec;
    const auto size = std::filesystem::file_size(log, ec);
    const size_t from = ec ? 0 : static_cast<size_t>(size);
    pid_ = SpawnLogged({FindProgram("mosquitto"), "-c", conf_.string()}, log);
    if (pid_ < 0) return Started::kFailed;
    auto this_start = [&] {
      const std::string text = ReadText(log);
      return text.size() > from ? text.substr(from) : std::string();
    };
    bool exited = false;
    const bool running = testing::WaitFor(
        [&] {
          int status = 0;
          exited = waitpid(pid_, &status, WNOHANG) == pid_;
          return exited || this_start().find(" running\n") != std::string::npos;
        },
        std::chrono::seconds(30), std::chrono::milliseconds(5));
    if (running && !exited) return Started::kRunning;
    if (!exited) Stop(SIGKILL);
    pid_ = -1;
    return this_start().find("Address already in use") != std::string::npos ? Started::kPortTaken
                                                                             : Started::kFailed;
  }

  // A fresh held port, written into the config's listener line.
  void MoveToFreshPort() {
    const std::string old_listener = Listener(port_.port());
    port_.Renew();
    std::string conf = ReadText(conf_);
    if (const size_t at = conf.find(old_listener); at != std::string::npos)
      conf.replace(at, old_listener.size(), Listener(port_.port()));
    std::ofstream(conf_, std::ios::trunc) << conf;
  }

  std::filesystem::path dir_;
  Options options_;
  std::filesystem::path conf_;
  PortReservation port_;
  mutable bool handed_out_ = false;
  pid_t pid_ = -1;
};

// A real MQTT client: QoS 1 subscriptions on a persistent session
// (clean_session=false), its own network thread, reconnecting after ANY
// error (libmosquitto's own loop_forever gives up after a TLS error, which a
// broker restart can cause). Collects every message; `on_message`
// (optional) runs on the network thread.
class MqttSubscriber {
 public:
  struct Message {
    std::string topic;
    std::string payload;
  };

  MqttSubscriber(const std::string& client_id, std::vector<std::string> topics)
      : topics_(std::move(topics)) {
    mosquitto_lib_init();
    m_ = mosquitto_new(client_id.c_str(), /*clean_session=*/false, this);
    mosquitto_int_option(m_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_connect_callback_set(m_, [](mosquitto* m, void* self, int rc) {
      auto* s = static_cast<MqttSubscriber*>(self);
      if (rc != 0) return;
      for (const std::string& t : s->topics_) mosquitto_subscribe(m, nullptr, t.c_str(), 1);
      s->connected_ = true;
    });
    mosquitto_disconnect_callback_set(m_, [](mosquitto*, void* self, int) {
      static_cast<MqttSubscriber*>(self)->connected_ = false;
    });
    mosquitto_subscribe_callback_set(m_, [](mosquitto*, void* self, int, int, const int*) {
      static_cast<MqttSubscriber*>(self)->subscribed_ = true;
    });
    mosquitto_message_callback_set(m_, [](mosquitto*, void* self, const mosquitto_message* msg) {
      auto* s = static_cast<MqttSubscriber*>(self);
      Message copy{msg->topic, std::string(static_cast<const char*>(msg->payload),
                                           static_cast<size_t>(msg->payloadlen))};
      std::function<void(const Message&)> hook;
      {
        std::lock_guard<std::mutex> lock(s->mu_);
        s->messages_.push_back(copy);
        hook = s->on_message_;
      }
      if (hook) hook(copy);
    });
  }

  ~MqttSubscriber() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    mosquitto_disconnect(m_);
    mosquitto_destroy(m_);
  }
  MqttSubscriber(const MqttSubscriber&) = delete;
  MqttSubscriber& operator=(const MqttSubscriber&) = delete;

  void SetCredentials(const std::string& user, const std::string& password) {
    mosquitto_username_pw_set(m_, user.c_str(), password.c_str());
  }
  void SetCa(const std::string& ca_file) {
    mosquitto_tls_set(m_, ca_file.c_str(), nullptr, nullptr, nullptr, nullptr);
  }
  void OnMessage(std::function<void(const Message&)> hook) {
    std::lock_guard<std::mutex> lock(mu_);
    on_message_ = std::move(hook);
  }

  // Connects (host "localhost" for TLS so the name matches the certificate)
  // and waits for the subscription to be acknowledged.
  bool Connect(const std::string& host, int port) {
    mosquitto_threaded_set(m_, true);  // Publish() may come from the test's thread
    if (mosquitto_connect(m_, host.c_str(), port, 10) != MOSQ_ERR_SUCCESS) return false;
    thread_ = std::thread([this] {
      while (!stop_) {
        if (mosquitto_loop(m_, 100, 1) != MOSQ_ERR_SUCCESS && !stop_) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          mosquitto_reconnect(m_);
        }
      }
    });
    return testing::WaitFor([this] { return subscribed_.load(); }, std::chrono::seconds(5),
                            std::chrono::milliseconds(20));
  }

  void Publish(const std::string& topic, const std::string& payload, int qos = 1) {
    mosquitto_publish(m_, nullptr, topic.c_str(), static_cast<int>(payload.size()), payload.data(),
                      qos, false);
  }

  std::vector<Message> Messages() const {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_;
  }
  size_t Count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return messages_.size();
  }
  bool connected() const { return connected_; }

  // Waits until `done(messages)` holds or the timeout (times TimeScale()) passes.
  bool WaitFor(const std::function<bool(const std::vector<Message>&)>& done,
               std::chrono::milliseconds timeout) {
    return testing::WaitFor([&] { return done(Messages()); }, timeout,
                            std::chrono::milliseconds(20));
  }

 private:
  mosquitto* m_ = nullptr;
  std::vector<std::string> topics_;
  std::atomic<bool> connected_{false};
  std::atomic<bool> subscribed_{false};
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Message> messages_;
  std::function<void(const Message&)> on_message_;
};

}  // namespace edgevision::testing
