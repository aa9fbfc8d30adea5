// Internal to src/http (only server.cc includes this): the connection layer
// under HttpServer.
//
// Why it exists: Debian 12 ships cpp-httplib 0.11.4 compiled
// (libcpp-httplib0.11), with a fixed thread pool, per-recv timeouts only
// (a few clients dribbling bytes could hold every thread), lenient framing
// (bare LF, both Content-Length and Transfer-Encoding, chunk lines of any
// length, bodies of unserved methods such as PRI read without a cap) and
// Range handling that copies the body per range. So the sockets, TLS,
// threads, deadlines, shutdown AND the framing are ours: every request head
// is read and checked by http/framing.h before httplib sees it, httplib
// then reads a rebuilt head (no Range, explicit framing) and exactly the
// body bytes that framing allows. httplib still routes to our handlers and
// writes responses. docs/security.md "HTTP layer" says why we kept it.
//
// This subclasses httplib::Server through non-public API (the private
// virtual process_and_close_socket, the protected process_request and
// svr_sock_), so it is tied to httplib's version: see the guard below.
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

#include <string_view>

// process_and_close_socket, process_request and svr_sock_ are httplib
// internals whose signatures and behaviour (e.g. which methods read a body:
// AdmitHead in transport.cc mirrors 0.11.4's expect_content) change between
// releases. Check them against the new version, then widen this guard.
#if !defined(CPPHTTPLIB_VERSION)
#error "http/transport.h needs cpp-httplib (CPPHTTPLIB_VERSION is not defined)"
#elif defined(__cplusplus)
static_assert(std::string_view(CPPHTTPLIB_VERSION) == "0.11.4",
              "http/transport.h subclasses httplib::Server through internals checked against cpp-httplib 0.11.4 "
              "(Debian 12) only; review ConnectionServer and framing.h against this version, then update this guard");
#endif

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <functional>
#include <optional>

#include "core/status.h"
#include "http/framing.h"
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
enum class ReadFailure { kNone, kHeaderTimeout, kHeaderTooLarge, kTransferTimeout, kBadFraming };

// Hooks for request code on a connection thread.
void MarkBodyRead();          // the body is read: no read deadline from now on
void CloseAfterResponse();    // the body was not consumed: close after this response
bool ServerStopping();        // draining: answer with Connection: close
ReadFailure CurrentReadFailure();
// The head of the request being served (as the client sent it), or null.
const framing::Head* CurrentHead();
// Why the body's framing was refused (with ReadFailure::kBadFraming).
std::optional<framing::FramingError> CurrentFramingError();

// Decides from a request's head alone, before any body byte is read:
// nullopt admits it; a response refuses it (sent with Connection: close).
using Admission = std::function<std::optional<HttpResponse>(const framing::Head&)>;

struct Connection;
class ConnStream;

// Counters shared by the server, its queue and its connections.
struct SharedStats {
  std::atomic<uint64_t> connections{0}, shed{0}, header_timeouts{0}, transfer_timeouts{0},
      requests_started{0};
  // open: connections holding one of the --max-connections slots, from the
  // moment they are admitted until their job has returned (the same count
  // the cap compares against, so /health and the cap agree).
  std::atomic<int> open{0}, threads{0};
};

class ConnectionServer : public httplib::Server {
 public:
  // `tls` (may be null) must outlive the server.
  ConnectionServer(const ServerLimits& limits, SSL_CTX* tls);
  ~ConnectionServer() override;

  // Re-listens the bound socket with a longer accept queue than httplib's 5.
  void SetBacklog(int backlog);
  // Set before serving.
  void SetAdmission(Admission admission) { admission_ = std::move(admission); }
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
  // One request; false when the connection must close afterwards.
  bool ServeRequest(Connection& c, bool last);
  // Reads and checks the head (false: refused or gone, the connection closes).
  bool AdmitHead(Connection& c, ConnStream& strm);
  // Answers `r` with Connection: close; returns false.
  bool Refuse(Connection& c, ConnStream& strm, const HttpResponse& r);
  void LingeringClose(socket_t sock) const;
  bool Handshake(Connection& c);
  void Shed(socket_t sock);
  void DrainWatchdog();

  // After a refusal, unread bytes are discarded for at most this long / this many.
  static constexpr std::chrono::milliseconds kLingerTime{1000};
  static constexpr size_t kLingerBytes = 1024 * 1024;

  const ServerLimits limits_;
  SSL_CTX* const tls_;
  Admission admission_;
  std::shared_ptr<SharedStats> stats_ = std::make_shared<SharedStats>();
  std::atomic<bool> stopping_{false};

  std::mutex conns_mu_;
  std::condition_variable conns_cv_;
  std::set<Connection*> conns_;  // guarded by conns_mu_

  std::mutex watchdog_mu_;
  std::thread watchdog_;  // guarded by watchdog_mu_
};

}  // namespace edgevision::http::transport
