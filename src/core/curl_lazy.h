// Between the two halves of the lazily loaded libcurl (curl_lazy.cc, in C++,
// which loads it; curl_lazy_varargs.c, in C, which defines its two variadic
// functions). Not for callers: they include <curl/curl.h> and call curl as usual.
#pragma once

#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef CURLcode (*EdgevisionCurlSetopt)(CURL*, CURLoption, ...);
typedef CURLcode (*EdgevisionCurlGetinfo)(CURL*, CURLINFO, ...);

// libcurl's own curl_easy_setopt and curl_easy_getinfo, loaded on the first
// call of any of these functions; null when libcurl cannot be loaded.
// Thread-safe.
EdgevisionCurlSetopt edgevision_curl_easy_setopt(void);
EdgevisionCurlGetinfo edgevision_curl_easy_getinfo(void);

#ifdef __cplusplus
}  // extern "C"
#endif
