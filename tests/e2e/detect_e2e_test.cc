// End-to-end: the real edgevision binary on a loopback port serving a compact
// object detector (the synthetic yolo_compact_fruit.onnx as an ONNX export
// folder): the container's, the iteration and the cloud routes answer with
// the detectors' JSON; boxes and probabilities are the export's own code's
// (tests/data/detection/golden); a classify route on a detector, or a detect
// route on a classifier, is a 400 JSON error and the server keeps serving;
// /health reports the per-shape plan cache; a posted image is captured with
// its boxes and a person's regions export; `predict` prints detections and
// --draw writes a JPEG. The S1 family (s1_fruit.onnx) answers every route as
// the S1 containers do.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <thread>

#include "e2e/e2e_checks.h"
#include "e2e/server_process.h"
#include "s1_export.h"
#include "test_support.h"

namespace edgevision::testing {
namespace {

using nlohmann::json;

std::string Scene() { return ReadText(TestData("detection/fruit_scene.png")); }

json Golden(const std::string& file) { return json::parse(ReadText(TestData("detection/golden/" + file))); }

// A 200 detector body: the container's keys, each prediction with a
// normalised box and a numeric tagId.
json CheckDetectionShape(const httplib::Result& res) {
  json doc = CheckPredictionEnvelope(res);
  if (!doc.is_object()) return {};
  for (const json& p : doc["predictions"]) {
    EXPECT_TRUE(p["tagId"].is_number_integer()) << p;
    EXPECT_TRUE(p["boundingBox"].is_object()) << p;
    for (const char* k : {"left", "top", "width", "height"}) EXPECT_TRUE(p["boundingBox"][k].is_number()) << p;
  }
  return doc;
}

// Same tags and order; boxes and probabilities within 1e-4.
void ExpectSamePredictions(const json& got, const json& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i]["tagName"], want[i]["tagName"]) << i;
    EXPECT_EQ(got[i]["tagId"], want[i]["tagId"]) << i;
    EXPECT_NEAR(got[i]["probability"].get<double>(), want[i]["probability"].get<double>(), 1e-4) << i;
    for (const char* k : {"left", "top", "width", "height"}) {
      EXPECT_NEAR(got[i]["boundingBox"][k].get<double>(), want[i]["boundingBox"][k].get<double>(), 1e-4) << i << k;
    }
  }
}

class DetectorServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir("evdetect");
    server_ = new ServerProcess({"--model", MakeSyntheticDetectorExport(*dir_), "--url-allow-loopback"});
    ASSERT_TRUE(server_->WaitReady()) << server_->Log();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "---- server log ----\n" << server_->Log();
  }
  static ServerProcess* server_;
  static TempDir* dir_;
};
ServerProcess* DetectorServerTest::server_ = nullptr;
TempDir* DetectorServerTest::dir_ = nullptr;

TEST_F(DetectorServerTest, EveryDetectRouteAnswersTheExportsOwnDetections) {
  auto c = server_->Client();
  const std::string scene = Scene();
  json raw = CheckDetectionShape(c.Post("/image", scene, "application/octet-stream"));
  ExpectSamePredictions(raw["predictions"], Golden("fruit_scene.json")["predictions"]);
  httplib::MultipartFormDataItems items = {{"imageData", scene, "scene.png", "image/png"}};
  httplib::Headers key = {{"Prediction-Key", "anything"}};
  const std::vector<std::string> paths = {
      "/p/image", "/p/image/nostore", "/p/detect/iterations/Iteration3/image",
      "/p/detect/iterations/Iteration3/image/nostore",
      "/customvision/v3.0/Prediction/0a1b2c3d-0000-0000-0000-000000000000/detect/iterations/Iteration1/image",
      "/customvision/v3.1/prediction/proj/detect/iterations/Iteration1/image/nostore"};
  for (const std::string& path : paths) {
    SCOPED_TRACE(path);
    json doc = CheckDetectionShape(c.Post(path, key, items));
    EXPECT_EQ(doc["predictions"], raw["predictions"]);
  }
  json cloud = CheckDetectionShape(c.Post(paths[4], key, items));
  EXPECT_EQ(cloud["project"], "0a1b2c3d-0000-0000-0000-000000000000");
  EXPECT_EQ(cloud["iteration"], "Iteration1");
  EXPECT_EQ(cloud["created"].get<std::string>().back(), 'Z');
}

