// curl_easy_setopt and curl_easy_getinfo, libcurl's two variadic functions
// that edgevision calls, forwarding to libcurl's own (loaded by curl_lazy.cc).
//
// They are C, not C++, because va_start names the last parameter before the
// `...`, here a CURLoption or a CURLINFO: an enum. In C an enum type is
// compatible with its underlying integer type (C11 6.7.2.2), which the
// default argument promotions leave as it is, so va_start is defined; in C++
// an enum is a type of its own that promotes to int, and va_start on it is
// undefined behaviour ([cstdarg.syn]; clang's -Wvarargs).
#include <stdarg.h>

#include "core/curl_lazy.h"

// The one argument after `option` has the type the option's number says
// (curl.h: CURLOPTTYPE_*), which is how libcurl itself reads it.
CURLcode curl_easy_setopt(CURL* handle, CURLoption option, ...) {
  const EdgevisionCurlSetopt setopt = edgevision_curl_easy_setopt();
  if (!setopt) return CURLE_FAILED_INIT;
  va_list args;
  va_start(args, option);
  CURLcode rc;
  if (option < CURLOPTTYPE_OBJECTPOINT) {
    rc = setopt(handle, option, va_arg(args, long));
  } else if (option < CURLOPTTYPE_FUNCTIONPOINT) {
    rc = setopt(handle, option, va_arg(args, void*));
  } else if (option < CURLOPTTYPE_OFF_T) {
    typedef void (*Fn)(void);
    rc = setopt(handle, option, va_arg(args, Fn));
  } else if (option < CURLOPTTYPE_BLOB) {
    rc = setopt(handle, option, va_arg(args, curl_off_t));
  } else {
    rc = setopt(handle, option, va_arg(args, void*));
  }
  va_end(args);
  return rc;
}

// Every CURLINFO takes one pointer.
CURLcode curl_easy_getinfo(CURL* handle, CURLINFO info, ...) {
  const EdgevisionCurlGetinfo getinfo = edgevision_curl_easy_getinfo();
  if (!getinfo) return CURLE_FAILED_INIT;
  va_list args;
  va_start(args, info);
  void* out = va_arg(args, void*);
  va_end(args);
  return getinfo(handle, info, out);
}
