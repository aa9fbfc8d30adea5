// Hardening, end to end against the real binary (docs/security.md): every
// row of the bad-input table, slow and excess clients, overload, SIGTERM
// draining, hot model swap under load, keys, TLS, and secrets kept out of
// logs and /health. After every bad request the server must still classify
// correctly and stored data must be intact.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <openssl/sha.h>
#include <zip.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <set>
#include <iostream>
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

std::string Image(const std::string& relative) { return ReadText(TestData("images/" + relative)); }

double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string CodeOf(const std::string& body) {
  json doc = json::parse(body, nullptr, false);
  return doc.is_object() && doc.contains("code") ? doc["code"].get<std::string>() : "";
}

std::string Sha256Hex(const std::string& data) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : d) {
    out += hex[c >> 4];
    out += hex[c & 15];
  }
  return out;
}


// A TCP listener standing in for an upstream broker or hub that is down: it
// accepts each connection and closes it at once, counting them, so a test
// can prove the server really tried to connect. Listens on 127.0.0.1 and a
// free port, or on `port` of a loopback address of its own (127.x.y.z: all
// of 127/8 is loopback) for a client whose port is fixed (IoT Hub's 8883).
class RefusingBroker {
 public:
  explicit RefusingBroker(int port = 0) {
    for (int attempt = 0; attempt < 50 && fd_ < 0; ++attempt) {
      host_ = port == 0 ? "127.0.0.1"
                        : "127." + std::to_string(1 + (getpid() + attempt * 7919) % 250) + "." +
                              std::to_string((getpid() / 250 + attempt) % 250) + ".1";
      const int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port));
      inet_pton(AF_INET, host_.c_str(), &addr.sin_addr);
      socklen_t len = sizeof addr;
      if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && listen(fd, 16) == 0 &&
          getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
        fd_ = fd;
        port_ = ntohs(addr.sin_port);
      } else {
        close(fd);
      }
    }
    if (fd_ >= 0) thread_ = std::thread([this] { Serve(); });
  }
  ~RefusingBroker() {
    stopping_ = true;
    if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  const std::string& host() const { return host_; }
  int port() const { return port_; }
  int accepted() const { return accepted_; }

 private:
  void Serve() {
    while (!stopping_) {
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) {
        if (errno == EINTR) continue;
        return;  // shut down
      }
      ++accepted_;
      close(c);
    }
  }

  int fd_ = -1;
  std::string host_;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

// A local web server standing in for cameras and hostile URLs.
class ImageHost {
 public:
  ImageHost() {
    const std::string banana = Fruit("banana1.jpg");
    server_.Get("/banana.jpg", [banana](const httplib::Request&, httplib::Response& r) { r.set_content(banana, "image/jpeg"); });
    server_.Get("/text", [](const httplib::Request&, httplib::Response& r) { r.set_content("hello", "text/plain"); });
    server_.Get("/huge.jpg", [](const httplib::Request&, httplib::Response& r) {
      r.set_content(std::string(5 * 1024 * 1024, '\xff'), "image/jpeg");
    });
    server_.Get("/loop", [](const httplib::Request&, httplib::Response& r) { r.set_redirect("/loop"); });
    server_.Get("/missing", [](const httplib::Request&, httplib::Response& r) { r.status = 404; });
    server_.Get("/slow.jpg", [this](const httplib::Request&, httplib::Response& r) {
      for (int i = 0; i < 150 && !stopping_; ++i) std::this_thread::sleep_for(100ms);
      r.set_content("late", "image/jpeg");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(1ms);
  }
  ~ImageHost() {
    stopping_ = true;
    server_.stop();
    thread_.join();
  }
  std::string Url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port_) + path; }

 private:
  httplib::Server server_;
  std::atomic<bool> stopping_{false};
  int port_ = 0;
  std::thread thread_;
};

json Health(const ServerProcess& server, const httplib::Headers& headers = {}) {
  auto c = server.Client();
  auto res = c.Get("/health", headers);
  if (!res) return {};
  return json::parse(res->body, nullptr, false);
}

// The server's open connections (counting the one asking); -1 when /health
// does not answer with them (e.g. shed at the connection cap).
int OpenConnections(const ServerProcess& server) {
  const json h = Health(server);
  return h.is_object() && h.contains("http") ? h["http"].value("open", -1) : -1;
}

// Waits until the capture writer has stored `n` captures and has nothing
// queued (up to a minute: it syncs each capture to a possibly slow disk).
bool WaitStored(const ServerProcess& server, int n, const httplib::Headers& headers = {}) {
  return WaitFor([&] {
    json h = Health(server, headers);
    return h.is_object() && h.contains("store") && h["store"].value("stored", -1) == n &&
           h["store"].value("queued", -1) == 0;
  }, 60s, 20ms);
}

std::string Multipart(const std::string& boundary, const std::string& name, const std::string& content,
                      bool close = true) {
  std::string body = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"" + name +
                     "\"; filename=\"x.jpg\"\r\nContent-Type: image/jpeg\r\n\r\n" + content + "\r\n";
  if (close) body += "--" + boundary + "--\r\n";
  return body;
}

std::string Chunked(const std::string& body) {
  std::string out;
  for (size_t i = 0; i < body.size(); i += 65536) {
    const std::string part = body.substr(i, 65536);
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", part.size());
    out += size + part + "\r\n";
  }
  return out + "0\r\n\r\n";
}

std::string Corrupt(std::string data, size_t from, size_t count) {
  for (size_t i = from; i < from + count && i < data.size(); ++i) data[i] = static_cast<char>(data[i] ^ 0x5a);
  return data;
}

// ---------------------------------------------------------------------------
// The bad-input table (docs/security.md). One server, capturing everything,
// so "nothing stored corrupts" is checked too.

struct BadCase {
  std::string row;  // the docs table's row
  std::string raw;  // the raw request bytes
  int status;
  std::string code;  // "" = any (httplib-level refusals)
};

std::string Request(const std::string& method, const std::string& path, const std::string& body,
                    const std::string& content_type = "application/octet-stream",
                    const std::string& extra_headers = "") {
  std::string r = method + " " + path + " HTTP/1.1\r\nHost: edge\r\n" + extra_headers;
  if (!content_type.empty()) r += "Content-Type: " + content_type + "\r\n";
  if (method != "GET") r += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  return r + "\r\n" + body;
}

std::string UrlBody(const std::string& url) { return json{{"url", url}}.dump(); }

