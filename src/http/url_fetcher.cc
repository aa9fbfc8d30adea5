#include "http/url_fetcher.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstring>
#include <mutex>

#include "core/curl_handles.h"

namespace edgevision::http {

namespace {

// An address as 16 bytes (IPv4 as IPv4-mapped IPv6) for uniform prefix checks.
struct Address {
  std::array<uint8_t, 16> bytes{};
  bool v4 = false;
};

struct Cidr {
  Address base;
  int prefix = 0;  // in bits of the 16-byte form
};

bool ParseAddress(const std::string& text, Address* out) {
  in_addr v4;
  in6_addr v6;
  if (inet_pton(AF_INET, text.c_str(), &v4) == 1) {
    out->bytes = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    std::memcpy(out->bytes.data() + 12, &v4, 4);
    out->v4 = true;
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
    std::memcpy(out->bytes.data(), &v6, 16);
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    out->v4 = std::memcmp(out->bytes.data(), kMapped, 12) == 0;
    return true;
  }
  return false;
}

Result<Cidr> ParseCidr(const std::string& text) {
  std::string addr = text;
  int prefix = -1;
  size_t slash = text.find('/');
  if (slash != std::string::npos) {
    addr = text.substr(0, slash);
    const std::string bits = text.substr(slash + 1);
    char* end = nullptr;
    long v = std::strtol(bits.c_str(), &end, 10);
    if (bits.empty() || *end != '\0' || v < 0 || v > 128) {
      return InvalidArgument("bad address range '" + text + "'");
    }
    prefix = static_cast<int>(v);
  }
  Cidr cidr;
  if (!ParseAddress(addr, &cidr.base)) return InvalidArgument("bad address range '" + text + "'");
  if (cidr.base.v4) {
    if (prefix > 32) return InvalidArgument("bad address range '" + text + "'");
    cidr.prefix = prefix < 0 ? 128 : 96 + prefix;
  } else {
    cidr.prefix = prefix < 0 ? 128 : prefix;
  }
  return cidr;
}

bool InCidr(const Address& a, const Cidr& c) {
  for (int bit = 0; bit < c.prefix; ++bit) {
    const int byte = bit / 8, mask = 0x80 >> (bit % 8);
    if ((a.bytes[byte] & mask) != (c.base.bytes[byte] & mask)) return false;
  }
  return true;
}

Cidr Must(const char* text) { return *ParseCidr(text); }

struct Ranges {
  std::vector<Cidr> loopback = {Must("127.0.0.0/8"), Must("::1")};
  std::vector<Cidr> link_local = {Must("169.254.0.0/16"), Must("fe80::/10")};
  std::vector<Cidr> always_denied = {Must("0.0.0.0/8"), Must("::"), Must("224.0.0.0/4"),
                                     Must("ff00::/8"), Must("255.255.255.255")};
  // Cloud metadata and host agents outside link-local: AWS IMDS over IPv6,
  // Azure's WireServer (its IMDS, 169.254.169.254, is link-local).
  std::vector<Cidr> metadata = {Must("fd00:ec2::254"), Must("168.63.129.16")};
};

const Ranges& BuiltinRanges() {
  static const Ranges ranges;
  return ranges;
}

bool InAny(const Address& a, const std::vector<Cidr>& list) {
  for (const Cidr& c : list) {
    if (InCidr(a, c)) return true;
  }
  return false;
}

struct CompiledPolicy {
  UrlFetchPolicy policy;
  std::vector<Cidr> allow, deny;
};

Result<CompiledPolicy> Compile(const UrlFetchPolicy& policy) {
  CompiledPolicy c{policy, {}, {}};
  for (const std::string& s : policy.allow_cidrs) {
    EV_ASSIGN_OR_RETURN(Cidr cidr, ParseCidr(s));
    c.allow.push_back(cidr);
  }
  for (const std::string& s : policy.deny_cidrs) {
    EV_ASSIGN_OR_RETURN(Cidr cidr, ParseCidr(s));
    c.deny.push_back(cidr);
  }
  return c;
}

bool Allowed(const CompiledPolicy& c, const Address& a, std::string* reason) {
  if (InAny(a, c.deny)) {
    *reason = "denied by the configured address ranges";
    return false;
  }
  if (InAny(a, c.allow)) return true;
  const Ranges& r = BuiltinRanges();
  if (InAny(a, r.always_denied)) {
    *reason = "an unspecified, broadcast or multicast address";
    return false;
  }
  if (InAny(a, r.metadata)) {
    *reason = "a cloud metadata address (allow with --url-allow)";
    return false;
  }
  if (!c.policy.allow_loopback && InAny(a, r.loopback)) {
    *reason = "a loopback address (allow with --url-allow-loopback)";
    return false;
  }
  if (!c.policy.allow_link_local && InAny(a, r.link_local)) {
    *reason = "a link-local address (allow with --url-allow)";
    return false;
  }
  return true;
}

// Per-transfer state shared with libcurl's callbacks.
struct Transfer {
  const CompiledPolicy* policy = nullptr;
  std::vector<uint8_t> body;
  bool too_large = false;
  std::string denied;  // address and reason, when a connection was refused
};

size_t OnData(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (t->body.size() + n > t->policy->policy.max_bytes) {
    t->too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  t->body.insert(t->body.end(), data, data + n);
  return n;
}

curl_socket_t OnOpenSocket(void* user, curlsocktype purpose, curl_sockaddr* addr) {
  auto* t = static_cast<Transfer*>(user);
  char text[INET6_ADDRSTRLEN] = {};
  if (addr->family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&addr->addr)->sin_addr, text, sizeof text);
  } else if (addr->family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&addr->addr)->sin6_addr, text, sizeof text);
  } else {
    t->denied = "a non-IP socket";
    return CURL_SOCKET_BAD;
  }
  Address a;
  std::string reason;
  if (!ParseAddress(text, &a) || !Allowed(*t->policy, a, &reason)) {
    t->denied = std::string(text) + " is " + reason;
    return CURL_SOCKET_BAD;
  }
  return socket(addr->family, addr->socktype, addr->protocol);
}

