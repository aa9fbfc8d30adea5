// GET /metrics end to end (issue 14, part 1): the real binary with the capture
// store and upstream publishing on, a health key, and
//  - Prometheus's own linter (promtool check metrics) on a real scrape;
//  - a real Prometheus (Debian's `prometheus`) started here on loopback with
//    a generated config, scraping the binary with the health key as a bearer
//    token: N requests sent, `sum(edgevision_requests_total)` read back
//    through its HTTP API until it is N; a histogram_quantile query; every
//    PromQL expression of the shipped Grafana dashboard and every alert rule
//    evaluated by it;
//  - the dashboard's and the alert rules' metric names against a real scrape,
//    and `promtool check rules` on the shipped rules.
// promtool and prometheus come from scripts/setup-debian.sh --test; the tests
// that need them skip without them (fail under EDGEVISION_REQUIRE_ALL=1).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "e2e/server_process.h"
#include "test_support.h"

extern char** environ;

namespace edgevision::testing {
namespace {

using json = nlohmann::json;

constexpr const char* kHealthKey = "metrics-health-key-0123456789";

std::string Which(const std::string& name) {
  for (const char* dir : {"/usr/bin/", "/usr/sbin/", "/usr/local/bin/", "/bin/"}) {
    const std::string path = std::string(dir) + name;
    if (access(path.c_str(), X_OK) == 0) return path;
  }
  return "";
}

// A child process with stdin from `in` (or /dev/null) and stdout+stderr to
// `log`; killed and reaped when the object goes.
class Child {
 public:
  Child(std::vector<std::string> argv, const std::filesystem::path& log, const std::filesystem::path& in = "/dev/null")
      : log_(log) {
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    if (posix_spawn(&pid_, cargv[0], &actions, nullptr, cargv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~Child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  // Waits for the exit; the exit code, or -1.
  int Wait() {
    if (pid_ <= 0) return -1;
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  bool Running() {
    if (pid_ <= 0) return false;
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }
  std::string Log() const { return ReadText(log_); }

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
};

// Runs a program to completion; its exit code and output.
std::pair<int, std::string> RunToEnd(std::vector<std::string> argv, const std::filesystem::path& dir,
                                const std::filesystem::path& in = "/dev/null") {
  static int n = 0;
  const std::filesystem::path log = dir / ("run" + std::to_string(n++) + ".log");
  Child child(std::move(argv), log, in);
  const int rc = child.Wait();
  return {rc, ReadText(log)};
}

std::string Image(const std::string& name) {
  const std::vector<uint8_t> v = ReadBytes(Export("iotedge-applebanana-tf/images/" + name));
  return std::string(v.begin(), v.end());
}

httplib::Headers KeyHeader() { return {{"Prediction-Key", kHealthKey}}; }

// The real binary: capture store, upstream to a port where no broker
// listens (the upstream metrics then show a connection error), a health key.
// Waits for the model to be ready from the log alone, so the test's own
// requests are the only ones the server has answered.
class MetricsServer {
 public:
  explicit MetricsServer(const std::filesystem::path& dir)
      : server_({"--data-dir", (dir / "data").string(), "--capture", "all", "--upstream",
                 "mqtt://127.0.0.1:" + std::to_string(broker_.port()) + "/edgevision/results"},
                {std::string("EDGEVISION_HEALTH_KEY=") + kHealthKey}) {}

  bool WaitModelReady() {
    if (server_.port() == 0) return false;
    return WaitFor([&] { return server_.Log().find(" ready in ") != std::string::npos || !server_.Running(); },
                   std::chrono::seconds(60)) &&
           server_.Running();
  }
  // A scrape once the upstream error (no broker) is there: it is a label
  // value, the escaping's test. "" when it never comes.
  std::string ScrapeWithUpstreamError() {
    std::string text;
    WaitFor([&] {
      text = Scrape();
      return text.find("edgevision_upstream_last_error_info{") != std::string::npos;
    });
    return text.find("edgevision_upstream_last_error_info{") != std::string::npos ? text : "";
  }
  std::string Scrape() {
    httplib::Client c = server_.Client();
    auto res = c.Get("/metrics", {{"Authorization", std::string("Bearer ") + kHealthKey}});
    if (!res || res->status != 200) return "";
    return res->body;
  }
  ServerProcess& process() { return server_; }

 private:
  ClosedPort broker_;  // declared first: the server is started with its port
  ServerProcess server_;
};

// The metric names (sample names) in exposition text.
std::set<std::string> SampleNames(const std::string& text) {
  std::set<std::string> names;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    names.insert(line.substr(0, line.find_first_of("{ ")));
  }
  return names;
}

// The sum of a family's samples in exposition text.
double SumOf(const std::string& text, const std::string& name) {
  double sum = 0;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + "{", 0) == 0 || line.rfind(name + " ", 0) == 0) sum += std::stod(line.substr(line.rfind(' ')));
  }
  return sum;
}

// The metric names a PromQL expression refers to: identifiers of our
// families (edgevision_*, process_*), which never collide with PromQL
// functions, keywords or label names.
std::set<std::string> MetricsIn(const std::string& expr) {
  static const std::regex kName(R"(\b((?:edgevision|process)_[a-zA-Z0-9_]*))");
  std::set<std::string> names;
  for (std::sregex_iterator it(expr.begin(), expr.end(), kName), end; it != end; ++it) names.insert((*it)[1]);
  return names;
}

std::filesystem::path Dashboard() { return SourceDir() / "deploy" / "grafana" / "edgevision-dashboard.json"; }
std::filesystem::path AlertRules() { return SourceDir() / "deploy" / "prometheus" / "edgevision-alerts.yml"; }

// Every "expr" in the dashboard's panels (rows' nested panels included).
std::vector<std::string> DashboardExpressions() {
  const json doc = json::parse(ReadText(Dashboard()));
  std::vector<std::string> exprs;
  std::function<void(const json&)> walk = [&](const json& panels) {
    for (const json& p : panels) {
      if (p.contains("panels")) walk(p["panels"]);
      for (const json& t : p.value("targets", json::array())) {
        if (t.contains("expr")) exprs.push_back(t["expr"].get<std::string>());
      }
    }
  };
  walk(doc.at("panels"));
  return exprs;
}

// Every "expr:" line of the alert rules file (a rule's expression is on one line).
std::vector<std::string> AlertExpressions() {
  std::vector<std::string> exprs;
  std::istringstream in(ReadText(AlertRules()));
  static const std::regex kExpr(R"(^\s*expr:\s*(.+)$)");
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    if (std::regex_match(line, m, kExpr)) exprs.push_back(m[1]);
  }
  return exprs;
}

// The dashboard's variables as Grafana sends them: intervals, and the
// instance selector's "All".
std::string WithoutGrafanaVariables(std::string expr) {
  const std::pair<const char*, const char*> kValues[] = {
      {"$__rate_interval", "1m"}, {"$__interval", "1m"}, {"$__range", "1m"}, {"$instance", ".*"}};
  for (const auto& [name, value] : kValues) {
    for (size_t at; (at = expr.find(name)) != std::string::npos;) expr.replace(at, std::strlen(name), value);
  }
  return expr;
}

class MetricsE2eTest : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure() && server_) std::cerr << "---- server log ----\n" << server_->process().Log();
  }
  void StartServer() {
    server_ = std::make_unique<MetricsServer>(dir_.path());
    ASSERT_TRUE(server_->WaitModelReady()) << server_->process().Log();
  }

  TempDir dir_;
  std::unique_ptr<MetricsServer> server_;
};

