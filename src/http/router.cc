#include "http/router.h"

#include <strings.h>

namespace edgevision::http {

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

bool Router::ServesMethod(const std::string& method) const {
  const std::string& m = method == "HEAD" ? std::string("GET") : method;
  for (const Route& r : routes_) {
    if (r.method == m) return true;
  }
  return false;
}

std::string Router::Methods() const {
  std::string out;
  for (const char* m : {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    if (!ServesMethod(m)) continue;
    if (!out.empty()) out += ", ";
    out += m;
  }
  return out;
}

void Router::Add(std::string method, const std::string& pattern, Handler handler, bool ignore_case,
                 Access access) {
  Route route;
  route.access = access;
  route.method = std::move(method);
  route.pattern = pattern;
  route.ignore_case = ignore_case;
  route.handler = std::move(handler);
  for (const std::string& part : SplitPath(pattern)) {
    Segment seg;
    if (part.size() >= 2 && part.front() == '{' && part.back() == '}') {
      seg.kind = Segment::kParam;
      std::string inner = part.substr(1, part.size() - 2);
      size_t colon = inner.find(':');
      seg.name = inner.substr(0, colon);
      if (colon != std::string::npos) {
        std::string rest = inner.substr(colon + 1);
        size_t start = 0;
        while (start <= rest.size()) {
          size_t bar = rest.find('|', start);
          if (bar == std::string::npos) bar = rest.size();
          seg.choices.push_back(rest.substr(start, bar - start));
          start = bar + 1;
        }
      }
    } else {
      seg.choices = {part};
    }
    route.segments.push_back(std::move(seg));
  }
  routes_.push_back(std::move(route));
}

bool Router::MatchPath(const Route& route, const std::vector<std::string>& parts,
                       std::map<std::string, std::string>* params) {
  if (parts.size() != route.segments.size()) return false;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Segment& seg = route.segments[i];
    bool ok = seg.choices.empty();
    for (const std::string& choice : seg.choices) {
      ok = route.ignore_case ? strcasecmp(choice.c_str(), parts[i].c_str()) == 0 : choice == parts[i];
      if (ok) break;
    }
    if (!ok) return false;
    if (seg.kind == Segment::kParam) (*params)[seg.name] = parts[i];
  }
  return true;
}

Router::MatchResult Router::Match(HttpRequest* request, const Handler** handler, std::string* allowed,
                                  Access* access, const std::string** pattern) const {
  const std::vector<std::string> parts = SplitPath(request->path);
  bool path_matched = false;
  allowed->clear();
  for (const Route& route : routes_) {
    std::map<std::string, std::string> params;
    if (!MatchPath(route, parts, &params)) continue;
    if (route.method == request->method || (request->method == "HEAD" && route.method == "GET")) {
      request->params = std::move(params);
      *handler = &route.handler;
      if (access) *access = route.access;
      if (pattern) *pattern = &route.pattern;
      return MatchResult::kFound;
    }
    path_matched = true;
    if (allowed->find(route.method) == std::string::npos) {
      *allowed += (allowed->empty() ? "" : ", ") + route.method;
    }
  }
  return path_matched ? MatchResult::kMethodNotAllowed : MatchResult::kNotFound;
}

std::vector<std::string> Router::Describe() const {
  std::vector<std::string> out;
  for (const Route& r : routes_) out.push_back(r.method + " " + r.pattern + (r.ignore_case ? " (any case)" : ""));
  return out;
}

}  // namespace edgevision::http
