// GET /metrics in-process: request counting through HttpServer's observer,
// access with the health key, prediction metrics and the collectors' text.
// The real binary scraped by a real Prometheus: tests/e2e/metrics_e2e_test.cc.
#include "http/metrics_routes.h"

#include <gtest/gtest.h>

#include <regex>

#include "http/access.h"

namespace edgevision::http {
namespace {

constexpr const char* kHealthKey = "health-key-0123456789";

// The value of the sample `series` (name plus labels exactly as exposed) in
// exposition text; -1 when absent.
double SampleValue(const std::string& text, const std::string& series) {
  const std::string prefix = "\n" + series + " ";
  const size_t at = ("\n" + text).find(prefix);
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + prefix.size() - 1));
}

HttpRequest Get(const std::string& path, const std::string& authorization = "") {
  HttpRequest r;
  r.method = "GET";
  r.path = path;
  if (!authorization.empty()) r.headers["Authorization"] = authorization;
  return r;
}

class MetricsServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Router router;
    router.Add("GET", "/items/{id}", [](const HttpRequest& req) {
      HttpResponse res;
      if (req.Param("id") == "missing") res.status = 404;
      return res;
    }, false, Access::kOpen);
    router.Add("GET", "/health", [](const HttpRequest&) { return HttpResponse{}; }, false, Access::kHealth);
    AddMetricsRoute(&router, &registry_);
    server_ = std::make_unique<HttpServer>(std::move(router), ServerLimits{}, TlsOptions{},
                                           AccessControl(AccessKeys{{}, {}, {kHealthKey}}));
    server_->SetRequestObserver([this](const RequestOutcome& o) { requests_.Record(o); });
  }

  std::string Scrape() {
    HttpResponse res = server_->Handle(Get("/metrics", std::string("Bearer ") + kHealthKey));
    EXPECT_EQ(res.status, 200);
    EXPECT_EQ(res.content_type, std::string(metrics::kContentType));
    return res.body;
  }

  metrics::Registry registry_;
  RequestMetrics requests_{&registry_};
  std::unique_ptr<HttpServer> server_;
};

TEST_F(MetricsServerTest, CountsByRoutePatternAndStatusNeverByRawPath) {
  server_->Handle(Get("/items/1"));
  server_->Handle(Get("/items/2"));
  server_->Handle(Get("/items/missing"));
  server_->Handle(Get("/no/such/route"));
  const std::string text = Scrape();
  EXPECT_EQ(SampleValue(text, R"(edgevision_requests_total{method="GET",route="/items/{id}",status="200"})"), 2);
  EXPECT_EQ(SampleValue(text, R"(edgevision_requests_total{method="GET",route="/items/{id}",status="404"})"), 1);
  EXPECT_EQ(SampleValue(text, R"(edgevision_requests_total{method="GET",route="unmatched",status="404"})"), 1);
  EXPECT_EQ(text.find("/items/1"), std::string::npos);
  EXPECT_EQ(text.find("/no/such/route"), std::string::npos);
}

TEST_F(MetricsServerTest, ScrapesAreCountedApartAndRefusedScrapesAsRequests) {
  EXPECT_EQ(server_->Handle(Get("/metrics")).status, 401);
  EXPECT_EQ(server_->Handle(Get("/metrics", "Bearer wrong-key-0123456789")).status, 401);
  HttpRequest with_header = Get("/metrics");
  with_header.headers["Prediction-Key"] = kHealthKey;
  EXPECT_EQ(server_->Handle(with_header).status, 200);
  Scrape();
  const std::string text = Scrape();
  // Two earlier scrapes answered 200; this one is counted after rendering.
  EXPECT_EQ(SampleValue(text, "edgevision_metrics_scrapes_total"), 2);
  EXPECT_EQ(SampleValue(text, R"(edgevision_requests_total{method="GET",route="/metrics",status="401"})"), 2);
  EXPECT_EQ(SampleValue(text, R"(edgevision_requests_total{method="GET",route="/metrics",status="200"})"), -1);
}

TEST_F(MetricsServerTest, UnknownMethodsShareOneLabelValue) {
  HttpRequest r = Get("/items/1");
  r.method = "BREW";
  server_->Handle(r);
  const std::string text = Scrape();
  EXPECT_EQ(SampleValue(text, R"(edgevision_requests_total{method="other",route="unmatched",status="405"})"), 1);
}

TEST(PredictionMetricsTest, StagesTopTagAndProbability) {
  metrics::Registry registry;
  PredictionMetrics observer(&registry);
  predict::Classification result;
  result.scores = {{"Banana", 1, 0.95f}, {"Apple", 0, 0.05f}};
  result.timings = {2.0, 3.0, 0.0, 40.0};
  predict::PredictionRecord record;
  record.result = &result;
  record.received = std::chrono::steady_clock::now();
  observer.OnPrediction(record);
  observer.OnPrediction(record);
  const std::string text = registry.Render();
  EXPECT_EQ(SampleValue(text, R"(edgevision_predictions_total{tag="Banana"})"), 2);
  EXPECT_EQ(SampleValue(text, R"(edgevision_predictions_total{tag="Apple"})"), -1);
  EXPECT_EQ(SampleValue(text, R"(edgevision_prediction_probability_bucket{tag="Banana",le="0.9"})"), 0);
  EXPECT_EQ(SampleValue(text, R"(edgevision_prediction_probability_bucket{tag="Banana",le="1"})"), 2);
  EXPECT_EQ(SampleValue(text, R"(edgevision_prediction_stage_seconds_count{stage="inference"})"), 2);
  EXPECT_DOUBLE_EQ(SampleValue(text, R"(edgevision_prediction_stage_seconds_sum{stage="inference"})"), 0.08);
  EXPECT_EQ(SampleValue(text, R"(edgevision_prediction_stage_seconds_bucket{stage="decode",le="0.001"})"), 0);
  EXPECT_EQ(SampleValue(text, R"(edgevision_prediction_stage_seconds_bucket{stage="decode",le="0.0025"})"), 2);
  EXPECT_EQ(SampleValue(text, R"(edgevision_prediction_stage_seconds_count{stage="total"})"), 2);
  EXPECT_EQ(SampleValue(text, R"(edgevision_prediction_stage_seconds_count{stage="queue"})"), 2);
}

