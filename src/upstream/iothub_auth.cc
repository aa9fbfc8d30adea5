#include "upstream/iothub_auth.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <map>
#include <memory>

// curl_easy_escape ignores its handle argument since 7.82.0; we pass nullptr.
#if LIBCURL_VERSION_NUM < 0x075200
#error "libcurl >= 7.82.0 is required (curl_easy_escape without a handle)"
#endif

namespace edgevision::upstream {

namespace {

struct CurlFree {
  void operator()(char* p) const { curl_free(p); }
};

}  // namespace

std::string UrlEncode(std::string_view text) {
  if (text.empty()) return {};
  std::unique_ptr<char, CurlFree> escaped(
      curl_easy_escape(nullptr, text.data(), static_cast<int>(text.size())));
  return escaped ? std::string(escaped.get()) : std::string();
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &len);
  return std::string(reinterpret_cast<const char*>(digest), len);
}

std::string IotHubIdentity::ClientId() const {
  return module_id.empty() ? device_id : device_id + "/" + module_id;
}

std::string IotHubIdentity::Username() const {
  return host_name + "/" + ClientId() + "/?api-version=" + std::string(kIotHubApiVersion);
}

std::string IotHubIdentity::ResourceUri() const {
  std::string uri = host_name + "/devices/" + device_id;
  if (!module_id.empty()) uri += "/modules/" + module_id;
  return uri;
}

std::string IotHubIdentity::TelemetryTopicBase() const {
  std::string topic = "devices/" + device_id;
  if (!module_id.empty()) topic += "/modules/" + module_id;
  return topic + "/messages/events/";
}

std::string TelemetryTopic(const IotHubIdentity& identity, std::string_view output,
                           std::string_view message_id) {
  // System properties in the order the Python SDK writes them; '$' as %24
  // as both the C and the Python SDKs send it.
  std::string topic = identity.TelemetryTopicBase();
  if (!output.empty()) topic += "%24.on=" + UrlEncode(output) + "&";
  if (!message_id.empty()) topic += "%24.mid=" + UrlEncode(message_id) + "&";
  topic += "%24.ct=application%2Fjson&%24.ce=utf-8";
  return topic;
}

std::string SasStringToSign(std::string_view encoded_resource_uri, int64_t expiry_unix_s) {
  return std::string(encoded_resource_uri) + "\n" + std::to_string(expiry_unix_s);
}

std::string SasToken(std::string_view encoded_resource_uri, std::string_view signature_b64,
                     int64_t expiry_unix_s, std::string_view key_name) {
  std::string token = "SharedAccessSignature sr=" + std::string(encoded_resource_uri) +
                      "&sig=" + UrlEncode(signature_b64);
  if (!key_name.empty()) token += "&skn=" + UrlEncode(key_name);
  token += "&se=" + std::to_string(expiry_unix_s);
  return token;
}

Result<KeySigner> KeySigner::Create(std::string_view key_base64) {
  if (key_base64.empty()) return InvalidArgument("SharedAccessKey is empty");
  Result<std::string> key = Base64Decode(key_base64);
  if (!key.ok()) return InvalidArgument("SharedAccessKey is not valid base64");
  if (key->empty()) return InvalidArgument("SharedAccessKey is empty");
  return KeySigner(std::move(key).value());
}

Result<std::string> KeySigner::Sign(std::string_view string_to_sign) {
  return Base64Encode(HmacSha256(key_, string_to_sign));
}

Result<std::string> MakeSasToken(const IotHubIdentity& identity, SasSigner& signer,
                                 std::chrono::system_clock::time_point expiry) {
  const int64_t se =
      std::chrono::duration_cast<std::chrono::seconds>(expiry.time_since_epoch()).count();
  const std::string sr = UrlEncode(identity.ResourceUri());
  EV_ASSIGN_OR_RETURN(std::string sig, signer.Sign(SasStringToSign(sr, se)));
  return SasToken(sr, sig, se);
}

Result<ConnectionString> ParseConnectionString(std::string_view text) {
  // Trim surrounding whitespace (a trailing newline from a secrets file).
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.remove_suffix(1);
  while (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  if (text.empty()) return InvalidArgument("connection string: empty");
  std::map<std::string, std::string, std::less<>> fields;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find(';', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view part = text.substr(pos, end - pos);
    pos = end + 1;
    if (part.empty()) {
      if (end == text.size()) break;  // a trailing ';' is fine
      return InvalidArgument("connection string: empty field (';;')");
    }
    // Values may contain '=' (base64 padding): split at the first one.
    const size_t eq = part.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      return InvalidArgument("connection string: field " + std::to_string(fields.size() + 1) +
                             " is not Name=value");
    }
    std::string name(part.substr(0, eq));
    if (name == "SharedAccessSignature" || name == "x509" || name == "UseProvisioning") {
      return Unsupported(
          "connection string: " + name +
          " is not supported; use a SharedAccessKey connection string or --upstream iotedge");
    }
    if (name != "HostName" && name != "DeviceId" && name != "ModuleId" &&
        name != "SharedAccessKey" && name != "GatewayHostName" && name != "SharedAccessKeyName") {
      // The name is not echoed: a missing ';' or '=' can glue the key to it.
      return InvalidArgument(
          "connection string: field " + std::to_string(fields.size() + 1) +
          " has an unknown name (expected HostName, DeviceId, ModuleId, SharedAccessKey, "
          "GatewayHostName)");
    }
    if (fields.count(name) != 0)
      return InvalidArgument("connection string: field '" + name + "' appears twice");
    std::string value(part.substr(eq + 1));
    if (value.empty()) return InvalidArgument("connection string: field '" + name + "' is empty");
    fields[name] = std::move(value);
  }
  if (fields.count("SharedAccessKeyName") != 0) {
    return Unsupported(
        "connection string: SharedAccessKeyName is a hub policy (service) connection string; "
        "edgevision needs a device or module connection string");
  }
  for (const char* required : {"HostName", "DeviceId", "SharedAccessKey"}) {
    if (fields.count(required) == 0) {
      return InvalidArgument(std::string("connection string: field '") + required + "' is missing");
    }
  }
  ConnectionString cs;
  cs.identity.host_name = fields["HostName"];
  cs.identity.device_id = fields["DeviceId"];
  if (auto it = fields.find("ModuleId"); it != fields.end()) cs.identity.module_id = it->second;
  cs.shared_access_key = fields["SharedAccessKey"];
  if (auto it = fields.find("GatewayHostName"); it != fields.end())
    cs.gateway_host_name = it->second;
  if (cs.identity.host_name.find('.') == std::string::npos) {
    return InvalidArgument("connection string: HostName '" + cs.identity.host_name +
                           "' is not a host name (expected e.g. myhub.azure-devices.net)");
  }
  for (const std::string* id : {&cs.identity.device_id, &cs.identity.module_id}) {
    if (id->find('/') != std::string::npos) {
      return InvalidArgument("connection string: DeviceId/ModuleId '" + *id + "' contains '/'");
    }
  }
  if (!Base64Decode(cs.shared_access_key).ok()) {
    return InvalidArgument("connection string: SharedAccessKey is not valid base64");
  }
  return cs;
}

}  // namespace edgevision::upstream