class CurlFetcher : public UrlFetcher {
 public:
  explicit CurlFetcher(CompiledPolicy policy) : policy_(std::move(policy)) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  }

  Result<std::vector<uint8_t>> Fetch(const std::string& url) const override {
    CurlEasyPtr curl(curl_easy_init());
    if (!curl) return Internal("libcurl: cannot create a handle");
    Transfer t;
    t.policy = &policy_;
    const UrlFetchPolicy& p = policy_.policy;
    CURL* c = curl.get();
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    // Never through http_proxy/https_proxy/all_proxy: the address policy
    // would then check only the proxy, which could fetch anything.
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, static_cast<long>(p.max_redirects));
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(p.timeout.count()));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(p.connect_timeout.count()));
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(p.max_bytes));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "edgevision");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnData);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, OnOpenSocket);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &t);
    char error[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);

    const CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) return std::move(t.body);
    const std::string what = "fetching the image URL failed: ";
    if (!t.denied.empty()) return InvalidArgument(what + "the destination " + t.denied);
    if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      return ResourceExhausted(what + "the image is larger than " + std::to_string(p.max_bytes) + " bytes");
    }
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return DeadlineExceeded(what + "no complete answer within " + std::to_string(p.timeout.count()) + " ms");
    }
    if (rc == CURLE_UNSUPPORTED_PROTOCOL) {
      return InvalidArgument(what + "only http and https URLs are fetched");
    }
    if (rc == CURLE_HTTP_RETURNED_ERROR) {
      long code = 0;
      curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
      return InvalidArgument(what + "the server answered HTTP " + std::to_string(code));
    }
    return InvalidArgument(what + (error[0] ? std::string(error) : std::string(curl_easy_strerror(rc))));
  }

 private:
  CompiledPolicy policy_;
};

}  // namespace

Result<bool> AddressAllowed(const UrlFetchPolicy& policy, const std::string& address, std::string* reason) {
  EV_ASSIGN_OR_RETURN(CompiledPolicy c, Compile(policy));
  Address a;
  if (!ParseAddress(address, &a)) return InvalidArgument("not a numeric address: '" + address + "'");
  return Allowed(c, a, reason);
}

Result<std::unique_ptr<UrlFetcher>> MakeCurlFetcher(const UrlFetchPolicy& policy) {
  EV_ASSIGN_OR_RETURN(CompiledPolicy c, Compile(policy));
  return std::unique_ptr<UrlFetcher>(new CurlFetcher(std::move(c)));
}

}  // namespace edgevision::http
