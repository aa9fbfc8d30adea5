#include "upstream/message_codec.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace edgevision::upstream {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::system_clock;

PredictionMessage Sample() {
  PredictionMessage m;
  m.id = "6f0c0b4e-1d2a-4c3b-9a8e-0123456789ab";
  m.seq = 42;
  m.stream = "a1b2c3d4-0000-4000-8000-000000000001";
  m.timestamp = system_clock::time_point(seconds(1625521479)) + milliseconds(573);
  m.route = "POST /{project}/image";
  m.project = "fruit";
  m.iteration = "";
  m.model_iteration_id = "it-7";
  m.model_sha1 = "0123456789abcdef0123456789abcdef01234567";
  m.predictions = {{"Apple", 0.9995615482330322}, {"Banana", 0.00043845}};
  return m;
}

TEST(MessageCodecTest, EncodesTheDocumentedSchema) {
  PredictionMessage m = Sample();
  m.capture_id = m.id;
  json doc = json::parse(EncodeMessage(m));
  EXPECT_EQ(doc["schemaVersion"], 1);
  EXPECT_EQ(doc["id"], m.id);
  EXPECT_EQ(doc["seq"], 42);
  EXPECT_EQ(doc["stream"], m.stream);
  EXPECT_EQ(doc["timestamp"], "2021-07-05T21:44:39.573Z");
  EXPECT_EQ(doc["route"], "POST /{project}/image");
  EXPECT_EQ(doc["project"], "fruit");
  EXPECT_EQ(doc["iteration"], "");
  EXPECT_EQ(doc["model"], json({{"iterationId", "it-7"}, {"sha1", m.model_sha1}}));
  ASSERT_EQ(doc["predictions"].size(), 2u);
  EXPECT_EQ(doc["predictions"][0]["tagName"], "Apple");
  EXPECT_DOUBLE_EQ(doc["predictions"][0]["probability"].get<double>(), 0.9995615482330322);
  EXPECT_EQ(doc["captureId"], m.id);
  std::set<std::string> keys;
  for (auto it = doc.begin(); it != doc.end(); ++it) keys.insert(it.key());
  EXPECT_EQ(keys,
            (std::set<std::string>{"schemaVersion", "id", "seq", "stream", "timestamp", "route",
                                   "project", "iteration", "model", "predictions", "captureId"}));
  // Without a capture, no captureId member at all.
  EXPECT_FALSE(json::parse(EncodeMessage(Sample())).contains("captureId"));
}

TEST(MessageCodecTest, ADetectorsMessageCarriesItsBoxes) {
  PredictionMessage m = Sample();
  m.predictions.clear();
  m.detections = std::vector<MessageDetection>{
      {"screw", 1, 0.87654321, {0.1, 0.2, 0.3, 0.4}},
      {"crack", 0, 0.5, {-0.03125, 0.75, 0.25, 0.5}}};  // crossing the border, unclipped
  json doc = json::parse(EncodeMessage(m));
  EXPECT_EQ(doc["schemaVersion"], 1);
  EXPECT_EQ(doc["predictions"], json::array());
  ASSERT_EQ(doc["detections"].size(), 2u);
  EXPECT_EQ(doc["detections"][0],
            json({{"tagName", "screw"},
                  {"tagId", 1},
                  {"probability", 0.87654321},
                  {"boundingBox", {{"left", 0.1}, {"top", 0.2}, {"width", 0.3}, {"height", 0.4}}}}));
  EXPECT_EQ(doc["detections"][1]["boundingBox"]["left"], -0.03125);
  Result<PredictionMessage> back = DecodeMessage(EncodeMessage(m));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_TRUE(back->detections.has_value());
  EXPECT_EQ(*back->detections, *m.detections);
  // A detector with no box above the threshold: an empty list, not absent.
  m.detections->clear();
  EXPECT_EQ(json::parse(EncodeMessage(m))["detections"], json::array());
  // A classifier's message has no detections member at all (schema as before).
  EXPECT_FALSE(json::parse(EncodeMessage(Sample())).contains("detections"));
  EXPECT_FALSE(DecodeMessage(EncodeMessage(Sample()))->detections.has_value());
}