TEST(BadInputE2E, EveryRowGetsAClear4xxTheServerKeepsServingAndStoredDataIsIntact) {
  TempDir data;
  ImageHost host;
  ServerProcess server({"--url-allow-loopback", "--data-dir", data.path().string(), "--capture", "all"});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  auto client = server.Client();

  // Two good captures first; their stored images must come back byte for byte.
  const std::string apple = Fruit("apple2.jpg"), banana = Fruit("banana2.jpg");
  auto a = client.Post("/image", apple, "application/octet-stream");
  ASSERT_TRUE(a && a->status == 200);
  httplib::MultipartFormDataItems items = {{"imageData", banana, "banana2.jpg", "image/jpeg"}};
  auto b = client.Post("/image", items);
  ASSERT_TRUE(b && b->status == 200);
  const std::string apple_id = json::parse(a->body)["id"], banana_id = json::parse(b->body)["id"];

  const std::string jpeg = Fruit("apple1.jpg");
  const std::string png = Image("png/palette.png");
  const std::string bmp = Image("bmp/rgb24.bmp");
  const std::string gif = Image("gif/palette.gif");
  const std::string webp = ReadText(TestData("images/webp") / fs::directory_iterator(TestData("images/webp"))->path().filename());
  const std::string uuid = "0b5c2a52-1b2c-4d5e-8f90-0123456789ab";
  const std::string big(5 * 1024 * 1024, 'x');
  const std::string fmt = "BadRequestImageFormat", url = "BadRequestImageUrl", dims = "BadRequestImageDimensions";

  const std::vector<BadCase> cases = {
      {"empty body", Request("POST", "/image", ""), 400, fmt},
      {"text file", Request("POST", "/image", "this is not an image\n", "text/plain"), 400, fmt},
      {"truncated JPEG", Request("POST", "/image", Image("bad/truncated.jpg")), 400, fmt},
      {"JPEG header only", Request("POST", "/image", Image("bad/header_only.jpg")), 400, fmt},
      {"corrupt JPEG (garbage after SOI)", Request("POST", "/image", Image("bad/garbage_after_soi.jpg")), 400, fmt},
      {"truncated PNG", Request("POST", "/image", Image("bad/truncated.png")), 400, fmt},
      {"corrupt PNG (IHDR depth/colour bytes flipped)", Request("POST", "/image", Corrupt(png, 24, 5)), 400, fmt},
      {"corrupt PNG (IHDR size bytes flipped: 1.5e9 x 1.5e9)", Request("POST", "/image", Corrupt(png, 16, 8)), 400, dims},
      {"PNG of 0x0", Request("POST", "/image", Image("bad/zero_size.png")), 400, fmt},
      {"truncated BMP", Request("POST", "/image", Image("bad/truncated.bmp")), 400, fmt},
      {"corrupt BMP (header flipped)", Request("POST", "/image", Corrupt(bmp, 14, 16)), 400, ""},
      {"RLE BMP ending before the image is filled", Request("POST", "/image", Image("corpus/bmp/rle8_early_end.bmp")),
       400, fmt},
      {"BMP with an embedded JPEG (Pillow refuses it)", Request("POST", "/image", Image("bmpsuite/q/rgb24jpeg.bmp")),
       400, fmt},
      {"truncated WebP", Request("POST", "/image", Image("bad/truncated.webp")), 400, fmt},
      {"corrupt WebP (VP8 header flipped)", Request("POST", "/image", Corrupt(webp, 20, 16)), 400, fmt},
      {"truncated GIF", Request("POST", "/image", Image("bad/truncated.gif")), 400, fmt},
      {"corrupt GIF (image data flipped)", Request("POST", "/image", Corrupt(gif, 800, 400)), 400, fmt},
      {"20000x20000 JPEG header (bomb)", Request("POST", "/image", Image("bad/bomb_20000x20000.jpg")), 400, dims},
      {"20000x20000 PNG header (bomb)", Request("POST", "/image", Image("bad/bomb_20000x20000.png")), 400, dims},
      {"20000x20000 BMP header (bomb)", Request("POST", "/image", Image("bad/bomb_20000x20000.bmp")), 400, dims},
      {"16384x16384 WebP header (bomb)", Request("POST", "/image", Image("bad/bomb_16384x16384.webp")), 400, dims},
      {"65535x65535 GIF screen (bomb)", Request("POST", "/image", Image("bad/bomb_65535x65535.gif")), 400, dims},
      {"body over the limit (Content-Length)", Request("POST", "/image", big), 413, "BadRequestImageSizeBytes"},
      {"body over the limit (chunked, while streaming)",
       "POST /image HTTP/1.1\r\nHost: edge\r\nTransfer-Encoding: chunked\r\n\r\n" + Chunked(big), 413,
       "BadRequestImageSizeBytes"},
      {"compressed body (Content-Encoding: gzip)",
       Request("POST", "/image", jpeg, "application/octet-stream", "Content-Encoding: gzip\r\n"), 415, "BadRequest"},
      {"multipart without imageData",
       Request("POST", "/image", Multipart("b0undary", "file", jpeg), "multipart/form-data; boundary=b0undary"), 400,
       fmt},
      {"malformed multipart (boundary never appears)",
       Request("POST", "/image", Multipart("other", "imageData", jpeg), "multipart/form-data; boundary=b0undary"),
       400, ""},
      {"malformed multipart (no closing boundary)",
       Request("POST", "/image", Multipart("b0undary", "imageData", jpeg, false),
               "multipart/form-data; boundary=b0undary"),
       400, ""},
      {"/url: body not JSON", Request("POST", "/url", "{not json", "application/json"), 400, url},
      {"/url: JSON without url", Request("POST", "/url", R"({"href":"http://x"})", "application/json"), 400, url},
      {"/url: url not a string", Request("POST", "/url", R"({"url":42})", "application/json"), 400, url},
      {"/url: a non-image", Request("POST", "/url", UrlBody(host.Url("/text")), "application/json"), 400, fmt},
      {"/url: a huge file", Request("POST", "/url", UrlBody(host.Url("/huge.jpg")), "application/json"), 400,
       "BadRequestImageSizeBytes"},
      {"/url: a redirect loop", Request("POST", "/url", UrlBody(host.Url("/loop")), "application/json"), 400, url},
      {"/url: HTTP 404", Request("POST", "/url", UrlBody(host.Url("/missing")), "application/json"), 400, url},
      {"/url: file://", Request("POST", "/url", UrlBody("file:///etc/passwd"), "application/json"), 400, url},
      {"/url: ftp://", Request("POST", "/url", UrlBody("ftp://127.0.0.1/x.jpg"), "application/json"), 400, url},
      {"/url: gopher://", Request("POST", "/url", UrlBody("gopher://127.0.0.1/x"), "application/json"), 400, url},
      {"/url: data:", Request("POST", "/url", UrlBody("data:image/jpeg;base64,/9j/"), "application/json"), 400, url},
      {"/url: dict://", Request("POST", "/url", UrlBody("dict://127.0.0.1:11211/stats"), "application/json"), 400, url},
      {"traversal: /captures/../../etc/passwd", Request("GET", "/captures/../../etc/passwd", "", ""), 404, "NotFound"},
      {"traversal: /captures/..%2F..%2Fetc%2Fpasswd", Request("GET", "/captures/..%2F..%2Fetc%2Fpasswd", "", ""), 404,
       "NotFound"},
      {"traversal: /captures/%2e%2e/image", Request("GET", "/captures/%2e%2e/image", "", ""), 400, "BadRequest"},
      {"traversal: capture id with NUL", Request("GET", "/captures/" + uuid + "%00.jpg", "", ""), 400, "BadRequest"},
      {"traversal: label PUT on ../", Request("PUT", "/captures/..%2Fcaptures.db/label", R"({"label":"x"})",
                                              "application/json"), 404, "NotFound"},
      {"route parameter with a control character", Request("POST", "/proj%01/image", jpeg), 400, "BadRequest"},
      {"route parameter over 256 bytes", Request("POST", "/" + std::string(300, 'p') + "/image", jpeg), 400,
       "BadRequest"},
      {"request line over 8 KiB", Request("GET", "/health?" + std::string(9000, 'a'), "", ""), 414, "BadRequest"},
      {"header line over 8 KiB", Request("GET", "/health", "", "", "X-Long: " + std::string(9000, 'a') + "\r\n"), 400,
       "BadRequest"},
      {"headers over 64 KiB in total", [] {
         std::string h;
         for (int i = 0; i < 100; ++i) h += "X-Filler-" + std::to_string(i) + ": " + std::string(1000, 'f') + "\r\n";
         return Request("GET", "/health", "", "", h);
       }(), 431, "BadRequest"},
      {"unknown method", "BREW /image HTTP/1.1\r\nHost: edge\r\n\r\n", 405, "BadRequest"},
      {"not HTTP at all", std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + "\r\n\r\n", 400, ""},
  };
  int predictions = 2;
  for (const BadCase& k : cases) {
    SCOPED_TRACE(k.row);
    const long rss_before = RssKiB(server.pid());
    RawConnection c(server.port());
    ASSERT_TRUE(c.ok());
    c.Send(k.raw);  // may fail part-way when the server refuses early
    const std::string answer = c.ReadResponse(Scaled(30s));
    EXPECT_EQ(StatusOf(answer), k.status) << answer.substr(0, 400);
    const std::string body = BodyOf(answer);
    json doc = json::parse(body, nullptr, false);
    ASSERT_TRUE(doc.is_object()) << "a JSON error for every refusal: " << answer.substr(0, 400);
    if (!k.code.empty()) {
      EXPECT_EQ(doc["code"], k.code) << body;
    }
    EXPECT_FALSE(doc["message"].get<std::string>().empty());
    EXPECT_NE(answer.find("Content-Length: "), std::string::npos);
    if (k.code == dims) {
      // Refused from the header: a decoded 20000x20000 image would be 1.2 GB.
      EXPECT_LT(RssKiB(server.pid()) - rss_before, 100 * 1024) << "the bomb was decoded";
    }
    ExpectStillServing(server, k.row);
    ++predictions;
  }
  // A 1x1 image is an image: it is classified.
  auto one = client.Post("/image", Image("jpeg/one_pixel.jpg"), "image/jpeg");
  ASSERT_TRUE(one);
  EXPECT_EQ(one->status, 200) << one->body;
  EXPECT_EQ(json::parse(one->body)["predictions"].size(), 2u);
  ++predictions;
  auto one_png = client.Post("/image", Image("png/one_pixel.png"), "image/png");
  ASSERT_TRUE(one_png);
  EXPECT_EQ(one_png->status, 200) << one_png->body;
  ++predictions;
  // RLE-compressed BMPs (test sets of real exports are made of them) are classified.
  for (const char* rle : {"corpus/bmp/rle8.bmp", "corpus/bmp/rle4.bmp"}) {
    auto r = client.Post("/image", Image(rle), "image/bmp");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << rle << ": " << r->body;
    ++predictions;
  }

  // Stored data: every prediction and nothing else was captured; the first
  // two images are intact.
  ASSERT_TRUE(WaitStored(server, predictions)) << Health(server).dump();
  auto list = client.Get("/captures?limit=1");
  ASSERT_TRUE(list);
  EXPECT_EQ(json::parse(list->body)["total"], predictions);
  for (const auto& [id, original] : {std::pair{apple_id, apple}, std::pair{banana_id, banana}}) {
    auto img = client.Get("/captures/" + id + "/image");
    ASSERT_TRUE(img);
    ASSERT_EQ(img->status, 200);
    EXPECT_EQ(Sha256Hex(img->body), Sha256Hex(original));
    auto meta = client.Get("/captures/" + id);
    ASSERT_TRUE(meta);
    EXPECT_EQ(json::parse(meta->body)["image"]["sha256"], Sha256Hex(original));
  }
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.Log();
}

TEST(BadInputE2E, SlowUrlsAreCutOffAndLoopbackIsDeniedByDefault) {
  ImageHost host;
  {
    ServerProcess server({"--url-allow-loopback"});
    ASSERT_TRUE(server.WaitReady()) << server.Log();
    auto c = server.Client();
    const auto t = Clock::now();
    auto res = c.Post("/url", UrlBody(host.Url("/slow.jpg")), "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
    EXPECT_EQ(CodeOf(res->body), "BadRequestImageUrl");
    EXPECT_NE(res->body.find("within"), std::string::npos) << res->body;
    // The fetch limit is 10 s of wall time in total (not scaled: the server's);
    // the rest of the request gets 4 s, scaled.
    EXPECT_LT(SecondsSince(t), 10.0 + ScaledSeconds(4.0)) << "the fetch limit is 10 s in total";
    ExpectStillServing(server, "slow URL");
  }
  // Default policy: loopback (and link-local) destinations are refused after DNS.
  ServerProcess server({});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  auto c = server.Client();
  for (const std::string& u : {host.Url("/banana.jpg"), std::string("http://localhost:1/x.jpg"),
                               std::string("http://169.254.169.254/latest/meta-data/"), std::string("http://[::1]/x")}) {
    auto res = c.Post("/url", UrlBody(u), "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400) << u;
    EXPECT_EQ(CodeOf(res->body), "BadRequestImageUrl") << u;
    EXPECT_NE(res->body.find("destination"), std::string::npos) << u << ": " << res->body;
  }
  ExpectStillServing(server, "denied URLs");
}

// ---------------------------------------------------------------------------
// Slow and excess clients.

TEST(SlowlorisE2E, SlowClientsDoNotBlockOthersAndAreCutAtTheHeaderDeadline) {
  // Every time bound is stretched by EDGEVISION_TEST_TIME_SCALE (under qemu).
  const double header_timeout = ScaledSeconds(4);
  ServerProcess server({"--max-connections", "64", "--http-threads", "4", "--header-timeout",
                        std::to_string(static_cast<int>(header_timeout))});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  // 32 clients dribble one header byte a second: eight times the ready threads.
  constexpr int kSlow = 32;
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < kSlow; ++i) {
    slow.push_back(std::make_unique<RawConnection>(server.port()));
    ASSERT_TRUE(slow.back()->Send("POST /image HTTP/1.1\r\nHost: edge\r\nX-Slow: "));
  }
  const auto slow_start = Clock::now();
  std::atomic<bool> stop{false};
  std::thread dribble([&] {
    while (!stop) {
      for (auto& s : slow) s->Send("a");
      std::this_thread::sleep_for(1s);
    }
  });
  // Meanwhile, normal requests are served, each within a bound.
  auto c = server.Client();
  int served = 0;
  double worst = 0;
  while (SecondsSince(slow_start) < ScaledSeconds(3.5)) {
    const auto t = Clock::now();
    auto res = c.Post("/image", Fruit("banana1.jpg"), "application/octet-stream");
    ASSERT_TRUE(res) << "a normal request failed while slow clients were connected";
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(Top(res->body), "Banana");
    worst = std::max(worst, SecondsSince(t));
    ++served;
  }
  std::cout << "served " << served << " requests next to " << kSlow << " slow clients; slowest " << worst << " s\n";
  EXPECT_GE(served, 5);
  EXPECT_LT(worst, ScaledSeconds(2.0));
  // The header deadline (4 s) closes every slow client with a 408.
  int cut = 0;
  for (auto& s : slow) {
    bool closed = false;
    const std::string answer = s->ReadUntilClosed(Scaled(8s), &closed);
    if (closed) ++cut;
    EXPECT_EQ(StatusOf(answer), 408) << answer.substr(0, 200);
  }
  stop = true;
  dribble.join();
  EXPECT_EQ(cut, kSlow);
  EXPECT_LT(SecondsSince(slow_start), ScaledSeconds(10.0));
  json h = Health(server);
  EXPECT_GE(h["http"]["headerTimeouts"].get<int>(), kSlow);
  ExpectStillServing(server, "slowloris");
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.Log();
}

// The cap counts connections from admission until their job has returned,
// and /health's http.open reports that same count. A connection that asked
// /health and closed may still hold its slot for a moment (its close runs
// after the answer), so the scenario never opens a second connection to ask:
// one keep-alive probe connection asks over and over, and is itself one of
// the 16, polled at a modest rate (keep-alive allows 1000 requests).
// (Before stop 11 the test asked on fresh connections, and one of the held
// connections could be shed while such a closing /health connection still
// held a slot, leaving room for an extra; 1 run in 10 failed.)
TEST(SlowlorisE2E, ConnectionsBeyondTheCapGetA503AtOnce) {
  ServerProcess server({"--max-connections", "16", "--http-threads", "2"});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  RawConnection probe(server.port());
  auto open_now = [&] {
    if (!probe.Send(Request("GET", "/health", "", ""))) return -1;
    const json h = json::parse(BodyOf(probe.ReadResponse(Scaled(5s))), nullptr, false);
    return h.is_object() && h.contains("http") ? h["http"].value("open", -1) : -1;
  };
  // Only the probe holds a slot: the connections WaitReady used are gone.
  ASSERT_TRUE(WaitFor([&] { return open_now() == 1; }, 30s, 20ms)) << server.Log();
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 15; ++i) {
    held.push_back(std::make_unique<RawConnection>(server.port()));
    ASSERT_TRUE(held.back()->Send("GET /health HTTP/1.1\r\nX-Held: "));
  }
  // The probe and the 15 fill the cap: every later connection is over it.
  ASSERT_TRUE(WaitFor([&] { return open_now() == 16; }, 30s, 20ms)) << server.Log();
  int shed = 0;
  std::string missed;
  for (int i = 0; i < 8; ++i) {
    RawConnection extra(server.port());
    const auto t = Clock::now();
    extra.Send(Request("POST", "/image", Fruit("apple1.jpg")));
    const std::string answer = extra.ReadResponse(Scaled(5s));
    if (SecondsSince(t) < ScaledSeconds(1.0) && StatusOf(answer) == 503 && HasHeader(answer, "Retry-After: 1") &&
        CodeOf(BodyOf(answer)) == "ErrorPredictionServiceUnavailable") {
      ++shed;
    } else {
      missed = answer.substr(0, 300);
    }
  }
  EXPECT_EQ(shed, 8) << "a connection beyond the cap was not shed; last answer: " << missed;
  EXPECT_EQ(open_now(), 16) << "the extras never held a slot";
  held.clear();
  // Room again once the held connections have returned their slots.
  ASSERT_TRUE(WaitFor([&] { return open_now() == 1; }, 30s, 20ms));
  ExpectStillServing(server, "shedding");
  json h = Health(server);
  EXPECT_GE(h["http"]["shed"].get<int>(), 8);
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

// ---------------------------------------------------------------------------
// Overload: a bounded inference queue answers 503 + Retry-After at once.

TEST(OverloadE2E, AFullQueueAnswers503QuicklyAndTheRestSucceed) {
  // The queue timeout and the bound scale together: a 503 from a full queue
  // comes at once, one from the timeout after ScaledSeconds(30).
  const std::string queue_timeout_ms = std::to_string(std::min(600000, static_cast<int>(ScaledSeconds(30) * 1000)));  // the flag's limit
  ServerProcess server({"--workers", "1", "--threads", "1", "--queue-depth", "2", "--queue-timeout-ms", queue_timeout_ms});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  const std::string image = ReadText(TestData("images/large/bicubic_landscape.jpg"));
  int ok = 0, busy = 0, other = 0;
  double slowest_503 = 0;
  for (int round = 0; round < 3 && busy == 0; ++round) {
    constexpr int kClients = 24;
    std::vector<std::thread> clients;
    std::mutex mu;
    std::atomic<int> ready{0};
    for (int i = 0; i < kClients; ++i) {
      clients.emplace_back([&] {
        auto c = server.Client();
        ++ready;
        while (ready < kClients) std::this_thread::yield();
        const auto t = Clock::now();
        auto res = c.Post("/image", image, "image/jpeg");
        const double took = SecondsSince(t);
        std::lock_guard<std::mutex> lock(mu);
        if (res && res->status == 200) {
          ++ok;
        } else if (res && res->status == 503) {
          ++busy;
          slowest_503 = std::max(slowest_503, took);
          EXPECT_EQ(res->get_header_value("Retry-After"), "1");
          EXPECT_EQ(CodeOf(res->body), "ErrorPredictionServiceUnavailable");
        } else {
          ++other;
        }
      });
    }
    for (auto& t : clients) t.join();
  }
  std::cout << "overload: " << ok << " served, " << busy << " refused with 503 (slowest 503 after " << slowest_503
            << " s)\n";
  EXPECT_GE(busy, 1) << "24 simultaneous requests on 1 worker with 2 queue places";
  EXPECT_GE(ok, 3);
  EXPECT_EQ(other, 0);
  EXPECT_LT(slowest_503, ScaledSeconds(15.0)) << "refused at once, not after the 30 s (scaled) queue timeout";
  ExpectStillServing(server, "overload");
  EXPECT_EQ(server.Stop(SIGTERM), 0);
}

// ---------------------------------------------------------------------------
// SIGTERM drains: requests in flight finish, captures and the outbox flush,
// exit 0 within --shutdown-timeout.

TEST(DrainE2E, SigtermFinishesRequestsInFlightFlushesCapturesAndOutboxAndExitsZero) {
  TempDir data;
  const ClosedPort broker;  // the upstream is down
  ASSERT_NE(broker.port(), 0);
  const std::string upstream = "mqtt://127.0.0.1:" + std::to_string(broker.port()) + "/edgevision/drain";
  // The eight requests wait for the one inference worker together: the
  // queue timeout (10 s by default) is stretched like every other bound.
  const std::vector<std::string> args = {"--data-dir", data.path().string(), "--capture", "all",
                                         "--upstream", upstream, "--shutdown-timeout",
                                         std::to_string(static_cast<int>(ScaledSeconds(10))), "--queue-timeout-ms",
                                         std::to_string(static_cast<int>(ScaledSeconds(10) * 1000))};
  int answered = 0;
  {
    ServerProcess server(args);
    ASSERT_TRUE(server.WaitReady()) << server.Log();
    // Eight requests in flight: headers and half of each body sent.
    const std::string image = Fruit("apple1.jpg");
    constexpr int kInFlight = 8;
    std::vector<std::unique_ptr<RawConnection>> flight;
    for (int i = 0; i < kInFlight; ++i) {
      flight.push_back(std::make_unique<RawConnection>(server.port()));
      const std::string raw = Request("POST", "/image", image);
      ASSERT_TRUE(flight.back()->Send(raw.substr(0, raw.size() - image.size() / 2)));
    }
    // An idle keep-alive connection is closed by the drain.
    RawConnection idle(server.port());
    ASSERT_TRUE(idle.Send(Request("GET", "/health/live", "", "")));
    ASSERT_EQ(StatusOf(idle.ReadResponse(Scaled(5s))), 200);
    // The in-flight ones, the idle one and the /health connection asking.
    ASSERT_TRUE(WaitFor([&] { return OpenConnections(server) >= kInFlight + 2; }));
    const auto t = Clock::now();
    server.Signal(SIGTERM);
    ASSERT_TRUE(WaitFor([&] { return server.Log().find("received SIGTERM") != std::string::npos; }))
        << server.Log();
    // New connections are refused while the requests in flight are still open.
    EXPECT_TRUE(WaitFor([&] { return !RawConnection(server.port()).ok(); }))
        << "the server still accepts connections after SIGTERM";
    RawConnection late(server.port());
    EXPECT_FALSE(late.ok() && late.Send(Request("GET", "/health", "", "")) &&
                 StatusOf(late.ReadResponse(Scaled(2s))) == 200)
        << "a connection after SIGTERM was served";
    // Every body is finished before any answer is read: a body left half
    // sent while the answers before it are read would be silent for as long
    // as those take, and the server rightly drops a body silent for its read
    // timeout (5 s) with a 400.
    const std::string raw = Request("POST", "/image", image);
    for (auto& f : flight) ASSERT_TRUE(f->Send(raw.substr(raw.size() - image.size() / 2)));
    for (size_t i = 0; i < flight.size(); ++i) {
      const std::string answer = flight[i]->ReadResponse(Scaled(10s));
      EXPECT_EQ(StatusOf(answer), 200) << "request " << i << " in flight: " << answer.substr(0, 300);
      EXPECT_EQ(Top(BodyOf(answer)), "Apple");
      EXPECT_TRUE(HasHeader(answer, "Connection: close"));
      answered += StatusOf(answer) == 200;
    }
    bool closed = false;
    idle.ReadUntilClosed(Scaled(2s), &closed);
    EXPECT_TRUE(closed) << "idle keep-alive connections are closed at once";
    const int status = server.WaitExit(15s);
    const double took = SecondsSince(t);
    ASSERT_TRUE(WIFEXITED(status)) << server.Log();
    EXPECT_EQ(WEXITSTATUS(status), 0) << server.Log();
    EXPECT_LT(took, ScaledSeconds(10.0)) << "--shutdown-timeout";
    std::cout << "drained " << answered << " requests in flight; exit 0 after " << took << " s\n";
    EXPECT_NE(server.Log().find("stopped in"), std::string::npos) << server.Log();
  }
  ASSERT_EQ(answered, 8);
  // Restart on the same data: every answered prediction was captured and is
  // waiting in the outbox (the broker is still unreachable).
  ServerProcess again(args);
  ASSERT_TRUE(again.WaitReady()) << again.Log();
  auto c = again.Client();
  auto list = c.Get("/captures?limit=1");
  ASSERT_TRUE(list);
  EXPECT_EQ(json::parse(list->body)["total"], answered) << list->body;
  json h = Health(again);
  EXPECT_EQ(h["upstream"]["outbox"]["depth"], answered) << h.dump();
  EXPECT_EQ(again.Stop(SIGTERM), 0);
}

// ---------------------------------------------------------------------------
// Hot model swap under load: zero failed requests.

void WriteZip(const fs::path& path, const std::string& model, const std::string& labels) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(z, nullptr);
  zip_file_add(z, "model.pb", zip_source_buffer(z, model.data(), model.size(), 0), 0);
  zip_file_add(z, "labels.txt", zip_source_buffer(z, labels.data(), labels.size(), 0), 0);
  ASSERT_EQ(zip_close(z), 0);
}

std::string Sha1Hex(const std::string& data) {
  unsigned char d[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(data.data()), data.size(), d);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char ch : d) {
    out += hex[ch >> 4];
    out += hex[ch & 15];
  }
  return out;
}

TEST(HotSwapE2E, SwapsByApiAndByFileChangeUnderLoadWithZeroFailedRequests) {
  TempDir dir;
  const std::string model_a = ReadText(Export("iotedge-applebanana-tf/model.pb"));
  const std::string model_b = ReadText(Export("android-fruit-tf/model.pb"));
  const fs::path zip_a = dir.path() / "a.zip", zip_b = dir.path() / "b.zip", live = dir.path() / "model.zip";
  WriteZip(zip_a, model_a, ReadText(Export("iotedge-applebanana-tf/labels.txt")));
  WriteZip(zip_b, model_b, ReadText(Export("android-fruit-tf/labels.txt")));
  fs::copy_file(zip_a, live);
  const std::string admin = "admin-key-for-the-swap-test-0001";
  ServerProcess server({"--model", live.string(), "--model-watch", "1", "--workers", "2"},
                       {"EDGEVISION_ADMIN_KEY=" + admin});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  const httplib::Headers key = {{"Prediction-Key", admin}};
  auto sha1 = [&] {
    json h = Health(server, key);
    return h.is_object() && h.contains("model") ? h["model"]["sha1"].get<std::string>() : std::string();
  };
  ASSERT_EQ(sha1(), Sha1Hex(model_a));

  std::atomic<bool> stop{false};
  std::atomic<int> total{0}, failed{0}, wrong{0};
  std::mutex mu;
  std::vector<std::string> failures;
  std::vector<std::thread> load;
  for (int i = 0; i < 4; ++i) {
    load.emplace_back([&, i] {
      auto c = server.Client();
      const bool apple = i % 2 == 0;
      const std::string image = Fruit(apple ? "apple1.jpg" : "banana1.jpg");
      while (!stop) {
        auto res = c.Post("/image", image, "image/jpeg");
        ++total;
        if (!res || res->status != 200) {
          ++failed;
          std::lock_guard<std::mutex> lock(mu);
          failures.push_back(res ? std::to_string(res->status) + " " + res->body : httplib::to_string(res.error()));
        } else if (Top(res->body) != (apple ? "Apple" : "Banana")) {
          ++wrong;
        }
      }
    });
  }
  // An assertion below ends the test with the load stopped, not std::terminate.
  struct StopLoad {
    std::atomic<bool>& stop;
    std::vector<std::thread>& load;
    ~StopLoad() {
      stop = true;
      for (auto& t : load)
        if (t.joinable()) t.join();
    }
  } stop_load{stop, load};
  auto wait_sha1 = [&](const std::string& want) { return WaitFor([&] { return sha1() == want; }); };
  // Waits until the load has made `n` more requests.
  auto wait_load = [&](int n) {
    const int target = total + n;
    return WaitFor([&] { return total >= target; });
  };
  auto swap_in = [&](const fs::path& from) {
    fs::copy_file(from, dir.path() / "next.zip", fs::copy_options::overwrite_existing);
    fs::rename(dir.path() / "next.zip", live);  // atomic, as a deployment does
  };
  ASSERT_TRUE(wait_load(8));
  // By API: the key is required.
  auto c = server.Client();
  auto denied = c.Post("/model/reload", "", "application/json");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 401);
  for (int i = 0; i < 3; ++i) {
    auto res = c.Post("/model/reload", key, "", "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200) << res->body;
    EXPECT_EQ(json::parse(res->body)["model"]["sha1"], Sha1Hex(model_a));
  }
  // By file change: a new iteration copied over the model, and back.
  swap_in(zip_b);
  EXPECT_TRUE(wait_sha1(Sha1Hex(model_b))) << server.Log();
  EXPECT_TRUE(wait_load(8));  // requests on the new model
  swap_in(zip_a);
  EXPECT_TRUE(wait_sha1(Sha1Hex(model_a))) << server.Log();
  // A broken file: the reload fails, the running model keeps serving.
  {
    std::ofstream(dir.path() / "next.zip", std::ios::binary) << ReadText(zip_b).substr(0, 1000);
    fs::rename(dir.path() / "next.zip", live);
  }
  EXPECT_TRUE(WaitFor([&] { return Health(server, key)["reload"].value("failures", 0) >= 1; }));
  EXPECT_TRUE(wait_load(8));  // requests after the failed reload
  // At least 40 requests through the swaps (at qemu's speed the swaps above
  // can pass in fewer): the load keeps going until then.
  EXPECT_TRUE(WaitFor([&] { return total >= 40; }));
  stop = true;
  for (auto& t : load) t.join();

  json h = Health(server, key);
  std::cout << "swap under load: " << total << " requests, " << failed << " failed, " << wrong
            << " wrong; reloads " << h["reload"].dump() << "\n";
  EXPECT_EQ(failed, 0) << (failures.empty() ? "" : failures.front());
  EXPECT_EQ(wrong, 0);
  EXPECT_GE(total, 40);
  EXPECT_GE(h["reload"]["reloads"].get<int>(), 5);
  EXPECT_EQ(h["reload"]["failures"], 1);
  EXPECT_EQ(h["status"], "ready");
  EXPECT_EQ(h["model"]["sha1"], Sha1Hex(model_a)) << "the last good model serves";
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.Log();
}

// ---------------------------------------------------------------------------
// Access: keys as the cloud API checks them.

TEST(AccessE2E, KeysGuardPredictionsCapturesAdminAndHealthSeparately) {
  TempDir data;
  const std::string p1 = "prediction-key-one-0123456789", p2 = "prediction-key-two-0123456789";
  const std::string admin = "admin-key-0123456789abcdef", health = "health-key-0123456789abcdef";
  std::ofstream(data.path() / "admin.keys") << "# admin keys\n" << admin << "\n";
  ServerProcess server({"--data-dir", (data.path() / "d").string(), "--capture", "all", "--admin-key-file",
                        (data.path() / "admin.keys").string()},
                       {"EDGEVISION_PREDICTION_KEY=" + p1 + "," + p2, "EDGEVISION_HEALTH_KEY=" + health});
  ASSERT_TRUE(server.WaitReady(401)) << server.Log();  // /health is keyed: 401 means it is up
  auto c = server.Client();
  auto with = [](const std::string& k) { return httplib::Headers{{"Prediction-Key", k}}; };
  const std::string apple = Fruit("apple1.jpg");
  ASSERT_TRUE(WaitFor([&] {
    auto r = c.Get("/health", with(health));
    return r && r->status == 200;
  })) << server.Log();

  struct Case {
    std::string what, method, path, key;
    int status;
  };
  const std::string cloud = "/customvision/v3.0/Prediction/p/classify/iterations/It/image";
  const std::vector<Case> cases = {
      {"predict without key", "POST", "/image", "", 401},
      {"predict with a wrong key", "POST", "/image", p1 + "x", 401},
      {"predict with a prefix of the key", "POST", "/image", p1.substr(0, p1.size() - 1), 401},
      {"predict with key 1", "POST", "/image", p1, 200},
      {"predict with key 2", "POST", "/image", p2, 200},
      {"predict with the admin key", "POST", "/image", admin, 200},
      {"predict with the health key", "POST", "/image", health, 401},
      {"cloud route with key 1", "POST", cloud, p1, 200},
      {"cloud route without key", "POST", cloud, "", 401},
      {"health without key", "GET", "/health", "", 401},
      {"health with the health key", "GET", "/health", health, 200},
      {"health with a prediction key", "GET", "/health", p1, 200},
      {"liveness is open", "GET", "/health/live", "", 200},
      {"the container index is open", "GET", "/", "", 200},
      {"the review page is open (it asks for the key)", "GET", "/review", "", 200},
      {"captures without key", "GET", "/captures", "", 401},
      {"captures with a prediction key (an admin key is set)", "GET", "/captures", p1, 401},
      {"captures with the admin key", "GET", "/captures", admin, 200},
      {"stats with the admin key", "GET", "/captures/stats", admin, 200},
      {"model reload without key", "POST", "/model/reload", "", 401},
      {"model reload with a prediction key", "POST", "/model/reload", p1, 401},
      {"model reload with the admin key", "POST", "/model/reload", admin, 200},
  };
  for (const Case& k : cases) {
    httplib::Headers h;
    if (!k.key.empty()) h = with(k.key);
    auto res = k.method == "GET" ? c.Get(k.path, h) : c.Post(k.path, h, k.path == "/model/reload" ? "" : apple, "image/jpeg");
    ASSERT_TRUE(res) << k.what;
    EXPECT_EQ(res->status, k.status) << k.what << ": " << res->body;
    if (k.status == 401) {
      json doc = json::parse(res->body, nullptr, false);
      EXPECT_EQ(doc["code"], "Unauthorized") << k.what;
      EXPECT_NE(doc["message"].get<std::string>().find("Prediction-Key"), std::string::npos);
    }
  }
  // A capture can be labelled with the admin key only. (Captures are written
  // after the answer, by the capture writer: wait until one is listed.)
  std::string id;
  ASSERT_TRUE(WaitFor([&] {
    auto list = c.Get("/captures?limit=1", with(admin));
    if (!list || list->status != 200) return false;
    const json doc = json::parse(list->body, nullptr, false);
    if (!doc.is_object() || !doc["captures"].is_array() || doc["captures"].empty()) return false;
    id = doc["captures"][0].value("id", "");
    return !id.empty();
  })) << server.Log();
  auto put = c.Put("/captures/" + id + "/label", with(p1), R"({"label":"Apple"})", "application/json");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 401);
  put = c.Put("/captures/" + id + "/label", with(admin), R"({"label":"Apple"})", "application/json");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 200);
  auto img = c.Get("/captures/" + id + "/image");
  ASSERT_TRUE(img);
  EXPECT_EQ(img->status, 401);
  // An unauthorized upload is refused before its body is read: with the head
  // sent and none of the 4,000,000 body bytes, the 401 arrives (a server that
  // awaited the body would answer nothing, then close it as too slow) and the
  // server ends the connection (FIN). The waits only stop a hang.
  RawConnection raw(server.port());
  ASSERT_TRUE(raw.Send("POST /image HTTP/1.1\r\nHost: edge\r\nContent-Length: 4000000\r\n\r\n"));
  const std::string answer = raw.ReadResponse(Scaled(10s));
  EXPECT_EQ(StatusOf(answer), 401) << answer.substr(0, 300);
  EXPECT_TRUE(HasHeader(answer, "Connection: close")) << answer.substr(0, 300);
  bool closed = false;
  EXPECT_EQ(raw.ReadUntilClosed(Scaled(10s), &closed), "");
  EXPECT_TRUE(closed) << "the server must end the connection without the body";
  auto health_res = c.Get("/health", with(health));
  ASSERT_TRUE(health_res);
  json h = json::parse(health_res->body, nullptr, false);
  EXPECT_EQ(h["access"], json({{"prediction", true}, {"admin", true}, {"health", true}}));
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.Log();
}

