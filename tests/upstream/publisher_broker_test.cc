// Upstream publishing against a REAL mosquitto broker started by the test on
// a free loopback port: the real factory (MakePublisher), libmosquitto
// transport and SQLite outbox, and a real libmosquitto subscriber.
// Faults: the broker is stopped and restarted mid-stream; wrong passwords
// and an untrusted CA. The IoT Edge flow runs against mosquitto standing in
// for edgeHub (TLS with a CA made here, served as the trust bundle) and a
// local stand-in for the workload API (tests/upstream/workload_api_standin.h,
// which follows the documented request/response shapes; it is not the real
// runtime, and mosquitto does not check SAS tokens: the token itself is
// checked against the SDK vectors in src/upstream/iothub_auth_test.cc).
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>

#include "core/uuid.h"
#include "test_support.h"
#include "upstream/delivery_check.h"
#include "upstream/message_codec.h"
#include "upstream/mosquitto_harness.h"
#include "upstream/testing_util.h"
#include "upstream/twin_service.h"
#include "upstream/upstream.h"
#include "upstream/workload_api_standin.h"

namespace edgevision::upstream {
namespace {

using edgevision::testing::CheckDelivery;
using edgevision::testing::DeliveryReport;
using edgevision::testing::MakeTestPki;
using edgevision::testing::MissingBrokerPrograms;
using edgevision::testing::MosquittoBroker;
using edgevision::testing::MqttSubscriber;
using edgevision::testing::TwinService;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Messages = std::vector<MqttSubscriber::Message>;

const GetEnv kNoEnv = [](const char*) -> const char* { return nullptr; };

PredictionInput Input(std::vector<MessagePrediction> predictions = {{"Apple", 0.9},
                                                                    {"Banana", 0.1}}) {
  PredictionInput in;
  in.id = NewUuid();
  in.created = std::chrono::system_clock::now();
  in.route = "POST /image";
  in.model_sha1 = "0123456789abcdef0123456789abcdef01234567";
  in.predictions = std::move(predictions);
  return in;
}

// Fast reconnects keep the fault tests short.
UpstreamOptions Options(const std::string& target, const std::string& data_dir) {
  UpstreamOptions o;
  o.target = target;
  o.data_dir = data_dir;
  o.client_id = "edgevision-test-" + std::to_string(getpid());
  o.limits.backoff_initial = milliseconds(200);
  o.limits.backoff_max = milliseconds(1000);
  o.limits.connect_timeout = milliseconds(5000);
  o.limits.stop_drain = milliseconds(1000);
  o.outbox.sync_full = false;
  return o;
}

std::unique_ptr<Publisher> Make(const UpstreamOptions& o, const GetEnv& env = kNoEnv,
                                PublisherHooks hooks = {}) {
  Result<std::unique_ptr<Publisher>> p = MakePublisher(o, env, std::move(hooks), "test");
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return p.ok() ? std::move(p).value() : nullptr;
}

// testing::WaitFor, checking every 20 ms; `timeout` is times EDGEVISION_TEST_TIME_SCALE.
bool WaitUntil(const std::function<bool()>& done, milliseconds timeout) {
  return edgevision::testing::WaitFor(done, timeout, milliseconds(20));
}

std::function<bool(const Messages&)> AllOf(const std::set<std::string>& ids) {
  return [&ids](const Messages& messages) {
    std::set<std::string> seen;
    for (const auto& m : messages) {
      json doc = json::parse(m.payload, nullptr, false);
      if (doc.is_object() && doc.contains("id")) seen.insert(doc["id"].get<std::string>());
    }
    for (const std::string& id : ids) {
      if (!seen.count(id)) return false;
    }
    return true;
  };
}

class PublisherBrokerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string missing = MissingBrokerPrograms(); !missing.empty())
      EDGEVISION_SKIP_OR_FAIL(missing);
  }
  testing::TempDir dir_{"upstream_broker"};
};

