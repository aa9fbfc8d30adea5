// libcurl, loaded when it is first used (issue 17, part 2: footprint).
//
// libcurl and the 24 libraries it pulls in (GnuTLS, Kerberos, LDAP, SSH,
// RTMP, nghttp2…) cost 4 MB of RSS in every process that links them, and a
// server uses them only to fetch an image URL, to talk to IoT Edge's
// workload API, to download a model or to upload to Custom Vision. This file
// defines the libcurl functions edgevision calls (the two variadic ones in
// curl_lazy_varargs.c: see there why in C); each forwards to the
// function of the same name in libcurl.so.4, which is dlopen()ed (RTLD_LOCAL)
// on the first call. The callers include <curl/curl.h> and call curl as
// usual; the binary does not link libcurl (tests/stream/needed_libraries_test.sh).
// The .deb still Depends on libcurl4 (packaging/CMakeLists.txt).
//
// When libcurl cannot be loaded, every function fails the way libcurl
// reports failure (a null handle, CURLE_FAILED_INIT, CURLUE_OUT_OF_MEMORY),
// and curl_easy_strerror says that libcurl is missing.
//
// The executable does not export these symbols (it is not linked with
// -rdynamic and no shared library it links refers to them), so libcurl's own
// calls to its functions stay inside libcurl.
//
// Thread-safety: the first call loads libcurl under std::call_once.
#include "core/curl_lazy.h"

#include <dlfcn.h>

#include <mutex>

#ifndef EDGEVISION_CURL_SONAME
#error "EDGEVISION_CURL_SONAME is set by src/core/CMakeLists.txt"
#endif

namespace {

// libcurl's functions, as loaded; all null when it could not be loaded.
struct Curl {
  CURLcode (*global_init)(long);
  CURL* (*easy_init)();
  EdgevisionCurlSetopt easy_setopt;
  CURLcode (*easy_perform)(CURL*);
  void (*easy_cleanup)(CURL*);
  EdgevisionCurlGetinfo easy_getinfo;
  void (*easy_reset)(CURL*);
  const char* (*easy_strerror)(CURLcode);
  char* (*easy_escape)(CURL*, const char*, int);
  void (*free)(void*);
  curl_slist* (*slist_append)(curl_slist*, const char*);
  void (*slist_free_all)(curl_slist*);
  time_t (*getdate)(const char*, const time_t*);
  CURLU* (*url)();
  void (*url_cleanup)(CURLU*);
  CURLUcode (*url_get)(CURLU*, CURLUPart, char**, unsigned int);
  CURLUcode (*url_set)(CURLU*, CURLUPart, const char*, unsigned int);
  const char* (*url_strerror)(CURLUcode);
};

template <typename F>
bool Bind(void* lib, const char* name, F* out) {
  *out = reinterpret_cast<F>(dlsym(lib, name));
  return *out != nullptr;
}

const Curl& Get() {
  static Curl curl{};
  static std::once_flag once;
  std::call_once(once, [] {
    // Kept loaded for the process's life: handles may outlive any scope.
    void* lib = dlopen(EDGEVISION_CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) return;
    Curl c{};
    const bool ok = Bind(lib, "curl_global_init", &c.global_init) && Bind(lib, "curl_easy_init", &c.easy_init) &&
                    Bind(lib, "curl_easy_setopt", &c.easy_setopt) && Bind(lib, "curl_easy_perform", &c.easy_perform) &&
                    Bind(lib, "curl_easy_cleanup", &c.easy_cleanup) &&
                    Bind(lib, "curl_easy_getinfo", &c.easy_getinfo) && Bind(lib, "curl_easy_reset", &c.easy_reset) &&
                    Bind(lib, "curl_easy_strerror", &c.easy_strerror) &&
                    Bind(lib, "curl_easy_escape", &c.easy_escape) && Bind(lib, "curl_free", &c.free) &&
                    Bind(lib, "curl_slist_append", &c.slist_append) &&
                    Bind(lib, "curl_slist_free_all", &c.slist_free_all) && Bind(lib, "curl_getdate", &c.getdate) &&
                    Bind(lib, "curl_url", &c.url) && Bind(lib, "curl_url_cleanup", &c.url_cleanup) &&
                    Bind(lib, "curl_url_get", &c.url_get) && Bind(lib, "curl_url_set", &c.url_set) &&
                    Bind(lib, "curl_url_strerror", &c.url_strerror);
    if (ok) curl = c;
  });
  return curl;
}

constexpr const char* kMissing = "libcurl (" EDGEVISION_CURL_SONAME ") cannot be loaded: install libcurl4";

}  // namespace

extern "C" {

EdgevisionCurlSetopt edgevision_curl_easy_setopt(void) { return Get().easy_setopt; }

EdgevisionCurlGetinfo edgevision_curl_easy_getinfo(void) { return Get().easy_getinfo; }

CURLcode curl_global_init(long flags) { return Get().global_init ? Get().global_init(flags) : CURLE_FAILED_INIT; }

CURL* curl_easy_init(void) { return Get().easy_init ? Get().easy_init() : nullptr; }

CURLcode curl_easy_perform(CURL* handle) { return Get().easy_perform ? Get().easy_perform(handle) : CURLE_FAILED_INIT; }

void curl_easy_cleanup(CURL* handle) {
  if (Get().easy_cleanup) Get().easy_cleanup(handle);
}

void curl_easy_reset(CURL* handle) {
  if (Get().easy_reset) Get().easy_reset(handle);
}

const char* curl_easy_strerror(CURLcode code) { return Get().easy_strerror ? Get().easy_strerror(code) : kMissing; }

char* curl_easy_escape(CURL* handle, const char* text, int length) {
  return Get().easy_escape ? Get().easy_escape(handle, text, length) : nullptr;
}

void curl_free(void* p) {
  if (Get().free) Get().free(p);
}

curl_slist* curl_slist_append(curl_slist* list, const char* text) {
  return Get().slist_append ? Get().slist_append(list, text) : nullptr;
}

void curl_slist_free_all(curl_slist* list) {
  if (Get().slist_free_all) Get().slist_free_all(list);
}

time_t curl_getdate(const char* text, const time_t* unused) { return Get().getdate ? Get().getdate(text, unused) : -1; }

CURLU* curl_url(void) { return Get().url ? Get().url() : nullptr; }

void curl_url_cleanup(CURLU* handle) {
  if (Get().url_cleanup) Get().url_cleanup(handle);
}

CURLUcode curl_url_get(CURLU* handle, CURLUPart what, char** part, unsigned int flags) {
  return Get().url_get ? Get().url_get(handle, what, part, flags) : CURLUE_OUT_OF_MEMORY;
}

CURLUcode curl_url_set(CURLU* handle, CURLUPart what, const char* part, unsigned int flags) {
  return Get().url_set ? Get().url_set(handle, what, part, flags) : CURLUE_OUT_OF_MEMORY;
}

const char* curl_url_strerror(CURLUcode code) { return Get().url_strerror ? Get().url_strerror(code) : kMissing; }

}  // extern "C"
