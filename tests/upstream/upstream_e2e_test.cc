// End-to-end store-and-forward: the real edgevision binary serving the demo
// model publishes every result to a REAL mosquitto broker (TLS with a CA
// made here, password auth) while the test stops and restarts the broker
// and kill -9s edgevision mid-stream and starts it again on the same data
// directory. A real subscriber (QoS 1, persistent session) must receive
// every result at least once, with no gaps in seq, and the ids must
// de-duplicate to exactly the ids the HTTP responses returned.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <regex>

#include "e2e/server_process.h"
#include "test_support.h"
#include "upstream/delivery_check.h"
#include "upstream/mosquitto_harness.h"

namespace edgevision::testing {
namespace {

using nlohmann::json;
using std::chrono::seconds;

std::string Fruit(const std::string& name) {
  auto v = ReadBytes(Export("iotedge-applebanana-tf/images/" + name));
  return std::string(v.begin(), v.end());
}

// Posts `n` images; returns the response ids (a failed post fails the test).
std::vector<std::string> PostImages(ServerProcess& server, int n,
                                    const std::vector<std::string>& images) {
  std::vector<std::string> ids;
  httplib::Client client = server.Client();
  for (int i = 0; i < n; ++i) {
    auto res = client.Post("/image", images[static_cast<size_t>(i) % images.size()],
                           "application/octet-stream");
    EXPECT_TRUE(res && res->status == 200) << (res ? res->body : "no response") << "\n"
                                           << server.Log();
    if (!res || res->status != 200) break;
    ids.push_back(json::parse(res->body)["id"].get<std::string>());
  }
  return ids;
}

json Health(ServerProcess& server) {
  auto res = server.Client().Get("/health");
  return res ? json::parse(res->body, nullptr, false) : json();
}

TEST(UpstreamE2eTest, BrokerRestartAndKillDashNineLoseNothing) {
  if (const std::string missing = MissingBrokerPrograms(); !missing.empty())
    EDGEVISION_SKIP_OR_FAIL(missing);
  ASSERT_TRUE(std::filesystem::exists(EdgevisionBinary())) << "edgevision binary not built";
  TempDir dir("edgevision_upstream_e2e");
  // edgevision logs to stdout, which ServerProcess discards: run it through
  // a wrapper that sends stdout to stderr (the captured log), so the log
  // can be checked for secrets. exec keeps the pid, so kill -9 hits edgevision.
  const std::filesystem::path wrapper = dir.path() / "edgevision-logged";
  {
    std::ofstream w(wrapper);
    w << "#!/bin/sh\nexec '" << EdgevisionBinary().string() << "' \"$@\" 1>&2\n";
  }
  std::filesystem::permissions(wrapper, std::filesystem::perms::owner_all);
  const char* previous = std::getenv("EDGEVISION_BINARY");
  struct RestoreBinary {
    std::optional<std::string> value;
    ~RestoreBinary() {
      value ? setenv("EDGEVISION_BINARY", value->c_str(), 1) : unsetenv("EDGEVISION_BINARY");
    }
  } restore{previous ? std::optional<std::string>(previous) : std::nullopt};
  setenv("EDGEVISION_BINARY", wrapper.c_str(), 1);
  const TestPki pki = MakeTestPki(dir.path());
  ASSERT_TRUE(pki.ok());
  MosquittoBroker broker(dir.path() / "broker",
                         MosquittoBroker::Tls(pki, "camera7", "Very-s3cret"));
  ASSERT_TRUE(broker.Start()) << broker.Log();
  MqttSubscriber sub("e2e-subscriber", {"factory/#"});
  sub.SetCa(pki.ca_cert);
  sub.SetCredentials("camera7", "Very-s3cret");
  ASSERT_TRUE(sub.Connect("localhost", broker.port()));

  const std::string url = broker.Url("factory/line1/results");
  const std::string data_dir = (dir.path() / "data").string();
  const std::vector<std::string> images = {Fruit("apple1.jpg"), Fruit("banana1.jpg"),
                                           Fruit("apple2.jpg"), Fruit("banana2.jpg")};
  std::set<std::string> sent;
  auto add = [&sent](const std::vector<std::string>& ids) { sent.insert(ids.begin(), ids.end()); };

  // Run 1: flags on the command line.
  auto server = std::make_unique<ServerProcess>(
      std::vector<std::string>{"--upstream", url, "--upstream-ca", pki.ca_cert, "--data-dir",
                               data_dir, "--upstream-client-id", "cam7"});
  ASSERT_TRUE(server->WaitReady()) << server->Log();
  add(PostImages(*server, 20, images));

  // The broker goes away; results wait in the outbox and /health says so.
  broker.Stop();
  add(PostImages(*server, 15, images));
  json health = Health(*server);
  ASSERT_TRUE(health.contains("upstream")) << health.dump();
  EXPECT_EQ(health["upstream"]["kind"], "mqtt");
  EXPECT_EQ(health["upstream"]["connected"], false) << health.dump();
  EXPECT_GE(health["upstream"]["outbox"]["depth"].get<int>(), 15) << health.dump();
  EXPECT_FALSE(health["upstream"]["lastError"].is_null()) << health.dump();
  EXPECT_EQ(health.dump().find("Very-s3cret"), std::string::npos) << "a secret in /health";
  EXPECT_EQ(health["status"], "ready");  // the broker does not make the server unready

  // Back, and straight after a burst: kill -9 with results in flight.
  ASSERT_TRUE(broker.Start()) << broker.Log();
  add(PostImages(*server, 15, images));
  const std::string log1 = server->Log();
  server->Stop(SIGKILL);
  EXPECT_EQ(log1.find("Very-s3cret"), std::string::npos) << "a secret in the log";

  // Run 2: the same data directory, the target from the environment.
  server = std::make_unique<ServerProcess>(
      std::vector<std::string>{"--upstream-ca", pki.ca_cert, "--data-dir", data_dir,
                               "--upstream-client-id", "cam7"},
      std::vector<std::string>{"EDGEVISION_UPSTREAM=" + url});
  ASSERT_TRUE(server->WaitReady()) << server->Log();
  // How many results the killed process left unacknowledged (its log line
  // "publishing to … (outbox …, N messages waiting)").
  std::smatch waiting;
  const std::string log2 = server->Log();
  const bool found_waiting =
      std::regex_search(log2, waiting, std::regex(R"(publishing to .*, (\d+) messages waiting\))"));
  EXPECT_TRUE(found_waiting) << log2;
  add(PostImages(*server, 15, images));
  broker.Stop();
  ASSERT_TRUE(broker.Start()) << broker.Log();
  add(PostImages(*server, 10, images));
  ASSERT_EQ(sent.size(), 75u);

  auto all_arrived = [&sent](const std::vector<MqttSubscriber::Message>& messages) {
    return CheckDelivery(messages, sent).lost == 0;
  };
  const bool arrived = sub.WaitFor(all_arrived, seconds(30));
  const DeliveryReport report = CheckDelivery(sub.Messages(), sent);
  std::cout << "[ figures  ] e2e fault test (edgevision binary, TLS+password, 2 broker restarts, "
            << "1 kill -9 leaving " << (found_waiting ? waiting[1].str() : "?")
            << " results unacknowledged): " << report << "\n";
  ASSERT_TRUE(arrived) << report << "\n" << server->Log() << "\nbroker:\n" << broker.Log();
  EXPECT_TRUE(report.Complete()) << report;
  EXPECT_EQ(report.lost, 0u);
  EXPECT_EQ(report.unexpected, 0u);
  EXPECT_EQ(report.seq_gaps, 0u);

  // Every message is a well-formed result of the model that served it.
  for (const auto& m : sub.Messages()) {
    EXPECT_EQ(m.topic, "factory/line1/results");
    json doc = json::parse(m.payload);
    EXPECT_EQ(doc["schemaVersion"], 1);
    EXPECT_EQ(doc["route"], "POST /image");
    ASSERT_FALSE(doc["predictions"].empty());
    const std::string top = doc["predictions"][0]["tagName"];
    EXPECT_TRUE(top == "Apple" || top == "Banana") << top;
    EXPECT_EQ(doc["model"]["sha1"].get<std::string>().size(), 40u);
  }

  health = Health(*server);
  EXPECT_TRUE(
      sub.WaitFor([&](const auto&) { return Health(*server)["upstream"]["outbox"]["depth"] == 0; },
                  seconds(10)))
      << Health(*server).dump();
  health = Health(*server);
  EXPECT_EQ(health["upstream"]["connected"], true) << health.dump();
  EXPECT_EQ(health["upstream"]["outbox"]["dropped"]["total"], 0);
  EXPECT_EQ(
      health["upstream"]["target"],
      "mqtts://camera7:***@localhost:" + std::to_string(broker.port()) + "/factory/line1/results");
  // SIGTERM: a clean exit that closes the outbox.
  const int status = server->Stop(SIGTERM);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(server->Log().find("Very-s3cret"), std::string::npos) << "a secret in the log";
}

TEST(UpstreamE2eTest, UpstreamWithoutDataDirIsAUsageError) {
  ASSERT_TRUE(std::filesystem::exists(EdgevisionBinary())) << "edgevision binary not built";
  ServerProcess server({"--upstream", "mqtt://127.0.0.1:1/t"});
  const int status = server.WaitExit(seconds(20));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2) << status << "\n" << server.Log();
  EXPECT_NE(server.Log().find("--data-dir"), std::string::npos) << server.Log();
}

}  // namespace
}  // namespace edgevision::testing
