// The module twin's desired "model" and reported "modelDelivery"
// (docs/model-delivery.md) against a REAL mosquitto broker standing in for
// edgeHub: the real publisher (IoT Edge identity through the workload API
// stand-in, TLS), a test client playing the twin service (twin_service.h),
// the real model delivery with the real libcurl downloader, a real HTTP file
// server on loopback answering 503 (tests/e2e/model_file_server.h), and the
// glue `serve` uses (cli/delivery_twin.h). A round of failed attempts is
// reported as the same document GET /admin/model answers: retries,
// maxRetries and nextRetry while the next round waits.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "cli/delivery_twin.h"
#include "delivery/model_delivery.h"
#include "e2e/model_file_server.h"
#include "http/url_fetcher.h"
#include "test_support.h"
#include "upstream/edgehub_standin.h"
#include "upstream/twin_service.h"

namespace edgevision {
namespace {

using edgevision::testing::ModelFileServer;
using edgevision::testing::EdgeHubStandIn;
using edgevision::testing::TempDir;
using edgevision::testing::TwinService;
using nlohmann::json;
using namespace std::chrono_literals;

bool WaitUntil(const std::function<bool()>& done) { return edgevision::testing::WaitFor(done, 120s, 10ms); }

json Reported(const TwinService& twin) {
  const json doc = twin.reported_document();
  return doc.contains("modelDelivery") ? doc["modelDelivery"] : json();
}

TEST(DeliveryTwinBrokerTest, ADesiredModelsLaterRoundsAreReportedAsAdminModelShowsThem) {
  if (const std::string missing = edgevision::testing::MissingBrokerPrograms(); !missing.empty())
    EDGEVISION_SKIP_OR_FAIL(missing);
  TempDir dir("edgevision_delivery_twin");
  EdgeHubStandIn edgehub(dir.path());
  const std::string failed = edgehub.Start();
  ASSERT_EQ(failed, "");
  ModelFileServer files;
  files.Put("iter7.zip", "the bytes of a model");
  files.SetFault(ModelFileServer::Fault::kUnavailable);
  const std::string sha(64, 'e');

  const json model = {{"url", files.Url("iter7.zip") + "?sig=secret"}, {"sha256", sha}, {"version", "iter7"}};
  const json desired = {{"model", model}, {"$version", 2}};
  TwinService twin(edgehub.pki(), edgehub.port(), json{{"desired", desired}, {"reported", json::object()}}.dump());
  ASSERT_TRUE(twin.connected());

  Result<std::unique_ptr<upstream::Publisher>> made = edgehub.MakePublisher();
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  std::unique_ptr<upstream::Publisher> publisher = std::move(made).value();
  ASSERT_TRUE(publisher->uses_twin());

  // As `serve` makes them (cli/serve_command.cc MakeModelDelivery): the
  // downloader under the /url policy with loopback allowed. The model never
  // downloads here, so nothing is ever loaded.
  http::UrlFetchPolicy policy;
  policy.allow_loopback = true;
  Result<std::unique_ptr<delivery::FileDownloader>> downloader = http::MakeCurlDownloader(policy);
  ASSERT_TRUE(downloader.ok()) << downloader.status().ToString();
  predict::ModelSlot slot;
  predict::ModelReloader reloader(&slot, "/nowhere", [](const std::string& path) {
    return Result<std::shared_ptr<const predict::Classifier>>(Unsupported("nothing loads in this test: " + path));
  });
  delivery::DeliveryOptions d;
  d.data_dir = (dir.path() / "data").string();
  d.configured_model = "/nowhere";
  d.limits.retry_backoff = 1ms;
  d.limits.max_retry_rounds = 2;
  d.limits.retry_round_delay = 1h;  // only the same request (PUT /admin/model) would start it sooner
  Result<std::unique_ptr<delivery::ModelDelivery>> delivery =
      delivery::ModelDelivery::Open(d, &reloader, downloader->get());
  ASSERT_TRUE(delivery.ok()) << delivery.status().ToString();
  cli::ConnectDeliveryToTwin(delivery->get(), publisher.get());
  // Whatever happens below, the publisher (which calls into the delivery) stops first.
  struct StopAll {
    upstream::Publisher* publisher;
    delivery::ModelDelivery* delivery;
    ~StopAll() {
      publisher->Stop();
      delivery->Stop();
    }
  } stop_all{publisher.get(), delivery->get()};
  (*delivery)->StartedOn("/nowhere", "");
  (*delivery)->Start();
  publisher->Start();

  // The desired model is requested; its first round meets 503s; the wait
  // for the next round is reported with the count, the limit and the time.
  ASSERT_TRUE(WaitUntil([&] { return !Reported(twin)["nextRetry"].is_null(); })) << twin.reported_document().dump();
  const json reported = Reported(twin);
  EXPECT_EQ(reported["state"], "downloading");
  EXPECT_EQ(reported["version"], "iter7");
  EXPECT_EQ(reported["sha256"], sha);
  EXPECT_EQ(reported["retries"], 1);
  EXPECT_EQ(reported["maxRetries"], 2);
  EXPECT_EQ(reported["attempts"], d.limits.max_attempts);
  EXPECT_NE(reported["error"].get<std::string>().find("HTTP 503"), std::string::npos) << reported.dump();
  EXPECT_EQ(reported["source"], files.Url("iter7.zip")) << "never the query (a SAS token)";
  EXPECT_EQ(twin.reported_document().dump().find("secret"), std::string::npos);
  // The twin shows what GET /admin/model shows.
  EXPECT_EQ(reported, delivery::DeliveryStatusJson((*delivery)->status()));
  EXPECT_EQ(files.ranges().size(), static_cast<size_t>(d.limits.max_attempts));
}

}  // namespace
}  // namespace edgevision
