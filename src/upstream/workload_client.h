// The IoT Edge workload API as a module uses it: sign a SAS string-to-sign
// with the module's key (which the module never sees) and fetch the trust
// bundle that verifies edgeHub's TLS certificate.
//
//   POST {uri}/modules/{module}/genid/{genid}/sign?api-version=2019-01-30
//        {"keyId":"primary","algo":"HMACSHA256","data":"<base64>"} -> {"digest":"<base64>"}
//   GET  {uri}/trust-bundle?api-version=2019-01-30 -> {"certificate":"<PEM>"}
//
// {uri} is IOTEDGE_WORKLOADURI: "unix:///path/to/workload.sock" (requests go
// over the unix socket, libcurl's CURLOPT_UNIX_SOCKET_PATH) or
// "http://host:port". Each call is one short HTTP request with timeouts.
//
// Thread-safety: immutable after construction; calls may run on any thread.
#pragma once

#include <chrono>
#include <string>

#include "core/status.h"
#include "upstream/iothub_auth.h"

namespace edgevision::upstream {

inline constexpr std::string_view kWorkloadApiVersion = "2019-01-30";

class WorkloadClient {
 public:
  // Errors: InvalidArgument for a URI that is neither unix:// nor http://.
  static Result<WorkloadClient> Create(
      const std::string& workload_uri, std::string module_id, std::string generation_id,
      std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // The base64 HMAC-SHA256 of `data` under the module's primary key.
  // Errors: Unavailable (no answer, HTTP error; names the status and the
  // API's message), InvalidArgument (a malformed answer).
  Result<std::string> Sign(std::string_view data) const;

  // PEM certificates. Errors as Sign.
  Result<std::string> TrustBundle() const;

 private:
  WorkloadClient() = default;
  Result<std::string> Request(const std::string& method, const std::string& path,
                              const std::string& body) const;

  std::string socket_path_;  // "" when base_url_ is a TCP URL
  std::string base_url_;     // "http://localhost" for a unix socket
  std::string module_id_;
  std::string generation_id_;
  std::chrono::milliseconds timeout_{10000};
};

// A SasSigner backed by the workload API.
class WorkloadSigner : public SasSigner {
 public:
  explicit WorkloadSigner(WorkloadClient client) : client_(std::move(client)) {}
  Result<std::string> Sign(std::string_view string_to_sign) override {
    return client_.Sign(string_to_sign);
  }

 private:
  WorkloadClient client_;
};

}  // namespace edgevision::upstream