TEST_F(PublisherBrokerTest, PlainBrokerReceivesEveryResultInOrder) {
  MosquittoBroker broker(dir_.path() / "broker", {});
  ASSERT_TRUE(broker.Start()) << broker.Log();
  MqttSubscriber sub("sub-plain", {"edgevision/#"});
  ASSERT_TRUE(sub.Connect("127.0.0.1", broker.port()));
  auto pub = Make(Options(broker.Url("edgevision/results"), dir_.File("data")));
  ASSERT_TRUE(pub);
  pub->Start();
  std::set<std::string> ids;
  for (int i = 0; i < 200; ++i) {
    PredictionInput in = Input();
    ids.insert(in.id);
    ASSERT_TRUE(pub->Enqueue(in));
  }
  ASSERT_TRUE(sub.WaitFor(AllOf(ids), seconds(20))) << sub.Count() << " of " << ids.size();
  const Messages messages = sub.Messages();
  DeliveryReport report = CheckDelivery(messages, ids);
  EXPECT_TRUE(report.Complete()) << report;
  EXPECT_EQ(report.duplicates, 0u) << "no faults, no duplicates";
  // In order: seq 1..200 as they arrived.
  for (size_t i = 0; i < messages.size(); ++i) {
    EXPECT_EQ(json::parse(messages[i].payload)["seq"], i + 1);
    EXPECT_EQ(messages[i].topic, "edgevision/results");
  }
  EXPECT_TRUE(WaitUntil([&] { return pub->GetStatus().outbox.depth == 0; }, seconds(5)));
  UpstreamStatus s = pub->GetStatus();
  EXPECT_TRUE(s.connected);
  EXPECT_EQ(s.published, 200u);
  pub->Stop();
}

// Issue 13: a detector's boxes reach the broker, and the publish rule
// filters on the boxes' tags and probabilities.
TEST_F(PublisherBrokerTest, DetectorResultsArriveWithTheirBoxes) {
  MosquittoBroker broker(dir_.path() / "broker", {});
  ASSERT_TRUE(broker.Start()) << broker.Log();
  MqttSubscriber sub("sub-detect", {"edgevision/#"});
  ASSERT_TRUE(sub.Connect("127.0.0.1", broker.port()));
  UpstreamOptions o = Options(broker.Url("edgevision/results"), dir_.File("data"));
  o.rule.tags = {"screw"};
  o.rule.min_probability = 0.5;
  auto pub = Make(o);
  ASSERT_TRUE(pub);
  pub->Start();
  PredictionInput kept = Input({});
  kept.detections = std::vector<MessageDetection>{{"crack", 0, 0.9, {0.5, 0.5, 0.25, 0.25}},
                                                  {"screw", 1, 0.6, {-0.0625, 0.1, 0.3, 0.2}}};
  PredictionInput dropped = Input({});
  dropped.detections = std::vector<MessageDetection>{{"crack", 0, 0.9, {0.5, 0.5, 0.25, 0.25}},
                                                     {"screw", 1, 0.4, {0, 0, 1, 1}}};
  ASSERT_TRUE(pub->Enqueue(kept));
  EXPECT_FALSE(pub->Enqueue(dropped)) << "no screw at 0.5 or more";
  ASSERT_TRUE(sub.WaitFor(AllOf({kept.id}), seconds(20)));
  const Messages messages = sub.Messages();
  ASSERT_EQ(messages.size(), 1u);
  Result<PredictionMessage> m = DecodeMessage(messages[0].payload);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->id, kept.id);
  EXPECT_TRUE(m->predictions.empty());
  ASSERT_TRUE(m->detections.has_value());
  EXPECT_EQ(*m->detections, *kept.detections);
  pub->Stop();
}

