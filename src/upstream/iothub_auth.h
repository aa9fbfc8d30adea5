// Azure IoT Hub identity and shared-access-signature (SAS) authentication for
// MQTT, exactly as IoT Hub and edgeHub require (docs/upstream.md lists the
// sources):
//
//   client id  {deviceId} | {deviceId}/{moduleId}
//   username   {hub}/{deviceId}[/{moduleId}]/?api-version=2021-04-12
//   password   SharedAccessSignature sr={enc(uri)}&sig={enc(b64(hmac))}&se={expiry}
//              uri = {hub}/devices/{deviceId}[/modules/{moduleId}]
//              hmac = HMAC-SHA256(b64decode(key), enc(uri) + "\n" + expiry)
//   telemetry  devices/{d}[/modules/{m}]/messages/events/{property bag}
//
// enc() is libcurl's percent-encoding (RFC 3986 unreserved characters kept,
// upper-case hex), as the SDKs produce it. HMAC and base64 are OpenSSL's.
//
// Secrets: functions that take a key never put it (or any part of it) into a
// Status message.
//
// Thread-safety: free functions and values; KeySigner is immutable.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/base64.h"
#include "core/status.h"

namespace edgevision::upstream {

inline constexpr std::string_view kIotHubApiVersion = "2021-04-12";

// Percent-encodes every byte except RFC 3986 unreserved ones (A-Z a-z 0-9 - . _ ~).
std::string UrlEncode(std::string_view text);

// Base64 lives in core (shared with the Training API client).
using ::edgevision::Base64Decode;
using ::edgevision::Base64Encode;

// Raw 32-byte HMAC-SHA256 of `data` under `key`.
std::string HmacSha256(std::string_view key, std::string_view data);

// A device or module identity on a hub.
struct IotHubIdentity {
  std::string host_name;  // the hub, e.g. "myhub.azure-devices.net"
  std::string device_id;
  std::string module_id;  // empty for a device

  std::string ClientId() const;
  std::string Username() const;
  // "{hub}/devices/{d}[/modules/{m}]" (not encoded).
  std::string ResourceUri() const;
  // "devices/{d}[/modules/{m}]/messages/events/" (no property bag).
  std::string TelemetryTopicBase() const;
};

// The telemetry topic for one JSON message: the base plus the property bag
// `%24.on={output}&%24.mid={id}&%24.ct=application%2Fjson&%24.ce=utf-8`
// ($.on only when `output` is not empty, $.mid only when `message_id` is not).
std::string TelemetryTopic(const IotHubIdentity& identity, std::string_view output,
                           std::string_view message_id);

// "{enc(uri)}\n{expiry}": what the key (or the IoT Edge workload API) signs.
std::string SasStringToSign(std::string_view encoded_resource_uri, int64_t expiry_unix_s);

// "SharedAccessSignature sr={encoded_uri}&sig={enc(signature_b64)}&se={expiry}"
// (+ "&skn={enc(key_name)}" before &se when a policy key name is given).
std::string SasToken(std::string_view encoded_resource_uri, std::string_view signature_b64,
                     int64_t expiry_unix_s, std::string_view key_name = {});

// Signs a SAS string-to-sign; returns the base64 signature.
// Implementations: KeySigner (a shared access key), WorkloadSigner (IoT Edge).
class SasSigner {
 public:
  virtual ~SasSigner() = default;
  // Errors: whatever prevented signing (Unavailable for a workload API that
  // does not answer); never includes key material.
  virtual Result<std::string> Sign(std::string_view string_to_sign) = 0;
};

// Signs with a base64 shared access key held in memory.
class KeySigner : public SasSigner {
 public:
  // Errors: InvalidArgument when the key is not base64 or is empty.
  static Result<KeySigner> Create(std::string_view key_base64);
  Result<std::string> Sign(std::string_view string_to_sign) override;

 private:
  explicit KeySigner(std::string key) : key_(std::move(key)) {}
  std::string key_;  // decoded key bytes
};

// A complete SAS token for `identity`, valid until `expiry`.
Result<std::string> MakeSasToken(const IotHubIdentity& identity, SasSigner& signer,
                                 std::chrono::system_clock::time_point expiry);

// The fields of an IoT Hub connection string
// "HostName=…;DeviceId=…[;ModuleId=…];SharedAccessKey=…[;GatewayHostName=…]".
struct ConnectionString {
  IotHubIdentity identity;
  std::string shared_access_key;  // base64; a secret
  std::string gateway_host_name;  // connect here instead of the hub (edgeHub as gateway)
};

// Errors: InvalidArgument naming the missing, duplicated, empty or unknown
// field (never echoing the key), or SharedAccessSignature / x509 connection
// strings (Unsupported: they need a token or certificate we do not manage).
Result<ConnectionString> ParseConnectionString(std::string_view text);

}  // namespace edgevision::upstream
