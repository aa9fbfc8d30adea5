// The /captures API and the review page over a real store: in-process
// dispatch through HttpServer::Handle, plus a real client on loopback.
#include "http/capture_routes.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "http/server.h"
#include "store/testing/store_test_util.h"
#include "store/time_text.h"

namespace edgevision::http {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using store::testing::FakeClock;
using store::testing::FruitJpeg;
using store::testing::MakeCapture;
using store::testing::RandomBytes;
using store::testing::TempDir;
using store::testing::TestOptions;

class CaptureRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<store::CaptureStore>> s =
        store::CaptureStore::Open(dir_.path(), TestOptions(), store::CaptureStore::Mode::kServe,
                                  store::DefaultEnv(), &clock_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    Router router;
    CaptureApi api;
    api.store = store_.get();
    AddCaptureRoutes(&router, api);
    server_ = std::make_unique<HttpServer>(std::move(router), ServerLimits{});
  }

  store::NewCapture Add(const std::string& tag, double p, std::vector<uint8_t> image,
                        const std::string& format = "jpeg") {
    store::NewCapture c = MakeCapture(std::move(image), tag, p, clock_.Now());
    c.image_format = format;
    EXPECT_TRUE(store_->Add(c).ok());
    clock_.Advance(1s);
    return c;
  }

  HttpResponse Call(const std::string& method, const std::string& path,
                    const std::multimap<std::string, std::string>& query = {},
                    const std::string& body = "") {
    HttpRequest req;
    req.method = method;
    req.path = path;
    req.query = query;
    req.body = body;
    return server_->Handle(req);
  }

