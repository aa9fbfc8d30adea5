// Internal to src/http (only server.cc includes this): the connection layer
// under HttpServer. cpp-httplib parses and writes HTTP; sockets, TLS,
// threads, deadlines and shutdown are ours, because Debian's compiled
// libcpp-httplib fixes its thread pool size and has only per-recv timeouts,
// so a few clients dribbling bytes could hold every thread.
//
//   ConnectionQueue   httplib::TaskQueue: one thread per open connection,
//                     started on demand up to max_connections (keep
//                     `http_threads` ready); beyond that the connection is
//                     handed to a single shedding thread that answers 503
//                     with Retry-After and closes it.
//   ConnectionServer  httplib::Server whose per-socket loop is ours: TLS
//                     handshake (OpenSSL), keep-alive, the header deadline
//                     and byte budget, the transfer deadline, and draining.
//
// Request code reaches its connection through thread-local hooks below
// (no-ops on threads that are not serving a connection).
#pragma once

#include <httplib.h>
#include <openssl/ssl.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>

#include "core/status.h"
#include "http/server.h"

namespace edgevision::http::transport {

struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;

// A TLS 1.2+ server context from PEM files. Errors: InvalidArgument naming
// the files and OpenSSL's reason.
Result<SslCtxPtr> MakeTlsContext(const std::string& cert_file, const std::string& key_file);

// Why a connection's request could not be read.
enum class ReadFailure { kNone, kHeaderTimeout, kHeaderTooLarge, kTransferTimeout };

// Hooks for request code on a connection thread.
void MarkBodyRead();          // the body is read: no read deadline from now on
void CloseAfterResponse();    // the body was not consumed: close after this response
bool ServerStopping();        // draining: answer with Connection: close
ReadFailure CurrentReadFailure();

struct Connection;

// Counters shared by the server, its queue and its connections.
struct SharedStats {
  std::atomic<uint64_t> connections{0}, shed{0}, header_timeouts{0}, transfer_timeouts{0},
      requests_started{0};
  std::atomic<int> open{0}, threads{0};
};

class ConnectionServer : public httplib::Server {
 public:
  // `tls` (may be null) must outlive the server.
  ConnectionServer(const ServerLimits& limits, SSL_CTX* tls);
  ~ConnectionServer() override;

  // Re-listens the bound socket with a longer accept queue than httplib's 5.
  void SetBacklog(int backlog);
  // Stops accepting, closes idle connections, and after drain_timeout cuts
  // the connections still open. Returns at once; safe from any thread.
  void BeginStop();
  // Waits for the drain watchdog started by BeginStop (if any).
  void FinishStop();
  bool stopping() const { return stopping_.load(); }
  ServerStats stats() const;

  // Runs `bytes` through process_request as one connection would, without
  // a socket; returns what would have been written.
  std::string ProcessBytes(std::string_view bytes);

 private:
  friend class ConnStream;
  bool process_and_close_socket(socket_t sock) override;
  bool ServeConnection(Connection& c);
  bool Handshake(Connection& c);
  void Shed(socket_t sock);
  void DrainWatchdog();

  const ServerLimits limits_;
  SSL_CTX* const tls_;
  std::shared_ptr<SharedStats> stats_ = std::make_shared<SharedStats>();
  std::atomic<bool> stopping_{false};

  std::mutex conns_mu_;
  std::condition_variable conns_cv_;
  std::set<Connection*> conns_;  // guarded by conns_mu_

  std::mutex watchdog_mu_;
  std::thread watchdog_;  // guarded by watchdog_mu_
};

}  // namespace edgevision::http::transport
