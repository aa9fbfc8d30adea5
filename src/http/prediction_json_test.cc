#include "http/prediction_json.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "http/api_error.h"

namespace edgevision::http {
namespace {

using std::chrono::microseconds;
using std::chrono::seconds;

predict::Classification Scores(std::vector<std::pair<std::string, float>> s) {
  predict::Classification c;
  int i = 0;
  for (auto& [tag, p] : s) c.scores.push_back({tag, i++, p});
  return c;
}

PredictionEnvelope Envelope(ResponseStyle style) {
  PredictionEnvelope e;
  e.id = "id-1";
  e.project = "proj";
  e.iteration = "Iteration3";
  e.created = std::chrono::system_clock::time_point(seconds(1625521479)) + microseconds(573181);
  e.style = style;
  return e;
}

TEST(PredictionJsonTest, ContainerShapeKeysSortedRoundedAndFiltered) {
  std::string body = PredictionJson(Scores({{"Apple", 0.99956155f}, {"Banana", 1.3282752e-07f}, {"Cherry", 3e-9f}}),
                                    Envelope(ResponseStyle::kContainer));
  EXPECT_EQ(body,
            R"({"created":"2021-07-05T21:44:39.573181","id":"id-1","iteration":"Iteration3","predictions":[)"
            R"({"boundingBox":null,"probability":0.9995615482330322,"tagId":"","tagName":"Apple"},)"
            R"({"boundingBox":null,"probability":1.3000000365082087e-07,"tagId":"","tagName":"Banana"}],)"
            R"("project":"proj"})");
}

TEST(PredictionJsonTest, CloudStyleHasZuluTimestamp) {
  auto doc = nlohmann::json::parse(PredictionJson(Scores({{"a", 0.5f}}), Envelope(ResponseStyle::kCloud)));
  EXPECT_EQ(doc["created"], "2021-07-05T21:44:39.573Z");
  EXPECT_EQ(doc["predictions"][0]["probability"], 0.5);
}

TEST(PredictionJsonTest, FitsTheEspEyeBufferForTypicalModels) {
  // The ESP-EYE firmware parses into a 2 KB ArduinoJson document.
  std::string body = PredictionJson(Scores({{"pass", 0.97f}, {"fail", 0.03f}}), Envelope(ResponseStyle::kContainer));
  EXPECT_LT(body.size(), 400u);
}

TEST(ApiErrorTest, OneMappingForEveryCode) {
  EXPECT_EQ(ToApiError(InvalidArgument("x"), ErrorPhase::kImage).http_status, 400);
  EXPECT_EQ(ToApiError(InvalidArgument("x"), ErrorPhase::kImage).code, "BadRequestImageFormat");
  EXPECT_EQ(ToApiError(InvalidArgument("x"), ErrorPhase::kUrlFetch).code, "BadRequestImageUrl");
  EXPECT_EQ(ToApiError(ResourceExhausted("x"), ErrorPhase::kImage).code, "BadRequestImageDimensions");
  EXPECT_EQ(ToApiError(ResourceExhausted("x"), ErrorPhase::kUrlFetch).code, "BadRequestImageSizeBytes");
  EXPECT_EQ(ToApiError(ResourceExhausted("x"), ErrorPhase::kRequest).http_status, 413);
  EXPECT_EQ(ToApiError(DeadlineExceeded("x"), ErrorPhase::kUrlFetch).http_status, 400);
  EXPECT_EQ(ToApiError(Unavailable("x"), ErrorPhase::kImage).http_status, 503);
  EXPECT_EQ(ToApiError(PermissionDenied("x"), ErrorPhase::kRequest).http_status, 401);
  EXPECT_EQ(ToApiError(Internal("x"), ErrorPhase::kImage).http_status, 500);
  HttpResponse r = ErrorResponse(ToApiError(Unavailable("busy"), ErrorPhase::kImage));
  EXPECT_EQ(r.body, R"({"code":"ErrorPredictionServiceUnavailable","message":"busy"})");
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].first, "Retry-After");
}

TEST(ApiErrorTest, InvalidUtf8InMessagesDoesNotThrow) {
  HttpResponse r = ErrorResponse(400, "BadRequest", std::string("bad \xff\xfe bytes"));
  EXPECT_NE(r.body.find("BadRequest"), std::string::npos);
}

}  // namespace
}  // namespace edgevision::http
