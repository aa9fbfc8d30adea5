#include "http/url_fetcher.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace edgevision::http {
namespace {

bool Allowed(const UrlFetchPolicy& p, const std::string& addr) {
  std::string reason;
  Result<bool> r = AddressAllowed(p, addr, &reason);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() && *r;
}

TEST(AddressPolicyTest, DefaultsDenyLoopbackLinkLocalAndSpecialAddresses) {
  UrlFetchPolicy p;
  EXPECT_FALSE(Allowed(p, "127.0.0.1"));
  EXPECT_FALSE(Allowed(p, "127.8.9.10"));
  EXPECT_FALSE(Allowed(p, "::1"));
  EXPECT_FALSE(Allowed(p, "::ffff:127.0.0.1"));  // IPv4-mapped loopback
  EXPECT_FALSE(Allowed(p, "169.254.169.254"));   // cloud metadata endpoints
  EXPECT_FALSE(Allowed(p, "fe80::1"));
  EXPECT_FALSE(Allowed(p, "0.0.0.0"));
  EXPECT_FALSE(Allowed(p, "224.0.0.1"));
  EXPECT_TRUE(Allowed(p, "192.168.1.20"));  // factory cameras live on private networks
  EXPECT_TRUE(Allowed(p, "10.1.2.3"));
  EXPECT_TRUE(Allowed(p, "8.8.8.8"));
  EXPECT_TRUE(Allowed(p, "2001:db8::1"));
}

TEST(AddressPolicyTest, CloudMetadataAddressesOutsideLinkLocalAreDenied) {
  UrlFetchPolicy p;
  EXPECT_FALSE(Allowed(p, "fd00:ec2::254"));  // AWS IMDS over IPv6
  EXPECT_FALSE(Allowed(p, "168.63.129.16"));  // Azure WireServer
  EXPECT_FALSE(Allowed(p, "::ffff:168.63.129.16"));
  EXPECT_TRUE(Allowed(p, "fd00:ec2::253"));
  EXPECT_TRUE(Allowed(p, "168.63.129.17"));
  p.allow_cidrs = {"168.63.129.16"};
  EXPECT_TRUE(Allowed(p, "168.63.129.16"));
}

TEST(AddressPolicyTest, AllowAndDenyListsDenyWins) {
  UrlFetchPolicy p;
  p.allow_cidrs = {"127.0.0.0/8", "169.254.10.0/24"};
  p.deny_cidrs = {"127.0.0.2", "10.0.0.0/8"};
  EXPECT_TRUE(Allowed(p, "127.0.0.1"));
  EXPECT_FALSE(Allowed(p, "127.0.0.2"));
  EXPECT_TRUE(Allowed(p, "169.254.10.7"));
  EXPECT_FALSE(Allowed(p, "169.254.11.7"));
  EXPECT_FALSE(Allowed(p, "10.9.9.9"));
  p.allow_loopback = true;
  p.allow_cidrs.clear();
  EXPECT_TRUE(Allowed(p, "::1"));
  EXPECT_FALSE(Allowed(p, "127.0.0.2"));
}

TEST(AddressPolicyTest, BadRangesAreRejected) {
  for (const char* bad : {"10.0.0.0/33", "nonsense", "10.0.0.0/", "::1/129", "1.2.3.4/-1"}) {
    UrlFetchPolicy p;
    p.deny_cidrs = {bad};
    EXPECT_EQ(MakeCurlFetcher(p).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

// A real HTTP server on loopback serving the cases the fetcher must handle.
class UrlFetcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Get("/image.jpg", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string("\xff\xd8\xff\xe0 fake jpeg", 14), "image/jpeg");
    });
    server_.Get("/big", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(std::string(100000, 'x'), "application/octet-stream");
    });
    server_.Get("/big-chunked", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("application/octet-stream", [](size_t offset, httplib::DataSink& sink) {
        std::string chunk(10000, 'y');
        sink.write(chunk.data(), chunk.size());
        if (offset > 200000) sink.done();
        return true;
      });
    });
    // Answers only when the test lets it (or after a minute): a fetch that
    // returns before that has given up by its own timeout.
    server_.Get("/slow", [this](const httplib::Request&, httplib::Response& res) {
      std::unique_lock<std::mutex> lock(slow_mu_);
      slow_cv_.wait_for(lock, std::chrono::minutes(1), [this] { return slow_released_; });
      res.set_content("late", "text/plain");
    });
    server_.Get("/loop", [](const httplib::Request&, httplib::Response& res) { res.set_redirect("/loop"); });
    server_.Get("/to-denied", [this](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("http://127.0.0.2:" + std::to_string(port_) + "/image.jpg");
    });
    server_.Get("/to-file", [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("file:///etc/passwd");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    policy_.allow_loopback = true;
    policy_.max_bytes = 50000;
    policy_.timeout = std::chrono::milliseconds(500);
  }
  void TearDown() override {
    ReleaseSlow();
    server_.stop();
    thread_.join();
  }
  std::string Url(const std::string& path) { return "http://127.0.0.1:" + std::to_string(port_) + path; }
  Result<std::vector<uint8_t>> Fetch(const std::string& url) {
    auto fetcher = MakeCurlFetcher(policy_);
    EXPECT_TRUE(fetcher.ok());
    return (*fetcher)->Fetch(url);
  }

  void ReleaseSlow() {
    {
      std::lock_guard<std::mutex> lock(slow_mu_);
      slow_released_ = true;
    }
    slow_cv_.notify_all();
  }

  httplib::Server server_;
  std::mutex slow_mu_;
  std::condition_variable slow_cv_;
  bool slow_released_ = false;  // guarded by slow_mu_
  std::thread thread_;
  int port_ = 0;
  UrlFetchPolicy policy_;
};

