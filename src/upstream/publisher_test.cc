// Publisher logic against a fake transport and a hand-moved clock, with a
// real SQLite outbox: ordering, the in-flight window, deletion on PUBACK
// only, and fault injection (broker down, CONNACK refused or missing,
// PUBACK never arriving, connection lost mid-stream, disk full, an
// unreadable stored message), SAS token renewal and the module twin.
#include "upstream/publisher.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>

#include "upstream/fake_transport.h"
#include "upstream/message_codec.h"
#include "test_support.h"
#include "upstream/testing_util.h"

namespace edgevision::upstream {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::FakeBroker;
using testing::FakeClock;
using testing::FakeTransport;
using testing::TempDir;

PredictionInput Input(int n, double apple = 0.9) {
  PredictionInput in;
  in.id = "id-" + std::to_string(n);
  in.created = std::chrono::system_clock::time_point(seconds(1750000000 + n));
  in.route = "POST /image";
  in.model_sha1 = "sha";
  in.predictions = {{"Apple", apple}, {"Banana", 1 - apple}};
  if (apple < 0.5) std::swap(in.predictions[0], in.predictions[1]);  // descending, as documented
  return in;
}

class PublisherTest : public ::testing::Test {
 protected:
  std::unique_ptr<Publisher> Make(PublisherConfig config, OutboxLimits limits = {},
                                  std::unique_ptr<Credentials> credentials = nullptr,
                                  PublisherHooks hooks = {}) {
    Result<std::unique_ptr<Outbox>> outbox = Outbox::Open(dir_.File("outbox.db"), limits, clock_);
    EXPECT_TRUE(outbox.ok()) << outbox.status().ToString();
    if (!credentials) {
      MqttConnectOptions o;
      o.host = "broker";
      o.client_id = "cam";
      credentials = MakeStaticCredentials(o);
    }
    return std::make_unique<Publisher>(std::move(config), std::move(outbox).value(),
                                       std::make_unique<FakeTransport>(&broker_),
                                       std::move(credentials), std::move(hooks), clock_);
  }

  static PublisherConfig MqttConfig() {
    PublisherConfig c;
    c.kind = TargetKind::kMqtt;
    c.description = "mqtt://broker:1883/results";
    c.topic_template = "results";
    return c;
  }

  // Runs the loop, advancing the clock by `step` per turn.
  void Run(Publisher& p, int turns, milliseconds step = milliseconds(50)) {
    for (int i = 0; i < turns; ++i) {
      p.RunOnce();
      clock_.Advance(step);
    }
  }

  std::vector<uint64_t> PublishedSeqs(const std::string& prefix = "") {
    std::vector<uint64_t> seqs;
    for (const std::string& payload : broker_.Payloads(prefix))
      seqs.push_back(DecodeMessage(payload)->seq);
    return seqs;
  }