// The fault test: TLS with a CA made here, password auth, the broker stopped
// and restarted twice while results keep coming, and the publisher itself
// stopped and re-created (its outbox reopened) in the middle.
TEST_F(PublisherBrokerTest, TlsPasswordBrokerRestartsMidStreamLoseNothing) {
  const auto pki = MakeTestPki(dir_.path());
  ASSERT_TRUE(pki.ok());
  MosquittoBroker broker(dir_.path() / "broker", MosquittoBroker::Tls(pki, "edge", "s3cret-Pw"));
  ASSERT_TRUE(broker.Start()) << broker.Log();
  MqttSubscriber sub("sub-tls", {"edgevision/#"});
  sub.SetCa(pki.ca_cert);
  sub.SetCredentials("edge", "s3cret-Pw");
  ASSERT_TRUE(sub.Connect("localhost", broker.port()));

  UpstreamOptions o = Options(broker.Url("edgevision/{tag}"), dir_.File("data"));
  o.ca_file = pki.ca_cert;
  auto pub = Make(o);
  ASSERT_TRUE(pub);
  pub->Start();

  std::set<std::string> ids;
  const int kTotal = 600;
  int restarts = 0;
  for (int i = 0; i < kTotal; ++i) {
    PredictionInput in =
        Input(i % 3 ? std::vector<MessagePrediction>{{"Apple", 0.8}, {"Banana", 0.2}}
                    : std::vector<MessagePrediction>{{"Banana", 0.7}, {"Apple", 0.3}});
    ids.insert(in.id);
    ASSERT_TRUE(pub->Enqueue(in));
    std::this_thread::sleep_for(milliseconds(2));
    if (i == 150 || i == 420) {
      const uint64_t failures = pub->GetStatus().connection_failures;
      broker.Stop();  // SIGTERM: the broker saves its sessions and exits
      // Down until the publisher has lost the connection and been refused once more.
      ASSERT_TRUE(WaitUntil([&] { return pub->GetStatus().connection_failures >= failures + 2; }, seconds(10)))
          << pub->GetStatus().last_error;
      ASSERT_TRUE(broker.Start()) << broker.Log();
      ++restarts;
    }
    if (i == 300) {
      // The publisher goes away and comes back with the same outbox.
      pub->Stop();
      pub.reset();
      pub = Make(o);
      ASSERT_TRUE(pub);
      pub->Start();
    }
  }
  ASSERT_TRUE(sub.WaitFor(AllOf(ids), seconds(30))) << sub.Count() << " of " << ids.size() << "\n"
                                                    << broker.Log();
  const Messages messages = sub.Messages();
  DeliveryReport report = CheckDelivery(messages, ids);
  std::cout << "[ figures  ] library fault test (TLS+password, " << restarts
            << " broker restarts, 1 publisher restart): " << report << "\n";
  EXPECT_TRUE(report.Complete()) << report;
  EXPECT_EQ(report.lost, 0u);
  for (const auto& m : messages) {
    json doc = json::parse(m.payload);
    EXPECT_EQ(m.topic, "edgevision/" + doc["predictions"][0]["tagName"].get<std::string>());
  }
  EXPECT_TRUE(WaitUntil([&] { return pub->GetStatus().outbox.depth == 0; }, seconds(5)));
  UpstreamStatus s = pub->GetStatus();
  EXPECT_EQ(s.target.find("s3cret-Pw"), std::string::npos) << s.target;
  EXPECT_EQ(s.last_error.find("s3cret-Pw"), std::string::npos) << s.last_error;
  pub->Stop();
}

TEST_F(PublisherBrokerTest, WrongPasswordAndUntrustedCaAreReportedAndRetried) {
  const auto pki = MakeTestPki(dir_.path(), "good");
  const auto other = MakeTestPki(dir_.path(), "other");
  ASSERT_TRUE(pki.ok() && other.ok());
  MosquittoBroker broker(dir_.path() / "broker", MosquittoBroker::Tls(pki, "edge", "right-pw"));
  ASSERT_TRUE(broker.Start()) << broker.Log();

  UpstreamOptions wrong_pw =
      Options("mqtts://edge:wrong-pw@localhost:" + std::to_string(broker.port()) + "/t",
              dir_.File("data1"));
  wrong_pw.ca_file = pki.ca_cert;
  auto a = Make(wrong_pw);
  ASSERT_TRUE(a);
  a->Start();
  ASSERT_TRUE(a->Enqueue(Input()));
  EXPECT_TRUE(WaitUntil([&] { return a->GetStatus().connection_failures >= 2; }, seconds(10)));
  UpstreamStatus s = a->GetStatus();
  EXPECT_NE(s.last_error.find("not authorised"), std::string::npos) << s.last_error;
  EXPECT_EQ(s.last_error.find("wrong-pw"), std::string::npos);
  EXPECT_EQ(s.outbox.depth, 1u);
  a->Stop();

  UpstreamOptions bad_ca = Options(broker.Url("t"), dir_.File("data2"));
  bad_ca.ca_file = other.ca_cert;
  auto b = Make(bad_ca);
  ASSERT_TRUE(b);
  b->Start();
  EXPECT_TRUE(WaitUntil([&] { return b->GetStatus().connection_failures >= 1; }, seconds(10)));
  s = b->GetStatus();
  EXPECT_FALSE(s.connected);
  EXPECT_NE(s.last_error.find("certificate verify failed"), std::string::npos) << s.last_error;
  b->Stop();
}

