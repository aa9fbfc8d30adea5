#include "http/url_fetcher.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <unistd.h>

#include <array>
#include <cerrno>
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

// Per-transfer state shared with libcurl's callbacks. The body goes to
// `body`, or to `fd` when it is set (a download).
struct Transfer {
  const CompiledPolicy* policy = nullptr;
  uint64_t max_bytes = 0;
  std::vector<uint8_t> body;
  int fd = -1;
  uint64_t on_disk = 0;  // fd: bytes in the file, the resumed offset included
  const std::function<bool(uint64_t)>* progress = nullptr;
  bool cancelled = false;
  bool too_large = false;
  int write_errno = 0;
  std::string denied;  // address and reason, when a connection was refused
};

size_t OnData(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  const uint64_t have = t->fd >= 0 ? t->on_disk : t->body.size();
  if (have + n > t->max_bytes) {
    t->too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  if (t->fd < 0) {
    t->body.insert(t->body.end(), data, data + n);
    return n;
  }
  for (size_t done = 0; done < n;) {
    const ssize_t w = ::write(t->fd, data + done, n - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      t->write_errno = w < 0 ? errno : EIO;
      return 0;
    }
    done += static_cast<size_t>(w);
  }
  t->on_disk += n;
  if (t->progress && *t->progress && !(*t->progress)(t->on_disk)) {
    t->cancelled = true;
    return 0;
  }
  return n;
}

// Called by libcurl about once a second even when no data flows: a
// download can be cancelled while the server stalls.
int OnTransferInfo(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* t = static_cast<Transfer*>(user);
  if (t->progress && *t->progress && !(*t->progress)(t->on_disk)) {
    t->cancelled = true;
    return 1;
  }
  return 0;
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

// The options every transfer shares: the address policy on every
// connection, http/https only (redirects too), no proxy, the time caps.
// `error` must live as long as the handle is used.
void SetCommonOptions(CURL* c, const std::string& url, Transfer* t, std::chrono::milliseconds timeout,
                      char* error) {
  const UrlFetchPolicy& p = t->policy->policy;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  // Never through http_proxy/https_proxy/all_proxy: the address policy
  // would then check only the proxy, which could fetch anything.
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, static_cast<long>(p.max_redirects));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(p.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, "edgevision");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, OnData);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, t);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, OnOpenSocket);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, t);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
}

// On the first transfer, not when the fetcher is made: libcurl is loaded on
// first use (core/curl_lazy.cc), and a server that fetches nothing never
// loads it. (libcurl >= 7.84's global init is thread-safe.)
void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

long ResponseCode(CURL* c) {
  long code = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
  return code;
}

class CurlFetcher : public UrlFetcher {
 public:
  explicit CurlFetcher(CompiledPolicy policy) : policy_(std::move(policy)) {}

  Result<std::vector<uint8_t>> Fetch(const std::string& url) const override {
    InitCurlOnce();
    CurlEasyPtr curl(curl_easy_init());
    if (!curl) return Internal("libcurl: cannot create a handle");
    Transfer t;
    t.policy = &policy_;
    const UrlFetchPolicy& p = policy_.policy;
    t.max_bytes = p.max_bytes;
    CURL* c = curl.get();
    char error[CURL_ERROR_SIZE] = {};
    SetCommonOptions(c, url, &t, p.timeout, error);
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(p.max_bytes));

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
      return InvalidArgument(what + "the server answered HTTP " + std::to_string(ResponseCode(c)));
    }
    return InvalidArgument(what + (error[0] ? std::string(error) : std::string(curl_easy_strerror(rc))));
  }

 private:
  CompiledPolicy policy_;
};

// Model downloads (src/delivery): the same policy, the body appended to a
// file, resumed with a Range request.
class CurlDownloader : public delivery::FileDownloader {
 public:
  explicit CurlDownloader(CompiledPolicy policy) : policy_(std::move(policy)) {}

  Status Download(const std::string& url, int fd, uint64_t offset, uint64_t max_bytes,
                  const std::function<bool(uint64_t)>& progress) const override {
    if (offset > max_bytes) return ResourceExhausted("the download is larger than " + std::to_string(max_bytes) + " bytes");
    InitCurlOnce();
    CurlEasyPtr curl(curl_easy_init());
    if (!curl) return Internal("libcurl: cannot create a handle");
    Transfer t;
    t.policy = &policy_;
    t.max_bytes = max_bytes;
    t.fd = fd;
    t.on_disk = offset;
    t.progress = &progress;
    CURL* c = curl.get();
    char error[CURL_ERROR_SIZE] = {};
    SetCommonOptions(c, url, &t, policy_.policy.timeout, error);
    // With a resume offset, Content-Length is what is left.
    curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(max_bytes - offset));
    if (offset > 0) curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(offset));
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, OnTransferInfo);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);

    const CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) return Status::Ok();
    const std::string what = "downloading the model failed: ";
    if (!t.denied.empty()) return InvalidArgument(what + "the destination " + t.denied);
    if (t.cancelled) return Unavailable(what + "cancelled");
    if (t.write_errno != 0) return IOError(what + "writing the download: " + std::strerror(t.write_errno));
    if (t.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
      return ResourceExhausted(what + "the file is larger than " + std::to_string(max_bytes) + " bytes");
    }
    if (rc == CURLE_RANGE_ERROR) return Unsupported(what + "the server cannot resume (no Range support)");
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      return DeadlineExceeded(what + "not complete within " + std::to_string(policy_.policy.timeout.count()) + " ms");
    }
    if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_URL_MALFORMAT) {
      return InvalidArgument(what + "only well-formed http and https URLs are fetched");
    }
    if (rc == CURLE_HTTP_RETURNED_ERROR) {
      const long code = ResponseCode(c);
      if (code == 416 && offset > 0) return Unsupported(what + "the server refused the resume range (HTTP 416)");
      if (code == 408 || code == 429 || code >= 500) return Unavailable(what + "the server answered HTTP " + std::to_string(code));
      return InvalidArgument(what + "the server answered HTTP " + std::to_string(code));
    }
    return Unavailable(what + (error[0] ? std::string(error) : std::string(curl_easy_strerror(rc))));
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

Result<std::unique_ptr<delivery::FileDownloader>> MakeCurlDownloader(const UrlFetchPolicy& policy) {
  EV_ASSIGN_OR_RETURN(CompiledPolicy c, Compile(policy));
  return std::unique_ptr<delivery::FileDownloader>(new CurlDownloader(std::move(c)));
}

}  // namespace edgevision::http
