// Access control: optional keys, checked as the cloud Prediction API checks
// its `Prediction-Key` header.
//
// Every route has an access class (router.h). With no keys configured
// everything is open, as the exported container is. Keys are read from files
// or the environment (never the command line, where `ps` shows them):
//
//   class     routes                                   accepted keys when required
//   kOpen     GET /, /health/live, the review page's   (never required)
//             static files
//   kHealth   GET /health, /health/ready               any configured key; required only
//                                                      when a health key is configured
//   kPredict  the prediction routes                    prediction or admin keys; required
//                                                      when a prediction key is configured
//   kAdmin    /captures..., /model/reload, /admin/model admin keys, else (none configured)
//                                                      prediction keys; required when either
//                                                      is configured
//
// The key travels in the `Prediction-Key` header (any letter case), or as
// `Authorization: Bearer <key>` (PresentedKey). Keys are
// kept only as SHA-256 digests and compared with CRYPTO_memcmp against every
// configured digest, so neither a key's content nor its length leaks through
// timing. Keys never appear in logs, errors or /health.
//
// Thread-safety: immutable after construction; Allows() is safe from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "http/router.h"

namespace edgevision::http {

// The header a client sends its key in (the cloud API's).
inline constexpr std::string_view kKeyHeader = "Prediction-Key";

// Shortest key accepted from configuration. The portal's keys are 32 hex digits.
inline constexpr size_t kMinKeyLength = 16;
// Longest key accepted from configuration or a request header.
inline constexpr size_t kMaxKeyLength = 1024;

struct AccessKeys {
  std::vector<std::string> prediction;
  std::vector<std::string> admin;
  std::vector<std::string> health;
};

// Parses keys from text: one key per line or comma-separated; blank lines and
// lines starting with '#' are skipped; surrounding spaces are trimmed.
// Errors: InvalidArgument naming `source` (never the key) for a key that is
// shorter than kMinKeyLength, longer than kMaxKeyLength, or holds spaces or
// control characters.
Result<std::vector<std::string>> ParseKeys(std::string_view text, const std::string& source);

// Reads ParseKeys' format from a file. Errors: IOError (unreadable),
// InvalidArgument (as ParseKeys, or an empty file).
Result<std::vector<std::string>> ReadKeyFile(const std::string& path);

// The key a request presents: the Prediction-Key header; without one, the
// token of an `Authorization: Bearer <token>` header (what Prometheus's
// scrape `authorization` setting and most HTTP tools send); else "".
std::string PresentedKey(std::string_view prediction_key, std::string_view authorization);

class AccessControl {
 public:
  AccessControl() = default;  // no keys: everything open
  explicit AccessControl(const AccessKeys& keys);

  // Whether a request of this class needs a key.
  bool Required(Access access) const;
  // Whether `presented` (the Prediction-Key header, "" if absent) opens a
  // route of class `access`. Constant time in the key's bytes.
  bool Allows(Access access, std::string_view presented) const;
  // Whether any key is configured.
  bool enabled() const { return !prediction_.empty() || !admin_.empty() || !health_.empty(); }

 private:
  using Digest = std::array<uint8_t, 32>;
  static Digest Hash(std::string_view key);
  static bool Matches(const std::vector<Digest>& keys, const Digest& presented);

  std::vector<Digest> prediction_, admin_, health_;
};

}  // namespace edgevision::http
