// The HTTP layer against hostile framing, end to end on the real binary
// (docs/security.md "HTTP layer"): memory attacks measured as the peak RSS
// growth of the server process from /proc (VmHWM, reset through
// /proc/<pid>/clear_refs before each attack), request smuggling, bodies
// refused before a byte is read, CSRF, proxies, file modes and a listener
// that dies. After each attack the server must still classify correctly.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "e2e/e2e_checks.h"
#include "e2e/server_process.h"
#include "raw_http.h"
#include "test_support.h"
#include "tls_test_util.h"

namespace edgevision::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr long kMiB = 1024;  // in KiB
// docs/security.md: the peak RSS growth one hostile connection may cause.
constexpr long kMaxGrowthKiB = 16 * kMiB;

// Resets the process's peak RSS (VmHWM) to its current RSS.
bool ResetPeak(pid_t pid) {
  std::ofstream out("/proc/" + std::to_string(pid) + "/clear_refs");
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

// One hostile connection: `head` then `body_bytes` of `filler` (sent from a
// thread, until the server stops reading), while the answer is read.
struct Attack {
  std::string row;
  std::string head;
  std::function<std::string(size_t)> filler;  // the next piece of body, or "" when done
  int status;                                 // expected answer
};

struct Outcome {
  std::string answer;
  long growth_kib = 0;
};

Outcome RunAttack(ServerProcess& server, const Attack& a) {
  Outcome out;
  // Let the allocator settle after the last request, then take the baseline.
  ExpectStillServing(server, "baseline");
  EXPECT_TRUE(ResetPeak(server.pid()));
  const long before = ProcStatusField(server.pid(), "VmHWM");
  RawConnection c(server.port());
  EXPECT_TRUE(c.ok());
  std::atomic<bool> done{false};
  std::thread sender([&] {
    if (!c.Send(a.head)) return;
    for (size_t i = 0; !done; ++i) {
      const std::string piece = a.filler ? a.filler(i) : std::string();
      if (piece.empty() || !c.Send(piece)) return;
    }
  });
  out.answer = c.ReadResponse(Scaled(60s));
  done = true;
  ::shutdown(c.fd(), SHUT_RDWR);
  sender.join();
  out.growth_kib = ProcStatusField(server.pid(), "VmHWM") - before;
  return out;
}

// Pieces of `total` bytes in all, `piece` bytes each.
std::function<std::string(size_t)> Repeat(std::string piece, size_t total) {
  return [piece = std::move(piece), count = total / std::max<size_t>(1, piece.size())](size_t i) {
    return i < count ? piece : std::string();
  };
}

std::string Block(const std::string& unit, size_t bytes) {
  std::string out;
  out.reserve(bytes + unit.size());
  while (out.size() < bytes) out += unit;
  return out;
}

TEST(HostileHttpE2E, MemoryAttacksStayUnder16MiBPerConnectionAndTheServerKeepsServing) {
  TempDir data;
  ServerProcess server({"--data-dir", data.path().string(), "--capture", "all", "--max-connections", "8"});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  ASSERT_TRUE(ResetPeak(server.pid())) << "cannot reset VmHWM through /proc/<pid>/clear_refs";

  constexpr size_t k96MiB = 96u << 20;
  const std::string chunk = [] {
    return "10000\r\n" + std::string(64 * 1024, 'x') + "\r\n";
  }();
  const std::string empty_part = "--b0undary\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n\r\n";
  const std::string parts = Block(empty_part, 4u << 20) + "--b0undary--\r\n";
  std::string ranges = "bytes=0-0";
  while (ranges.size() < 8000) ranges += ",0-";
  const std::string nested = std::string(2u << 20, '[') + std::string(2u << 20, ']');

  const std::vector<Attack> attacks = {
      {"PRI /image with an endless chunked body (96 MiB sent)",
       "PRI /image HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\n", Repeat(chunk, k96MiB), 405},
      {"4 MiB of empty multipart parts",
       "POST /image HTTP/1.1\r\nHost: edge\r\nContent-Type: multipart/form-data; boundary=b0undary\r\n"
       "Content-Length: " + std::to_string(parts.size()) + "\r\n\r\n",
       Repeat(parts, parts.size()), 400},
      {"Range with ~2,700 ranges on /review/review.js",
       "GET /review/review.js HTTP/1.1\r\nHost: edge\r\nRange: " + ranges + "\r\nConnection: close\r\n\r\n", nullptr,
       200},
      {"a chunk-size line of 96 MiB with no LF",
       "POST /image HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\n1;",
       Repeat(std::string(64 * 1024, 'a'), k96MiB), 400},
      {"a chunk extension of 96 MiB", "POST /image HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\n",
       [](size_t i) { return i == 0 ? std::string("1;ext=") : i < 1536 ? std::string(64 * 1024, 'e') : ""; }, 400},
      {"trailers of 96 MiB",
       "POST /image HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n",
       Repeat("X-Trailer: " + std::string(1000, 't') + "\r\n", k96MiB), 400},
      {"a 4 MiB JSON body of nested arrays on /url",
       "POST /url HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(nested.size()) + "\r\n\r\n",
       Repeat(nested, nested.size()), 400},
  };
  std::string report;
  for (const Attack& a : attacks) {
    SCOPED_TRACE(a.row);
    const Outcome o = RunAttack(server, a);
    EXPECT_EQ(StatusOf(o.answer), a.status) << o.answer.substr(0, 300);
    if (a.status == 200) {
      EXPECT_EQ(o.answer.find("206 Partial"), std::string::npos);
      EXPECT_EQ(o.answer.find("multipart/byteranges"), std::string::npos);
    } else {
      EXPECT_TRUE(json::parse(BodyOf(o.answer), nullptr, false).is_object()) << o.answer.substr(0, 300);
    }
    EXPECT_LT(o.growth_kib, kMaxGrowthKiB) << "peak RSS grew by " << o.growth_kib / 1024.0 << " MiB";
    report += "  " + a.row + ": peak RSS +" + std::to_string(o.growth_kib / 1024.0).substr(0, 5) + " MiB, answer " +
              std::to_string(StatusOf(o.answer)) + "\n";
    ASSERT_TRUE(server.Running()) << server.Log();
    ExpectStillServing(server, a.row);
  }
  std::cout << "peak RSS growth per hostile connection:\n" << report;
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.Log();
}

// Reads what one connection answers to `raw` until the server closes it.
std::string Exchange(int port, const std::string& raw, bool* closed) {
  RawConnection c(port);
  EXPECT_TRUE(c.ok());
  c.Send(raw);
  return c.ReadUntilClosed(Scaled(10s), closed);
}

int CountResponses(const std::string& bytes) {
  int n = 0;
  for (size_t at = bytes.find("HTTP/1."); at != std::string::npos; at = bytes.find("HTTP/1.", at + 1)) ++n;
  return n;
}

TEST(HostileHttpE2E, NoSmuggledRequestGetsThroughAndAmbiguousFramingIs400) {
  TempDir data;
  ServerProcess server({"--data-dir", data.path().string(), "--capture", "all"});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  // The smuggled request would delete nothing visible, so it asks for a
  // route that answers 404: a second answer means it was executed.
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: edge\r\n\r\n";
  struct Case {
    std::string what, raw;
    int status;  // of the one and only answer
  };
  const std::vector<Case> cases = {
      {"GET with a Content-Length body holding a request",
       "GET /health HTTP/1.1\r\nHost: edge\r\nContent-Length: " + std::to_string(smuggled.size()) + "\r\n\r\n" +
           smuggled,
       200},
      {"HEAD with a body", "HEAD /health HTTP/1.1\r\nHost: edge\r\nContent-Length: " +
                               std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled, 200},
      {"GET with a chunked body holding a request",
       "GET /health HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\n" + smuggled, 200},
      {"Content-Length and Transfer-Encoding",
       "POST /image HTTP/1.1\r\nHost: edge\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
           smuggled,
       400},
      {"two Content-Length headers",
       "POST /image HTTP/1.1\r\nHost: edge\r\nContent-Length: 0\r\nContent-Length: " +
           std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled,
       400},
      {"two Transfer-Encoding headers",
       "POST /image HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
           smuggled,
       400},
      {"Transfer-Encoding other than chunked",
       "POST /image HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n" + smuggled, 501},
      {"a bare-LF header line",
       "POST /image HTTP/1.1\r\nHost: edge\nContent-Length: 0\r\n\r\n" + smuggled, 400},
      {"a folded header line",
       "POST /image HTTP/1.1\r\nHost: edge\r\n Content-Length: 5\r\n\r\n" + smuggled, 400},
      {"a space before the colon", "POST /image HTTP/1.1\r\nHost: edge\r\nContent-Length : 0\r\n\r\n" + smuggled,
       400},
      {"a chunk size with 0x", "POST /image HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\n0x4\r\nabcd\r\n0\r\n\r\n" + smuggled, 400},
      {"a chunk size with a leading space",
       "POST /image HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\n 4\r\nabcd\r\n0\r\n\r\n" + smuggled,
       400},
      {"a chunk size with a sign",
       "POST /image HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\n+4\r\nabcd\r\n0\r\n\r\n" + smuggled,
       400},
      {"a chunk without its CRLF",
       "POST /image HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcdXX0\r\n\r\n" + smuggled, 400},
      {"a chunk-size line ended by a bare LF",
       "POST /image HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\n4\nabcd\r\n0\r\n\r\n" + smuggled, 400},
      {"PRI with a body", "PRI * HTTP/1.1\r\nHost: edge\r\nContent-Length: " + std::to_string(smuggled.size()) +
                              "\r\n\r\n" + smuggled,
       400},
      {"PRI /image with a body", "PRI /image HTTP/1.1\r\nHost: edge\r\nContent-Length: " +
                                     std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled,
       405},
      {"a negative Content-Length", "POST /image HTTP/1.1\r\nHost: edge\r\nContent-Length: -1\r\n\r\n" + smuggled,
       400},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.what);
    bool closed = false;
    const std::string answer = Exchange(server.port(), k.raw, &closed);
    EXPECT_EQ(StatusOf(answer), k.status) << answer.substr(0, 400);
    EXPECT_EQ(CountResponses(answer), 1) << "a second request was executed:\n" << answer;
    EXPECT_EQ(answer.find("/smuggled"), std::string::npos) << answer;
    EXPECT_TRUE(closed) << "the connection must close after an ambiguous or unread body";
  }
  // Keep-alive still works for well-framed requests: two pipelined ones.
  bool closed = false;
  const std::string two = Exchange(server.port(),
                                   "GET /health/live HTTP/1.1\r\nHost: edge\r\n\r\n"
                                   "GET /health/live HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n",
                                   &closed);
  EXPECT_EQ(CountResponses(two), 2) << two;
  // A well-framed chunked upload is served.
  const std::string jpeg = Fruit("banana1.jpg");
  char size[32];
  std::snprintf(size, sizeof size, "%zx;name=value\r\n", jpeg.size());
  const std::string chunked = Exchange(server.port(),
                                       "POST /image HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n"
                                       "Connection: close\r\n\r\n" + std::string(size) + jpeg +
                                           "\r\n0\r\n\r\n",
                                       &closed);
  EXPECT_EQ(StatusOf(chunked), 200) << chunked.substr(0, 300);
  EXPECT_EQ(Top(BodyOf(chunked).substr(BodyOf(chunked).find('{'))), "Banana");
  ExpectStillServing(server, "smuggling");
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.Log();
}

