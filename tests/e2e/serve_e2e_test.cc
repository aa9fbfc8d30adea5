// End-to-end: the real edgevision binary, on a loopback port, serving the
// real Custom Vision exports; requests as the ESP-EYE, curl, the cloud SDKs
// and hostile clients send them.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <zip.h>

#include <cmath>
#include <regex>
#include <set>

#include "e2e/e2e_checks.h"
#include "e2e/server_process.h"
#include "raw_http.h"
#include "test_support.h"

namespace edgevision::testing {
namespace {

using nlohmann::json;

// Checks the exact shape of a classifier's answer and returns it parsed.
json CheckPredictionShape(const httplib::Result& res, bool cloud) {
  json doc = CheckPredictionEnvelope(res);
  if (!doc.is_object()) return {};
  const std::regex created(cloud ? R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"
                                 : R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?)");
  EXPECT_TRUE(std::regex_match(doc["created"].get<std::string>(), created)) << doc["created"];
  double previous = 2.0;
  for (const json& p : doc["predictions"]) {
    std::set<std::string> pkeys;
    for (auto it = p.begin(); it != p.end(); ++it) pkeys.insert(it.key());
    EXPECT_EQ(pkeys, (std::set<std::string>{"boundingBox", "probability", "tagId", "tagName"}));
    EXPECT_TRUE(p["boundingBox"].is_null());
    EXPECT_EQ(p["tagId"], "");
    const double prob = p["probability"].get<double>();
    EXPECT_GT(prob, 1e-8);
    EXPECT_LE(prob, 1.0);
    EXPECT_LE(prob, previous) << "predictions must be sorted by probability, descending";
    previous = prob;
  }
  return doc;
}

std::string Top(const json& doc) {
  return doc["predictions"].empty() ? "" : doc["predictions"][0]["tagName"].get<std::string>();
}

class DemoServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new ServerProcess({"--url-allow-loopback"});
    ASSERT_TRUE(server_->WaitReady()) << server_->Log();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }
  void TearDown() override {
    if (HasFailure()) std::cerr << "---- server log ----\n" << server_->Log();
  }
  // The server still classifies correctly.
  void ExpectStillServing() {
    auto c = server_->Client();
    auto res = c.Post("/image", Fruit("apple1.jpg"), "application/octet-stream");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(Top(json::parse(res->body)), "Apple");
  }
  static ServerProcess* server_;
};
ServerProcess* DemoServerTest::server_ = nullptr;

TEST_F(DemoServerTest, EspEyeStyleRawJpegGetsTheContainerJson) {
  auto c = server_->Client();
  auto res = c.Post("/image", Fruit("apple1.jpg"), "application/octet-stream");
  json doc = CheckPredictionShape(res, false);
  EXPECT_EQ(Top(doc), "Apple");
  EXPECT_EQ(doc["project"], "");
  EXPECT_EQ(doc["iteration"], "");
  res = c.Post("/image", Fruit("banana2.jpg"), "application/octet-stream");
  EXPECT_EQ(Top(CheckPredictionShape(res, false)), "Banana");
}

TEST_F(DemoServerTest, MultipartCurlDefaultAndCloudRoutesAgree) {
  auto c = server_->Client();
  const std::string apple = Fruit("apple2.jpg");
  json raw = CheckPredictionShape(c.Post("/image", apple, "application/octet-stream"), false);
  // curl --data-binary @x.jpg labels the JPEG application/x-www-form-urlencoded.
  json urlencoded = CheckPredictionShape(c.Post("/image", apple, "application/x-www-form-urlencoded"), false);
  httplib::MultipartFormDataItems items = {{"imageData", apple, "apple2.jpg", "image/jpeg"}};
  json multipart = CheckPredictionShape(c.Post("/image", items), false);
  httplib::Headers key = {{"Prediction-Key", "anything"}};
  json cloud = CheckPredictionShape(
      c.Post("/customvision/v3.0/Prediction/0a1b2c3d-0000-0000-0000-000000000000/classify/iterations/Iteration1/image",
             key, items),
      true);
  json cloud_nostore = CheckPredictionShape(
      c.Post("/customvision/v3.1/prediction/proj/classify/iterations/Iteration1/image/nostore", key, apple,
             "application/octet-stream"),
      true);
  json container_iter = CheckPredictionShape(
      c.Post("/myproject/classify/iterations/Iteration7/image/nostore", apple, "application/octet-stream"), false);
  for (const json* d : {&urlencoded, &multipart, &cloud, &cloud_nostore, &container_iter}) {
    EXPECT_EQ((*d)["predictions"], raw["predictions"]);
  }
  EXPECT_EQ(cloud["project"], "0a1b2c3d-0000-0000-0000-000000000000");
  EXPECT_EQ(cloud["iteration"], "Iteration1");
  EXPECT_EQ(container_iter["project"], "myproject");
  EXPECT_EQ(container_iter["iteration"], "Iteration7");
}