// The sample names the issue asks for, by group.
const std::vector<std::string> kRequiredNames = {
    "edgevision_requests_total", "edgevision_metrics_scrapes_total",
    "edgevision_prediction_stage_seconds_bucket", "edgevision_prediction_stage_seconds_sum",
    "edgevision_prediction_stage_seconds_count", "edgevision_queue_depth", "edgevision_inference_workers_busy",
    "edgevision_inference_workers", "edgevision_predictions_total", "edgevision_prediction_probability_bucket",
    "edgevision_model_info", "edgevision_model_ready", "edgevision_model_loaded_timestamp_seconds",
    "edgevision_model_reloads_total", "edgevision_capture_store_captures", "edgevision_capture_store_bytes",
    "edgevision_captures_dropped_total", "edgevision_captures_stored_total", "edgevision_upstream_connected",
    "edgevision_upstream_outbox_messages", "edgevision_upstream_sent_total", "edgevision_upstream_acked_total",
    "edgevision_upstream_dropped_total", "edgevision_upstream_last_error_info",
    "edgevision_upstream_last_error_timestamp_seconds", "process_resident_memory_bytes",
    "process_cpu_seconds_total", "process_open_fds", "edgevision_build_info",
};

TEST_F(MetricsE2eTest, ARealScrapeCarriesEverythingAndPassesPromtool) {
  StartServer();
  httplib::Client c = server_->process().Client();
  for (const char* name : {"apple1.jpg", "banana1.jpg"}) {
    auto res = c.Post("/image", Image(name), "application/octet-stream");
    ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "no answer");
  }
  auto bad = c.Post("/image", "not an image", "application/octet-stream");
  ASSERT_TRUE(bad && bad->status == 400);
  const std::string text = server_->ScrapeWithUpstreamError();
  ASSERT_NE(text, "") << server_->Scrape();

  // Access follows the health key.
  auto no_key = c.Get("/metrics");
  ASSERT_TRUE(no_key);
  EXPECT_EQ(no_key->status, 401);
  auto with_header = c.Get("/metrics", KeyHeader());
  ASSERT_TRUE(with_header);
  EXPECT_EQ(with_header->status, 200);
  EXPECT_EQ(with_header->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");

  const std::set<std::string> names = SampleNames(text);
  for (const std::string& n : kRequiredNames) EXPECT_TRUE(names.count(n)) << n << " missing from\n" << text;
  EXPECT_NE(text.find(R"(edgevision_requests_total{method="POST",route="/image",status="200"} 2)"), std::string::npos);
  EXPECT_NE(text.find(R"(edgevision_requests_total{method="POST",route="/image",status="400"} 1)"), std::string::npos);
  EXPECT_EQ(SumOf(text, "edgevision_predictions_total"), 2);
  EXPECT_NE(text.find(R"(edgevision_prediction_stage_seconds_count{stage="total"} 2)"), std::string::npos);
  EXPECT_NE(text.find(R"(edgevision_model_ready 1)"), std::string::npos);
  EXPECT_NE(text.find(R"(edgevision_upstream_connected{kind="mqtt"} 0)"), std::string::npos);

  const std::string promtool = Which("promtool");
  if (promtool.empty()) EDGEVISION_SKIP_OR_FAIL("needs promtool (Debian: prometheus; scripts/setup-debian.sh --test)");
  const std::filesystem::path scrape = dir_.path() / "scrape.txt";
  std::ofstream(scrape) << text;
  auto [rc, out] = RunToEnd({promtool, "check", "metrics"}, dir_.path(), scrape);
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "") << "promtool's lint findings";
}