TEST(HostileHttpE2E, WithKeysUnknownRoutesAndWrongMethodsAreRefusedBeforeTheBody) {
  const std::string key = "prediction-key-0123456789abcdef";
  ServerProcess server({}, {"EDGEVISION_PREDICTION_KEY=" + key});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  for (const auto& [what, head, status] :
       std::vector<std::tuple<std::string, std::string, int>>{
           {"unknown route", "POST /nowhere HTTP/1.1\r\nHost: edge\r\nContent-Length: 4000000\r\n\r\n", 404},
           {"wrong method", "PUT /image HTTP/1.1\r\nHost: edge\r\nContent-Length: 4000000\r\n\r\n", 405},
           {"unserved method", "PRI /image HTTP/1.1\r\nHost: edge\r\nContent-Length: 4000000\r\n\r\n", 405},
           {"unknown route, chunked", "POST /nowhere HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\n",
            404},
           {"no key", "POST /image HTTP/1.1\r\nHost: edge\r\nContent-Length: 4000000\r\n\r\n", 401},
       }) {
    SCOPED_TRACE(what);
    RawConnection c(server.port());
    ASSERT_TRUE(c.Send(head));  // the head only: an answer proves the body was not awaited
    const std::string answer = c.ReadResponse(Scaled(5s));
    EXPECT_EQ(StatusOf(answer), status) << answer.substr(0, 300);
  }
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.Log();
}

