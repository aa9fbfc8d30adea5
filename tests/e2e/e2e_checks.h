// Checks shared by the end-to-end tests that run the real binary with the
// fruit export (apple/banana): its images, the top tag of an answer,
// "the server still classifies correctly", and the envelope every 200
// prediction answer has (classifier or detector).
#pragma once

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <regex>
#include <set>
#include <string>

#include "e2e/server_process.h"
#include "test_support.h"

namespace edgevision::testing {

inline std::string Fruit(const std::string& name) {
  return ReadText(Export("iotedge-applebanana-tf/images/" + name));
}

// The tagName of the first prediction, or "".
inline std::string Top(const std::string& body) {
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, false);
  if (!doc.is_object() || !doc.contains("predictions") || doc["predictions"].empty()) return "";
  return doc["predictions"][0]["tagName"].get<std::string>();
}

// The server still classifies correctly.
inline void ExpectStillServing(const ServerProcess& server, const std::string& after) {
  auto c = server.Client();
  auto res = c.Post("/image", Fruit("apple1.jpg"), "application/octet-stream");
  ASSERT_TRUE(res) << "no answer after: " << after;
  EXPECT_EQ(res->status, 200) << "after: " << after << ": " << res->body;
  EXPECT_EQ(Top(res->body), "Apple") << "after: " << after;
}

// The envelope of a 200 prediction answer, classifier or detector, and
// returns it parsed ({} when it is not JSON): Content-Length (the ESP-EYE
// needs it), JSON, exactly the container's keys in alphabetical order (as
// Flask's jsonify writes them), `created` in the container's or the cloud's
// format, `id` a UUID v4. The caller checks `predictions`.
inline nlohmann::json CheckPredictionEnvelope(const httplib::Result& res) {
  EXPECT_TRUE(res) << "no response";
  if (!res) return {};
  EXPECT_EQ(res->status, 200) << res->body;
  EXPECT_TRUE(res->has_header("Content-Length")) << "the ESP-EYE needs Content-Length";
  EXPECT_EQ(res->get_header_value("Content-Length"), std::to_string(res->body.size()));
  EXPECT_NE(res->get_header_value("Content-Type").find("application/json"), std::string::npos);
  nlohmann::json doc = nlohmann::json::parse(res->body, nullptr, false);
  EXPECT_TRUE(doc.is_object()) << res->body;
  if (!doc.is_object()) return {};
  std::set<std::string> keys;
  for (auto it = doc.begin(); it != doc.end(); ++it) keys.insert(it.key());
  EXPECT_EQ(keys, (std::set<std::string>{"created", "id", "iteration", "predictions", "project"}));
  EXPECT_EQ(res->body.rfind("{\"created\":", 0), 0u) << res->body;
  EXPECT_TRUE(doc["created"].is_string() &&
              std::regex_match(doc["created"].get<std::string>(),
                               std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6}|\.\d{3}Z)?)")))
      << doc["created"];
  EXPECT_TRUE(doc["id"].is_string() &&
              std::regex_match(doc["id"].get<std::string>(),
                               std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")))
      << doc["id"];
  EXPECT_TRUE(doc["predictions"].is_array()) << res->body;
  return doc;
}

}  // namespace edgevision::testing
