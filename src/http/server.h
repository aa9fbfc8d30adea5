// HttpServer: cpp-httplib behind our types. Every request goes through one
// Router; no exception escapes a handler (one wrapper turns it into a 500 in
// the standard error shape); responses always carry Content-Length.
//
// Lifecycle: construct, Bind (port 0 = any free port, for tests), then Serve
// on a thread of your choice (it blocks until Stop). Stop is safe from any
// thread and from signal-handling threads (not from a signal handler itself).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "http/router.h"

namespace edgevision::http {

// Named limits with safe defaults; see docs/security.md.
struct ServerLimits {
  // Largest request body. The container and the cloud take images up to
  // 4 MB; the margin is for multipart framing.
  size_t max_body_bytes = 4 * 1024 * 1024 + 64 * 1024;
  // Threads handling connections (HTTP parsing, decode, preprocessing).
  int http_threads = 16;
  std::chrono::seconds read_timeout{5};
  std::chrono::seconds write_timeout{5};
  std::chrono::seconds keep_alive_timeout{5};
  int keep_alive_max_requests = 1000;
};

struct TlsOptions {
  std::string cert_file;  // PEM; TLS is on when both are set
  std::string key_file;
};

class HttpServer {
 public:
  HttpServer(Router router, ServerLimits limits, TlsOptions tls = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (port 0 picks a free one). Returns the bound port.
  // Errors: IOError when the address is in use or not available;
  // InvalidArgument when TLS files cannot be loaded.
  Result<int> Bind(const std::string& host, int port);
  // Serves until Stop(). Returns an error if the server was never bound.
  Status Serve();
  void Stop();
  bool running() const;

  // Dispatches one request in-process (no socket): routing, the exception
  // wrapper and error shapes exactly as for network requests.
  HttpResponse Handle(HttpRequest request) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgevision::http
