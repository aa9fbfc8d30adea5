// The broker harness itself (tests/upstream/mosquitto_harness.h), with a
// real mosquitto: its port is held while the broker is stopped, and a port
// another process took before the broker bound it is found in mosquitto's
// own log ("Address already in use") and replaced, or, once handed out,
// makes Start() fail at once instead of after a timeout.
#include "upstream/mosquitto_harness.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

#include "test_support.h"

namespace edgevision::testing {
namespace {

// A listening socket on 127.0.0.1:port with SO_REUSEADDR: the one way to
// take a port PortReservation holds (what a careless process could do).
class PortThief {
 public:
  explicit PortThief(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int on = 1;
    setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    const sockaddr_in addr = LoopbackAddress(port);
    ok_ = bind(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 && listen(fd_, 1) == 0;
  }
  ~PortThief() { close(fd_); }
  PortThief(const PortThief&) = delete;
  PortThief& operator=(const PortThief&) = delete;
  bool ok() const { return ok_; }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

// errno of a plain bind (no SO_REUSEADDR) to 127.0.0.1:port; 0 if it bound.
int PlainBindError(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const sockaddr_in addr = LoopbackAddress(port);
  const int err = bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0 ? 0 : errno;
  close(fd);
  return err;
}

// A QoS 1 round trip through the broker on `port`.
void ExpectRoundTrip(int port, const std::string& client) {
  MqttSubscriber sub(client, {"harness/#"});
  ASSERT_TRUE(sub.Connect("127.0.0.1", port));
  sub.Publish("harness/ping", client);
  EXPECT_TRUE(sub.WaitFor(
      [&](const std::vector<MqttSubscriber::Message>& m) { return !m.empty() && m.back().payload == client; },
      std::chrono::seconds(10)));
}

class MosquittoHarnessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string missing = MissingBrokerPrograms(); !missing.empty()) EDGEVISION_SKIP_OR_FAIL(missing);
  }
  TempDir dir_{"mosquitto_harness"};
};

TEST_F(MosquittoHarnessTest, PortStaysHeldWhileTheBrokerIsStopped) {
  MosquittoBroker broker(dir_.path() / "broker", {});
  const int port = broker.port();
  ASSERT_GT(port, 0);
  EXPECT_EQ(PlainBindError(port), EADDRINUSE) << "held before the first start";
  ASSERT_TRUE(broker.Start()) << broker.Log();
  ExpectRoundTrip(port, "before-stop");
  broker.Stop();
  EXPECT_EQ(PlainBindError(port), EADDRINUSE) << "held while stopped";
  ASSERT_TRUE(broker.Start()) << broker.Log();
  EXPECT_EQ(broker.port(), port);
  ExpectRoundTrip(port, "after-restart");
}

// The retry path, for real: the port is taken just before mosquitto starts;
// mosquitto fails to bind and exits, and the harness starts it again on a
// fresh port.
TEST_F(MosquittoHarnessTest, PortTakenBeforeTheFirstStartIsReplaced) {
  std::vector<int> attempts;
  std::unique_ptr<PortThief> thief;
  MosquittoBroker::Options options;
  options.before_start = [&](int port) {
    attempts.push_back(port);
    if (attempts.size() == 1) thief = std::make_unique<PortThief>(port);
  };
  MosquittoBroker broker(dir_.path() / "broker", options);
  ASSERT_TRUE(broker.Start()) << broker.Log();
  ASSERT_TRUE(thief && thief->ok());
  ASSERT_EQ(attempts.size(), 2u) << broker.Log();
  EXPECT_NE(attempts[1], attempts[0]);
  EXPECT_EQ(broker.port(), attempts[1]);
  const std::string log = broker.Log();
  EXPECT_NE(log.find("listen socket on port " + std::to_string(attempts[0])), std::string::npos) << log;
  EXPECT_NE(log.find("Address already in use"), std::string::npos) << log;
  EXPECT_TRUE(broker.running());
  ExpectRoundTrip(broker.port(), "moved");
  EXPECT_EQ(PlainBindError(attempts[0]), EADDRINUSE) << "the thief still has the old port";
}

// Once the port is handed out (here: before the first start, as a test of a
// broker that is down when its client starts does), it never moves: a taken
// port fails Start() as soon as mosquitto exits, and says why.
TEST_F(MosquittoHarnessTest, PortTakenAfterItWasHandedOutFailsStart) {
  MosquittoBroker broker(dir_.path() / "broker", {});
  const std::string url = broker.Url("t");
  PortThief thief(broker.port());
  ASSERT_TRUE(thief.ok());
  EXPECT_FALSE(broker.Start());
  EXPECT_FALSE(broker.running());
  EXPECT_NE(broker.Log().find("Address already in use"), std::string::npos) << broker.Log();
  EXPECT_EQ(broker.Url("t"), url);
}

}  // namespace
}  // namespace edgevision::testing