  json CallJson(const std::string& method, const std::string& path,
                const std::multimap<std::string, std::string>& query = {},
                const std::string& body = "", int want_status = 200) {
    HttpResponse res = Call(method, path, query, body);
    EXPECT_EQ(res.status, want_status) << method << " " << path << ": " << res.body;
    EXPECT_EQ(res.content_type, "application/json");
    json doc = json::parse(res.body, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << res.body;
    return doc;
  }

  // The standard error shape.
  void ExpectError(const HttpResponse& res, int status, const std::string& code) {
    EXPECT_EQ(res.status, status) << res.body;
    json doc = json::parse(res.body, nullptr, false);
    ASSERT_TRUE(doc.is_object()) << res.body;
    EXPECT_EQ(doc["code"], code) << res.body;
    EXPECT_TRUE(doc["message"].is_string());
    EXPECT_EQ(doc.size(), 2u);
  }

  TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<store::CaptureStore> store_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(CaptureRoutesTest, GetOneCaptureWithEveryField) {
  store::NewCapture c = Add("Apple", 0.875, FruitJpeg("apple1.jpg"));
  json doc = CallJson("GET", "/captures/" + c.id);
  EXPECT_EQ(doc["id"], c.id);
  EXPECT_EQ(doc["route"], "POST /image");
  EXPECT_EQ(doc["iteration"], "Iteration3");
  EXPECT_EQ(doc["top"]["tagName"], "Apple");
  EXPECT_DOUBLE_EQ(doc["top"]["probability"].get<double>(), 0.875);
  ASSERT_EQ(doc["predictions"].size(), 2u);
  EXPECT_EQ(doc["predictions"][1]["tagName"], "Banana");
  EXPECT_EQ(doc["image"]["url"], "/captures/" + c.id + "/image");
  EXPECT_EQ(doc["image"]["bytes"], c.image.size());
  EXPECT_EQ(doc["image"]["format"], "jpeg");
  EXPECT_EQ(doc["image"]["sha256"], store::Sha256Hex(c.image));
  EXPECT_TRUE(doc["label"].is_null());
  EXPECT_TRUE(doc["reviewed"].is_null());
  EXPECT_EQ(doc["created"], store::FormatTime(c.created));
}

TEST_F(CaptureRoutesTest, ImageIsServedWithItsContentType) {
  store::NewCapture jpeg = Add("Apple", 0.9, FruitJpeg("apple2.jpg"));
  store::NewCapture png = Add("Apple", 0.9, RandomBytes(64, 5), "png");
  store::NewCapture odd = Add("Apple", 0.9, RandomBytes(64, 6), "tiff");
  HttpResponse res = Call("GET", "/captures/" + jpeg.id + "/image");
  EXPECT_EQ(res.status, 200);
  EXPECT_EQ(res.content_type, "image/jpeg");
  EXPECT_EQ(std::vector<uint8_t>(res.body.begin(), res.body.end()), jpeg.image);
  auto header = [](const HttpResponse& r, const std::string& name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    return std::string();
  };
  EXPECT_EQ(header(res, "X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(header(res, "ETag"), "\"" + store::Sha256Hex(jpeg.image) + "\"");
  EXPECT_EQ(Call("GET", "/captures/" + png.id + "/image").content_type, "image/png");
  HttpResponse unknown = Call("GET", "/captures/" + odd.id + "/image");
  EXPECT_EQ(unknown.content_type, "application/octet-stream");
  EXPECT_NE(header(unknown, "Content-Disposition").find("attachment"), std::string::npos);
  // HEAD works like GET (the router maps it).
  EXPECT_EQ(Call("HEAD", "/captures/" + jpeg.id + "/image").status, 200);
}

TEST_F(CaptureRoutesTest, HostileIdsAreRejectedBeforeAnyLookup) {
  Add("Apple", 0.9, RandomBytes(64, 7));
  for (const std::string& id : std::vector<std::string>{
           "..", "..%2F..%2Fetc%2Fpasswd", "x", "0f8fad5b-d9cb-469f-a165-70867728950e%00",
           std::string(5000, 'a'), "0f8fad5b-d9cb-469f-a165-70867728950e.jpg"}) {
    ExpectError(Call("GET", "/captures/" + id), 400, "BadRequest");
    ExpectError(Call("GET", "/captures/" + id + "/image"), 400, "BadRequest");
    ExpectError(Call("PUT", "/captures/" + id + "/label", {}, R"({"label":"x"})"), 400,
                "BadRequest");
    ExpectError(Call("DELETE", "/captures/" + id), 400, "BadRequest");
  }
  // A decoded traversal never reaches a capture route at all.
  EXPECT_EQ(Call("GET", "/captures/../../etc/passwd").status, 404);
  ExpectError(Call("GET", "/captures/0f8fad5b-d9cb-469f-a165-70867728950e"), 404, "NotFound");
  ExpectError(Call("GET", "/captures/0f8fad5b-d9cb-469f-a165-70867728950e/image"), 404, "NotFound");
  ExpectError(Call("POST", "/captures/0f8fad5b-d9cb-469f-a165-70867728950e"), 405, "BadRequest");
}

TEST_F(CaptureRoutesTest, ListFiltersAndPagesWithACursor) {
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i)
    ids.push_back(Add(i % 2 ? "Apple" : "Banana", 0.3 + 0.1 * i, RandomBytes(64, 10 + i)).id);
  json page = CallJson("GET", "/captures", {{"limit", "3"}});
  ASSERT_EQ(page["captures"].size(), 3u);
  EXPECT_EQ(page["captures"][0]["id"], ids[6]);
  EXPECT_EQ(page["total"], 7);
  std::vector<std::string> seen;
  while (true) {
    for (const json& c : page["captures"]) seen.push_back(c["id"]);
    if (page["next"].is_null()) break;
    ASSERT_TRUE(page["next"].is_string());
    page =
        CallJson("GET", "/captures", {{"limit", "3"}, {"after", page["next"].get<std::string>()}});
  }
  EXPECT_EQ(seen, std::vector<std::string>(ids.rbegin(), ids.rend()));

  json apples = CallJson("GET", "/captures", {{"tag", "Apple"}, {"order", "oldest"}});
  ASSERT_EQ(apples["captures"].size(), 3u);
  EXPECT_EQ(apples["captures"][0]["id"], ids[1]);
  json uncertain = CallJson("GET", "/captures", {{"max_p", "0.55"}});
  EXPECT_EQ(uncertain["total"], 3);  // 0.3, 0.4, 0.5
  json band = CallJson("GET", "/captures", {{"min_p", "0.45"}, {"max_p", "0.75"}});
  EXPECT_EQ(band["total"], 3);  // 0.5, 0.6, 0.7
  ASSERT_EQ(CallJson("PUT", "/captures/" + ids[0] + "/label", {}, R"({"label":"Banana"})")["label"],
            "Banana");
  EXPECT_EQ(CallJson("GET", "/captures", {{"reviewed", "true"}})["total"], 1);
  EXPECT_EQ(CallJson("GET", "/captures", {{"reviewed", "false"}})["total"], 6);
  EXPECT_EQ(CallJson("GET", "/captures", {{"label", "Banana"}})["captures"][0]["id"], ids[0]);
  const std::string t3 = CallJson("GET", "/captures/" + ids[3])["created"];
  EXPECT_EQ(CallJson("GET", "/captures", {{"from", t3}})["total"], 4);
  EXPECT_EQ(CallJson("GET", "/captures", {{"to", t3}})["total"], 3);
  // Empty values mean "no filter", as an HTML form sends them.
  EXPECT_EQ(CallJson("GET", "/captures", {{"tag", ""}, {"reviewed", ""}})["total"], 7);

  for (const auto& [k, v] :
       std::vector<std::pair<std::string, std::string>>{{"limit", "0"},
                                                        {"limit", "501"},
                                                        {"limit", "ten"},
                                                        {"min_p", "2"},
                                                        {"max_p", "-0.1"},
                                                        {"max_p", "nan"},
                                                        {"reviewed", "maybe"},
                                                        {"from", "last week"},
                                                        {"after", "-1"},
                                                        {"order", "random"},
                                                        {"tag", std::string(300, 't')}}) {
    ExpectError(Call("GET", "/captures", {{k, v}}), 400, "BadRequest");
  }
  ExpectError(Call("GET", "/captures", {{"min_p", "0.9"}, {"max_p", "0.1"}}), 400, "BadRequest");
}

TEST_F(CaptureRoutesTest, LabelSetClearAndValidation) {
  store::NewCapture c = Add("Apple", 0.6, RandomBytes(64, 30));
  const std::string url = "/captures/" + c.id + "/label";
  json doc = CallJson("PUT", url, {}, R"({"label": "Banana"})");
  EXPECT_EQ(doc["label"], "Banana");
  EXPECT_TRUE(doc["reviewed"].is_string());
  EXPECT_EQ(CallJson("GET", "/captures/" + c.id)["label"], "Banana");
  doc = CallJson("PUT", url, {}, R"({"label": null})");
  EXPECT_TRUE(doc["label"].is_null());
  EXPECT_TRUE(doc["reviewed"].is_null());
  for (const std::string& bad : std::vector<std::string>{
           "", "null", "[]", R"({"tag":"x"})", R"({"label": 3})", R"({"label": ""})",
           R"({"label": "a\nb"})", "{\"label\": \"" + std::string(300, 'x') + "\"}", "{"}) {
    ExpectError(Call("PUT", url, {}, bad), 400, "BadRequest");
  }
  ExpectError(
      Call("PUT", "/captures/0f8fad5b-d9cb-469f-a165-70867728950e/label", {}, R"({"label":"x"})"),
      404, "NotFound");
}

// Issue 13: a detection capture's boxes and regions over HTTP.
TEST_F(CaptureRoutesTest, DetectionCaptureBoxesAndRegions) {
  store::NewCapture c = store::testing::MakeDetectionCapture(FruitJpeg("apple1.jpg"), clock_.Now());
  ASSERT_TRUE(store_->Add(c).ok());
  const std::string url = "/captures/" + c.id;
  json doc = CallJson("GET", url);
  EXPECT_EQ(doc["kind"], "detection");
  EXPECT_EQ(doc["predictions"], json::array());
  EXPECT_EQ(doc["top"], json({{"tagName", "crack"}, {"probability", 0.91}}));
  ASSERT_EQ(doc["detections"].size(), 3u);
  EXPECT_EQ(doc["detections"][0],
            json({{"tagName", "screw"},
                  {"tagId", 1},
                  {"probability", 0.75},
                  {"boundingBox", {{"left", 0.1}, {"top", 0.2}, {"width", 0.3}, {"height", 0.4}}}}));
  EXPECT_EQ(doc["detections"][2]["boundingBox"]["left"], -0.05);
  EXPECT_TRUE(doc["regions"].is_null());

  const std::string regions =
      R"({"regions":[{"tagName":"screw","left":0.25,"top":0.5,"width":0.5,"height":0.25},)"
      R"({"tagName":"crack","left":0,"top":0,"width":1,"height":1}]})";
  doc = CallJson("PUT", url + "/regions", {}, regions);
  ASSERT_EQ(doc["regions"].size(), 2u);
  EXPECT_EQ(doc["regions"][0],
            json({{"tagName", "screw"}, {"left", 0.25}, {"top", 0.5}, {"width", 0.5}, {"height", 0.25}}));
  EXPECT_TRUE(doc["reviewed"].is_string());
  EXPECT_EQ(CallJson("GET", "/captures", {{"reviewed", "true"}})["total"], 1);
  EXPECT_EQ(CallJson("GET", "/captures/stats")["reviewed"], 1);

  // Bad bodies: 400 JSON, the regions stay as they were.
  for (const std::string& bad : {
           std::string(R"({"regions":[{"tagName":"screw","left":0.9,"top":0,"width":0.2,"height":0.1}]})"),
           std::string(R"({"regions":[{"tagName":"bolt","left":0,"top":0,"width":0.2,"height":0.1}]})"),
           std::string(R"({"regions":[{"tagName":"screw","left":"0","top":0,"width":0.2,"height":0.1}]})"),
           std::string(R"({"regions":[{"left":0,"top":0,"width":0.2,"height":0.1}]})"),
           std::string(R"({"regions":[{"tagName":"screw","left":0,"top":0,"width":0,"height":0.1}]})"),
           std::string(R"({"regions":{"tagName":"screw"}})"),
           std::string(R"({"regions":[)"),
           std::string(R"({"label":"screw"})"),
           std::string(R"([1,2,3])"),
           std::string(""),
       }) {
    ExpectError(Call("PUT", url + "/regions", {}, bad), 400, "BadRequest");
  }
  ExpectError(Call("PUT", url + "/label", {}, R"({"label":"screw"})"), 400, "BadRequest");
  ExpectError(Call("PUT", "/captures/not-a-uuid/regions", {}, regions), 400, "BadRequest");
  ExpectError(Call("PUT", "/captures/00000000-0000-4000-8000-000000000000/regions", {}, regions),
              404, "NotFound");
  // A classification capture takes a label, not regions.
  store::NewCapture cls = Add("Apple", 0.9, FruitJpeg("apple2.jpg"));
  ExpectError(Call("PUT", "/captures/" + cls.id + "/regions", {}, regions), 400, "BadRequest");
  EXPECT_EQ(CallJson("GET", url)["regions"].size(), 2u);

  // null clears the review.
  doc = CallJson("PUT", url + "/regions", {}, R"({"regions":null})");
  EXPECT_TRUE(doc["regions"].is_null());
  EXPECT_TRUE(doc["reviewed"].is_null());
  // A classification capture says so and has no detection members.
  doc = CallJson("GET", "/captures/" + cls.id);
  EXPECT_EQ(doc["kind"], "classification");
  EXPECT_FALSE(doc.contains("detections"));
  EXPECT_FALSE(doc.contains("regions"));
}

TEST_F(CaptureRoutesTest, DeleteRemovesTheCaptureAndItsImage) {
  store::NewCapture c = Add("Apple", 0.6, RandomBytes(64, 40));
  json doc = CallJson("DELETE", "/captures/" + c.id);
  EXPECT_EQ(doc["deleted"], c.id);
  ExpectError(Call("GET", "/captures/" + c.id), 404, "NotFound");
  ExpectError(Call("GET", "/captures/" + c.id + "/image"), 404, "NotFound");
  ExpectError(Call("DELETE", "/captures/" + c.id), 404, "NotFound");
  EXPECT_TRUE(store_->CheckConsistency().ok());
}

TEST_F(CaptureRoutesTest, StatsCountPerTag) {
  store::NewCapture a = Add("Apple", 0.9, RandomBytes(64, 50));
  Add("Apple", 0.9, RandomBytes(64, 51));
  Add("Banana", 0.9, RandomBytes(64, 52));
  CallJson("PUT", "/captures/" + a.id + "/label", {}, R"({"label":"Cherry"})");
  json s = CallJson("GET", "/captures/stats");
  EXPECT_EQ(s["captures"], 3);
  EXPECT_EQ(s["reviewed"], 1);
  EXPECT_EQ(s["unreviewed"], 2);
  std::map<std::string, json> tags;
  for (const json& t : s["tags"]) tags[t["tag"]] = t;
  ASSERT_EQ(tags.size(), 3u);
  EXPECT_EQ(tags["Apple"]["predicted"], 2);
  EXPECT_EQ(tags["Apple"]["unreviewed"], 1);
  EXPECT_EQ(tags["Banana"]["predicted"], 1);
  EXPECT_EQ(tags["Cherry"]["labelled"], 1);
  EXPECT_EQ(tags["Cherry"]["predicted"], 0);
}

TEST_F(CaptureRoutesTest, ReviewPageIsEmbeddedWithAStrictPolicy) {
  HttpResponse page = Call("GET", "/review");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<script src=\"/review/review.js\""), std::string::npos);
  bool csp = false;
  for (const auto& [k, v] : page.headers) {
    if (k == "Content-Security-Policy") csp = v.find("default-src 'none'") != std::string::npos;
  }
  EXPECT_TRUE(csp);
  // Nothing on the page comes from elsewhere.
  for (const char* asset : {"/review", "/review/review.js", "/review/review.css"}) {
    HttpResponse r = Call("GET", asset);
    EXPECT_EQ(r.status, 200) << asset;
    EXPECT_EQ(r.body.find("http://"), std::string::npos) << asset;
    EXPECT_EQ(r.body.find("https://"), std::string::npos) << asset;
  }
  EXPECT_EQ(Call("GET", "/review/review.js").content_type, "text/javascript; charset=utf-8");
  EXPECT_EQ(Call("GET", "/review/review.css").content_type, "text/css; charset=utf-8");
  EXPECT_EQ(Call("GET", "/review/index.html").body, page.body);
  EXPECT_EQ(Call("GET", "/review/nope.js").status, 404);
  // The embedded bytes are the source files, byte for byte.
  EXPECT_EQ(Call("GET", "/review/review.js").body, [] {
    auto v = edgevision::testing::ReadBytes(edgevision::testing::SourceDir() /
                                            "src/http/review_page/review.js");
    return std::string(v.begin(), v.end());
  }());
}