// The broker is down when edgevision starts (TLS): the refused connection
// is noticed at once (libmosquitto 2.0.11 alone would spin without
// reporting it), retried with backoff, and results wait in the outbox.
TEST_F(PublisherBrokerTest, BrokerDownAtStartIsRetriedUntilItComes) {
  const auto pki = MakeTestPki(dir_.path());
  ASSERT_TRUE(pki.ok());
  MosquittoBroker broker(dir_.path() / "broker", MosquittoBroker::Tls(pki));
  UpstreamOptions o = Options(broker.Url("late/results"), dir_.File("data"));
  o.ca_file = pki.ca_cert;
  auto pub = Make(o);
  ASSERT_TRUE(pub);
  pub->Start();
  std::set<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    PredictionInput in = Input();
    ids.insert(in.id);
    ASSERT_TRUE(pub->Enqueue(in));
  }
  ASSERT_TRUE(WaitUntil([&] { return pub->GetStatus().connection_failures >= 3; }, seconds(5)))
      << pub->GetStatus().last_error;
  UpstreamStatus s = pub->GetStatus();
  EXPECT_NE(s.last_error.find("Connection refused"), std::string::npos) << s.last_error;
  EXPECT_EQ(s.outbox.depth, 20u);
  ASSERT_TRUE(broker.Start()) << broker.Log();
  MqttSubscriber sub("sub-late", {"late/#"});
  sub.SetCa(pki.ca_cert);
  ASSERT_TRUE(sub.Connect("localhost", broker.port()));
  // The subscriber came after the broker: what was published before it
  // subscribed is not queued for it, so count from the outbox instead.
  ASSERT_TRUE(WaitUntil([&] { return pub->GetStatus().outbox.depth == 0; }, seconds(10)))
      << pub->GetStatus().last_error;
  EXPECT_EQ(pub->GetStatus().published, 20u);
  pub->Stop();
}

TEST_F(PublisherBrokerTest, IotEdgeModuleWithWorkloadApiTrustBundleAndTwin) {
  const auto pki = MakeTestPki(dir_.path(), "edgehub");
  ASSERT_TRUE(pki.ok());
  MosquittoBroker broker(dir_.path() / "broker", MosquittoBroker::Tls(pki));
  {
    std::ofstream extra(dir_.path() / "broker" / "mosquitto.conf", std::ios::app);
    extra << "connection_messages true\nlog_type all\n";
  }
  ASSERT_TRUE(broker.Start()) << broker.Log();
  std::ifstream ca_in(pki.ca_cert);
  const std::string ca_pem((std::istreambuf_iterator<char>(ca_in)),
                           std::istreambuf_iterator<char>());
  edgevision::testing::WorkloadApiStandIn workload(dir_.File("workload.sock"), "classifier",
                                                   "6380001", "module-key-bytes", ca_pem);
  ASSERT_TRUE(workload.ok());

  MqttSubscriber telemetry("telemetry-reader",
                           {"devices/edge1/modules/classifier/messages/events/#"});
  telemetry.SetCa(pki.ca_cert);
  ASSERT_TRUE(telemetry.Connect("localhost", broker.port()));
  TwinService twin(pki, broker.port(),
                   R"({"desired":{"upstream":{"minProbability":0.5},"$version":2},"reported":{}})");
  ASSERT_TRUE(twin.connected());

  const edgevision::testing::IotEdgeModuleEnv env(workload.uri());
  GetEnv getenv = env.Getenv();
  UpstreamOptions o = Options("", dir_.File("data"));  // auto-detected from IOTEDGE_*
  o.iothub_port = broker.port();
  PublisherHooks hooks;
  hooks.model_info = [] {
    return std::optional<ReportedModel>(
        ReportedModel{"model.pb", "tensorflow", "tf-1", "it1", "abc", {"Apple", "Banana"}});
  };
  auto pub = Make(o, getenv, hooks);
  ASSERT_TRUE(pub);
  EXPECT_EQ(pub->GetStatus().kind, "iotedge");
  pub->Start();

  // Connected as the module, twin read and applied, reported back.
  ASSERT_TRUE(WaitUntil([&] { return pub->GetStatus().twin_version == 2; }, seconds(10)))
      << pub->GetStatus().last_error << "\n"
      << broker.Log();
  EXPECT_EQ(pub->GetStatus().rule.min_probability, 0.5);
  EXPECT_GE(workload.sign_requests(), 1);
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "data" / "iotedge-trust-bundle.pem"));
  ASSERT_TRUE(WaitUntil([&] { return !twin.reported().empty(); }, seconds(5)));
  json reported = twin.reported().back();
  EXPECT_EQ(reported["upstream"]["minProbability"], 0.5);
  EXPECT_EQ(reported["upstream"]["desiredVersion"], 2);
  EXPECT_EQ(reported["model"]["sha1"], "abc");
  const std::string log = broker.Log();
  EXPECT_NE(log.find("as edge1/classifier"), std::string::npos) << log;
  EXPECT_NE(log.find("u'myhub.azure-devices.net/edge1/classifier/?api-version=2021-04-12'"),
            std::string::npos)
      << log;

  PredictionInput kept = Input({{"Apple", 0.9}, {"Banana", 0.1}});
  PredictionInput dropped = Input({{"Apple", 0.4}, {"Banana", 0.35}, {"Cherry", 0.25}});
  ASSERT_TRUE(pub->Enqueue(kept));
  EXPECT_FALSE(pub->Enqueue(dropped));  // below the twin's minProbability
  ASSERT_TRUE(telemetry.WaitFor([](const Messages& m) { return !m.empty(); }, seconds(10)));
  const Messages got = telemetry.Messages();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].topic,
            "devices/edge1/modules/classifier/messages/events/%24.on=classification&%24.mid=" +
                kept.id + "&%24.ct=application%2Fjson&%24.ce=utf-8");
  EXPECT_EQ(json::parse(got[0].payload)["id"], kept.id);

  // A desired patch switches publishing off, live.
  twin.SendDesiredPatch(3, R"({"upstream":{"enabled":false},"$version":3})");
  ASSERT_TRUE(WaitUntil([&] { return !pub->GetStatus().rule.enabled; }, seconds(10)));
  EXPECT_FALSE(pub->Enqueue(Input()));
  ASSERT_TRUE(WaitUntil([&] { return twin.reported().back()["upstream"]["enabled"] == false; },
                        seconds(5)));
  pub->Stop();
}