TEST(HostileHttpE2E, CrossSiteBrowserRequestsCannotChangeStateWithKeysOff) {
  TempDir data;
  ServerProcess server({"--data-dir", data.path().string(), "--capture", "all"});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  const std::string host = "127.0.0.1:" + std::to_string(server.port());
  auto c = server.Client();
  const std::string apple = Fruit("apple1.jpg");
  // A form on another site posting here (a "simple" request: no preflight).
  auto evil = c.Post("/image", {{"Origin", "http://evil.example"}}, apple, "text/plain");
  ASSERT_TRUE(evil);
  EXPECT_EQ(evil->status, 403) << evil->body;
  auto null_origin = c.Post("/model/reload", {{"Origin", "null"}}, "", "text/plain");
  ASSERT_TRUE(null_origin);
  EXPECT_EQ(null_origin->status, 403);
  auto fetch_meta = c.Delete("/captures/0b5c2a52-1b2c-4d5e-8f90-0123456789ab", {{"Sec-Fetch-Site", "cross-site"}});
  ASSERT_TRUE(fetch_meta);
  EXPECT_EQ(fetch_meta->status, 403);
  // The review page (same origin), cameras and SDKs (no Origin) work.
  auto same = c.Post("/image", {{"Origin", "http://" + host}, {"Sec-Fetch-Site", "same-origin"}}, apple, "image/jpeg");
  ASSERT_TRUE(same);
  EXPECT_EQ(same->status, 200) << same->body;
  auto proxied = c.Post("/image", {{"Origin", "https://edge.example"}, {"X-Forwarded-Host", "edge.example"}}, apple,
                        "image/jpeg");
  ASSERT_TRUE(proxied);
  EXPECT_EQ(proxied->status, 200) << "behind a reverse proxy: " << proxied->body;
  auto sdk = c.Post("/image", apple, "application/octet-stream");
  ASSERT_TRUE(sdk);
  EXPECT_EQ(sdk->status, 200);
  // Reads stay open to any origin's GET (no state changes).
  auto read = c.Get("/health", {{"Origin", "http://evil.example"}});
  ASSERT_TRUE(read);
  EXPECT_EQ(read->status, 200);
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.Log();
}

