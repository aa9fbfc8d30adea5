#include "http/transport.h"

#include <spdlog/spdlog.h>

#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <optional>

#include "http/api_error.h"
#include "http/framing.h"

#include "core/guard.h"

namespace edgevision::http::transport {

using Clock = std::chrono::steady_clock;

// One open connection. The phase is guarded by `mu` because Stop reads it
// from another thread; everything else belongs to the connection's thread.
struct Connection {
  enum class Phase { kIdle, kHeaders, kBody, kHandler, kResponse };

  int fd = -1;                     // -1: in-memory (ProcessBytes)
  SSL* ssl = nullptr;              // owned; TLS connections only
  std::string_view memory_input;   // in-memory only
  std::string* memory_output = nullptr;

  std::mutex mu;
  Phase phase = Phase::kIdle;              // guarded by mu
  std::atomic<size_t> header_bytes{0};     // bytes of the current request's head
  Clock::time_point deadline{};            // of the current phase (kHeaders, kBody, kResponse)
  bool close_after = false;
  ReadFailure failure = ReadFailure::kNone;

  // What one read asks of the socket.
  static constexpr size_t kReadSize = 16 * 1024;
  std::string in;  // received bytes; unread from `pos`
  size_t pos = 0;

  // The current request (framing.h): its head as sent, how many bytes of the
  // rebuilt head httplib has yet to read, and how its body is framed.
  framing::Head head;
  size_t head_left = 0;
  enum class BodyMode { kNone, kLength, kChunked } body_mode = BodyMode::kNone;
  uint64_t length_left = 0;
  std::optional<framing::ChunkedFramer> chunked;
  std::optional<framing::FramingError> framing_error;

  size_t Available() const { return in.size() - pos; }
  bool Buffered() const { return pos < in.size() || (ssl && SSL_pending(ssl) > 0); }
  void SetPhase(Phase p, Clock::time_point d = {}) {
    std::lock_guard<std::mutex> lock(mu);
    phase = p;
    deadline = d;
  }
  Phase GetPhase() {
    std::lock_guard<std::mutex> lock(mu);
    return phase;
  }
};

namespace {

thread_local Connection* t_connection = nullptr;
thread_local ConnectionServer* t_server = nullptr;
thread_local bool t_shed = false;  // this thread only sheds connections

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "unknown OpenSSL error";
  char text[256];
  ERR_error_string_n(e, text, sizeof text);
  ERR_clear_error();
  return text;
}

void SetNonBlocking(int fd) {
  int flags = fcntl(fd, F_GETFL, 0);
  if (flags >= 0) fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}

// 1 ready, 0 timed out, -1 error or hang-up without data.
int PollFor(int fd, short events, Clock::time_point until) {
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now()).count();
    if (left <= 0) return 0;
    pollfd p{fd, events, 0};
    int r = poll(&p, 1, static_cast<int>(std::min<long long>(left, 1'000'000)));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -1;
    if (r == 0) continue;  // re-check the clock
    if (p.revents & events) return 1;
    // POLLHUP/POLLERR without the wanted event: reads report EOF, writes fail.
    return (events & POLLIN) ? 1 : -1;
  }
}

