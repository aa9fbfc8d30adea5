#include "http/server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <strings.h>

#include <exception>

#include "http/api_error.h"
#include "http/framing.h"
#include "http/transport.h"

namespace edgevision::http {

struct HttpServer::Impl {
  Router router;
  ServerLimits limits;
  TlsOptions tls;
  AccessControl access;
  transport::SslCtxPtr ssl_ctx;
  std::unique_ptr<transport::ConnectionServer> server;
  bool bound = false;
  std::atomic<bool> stop_requested{false};
  RequestObserver observer;  // set before Bind

  // Creates and configures the httplib server (plain or TLS).
  Status Configure(HttpServer* owner);
  // A refusal decided from the request head alone, before any body is read
  // (AdmitOrRefuse decides; Admit also tells the request observer).
  std::optional<HttpResponse> Admit(const framing::Head& head) const;
  std::optional<HttpResponse> AdmitOrRefuse(const framing::Head& head) const;
  // Routing, the access check and the exception wrapper; `pattern` is set
  // when a route matched.
  HttpResponse Dispatch(HttpRequest* request, const std::string** pattern) const;
  // Tells the observer about an answer; `path` is matched when `pattern`
  // is not known yet.
  void Record(const std::string& method, const std::string* pattern, int status) const;
  void RecordPath(const std::string& method, const std::string& path, int status) const;
};

namespace {

HttpRequest FromHttplib(const httplib::Request& req) {
  HttpRequest r;
  r.method = req.method;
  r.path = req.path;
  // The headers as the client sent them (httplib reads a rebuilt head).
  if (const framing::Head* head = transport::CurrentHead(); head && !head->method.empty()) {
    for (const auto& [k, v] : head->fields) r.headers.emplace(k, v);
  } else {
    for (const auto& [k, v] : req.headers) r.headers.emplace(k, v);
  }
  for (const auto& [k, v] : req.params) r.query.emplace(k, v);
  for (const auto& [name, part] : req.files) {
    r.form.emplace(name, FormPart{part.filename, part.content_type, part.content});
  }
  if (req.files.empty()) r.body = req.body;
  r.remote_addr = req.remote_addr;
  return r;
}

void ToHttplib(const HttpResponse& from, httplib::Response* to) {
  to->status = from.status;
  for (const auto& [k, v] : from.headers) to->set_header(k, v);
  to->set_content(from.body, from.content_type);
  if (transport::ServerStopping()) to->set_header("Connection", "close");
}

// Answers `res` now and closes the connection afterwards (the body, if any,
// is left unread).
void RefuseAndClose(const HttpResponse& refusal, httplib::Response* res) {
  ToHttplib(refusal, res);
  res->set_header("Connection", "close");
  transport::CloseAfterResponse();
}

// The answer to a body whose framing (chunked, multipart) was refused.
HttpResponse FramingRefusal(const framing::FramingError& e) {
  return ErrorResponse(e.status, e.status == 413 ? "BadRequestImageSizeBytes" : "BadRequest", e.message);
}

HttpResponse BodyTooLarge(size_t max) {
  return ErrorResponse(413, "BadRequestImageSizeBytes", "request body is larger than " + std::to_string(max) + " bytes");
}

// 404 or 405 (with Allow) for a request no route serves.
HttpResponse RouteMiss(const HttpRequest& request, Router::MatchResult match, const std::string& allowed) {
  if (match == Router::MatchResult::kNotFound) {
    return ErrorResponse(404, "NotFound", "no route for " + request.method + " " + request.path);
  }
  HttpResponse res = ErrorResponse(405, "BadRequest", request.path + " accepts " + allowed);
  res.headers.emplace_back("Allow", allowed);
  return res;
}

bool Safe(const std::string& method) { return method == "GET" || method == "HEAD" || method == "OPTIONS"; }

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

// CSRF: a browser marks a request another site's page makes with
// Sec-Fetch-Site: cross-site and an Origin that is not ours. Cameras, SDKs,
// curl and edgevision's own review page are never refused: they send no
// Origin, or ours.
std::optional<HttpResponse> CrossSite(const framing::Head& head) {
  if (Safe(head.method)) return std::nullopt;
  const auto refuse = [] {
    return ErrorResponse(403, "Forbidden",
                         "cross-site requests may not change anything here (Origin does not match Host)");
  };
  if (auto site = head.Find("Sec-Fetch-Site"); site && IEquals(*site, "cross-site")) return refuse();
  std::optional<std::string_view> origin = head.Find("Origin");
  if (!origin) return std::nullopt;
  std::string_view o = *origin;
  for (std::string_view scheme : {"http://", "https://"}) {
    if (o.size() > scheme.size() && IEquals(o.substr(0, scheme.size()), scheme)) {
      o.remove_prefix(scheme.size());
      // Behind a reverse proxy, Host may be the upstream's; the proxy then
      // says what the browser used in X-Forwarded-Host.
      for (const char* name : {"Host", "X-Forwarded-Host"}) {
        const std::optional<std::string_view> host = head.Find(name);
        if (host && IEquals(o, *host)) return std::nullopt;
      }
      break;
    }
  }
  return refuse();  // another site, or "null" (sandboxed frames, file:)
}

}  // namespace

HttpServer::HttpServer(Router router, ServerLimits limits, TlsOptions tls, AccessControl access) : impl_(new Impl) {
  impl_->router = std::move(router);
  impl_->limits = limits;
  impl_->tls = std::move(tls);
  impl_->access = std::move(access);
}

HttpServer::~HttpServer() {
  Stop();
  if (impl_->server) impl_->server->FinishStop();
}

void HttpServer::SetRequestObserver(RequestObserver observer) { impl_->observer = std::move(observer); }

HttpResponse HttpServer::Handle(HttpRequest request) const {
  const std::string* pattern = nullptr;
  HttpResponse res = impl_->Dispatch(&request, &pattern);
  impl_->Record(request.method, pattern, res.status);
  return res;
}

HttpResponse HttpServer::Impl::Dispatch(HttpRequest* request, const std::string** pattern) const {
  const Handler* handler = nullptr;
  std::string allowed;
  Access route_access = Access::kAdmin;
  const Router::MatchResult match = router.Match(request, &handler, &allowed, &route_access, pattern);
  if (match != Router::MatchResult::kFound) return RouteMiss(*request, match, allowed);
  if (!access.Allows(route_access, PresentedKey(request->Header(kKeyHeader), request->Header("Authorization")))) {
    return ErrorResponse(401, "Unauthorized",
                         "Access denied: this route needs a valid key in the Prediction-Key header");
  }
  try {
    return (*handler)(*request);
  } catch (const std::exception& e) {
    spdlog::error("handler for {} {} threw: {}", request->method, framing::LogSafe(request->path), e.what());
    return ErrorResponse(500, "ErrorUnknown", "internal error");
  } catch (...) {
    spdlog::error("handler for {} {} threw a non-exception", request->method, framing::LogSafe(request->path));
    return ErrorResponse(500, "ErrorUnknown", "internal error");
  }
}

void HttpServer::Impl::Record(const std::string& method, const std::string* pattern, int status) const {
  if (!observer) return;
  // Only label values from a fixed set: a method some route serves, a
  // route pattern (never the raw path).
  observer(RequestOutcome{router.ServesMethod(method) ? std::string_view(method) : std::string_view("other"),
                          pattern ? std::string_view(*pattern) : std::string_view("unmatched"), status});
}

void HttpServer::Impl::RecordPath(const std::string& method, const std::string& path, int status) const {
  if (!observer) return;
  HttpRequest probe;
  probe.method = method == "HEAD" ? "GET" : method;
  probe.path = path;
  const Handler* handler = nullptr;
  std::string allowed;
  const std::string* pattern = nullptr;
  router.Match(&probe, &handler, &allowed, nullptr, &pattern);
  Record(method, pattern, status);
}

std::optional<HttpResponse> HttpServer::Impl::Admit(const framing::Head& head) const {
  std::optional<HttpResponse> refusal = AdmitOrRefuse(head);
  if (refusal) {
    RecordPath(head.method, httplib::detail::decode_url(head.target.substr(0, head.target.find('?')), false),
               refusal->status);
  }
  return refusal;
}

std::optional<HttpResponse> HttpServer::Impl::AdmitOrRefuse(const framing::Head& head) const {
  // Only methods a route serves: anything else (PRI, TRACE, CONNECT, ...)
  // would have its body read by httplib with no cap.
  if (!router.ServesMethod(head.method)) {
    HttpResponse res = ErrorResponse(405, "BadRequest", "method " + framing::LogSafe(head.method, 32) + " is not served");
    res.headers.emplace_back("Allow", router.Methods());
    return res;
  }
  // A compressed body could inflate far past the limit (httplib would
  // decompress it); cameras and SDKs send images as they are.
  if (auto encoding = head.Find("Content-Encoding"); encoding && !IEquals(*encoding, "identity")) {
    return ErrorResponse(415, "BadRequest", "Content-Encoding '" + framing::LogSafe(*encoding, 32) +
                                                "' is not accepted; send the bytes as they are");
  }
  if (head.body == framing::Head::Body::kLength && head.content_length > limits.max_body_bytes) {
    return BodyTooLarge(limits.max_body_bytes);
  }
  if (std::optional<HttpResponse> refusal = CrossSite(head)) return refusal;
  HttpRequest probe;
  probe.method = head.method == "HEAD" ? "GET" : head.method;
  probe.path = httplib::detail::decode_url(head.target.substr(0, head.target.find('?')), false);
  const Handler* handler = nullptr;
  std::string allowed;
  Access route_access = Access::kAdmin;
  const Router::MatchResult match = router.Match(&probe, &handler, &allowed, &route_access);
  if (match != Router::MatchResult::kFound) {
    // Without a body, Handle answers it and the connection lives on; with
    // one, refuse before reading a byte of it.
    if (!head.HasBody()) return std::nullopt;
    return RouteMiss(probe, match, allowed);
  }
  if (access.enabled()) {
    const std::optional<std::string_view> key = head.Find(kKeyHeader);
    const std::optional<std::string_view> authorization = head.Find("Authorization");
    if (!access.Allows(route_access, PresentedKey(key.value_or(std::string_view()),
                                                  authorization.value_or(std::string_view())))) {
      return ErrorResponse(401, "Unauthorized",
                           "Access denied: this route needs a valid key in the Prediction-Key header");
    }
  }
  return std::nullopt;
}

Status HttpServer::Impl::Configure(HttpServer* owner) {
  if (server) return Status::Ok();
  if (!tls.cert_file.empty() || !tls.key_file.empty()) {
    EV_ASSIGN_OR_RETURN(ssl_ctx, transport::MakeTlsContext(tls.cert_file, tls.key_file));
  }
  server = std::make_unique<transport::ConnectionServer>(limits, ssl_ctx.get());
  httplib::Server& s = *server;
  const ServerLimits& l = limits;
  s.set_payload_max_length(l.max_body_bytes);
  s.set_keep_alive_timeout(std::max<time_t>(1, std::chrono::duration_cast<std::chrono::seconds>(l.keep_alive_timeout).count()));
  s.set_keep_alive_max_count(static_cast<size_t>(l.keep_alive_max_requests));
  s.set_tcp_nodelay(true);
  // Every request head has passed framing::ParseHead and Admit before
  // httplib reads it (transport.cc).
  server->SetAdmission([this](const framing::Head& head) { return Admit(head); });
  // Every request is routed by our Router. Bodies are read through httplib's
  // ContentReader, which (unlike its default body reading) applies no
  // form-urlencoded size cap: `curl --data-binary @x.jpg` sends a JPEG labelled
  // application/x-www-form-urlencoded, and the container accepts it. The
  // transport hands httplib only the body its framing allows (Content-Length
  // checked by Admit, chunked bodies capped while streaming); the receiver
  // counts again. Multipart bodies are split by framing::ParseMultipart
  // (httplib never sees them as multipart: RebuildHead renames the type).
  auto without_body = [owner](const httplib::Request& req, httplib::Response& res) {
    transport::MarkBodyRead();
    ToHttplib(owner->Handle(FromHttplib(req)), &res);
  };
  auto with_body = [this, owner, max = l.max_body_bytes](const httplib::Request& req, httplib::Response& res,
                                                   const httplib::ContentReader& reader) {
    HttpRequest request = FromHttplib(req);
    // One allocation for a declared length (Admit capped it), not doubling.
    if (const framing::Head* head = transport::CurrentHead(); head && head->body == framing::Head::Body::kLength) {
      request.body.reserve(static_cast<size_t>(std::min<uint64_t>(head->content_length, max)));
    }
    bool too_large = false;
    const bool read_ok = reader([&](const char* data, size_t n) {
      too_large = request.body.size() + n > max;
      if (too_large) return false;
      request.body.append(data, n);
      return true;
    });
    transport::MarkBodyRead();
    if (!read_ok || too_large) {
      const std::optional<framing::FramingError> refused = transport::CurrentFramingError();
      const HttpResponse e = refused                         ? FramingRefusal(*refused)
                             : too_large || res.status == 413
                                 ? BodyTooLarge(max)
                                 : ErrorResponse(400, "BadRequest", "the request body could not be read");
      RecordPath(request.method, request.path, e.status);
      RefuseAndClose(e, &res);
      return;
    }
    if (std::optional<std::string> boundary = framing::MultipartBoundary(request.Header("Content-Type"))) {
      framing::FormResult form = framing::ParseMultipart(request.body, *boundary, max);
      request.body = std::string();
      if (form.error) {
        const HttpResponse e = FramingRefusal(*form.error);
        RecordPath(request.method, request.path, e.status);
        RefuseAndClose(e, &res);
        return;
      }
      request.form = std::move(form.parts);
    }
    ToHttplib(owner->Handle(std::move(request)), &res);
  };
  const std::string any = ".*";
  s.Get(any, without_body);
  s.Options(any, without_body);
  s.Post(any, with_body);
  s.Put(any, with_body);
  s.Patch(any, with_body);
  s.Delete(any, with_body);
  // Errors httplib produces itself (malformed or too slow requests).
  s.set_error_handler(httplib::Server::HandlerWithResponse(
      [this, max = l.max_body_bytes, header_max = l.max_header_bytes](const httplib::Request& req,
                                                                      httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        HttpResponse e;
        switch (transport::CurrentReadFailure()) {
          case transport::ReadFailure::kHeaderTimeout:
            e = ErrorResponse(408, "BadRequest", "the request headers did not arrive in time");
            break;
          case transport::ReadFailure::kHeaderTooLarge:
            e = ErrorResponse(431, "BadRequest",
                              "the request headers are larger than " + std::to_string(header_max) + " bytes");
            break;
          case transport::ReadFailure::kTransferTimeout:
            e = ErrorResponse(408, "BadRequest", "the request body did not arrive in time");
            break;
          case transport::ReadFailure::kBadFraming: {
            e = FramingRefusal(transport::CurrentFramingError().value_or(framing::FramingError{400, "bad framing"}));
            break;
          }
          case transport::ReadFailure::kNone:
            if (res.status == 413) {
              e = BodyTooLarge(max);
            } else if (res.status == 414) {
              e = ErrorResponse(414, "BadRequest", "request URI too long");
            } else if (res.status == 404) {
              e = ErrorResponse(405, "BadRequest", "method not supported");
            } else {
              e = ErrorResponse(res.status, "BadRequest", "malformed HTTP request");
            }
            break;
        }
        Record(req.method, nullptr, e.status);
        ToHttplib(e, &res);
        if (e.status != 404 && e.status != 405) {
          res.set_header("Connection", "close");
          transport::CloseAfterResponse();
        }
        return httplib::Server::HandlerResponse::Handled;
      }));
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    ToHttplib(ErrorResponse(500, "ErrorUnknown", "internal error"), &res);
  });
  return Status::Ok();
}