TEST_F(PublisherBrokerTest, IotHubConnectionStringIdentity) {
  const auto pki = MakeTestPki(dir_.path(), "hub");
  ASSERT_TRUE(pki.ok());
  MosquittoBroker broker(dir_.path() / "broker", MosquittoBroker::Tls(pki));
  {
    std::ofstream extra(dir_.path() / "broker" / "mosquitto.conf", std::ios::app);
    extra << "connection_messages true\nlog_type all\n";
  }
  ASSERT_TRUE(broker.Start()) << broker.Log();
  MqttSubscriber telemetry("hub-reader", {"devices/cam1/messages/events/#"});
  telemetry.SetCa(pki.ca_cert);
  ASSERT_TRUE(telemetry.Connect("localhost", broker.port()));

  UpstreamOptions o = Options("iothub", dir_.File("data"));
  o.connection_string =
      "HostName=myhub.azure-devices.net;DeviceId=cam1;SharedAccessKey=cGFzc3dvcmQ=;GatewayHostName="
      "localhost";
  o.ca_file = pki.ca_cert;
  o.iothub_port = broker.port();
  auto pub = Make(o);
  ASSERT_TRUE(pub);
  pub->Start();
  PredictionInput in = Input();
  ASSERT_TRUE(pub->Enqueue(in));
  ASSERT_TRUE(telemetry.WaitFor([](const Messages& m) { return !m.empty(); }, seconds(10)))
      << pub->GetStatus().last_error;
  EXPECT_EQ(telemetry.Messages()[0].topic, "devices/cam1/messages/events/%24.mid=" + in.id +
                                               "&%24.ct=application%2Fjson&%24.ce=utf-8");
  const std::string log = broker.Log();
  EXPECT_NE(log.find("as cam1 "), std::string::npos) << log;
  EXPECT_NE(log.find("u'myhub.azure-devices.net/cam1/?api-version=2021-04-12'"), std::string::npos)
      << log;
  EXPECT_EQ(log.find("cGFzc3dvcmQ="), std::string::npos);
  UpstreamStatus s = pub->GetStatus();
  ASSERT_TRUE(s.token_expires.has_value());
  EXPECT_GT(*s.token_expires, std::chrono::system_clock::now() + std::chrono::minutes(55));
  pub->Stop();
}

}  // namespace
}  // namespace edgevision::upstream