TEST_F(DetectorServerTest, UrlRoutesAndOtherImageSizes) {
  httplib::Server images;
  const std::string apple = Fruit("apple1.jpg");
  images.Get("/apple.jpg", [&](const httplib::Request&, httplib::Response& r) { r.set_content(apple, "image/jpeg"); });
  int port = images.bind_to_any_port("127.0.0.1");
  std::thread t([&] { images.listen_after_bind(); });
  while (!images.is_running()) std::this_thread::yield();
  const std::string url = json{{"url", "http://127.0.0.1:" + std::to_string(port) + "/apple.jpg"}}.dump();
  auto c = server_->Client();
  const json want = Golden("photos.json")["photos"][0];
  ASSERT_EQ(want["name"], "apple1");
  for (const char* path : {"/url", "/p/detect/iterations/It/url/nostore",
                           "/customvision/v3.0/prediction/p/detect/iterations/It/url"}) {
    SCOPED_TRACE(path);
    json doc = CheckDetectionShape(c.Post(path, url, "application/json"));
    ExpectSamePredictions(doc["predictions"], want["predictions"]);
  }
  images.stop();
  t.join();
}

TEST_F(DetectorServerTest, AClassifyRouteOnADetectorIsA400AndTheServerKeepsServing) {
  auto c = server_->Client();
  for (const char* path : {"/p/classify/iterations/It/image",
                           "/customvision/v3.0/Prediction/p/classify/iterations/It/image",
                           "/customvision/v3.1/prediction/p/CLASSIFY/iterations/It/image/nostore"}) {
    SCOPED_TRACE(path);
    auto res = c.Post(path, Scene(), "application/octet-stream");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 400);
    json err = json::parse(res->body, nullptr, false);
    EXPECT_EQ(err["code"], "BadRequest");
    EXPECT_NE(err["message"].get<std::string>().find("object detector"), std::string::npos) << res->body;
  }
  auto bad = c.Post("/image", std::string("not an image"), "application/octet-stream");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  CheckDetectionShape(c.Post("/image", Scene(), "application/octet-stream"));
}

TEST_F(DetectorServerTest, HealthReportsTheDetectorAndItsPlanCache) {
  auto c = server_->Client();
  CheckDetectionShape(c.Post("/image", Scene(), "application/octet-stream"));          // 448x608, compiled at load
  CheckDetectionShape(c.Post("/image", Fruit("banana2.jpg"), "application/octet-stream"));  // 448x640
  CheckDetectionShape(c.Post("/image", Fruit("banana2.jpg"), "application/octet-stream"));
  auto res = c.Get("/health");
  ASSERT_TRUE(res);
  json h = json::parse(res->body);
  const json& d = h["model"]["detector"];
  EXPECT_EQ(h["model"]["domain"], "ObjectDetection");
  EXPECT_EQ(d["family"], "yolo");
  EXPECT_EQ(d["probability_threshold"], 0.1);
  EXPECT_EQ(d["iou_threshold"], 0.45);
  EXPECT_EQ(d["max_detections"], 20);
  EXPECT_EQ(d["plans"]["capacity"], 8);
  std::set<std::pair<int, int>> shapes;
  for (const json& s : d["plans"]["shapes"]) shapes.insert({s["height"].get<int>(), s["width"].get<int>()});
  EXPECT_TRUE(shapes.count({448, 608})) << d;
  EXPECT_TRUE(shapes.count({448, 640})) << d;
  EXPECT_GE(d["plans"]["hits"].get<int>(), 2) << d;
  EXPECT_EQ(d["plans"]["misses"].get<int>(), static_cast<int>(d["plans"]["cached"].get<int>())) << d;
}

