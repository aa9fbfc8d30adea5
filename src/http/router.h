// The route table: one ordered list of (method, path pattern, handler).
//
// Patterns are '/'-separated segments: a literal ("image"), a parameter
// ("{project}": any one non-empty segment), or a parameter restricted to
// alternatives ("{version:v3.0|v3.1}"). A route may match literals and
// alternatives case-insensitively (the cloud API's "Prediction" vs
// "prediction"). A trailing '/' on the request path is ignored.
//
// Thread-safety: build the table before serving; Dispatch is then const and
// safe from any thread.
#pragma once

#include <string>
#include <vector>

#include "http/http_types.h"

namespace edgevision::http {

// Who may call a route when keys are configured (see http/access.h).
enum class Access {
  kOpen,     // anyone (GET /, /health/live, static files)
  kHealth,   // read-only health
  kPredict,  // the prediction routes
  kAdmin,    // captures, review data, model reload (the default: fail closed)
};

class Router {
 public:
  // Adds a route; earlier routes win when several match. Routes are kAdmin
  // unless they say otherwise.
  void Add(std::string method, const std::string& pattern, Handler handler, bool ignore_case = false,
           Access access = Access::kAdmin);

  enum class MatchResult { kFound, kNotFound, kMethodNotAllowed };

  // Finds the route for `request`, fills request->params and returns its
  // handler through `handler` and its access class through `access` (when
  // not null), and its pattern through `pattern` (when not null: a pointer
  // into the table, valid as long as the router). kMethodNotAllowed when the
  // path matches a route registered for other methods (`allowed` then lists them).
  MatchResult Match(HttpRequest* request, const Handler** handler, std::string* allowed,
                    Access* access = nullptr, const std::string** pattern = nullptr) const;

  // Whether any route is registered for `method` (HEAD counts as GET), and
  // the methods served, comma-separated (for Allow).
  bool ServesMethod(const std::string& method) const;
  std::string Methods() const;

  // The patterns, for logs and docs.
  std::vector<std::string> Describe() const;

 private:
  struct Segment {
    enum Kind { kLiteral, kParam } kind = kLiteral;
    std::string name;                  // parameter name
    std::vector<std::string> choices;  // literal text, or the allowed values (empty = any)
  };
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<Segment> segments;
    bool ignore_case = false;
    Access access = Access::kAdmin;
    Handler handler;
  };

  static bool MatchPath(const Route& route, const std::vector<std::string>& parts,
                        std::map<std::string, std::string>* params);

  std::vector<Route> routes_;
};

// Splits a path into its non-empty segments.
std::vector<std::string> SplitPath(const std::string& path);

}  // namespace edgevision::http
