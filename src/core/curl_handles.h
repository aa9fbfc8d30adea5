// RAII owners for libcurl handles: one deleter and one unique_ptr alias each.
//
// Header-only; include it only from targets that link libcurl.
#pragma once

#include <curl/curl.h>

#include <memory>

namespace edgevision {

struct CurlEasyDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct CurlSlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

// An easy handle (curl_easy_init); null when init failed.
using CurlEasyPtr = std::unique_ptr<CURL, CurlEasyDeleter>;
// A header list (curl_slist_append); null is the empty list.
using CurlSlistPtr = std::unique_ptr<curl_slist, CurlSlistDeleter>;

}  // namespace edgevision
