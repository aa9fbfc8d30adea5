// Fetching the image named by a /url request, with a policy.
//
// Policy (defaults; docs/security.md): only http and https, also across
// redirects (at most `max_redirects`); at most `max_bytes` of body, refused by
// Content-Length and while streaming; `timeout` for the whole transfer;
// destination addresses checked after DNS resolution, on every connection
// (so redirects and DNS tricks cannot reach a denied address): loopback,
// link-local, unspecified and multicast addresses are denied unless allowed;
// private ranges are allowed because factory cameras live there.
//
// Thread-safety: Fetch is safe from many threads at once.
#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "delivery/file_downloader.h"

namespace edgevision::http {

struct UrlFetchPolicy {
  uint64_t max_bytes = 4 * 1024 * 1024;  // the cloud's and the container's 4 MB
  std::chrono::milliseconds timeout{10'000};
  std::chrono::milliseconds connect_timeout{3'000};
  int max_redirects = 3;
  bool allow_loopback = false;
  bool allow_link_local = false;
  // CIDR ranges ("10.0.0.0/8", "fd00::/8", "192.168.1.20") always allowed /
  // always denied; deny wins.
  std::vector<std::string> allow_cidrs;
  std::vector<std::string> deny_cidrs;
};

class UrlFetcher {
 public:
  virtual ~UrlFetcher() = default;
  // The body of `url`. Errors: InvalidArgument (malformed URL, non-HTTP scheme,
  // denied address, remote HTTP error, redirect loop, unreachable host),
  // ResourceExhausted (body over max_bytes), DeadlineExceeded (timeout).
  virtual Result<std::vector<uint8_t>> Fetch(const std::string& url) const = 0;
};

// Validates the CIDR lists. Errors: InvalidArgument naming the bad entry.
Result<std::unique_ptr<UrlFetcher>> MakeCurlFetcher(const UrlFetchPolicy& policy);

// Model downloads under the same policy (addresses, schemes, redirects, no
// proxy); `policy.timeout` bounds one attempt, max_bytes is per call.
// Errors: InvalidArgument naming a bad CIDR entry.
Result<std::unique_ptr<delivery::FileDownloader>> MakeCurlDownloader(const UrlFetchPolicy& policy);

// Exposed for tests: whether `address` (numeric IPv4 or IPv6 text) may be
// connected to under `policy`; *reason says why not.
Result<bool> AddressAllowed(const UrlFetchPolicy& policy, const std::string& address, std::string* reason);

}  // namespace edgevision::http