TEST_F(CaptureRoutesTest, HealthSectionReportsTheStore) {
  Add("Apple", 0.9, RandomBytes(1000, 60));
  json doc = json::object();
  CaptureApi api;
  api.store = store_.get();
  AddStoreHealth(api, "", &doc);
  EXPECT_EQ(doc["store"]["captures"], 1);
  EXPECT_EQ(doc["store"]["image_bytes"], 1000);
  EXPECT_EQ(doc["store"]["paused"], false);
  EXPECT_TRUE(doc["store"]["quota_bytes"].get<uint64_t>() > 0);
  json off = json::object();
  AddStoreHealth(CaptureApi{}, "cannot open", &off);
  EXPECT_EQ(off["store"]["enabled"], false);
  EXPECT_EQ(off["store"]["error"], "cannot open");
}

TEST_F(CaptureRoutesTest, RealClientOnLoopback) {
  store::NewCapture c = Add("Banana", 0.7, FruitJpeg("banana1.jpg"));
  Router router;
  CaptureApi api;
  api.store = store_.get();
  AddCaptureRoutes(&router, api);
  HttpServer server(std::move(router), ServerLimits{});
  Result<int> port = server.Bind("127.0.0.1", 0);
  ASSERT_TRUE(port.ok());
  std::thread t([&] { (void)server.Serve(); });
  httplib::Client client("127.0.0.1", *port);
  auto image = client.Get("/captures/" + c.id + "/image");
  ASSERT_TRUE(image);
  EXPECT_EQ(image->status, 200);
  EXPECT_EQ(image->get_header_value("Content-Type"), "image/jpeg");
  EXPECT_EQ(image->body.size(), c.image.size());
  auto put =
      client.Put("/captures/" + c.id + "/label", R"({"label":"Banana"})", "application/json");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 200);
  auto list = client.Get("/captures?reviewed=true&tag=Banana");
  ASSERT_TRUE(list);
  EXPECT_EQ(json::parse(list->body)["total"], 1);
  server.Stop();
  t.join();
}

}  // namespace
}  // namespace edgevision::http
