// The review page's static files, embedded in the binary at build time
// (embed_assets.cmake turns each file into bytes in a generated .cc; nothing
// is fetched at run time and no tool beyond CMake is needed).
#pragma once

#include <cstddef>

namespace edgevision::http::review_page {

struct Asset {
  const char* path;          // URL path, e.g. "/review/review.js"
  const char* content_type;  // e.g. "text/javascript; charset=utf-8"
  const unsigned char* data;
  size_t size;
  const char* etag;  // SHA-256 of the bytes (hex), computed at build time
};

extern const Asset kAssets[];
extern const size_t kAssetCount;

}  // namespace edgevision::http::review_page
