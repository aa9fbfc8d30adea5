#include "training/training_client.h"

#include <gtest/gtest.h>

namespace edgevision::training {
namespace {

TEST(ParseRetryAfter, DeltaSecondsAndHttpDates) {
  const auto now = std::chrono::system_clock::from_time_t(1700000000);  // 2023-11-14T22:13:20Z
  EXPECT_EQ(ParseRetryAfter("7", now), std::chrono::seconds(7));
  EXPECT_EQ(ParseRetryAfter("0", now), std::chrono::seconds(0));
  EXPECT_EQ(ParseRetryAfter("Tue, 14 Nov 2023 22:13:50 GMT", now), std::chrono::seconds(30));
  EXPECT_EQ(ParseRetryAfter("Tue, 14 Nov 2023 22:00:00 GMT", now), std::chrono::seconds(0));
  EXPECT_EQ(ParseRetryAfter("", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("soon", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("-3", now), std::nullopt);
}

TEST(NormalizeEndpoint, HttpsAnywhereHttpOnlyOnLoopback) {
  EXPECT_EQ(*NormalizeEndpoint("https://westeurope.api.cognitive.microsoft.com/"),
            "https://westeurope.api.cognitive.microsoft.com");
  EXPECT_EQ(*NormalizeEndpoint("http://127.0.0.1:8123"), "http://127.0.0.1:8123");
  EXPECT_EQ(*NormalizeEndpoint("http://localhost:80/proxy/"), "http://localhost:80/proxy");
  EXPECT_EQ(*NormalizeEndpoint("http://[::1]:9"), "http://[::1]:9");
  EXPECT_EQ(NormalizeEndpoint("http://example.com").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(NormalizeEndpoint("ftp://example.com").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(NormalizeEndpoint("https://").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(NormalizeEndpoint("https://user@host").status().code(), StatusCode::kInvalidArgument);
}

TEST(TrainingClient, RefusesAnEmptyKey) {
  TrainingClientOptions o;
  o.endpoint = "https://example.com";
  EXPECT_EQ(TrainingClient::Create(o).status().code(), StatusCode::kInvalidArgument);
  o.training_key = "abc\ndef";
  EXPECT_EQ(TrainingClient::Create(o).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace edgevision::training
