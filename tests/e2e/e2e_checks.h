// Checks shared by the end-to-end tests that run the real binary with the
// fruit export (apple/banana): its images, the top tag of an answer, and
// "the server still classifies correctly".
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

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

}  // namespace edgevision::testing