TEST_F(MetricsE2eTest, DashboardAndAlertRulesReferOnlyToMetricsOfARealScrape) {
  StartServer();
  httplib::Client c = server_->process().Client();
  auto res = c.Post("/image", Image("apple1.jpg"), "application/octet-stream");
  ASSERT_TRUE(res && res->status == 200);
  const std::string text = server_->ScrapeWithUpstreamError();
  ASSERT_NE(text, "") << server_->Scrape();
  const std::set<std::string> names = SampleNames(text);

  const std::vector<std::string> dashboard = DashboardExpressions();
  ASSERT_GE(dashboard.size(), 10u) << "the dashboard should chart every group of metrics";
  const std::vector<std::string> alerts = AlertExpressions();
  ASSERT_GE(alerts.size(), 4u);
  std::vector<std::string> all = dashboard;
  all.insert(all.end(), alerts.begin(), alerts.end());
  for (const std::string& expr : all) {
    const std::set<std::string> used = MetricsIn(expr);
    EXPECT_FALSE(used.empty()) << "no edgevision metric in: " << expr;
    for (const std::string& name : used) EXPECT_TRUE(names.count(name)) << name << " (in " << expr << ") is not exposed";
  }
}

TEST_F(MetricsE2eTest, PromtoolAcceptsTheAlertRules) {
  const std::string promtool = Which("promtool");
  if (promtool.empty()) EDGEVISION_SKIP_OR_FAIL("needs promtool (Debian: prometheus; scripts/setup-debian.sh --test)");
  auto [rc, out] = RunToEnd({promtool, "check", "rules", AlertRules().string()}, dir_.path());
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("SUCCESS"), std::string::npos) << out;
}

