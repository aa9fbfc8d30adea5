// HttpServer's connection layer on a real loopback socket: deadlines, byte
// budgets, load shedding, framing, draining, keys before bodies, TLS.
#include "http/server.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "http/api_error.h"
#include "raw_http.h"
#include "test_support.h"
#include "tls_test_util.h"

namespace edgevision::http {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::BodyOf;
using testing::TempDir;
using testing::HasHeader;
using testing::RawConnection;
using testing::Scaled;
using testing::ScaledSeconds;
using testing::StatusOf;
using testing::WaitFor;

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Routes for the tests: /ok, /echo (body size and form part names), /slow.
Router TestRouter(std::atomic<int>* slow_started = nullptr, std::chrono::milliseconds slow = 500ms) {
  Router router;
  router.Add("GET", "/ok", [](const HttpRequest&) {
    HttpResponse r;
    r.body = R"({"ok":true})";
    return r;
  }, false, Access::kOpen);
  router.Add("POST", "/echo", [](const HttpRequest& req) {
    json parts = json::array();
    size_t form_bytes = 0;
    for (const auto& [name, part] : req.form) {
      parts.push_back(name);
      form_bytes += part.content.size();
    }
    HttpResponse r;
    r.body = json{{"bytes", req.body.size()}, {"parts", parts}, {"form_bytes", form_bytes}}.dump();
    return r;
  }, false, Access::kPredict);
  router.Add("GET", "/slow", [slow_started, slow](const HttpRequest&) {
    if (slow_started) ++*slow_started;
    std::this_thread::sleep_for(slow);
    HttpResponse r;
    r.body = R"({"slow":true})";
    return r;
  }, false, Access::kOpen);
  router.Add("GET", "/captures", [](const HttpRequest&) { return HttpResponse{}; });  // kAdmin
  return router;
}

// A server on a free loopback port, serving on its own thread.
class Running {
 public:
  Running(Router router, ServerLimits limits, TlsOptions tls = {}, AccessControl access = {})
      : server_(std::move(router), limits, std::move(tls), std::move(access)) {
    Result<int> port = server_.Bind("127.0.0.1", 0);
    EXPECT_TRUE(port.ok()) << port.status().ToString();
    port_ = port.ok() ? *port : 0;
    thread_ = std::thread([this] { served_ = server_.Serve(); });
    EXPECT_TRUE(WaitFor([this] { return server_.running(); }));
  }
  ~Running() { Stop(); }
  void Stop() {
    server_.Stop();
    if (thread_.joinable()) thread_.join();
  }
  // Stop and return how long it took for Serve() to return.
  double TimedStop() {
    const auto t = Clock::now();
    Stop();
    return SecondsSince(t);
  }
  int port() const { return port_; }
  HttpServer& server() { return server_; }
  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(Scaled(10s));
    return c;
  }

 private:
  HttpServer server_;
  int port_ = 0;
  Status served_;
  std::thread thread_;
};

ServerLimits Fast() {
  ServerLimits l;
  l.header_timeout = 400ms;
  l.read_timeout = 2s;
  l.drain_timeout = 2s;
  return l;
}

TEST(ServerTest, HeadersMustArriveWithinTheHeaderDeadline) {
  Running s(TestRouter(), Fast());
  RawConnection slow(s.port());
  ASSERT_TRUE(slow.ok());
  const auto start = Clock::now();
  ASSERT_TRUE(slow.Send("GET /ok HTTP/1.1\r\nHost: x\r\n"));
  // Dribble a header byte every 100 ms for 4 s (times the time scale): each
  // read succeeds, only the deadline can stop it.
  const int bytes = static_cast<int>(40 * testing::TimeScale());
  std::thread dribble([&] {
    for (int i = 0; i < bytes; ++i) {
      if (!slow.Send("a")) return;
      std::this_thread::sleep_for(100ms);
    }
  });
  bool closed = false;
  const std::string answer = slow.ReadUntilClosed(Scaled(5s), &closed);
  const double took = SecondsSince(start);
  dribble.join();
  EXPECT_TRUE(closed) << "the server must close a connection whose headers are too slow";
  EXPECT_EQ(StatusOf(answer), 408) << answer;
  EXPECT_LT(took, ScaledSeconds(3.0)) << "closed by the 0.4 s header deadline, not the 4 s (scaled) of dribbling";
  EXPECT_GE(s.server().stats().header_timeouts, 1u);
}