// A TaskQueue with one thread per connection, up to a cap; see transport.h.
class ConnectionQueue : public httplib::TaskQueue {
 public:
  ConnectionQueue(std::shared_ptr<SharedStats> stats, int keep_threads, int max_connections)
      : stats_(std::move(stats)), keep_(std::max(0, keep_threads)), max_(std::max(1, max_connections)) {
    std::lock_guard<std::mutex> lock(mu_);
    for (int i = 0; i < keep_; ++i) StartWorker();
  }
  ~ConnectionQueue() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (active_ + static_cast<int>(jobs_.size()) >= max_) {
      shed_jobs_.push_back(std::move(fn));
      if (!shedder_running_) {
        shedder_running_ = true;
        ++threads_;
        ++stats_->threads;
        GuardedThread("connection shedder", [this] { Shedder(); }).detach();
      }
      shed_cv_.notify_one();
      return;
    }
    jobs_.push_back(std::move(fn));
    ++stats_->open;  // holds a slot until its job has returned (Worker)
    if (static_cast<int>(jobs_.size()) > idle_) StartWorker();
    work_cv_.notify_one();
  }

  // Waits until every connection has been served and every thread exited.
  void shutdown() override {
    std::unique_lock<std::mutex> lock(mu_);
    shutdown_ = true;
    work_cv_.notify_all();
    shed_cv_.notify_all();
    exit_cv_.wait(lock, [&] { return threads_ == 0; });
  }

 private:
  static constexpr std::chrono::seconds kSurplusIdle{30};

  void StartWorker() {  // mu_ held
    ++threads_;
    ++stats_->threads;
    GuardedThread("connection worker", [this] { Worker(); }).detach();
  }

  void Worker() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (!jobs_.empty()) {
        std::function<void()> fn = std::move(jobs_.front());
        jobs_.pop_front();
        ++active_;
        lock.unlock();
        RunLogged("HTTP connection", fn);  // one connection's failure leaves the worker serving
        fn = nullptr;
        lock.lock();
        --active_;
        --stats_->open;
        continue;
      }
      if (shutdown_) break;
      ++idle_;
      const bool woke = work_cv_.wait_for(lock, kSurplusIdle, [&] { return !jobs_.empty() || shutdown_; });
      --idle_;
      if (!woke && threads_ - (shedder_running_ ? 1 : 0) > keep_) break;
    }
    Exit();
  }

  void Shedder() {
    t_shed = true;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      if (!shed_jobs_.empty()) {
        std::function<void()> fn = std::move(shed_jobs_.front());
        shed_jobs_.pop_front();
        lock.unlock();
        RunLogged("HTTP connection shedding", fn);
        fn = nullptr;
        lock.lock();
        continue;
      }
      if (shutdown_) break;
      shed_cv_.wait(lock);
    }
    shedder_running_ = false;
    Exit();
  }

  void Exit() {  // mu_ held; the last access to *this
    --threads_;
    --stats_->threads;
    exit_cv_.notify_all();
  }

  std::shared_ptr<SharedStats> stats_;
  const int keep_;
  const int max_;
  std::mutex mu_;
  std::condition_variable work_cv_, shed_cv_, exit_cv_;
  std::deque<std::function<void()>> jobs_;       // guarded by mu_
  std::deque<std::function<void()>> shed_jobs_;  // guarded by mu_
  int threads_ = 0, idle_ = 0, active_ = 0;      // guarded by mu_
  bool shedder_running_ = false;                 // guarded by mu_
  bool shutdown_ = false;                        // guarded by mu_
};

}  // namespace

// The httplib::Stream of one connection (socket, TLS or memory), enforcing
// the phase deadlines and the header byte budget.
class ConnStream final : public httplib::Stream {
 public:
  ConnStream(ConnectionServer& server, Connection& c) : server_(server), c_(c) {}

  bool is_readable() const override {
    if (c_.Buffered()) return true;
    if (c_.fd < 0) return !c_.memory_input.empty();
    return const_cast<ConnStream*>(this)->Wait(POLLIN) > 0;
  }
  bool is_writable() const override {
    if (c_.fd < 0) return true;
    return const_cast<ConnStream*>(this)->Wait(POLLOUT) > 0;
  }