// issue 17, part 2: libcurl is loaded on first use (src/core/curl_lazy.cc).
// A server that has fetched nothing does not map it; the first /url
// request loads it, and it answers.
TEST(LazyLibcurl, LoadedByTheFirstUrlRequestOnly) {
  httplib::Server images;
  const std::string banana = Fruit("banana1.jpg");
  images.Get("/banana.jpg", [&](const httplib::Request&, httplib::Response& r) { r.set_content(banana, "image/jpeg"); });
  const int port = images.bind_to_any_port("127.0.0.1");
  std::thread t([&] { images.listen_after_bind(); });
  ServerProcess server({"--url-allow-loopback"});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  auto c = server.Client();
  json doc = CheckPredictionShape(c.Post("/image", Fruit("apple1.jpg"), "application/octet-stream"), false);
  EXPECT_EQ(Top(doc), "Apple");
  EXPECT_FALSE(MapsFile(server.pid(), "libcurl")) << "libcurl was loaded before anything was fetched";
  EXPECT_FALSE(MapsFile(server.pid(), "libgnutls"));
  doc = CheckPredictionShape(
      c.Post("/url", json{{"url", "http://127.0.0.1:" + std::to_string(port) + "/banana.jpg"}}.dump(),
             "application/json"),
      false);
  EXPECT_EQ(Top(doc), "Banana");
  EXPECT_TRUE(MapsFile(server.pid(), "libcurl"));
  images.stop();
  t.join();
}

