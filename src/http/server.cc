#include "http/server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>
#include <strings.h>

#include <exception>

#include "http/api_error.h"
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

  // Creates and configures the httplib server (plain or TLS).
  Status Configure(HttpServer* owner);
  // A refusal decided from the request head alone, before any body is read.
  std::optional<HttpResponse> Precheck(const httplib::Request& req) const;
};

namespace {

HttpRequest FromHttplib(const httplib::Request& req) {
  HttpRequest r;
  r.method = req.method;
  r.path = req.path;
  for (const auto& [k, v] : req.headers) r.headers.emplace(k, v);
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

HttpResponse BodyTooLarge(size_t max) {
  return ErrorResponse(413, "BadRequestImageSizeBytes", "request body is larger than " + std::to_string(max) + " bytes");
}

bool ExpectsBody(const std::string& method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
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

HttpResponse HttpServer::Handle(HttpRequest request) const {
  const Handler* handler = nullptr;
  std::string allowed;
  Access access = Access::kAdmin;
  switch (impl_->router.Match(&request, &handler, &allowed, &access)) {
    case Router::MatchResult::kNotFound:
      return ErrorResponse(404, "NotFound", "no route for " + request.method + " " + request.path);
    case Router::MatchResult::kMethodNotAllowed: {
      HttpResponse res = ErrorResponse(405, "BadRequest", request.path + " accepts " + allowed);
      res.headers.emplace_back("Allow", allowed);
      return res;
    }
    case Router::MatchResult::kFound:
      break;
  }
  if (!impl_->access.Allows(access, request.Header(kKeyHeader))) {
    return ErrorResponse(401, "Unauthorized",
                         "Access denied: this route needs a valid key in the Prediction-Key header");
  }
  try {
    return (*handler)(request);
  } catch (const std::exception& e) {
    spdlog::error("handler for {} {} threw: {}", request.method, request.path, e.what());
    return ErrorResponse(500, "ErrorUnknown", "internal error");
  } catch (...) {
    spdlog::error("handler for {} {} threw a non-exception", request.method, request.path);
    return ErrorResponse(500, "ErrorUnknown", "internal error");
  }
}

std::optional<HttpResponse> HttpServer::Impl::Precheck(const httplib::Request& req) const {
  // A compressed body could inflate far past the limit (httplib would
  // decompress it); cameras and SDKs send images as they are.
  const std::string encoding = req.get_header_value("Content-Encoding");
  if (!encoding.empty() && strcasecmp(encoding.c_str(), "identity") != 0) {
    return ErrorResponse(415, "BadRequest",
                         "Content-Encoding '" + encoding.substr(0, 32) + "' is not accepted; send the bytes as they are");
  }
  const std::string transfer = req.get_header_value("Transfer-Encoding");
  if (!transfer.empty() && strcasecmp(transfer.c_str(), "chunked") != 0) {
    return ErrorResponse(400, "BadRequest", "Transfer-Encoding '" + transfer.substr(0, 32) + "' is not supported");
  }
  if (req.has_header("Content-Length")) {
    const std::string text = req.get_header_value("Content-Length");
    char* end = nullptr;
    errno = 0;
    const unsigned long long length = std::strtoull(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno == ERANGE || text[0] == '-') {
      return ErrorResponse(400, "BadRequest", "malformed Content-Length");
    }
    if (length > limits.max_body_bytes) return BodyTooLarge(limits.max_body_bytes);
  }
  if (access.enabled()) {
    HttpRequest head;
    head.method = req.method;
    head.path = req.path;
    const Handler* handler = nullptr;
    std::string allowed;
    Access route_access = Access::kAdmin;
    if (router.Match(&head, &handler, &allowed, &route_access) == Router::MatchResult::kFound &&
        !access.Allows(route_access, req.get_header_value(std::string(kKeyHeader).c_str()))) {
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
  s.set_pre_routing_handler([this, owner](const httplib::Request& req, httplib::Response& res) {
    if (std::optional<HttpResponse> refusal = Precheck(req)) {
      RefuseAndClose(*refusal, &res);
      return httplib::Server::HandlerResponse::Handled;
    }
    // HTTP/1.1: a request with neither Content-Length nor chunked encoding
    // has no body (httplib would wait for the connection to close).
    if (ExpectsBody(req.method) && !req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
      transport::MarkBodyRead();
      ToHttplib(owner->Handle(FromHttplib(req)), &res);
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // Every request is routed by our Router. Bodies are read through httplib's
  // ContentReader, which (unlike its default body reading) applies no
  // form-urlencoded size cap: `curl --data-binary @x.jpg` sends a JPEG labelled
  // application/x-www-form-urlencoded, and the container accepts it. The
  // receivers count bytes themselves: httplib does not limit chunked bodies.
  auto without_body = [owner](const httplib::Request& req, httplib::Response& res) {
    transport::MarkBodyRead();
    ToHttplib(owner->Handle(FromHttplib(req)), &res);
  };
  auto with_body = [owner, max = l.max_body_bytes](const httplib::Request& req, httplib::Response& res,
                                                   const httplib::ContentReader& reader) {
    HttpRequest request = FromHttplib(req);
    size_t total = 0;
    bool too_large = false;
    auto count = [&](size_t n) {
      total += n;
      if (total > max) too_large = true;
      return !too_large;
    };
    bool read_ok;
    if (req.is_multipart_form_data()) {
      std::multimap<std::string, FormPart>::iterator current = request.form.end();
      read_ok = reader(
          [&](const httplib::MultipartFormData& part) {
            if (!count(part.name.size() + part.filename.size() + part.content_type.size())) return false;
            current = request.form.emplace(part.name, FormPart{part.filename, part.content_type, ""});
            return true;
          },
          [&](const char* data, size_t n) {
            if (current == request.form.end() || !count(n)) return false;
            current->second.content.append(data, n);
            return true;
          });
    } else {
      read_ok = reader([&](const char* data, size_t n) {
        if (!count(n)) return false;
        request.body.append(data, n);
        return true;
      });
    }
    transport::MarkBodyRead();
    if (!read_ok || too_large) {
      const HttpResponse e = too_large || res.status == 413
                                 ? BodyTooLarge(max)
                                 : ErrorResponse(400, "BadRequest", "the request body could not be read");
      RefuseAndClose(e, &res);
      return;
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
      [max = l.max_body_bytes, header_max = l.max_header_bytes](const httplib::Request&, httplib::Response& res) {
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