  // What httplib reads: first the rebuilt head (already buffered), then
  // exactly the body its framing allows (framing.h), never a byte more.
  ssize_t read(char* ptr, size_t size) override {
    if (c_.head_left > 0) {
      const size_t n = std::min({size, c_.head_left, c_.Available()});
      Take(ptr, n);
      c_.head_left -= n;
      return static_cast<ssize_t>(n);
    }
    switch (c_.body_mode) {
      case Connection::BodyMode::kNone:
        return 0;
      case Connection::BodyMode::kLength: {
        if (c_.length_left == 0) return 0;
        if (c_.Available() == 0) {
          const ssize_t got = Fill();
          if (got <= 0) return got;
        }
        const size_t n = static_cast<size_t>(std::min<uint64_t>({size, c_.length_left, c_.Available()}));
        Take(ptr, n);
        c_.length_left -= n;
        return static_cast<ssize_t>(n);
      }
      case Connection::BodyMode::kChunked: {
        if (c_.chunked->done()) return 0;
        if (c_.Available() == 0) {
          const ssize_t got = Fill();
          if (got <= 0) return got;
        }
        const size_t n = std::min(size, c_.Available());
        const framing::ChunkedFramer::Fed fed = c_.chunked->Feed(std::string_view(c_.in.data() + c_.pos, n));
        if (fed.error) {
          c_.framing_error = fed.error;
          Fail(ReadFailure::kBadFraming);
          return -1;
        }
        Take(ptr, fed.used);
        return static_cast<ssize_t>(fed.used);
      }
    }
    return -1;
  }