TEST(MessageCodecTest, MalformedDetectionsAreRefused) {
  const std::string base = EncodeMessage(Sample());
  for (const char* bad : {R"("detections":7)", R"("detections":[1])",
                          R"("detections":[{"tagName":"a","tagId":0,"probability":0.5}])",
                          R"("detections":[{"tagName":"a","tagId":"0","probability":0.5,"boundingBox":{"left":0,"top":0,"width":1,"height":1}}])",
                          R"("detections":[{"tagName":"a","tagId":0,"probability":0.5,"boundingBox":{"left":0,"top":0,"width":1}}])"}) {
    std::string body = base;
    body.insert(1, std::string(bad) + ",");
    EXPECT_EQ(DecodeMessage(body).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(MessageCodecTest, RoundTrips) {
  PredictionMessage m = Sample();
  Result<PredictionMessage> back = DecodeMessage(EncodeMessage(m));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->id, m.id);
  EXPECT_EQ(back->seq, m.seq);
  EXPECT_EQ(back->stream, m.stream);
  EXPECT_EQ(back->timestamp, m.timestamp);
  EXPECT_EQ(back->route, m.route);
  EXPECT_EQ(back->project, m.project);
  EXPECT_EQ(back->model_sha1, m.model_sha1);
  ASSERT_EQ(back->predictions.size(), 2u);
  EXPECT_EQ(back->predictions[1].tag, "Banana");
  EXPECT_DOUBLE_EQ(back->predictions[1].probability, 0.00043845);
  EXPECT_FALSE(back->capture_id.has_value());
}

TEST(MessageCodecTest, DecodeRejectsMalformed) {
  for (const char* bad :
       {"", "not json", "[]", "{}", R"({"id":1})",
        R"({"id":"a","stream":"s","route":"r","project":"","iteration":"","timestamp":"yesterday",)"
        R"("seq":1,"predictions":[]})",
        R"({"id":"a","stream":"s","route":"r","project":"","iteration":"",)"
        R"("timestamp":"2021-07-05T21:44:39.573Z","seq":-1,"predictions":[]})",
        R"({"id":"a","stream":"s","route":"r","project":"","iteration":"",)"
        R"("timestamp":"2021-07-05T21:44:39.573Z","seq":1,"predictions":[{"tagName":3}]})"}) {
    EXPECT_FALSE(DecodeMessage(bad).ok()) << bad;
  }
}

// Issue 11: "model" fields of the wrong type threw json::type_error on the
// publisher thread, which has no catch. They are optional: left out.
TEST(MessageCodecTest, ModelFieldsOfTheWrongTypeAreLeftOutNotThrown) {
  json doc = json::parse(EncodeMessage(Sample()));
  doc["model"] = {{"iterationId", 42}, {"sha1", json::array({1, 2})}};
  Result<PredictionMessage> m = Internal("not decoded");
  EXPECT_NO_THROW(m = DecodeMessage(doc.dump()));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(m->model_iteration_id, "");
  EXPECT_EQ(m->model_sha1, "");
  EXPECT_EQ(m->predictions.size(), 2u);
}

TEST(TwinCodecTest, DesiredFromTwinAndPatches) {
  Result<std::string> desired = DesiredFromTwin(
      R"({"desired":{"upstream":{"enabled":true,"minProbability":0.5},"$version":3},"reported":{"$version":1}})");
  ASSERT_TRUE(desired.ok());
  Result<DesiredProperties> d = ParseDesired(*desired);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->version, 3);
  EXPECT_EQ(d->publish_enabled, true);
  EXPECT_EQ(d->min_probability, 0.5);
  EXPECT_FALSE(d->max_probability.has_value());
  EXPECT_FALSE(d->capture.has_value());

  // A patch merges (RFC 7386): null removes, other members stay.
  Result<std::string> merged = MergeDesiredPatch(
      *desired,
      R"({"upstream":{"minProbability":null,"tags":"Apple, Banana"},"capture":{"enabled":false},"$version":4})");
  ASSERT_TRUE(merged.ok());
  d = ParseDesired(*merged);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->version, 4);
  EXPECT_EQ(d->publish_enabled, true);
  EXPECT_FALSE(d->min_probability.has_value());
  EXPECT_EQ(d->tags, (std::vector<std::string>{"Apple", "Banana"}));
  ASSERT_TRUE(d->capture.has_value());
  EXPECT_EQ(d->capture->enabled, false);

  EXPECT_EQ(*DesiredFromTwin(R"({"reported":{}})"), "{}");
  EXPECT_FALSE(DesiredFromTwin("{").ok());
  EXPECT_FALSE(MergeDesiredPatch("{}", "[1]").ok());
}

TEST(TwinCodecTest, WrongTypesAreIgnoredAndNamed) {
  Result<DesiredProperties> d = ParseDesired(
      R"({"upstream":{"enabled":"yes","minProbability":1.5,"maxProbability":0.9,"tags":[1,2]},)"
      R"("capture":{"maxBytes":-1,"maxAgeSeconds":3600,"tags":["Apple"]}})");
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->publish_enabled.has_value());
  EXPECT_FALSE(d->min_probability.has_value());
  EXPECT_EQ(d->max_probability, 0.9);
  EXPECT_FALSE(d->tags.has_value());
  ASSERT_TRUE(d->capture.has_value());
  EXPECT_FALSE(d->capture->max_bytes.has_value());
  EXPECT_EQ(d->capture->max_age_s, 3600);
  EXPECT_EQ(d->capture->tags, (std::vector<std::string>{"Apple"}));
  ASSERT_EQ(d->errors.size(), 4u);
  EXPECT_EQ(d->errors[0], "upstream.enabled must be true or false");
  EXPECT_EQ(d->errors[1], "upstream.minProbability must be a number in [0, 1]");
  EXPECT_EQ(d->errors[3], "capture.maxBytes must be a non-negative integer");
  EXPECT_FALSE(ParseDesired("[]").ok());
  EXPECT_EQ(ParseDesired(R"({"upstream":3})")->errors,
            std::vector<std::string>{"upstream must be an object"});
}

