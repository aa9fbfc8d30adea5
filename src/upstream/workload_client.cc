#include "upstream/workload_client.h"

#include <curl/curl.h>

#include <memory>

#include "core/curl_handles.h"
#include "upstream/message_codec.h"

namespace edgevision::upstream {

namespace {

constexpr size_t kMaxResponseBytes = 1 << 20;  // trust bundles are a few KiB

size_t Collect(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  if (out->size() + size * n > kMaxResponseBytes) return 0;  // abort: too large
  out->append(data, size * n);
  return size * n;
}

}  // namespace

Result<WorkloadClient> WorkloadClient::Create(const std::string& workload_uri,
                                              std::string module_id, std::string generation_id,
                                              std::chrono::milliseconds timeout) {
  WorkloadClient client;
  if (workload_uri.rfind("unix://", 0) == 0) {
    client.socket_path_ = workload_uri.substr(7);
    if (client.socket_path_.empty())
      return InvalidArgument("IOTEDGE_WORKLOADURI: empty unix socket path");
    client.base_url_ = "http://localhost";
  } else if (workload_uri.rfind("http://", 0) == 0) {
    client.base_url_ = workload_uri;
    while (!client.base_url_.empty() && client.base_url_.back() == '/') client.base_url_.pop_back();
  } else {
    return InvalidArgument("IOTEDGE_WORKLOADURI '" + workload_uri +
                           "' is neither unix:// nor http://");
  }
  if (module_id.empty()) return InvalidArgument("IoT Edge module id is empty");
  if (generation_id.empty()) return InvalidArgument("IOTEDGE_MODULEGENERATIONID is empty");
  client.module_id_ = std::move(module_id);
  client.generation_id_ = std::move(generation_id);
  client.timeout_ = timeout;
  return client;
}

Result<std::string> WorkloadClient::Request(const std::string& method, const std::string& path,
                                            const std::string& body) const {
  CurlEasyPtr curl(curl_easy_init());
  if (!curl) return Internal("curl_easy_init failed");
  const std::string url = base_url_ + path;
  std::string response;
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  if (!socket_path_.empty())
    curl_easy_setopt(curl.get(), CURLOPT_UNIX_SOCKET_PATH, socket_path_.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl_easy_setopt(curl.get(), CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(timeout_.count()));
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_PROXY, "");  // never through an http_proxy
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &Collect);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &response);
  curl_easy_setopt(curl.get(), CURLOPT_ERRORBUFFER, error);
  CurlSlistPtr headers;
  if (method == "POST") {
    headers.reset(curl_slist_append(nullptr, "Content-Type: application/json"));
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, body.c_str());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  }
  const std::string where = "workload API " + method + " " + path.substr(0, path.find('?')) +
                            (socket_path_.empty() ? "" : " (" + socket_path_ + ")");
  const CURLcode rc = curl_easy_perform(curl.get());
  if (rc != CURLE_OK) {
    return Unavailable(where + ": " + (error[0] ? std::string(error) : curl_easy_strerror(rc)));
  }
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    std::string message = DecodeWorkloadError(response);
    if (message.size() > 200) message.resize(200);
    return Unavailable(where + ": HTTP " + std::to_string(status) +
                       (message.empty() ? "" : ": " + message));
  }
  return response;
}

Result<std::string> WorkloadClient::Sign(std::string_view data) const {
  const std::string path = "/modules/" + UrlEncode(module_id_) + "/genid/" +
                           UrlEncode(generation_id_) +
                           "/sign?api-version=" + std::string(kWorkloadApiVersion);
  EV_ASSIGN_OR_RETURN(std::string body,
                      Request("POST", path, EncodeSignRequest(Base64Encode(data))));
  return DecodeSignResponse(body);
}

Result<std::string> WorkloadClient::TrustBundle() const {
  EV_ASSIGN_OR_RETURN(
      std::string body,
      Request("GET", "/trust-bundle?api-version=" + std::string(kWorkloadApiVersion), ""));
  return DecodeTrustBundleResponse(body);
}

}  // namespace edgevision::upstream