// ---- a real Prometheus ---------------------------------------------------------

// Prometheus on a free loopback port with a generated config that scrapes
// `target` every 250 ms with the health key as bearer token and loads the
// shipped alert rules.
class Prometheus {
 public:
  Prometheus(const std::filesystem::path& dir, int target) : dir_(dir) {
    std::ofstream(dir / "key") << kHealthKey;
    std::ofstream(dir / "prometheus.yml")
        << "global:\n"
           "  scrape_interval: 250ms\n"
           "  scrape_timeout: 250ms\n"
           "  evaluation_interval: 250ms\n"
           "rule_files:\n"
           "  - " << AlertRules().string() << "\n"
           "scrape_configs:\n"
           "  - job_name: edgevision\n"
           "    authorization:\n"
           "      credentials_file: " << (dir / "key").string() << "\n"
           "    static_configs:\n"
           "      - targets: ['127.0.0.1:" << target << "']\n";
  }

  // Starts Prometheus and waits for /-/ready. A port taken between choosing
  // and binding (other tests run at the same time) is retried on another.
  bool Start(const std::string& binary) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      port_ = FreePort();
      process_ = std::make_unique<Child>(
          std::vector<std::string>{binary, "--config.file=" + (dir_ / "prometheus.yml").string(),
                                   "--storage.tsdb.path=" + (dir_ / "tsdb").string(),
                                   "--web.listen-address=127.0.0.1:" + std::to_string(port_),
                                   "--log.level=warn"},
          dir_ / "prometheus.log");
      httplib::Client c("127.0.0.1", port_);
      c.set_connection_timeout(0, 200000);
      if (WaitFor([&] {
            if (!process_->Running()) return true;
            auto res = c.Get("/-/ready");
            return res && res->status == 200;
          }, std::chrono::seconds(60)) &&
          process_->Running()) {
        return true;
      }
    }
    return false;
  }

  // An instant query; the "data" member of the answer (null on error, with
  // the error in *error).
  json Query(const std::string& promql, std::string* error = nullptr) {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(Scaled(std::chrono::seconds(10)));
    auto res = c.Get("/api/v1/query", httplib::Params{{"query", promql}}, httplib::Headers{});
    if (!res) {
      if (error) *error = "no answer";
      return nullptr;
    }
    json doc = json::parse(res->body, nullptr, false);
    if (doc.is_discarded() || doc.value("status", "") != "success") {
      if (error) *error = res->body;
      return nullptr;
    }
    return doc["data"];
  }
  // The value of a query that answers one sample; NaN when it answers none.
  double Scalar(const std::string& promql) {
    json data = Query(promql);
    if (data.is_null() || data["result"].empty()) return std::nan("");
    return std::stod(data["result"][0]["value"][1].get<std::string>());
  }
  json Get(const std::string& path) {
    httplib::Client c("127.0.0.1", port_);
    auto res = c.Get(path);
    return res ? json::parse(res->body, nullptr, false) : json();
  }
  std::string Log() const { return process_ ? process_->Log() : ""; }

 private:
  std::filesystem::path dir_;
  int port_ = 0;
  std::unique_ptr<Child> process_;
};

