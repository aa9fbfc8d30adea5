// Our own HTTP request/response types. cpp-httplib stays inside server.cc;
// handlers, routes and tests see only these.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edgevision::http {

// Case-insensitive ordering for header names.
struct CaseInsensitiveLess {
  bool operator()(std::string_view a, std::string_view b) const;
};

// One part of a multipart/form-data body.
struct FormPart {
  std::string filename;
  std::string content_type;
  std::string content;
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // decoded path, no query
  std::map<std::string, std::string, CaseInsensitiveLess> headers;
  std::multimap<std::string, std::string> query;
  std::string body;  // raw body (empty for multipart, see `form`)
  std::multimap<std::string, FormPart> form;  // multipart/form-data parts by field name
  std::map<std::string, std::string> params;  // route parameters, filled by the router
  std::string remote_addr;

  // Header value or "" when absent.
  std::string Header(std::string_view name) const;
  // First query value or nullopt.
  std::optional<std::string> Query(const std::string& name) const;
  // Route parameter or "".
  std::string Param(const std::string& name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
};

using Handler = std::function<HttpResponse(const HttpRequest&)>;

}  // namespace edgevision::http