// The S1 (SSD-style) family: the synthetic s1_fruit.onnx as an ONNX export;
// every route answers what the S1 containers answer on the same photo
// (tests/data/detection/golden/s1_fruit.json: their HTTP body, ONNX Runtime
// as their runtime).
TEST(S1DetectorServerTest, EveryRouteAnswersTheS1ContainersBody) {
  TempDir dir("evdetects1");
  ServerProcess server({"--model", MakeSyntheticS1Export(dir), "--url-allow-loopback"});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  auto c = server.Client();
  const json golden = Golden("s1_fruit.json");
  const json& scene = golden["photos"][0];
  ASSERT_EQ(scene["name"], "fruit_scene");
  json raw = CheckDetectionShape(c.Post("/image", Scene(), "application/octet-stream"));
  ExpectSamePredictions(raw["predictions"], scene["container_body"]["predictions"]);
  httplib::MultipartFormDataItems items = {{"imageData", Scene(), "scene.png", "image/png"}};
  httplib::Headers key = {{"Prediction-Key", "anything"}};
  for (const std::string path : {"/p/detect/iterations/It/image/nostore",
                                 "/customvision/v3.0/Prediction/p/detect/iterations/It/image"}) {
    SCOPED_TRACE(path);
    EXPECT_EQ(CheckDetectionShape(c.Post(path, key, items))["predictions"], raw["predictions"]);
  }
  for (const json& photo : golden["photos"]) {
    SCOPED_TRACE(photo["name"].get<std::string>());
    json doc = CheckDetectionShape(
        c.Post("/image", ReadText(TestData(photo["photo"].get<std::string>())), "application/octet-stream"));
    ExpectSamePredictions(doc["predictions"], photo["container_body"]["predictions"]);
  }
  auto cls = c.Post("/p/classify/iterations/It/image", Scene(), "application/octet-stream");
  ASSERT_TRUE(cls);
  EXPECT_EQ(cls->status, 400);
  auto bad = c.Post("/image", std::string("not an image"), "application/octet-stream");
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  const json d = json::parse(health->body)["model"]["detector"];
  EXPECT_EQ(d["family"], "ssd") << d;
  EXPECT_TRUE(d.contains("nms")) << d;
  EXPECT_FALSE(d.contains("max_detections")) << d;
  EXPECT_EQ(d["plans"]["shapes"].size(), 1u) << d;  // one input size: 320x320
  if (HasFailure()) std::cerr << server.Log();
}