TEST(AccessE2E, BadKeyConfigurationStopsTheStartNamingTheSourceNotTheKey) {
  TempDir dir;
  std::ofstream(dir.path() / "keys") << "tooshort\n";
  ServerProcess bad_file({"--prediction-key-file", (dir.path() / "keys").string()});
  int status = bad_file.WaitExit();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(bad_file.Log().find((dir.path() / "keys").string()), std::string::npos) << bad_file.Log();
  EXPECT_EQ(bad_file.Log().find("tooshort"), std::string::npos) << "the key must not be printed";
  ServerProcess missing({"--admin-key-file", (dir.path() / "nope").string()});
  status = missing.WaitExit();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
}

// ---------------------------------------------------------------------------
// TLS with a certificate made here.

TEST(TlsE2E, ServesHttpsWithTheGivenCertificate) {
  TempDir dir;
  fs::path cert, key;
  ASSERT_TRUE(MakeSelfSignedCert(dir.path(), &cert, &key));
  ServerProcess server({"--tls-cert", cert.string(), "--tls-key", key.string()});
  httplib::SSLClient client("127.0.0.1", server.port());
  client.set_ca_cert_path(cert.c_str());
  client.enable_server_certificate_verification(true);
  client.set_read_timeout(Scaled(30s));
  bool ready = false;
  for (int i = 0; i < 600 && !ready && server.Running(); ++i) {
    auto res = client.Get("/health");
    ready = res && res->status == 200;
    if (!ready) std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(ready) << server.Log();
  auto res = client.Post("/image", Fruit("banana2.jpg"), "image/jpeg");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(Top(res->body), "Banana");
  httplib::MultipartFormDataItems items = {{"imageData", Fruit("apple1.jpg"), "a.jpg", "image/jpeg"}};
  res = client.Post("/customvision/v3.0/Prediction/p/classify/iterations/It/image", items);
  ASSERT_TRUE(res);
  EXPECT_EQ(Top(res->body), "Apple");
  // Plain HTTP to the TLS port gets nothing useful; HTTPS goes on working.
  httplib::Client plain("127.0.0.1", server.port());
  plain.set_read_timeout(Scaled(3s));
  auto p = plain.Get("/health");
  EXPECT_TRUE(!p || p->status != 200);
  res = client.Get("/health/live");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_NE(server.Log().find("HTTPS"), std::string::npos);
  EXPECT_EQ(server.Stop(SIGTERM), 0) << server.Log();
}

TEST(TlsE2E, AKeyThatDoesNotMatchTheCertificateStopsTheStart) {
  TempDir one, two;
  fs::path cert1, key1, cert2, key2;
  ASSERT_TRUE(MakeSelfSignedCert(one.path(), &cert1, &key1));
  ASSERT_TRUE(MakeSelfSignedCert(two.path(), &cert2, &key2));
  ServerProcess server({"--tls-cert", cert1.string(), "--tls-key", key2.string()});
  const int status = server.WaitExit();
  ASSERT_TRUE(WIFEXITED(status)) << server.Log();
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_NE(server.Log().find(key2.string()), std::string::npos) << server.Log();
}

// ---------------------------------------------------------------------------
// Secrets never reach the log or /health.

TEST(SecretsE2E, KeysPasswordsAndConnectionStringsNeverAppearInTheLogOrHealth) {
  TempDir data;
  const std::string prediction_key = "PK-SECRET-5f0c2a9e7b1d4c38";
  const std::string admin_key = "AK-SECRET-9a8b7c6d5e4f3a2b";
  const std::string wrong_key = "WRONG-SECRET-0011223344556677";
  const std::string mqtt_password = "MQTT-SECRET-pw-4d3c2b1a";
  const std::string sas_key = "U0FTLVNFQ1JFVC1rZXktMDEyMzQ1Njc4OWFiY2RlZg==";  // base64
  std::ofstream(data.path() / "admin.keys") << admin_key << "\n";
  std::ofstream(data.path() / "mqtt.pw") << mqtt_password << "\n";
  const std::vector<std::string> secrets = {prediction_key, admin_key, wrong_key, mqtt_password, sas_key,
                                            "SharedAccessSignature", "sig="};
  auto exercise = [&](ServerProcess& server, const RefusingBroker& broker) {
    ASSERT_TRUE(server.WaitReady()) << server.Log();  // the model serves: every route is exercised
    auto c = server.Client();
    std::string seen;
    for (const std::string& k : {prediction_key, admin_key, wrong_key, std::string()}) {
      httplib::Headers h;
      if (!k.empty()) h = {{"Prediction-Key", k}};
      auto r = c.Post("/image", h, Fruit("apple1.jpg"), "image/jpeg");
      if (r) seen += r->body;
      r = c.Post("/image", h, "not an image", "image/jpeg");
      if (r) seen += r->body;
      r = c.Get("/health", h);
      if (r) seen += r->body;
      r = c.Get("/captures", h);
      if (r) seen += r->body;
    }
    // The server tried the broker/hub (it saw the connection) and logged
    // the failure: only then is "no secret in the log" worth checking.
    EXPECT_TRUE(WaitFor([&] { return broker.accepted() >= 1; })) << "no connection attempt";
    EXPECT_TRUE(WaitFor([&] { return server.Log().find("; retrying in ") != std::string::npos; }))
        << "the failed attempt is not logged: " << server.Log();
    auto r = c.Get("/health", {{"Prediction-Key", admin_key}});
    EXPECT_TRUE(r && r->status == 200) << (r ? std::to_string(r->status) + " " + r->body : httplib::to_string(r.error()));
    if (r) seen += r->body;
    json h = r ? json::parse(r->body, nullptr, false) : json();
    EXPECT_TRUE(h.contains("upstream")) << "the upstream section is there, without secrets";
    EXPECT_EQ(server.Stop(SIGTERM), 0);
    const std::string log = server.Log();
    EXPECT_NE(log.find("upstream"), std::string::npos) << "the upstream is logged (without secrets): " << log;
    for (const std::string& s : secrets) {
      EXPECT_EQ(log.find(s), std::string::npos) << "'" << s << "' is in the log:\n" << log;
      EXPECT_EQ(seen.find(s), std::string::npos) << "'" << s << "' is in a response";
    }
  };
  {
    SCOPED_TRACE("MQTT with a password in the URL and keys from the environment and a file");
    RefusingBroker broker;
    ASSERT_TRUE(broker.ok());
    ServerProcess server(
        {"--data-dir", (data.path() / "mqtt").string(), "--capture", "all", "--admin-key-file",
         (data.path() / "admin.keys").string(), "--upstream",
         "mqtt://edge:" + mqtt_password + "@127.0.0.1:" + std::to_string(broker.port()) + "/edgevision/results"},
        {"EDGEVISION_PREDICTION_KEY=" + prediction_key});
    exercise(server, broker);
  }
  {
    SCOPED_TRACE("MQTT with a password file");
    RefusingBroker broker;
    ASSERT_TRUE(broker.ok());
    ServerProcess server({"--data-dir", (data.path() / "mqttfile").string(), "--upstream-password-file",
                          (data.path() / "mqtt.pw").string(), "--admin-key-file", (data.path() / "admin.keys").string(),
                          "--upstream", "mqtt://edge@127.0.0.1:" + std::to_string(broker.port()) + "/t"},
                         {"EDGEVISION_PREDICTION_KEY=" + prediction_key});
    exercise(server, broker);
  }
  {
    SCOPED_TRACE("IoT Hub with a connection string (SAS tokens are made from it)");
    RefusingBroker hub(8883);  // IoT Hub's MQTT port, on a loopback address of its own
    ASSERT_TRUE(hub.ok());
    ServerProcess server(
        {"--data-dir", (data.path() / "hub").string(), "--upstream", "iothub", "--admin-key-file",
         (data.path() / "admin.keys").string()},
        {"EDGEVISION_PREDICTION_KEY=" + prediction_key,
         "EDGEVISION_CONNECTION_STRING=HostName=" + hub.host() + ";DeviceId=camera-7;SharedAccessKey=" + sas_key});
    exercise(server, hub);
  }
}

}  // namespace
}  // namespace edgevision::testing
