#include "http/server.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <exception>

#include "http/api_error.h"

namespace edgevision::http {

struct HttpServer::Impl {
  Router router;
  ServerLimits limits;
  TlsOptions tls;
  std::unique_ptr<httplib::Server> server;
  bool bound = false;
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
}

}  // namespace

HttpServer::HttpServer(Router router, ServerLimits limits, TlsOptions tls) : impl_(new Impl) {
  impl_->router = std::move(router);
  impl_->limits = limits;
  impl_->tls = std::move(tls);
}

HttpServer::~HttpServer() { Stop(); }

HttpResponse HttpServer::Handle(HttpRequest request) const {
  const Handler* handler = nullptr;
  std::string allowed;
  switch (impl_->router.Match(&request, &handler, &allowed)) {
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

Result<int> HttpServer::Bind(const std::string& host, int port) {
  if (impl_->bound) return Internal("server already bound");
  if (!impl_->tls.cert_file.empty() || !impl_->tls.key_file.empty()) {
    auto ssl = std::make_unique<httplib::SSLServer>(impl_->tls.cert_file.c_str(), impl_->tls.key_file.c_str());
    if (!ssl->is_valid()) {
      return InvalidArgument("cannot load TLS certificate '" + impl_->tls.cert_file + "' or key '" +
                             impl_->tls.key_file + "'");
    }
    impl_->server = std::move(ssl);
  } else {
    impl_->server = std::make_unique<httplib::Server>();
  }
  httplib::Server& s = *impl_->server;
  const ServerLimits& l = impl_->limits;
  const int threads = l.http_threads;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  s.set_payload_max_length(l.max_body_bytes);
  s.set_read_timeout(l.read_timeout);
  s.set_write_timeout(l.write_timeout);
  s.set_keep_alive_timeout(l.keep_alive_timeout.count());
  s.set_keep_alive_max_count(static_cast<size_t>(l.keep_alive_max_requests));
  s.set_tcp_nodelay(true);
  // Every request is routed by our Router. Bodies are read through httplib's
  // ContentReader, which (unlike its default body reading) applies no
  // form-urlencoded size cap: `curl --data-binary @x.jpg` sends a JPEG labelled
  // application/x-www-form-urlencoded, and the container accepts it.
  auto without_body = [this](const httplib::Request& req, httplib::Response& res) {
    ToHttplib(Handle(FromHttplib(req)), &res);
  };
  auto with_body = [this, max = l.max_body_bytes](const httplib::Request& req, httplib::Response& res,
                                                  const httplib::ContentReader& reader) {
    HttpRequest request = FromHttplib(req);
    bool read_ok;
    if (req.is_multipart_form_data()) {
      std::string current;
      read_ok = reader(
          [&](const httplib::MultipartFormData& part) {
            current = part.name;
            request.form.emplace(part.name, FormPart{part.filename, part.content_type, ""});
            return true;
          },
          [&](const char* data, size_t n) {
            auto it = request.form.find(current);
            for (auto next = it; next != request.form.end() && next->first == current; ++next) it = next;
            if (it == request.form.end()) return false;
            it->second.content.append(data, n);
            return true;
          });
    } else {
      read_ok = reader([&](const char* data, size_t n) {
        request.body.append(data, n);
        return true;
      });
    }
    if (!read_ok) {
      HttpResponse e = res.status == 413
                           ? ErrorResponse(413, "BadRequestImageSizeBytes",
                                           "request body is larger than " + std::to_string(max) + " bytes")
                           : ErrorResponse(400, "BadRequest", "the request body could not be read");
      ToHttplib(e, &res);
      return;
    }
    ToHttplib(Handle(std::move(request)), &res);
  };
  const std::string any = ".*";
  s.Get(any, without_body);
  s.Options(any, without_body);
  s.Post(any, with_body);
  s.Put(any, with_body);
  s.Patch(any, with_body);
  s.Delete(any, with_body);
  // Errors httplib produces itself (body too large, malformed request).
  s.set_error_handler(httplib::Server::HandlerWithResponse(
      [max = l.max_body_bytes](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    HttpResponse e;
    if (res.status == 413) {
      e = ErrorResponse(413, "BadRequestImageSizeBytes",
                        "request body is larger than " + std::to_string(max) + " bytes");
    } else if (res.status == 414) {
      e = ErrorResponse(414, "BadRequest", "request URI too long");
    } else {
      e = ErrorResponse(res.status, "BadRequest", "malformed HTTP request");
    }
    ToHttplib(e, &res);
    return httplib::Server::HandlerResponse::Handled;
  }));
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    ToHttplib(ErrorResponse(500, "ErrorUnknown", "internal error"), &res);
  });
  bool ok;
  int bound_port = port;
  if (port == 0) {
    bound_port = s.bind_to_any_port(host);
    ok = bound_port > 0;
  } else {
    ok = s.bind_to_port(host, port);
  }
  if (!ok) return IOError("cannot listen on " + host + ":" + std::to_string(port) + " (in use or not permitted)");
  impl_->bound = true;
  return bound_port;
}

Status HttpServer::Serve() {
  if (!impl_->bound) return Internal("Serve() before Bind()");
  if (!impl_->server->listen_after_bind()) return IOError("HTTP server stopped with an error");
  return Status::Ok();
}

void HttpServer::Stop() {
  if (impl_ && impl_->server) impl_->server->stop();
}

bool HttpServer::running() const { return impl_->server && impl_->server->is_running(); }

}  // namespace edgevision::http