TEST(HostileHttpE2E, DataFilesAreNotReadableByOtherUsersWhateverTheUmask) {
  TempDir data;
  const mode_t old = umask(022);
  ServerProcess server({"--data-dir", (data.path() / "d").string(), "--capture", "all"});
  umask(old);
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  auto c = server.Client();
  auto res = c.Post("/image", Fruit("apple1.jpg"), "image/jpeg");
  ASSERT_TRUE(res && res->status == 200);
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.Log();
  int files = 0;
  for (const auto& e : fs::recursive_directory_iterator(data.path() / "d")) {
    struct stat st{};
    ASSERT_EQ(lstat(e.path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07, 0u) << e.path() << " is open to other users: " << std::oct << (st.st_mode & 0777);
    ++files;
  }
  EXPECT_GE(files, 2) << "the store: its database and an image";
}

// The URL fetcher and `edgevision health` go straight to their destination,
// whatever http_proxy says.
TEST(HostileHttpE2E, ProxyVariablesAreIgnoredByUrlAndHealth) {
  httplib::Server proxy;
  std::atomic<int> hits{0};
  proxy.Get(".*", [&hits](const httplib::Request&, httplib::Response& res) {
    ++hits;
    res.set_content(Fruit("apple1.jpg"), "image/jpeg");
  });
  const int proxy_port = proxy.bind_to_any_port("127.0.0.1");
  ASSERT_GT(proxy_port, 0);
  std::thread t([&] { proxy.listen_after_bind(); });
  while (!proxy.is_running()) std::this_thread::sleep_for(1ms);
  const std::string at = "http://127.0.0.1:" + std::to_string(proxy_port);
  const std::vector<std::string> env = {"http_proxy=" + at, "https_proxy=" + at, "all_proxy=" + at,
                                        "HTTPS_PROXY=" + at, "ALL_PROXY=" + at, "no_proxy=", "NO_PROXY="};
  {
    // Loopback allowed (the proxy is on loopback), the metadata service not.
    ServerProcess server({"--url-allow-loopback"}, env);
    ASSERT_TRUE(server.WaitReady()) << server.Log();
    auto c = server.Client();
    auto res = c.Post("/url", json{{"url", "http://169.254.169.254/latest/meta-data/"}}.dump(), "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << res->body;
    EXPECT_NE(res->body.find("destination"), std::string::npos) << res->body;
    EXPECT_EQ(hits.load(), 0) << "/url went through the proxy";
    // `edgevision health` with a key: straight to the server too.
    TempDir dir;
    std::ofstream(dir.path() / "key") << "health-key-not-configured-0001\n";
    std::string cmd;
    for (const std::string& e : env) cmd += e + " ";
    cmd += EdgevisionBinary().string() + " health --quiet --port " + std::to_string(server.port()) +
           " --key-file " + (dir.path() / "key").string();
    EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
    EXPECT_EQ(hits.load(), 0) << "health went through the proxy";
    EXPECT_EQ(server.Stop(SIGTERM), 0) << server.Log();
  }
  proxy.stop();
  t.join();
}

// httplib closes its listener for good when accept() fails with ENFILE,
// ENOBUFS or ENOMEM. The process must then exit non-zero (so that its
// supervisor restarts it) instead of living on without accepting.
TEST(HostileHttpE2E, ADeadListenerEndsTheProcessWithANonZeroExit) {
  TempDir dir;
  const fs::path fault = dir.path() / "fail-accept";
  // A sanitizer runtime must come first unless told otherwise.
  std::string asan = std::getenv("ASAN_OPTIONS") ? std::getenv("ASAN_OPTIONS") : "";
  setenv("ASAN_OPTIONS", (asan + (asan.empty() ? "" : ":") + "verify_asan_link_order=0").c_str(), 1);
  ServerProcess server({}, {std::string("LD_PRELOAD=") + EDGEVISION_ACCEPT_FAULT_LIB,
                            "EDGEVISION_TEST_ACCEPT_FAULT=" + fault.string()});
  if (asan.empty()) {
    unsetenv("ASAN_OPTIONS");
  } else {
    setenv("ASAN_OPTIONS", asan.c_str(), 1);
  }
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  std::ofstream(fault) << "on\n";
  // The accept() already waiting returns this connection; the next one fails.
  {
    RawConnection c(server.port());
    c.Send("GET /health/live HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n");
    c.ReadUntilClosed(Scaled(5s));
  }
  const int status = server.WaitExit(30s);
  ASSERT_TRUE(WIFEXITED(status)) << "still running or killed: " << status << "\n" << server.Log();
  EXPECT_EQ(WEXITSTATUS(status), 1) << server.Log();
  EXPECT_NE(server.Log().find("restarts"), std::string::npos) << server.Log();
}

}  // namespace
// `edgevision health --tls` skips the certificate check only for a loopback
// name, where the key stays on the machine and the server's certificate is
// usually self-issued (docs/security.md). Any other name is verified: 0.0.0.0
// reaches the same server on Linux but is not a loopback name, so the
// self-issued certificate is refused and no key is sent.
TEST(HostileHttpE2E, HealthVerifiesTheCertificateUnlessTheServerIsOnLoopback) {
  TempDir dir;
  fs::path cert, key;
  ASSERT_TRUE(MakeSelfSignedCert(dir.path(), &cert, &key));
  ServerProcess server({"--tls-cert", cert.string(), "--tls-key", key.string()});
  const std::string bin = EdgevisionBinary().string();
  const std::string port = std::to_string(server.port());
  const std::string loopback = bin + " health --quiet --tls --timeout 5 --port " + port;
  // Ready = the loopback health check passes with the self-issued certificate.
  bool ready = false;
  for (int i = 0; i < 600 && !ready && server.Running(); ++i) {
    ready = std::system(loopback.c_str()) == 0;
    if (!ready) std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(ready) << "loopback health over TLS never passed\n" << server.Log();
  const fs::path err = dir.path() / "stderr";
  const std::string other = bin + " health --timeout 5 --url https://0.0.0.0:" + port + "/health 2>" + err.string();
  const int rc = std::system(other.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 1) << other;
  const std::string message = ReadText(err);
  EXPECT_NE(message.find("certificate"), std::string::npos) << message;
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.Log();
}


}  // namespace edgevision::testing