TEST(PredictionMetricsTest, ADetectorsTopTagIsItsMostProbableDetection) {
  metrics::Registry registry;
  PredictionMetrics observer(&registry);
  predict::Classification result;
  std::vector<detect::Detection> detections(3);
  detections[0].tag = "bolt";
  detections[0].probability = 0.4f;
  detections[1].tag = "nut";
  detections[1].probability = 0.85f;
  detections[2].tag = "bolt";
  detections[2].probability = 0.6f;
  predict::PredictionRecord record;
  record.detections = &detections;
  observer.OnPrediction(record);
  std::vector<detect::Detection> none;
  record.detections = &none;
  observer.OnPrediction(record);
  const std::string text = registry.Render();
  EXPECT_EQ(SampleValue(text, R"(edgevision_predictions_total{tag="nut"})"), 1);
  EXPECT_EQ(SampleValue(text, R"(edgevision_predictions_total{tag=""})"), 1);
  EXPECT_EQ(SampleValue(text, R"(edgevision_predictions_total{tag="bolt"})"), -1);
  EXPECT_EQ(SampleValue(text, R"(edgevision_prediction_probability_bucket{tag="nut",le="0.9"})"), 1);
}

TEST(CollectorsTest, UpstreamErrorIsAnEscapedLabel) {
  upstream::UpstreamStatus s;
  s.kind = "mqtt";
  s.connected = false;
  s.outbox.depth = 7;
  s.outbox.dropped_full = 2;
  s.sent = 12;
  s.published = 10;
  s.last_error = "connect \"127.0.0.1\" failed:\nrefused \\ retry";
  s.last_error_at = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  metrics::TextWriter out;
  UpstreamCollector([s] { return s; })(&out);
  const std::string& text = out.text();
  EXPECT_EQ(SampleValue(text, R"(edgevision_upstream_connected{kind="mqtt"})"), 0);
  EXPECT_EQ(SampleValue(text, "edgevision_upstream_outbox_messages"), 7);
  EXPECT_EQ(SampleValue(text, "edgevision_upstream_sent_total"), 12);
  EXPECT_EQ(SampleValue(text, "edgevision_upstream_acked_total"), 10);
  EXPECT_EQ(SampleValue(text, R"(edgevision_upstream_dropped_total{reason="full"})"), 2);
  EXPECT_EQ(SampleValue(text, "edgevision_upstream_last_error_timestamp_seconds"), 1700000000);
  EXPECT_EQ(
      SampleValue(text, R"(edgevision_upstream_last_error_info{message="connect \"127.0.0.1\" failed:\nrefused \\ retry"})"),
      1);
}

TEST(CollectorsTest, ServerStatsAsGaugesAndCounters) {
  ServerStats st;
  st.open = 3;
  st.connections = 40;
  st.shed = 1;
  st.header_timeouts = 2;
  metrics::TextWriter out;
  ServerCollector([st] { return st; })(&out);
  EXPECT_EQ(SampleValue(out.text(), "edgevision_http_open_connections"), 3);
  EXPECT_EQ(SampleValue(out.text(), "edgevision_http_connections_total"), 40);
  EXPECT_EQ(SampleValue(out.text(), "edgevision_http_connections_shed_total"), 1);
  EXPECT_EQ(SampleValue(out.text(), R"(edgevision_http_timeouts_total{phase="header"})"), 2);
}

TEST(CollectorsTest, ModelNotLoadedYet) {
  predict::ModelSlot slot;
  slot.SetLoading("model.onnx");
  metrics::TextWriter out;
  ModelCollector(&slot, nullptr)(&out);
  QueueCollector(&slot)(&out);
  EXPECT_EQ(SampleValue(out.text(), "edgevision_model_ready"), 0);
  EXPECT_EQ(SampleValue(out.text(), R"(edgevision_model_state{state="loading"})"), 1);
  EXPECT_EQ(SampleValue(out.text(), R"(edgevision_model_state{state="ready"})"), 0);
  EXPECT_EQ(out.text().find("edgevision_model_info"), std::string::npos);
  EXPECT_EQ(SampleValue(out.text(), "edgevision_queue_depth"), 0);
}

TEST(CollectorsTest, NoStore) {
  metrics::TextWriter out;
  StoreCollector(CaptureApi{})(&out);
  EXPECT_EQ(SampleValue(out.text(), "edgevision_capture_store_enabled"), 0);
}

}  // namespace
}  // namespace edgevision::http