TEST(ServerTest, SlowClientsDoNotKeepOthersOut) {
  ServerLimits limits;
  limits.header_timeout = Scaled(30s);  // the slow clients are not cut during the test
  limits.http_threads = 2;
  limits.max_connections = 64;
  Running s(TestRouter(), limits);
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < 24; ++i) {  // far more than the 2 ready threads
    slow.push_back(std::make_unique<RawConnection>(s.port()));
    ASSERT_TRUE(slow.back()->Send("GET /ok HTTP/1.1\r\nHost: x\r\nX-Slow: "));
  }
  // Every slow client holds a connection with a request begun.
  ASSERT_TRUE(WaitFor([&] { return s.server().stats().requests_started >= 24; }));
  // Every request is answered while the slow clients still hold their
  // connections: none was cut (a request queued behind them would wait for
  // their header deadline, counted in header_timeouts).
  auto c = s.Client();
  for (int i = 0; i < 20; ++i) {
    auto res = c.Get("/ok");
    ASSERT_TRUE(res) << "request " << i;
    EXPECT_EQ(res->status, 200);
  }
  EXPECT_EQ(s.server().stats().header_timeouts, 0u) << "the requests waited until slow clients were cut";
  EXPECT_GE(s.server().stats().open, 24);
}

TEST(ServerTest, BeyondMaxConnectionsNewConnectionsAre503AtOnce) {
  ServerLimits limits = Fast();
  limits.header_timeout = Scaled(10s);
  limits.http_threads = 1;
  limits.max_connections = 4;
  Running s(TestRouter(), limits);
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<RawConnection>(s.port()));
    ASSERT_TRUE(held.back()->Send("GET /ok HTTP/1.1\r\nX-Held: "));
  }
  ASSERT_TRUE(WaitFor([&] { return s.server().stats().open >= 4; }));
  // Answered while the held connections keep their slots (none cut by the
  // header deadline): refused at once, not when a slot frees.
  RawConnection extra(s.port());
  ASSERT_TRUE(extra.Send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"));
  bool closed = false;
  const std::string answer = extra.ReadUntilClosed(Scaled(5s), &closed);
  EXPECT_EQ(s.server().stats().header_timeouts, 0u);
  EXPECT_GE(s.server().stats().open, 4);
  EXPECT_EQ(StatusOf(answer), 503) << answer;
  EXPECT_TRUE(HasHeader(answer, "Retry-After: 1")) << answer;
  EXPECT_EQ(json::parse(BodyOf(answer))["code"], "ErrorPredictionServiceUnavailable");
  EXPECT_TRUE(closed);
  EXPECT_GE(s.server().stats().shed, 1u);
  // Once the held connections go, there is room again.
  held.clear();
  ASSERT_TRUE(WaitFor([&] { return s.server().stats().open == 0; }));
  auto c = s.Client();
  auto res = c.Get("/ok");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST(ServerTest, HeaderBytesAreCapped) {
  ServerLimits limits = Fast();
  limits.header_timeout = Scaled(5s);
  limits.max_header_bytes = 4096;
  Running s(TestRouter(), limits);
  RawConnection c(s.port());
  std::string request = "GET /ok HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 100; ++i) request += "X-Filler-" + std::to_string(i) + ": " + std::string(80, 'a') + "\r\n";
  request += "\r\n";
  ASSERT_TRUE(c.Send(request));
  const std::string answer = c.ReadResponse(Scaled(5s));
  EXPECT_EQ(StatusOf(answer), 431) << answer;
  // Under the budget is fine.
  RawConnection ok(s.port());
  ASSERT_TRUE(ok.Send("GET /ok HTTP/1.1\r\nHost: x\r\nX-A: " + std::string(2000, 'a') + "\r\n\r\n"));
  EXPECT_EQ(StatusOf(ok.ReadResponse(Scaled(5s))), 200);
}

TEST(ServerTest, ALongRequestLineOrHeaderLineIsRefused) {
  Running s(TestRouter(), Fast());
  RawConnection uri(s.port());
  ASSERT_TRUE(uri.Send("GET /ok?" + std::string(9000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(uri.ReadResponse(Scaled(5s))), 414);
  RawConnection line(s.port());
  ASSERT_TRUE(line.Send("GET /ok HTTP/1.1\r\nX-Long: " + std::string(9000, 'a') + "\r\n\r\n"));
  EXPECT_EQ(StatusOf(line.ReadResponse(Scaled(5s))), 400);
}

TEST(ServerTest, ChunkedBodiesAreCountedAndCapped) {
  ServerLimits limits = Fast();
  limits.max_body_bytes = 1000;
  Running s(TestRouter(), limits);
  auto chunked = [](size_t total) {
    std::string body;
    for (size_t sent = 0; sent < total; sent += 100) body += "64\r\n" + std::string(100, 'x') + "\r\n";
    return body + "0\r\n\r\n";
  };
  RawConnection small(s.port());
  ASSERT_TRUE(small.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(800)));
  std::string answer = small.ReadResponse(Scaled(5s));
  ASSERT_EQ(StatusOf(answer), 200) << answer;
  EXPECT_EQ(json::parse(BodyOf(answer))["bytes"], 800);
  RawConnection big(s.port());
  ASSERT_TRUE(big.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(5000)));
  answer = big.ReadResponse(Scaled(5s));
  EXPECT_EQ(StatusOf(answer), 413) << answer;
  EXPECT_EQ(json::parse(BodyOf(answer))["code"], "BadRequestImageSizeBytes");
  EXPECT_TRUE(HasHeader(answer, "Connection: close")) << answer;
}

TEST(ServerTest, AnOversizedContentLengthIsRefusedBeforeAnyBodyIsSent) {
  ServerLimits limits = Fast();
  limits.max_body_bytes = 1000;
  Running s(TestRouter(), limits);
  RawConnection c(s.port());
  // The head only: an answer proves the body was not awaited.
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n"));
  const std::string answer = c.ReadResponse(Scaled(5s));
  EXPECT_EQ(StatusOf(answer), 413) << answer;
  bool closed = false;
  c.ReadUntilClosed(Scaled(5s), &closed);
  EXPECT_TRUE(closed) << "the unread body must not be parsed as the next request";
  RawConnection bad(s.port());
  ASSERT_TRUE(bad.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"));
  EXPECT_EQ(StatusOf(bad.ReadResponse(Scaled(5s))), 400);
}

TEST(ServerTest, CompressedBodiesAreRefused) {
  Running s(TestRouter(), Fast());
  RawConnection c(s.port());
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nabcd"));
  const std::string answer = c.ReadResponse(Scaled(5s));
  EXPECT_EQ(StatusOf(answer), 415) << answer;
  RawConnection te(s.port());
  ASSERT_TRUE(te.Send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"));
  EXPECT_EQ(StatusOf(te.ReadResponse(Scaled(5s))), 501);  // RFC 9112 6.1: an unknown coding
}

TEST(ServerTest, APostWithoutLengthOrChunkingHasAnEmptyBody) {
  // Answered within a wait 6 times shorter than the read timeout: not after
  // a read for a body that never comes.
  ServerLimits limits = Fast();
  limits.read_timeout = Scaled(30s);
  Running s(TestRouter(), limits);
  RawConnection c(s.port());
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::string answer = c.ReadResponse(Scaled(5s));
  ASSERT_EQ(StatusOf(answer), 200) << answer;
  EXPECT_EQ(json::parse(BodyOf(answer))["bytes"], 0);
}

TEST(ServerTest, PipelinedRequestsAreAllAnswered) {
  Running s(TestRouter(), Fast());
  RawConnection c(s.port());
  ASSERT_TRUE(c.Send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n"
                     "abcGET /ok HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(c.ReadResponse(Scaled(5s))), 200);
  const std::string echo = c.ReadResponse(Scaled(5s));
  ASSERT_EQ(StatusOf(echo), 200);
  EXPECT_EQ(json::parse(BodyOf(echo))["bytes"], 3);
  EXPECT_EQ(StatusOf(c.ReadResponse(Scaled(5s))), 200);
}

TEST(ServerTest, MultipartPartsAreCollectedAndCounted) {
  ServerLimits limits = Fast();
  limits.max_body_bytes = 2000;
  Running s(TestRouter(), limits);
  auto c = s.Client();
  httplib::MultipartFormDataItems items = {{"imageData", std::string(500, 'x'), "a.jpg", "image/jpeg"},
                                           {"other", "y", "", ""}};
  auto res = c.Post("/echo", items);
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(json::parse(res->body)["parts"], json::array({"imageData", "other"}));
  EXPECT_EQ(json::parse(res->body)["form_bytes"], 501);
  // Malformed multipart: a boundary that never appears.
  RawConnection raw(s.port());
  const std::string body = "--nope\r\nContent-Disposition: form-data; name=\"imageData\"\r\n\r\nabc";
  ASSERT_TRUE(raw.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b0undary\r\n"
                       "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body));
  const std::string answer = raw.ReadResponse(Scaled(5s));
  EXPECT_EQ(StatusOf(answer), 400) << answer;
}

TEST(ServerTest, StopLetsRequestsInProgressFinishAndClosesIdleConnections) {
  std::atomic<int> started{0};
  ServerLimits limits = Fast();
  limits.drain_timeout = Scaled(20s);
  Running s(TestRouter(&started, 600ms), limits);
  RawConnection idle(s.port());
  ASSERT_TRUE(idle.Send("GET /ok HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(StatusOf(idle.ReadResponse(Scaled(5s))), 200);  // now idle, kept alive
  int in_flight_status = 0;
  std::string in_flight_connection;
  std::thread t([&] {
    auto c = s.Client();
    auto res = c.Get("/slow");
    if (res) {
      in_flight_status = res->status;
      in_flight_connection = res->get_header_value("Connection");
    }
  });
  const bool began = WaitFor([&] { return started > 0; });
  const double took = s.TimedStop();
  t.join();
  ASSERT_TRUE(began);
  EXPECT_EQ(in_flight_status, 200) << "a request in progress must be answered";
  EXPECT_EQ(in_flight_connection, "close");
  EXPECT_LT(took, ScaledSeconds(10)) << "Serve returns once the request is done, before the drain timeout";
  bool closed = false;
  idle.ReadUntilClosed(Scaled(5s), &closed);
  EXPECT_TRUE(closed);
}

TEST(ServerTest, StopCutsWhatIsLeftAfterTheDrainTimeout) {
  ServerLimits limits = Fast();
  limits.header_timeout = Scaled(30s);
  limits.drain_timeout = 300ms;
  Running s(TestRouter(), limits);
  RawConnection slow(s.port());
  ASSERT_TRUE(slow.Send("GET /ok HTTP/1.1\r\nX-Slow: a"));  // a request started, never finished
  ASSERT_TRUE(WaitFor([&] { return s.server().stats().requests_started >= 1; }));
  const double took = s.TimedStop();
  EXPECT_LT(took, ScaledSeconds(2.0)) << "not the 30 s (scaled) header deadline";
  EXPECT_GE(took, 0.25) << "a started request gets the drain time";
}

TEST(ServerTest, StopBeforeServeDoesNotHang) {
  HttpServer server(TestRouter(), Fast());
  ASSERT_TRUE(server.Bind("127.0.0.1", 0).ok());
  server.Stop();
  EXPECT_TRUE(server.Serve().ok());
}

TEST(ServerTest, KeysAreCheckedBeforeTheBodyIsRead) {
  AccessKeys keys;
  keys.prediction = {"prediction-key-0123456789"};
  Running s(TestRouter(), Fast(), {}, AccessControl(keys));
  RawConnection c(s.port());
  // A large body announced but never sent: the 401 must not wait for it (a
  // server that awaited it would cut it at the read timeout, not answer 401).
  ASSERT_TRUE(c.Send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4000000\r\n\r\n"));
  const std::string answer = c.ReadResponse(Scaled(5s));
  EXPECT_EQ(StatusOf(answer), 401) << answer;
  EXPECT_EQ(json::parse(BodyOf(answer))["code"], "Unauthorized");
  auto client = s.Client();
  auto res = client.Post("/echo", httplib::Headers{{"Prediction-Key", "prediction-key-0123456789"}}, "abc",
                         "application/octet-stream");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  res = client.Post("/echo", httplib::Headers{{"prediction-key", "prediction-key-0123456789x"}}, "abc",
                    "application/octet-stream");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
  res = client.Get("/ok");  // kOpen
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  res = client.Get("/captures");  // kAdmin: the prediction key opens it when no admin key is set
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 401);
}

TEST(ServerTest, HandleRawRunsTheSameParserWithoutASocket) {
  HttpServer server(TestRouter(), Fast());
  const std::string out = server.HandleRaw(
      "GET /ok HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 2\r\n\r\nhiGET /nope HTTP/1.1\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200 OK", 0), 0u) << out;
  EXPECT_NE(out.find(R"("bytes":2)"), std::string::npos) << out;
  EXPECT_NE(out.find("HTTP/1.1 404"), std::string::npos) << out;
  EXPECT_EQ(StatusOf(server.HandleRaw("garbage\r\n\r\n")), 400);
}


TEST(ServerTest, TlsServesHttpsAndDeadlinesCoverTheHandshake) {
  TempDir dir;
  std::filesystem::path cert, key;
  ASSERT_TRUE(testing::MakeSelfSignedCert(dir.path(), &cert, &key));
  ServerLimits limits = Fast();
  Running s(TestRouter(), limits, TlsOptions{cert.string(), key.string()});
  httplib::SSLClient client("127.0.0.1", s.port());
  client.set_ca_cert_path(cert.c_str());
  client.enable_server_certificate_verification(true);
  auto res = client.Post("/echo", std::string(100000, 'z'), "application/octet-stream");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(json::parse(res->body)["bytes"], 100000);
  // Plain HTTP to the TLS port fails; the server goes on.
  httplib::Client plain("127.0.0.1", s.port());
  plain.set_read_timeout(Scaled(2s));
  auto bad = plain.Get("/ok");
  EXPECT_TRUE(!bad || bad->status != 200);
  // A client that connects and never starts the handshake is closed at the header deadline.
  // (Nothing but the 0.4 s deadline closes it within the wait.)
  RawConnection silent(s.port());
  bool closed = false;
  silent.ReadUntilClosed(Scaled(5s), &closed);
  EXPECT_TRUE(closed);
  res = client.Get("/ok");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

TEST(ServerTest, BadTlsFilesAreReportedByName) {
  HttpServer server(TestRouter(), Fast(), TlsOptions{"/nonexistent/cert.pem", "/nonexistent/key.pem"});
  Result<int> port = server.Bind("127.0.0.1", 0);
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(port.status().message().find("/nonexistent/cert.pem"), std::string::npos);
}

}  // namespace
}  // namespace edgevision::http