  TempDir dir_{"publisher"};
  FakeClock clock_;
  FakeBroker broker_;
};

TEST_F(PublisherTest, PublishesInOrderWithinTheWindowAndDeletesOnPuback) {
  PublisherConfig config = MqttConfig();
  config.limits.max_in_flight = 8;
  auto p = Make(config);
  for (int i = 1; i <= 40; ++i) ASSERT_TRUE(p->Enqueue(Input(i)));
  EXPECT_EQ(p->GetStatus().outbox.depth, 40u);
  Run(*p, 20);
  std::vector<uint64_t> seqs = PublishedSeqs();
  ASSERT_EQ(seqs.size(), 40u);
  for (size_t i = 0; i < seqs.size(); ++i) EXPECT_EQ(seqs[i], i + 1);
  EXPECT_LE(broker_.max_unacked, 8u);
  EXPECT_GE(broker_.max_unacked, 2u);
  UpstreamStatus s = p->GetStatus();
  EXPECT_EQ(s.outbox.depth, 0u);
  EXPECT_EQ(s.published, 40u);
  EXPECT_TRUE(s.connected);
  EXPECT_EQ(s.state, "connected");
  EXPECT_EQ(broker_.published[0].topic, "results");
  EXPECT_EQ(broker_.published[0].qos, 1);
  json first = json::parse(broker_.published[0].payload);
  EXPECT_EQ(first["id"], "id-1");
  EXPECT_EQ(first["predictions"][0]["tagName"], "Apple");
}

TEST_F(PublisherTest, RuleFiltersByTagAndProbability) {
  PublisherConfig config = MqttConfig();
  config.rule.tags = {"Banana"};
  config.rule.min_probability = 0.5;
  auto p = Make(config);
  EXPECT_FALSE(p->Enqueue(Input(1, 0.9)));  // Banana 0.1
  EXPECT_TRUE(p->Enqueue(Input(2, 0.3)));   // Banana 0.7
  EXPECT_FALSE(p->Enqueue(Input(3, 0.5 + 1e-9)));
  UpstreamStatus s = p->GetStatus();
  EXPECT_EQ(s.filtered, 2u);
  EXPECT_EQ(s.outbox.depth, 1u);
}

TEST_F(PublisherTest, TopicTemplateAndCaptureId) {
  PublisherConfig config = MqttConfig();
  config.topic_template = "r/{tag}";
  auto p = Make(config);
  PredictionInput in = Input(1, 0.2);
  in.captured = true;
  ASSERT_TRUE(p->Enqueue(in));
  Run(*p, 4);
  ASSERT_EQ(broker_.published.size(), 1u);
  EXPECT_EQ(broker_.published[0].topic, "r/Banana");
  EXPECT_EQ(json::parse(broker_.published[0].payload)["captureId"], "id-1");
}

TEST_F(PublisherTest, BrokerDownBacksOffWithJitterAndRecovers) {
  PublisherConfig config = MqttConfig();
  config.limits.backoff_initial = milliseconds(1000);
  config.limits.backoff_max = milliseconds(8000);
  broker_.up = false;
  auto p = Make(config);
  for (int i = 1; i <= 5; ++i) ASSERT_TRUE(p->Enqueue(Input(i)));
  // 60 simulated seconds in 100 ms steps: attempts at 0, ~1, ~2, ~4, ~8, ~8… s.
  std::vector<int64_t> attempt_ms;
  int64_t t = 0;
  size_t seen = 0;
  for (int i = 0; i < 600; ++i) {
    p->RunOnce();
    if (broker_.connects.size() != seen) {
      seen = broker_.connects.size();
      attempt_ms.push_back(t);
    }
    clock_.Advance(milliseconds(100));
    t += 100;
  }
  // Jitter puts each gap in [base/2, base]: at most 0, .5, 1.5, 3.5, 7.5 then
  // every 4 s up to 59.5 s = 18 attempts; at least 0, 1, 3, 7, 15 then every
  // 8 s = 10 attempts. Each gap is checked below.
  ASSERT_GE(attempt_ms.size(), 7u);
  ASSERT_LE(attempt_ms.size(), 18u);
  for (size_t i = 1; i < attempt_ms.size(); ++i) {
    const int64_t gap = attempt_ms[i] - attempt_ms[i - 1];
    const int64_t base = std::min<int64_t>(8000, 1000LL << std::min<size_t>(i - 1, 10));
    EXPECT_GE(gap, base / 2) << "attempt " << i;
    EXPECT_LE(gap, base + 100) << "attempt " << i;
  }
  UpstreamStatus s = p->GetStatus();
  EXPECT_FALSE(s.connected);
  EXPECT_EQ(s.state, "waiting");
  EXPECT_NE(s.last_error.find("fake broker down"), std::string::npos) << s.last_error;
  EXPECT_EQ(s.connection_failures, attempt_ms.size());
  EXPECT_TRUE(s.next_attempt.has_value());
  EXPECT_EQ(s.outbox.depth, 5u);

  broker_.up = true;
  Run(*p, 120, milliseconds(100));
  EXPECT_EQ(PublishedSeqs(), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(p->GetStatus().outbox.depth, 0u);
}

TEST_F(PublisherTest, PubackNeverComesReconnectsAndResendsInOrder) {
  PublisherConfig config = MqttConfig();
  config.limits.max_in_flight = 4;
  config.limits.ack_timeout = milliseconds(5000);
  broker_.send_pubacks = false;
  auto p = Make(config);
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(p->Enqueue(Input(i)));
  Run(*p, 20);                                                      // 1 s
  EXPECT_EQ(PublishedSeqs(), (std::vector<uint64_t>{1, 2, 3, 4}));  // the window is full
  EXPECT_EQ(p->GetStatus().in_flight, 4u);
  EXPECT_EQ(p->GetStatus().outbox.depth, 10u);  // nothing deleted without PUBACK
  Run(*p, 150);  // past the ack timeout and the first backoff (at most 1 s)
  EXPECT_GE(broker_.connects.size(), 2u);
  EXPECT_NE(p->GetStatus().last_error.find("no PUBACK"), std::string::npos)
      << p->GetStatus().last_error;
  EXPECT_EQ(p->GetStatus().outbox.depth, 10u);

  broker_.send_pubacks = true;
  Run(*p, 200);
  EXPECT_EQ(p->GetStatus().outbox.depth, 0u);
  // At least once, in order of first appearance, with the unacknowledged
  // ones sent again after each reconnect.
  std::vector<uint64_t> seqs = PublishedSeqs();
  std::set<uint64_t> distinct(seqs.begin(), seqs.end());
  EXPECT_EQ(distinct.size(), 10u);
  EXPECT_EQ(*distinct.begin(), 1u);
  EXPECT_EQ(*distinct.rbegin(), 10u);
  std::vector<uint64_t> tail(seqs.end() - 10, seqs.end());
  EXPECT_EQ(tail, (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
}

TEST_F(PublisherTest, ConnectionLostMidStreamResendsFromOldestUnacknowledged) {
  PublisherConfig config = MqttConfig();
  config.limits.max_in_flight = 3;
  auto p = Make(config);
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(p->Enqueue(Input(i)));
  Run(*p, 6);
  EXPECT_EQ(p->GetStatus().outbox.depth, 0u);
  broker_.send_pubacks = false;
  for (int i = 4; i <= 9; ++i) ASSERT_TRUE(p->Enqueue(Input(i)));
  Run(*p, 2);
  EXPECT_EQ(PublishedSeqs().back(), 6u);
  broker_.drop_next_loop = true;
  broker_.send_pubacks = true;
  Run(*p, 100);
  std::vector<uint64_t> seqs = PublishedSeqs();
  EXPECT_EQ(seqs, (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(p->GetStatus().outbox.depth, 0u);
  EXPECT_EQ(p->GetStatus().published, 9u);
  // Sent counts every PUBLISH, the resends too (edgevision_upstream_sent_total).
  EXPECT_EQ(p->GetStatus().sent, 12u);
}

TEST_F(PublisherTest, RefusedOrSilentBrokerNeverStopsThePublisher) {
  PublisherConfig config = MqttConfig();
  config.limits.connect_timeout = milliseconds(2000);
  broker_.connack_code = 5;
  auto p = Make(config);
  ASSERT_TRUE(p->Enqueue(Input(1)));
  Run(*p, 10);
  EXPECT_NE(p->GetStatus().last_error.find("not authorised"), std::string::npos)
      << p->GetStatus().last_error;
  broker_.connack_code = 0;
  broker_.send_connack = false;
  Run(*p, 200);
  EXPECT_NE(p->GetStatus().last_error.find("no CONNACK"), std::string::npos)
      << p->GetStatus().last_error;
  EXPECT_EQ(p->GetStatus().outbox.depth, 1u);
  broker_.send_connack = true;
  Run(*p, 400);
  EXPECT_EQ(p->GetStatus().outbox.depth, 0u);
  EXPECT_EQ(PublishedSeqs(), std::vector<uint64_t>{1});
}

TEST_F(PublisherTest, MessagesWaitInTheOutboxAcrossRestarts) {
  {
    broker_.up = false;
    auto p = Make(MqttConfig());
    for (int i = 1; i <= 6; ++i) ASSERT_TRUE(p->Enqueue(Input(i)));
    Run(*p, 5);
    p->Stop();
    EXPECT_EQ(p->GetStatus().state, "stopped");
    EXPECT_EQ(p->GetStatus().outbox.depth, 6u);
  }
  broker_.up = true;
  auto p = Make(MqttConfig());
  ASSERT_TRUE(p->Enqueue(Input(7)));
  Run(*p, 10);
  EXPECT_EQ(PublishedSeqs(), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7}));
}

// Fault injection: the disk (here the outbox's file cap) cannot take a
// message. The request path keeps going; the failure is counted and shown.
TEST_F(PublisherTest, DiskFullIsCountedNotFatal) {
  OutboxLimits limits;
  limits.max_file_bytes = 64 << 10;
  limits.max_message_bytes = 1 << 20;
  auto p = Make(MqttConfig(), limits);
  PredictionInput big = Input(1);
  big.predictions.clear();
  for (int i = 0; i < 3000; ++i)
    big.predictions.push_back({"tag-number-" + std::to_string(i), 0.5});
  EXPECT_FALSE(p->Enqueue(big));
  EXPECT_TRUE(p->Enqueue(Input(2)));
  UpstreamStatus s = p->GetStatus();
  EXPECT_EQ(s.enqueue_failures, 1u);
  EXPECT_NE(s.last_error.find("cannot store result id-1"), std::string::npos) << s.last_error;
  EXPECT_EQ(s.outbox.depth, 1u);
  Run(*p, 5);
  EXPECT_EQ(PublishedSeqs().size(), 1u);
}

TEST_F(PublisherTest, UnreadableStoredMessageIsDroppedAndCounted) {
  PublisherConfig config = MqttConfig();
  config.kind = TargetKind::kIotHub;
  config.identity = {"hub.azure-devices.net", "cam", ""};
  {
    Result<std::unique_ptr<Outbox>> raw = Outbox::Open(dir_.File("outbox.db"), {}, clock_);
    ASSERT_TRUE(raw.ok());
    ASSERT_TRUE(
        (*raw)->Append([](uint64_t, const std::string&) { return std::string("{not json"); }).ok());
  }
  auto p = Make(config);
  ASSERT_TRUE(p->Enqueue(Input(2)));
  Run(*p, 6);
  EXPECT_EQ(PublishedSeqs("devices/").size(), 1u);
  EXPECT_EQ(p->GetStatus().outbox.dropped_corrupt, 1u);
  EXPECT_EQ(p->GetStatus().outbox.depth, 0u);
}

TEST_F(PublisherTest, IotHubTopicsCarryMessageIdAndContentType) {
  PublisherConfig config;
  config.kind = TargetKind::kIotEdge;
  config.identity = {"hub.azure-devices.net", "edge1", "classifier"};
  config.output = "classification";
  auto p = Make(config);
  ASSERT_TRUE(p->Enqueue(Input(1)));
  Run(*p, 6);
  ASSERT_EQ(broker_.Payloads("devices/").size(), 1u);
  EXPECT_EQ(broker_.published.back().topic,
            "devices/edge1/modules/classifier/messages/events/"
            "%24.on=classification&%24.mid=id-1&%24.ct=application%2Fjson&%24.ce=utf-8");
}

TEST_F(PublisherTest, SasTokenIsRenewedBeforeExpiryWithoutDuplicates) {
  PublisherConfig config = MqttConfig();
  config.limits.token_ttl = seconds(600);
  config.limits.token_renew_before = seconds(60);
  SasCredentialsConfig sas;
  sas.identity = {"hub.azure-devices.net", "cam", ""};
  sas.host = "hub.azure-devices.net";
  sas.ttl = config.limits.token_ttl;
  auto p = Make(
      config, {},
      MakeSasCredentials(sas, std::make_unique<KeySigner>(*KeySigner::Create("cGFzc3dvcmQ="))));
  ASSERT_TRUE(p->Enqueue(Input(1)));
  Run(*p, 4);
  ASSERT_EQ(broker_.connects.size(), 1u);
  const MqttConnectOptions first = broker_.connects[0];
  EXPECT_EQ(first.username, "hub.azure-devices.net/cam/?api-version=2021-04-12");
  EXPECT_EQ(first.client_id, "cam");
  EXPECT_TRUE(first.tls);
  const int64_t now_s =
      std::chrono::duration_cast<seconds>(clock_.Now().time_since_epoch()).count();
  EXPECT_NE(first.password.find("&se=" + std::to_string(now_s + 600)), std::string::npos)
      << first.password;
  ASSERT_TRUE(p->GetStatus().token_expires.has_value());

  // Nothing happens until 60 s before expiry; then one clean reconnect.
  Run(*p, 520, milliseconds(1000));
  EXPECT_EQ(broker_.connects.size(), 1u);
  ASSERT_TRUE(p->Enqueue(Input(2)));
  Run(*p, 30, milliseconds(1000));
  ASSERT_EQ(broker_.connects.size(), 2u);
  EXPECT_NE(broker_.connects[1].password, first.password);
  EXPECT_EQ(p->GetStatus().connection_failures, 0u);
  Run(*p, 5);
  EXPECT_EQ(PublishedSeqs(), (std::vector<uint64_t>{1, 2}));
}

TEST_F(PublisherTest, TwinDesiredPropertiesApplyLiveAndAreReported) {
  PublisherConfig config;
  config.kind = TargetKind::kIotHub;
  config.identity = {"hub.azure-devices.net", "cam", ""};
  config.twin = true;
  config.version = "9.9.9";
  PublisherHooks hooks;
  hooks.model_info = [] {
    return std::optional<ReportedModel>(ReportedModel{"m.pb", "tf", "g", "it", "abc", {"Apple"}});
  };
  auto p = Make(config, {}, nullptr, hooks);
  std::vector<DesiredCapture> captures;
  p->SetCaptureHandler([&](const DesiredCapture& c) {
    captures.push_back(c);
    return Status::Ok();
  });
  Run(*p, 3);
  ASSERT_TRUE(p->GetStatus().connected);
  EXPECT_EQ(
      broker_.subscriptions,
      (std::vector<std::string>{"$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#"}));
  ASSERT_FALSE(broker_.published.empty());
  EXPECT_EQ(broker_.published[0].topic, "$iothub/twin/GET/?$rid=1");

  broker_.inbound.push_back(
      {"$iothub/twin/res/200/?$rid=1",
       R"({"desired":{"upstream":{"minProbability":0.95,"tags":"Apple"},)"
       R"("capture":{"enabled":true,"maxBytes":1000},"$version":3},"reported":{}})"});
  Run(*p, 3);
  EXPECT_EQ(p->GetStatus().rule.min_probability, 0.95);
  EXPECT_EQ(p->GetStatus().twin_version, 3);
  ASSERT_EQ(captures.size(), 1u);
  EXPECT_EQ(captures[0].enabled, true);
  EXPECT_EQ(captures[0].max_bytes, 1000);
  EXPECT_FALSE(p->Enqueue(Input(1, 0.9)));  // below the desired threshold
  EXPECT_TRUE(p->Enqueue(Input(2, 0.99)));

  auto last_reported = [&]() -> json {
    for (auto it = broker_.published.rbegin(); it != broker_.published.rend(); ++it) {
      if (it->topic.rfind("$iothub/twin/PATCH/properties/reported/?$rid=", 0) == 0)
        return json::parse(it->payload);
    }
    return json();
  };
  json reported = last_reported();
  ASSERT_TRUE(reported.is_object());
  EXPECT_EQ(reported["upstream"]["minProbability"], 0.95);
  EXPECT_EQ(reported["upstream"]["tags"], "Apple");
  EXPECT_EQ(reported["upstream"]["desiredVersion"], 3);
  EXPECT_EQ(reported["capture"]["status"], "applied");
  EXPECT_EQ(reported["model"]["sha1"], "abc");
  EXPECT_EQ(reported["edgevision"]["version"], "9.9.9");

  // A patch turns publishing off; a stale patch is ignored.
  broker_.inbound.push_back(
      {"$iothub/twin/PATCH/properties/desired/?$version=4",
       R"({"upstream":{"enabled":false,"minProbability":null},"$version":4})"});
  Run(*p, 3);
  EXPECT_FALSE(p->GetStatus().rule.enabled);
  EXPECT_EQ(p->GetStatus().rule.min_probability, 0.0);  // null: back to the command line's value
  EXPECT_FALSE(p->Enqueue(Input(3, 0.99)));
  EXPECT_EQ(last_reported()["upstream"]["enabled"], false);
  broker_.inbound.push_back({"$iothub/twin/PATCH/properties/desired/?$version=2",
                             R"({"upstream":{"enabled":true},"$version":2})"});
  Run(*p, 3);
  EXPECT_FALSE(p->GetStatus().rule.enabled);

  // Invalid values are ignored and reported.
  broker_.inbound.push_back(
      {"$iothub/twin/PATCH/properties/desired/?$version=5",
       R"({"upstream":{"enabled":true,"maxProbability":"high"},"$version":5})"});
  Run(*p, 3);
  EXPECT_TRUE(p->GetStatus().rule.enabled);
  EXPECT_EQ(last_reported()["upstream"]["status"], "applied with errors");
  EXPECT_EQ(last_reported()["upstream"]["errors"],
            "upstream.maxProbability must be a number in [0, 1]");

  // After a reconnect the twin is fetched again.
  const size_t gets_before =
      std::count_if(broker_.published.begin(), broker_.published.end(),
                    [](const auto& m) { return m.topic.rfind("$iothub/twin/GET/", 0) == 0; });
  broker_.drop_next_loop = true;
  Run(*p, 60, milliseconds(100));
  const size_t gets_after =
      std::count_if(broker_.published.begin(), broker_.published.end(),
                    [](const auto& m) { return m.topic.rfind("$iothub/twin/GET/", 0) == 0; });
  EXPECT_EQ(gets_after, gets_before + 1);
}

// Issue 14, model delivery: the desired "model" reaches the handler once per
// change (not again on an unchanged twin document), a refused one is listed in
// upstream.errors, and the delivery state is reported as "modelDelivery" when
// it changes.
TEST_F(PublisherTest, TwinDesiredModelReachesDeliveryAndItsStateIsReported) {
  PublisherConfig config;
  config.kind = TargetKind::kIotHub;
  config.identity = {"hub.azure-devices.net", "cam", ""};
  config.twin = true;
  auto p = Make(config, {}, nullptr, {});
  std::vector<DesiredModel> requests;
  ReportedDelivery state;
  state.serving = "-";
  p->SetModelHandler([&](const DesiredModel& m) {
    requests.push_back(m);
    return m.sha256 == "bad" ? InvalidArgument("model: sha256 must be 64 hexadecimal digits") : Status::Ok();
  });
  p->SetDeliveryReporter([&] { return std::optional<ReportedDelivery>(state); });
  Run(*p, 3);
  auto last_reported = [&]() -> json {
    for (auto it = broker_.published.rbegin(); it != broker_.published.rend(); ++it) {
      if (it->topic.rfind("$iothub/twin/PATCH/properties/reported/?$rid=", 0) == 0)
        return json::parse(it->payload);
    }
    return json();
  };
  broker_.inbound.push_back({"$iothub/twin/res/200/?$rid=1",
                             R"({"desired":{"model":{"url":"https://h/m.zip","sha256":"abc","version":"v7"},)"
                             R"("$version":3},"reported":{}})"});
  Run(*p, 3);
  ASSERT_EQ(requests.size(), 1u);
  EXPECT_EQ(requests[0], (DesiredModel{"https://h/m.zip", "abc", "v7"}));
  EXPECT_EQ(last_reported()["modelDelivery"]["state"], "idle");

  EXPECT_TRUE(last_reported()["modelDelivery"]["nextRetry"].is_null());

  // Waiting for a later round: the twin shows what GET /admin/model shows.
  state.state = delivery::DeliveryState::kDownloading;
  state.version = "v7";
  state.error = "HTTP 503";
  state.retries = 2;
  state.max_retries = 6;
  state.next_retry = std::chrono::system_clock::time_point(std::chrono::milliseconds(1796563212123));
  p->ReportSoon();
  Run(*p, 3);
  EXPECT_EQ(last_reported()["modelDelivery"], delivery::DeliveryStatusJson(state));
  EXPECT_EQ(last_reported()["modelDelivery"]["retries"], 2);
  EXPECT_EQ(last_reported()["modelDelivery"]["maxRetries"], 6);
  EXPECT_EQ(last_reported()["modelDelivery"]["nextRetry"], "2026-12-06T13:20:12.123Z");

  state = ReportedDelivery{};
  state.version = state.serving = "v7";
  state.sha256 = "abc";
  state.state = delivery::DeliveryState::kApplied;
  p->ReportSoon();
  Run(*p, 3);
  EXPECT_EQ(last_reported()["modelDelivery"]["state"], "applied");
  EXPECT_EQ(last_reported()["modelDelivery"]["serving"], "v7");
  EXPECT_TRUE(last_reported()["modelDelivery"]["error"].is_null());
  EXPECT_TRUE(last_reported()["modelDelivery"]["nextRetry"].is_null());

  // An unrelated patch: the model is not requested again.
  broker_.inbound.push_back({"$iothub/twin/PATCH/properties/desired/?$version=4",
                             R"({"upstream":{"enabled":true},"$version":4})"});
  Run(*p, 3);
  EXPECT_EQ(requests.size(), 1u);
  broker_.inbound.push_back({"$iothub/twin/PATCH/properties/desired/?$version=5",
                             R"({"model":{"sha256":"bad"},"$version":5})"});
  Run(*p, 3);
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_NE(last_reported()["upstream"]["errors"].get<std::string>().find("model: sha256"), std::string::npos)
      << last_reported().dump();
  broker_.inbound.push_back({"$iothub/twin/PATCH/properties/desired/?$version=6",
                             R"({"model":{"url":42},"$version":6})"});
  Run(*p, 3);
  EXPECT_EQ(requests.size(), 2u);
  EXPECT_NE(last_reported()["upstream"]["errors"].get<std::string>().find("must be strings"), std::string::npos);
}

TEST_F(PublisherTest, StartAndStopWithARealThread) {
  auto p = Make(MqttConfig());
  p->Start();
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(p->Enqueue(Input(i)));
  // The fake clock does not move; the loop runs on its own thread and the
  // fake broker acknowledges on every turn.
  edgevision::testing::WaitFor([&] { return p->GetStatus().outbox.depth == 0; });
  p->Stop();
  EXPECT_EQ(p->GetStatus().outbox.depth, 0u);
  EXPECT_EQ(p->GetStatus().state, "stopped");
  EXPECT_FALSE(p->Enqueue(Input(4)));  // stopped: refused, counted
  p->Stop();                           // idempotent
}

}  // namespace
}  // namespace edgevision::upstream