TEST_F(UrlFetcherTest, FetchesAnImage) {
  Result<std::vector<uint8_t>> r = Fetch(Url("/image.jpg"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->size(), 14u);
  EXPECT_EQ((*r)[0], 0xff);
}

// A proxy from the environment would be the only address checked, and it
// could fetch the metadata service: the fetcher never uses one.
TEST_F(UrlFetcherTest, ProxyVariablesAreIgnored) {
  httplib::Server proxy;
  std::atomic<int> hits{0};
  proxy.Get(".*", [&hits](const httplib::Request&, httplib::Response& res) {
    ++hits;
    res.set_content(std::string("\xff\xd8\xff\xe0 via proxy", 14), "image/jpeg");
  });
  const int port = proxy.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread t([&] { proxy.listen_after_bind(); });
  while (!proxy.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const std::string at = "http://127.0.0.1:" + std::to_string(port);
  for (const char* var : {"http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"}) setenv(var, at.c_str(), 1);
  unsetenv("no_proxy");
  unsetenv("NO_PROXY");
  Result<std::vector<uint8_t>> r = Fetch("http://169.254.169.254/latest/meta-data/");
  for (const char* var : {"http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"}) unsetenv(var);
  proxy.stop();
  t.join();
  EXPECT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("destination"), std::string::npos) << r.status().ToString();
  EXPECT_EQ(hits.load(), 0) << "the request went through the proxy";
}

TEST_F(UrlFetcherTest, LoopbackIsDeniedByDefault) {
  policy_.allow_loopback = false;
  Status s = Fetch(Url("/image.jpg")).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("loopback"), std::string::npos) << s.message();
}

TEST_F(UrlFetcherTest, RedirectsCannotReachDeniedAddressesOrOtherSchemes) {
  policy_.deny_cidrs = {"127.0.0.2"};
  Status s = Fetch(Url("/to-denied")).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("127.0.0.2"), std::string::npos) << s.message();
  s = Fetch(Url("/to-file")).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << s.ToString();
}

TEST_F(UrlFetcherTest, OnlyHttpAndHttps) {
  for (const char* url : {"file:///etc/passwd", "ftp://127.0.0.1/x", "gopher://127.0.0.1/", "dict://127.0.0.1:11211/",
                          "not a url", "//127.0.0.1/x"}) {
    Status s = Fetch(url).status();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << url << ": " << s.ToString();
  }
}

TEST_F(UrlFetcherTest, SizeCapByContentLengthAndWhileStreaming) {
  EXPECT_EQ(Fetch(Url("/big")).status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(Fetch(Url("/big-chunked")).status().code(), StatusCode::kResourceExhausted);
}

TEST_F(UrlFetcherTest, SlowServersTimeOut) {
  // The server holds its answer until the fetch has returned, so the fetch
  // can only end by its 500 ms timeout, however loaded the machine is.
  Status s = Fetch(Url("/slow")).status();
  ReleaseSlow();
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s.ToString();
}

TEST_F(UrlFetcherTest, RedirectLoopsAndHttpErrorsAreReported) {
  EXPECT_EQ(Fetch(Url("/loop")).status().code(), StatusCode::kInvalidArgument);
  Status s = Fetch(Url("/missing")).status();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("404"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace edgevision::http
