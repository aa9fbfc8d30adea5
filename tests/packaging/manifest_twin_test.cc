// The IoT Edge manifest speaks edgevision's language: its module twin is
// read by the real parser without a single complaint, and its route listens
// on the output edgevision publishes to. (The JSON shape itself is checked by
// manifests.test.mjs.)
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "test_support.h"
#include "upstream/message_codec.h"
#include "upstream/upstream_config.h"

namespace edgevision {
namespace {

nlohmann::json LoadTemplate() {
  const std::vector<uint8_t> bytes = testing::ReadBytes(testing::SourceDir() / "deploy/iotedge/deployment.template.json");
  return nlohmann::json::parse(bytes.begin(), bytes.end());
}

TEST(IotEdgeManifestTest, ClassifierTwinIsUnderstoodByEdgevision) {
  const nlohmann::json manifest = LoadTemplate();
  const nlohmann::json& desired = manifest.at("modulesContent").at("classifier").at("properties.desired");
  Result<upstream::DesiredProperties> parsed = upstream::ParseDesired(desired.dump());
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_TRUE(parsed->errors.empty()) << parsed->errors.front();
  // Every member the manifest sets reaches the publishing rule.
  const nlohmann::json& up = desired.at("upstream");
  ASSERT_TRUE(parsed->publish_enabled.has_value());
  EXPECT_EQ(*parsed->publish_enabled, up.at("enabled").get<bool>());
  ASSERT_TRUE(parsed->min_probability.has_value());
  EXPECT_EQ(*parsed->min_probability, up.at("minProbability").get<double>());
  ASSERT_TRUE(parsed->max_probability.has_value());
  EXPECT_EQ(*parsed->max_probability, up.at("maxProbability").get<double>());
  ASSERT_TRUE(parsed->tags.has_value());
  EXPECT_TRUE(parsed->tags->empty()) << "\"\" means: any tag";
}

TEST(IotEdgeManifestTest, RouteListensOnTheOutputEdgevisionPublishesTo) {
  const nlohmann::json manifest = LoadTemplate();
  const std::string output = upstream::UpstreamOptions{}.output;  // the --upstream-output default
  const std::regex upstream_route("FROM /messages/modules/classifier/outputs/(" + output + "|\\*) INTO \\$upstream");
  bool found = false;
  for (const auto& [name, route] : manifest.at("modulesContent").at("$edgeHub").at("properties.desired").at("routes").items()) {
    const std::string text = route.is_string() ? route.get<std::string>() : route.at("route").get<std::string>();
    found = found || std::regex_match(text, upstream_route);
  }
  EXPECT_TRUE(found) << "no route from classifier/outputs/" << output << " to $upstream";
}

}  // namespace
}  // namespace edgevision