Result<int> HttpServer::Bind(const std::string& host, int port) {
  if (impl_->bound) return Internal("server already bound");
  EV_RETURN_IF_ERROR(impl_->Configure(this));
  httplib::Server& s = *impl_->server;
  bool ok;
  int bound_port = port;
  if (port == 0) {
    bound_port = s.bind_to_any_port(host);
    ok = bound_port > 0;
  } else {
    ok = s.bind_to_port(host, port);
  }
  if (!ok) return IOError("cannot listen on " + host + ":" + std::to_string(port) + " (in use or not permitted)");
  impl_->server->SetBacklog(impl_->limits.listen_backlog);
  impl_->bound = true;
  return bound_port;
}

Status HttpServer::Serve() {
  if (!impl_->bound) return Internal("Serve() before Bind()");
  const bool ok = impl_->stop_requested || impl_->server->listen_after_bind();
  impl_->server->FinishStop();
  if (!ok && !impl_->stop_requested) return IOError("HTTP server stopped with an error");
  return Status::Ok();
}

void HttpServer::Stop() {
  impl_->stop_requested = true;
  if (impl_->server) impl_->server->BeginStop();
}

bool HttpServer::running() const { return impl_->server && impl_->server->is_running(); }

ServerStats HttpServer::stats() const { return impl_->server ? impl_->server->stats() : ServerStats{}; }

std::string HttpServer::HandleRaw(std::string_view request_bytes) {
  if (!impl_->server) {
    TlsOptions tls = std::move(impl_->tls);
    impl_->tls = {};
    Status s = impl_->Configure(this);
    impl_->tls = std::move(tls);
    if (!s.ok()) return "";
  }
  return impl_->server->ProcessBytes(request_bytes);
}

}  // namespace edgevision::http