TEST_F(DemoServerTest, UrlRoutesFetchTheImage) {
  httplib::Server images;
  const std::string banana = Fruit("banana1.jpg");
  images.Get("/banana.jpg", [&](const httplib::Request&, httplib::Response& r) { r.set_content(banana, "image/jpeg"); });
  images.Get("/text", [](const httplib::Request&, httplib::Response& r) { r.set_content("hello", "text/plain"); });
  int port = images.bind_to_any_port("127.0.0.1");
  std::thread t([&] { images.listen_after_bind(); });
  while (!images.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  auto c = server_->Client();
  json doc = CheckPredictionShape(c.Post("/url", json{{"url", base + "/banana.jpg"}}.dump(), "application/json"), false);
  EXPECT_EQ(Top(doc), "Banana");
  // The exported readme's {"Url": ...} spelling works too.
  doc = CheckPredictionShape(c.Post("/p/url/nostore", json{{"Url", base + "/banana.jpg"}}.dump(), "application/json"),
                             false);
  EXPECT_EQ(Top(doc), "Banana");
  doc = CheckPredictionShape(
      c.Post("/customvision/v3.0/prediction/p/classify/iterations/it/url", json{{"url", base + "/banana.jpg"}}.dump(),
             "application/json"),
      true);
  EXPECT_EQ(Top(doc), "Banana");
  auto res = c.Post("/url", json{{"url", base + "/text"}}.dump(), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(json::parse(res->body)["code"], "BadRequestImageFormat");
  images.stop();
  t.join();
}

TEST_F(DemoServerTest, BadRequestsGetA4xxJsonErrorAndTheServerKeepsServing) {
  struct Case {
    std::string name, path, body, content_type;
    int status;
    std::string code;
  };
  const std::string apple = Fruit("apple1.jpg");
  const std::vector<Case> cases = {
      {"empty body", "/image", "", "application/octet-stream", 400, "BadRequestImageFormat"},
      {"text file", "/image", "this is not an image\n", "text/plain", 400, "BadRequestImageFormat"},
      {"truncated jpeg", "/image", apple.substr(0, apple.size() / 3), "image/jpeg", 400, "BadRequestImageFormat"},
      {"jpeg header only", "/image", apple.substr(0, 200), "image/jpeg", 400, "BadRequestImageFormat"},
      {"url: not json", "/url", "{not json", "application/json", 400, "BadRequestImageUrl"},
      {"url: no url key", "/url", R"({"href": "http://x"})", "application/json", 400, "BadRequestImageUrl"},
      {"url: file scheme", "/url", R"({"url": "file:///etc/passwd"})", "application/json", 400, "BadRequestImageUrl"},
      {"url: number", "/url", R"({"url": 42})", "application/json", 400, "BadRequestImageUrl"},
      {"unknown route", "/predict", apple, "image/jpeg", 404, "NotFound"},
  };
  auto c = server_->Client();
  for (const Case& k : cases) {
    auto res = c.Post(k.path, k.body, k.content_type);
    ASSERT_TRUE(res) << k.name;
    EXPECT_EQ(res->status, k.status) << k.name << ": " << res->body;
    json doc = json::parse(res->body, nullptr, false);
    ASSERT_TRUE(doc.is_object()) << k.name << ": " << res->body;
    EXPECT_EQ(doc["code"], k.code) << k.name;
    EXPECT_FALSE(doc["message"].get<std::string>().empty()) << k.name;
    EXPECT_TRUE(res->has_header("Content-Length")) << k.name;
    ExpectStillServing();
  }
  // Multipart without imageData.
  httplib::MultipartFormDataItems wrong = {{"file", apple, "a.jpg", "image/jpeg"}};
  auto res = c.Post("/image", wrong);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_NE(json::parse(res->body)["message"].get<std::string>().find("imageData"), std::string::npos);
  // Wrong method.
  res = c.Get("/image");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 405);
  // A body over the limit is refused from its Content-Length, before it is
  // read: the server answers at once and closes, so the rest of the upload
  // may fail to send (a raw socket, as httplib's client would stop at EPIPE).
  testing::RawConnection raw(server_->port());
  ASSERT_TRUE(raw.ok());
  raw.Send("POST /image HTTP/1.1\r\nHost: edge\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
           std::to_string(5 * 1024 * 1024) + "\r\n\r\n" + std::string(64 * 1024, 'x'));
  const std::string answer = raw.ReadResponse(std::chrono::seconds(10));
  ASSERT_EQ(answer.rfind("HTTP/1.1 413", 0), 0u) << answer.substr(0, 200);
  EXPECT_EQ(json::parse(answer.substr(answer.find("\r\n\r\n") + 4))["code"], "BadRequestImageSizeBytes");
  ExpectStillServing();
}

TEST_F(DemoServerTest, HealthAndTheContainerIndex) {
  auto c = server_->Client();
  auto res = c.Get("/");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "CustomVision.ai model host harness");
  res = c.Get("/health");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  json doc = json::parse(res->body);
  EXPECT_EQ(doc["status"], "ready");
  EXPECT_EQ(doc["model"]["labels"], json::array({"Apple", "Banana"}));
  EXPECT_EQ(doc["model"]["input"]["width"], 227);
  EXPECT_EQ(doc["model"]["format"], "TensorFlow GraphDef");
  res = c.Get("/health/live");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
}

// Serves each real export and checks top-1 on its own images.
struct ExportCase {
  std::string model;     // under tests/data/cv-exports
  std::string images;    // folder under tests/data/cv-exports
  bool class_from_dir;   // image folder name is the expected tag
};

// Test names and failure messages show the model, not the struct's bytes.
void PrintTo(const ExportCase& k, std::ostream* os) { *os << k.model; }

std::string ExpectedTag(const std::filesystem::path& image) {
  std::string name = image.filename().string();
  if (name.rfind("apple", 0) == 0) return "Apple";
  if (name.rfind("banana", 0) == 0) return "Banana";
  if (name.rfind("kitten", 0) == 0) return "cat";
  if (name == "IMG_20200229_164759.jpg") return "apple";  // the 2.2 export's own photo
  return "";
}

std::string Lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

class ExportServeTest : public ::testing::TestWithParam<ExportCase> {};

TEST_P(ExportServeTest, LoadsAsShippedAndClassifiesItsImages) {
  const ExportCase& k = GetParam();
  ServerProcess server({"--model", Export(k.model).string()});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  auto c = server.Client();
  int total = 0, correct = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(Export(k.images))) {
    if (!entry.is_regular_file()) continue;
    std::string expected = k.class_from_dir ? entry.path().parent_path().filename().string() : ExpectedTag(entry.path());
    if (expected.empty()) continue;  // negatives (backpod.jpg) have no expected tag
    auto res = c.Post("/image", ReadText(entry.path()), "application/octet-stream");
    json doc = CheckPredictionShape(res, false);
    ++total;
    correct += Lower(Top(doc)) == Lower(expected);
    std::cout << k.model << " " << entry.path().filename().string() << " -> " << Top(doc) << " "
              << (doc["predictions"].empty() ? 0.0 : doc["predictions"][0]["probability"].get<double>()) << "\n";
  }
  std::cout << k.model << ": top-1 " << correct << "/" << total << "\n";
  ASSERT_GT(total, 0);
  // Every model gets at least 90% of its own test images right.
  EXPECT_GE(correct * 10, total * 9) << correct << "/" << total;
  EXPECT_EQ(server.Stop(SIGTERM), 0) << "SIGTERM must exit cleanly";
}

INSTANTIATE_TEST_SUITE_P(
    RealExports, ExportServeTest,
    ::testing::Values(ExportCase{"iotedge-applebanana-tf", "iotedge-applebanana-tf/images", false},
                      ExportCase{"android-fruit-tf", "iotedge-applebanana-tf/images", false},
                      ExportCase{"android-fruit-tflite", "iotedge-applebanana-tf/images", false},
                      ExportCase{"winml-food-onnx", "winml-food-onnx/images", true},
                      ExportCase{"uwp-catdog-onnx12", "uwp-catdog-onnx12/images", false},
                      ExportCase{"docker22-appleorange-tflite", "docker22-appleorange-tflite/images", false}),
    [](const ::testing::TestParamInfo<ExportCase>& p) {
      std::string n = p.param.model;
      for (char& ch : n) if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });


TEST(ExportPackagingE2E, ServesTheDockerfileExportZipAsDownloaded) {
  TempDir dir;
  const std::filesystem::path zip_path = dir.path() / "export.zip";
  const std::string model = ReadText(Export("iotedge-applebanana-tf/model.pb"));
  const std::string labels = ReadText(Export("iotedge-applebanana-tf/labels.txt"));
  int err = 0;
  zip_t* z = zip_open(zip_path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(z, nullptr);
  const std::string dockerfile = "FROM python:3.7-slim\nCOPY app /app\n";
  for (auto& [name, content] : std::vector<std::pair<std::string, const std::string*>>{
           {"1234.DockerFile.Linux/Dockerfile", &dockerfile},
           {"1234.DockerFile.Linux/app/model.pb", &model},
           {"1234.DockerFile.Linux/app/labels.txt", &labels}}) {
    zip_file_add(z, name.c_str(), zip_source_buffer(z, content->data(), content->size(), 0), 0);
  }
  ASSERT_EQ(zip_close(z), 0);
  ServerProcess server({"--model", zip_path.string()});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  auto c = server.Client();
  EXPECT_EQ(Top(CheckPredictionShape(c.Post("/image", Fruit("banana1.jpg"), "image/jpeg"), false)), "Banana");
}

// The Docker 2.2 export zipped as downloaded (Dockerfile + app/model.tflite,
// labels, metadata; no predict.py, so the layout decides the generation):
// answers as the 2.2 container does with --label-order: every label, in
// label-file order, round(p, 8) of the double, however small.
TEST(ExportPackagingE2E, ServesTheDocker22ExportZipAsItsContainerAnswers) {
  TempDir dir;
  const std::filesystem::path zip_path = dir.path() / "export.zip";
  const std::string base = "docker22-appleorange-tflite/";
  const std::string model = ReadText(Export(base + "app/model.tflite"));
  const std::string labels = ReadText(Export(base + "app/labels.txt"));
  const std::string metadata = ReadText(Export(base + "app/metadata_properties.json"));
  const std::string dockerfile = ReadText(Export(base + "Dockerfile"));
  int err = 0;
  zip_t* z = zip_open(zip_path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(z, nullptr);
  for (auto& [name, content] : std::vector<std::pair<std::string, const std::string*>>{
           {"abcd.DockerFile.Linux/Dockerfile", &dockerfile},
           {"abcd.DockerFile.Linux/app/model.tflite", &model},
           {"abcd.DockerFile.Linux/app/labels.txt", &labels},
           {"abcd.DockerFile.Linux/app/metadata_properties.json", &metadata}}) {
    zip_file_add(z, name.c_str(), zip_source_buffer(z, content->data(), content->size(), 0), 0);
  }
  ASSERT_EQ(zip_close(z), 0);
  ServerProcess server({"--model", zip_path.string(), "--label-order"});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  auto c = server.Client();
  json doc = CheckPredictionShape(
      c.Post("/image", ReadText(Export(base + "images/IMG_20200229_164759.jpg")), "image/jpeg"), false);
  ASSERT_EQ(doc["predictions"].size(), 2u) << doc.dump();
  EXPECT_EQ(doc["predictions"][0]["tagName"], "apple");
  EXPECT_EQ(doc["predictions"][1]["tagName"], "orange");
  // Google's TFLite runtime gives 0.99981767 / 0.00018240 on predict.py's
  // tensor (tests/parity/check_d3.py checks every image to 1e-4).
  const double apple = doc["predictions"][0]["probability"].get<double>();
  const double orange = doc["predictions"][1]["probability"].get<double>();
  EXPECT_NEAR(apple, 0.99981767, 1e-4);
  EXPECT_NEAR(orange, 0.0001824, 1e-4);
  for (double p : {apple, orange}) {
    EXPECT_EQ(p, std::round(p * 1e8) / 1e8) << p << " is not rounded to 8 decimals";
  }
  // Any other image: both labels listed, none dropped by a threshold.
  auto other = c.Post("/image", ReadText(SourceDir() / "tests/data/images/png/rgb.png"), "image/png");
  EXPECT_EQ(CheckPredictionShape(other, false)["predictions"].size(), 2u);
}

TEST(ExportPackagingE2E, ACorruptModelFailsAtStartNamingTheFile) {
  TempDir dir;
  const std::string model = ReadText(Export("winml-food-onnx/model.onnx"));
  std::ofstream(dir.path() / "model.onnx", std::ios::binary) << model.substr(0, model.size() / 2);
  std::ofstream(dir.path() / "labels.txt") << "cheesecake\nDonuts\nFries\n";
  ServerProcess server({"--model", dir.path().string()});
  const int status = server.WaitExit();
  ASSERT_TRUE(WIFEXITED(status)) << "must exit, not crash: " << server.Log();
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_NE(server.Log().find("model.onnx"), std::string::npos) << server.Log();
}

// Issue 11: `inspect --json` aborted (an uncaught json::type_error) on a
// labels.txt that is not UTF-8. It prints the JSON, bytes replaced by U+FFFD.
TEST(InspectE2E, JsonWithALabelsFileThatIsNotUtf8) {
  TempDir dir;
  std::filesystem::copy_file(SourceDir() / "models/demo/model.pb", dir.path() / "model.pb");
  std::ofstream(dir.path() / "labels.txt", std::ios::binary) << "Apple\nBan\xff\xfe" "ana\n";
  const std::string out_file = (dir.path() / "out.json").string();
  const std::string command = EdgevisionBinary().string() + " inspect --json --model " +
                              dir.path().string() + " >" + out_file + " 2>&1";
  const int status = std::system(command.c_str());
  const std::string output = ReadText(out_file);
  ASSERT_TRUE(WIFEXITED(status)) << output;
  EXPECT_EQ(WEXITSTATUS(status), 0) << output;
  const json doc = json::parse(output, nullptr, false);
  ASSERT_TRUE(doc.is_object()) << output;
  ASSERT_EQ(doc["labels"].size(), 2u) << output;
  EXPECT_EQ(doc["labels"][0], "Apple");
  EXPECT_EQ(doc["labels"][1], "Ban\xef\xbf\xbd\xef\xbf\xbd" "ana") << output;  // U+FFFD twice
}

}  // namespace
}  // namespace edgevision::testing
