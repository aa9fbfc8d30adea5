// HttpServer: cpp-httplib behind our types. Every request goes through one
// Router; no exception escapes a handler (one wrapper turns it into a 500 in
// the standard error shape); responses always carry Content-Length.
//
// Connections (http/transport.h): cpp-httplib parses HTTP, but the sockets,
// TLS and threads are ours. Each open connection has a thread, started on
// demand up to `max_connections`; a connection beyond that gets an immediate
// 503 with Retry-After and is closed, so slow or idle clients can never keep
// the others out. The request line and headers must arrive within
// `header_timeout` and `max_header_bytes` (slowloris), a body within
// `transfer_timeout` (and never more than `max_body_bytes`, counted after any
// decoding), a response must be taken within `transfer_timeout`.
//
// Lifecycle: construct, Bind (port 0 = any free port, for tests), then Serve
// on a thread of your choice (it blocks until Stop and until every
// connection is closed). Stop is safe from any thread (not from a signal
// handler): it stops accepting, closes idle connections at once, lets
// requests in progress finish for up to `drain_timeout`, then cuts what is
// left.
//
// Thread-safety: Handle, Stop and running are safe from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"
#include "http/access.h"
#include "http/router.h"

namespace edgevision::http {

// Named limits with safe defaults; see docs/security.md.
struct ServerLimits {
  // Largest request body, after any Content-Encoding is undone. The
  // container and the cloud take images up to 4 MB; the margin is for
  // multipart framing.
  size_t max_body_bytes = 4 * 1024 * 1024 + 64 * 1024;
  // Connections served at once (each has a thread while open: HTTP parsing,
  // decode, preprocessing). Beyond this, new connections are answered 503.
  int max_connections = 128;
  // Threads kept ready for new connections.
  int http_threads = 16;
  // The request line and all headers must arrive within this...
  std::chrono::milliseconds header_timeout{10'000};
  // ...and within this many bytes (one line may be at most 8 KiB, httplib's own limit).
  size_t max_header_bytes = 64 * 1024;
  // A request body must arrive, and a response be taken, within this.
  std::chrono::milliseconds transfer_timeout{60'000};
  // Longest silence while reading, and longest stall while writing.
  std::chrono::milliseconds read_timeout{5'000};
  std::chrono::milliseconds write_timeout{5'000};
  // An idle keep-alive connection is closed after this.
  std::chrono::milliseconds keep_alive_timeout{5'000};
  int keep_alive_max_requests = 1000;
  // Pending connections the kernel queues before they are accepted.
  int listen_backlog = 512;
  // On Stop, requests in progress may finish for this long.
  std::chrono::milliseconds drain_timeout{5'000};
};

struct TlsOptions {
  std::string cert_file;  // PEM certificate (chain); TLS is on when set
  std::string key_file;   // PEM private key
};

// Counters for /health and tests.
struct ServerStats {
  uint64_t connections = 0;       // accepted and served
  uint64_t shed = 0;              // refused with 503 at max_connections
  uint64_t header_timeouts = 0;   // closed: headers too slow or too large
  uint64_t transfer_timeouts = 0; // closed: body or response too slow
  uint64_t requests_started = 0;  // requests whose first byte has been read
  int open = 0;                   // connections holding a --max-connections slot now
  int threads = 0;                // connection threads now
};

// One answered request, for metrics (http/metrics_routes.h).
struct RequestOutcome {
  std::string_view method;  // a method some route serves, else "other"
  std::string_view route;   // the matched route's pattern, or "unmatched"
  int status = 0;
};
using RequestObserver = std::function<void(const RequestOutcome&)>;

class HttpServer {
 public:
  HttpServer(Router router, ServerLimits limits, TlsOptions tls = {}, AccessControl access = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Told about every answer: routed ones, refusals decided from the head
  // (401, 405, 413, ...) and malformed or too slow requests. Set before
  // Bind; called on connection threads, so it must be quick and thread-safe.
  void SetRequestObserver(RequestObserver observer);

  // Binds host:port (port 0 picks a free one). Returns the bound port.
  // Errors: IOError when the address is in use or not available;
  // InvalidArgument when the TLS files cannot be loaded (naming them).
  Result<int> Bind(const std::string& host, int port);
  // Serves until Stop() and until every connection is closed. Returns an
  // error if the server was never bound.
  Status Serve();
  void Stop();
  bool running() const;
  ServerStats stats() const;

  // Dispatches one request in-process (no socket): access check, routing,
  // the exception wrapper and error shapes exactly as for network requests.
  HttpResponse Handle(HttpRequest request) const;

  // Runs raw request bytes (one or more pipelined HTTP/1.1 requests) through
  // the same parser and pipeline as a connection, without a socket, and
  // returns the raw response bytes. For fuzzing and tests.
  std::string HandleRaw(std::string_view request_bytes);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgevision::http