  // Appends what the peer sends next to the connection's buffer. >0 bytes,
  // 0 EOF, -1 error or timeout.
  ssize_t Fill() {
    if (c_.pos == c_.in.size()) {
      c_.in.clear();
      c_.pos = 0;
    } else if (c_.pos >= Connection::kReadSize) {
      c_.in.erase(0, c_.pos);
      c_.pos = 0;
    }
    const size_t old = c_.in.size();
    c_.in.resize(old + Connection::kReadSize);
    const ssize_t n = Receive(c_.in.data() + old, Connection::kReadSize);
    c_.in.resize(old + static_cast<size_t>(std::max<ssize_t>(n, 0)));
    return n;
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (size == 0) return 0;
    if (c_.fd < 0) {
      c_.memory_output->append(ptr, size);
      return static_cast<ssize_t>(size);
    }
    if (c_.GetPhase() == Connection::Phase::kHandler) {
      c_.SetPhase(Connection::Phase::kResponse, Clock::now() + server_.limits_.transfer_timeout);
    }
    for (;;) {
      ssize_t n;
      int want = POLLOUT;
      if (c_.ssl) {
        const int chunk = static_cast<int>(std::min<size_t>(size, 1 << 30));
        n = SSL_write(c_.ssl, ptr, chunk);
        if (n > 0) return n;
        const int err = SSL_get_error(c_.ssl, static_cast<int>(n));
        if (err == SSL_ERROR_WANT_READ) {
          want = POLLIN;
        } else if (err != SSL_ERROR_WANT_WRITE) {
          ERR_clear_error();
          return -1;
        }
      } else {
        n = send(c_.fd, ptr, size, MSG_NOSIGNAL);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      }
      if (Wait(static_cast<short>(want)) <= 0) return -1;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { Address(true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { Address(false, ip, port); }
  socket_t socket() const override { return c_.fd; }

 private:
  void Address(bool remote, std::string& ip, int& port) const {
    ip.clear();
    port = 0;
    if (c_.fd < 0) {
      ip = "127.0.0.1";
      return;
    }
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    const int r = remote ? getpeername(c_.fd, reinterpret_cast<sockaddr*>(&addr), &len)
                         : getsockname(c_.fd, reinterpret_cast<sockaddr*>(&addr), &len);
    if (r != 0) return;
    char host[NI_MAXHOST] = {};
    char serv[NI_MAXSERV] = {};
    if (getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0) {
      ip = host;
      port = std::atoi(serv);
    }
  }

  void Fail(ReadFailure why) {
    if (c_.failure != ReadFailure::kNone) return;
    c_.failure = why;
    c_.close_after = true;
    if (why == ReadFailure::kTransferTimeout) {
      ++server_.stats_->transfer_timeouts;
    } else if (why != ReadFailure::kBadFraming) {
      ++server_.stats_->header_timeouts;
    }
  }

  // Waits for `events` within the per-operation timeout and the phase's
  // deadline. 1 ready, 0 timed out, -1 error.
  int Wait(short events) {
    const ServerLimits& l = server_.limits_;
    const auto now = Clock::now();
    auto until = now + ((events & POLLIN) ? l.read_timeout : l.write_timeout);
    Connection::Phase phase;
    Clock::time_point deadline;
    {
      std::lock_guard<std::mutex> lock(c_.mu);
      phase = c_.phase;
      deadline = c_.deadline;
    }
    const bool has_deadline = phase == Connection::Phase::kHeaders || phase == Connection::Phase::kBody ||
                              phase == Connection::Phase::kResponse;
    const bool deadline_first = has_deadline && deadline < until;
    if (deadline_first) until = deadline;
    const int r = PollFor(c_.fd, events, until);
    if (r == 0 && deadline_first) {
      Fail(phase == Connection::Phase::kHeaders ? ReadFailure::kHeaderTimeout : ReadFailure::kTransferTimeout);
    }
    return r;
  }

  void Take(char* ptr, size_t n) {
    std::memcpy(ptr, c_.in.data() + c_.pos, n);
    c_.pos += n;
  }

  // Reads at most `size` bytes from the socket, TLS or memory. >0 bytes,
  // 0 EOF, -1 error or timeout.
  ssize_t Receive(char* into, size_t size) {
    if (c_.fd < 0) {
      const size_t n = std::min(c_.memory_input.size(), size);
      std::memcpy(into, c_.memory_input.data(), n);
      c_.memory_input.remove_prefix(n);
      return static_cast<ssize_t>(n);
    }
    for (;;) {
      int want = POLLIN;
      if (c_.ssl) {
        const int n = SSL_read(c_.ssl, into, static_cast<int>(size));
        if (n > 0) return n;
        const int err = SSL_get_error(c_.ssl, n);
        if (err == SSL_ERROR_ZERO_RETURN) return 0;
        if (err == SSL_ERROR_WANT_WRITE) {
          want = POLLOUT;
        } else if (err != SSL_ERROR_WANT_READ) {
          ERR_clear_error();
          return err == SSL_ERROR_SYSCALL ? 0 : -1;
        }
      } else {
        const ssize_t n = recv(c_.fd, into, size, 0);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
      }
      if (Wait(static_cast<short>(want)) <= 0) return -1;
    }
  }

  ConnectionServer& server_;
  Connection& c_;
};

Result<SslCtxPtr> MakeTlsContext(const std::string& cert_file, const std::string& key_file) {
  if (cert_file.empty() || key_file.empty()) {
    return InvalidArgument("TLS needs both a certificate (--tls-cert) and a private key (--tls-key)");
  }
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx) return Internal("OpenSSL: cannot create a TLS context: " + OpenSslError());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert_file.c_str()) != 1) {
    return InvalidArgument("cannot load the TLS certificate '" + cert_file + "': " + OpenSslError());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return InvalidArgument("cannot load the TLS private key '" + key_file + "': " + OpenSslError());
  }
  if (SSL_CTX_check_private_key(ctx.get()) != 1) {
    return InvalidArgument("the TLS private key '" + key_file + "' does not match the certificate '" + cert_file +
                           "'");
  }
  return ctx;
}

void MarkBodyRead() {
  if (t_connection) t_connection->SetPhase(Connection::Phase::kHandler);
}

void CloseAfterResponse() {
  if (t_connection) t_connection->close_after = true;
}

const framing::Head* CurrentHead() { return t_connection ? &t_connection->head : nullptr; }

std::optional<framing::FramingError> CurrentFramingError() {
  return t_connection ? t_connection->framing_error : std::nullopt;
}

bool ServerStopping() { return t_server && t_server->stopping(); }

ReadFailure CurrentReadFailure() { return t_connection ? t_connection->failure : ReadFailure::kNone; }

ConnectionServer::ConnectionServer(const ServerLimits& limits, SSL_CTX* tls) : limits_(limits), tls_(tls) {
  new_task_queue = [stats = stats_, keep = limits.http_threads, max = limits.max_connections] {
    return new ConnectionQueue(stats, keep, max);
  };
}

ConnectionServer::~ConnectionServer() { FinishStop(); }

void ConnectionServer::SetBacklog(int backlog) {
  const socket_t s = svr_sock_.load();
  if (s != INVALID_SOCKET) ::listen(s, backlog);
}

ServerStats ConnectionServer::stats() const {
  ServerStats s;
  s.connections = stats_->connections.load();
  s.shed = stats_->shed.load();
  s.header_timeouts = stats_->header_timeouts.load();
  s.transfer_timeouts = stats_->transfer_timeouts.load();
  s.requests_started = stats_->requests_started.load();
  s.open = stats_->open.load();
  s.threads = stats_->threads.load();
  return s;
}

void ConnectionServer::BeginStop() {
  if (stopping_.exchange(true)) return;
  // Stop accepting. (httplib's stop() does this only once listening has
  // begun; this works before, too, so a Stop racing Serve cannot hang.)
  const socket_t s = svr_sock_.exchange(INVALID_SOCKET);
  if (s != INVALID_SOCKET) {
    ::shutdown(s, SHUT_RDWR);
    ::close(s);
  }
  {
    // Idle connections, and those that have not sent a byte of their next
    // request, are closed now; the rest may finish.
    std::lock_guard<std::mutex> lock(conns_mu_);
    for (Connection* c : conns_) {
      std::lock_guard<std::mutex> clock(c->mu);
      if (c->phase == Connection::Phase::kIdle ||
          (c->phase == Connection::Phase::kHeaders && c->header_bytes.load() == 0)) {
        ::shutdown(c->fd, SHUT_RD);
      }
    }
  }
  std::lock_guard<std::mutex> lock(watchdog_mu_);
  watchdog_ = GuardedThread("drain watchdog", [this] { DrainWatchdog(); });
}

void ConnectionServer::DrainWatchdog() {
  std::unique_lock<std::mutex> lock(conns_mu_);
  if (conns_cv_.wait_for(lock, limits_.drain_timeout, [&] { return conns_.empty(); })) return;
  for (Connection* c : conns_) ::shutdown(c->fd, SHUT_RDWR);
}

void ConnectionServer::FinishStop() {
  std::lock_guard<std::mutex> lock(watchdog_mu_);
  if (watchdog_.joinable()) watchdog_.join();
}

void ConnectionServer::Shed(socket_t sock) {
  ++stats_->shed;
  if (!tls_) {
    static const std::string kResponse = [] {
      const std::string body =
          R"({"code":"ErrorPredictionServiceUnavailable","message":"the server is at its connection limit; retry later"})";
      return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\nRetry-After: 1\r\nConnection: close\r\n\r\n" + body;
    }();
    // Take what the client already sent (so closing does not reset the
    // connection under the answer), answer, close. Never waits.
    char discard[4096];
    for (int i = 0; i < 16 && recv(sock, discard, sizeof discard, MSG_DONTWAIT) > 0; ++i) {
    }
    (void)!send(sock, kResponse.data(), kResponse.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    ::shutdown(sock, SHUT_WR);
  }
  ::close(sock);
}

bool ConnectionServer::process_and_close_socket(socket_t sock) {
  if (t_shed) {
    Shed(sock);
    return false;
  }
  SetNonBlocking(sock);
  Connection c;
  c.fd = sock;
  ++stats_->connections;
  {
    std::lock_guard<std::mutex> lock(conns_mu_);
    conns_.insert(&c);
  }
  t_connection = &c;
  t_server = this;
  const bool ok = ServeConnection(c);
  t_connection = nullptr;
  t_server = nullptr;
  // Stop and the drain watchdog shut connections down by descriptor: the
  // connection leaves the set before its descriptor is closed, so they can
  // never hit a number that accept() has already handed to someone else.
  {
    std::lock_guard<std::mutex> lock(conns_mu_);
    conns_.erase(&c);
  }
  conns_cv_.notify_all();
  if (c.ssl) {
    if (c.failure == ReadFailure::kNone) SSL_shutdown(c.ssl);  // one non-blocking attempt
    SSL_free(c.ssl);
    ERR_clear_error();
  } else if (c.close_after) {
    LingeringClose(sock);
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ok;
}

void ConnectionServer::LingeringClose(socket_t sock) const {
  // A body left unread would make close() send a reset, which can destroy
  // the answer before the client reads it. Send FIN, then discard what the
  // client still sends, for a bounded time and number of bytes.
  ::shutdown(sock, SHUT_WR);
  const auto until = Clock::now() + kLingerTime;
  char discard[16 * 1024];
  for (size_t total = 0; total < kLingerBytes;) {
    if (PollFor(sock, POLLIN, until) <= 0) return;
    const ssize_t n = recv(sock, discard, sizeof discard, 0);
    if (n > 0) {
      total += static_cast<size_t>(n);
    } else if (n == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
      return;
    }
  }
}

bool ConnectionServer::Handshake(Connection& c) {
  c.ssl = SSL_new(tls_);
  if (!c.ssl || SSL_set_fd(c.ssl, c.fd) != 1) {
    ERR_clear_error();
    return false;
  }
  // The handshake is part of the request head: same deadline.
  c.SetPhase(Connection::Phase::kHeaders, Clock::now() + limits_.header_timeout);
  for (;;) {
    const int r = SSL_accept(c.ssl);
    if (r == 1) return true;
    const int err = SSL_get_error(c.ssl, r);
    ERR_clear_error();
    short want;
    if (err == SSL_ERROR_WANT_READ) {
      want = POLLIN;
    } else if (err == SSL_ERROR_WANT_WRITE) {
      want = POLLOUT;
    } else {
      return false;
    }
    const auto until = std::min(c.deadline, Clock::now() + limits_.read_timeout);
    if (PollFor(c.fd, want, until) <= 0) {
      if (Clock::now() >= c.deadline) {
        c.failure = ReadFailure::kHeaderTimeout;
        ++stats_->header_timeouts;
      }
      return false;
    }
  }
}

bool ConnectionServer::ServeConnection(Connection& c) {
  if (tls_ && !Handshake(c)) return false;
  for (int left = limits_.keep_alive_max_requests; left > 0; --left) {
    if (!c.Buffered()) {
      c.SetPhase(Connection::Phase::kIdle);
      if (stopping_) break;
      if (PollFor(c.fd, POLLIN, Clock::now() + limits_.keep_alive_timeout) <= 0) break;
    }
    c.header_bytes = 0;
    c.SetPhase(Connection::Phase::kHeaders, Clock::now() + limits_.header_timeout);
    if (stopping_ && !c.Buffered()) break;
    if (!ServeRequest(c, left == 1 || stopping_)) break;
  }
  return true;
}

bool ConnectionServer::ServeRequest(Connection& c, bool last) {
  ConnStream strm(*this, c);
  if (!AdmitHead(c, strm)) return false;
  bool closed = false;
  const auto transfer = limits_.transfer_timeout;
  const bool memory = c.fd < 0;
  // No exception may end the connection's thread (and so the process):
  // httplib's parser and writer allocate.
  try {
    const bool ok = process_request(strm, last || c.close_after, closed, [&c, transfer, memory](httplib::Request&) {
      c.SetPhase(Connection::Phase::kBody, memory ? Clock::time_point{} : Clock::now() + transfer);
    });
    return ok && !closed && !c.close_after;
  } catch (const std::exception& e) {
    spdlog::error("HTTP connection dropped: {}", e.what());
  } catch (...) {
    spdlog::error("HTTP connection dropped: unknown exception");
  }
  c.close_after = true;
  return false;
}

namespace {

const char* Reason(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

}  // namespace

bool ConnectionServer::Refuse(Connection& c, ConnStream& strm, const HttpResponse& r) {
  std::string out = "HTTP/1.1 " + std::to_string(r.status) + " " + Reason(r.status) + "\r\nContent-Type: " +
                    r.content_type + "\r\n";
  for (const auto& [name, value] : r.headers) out += name + ": " + value + "\r\n";
  out += "Content-Length: " + std::to_string(r.body.size()) + "\r\nConnection: close\r\n\r\n" + r.body;
  c.SetPhase(Connection::Phase::kResponse, Clock::now() + limits_.transfer_timeout);
  for (std::string_view left = out; !left.empty();) {
    const ssize_t n = strm.write(left.data(), left.size());
    if (n <= 0) break;
    left.remove_prefix(static_cast<size_t>(n));
  }
  c.close_after = true;
  return false;
}

bool ConnectionServer::AdmitHead(Connection& c, ConnStream& strm) {
  c.head = {};
  c.head_left = 0;
  c.body_mode = Connection::BodyMode::kNone;
  c.length_left = 0;
  c.chunked.reset();
  c.framing_error.reset();
  size_t line_start = 0, skipped = 0;
  framing::HeadEnd end;
  bool started = false;  // counted in ServerStats::requests_started
  for (;;) {
    // RFC 9112 2.2: empty lines before the request line are ignored.
    while (line_start == 0 && c.Available() > 0 && skipped < 64 && (c.in[c.pos] == '\r' || c.in[c.pos] == '\n')) {
      ++c.pos;
      ++skipped;
    }
    const std::string_view view(c.in.data() + c.pos, c.Available());
    c.header_bytes = view.size() + skipped;
    if (!started && c.header_bytes > 0) {
      started = true;
      ++stats_->requests_started;
    }
    end = framing::FindHeadEnd(view, limits_.max_header_bytes, &line_start);
    if (end.error || end.size > 0) break;
    if (strm.Fill() <= 0) {
      if (c.failure == ReadFailure::kHeaderTimeout) {
        return Refuse(c, strm, ErrorResponse(408, "BadRequest", "the request headers did not arrive in time"));
      }
      c.close_after = true;
      return false;
    }
  }
  const auto refuse = [&](const framing::FramingError& e) {
    if (e.status == 431 || e.status == 414) ++stats_->header_timeouts;
    return Refuse(c, strm, ErrorResponse(e.status, "BadRequest", e.message));
  };
  if (end.error) return refuse(*end.error);
  framing::HeadResult parsed = framing::ParseHead(std::string_view(c.in.data() + c.pos, end.size));
  if (!parsed.head) return refuse(parsed.error);
  c.head = std::move(*parsed.head);
  if (admission_) {
    if (std::optional<HttpResponse> refusal = admission_(c.head)) return Refuse(c, strm, *refusal);
  }
  // Which bodies httplib reads (its expect_content): POST, PUT, PATCH, and
  // DELETE with a Content-Length. Any other body is never read, so the
  // connection closes after the response: its bytes cannot become a request.
  const std::string& m = c.head.method;
  const bool read_by_httplib =
      m == "POST" || m == "PUT" || m == "PATCH" || (m == "DELETE" && c.head.body == framing::Head::Body::kLength);
  if (c.head.HasBody() && !read_by_httplib) {
    c.close_after = true;
  } else if (c.head.body == framing::Head::Body::kLength) {
    c.body_mode = Connection::BodyMode::kLength;
    c.length_left = c.head.content_length;
  } else if (c.head.body == framing::Head::Body::kChunked) {
    c.body_mode = Connection::BodyMode::kChunked;
    c.chunked.emplace(limits_.max_body_bytes);
  }
  const std::string rebuilt = framing::RebuildHead(c.head);
  c.in.replace(0, c.pos + end.size, rebuilt);
  c.pos = 0;
  c.head_left = rebuilt.size();
  return true;
}

std::string ConnectionServer::ProcessBytes(std::string_view bytes) {
  Connection c;
  std::string out;
  c.memory_input = bytes;
  c.memory_output = &out;
  Connection* previous = t_connection;
  t_connection = &c;
  for (int left = 100; left > 0 && (c.Buffered() || !c.memory_input.empty()); --left) {
    c.header_bytes = 0;
    c.SetPhase(Connection::Phase::kHeaders);
    if (!ServeRequest(c, false)) break;
  }
  t_connection = previous;
  return out;
}

}  // namespace edgevision::http::transport