TEST_F(MetricsE2eTest, ARealPrometheusScrapesTheRightNumbers) {
  const std::string binary = Which("prometheus");
  if (binary.empty()) EDGEVISION_SKIP_OR_FAIL("needs prometheus (Debian: prometheus; scripts/setup-debian.sh --test)");
  StartServer();
  Prometheus prom(dir_.path(), server_->process().port());
  ASSERT_TRUE(prom.Start(binary)) << prom.Log();

  // Prometheus has scraped the server before any request, so rates see the
  // requests as an increase.
  ASSERT_TRUE(WaitFor([&] { return prom.Scalar(R"(up{job="edgevision"})") == 1; }, std::chrono::seconds(60)))
      << prom.Log();
  EXPECT_TRUE(std::isnan(prom.Scalar("sum(edgevision_requests_total)")) ||
              prom.Scalar("sum(edgevision_requests_total)") == 0);

  // N requests: predictions, a bad image, an unknown route, a refused key.
  constexpr int kPredictions = 12;
  httplib::Client c = server_->process().Client();
  const std::vector<std::string> images = {Image("apple1.jpg"), Image("banana1.jpg")};
  for (int i = 0; i < kPredictions; ++i) {
    auto res = c.Post("/image", images[i % 2], "application/octet-stream");
    ASSERT_TRUE(res && res->status == 200);
  }
  auto bad = c.Post("/image", "not an image", "application/octet-stream");
  ASSERT_TRUE(bad && bad->status == 400);
  auto missing = c.Get("/no/such/route");
  ASSERT_TRUE(missing && missing->status == 404);
  auto refused = c.Get("/health");
  ASSERT_TRUE(refused && refused->status == 401);
  constexpr int kRequests = kPredictions + 3;

  double seen = 0;
  EXPECT_TRUE(WaitFor([&] {
    seen = prom.Scalar("sum(edgevision_requests_total)");
    return seen == kRequests;
  }, std::chrono::seconds(60))) << "Prometheus says " << seen << ", sent " << kRequests << "\n" << prom.Log();
  EXPECT_EQ(prom.Scalar(R"(sum(edgevision_requests_total{route="/image",status="200"}))"), kPredictions);
  EXPECT_EQ(prom.Scalar("sum(edgevision_predictions_total)"), kPredictions);
  EXPECT_EQ(prom.Scalar(R"(edgevision_prediction_stage_seconds_count{stage="inference"})"), kPredictions);
  EXPECT_EQ(prom.Scalar("edgevision_model_ready"), 1);

  // A latency quantile, the way the dashboard and the p99 alert ask for it.
  const std::string p99 =
      R"(histogram_quantile(0.99, sum by (le) (rate(edgevision_prediction_stage_seconds_bucket{stage="total"}[1m]))))";
  double q = std::nan("");
  EXPECT_TRUE(WaitFor([&] {
    q = prom.Scalar(p99);
    return std::isfinite(q) && q > 0;
  }, std::chrono::seconds(60))) << p99 << " = " << q;
  EXPECT_LE(q, 10.0);  // within the largest finite bucket

  // Every dashboard expression is valid PromQL and has data here. A rate()
  // has data once two scrapes hold its series: series that the requests
  // created may need another scrape, so each is waited for.
  for (const std::string& expr : DashboardExpressions()) {
    std::string error;
    json data;
    const bool has_data = WaitFor([&] {
      data = prom.Query(WithoutGrafanaVariables(expr), &error);
      return data.is_null() || !data["result"].empty();
    });
    ASSERT_FALSE(data.is_null()) << expr << ": " << error;
    EXPECT_TRUE(has_data) << "no data for dashboard expression: " << expr;
  }

  // The alert rules load and evaluate; with the model ready and nothing
  // wrong but the missing broker, the model alert is not firing.
  json rules;
  ASSERT_TRUE(WaitFor([&] {
    rules = prom.Get("/api/v1/rules");
    if (!rules.is_object() || rules["data"]["groups"].empty()) return false;
    for (const json& g : rules["data"]["groups"]) {
      for (const json& r : g["rules"]) {
        if (!r.contains("lastEvaluation") || r["lastEvaluation"].get<std::string>().rfind("0001-", 0) == 0)
          return false;
      }
    }
    return true;
  })) << rules.dump();
  std::map<std::string, std::string> state;
  for (const json& g : rules["data"]["groups"]) {
    for (const json& r : g["rules"]) {
      EXPECT_EQ(r.value("health", ""), "ok") << r.dump();
      state[r.value("name", "")] = r.value("state", "");
    }
  }
  ASSERT_TRUE(state.count("EdgevisionModelNotReady")) << rules.dump();
  EXPECT_EQ(state["EdgevisionModelNotReady"], "inactive");
}

}  // namespace
}  // namespace edgevision::testing