TEST(ClassifierServerDetectRouteTest, ADetectRouteOnAClassifierIsA400) {
  ServerProcess server({});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  auto c = server.Client();
  auto res = c.Post("/p/detect/iterations/It/image", Fruit("apple1.jpg"), "application/octet-stream");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(json::parse(res->body)["message"].get<std::string>().find("classifier"), std::string::npos) << res->body;
  res = c.Post("/p/classify/iterations/It/image", Fruit("apple1.jpg"), "application/octet-stream");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

// The capture writer stores a capture after the answer: waits until
// GET /captures/{id} has it, into *capture.
bool WaitForCapture(httplib::Client& c, const std::string& id, json* capture) {
  return WaitFor([&] {
    auto r = c.Get("/captures/" + id);
    if (!r || r->status != 200) return false;
    *capture = json::parse(r->body, nullptr, false);
    return capture->is_object();
  });
}

// A posted image on a detector with --capture all: the capture holds the
// boxes exactly as the response showed them; a person's regions saved through
// the API come back from `edgevision export` as Training API regions.
TEST(DetectCaptureE2E, APostedImageIsCapturedWithItsBoxesAndItsRegionsExport) {
  TempDir dir("evdetectcap");
  const std::string model = MakeSyntheticDetectorExport(dir);
  const std::string data = (dir.path() / "data").string();
  json answer;
  std::string id, rotated_id;
  {
    ServerProcess server({"--model", model, "--data-dir", data, "--capture", "all"});
    ASSERT_TRUE(server.WaitReady()) << server.Log();
    auto c = server.Client();
    answer = CheckDetectionShape(c.Post("/image", Scene(), "application/octet-stream"));
    ASSERT_FALSE(answer["predictions"].empty());
    id = answer["id"].get<std::string>();
    json capture;
    ASSERT_TRUE(WaitForCapture(c, id, &capture)) << server.Log();
    EXPECT_EQ(capture["kind"], "detection") << capture;
    EXPECT_TRUE(capture["regions"].is_null()) << capture;
    const json& stored = capture["detections"];
    const json& shown = answer["predictions"];
    ASSERT_EQ(stored.size(), shown.size()) << capture;
    for (size_t i = 0; i < shown.size(); ++i) {
      SCOPED_TRACE(i);
      EXPECT_EQ(stored[i]["tagName"], shown[i]["tagName"]);
      EXPECT_EQ(stored[i]["tagId"], shown[i]["tagId"]);
      EXPECT_EQ(stored[i]["probability"], shown[i]["probability"]);  // the response's rounding, exactly
      EXPECT_EQ(stored[i]["boundingBox"], shown[i]["boundingBox"]);
    }
    // A person keeps one box (moved inside the image) and saves it.
    const std::string tag = shown[0]["tagName"];
    const json regions = {{"regions", {{{"tagName", tag}, {"left", 0.25}, {"top", 0.125}, {"width", 0.5}, {"height", 0.25}}}}};
    auto put = c.Put("/captures/" + id + "/regions", regions.dump(), "application/json");
    ASSERT_TRUE(put);
    ASSERT_EQ(put->status, 200) << put->body;

    // A JPEG stored 384x512 with EXIF orientation 6: the export's code turns
    // it to 512x384 before detecting, so its boxes are fractions of 512x384,
    // and that is the size the capture (and COCO's pixel boxes) must carry.
    const json rotated_answer = CheckDetectionShape(
        c.Post("/image", ReadText(TestData("images/exif/orientation_6.jpg")), "application/octet-stream"));
    rotated_id = rotated_answer["id"].get<std::string>();
    json rotated;
    ASSERT_TRUE(WaitForCapture(c, rotated_id, &rotated)) << server.Log();
    EXPECT_EQ(rotated["image"]["width"], 512) << rotated;
    EXPECT_EQ(rotated["image"]["height"], 384) << rotated;
    put = c.Put("/captures/" + rotated_id + "/regions", regions.dump(), "application/json");
    ASSERT_TRUE(put);
    ASSERT_EQ(put->status, 200) << put->body;
    EXPECT_EQ(server.Stop(SIGTERM), 0) << server.Log();
  }
  TempDir out("evdetectexport");
  const std::string cmd = EdgevisionBinary().string() + " export --data-dir " + data + " --out " +
                          (out.path() / "set").string() + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const json set = json::parse(ReadText(out.path() / "set" / "customvision.json"), nullptr, false);
  ASSERT_TRUE(set.is_object()) << ReadText(out.path() / "set" / "customvision.json");
  ASSERT_EQ(set["images"].size(), 2u) << set;
  const json& image = set["images"][0]["captureId"] == id ? set["images"][0] : set["images"][1];
  EXPECT_EQ(image["captureId"], id);
  ASSERT_EQ(image["regions"].size(), 1u) << image;
  EXPECT_EQ(image["regions"][0]["tagName"], answer["predictions"][0]["tagName"]);
  EXPECT_DOUBLE_EQ(image["regions"][0]["left"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(image["regions"][0]["top"].get<double>(), 0.125);
  EXPECT_DOUBLE_EQ(image["regions"][0]["width"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(image["regions"][0]["height"].get<double>(), 0.25);

  // COCO: the rotated photo's size as the model saw it, and its box in those pixels.
  const json coco = json::parse(ReadText(out.path() / "set" / "coco.json"), nullptr, false);
  ASSERT_TRUE(coco.is_object()) << ReadText(out.path() / "set" / "coco.json");
  const std::string rotated_file = set["images"][0]["captureId"] == rotated_id ? set["images"][0]["file"]
                                                                               : set["images"][1]["file"];
  int checked = 0;
  for (const json& im : coco["images"]) {
    if (im["file_name"] != rotated_file) continue;
    EXPECT_EQ(im["width"], 512) << im;
    EXPECT_EQ(im["height"], 384) << im;
    for (const json& a : coco["annotations"]) {
      if (a["image_id"] != im["id"]) continue;
      EXPECT_EQ(a["bbox"], json({0.25 * 512, 0.125 * 384, 0.5 * 512, 0.25 * 384})) << a;
      ++checked;
    }
  }
  EXPECT_EQ(checked, 1) << coco;
}

// `edgevision predict` on the detector: the JSON on stdout, --draw a JPEG of the photo's size.
TEST(PredictDetectE2E, PrintsDetectionsAndDrawsThem) {
  TempDir dir("evdetectcli");
  const std::string model = MakeSyntheticDetectorExport(dir);
  TempDir out("evdraw");
  const std::string jpeg = out / "boxes.jpg";
  const std::string cmd = EdgevisionBinary().string() + " predict --model " + model + " --max-detections 4 --draw " +
                          jpeg + " " + TestData("detection/fruit_scene.png").string() + " 2>/dev/null";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string stdout_text;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) stdout_text.append(buf, n);
  ASSERT_EQ(pclose(p), 0) << stdout_text;
  json doc = json::parse(stdout_text);
  const json want = Golden("fruit_scene.json")["predictions"];
  ASSERT_EQ(doc["predictions"].size(), 4u);
  ExpectSamePredictions(doc["predictions"], json(std::vector<json>(want.begin(), want.begin() + 4)));
  const std::string written = ReadText(jpeg);
  ASSERT_GT(written.size(), 1000u);
  EXPECT_EQ(static_cast<unsigned char>(written[0]), 0xFF);
  EXPECT_EQ(static_cast<unsigned char>(written[1]), 0xD8);
  // The drawn image decodes to the photo's size through edgevision's own decoder.
  const std::string ppm = out / "boxes.ppm";
  ASSERT_EQ(std::system((EdgevisionBinary().string() + " decode " + jpeg + " --out " + ppm).c_str()), 0);
  EXPECT_EQ(ReadText(ppm).rfind("P6\n608 448\n", 0), 0u);
}

}  // namespace
}  // namespace edgevision::testing