TEST(TwinCodecTest, ReportedProperties) {
  ReportedProperties r;
  r.version = "0.1.0";
  r.applied.enabled = false;
  r.applied.min_probability = 0.25;
  r.applied.tags = {"Apple", "Banana"};
  r.desired_version = 7;
  r.errors = {"upstream.enabled must be true or false"};
  DesiredCapture c;
  c.enabled = true;
  r.capture = c;
  r.capture_status = "applied";
  r.model = ReportedModel{"model.pb", "tensorflow", "tf1", "it", "abc", {"Apple", "Banana"}};
  json doc = json::parse(EncodeReported(r));
  EXPECT_EQ(doc["edgevision"]["version"], "0.1.0");
  EXPECT_EQ(doc["upstream"]["enabled"], false);
  EXPECT_EQ(doc["upstream"]["minProbability"], 0.25);
  EXPECT_EQ(doc["upstream"]["maxProbability"], 1.0);
  EXPECT_EQ(doc["upstream"]["tags"], "Apple,Banana");
  EXPECT_EQ(doc["upstream"]["desiredVersion"], 7);
  EXPECT_EQ(doc["upstream"]["status"], "applied with errors");
  EXPECT_EQ(doc["capture"]["enabled"], true);
  EXPECT_EQ(doc["capture"]["status"], "applied");
  EXPECT_EQ(doc["model"]["sha1"], "abc");
  EXPECT_EQ(doc["model"]["labelCount"], 2);
  EXPECT_EQ(doc["model"]["labels"], "Apple,Banana");
}

TEST(TwinCodecTest, DesiredAndReportedSources) {
  Result<DesiredProperties> d = ParseDesired(
      R"({"sources":{"door":"rtsp://cam/s,fps=5","usb":"","gone":null,"number":5}})");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->sources, (std::map<std::string, std::string>{{"door", "rtsp://cam/s,fps=5"}, {"usb", ""}}));
  ASSERT_EQ(d->errors.size(), 1u);
  EXPECT_EQ(d->errors[0], R"(sources.number must be a string "URL[,key=value...]")");
  EXPECT_TRUE(ParseDesired("{}")->sources.empty());
  EXPECT_EQ(ParseDesired(R"({"sources":"door=x"})")->errors.size(), 1u);

  ReportedProperties r;
  EXPECT_FALSE(json::parse(EncodeReported(r)).contains("sources"));
  r.sources["door"] = ReportedSource{"rtsp://cam/s", "twin", "running", "", "h264", ""};
  r.sources["bad"] = ReportedSource{"", "twin", "", "", "", "source option fps=-3: bad"};
  r.sources["old"] = std::nullopt;
  json doc = json::parse(EncodeReported(r));
  EXPECT_EQ(doc["sources"]["door"],
            json::parse(R"({"url":"rtsp://cam/s","origin":"twin","state":"running","lastError":null,)"
                        R"("decoder":"h264","error":null})"));
  EXPECT_EQ(doc["sources"]["bad"]["error"], "source option fps=-3: bad");
  EXPECT_TRUE(doc["sources"]["bad"]["state"].is_null());
  ASSERT_TRUE(doc["sources"].contains("old"));
  EXPECT_TRUE(doc["sources"]["old"].is_null());  // removes it from the reported document
}

// Shapes from the workload API description (workloadVersion_2019_01_30.yaml)
// and the aziot trust-bundle doc.
TEST(WorkloadCodecTest, SignAndTrustBundleBodies) {
  json req = json::parse(EncodeSignRequest("dXJpCjEyMzQ1"));
  EXPECT_EQ(req, json({{"keyId", "primary"}, {"algo", "HMACSHA256"}, {"data", "dXJpCjEyMzQ1"}}));
  EXPECT_EQ(*DecodeSignResponse(R"({"digest":"kcWxXAK2OAaAoq2oCkaGzX2NMqDB8nCyNuq2fPYCDhk="})"),
            "kcWxXAK2OAaAoq2oCkaGzX2NMqDB8nCyNuq2fPYCDhk=");
  EXPECT_FALSE(DecodeSignResponse(R"({"digest":"not base64!"})").ok());
  EXPECT_FALSE(DecodeSignResponse(R"({"message":"x"})").ok());
  const std::string pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
  EXPECT_EQ(*DecodeTrustBundleResponse(json({{"certificate", pem}}).dump()), pem);
  EXPECT_FALSE(DecodeTrustBundleResponse(R"({"certificate":"hello"})").ok());
  EXPECT_EQ(DecodeWorkloadError(R"({"message":"Module not found"})"), "Module not found");
  EXPECT_EQ(DecodeWorkloadError("<html>"), "");
}

}  // namespace
}  // namespace edgevision::upstream
