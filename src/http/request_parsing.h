// What the routes read from a request's bytes: route parameters, the image
// of an image route, the URL of a /url route, the label of a capture. Pure
// functions over untrusted input (fuzzed by fuzz/request_fuzzer.cc).
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "http/http_types.h"
#include "store/capture_store.h"

namespace edgevision::http {

// Longest accepted route parameter (project id, published name, capture id).
inline constexpr size_t kMaxParamLength = 256;

// A JSON body (/url, a capture label) is refused before parsing when it is
// larger than this or nests deeper: a 4 MiB body of nested arrays would
// otherwise become a DOM of ~200 MiB.
inline constexpr size_t kMaxJsonBodyBytes = 64 * 1024;
inline constexpr int kMaxJsonDepth = 16;

// Route parameters must be at most kMaxParamLength bytes without control
// characters. Errors: InvalidArgument naming the parameter.
Status CheckRouteParams(const HttpRequest& req);

// The image bytes of an image route: the multipart part named imageData,
// else the raw body. The span points into `req`. Errors: InvalidArgument
// (no imageData part, empty body).
Result<std::span<const uint8_t>> ImageBytes(const HttpRequest& req);

// The URL of a /url route's JSON body {"url": "..."} ("Url" and "URL" too).
// Errors: InvalidArgument (not a JSON object, no url, not a non-empty string,
// over kMaxJsonBodyBytes or kMaxJsonDepth).
Result<std::string> ImageUrl(std::string_view body);

// The body of PUT /captures/{id}/label: {"label": "<tag>"} or {"label": null}
// (nullopt). Errors: InvalidArgument.
Result<std::optional<std::string>> LabelFromBody(std::string_view body);

// The body of PUT /captures/{id}/regions:
//   {"regions": [{"tagName": "<tag>", "left": l, "top": t, "width": w, "height": h}, ...]}
// (normalised numbers, as Custom Vision training's regions) or
// {"regions": null} (nullopt: not reviewed). Only the shape is checked
// here; the store checks ranges and tags. Errors: InvalidArgument naming
// the member.
Result<std::optional<std::vector<store::Region>>> RegionsFromBody(std::string_view body);

}  // namespace edgevision::http
