#include "http/upstream_health.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace edgevision::http {
namespace {

using nlohmann::json;

TEST(UpstreamHealthTest, StatusBecomesTheUpstreamMember) {
  upstream::UpstreamStatus s;
  s.kind = "mqtt";
  s.target = "mqtts://cam:***@broker:8883/results";
  s.state = "waiting";
  s.outbox.depth = 12;
  s.outbox.bytes = 3400;
  s.outbox.dropped_expired = 2;
  s.outbox.dropped_full = 1;
  s.connection_failures = 3;
  s.last_error = "cannot connect: Connection refused";
  s.last_error_at = std::chrono::system_clock::time_point(std::chrono::seconds(1625521479));
  s.rule.tags = {"Apple"};
  json doc = {{"status", "ready"}};
  UpstreamHealthSection([&s] { return s; })(&doc);
  const json& u = doc["upstream"];
  EXPECT_EQ(doc["status"], "ready");
  EXPECT_EQ(u["target"], "mqtts://cam:***@broker:8883/results");
  EXPECT_EQ(u["state"], "waiting");
  EXPECT_EQ(u["connected"], false);
  EXPECT_EQ(u["outbox"]["depth"], 12);
  EXPECT_EQ(u["outbox"]["bytes"], 3400);
  EXPECT_EQ(u["outbox"]["dropped"]["total"], 3);
  EXPECT_EQ(u["outbox"]["dropped"]["expired"], 2);
  EXPECT_EQ(u["connectionFailures"], 3);
  EXPECT_EQ(u["lastError"], "cannot connect: Connection refused");
  EXPECT_EQ(u["lastErrorAt"], "2021-07-05T21:44:39.000Z");
  EXPECT_TRUE(u["lastPublish"].is_null());
  EXPECT_EQ(u["rule"]["tags"], json::array({"Apple"}));
}

}  // namespace
}  // namespace edgevision::http
