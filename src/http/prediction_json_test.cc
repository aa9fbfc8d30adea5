#include "http/prediction_json.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "detect/golden_test_util.h"
#include "detect/ssd.h"
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

// --- detectors -----------------------------------------------------------------------------------

// The detections in a golden's "unrounded" list: exactly what the reference
// code had before its round(float(v), 8) (tests/data/detection/golden).
std::vector<detect::Detection> Unrounded(const nlohmann::json& doc) {
  using detect::testing::Hex;
  std::vector<detect::Detection> out;
  for (const auto& u : doc["unrounded"]) {
    detect::Detection d;
    d.probability = static_cast<float>(Hex(u["probability"]));
    d.tag_index = u["tagId"];
    d.tag = u["tagName"];
    const auto& b = u["boundingBox"];
    d.box = {Hex(b["left"]), Hex(b["top"]), Hex(b["width"]), Hex(b["height"])};
    out.push_back(std::move(d));
  }
  return out;
}

// The container's body, byte for byte, except the newline Flask's jsonify
// appends (no edgevision body ends with one; JSON readers ignore it).
void ExpectSameDocument(const std::string& ours, const nlohmann::json& golden) {
  std::string theirs = golden["container_body"];
  ASSERT_TRUE(!theirs.empty() && theirs.back() == '\n');
  theirs.pop_back();
  EXPECT_EQ(ours, theirs);
}

// The envelope the goldens' container bodies were normalised to.
PredictionEnvelope ContainerEnvelope() {
  PredictionEnvelope e = Envelope(ResponseStyle::kContainer);
  e.id = e.project = e.iteration = "";
  return e;
}

// Byte for byte the body the real container sends (Flask's jsonify, run by
// make_detection_golden.py) for the same detections: the 2022 compact Docker
// container for yolo_*, the 2024 S1 TFLite container for ssd_*.
TEST(DetectionJsonTest, IsTheContainersDocument) {
  const auto cases = detect::testing::GoldenCases("");
  int checked = 0;
  for (const std::string& name : cases) {
    SCOPED_TRACE(name);
    const nlohmann::json doc = detect::testing::ReadGolden(name + ".json");
    if (!doc.contains("container_body")) continue;  // numpy_order, python_repr, fruit_scene
    const std::vector<detect::Detection> detections = Unrounded(doc);
    ASSERT_EQ(detections.size(), doc.contains("expected") ? doc["expected"]["pairwise"]["predictions"].size()
                                                          : doc["predictions"].size());
    ExpectSameDocument(DetectionJson(detections, ContainerEnvelope()), doc);
    ++checked;
  }
  EXPECT_GE(checked, 11);
}

// S1 end to end: the raw detected_* outputs through detect::PostprocessSsd
// and DetectionJson give the S1 container's body exactly.
TEST(DetectionJsonTest, S1OutputsGiveTheS1ContainersBody) {
  const nlohmann::json doc = detect::testing::ReadGolden("ssd_vehicles.json");
  const detect::testing::SsdRaw raw = detect::testing::ReadSsdRaw(doc);
  const auto labels = detect::testing::Labels(doc);
  auto detections = detect::PostprocessSsd({raw.boxes, raw.scores, raw.classes}, labels);
  ASSERT_TRUE(detections.ok()) << detections.status().ToString();
  ExpectSameDocument(DetectionJson(*detections, ContainerEnvelope()), doc);
}

TEST(PythonFloatReprTest, WritesNumbersAsPythonsJsonModule) {
  // Expectations from Python 3.11's json.dumps.
  const std::vector<std::pair<double, std::string>> cases = {
      {0.22443718, "0.22443718"},  // nlohmann's own dump writes 0.22443717999999999
      {100.0, "100.0"},
      {1e+16, "1e+16"},
      {1.5e+16, "1.5e+16"},
      {9999999999999998.0, "9999999999999998.0"},
      {1e-05, "1e-05"},
      {0.0001, "0.0001"},
      {0.00012345, "0.00012345"},
      {1.3000000365082087e-07, "1.3000000365082087e-07"},
      {-0.04867999, "-0.04867999"},
      {0.0, "0.0"},
      {-0.0, "-0.0"},
      {123456789012345.6, "123456789012345.6"},
      {1234567890123456.8, "1234567890123456.8"},
      {5e-324, "5e-324"},
      {1.7976931348623157e+308, "1.7976931348623157e+308"},
      {0.1, "0.1"},
      {1.0, "1.0"},
      {-2.5, "-2.5"},
      {0.9995615482330322, "0.9995615482330322"},
      {12.0, "12.0"},
      {1e+22, "1e+22"},
      {1.25e-100, "1.25e-100"},
  };
  for (const auto& [value, text] : cases) EXPECT_EQ(PythonFloatRepr(value), text);
  EXPECT_EQ(PythonFloatRepr(std::nan("")), "null");
  // 350 more, written by Python (tests/data/detection/golden/python_repr.json).
  const nlohmann::json doc = detect::testing::ReadGolden("python_repr.json");
  ASSERT_EQ(doc["values"].size(), 350u);
  for (size_t i = 0; i < doc["values"].size(); ++i) {
    EXPECT_EQ(PythonFloatRepr(detect::testing::Hex(doc["values"][i])), doc["json"][i].get<std::string>());
  }
}

TEST(DetectionJsonTest, EmptyAndCloudStyle) {
  EXPECT_EQ(DetectionJson({}, ContainerEnvelope()),
            R"({"created":"2021-07-05T21:44:39.573181","id":"","iteration":"","predictions":[],"project":""})");
  detect::Detection d;
  d.box = {-0.25, 0.5, 1.5, 0.125};
  d.probability = 0.5f;
  d.tag_index = 3;
  d.tag = "Truck";
  auto doc = nlohmann::json::parse(DetectionJson(std::vector{d}, Envelope(ResponseStyle::kCloud)));
  EXPECT_EQ(doc["created"], "2021-07-05T21:44:39.573Z");
  EXPECT_EQ(doc["predictions"][0]["boundingBox"]["left"], -0.25);  // never clipped
  EXPECT_EQ(doc["predictions"][0]["boundingBox"]["width"], 1.5);
  EXPECT_EQ(doc["predictions"][0]["tagId"], 3);
}

}  // namespace
}  // namespace edgevision::http
