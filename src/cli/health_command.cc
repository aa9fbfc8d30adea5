// `edgevision health`: the container's HEALTHCHECK without curl or wget in
// the image. GETs the server's /health (or --url) with libcurl, which the
// binary links anyway, and exits 0 on HTTP 200, 1 otherwise (503 while the
// model loads or after it failed, connection refused, timeout).
#include <curl/curl.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include "cli/commands.h"
#include "cli/load.h"
#include "core/curl_handles.h"

namespace edgevision::cli {

namespace {

// The body is not needed; cap what is kept so a hostile endpoint cannot grow it.
constexpr size_t kMaxHealthBodyBytes = 64 * 1024;

size_t KeepBody(char* data, size_t size, size_t count, void* user) {
  auto* body = static_cast<std::string*>(user);
  const size_t n = size * count;
  if (body->size() < kMaxHealthBodyBytes)
    body->append(data, std::min(n, kMaxHealthBodyBytes - body->size()));
  return n;
}

// Whether `url` names this machine (localhost, 127.0.0.0/8, ::1).
bool OnLoopback(const std::string& url) {
  CURLU* u = curl_url();
  if (!u) return false;
  char* host = nullptr;
  bool loopback = false;
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host) {
    const std::string h = host;
    loopback = h == "localhost" || h.rfind("127.", 0) == 0 || h == "[::1]" || h == "::1";
  }
  curl_free(host);
  curl_url_cleanup(u);
  return loopback;
}

}  // namespace

int RunHealth(const HealthOptions& options) {
  std::string url = options.url;
  if (url.empty()) {
    const std::string host =
        options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host;
    url = (options.tls ? "https://" : "http://") + host + ":" + std::to_string(options.port) +
          options.path;
  }
  CurlEasyPtr curl(curl_easy_init());
  if (!curl) {
    PrintError(Internal("libcurl: cannot create a handle"));
    return 1;
  }
  CURL* c = curl.get();
  std::string body;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  // Straight to the server: a proxy from the environment would see the key.
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, KeepBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.timeout_s * 1000));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  if (OnLoopback(url)) {
    // The server's own certificate is usually self-issued for the device; on
    // loopback the check is about liveness, and the key stays on the machine.
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  CurlSlistPtr headers;
  if (!options.key_file.empty()) {
    // A health key (docs/security.md) travels like the cloud's Prediction-Key.
    std::ifstream in(options.key_file);
    std::string key;
    std::getline(in, key);
    while (!key.empty() && (key.back() == '\r' || key.back() == ' ')) key.pop_back();
    if (!in && key.empty()) {
      PrintError(IOError(options.key_file + ": cannot read the key"));
      return 1;
    }
    headers.reset(curl_slist_append(nullptr, ("Prediction-Key: " + key).c_str()));
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  }
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) {
    PrintError(Unavailable(url + ": " + curl_easy_strerror(rc)));
    return 1;
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (!options.quiet) std::printf("%ld %s\n", status, body.c_str());
  return status == 200 ? 0 : 1;
}

}  // namespace edgevision::cli
