// End-to-end: the capture store in the real edgevision binary serving the
// demo model on loopback — capture on and off, /nostore, the /captures API,
// export, kill -9 and a genuinely full disk (a small tmpfs, when this process
// may mount one).
#include <gtest/gtest.h>
#include <httplib.h>
#include <sys/mount.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "e2e/server_process.h"
#include "test_support.h"

namespace edgevision::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string Fruit(const std::string& name) {
  auto v = ReadBytes(Export("iotedge-applebanana-tf/images/" + name));
  return std::string(v.begin(), v.end());
}

// Every distinct real image the repository has (JPEG and PNG).
std::vector<std::string> RealImages() {
  std::vector<std::string> out;
  for (const char* n : {"apple1.jpg", "apple2.jpg", "banana1.jpg", "banana2.jpg", "backpod.jpg"}) {
    out.push_back(Fruit(n));
  }
  for (const auto& e : fs::recursive_directory_iterator(Export("winml-food-onnx/images"))) {
    if (e.is_regular_file()) {
      auto v = ReadBytes(e.path());
      out.emplace_back(v.begin(), v.end());
    }
  }
  auto kitten = ReadBytes(Export("uwp-catdog-onnx12/images/kitten_224.png"));
  out.emplace_back(kitten.begin(), kitten.end());
  return out;
}

json Get(ServerProcess& s, const std::string& path, int want = 200) {
  auto c = s.Client();
  auto res = c.Get(path);
  EXPECT_TRUE(res) << path;
  if (!res) return {};
  EXPECT_EQ(res->status, want) << path << ": " << res->body;
  return json::parse(res->body, nullptr, false);
}

json Predict(ServerProcess& s, const std::string& route, const std::string& image) {
  auto c = s.Client();
  auto res = c.Post(route, image, "application/octet-stream");
  EXPECT_TRUE(res) << route;
  if (!res) return {};
  EXPECT_EQ(res->status, 200) << route << ": " << res->body;
  return json::parse(res->body, nullptr, false);
}

// Waits until the store has written everything queued (up to a minute: the
// writer syncs each capture to disk, and a shared CI disk can be slow).
json WaitStored(ServerProcess& s, int64_t want_stored) {
  json store;
  WaitFor([&] {
    store = Get(s, "/health")["store"];
    return store["queued"] == 0 && store["stored"].get<int64_t>() >= want_stored;
  }, std::chrono::seconds(60), std::chrono::milliseconds(10));
  return store;
}

// Captures the recorder is done with: stored or dropped for any reason.
int64_t Handled(const json& store) {
  return store["stored"].get<int64_t>() + store["dropped"]["queue_full"].get<int64_t>() +
         store["dropped"]["disk_full"].get<int64_t>() + store["dropped"]["error"].get<int64_t>();
}

// No row without its file, no file without a row: via the API and the disk.
void ExpectConsistent(ServerProcess& s, const std::string& data_dir) {
  std::set<std::string> hashes;
  std::string after;
  while (true) {
    json page = Get(s, "/captures?limit=100" + (after.empty() ? "" : "&after=" + after));
    for (const json& c : page["captures"]) {
      auto res = s.Client().Get(c["image"]["url"].get<std::string>());
      ASSERT_TRUE(res);
      ASSERT_EQ(res->status, 200) << c.dump();
      EXPECT_EQ(res->body.size(), c["image"]["bytes"].get<size_t>());
      hashes.insert(c["image"]["sha256"].get<std::string>());
    }
    if (page["next"].is_null()) break;
    after = page["next"];
  }
  for (const auto& e : fs::recursive_directory_iterator(data_dir + "/captures")) {
    if (!e.is_regular_file()) continue;
    EXPECT_NE(e.path().parent_path().filename(), "tmp") << "leftover temporary file " << e.path();
    EXPECT_TRUE(hashes.count(e.path().stem().string())) << "orphan image " << e.path();
  }
}

int RunCommand(const std::string& command, std::string* output) {
  const std::string out_file =
      fs::temp_directory_path() / ("evcap_cmd_" + std::to_string(getpid()));
  int rc = std::system((command + " >" + out_file + " 2>&1").c_str());
  std::ifstream in(out_file);
  std::stringstream ss;
  ss << in.rdbuf();
  *output = ss.str();
  fs::remove(out_file);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(CaptureE2eTest, OffByDefault) {
  TempDir dir("evcap_e2e");
  ServerProcess server({"--data-dir", dir.path()});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  Predict(server, "/image", Fruit("apple1.jpg"));
  json store = Get(server, "/health")["store"];
  EXPECT_EQ(store["enabled"], false) << store.dump();
  EXPECT_FALSE(fs::exists(dir.str() + "/captures.db"));
  EXPECT_EQ(server.Client().Get("/captures")->status, 404);
  EXPECT_EQ(server.Client().Get("/review")->status, 404);
}

TEST(CaptureE2eTest, CaptureAllStoresEveryPredictionExceptNostore) {
  TempDir dir("evcap_e2e");
  ServerProcess server({"--data-dir", dir.path(), "--capture", "all"});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  const std::string apple = Fruit("apple1.jpg"), banana = Fruit("banana2.jpg");
  json a = Predict(server, "/image", apple);
  json b = Predict(server, "/proj/classify/iterations/Iteration1/image", banana);
  Predict(server, "/proj/image/nostore", Fruit("apple2.jpg"));
  Predict(server, "/customvision/v3.0/Prediction/proj/classify/iterations/It/image/nostore",
          Fruit("banana1.jpg"));
  auto c = server.Client();
  httplib::MultipartFormDataItems items = {
      {"imageData", Fruit("backpod.jpg"), "backpod.jpg", "image/jpeg"}};
  json m = json::parse(
      c.Post("/customvision/v3.1/prediction/proj/classify/iterations/It/image", items)->body);
  json store = WaitStored(server, 3);
  EXPECT_EQ(store["stored"], 3) << store.dump();
  EXPECT_EQ(store["captures"], 3);
  EXPECT_EQ(store["enabled"], true);
  EXPECT_EQ(store["policy"], "all");
  EXPECT_EQ(store["paused"], false);

  // The capture id is the prediction's id; everything the response said is kept.
  json cap = Get(server, "/captures/" + a["id"].get<std::string>());
  EXPECT_EQ(cap["top"]["tagName"], a["predictions"][0]["tagName"]);
  EXPECT_EQ(cap["top"]["probability"], a["predictions"][0]["probability"]);
  EXPECT_EQ(cap["route"], "POST /image");
  EXPECT_EQ(cap["image"]["format"], "jpeg");
  auto image = c.Get("/captures/" + a["id"].get<std::string>() + "/image");
  ASSERT_TRUE(image);
  EXPECT_EQ(image->get_header_value("Content-Type"), "image/jpeg");
  EXPECT_EQ(image->body, apple);
  json cb = Get(server, "/captures/" + b["id"].get<std::string>());
  EXPECT_EQ(cb["project"], "proj");
  EXPECT_EQ(cb["iteration"], "Iteration1");
  EXPECT_EQ(
      Get(server, "/captures/" + m["id"].get<std::string>())["route"],
      "POST "
      "/customvision/{version:v3.0|v3.1}/prediction/{project}/{task:classify|detect}/iterations/"
      "{publishedName}/image");

  // Filters and paging.
  json all = Get(server, "/captures");
  EXPECT_EQ(all["total"], 3);
  EXPECT_EQ(all["captures"][0]["id"], m["id"]);  // newest first
  json apples = Get(server, "/captures?tag=Apple");
  for (const json& x : apples["captures"]) EXPECT_EQ(x["top"]["tagName"], "Apple");
  json p1 = Get(server, "/captures?limit=2");
  ASSERT_EQ(p1["captures"].size(), 2u);
  ASSERT_TRUE(p1["next"].is_string());
  json p2 = Get(server, "/captures?limit=2&after=" + p1["next"].get<std::string>());
  ASSERT_EQ(p2["captures"].size(), 1u);
  EXPECT_TRUE(p2["next"].is_null());
  EXPECT_EQ(p2["captures"][0]["id"], a["id"]);
  const double pa = a["predictions"][0]["probability"];
  EXPECT_GE(Get(server, "/captures?min_p=" + std::to_string(pa - 1e-6))["total"].get<int>(), 1);

  // Label, review filter, stats, clear, delete.
  auto put = c.Put("/captures/" + a["id"].get<std::string>() + "/label", R"({"label":"Banana"})",
                   "application/json");
  ASSERT_TRUE(put);
  EXPECT_EQ(put->status, 200) << put->body;
  EXPECT_EQ(Get(server, "/captures?reviewed=true")["total"], 1);
  EXPECT_EQ(Get(server, "/captures?label=Banana")["captures"][0]["id"], a["id"]);
  json stats = Get(server, "/captures/stats");
  EXPECT_EQ(stats["reviewed"], 1);
  EXPECT_EQ(stats["model_tags"], json::array({"Apple", "Banana"}));
  auto bad = c.Put("/captures/" + a["id"].get<std::string>() + "/label", R"({"label":7})",
                   "application/json");
  EXPECT_EQ(bad->status, 400);
  EXPECT_EQ(json::parse(bad->body)["code"], "BadRequest");
  auto del = c.Delete("/captures/" + b["id"].get<std::string>());
  ASSERT_TRUE(del);
  EXPECT_EQ(del->status, 200);
  EXPECT_EQ(c.Get("/captures/" + b["id"].get<std::string>() + "/image")->status, 404);
  EXPECT_EQ(c.Get("/captures/not-a-uuid")->status, 400);
  EXPECT_EQ(Get(server, "/health")["store"]["captures"], 2);

  // The review page is served.
  auto page = c.Get("/review");
  ASSERT_TRUE(page);
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->get_header_value("Content-Type").find("text/html"), std::string::npos);

  // Export while the server runs.
  const std::string out = dir.str() + "/export";
  std::string output;
  const std::string bin = EdgevisionBinary().string();
  ASSERT_EQ(RunCommand(bin + " export --data-dir " + dir.str() + " --out " + out, &output), 0)
      << output;
  EXPECT_NE(output.find("exported 1 captures"), std::string::npos) << output;
  std::ifstream apple_file(out + "/Banana/" + cap["image"]["sha256"].get<std::string>() + ".jpg",
                           std::ios::binary);
  std::stringstream exported;
  exported << apple_file.rdbuf();
  EXPECT_EQ(exported.str(), apple);  // labelled Banana by a person: exported under Banana
  const std::string out2 = dir.str() + "/export2";
  ASSERT_EQ(RunCommand(bin + " export --data-dir " + dir.str() + " --out " + out2 +
                           " --include-predicted",
                       &output),
            0)
      << output;
  EXPECT_NE(output.find("exported 2 captures"), std::string::npos) << output;
  std::ifstream manifest(out2 + "/manifest.csv");
  std::string line;
  int lines = 0;
  while (std::getline(manifest, line)) ++lines;
  EXPECT_EQ(lines, 3);  // header + 2
  EXPECT_NE(RunCommand(bin + " export --data-dir " + dir.str() + " --out " + out2, &output),
            0);  // not empty

  // The server shuts down cleanly and the store reopens consistent.
  EXPECT_EQ(server.Stop(SIGTERM), 0);
  ServerProcess again({"--data-dir", dir.path(), "--capture", "none"});
  ASSERT_TRUE(again.WaitReady()) << again.Log();
  EXPECT_EQ(Get(again, "/captures")["total"], 2);  // still reviewable with capture off
  Predict(again, "/image", apple);
  EXPECT_EQ(Get(again, "/health")["store"]["captures"], 2);
  EXPECT_EQ(Get(again, "/health")["store"]["enabled"], false);
  ExpectConsistent(again, dir.path());
}

TEST(CaptureE2eTest, UncertainPolicyKeepsOnlyLowConfidence) {
  TempDir dir("evcap_e2e");
  ServerProcess server({"--data-dir", dir.path(), "--capture", "uncertain:0.9"});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  std::set<std::string> want;
  std::vector<std::string> images = RealImages();
  for (const std::string& img : images) {
    json r = Predict(server, "/image", img);
    if (r["predictions"].empty() || r["predictions"][0]["probability"].get<double>() < 0.9)
      want.insert(r["id"]);
  }
  // The images include both kinds, so the filter is really tested.
  ASSERT_GT(want.size(), 0u);
  ASSERT_LT(want.size(), images.size());
  WaitStored(server, static_cast<int64_t>(want.size()));
  std::set<std::string> got;
  const json listed = Get(server, "/captures?limit=500");
  for (const json& c : listed["captures"]) got.insert(c["id"]);
  EXPECT_EQ(got, want);
  EXPECT_EQ(Get(server, "/health")["store"]["policy"], "uncertain:0.9");
}

TEST(CaptureE2eTest, KillNineUnderLoadLeavesAConsistentStore) {
  TempDir dir("evcap_e2e");
  const std::vector<std::string> images = RealImages();
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    ServerProcess server({"--data-dir", dir.path(), "--capture", "all"});
    ASSERT_TRUE(server.WaitReady()) << server.Log();
    const int64_t stored_before = Get(server, "/health")["store"].value("stored", int64_t{0});
    std::atomic<bool> stop{false};
    std::vector<std::thread> clients;
    for (int t = 0; t < 3; ++t) {
      clients.emplace_back([&, t] {
        httplib::Client c("127.0.0.1", server.port());
        c.set_read_timeout(Scaled(std::chrono::seconds(5)));
        for (size_t i = static_cast<size_t>(t); !stop; i += 3)
          (void)c.Post("/image", images[i % images.size()], "application/octet-stream");
      });
    }
    // Killed under load once this run has stored a few captures (more each round).
    const bool stored = WaitFor([&] {
      const json store = Get(server, "/health")["store"];
      return store.is_object() && store.value("stored", int64_t{0}) >= stored_before + 3 + 3 * round;
    });
    server.Stop(SIGKILL);
    stop = true;
    for (std::thread& t : clients) t.join();
    ASSERT_TRUE(stored) << server.Log();

    ServerProcess check({"--data-dir", dir.path(), "--capture", "none"});
    ASSERT_TRUE(check.WaitReady()) << check.Log();
    ExpectConsistent(check, dir.path());
    EXPECT_GT(Get(check, "/health")["store"]["captures"].get<int>(), 0);
  }
}

TEST(CaptureE2eTest, AStoreThatCannotOpenNeverStopsPrediction) {
  TempDir dir("evcap_e2e");
  const std::string not_a_dir = dir.str() + "/file";
  std::ofstream(not_a_dir) << "x";
  ServerProcess server({"--data-dir", not_a_dir, "--capture", "all"});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  json r = Predict(server, "/image", Fruit("apple1.jpg"));
  EXPECT_EQ(r["predictions"][0]["tagName"], "Apple");
  json store = Get(server, "/health")["store"];
  EXPECT_EQ(store["enabled"], false);
  EXPECT_TRUE(store["error"].is_string()) << store.dump();
}

// A real ENOSPC: the data directory on a 4 MiB tmpfs nearly filled by another
// file. Needs permission to mount (root); skipped otherwise (a failure under
// EDGEVISION_REQUIRE_ALL=1).
TEST(CaptureE2eTest, FullDiskPausesStoringNotPredictingAndResumes) {
  TempDir dir("evcap_e2e");
  const std::string mnt = dir.str() + "/small";
  fs::create_directories(mnt);
  if (::mount("tmpfs", mnt.c_str(), "tmpfs", 0, "size=4m") != 0) {
    EDGEVISION_SKIP_OR_FAIL("cannot mount a tmpfs here (" + std::string(std::strerror(errno)) +
                            "; needs root, as CI runs); the unit tests inject ENOSPC instead");
  }
  struct Unmount {
    std::string path;
    ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
  } unmount{mnt};

  const std::string data = mnt + "/data";
  {
    ServerProcess server({"--data-dir", data, "--capture", "all", "--capture-min-free", "0"});
    ASSERT_TRUE(server.WaitReady()) << server.Log();
    // Fill the filesystem, leaving less than two images' worth.
    const std::string filler = mnt + "/filler";
    {
      std::ofstream f(filler, std::ios::binary);
      std::string block(4096, 'x');
      while (f.write(block.data(), static_cast<std::streamsize>(block.size()))) {
      }
    }
    fs::resize_file(filler, fs::file_size(filler) - 20 * 1024);
    const std::vector<std::string> images = RealImages();
    int predicted = 0;
    json store;
    for (size_t i = 0; i < images.size(); ++i) {
      json r = Predict(server, "/image", images[i]);
      if (r.is_object() && r.contains("id")) ++predicted;
      store = WaitStored(server, 0);
      if (store["paused"] == true) break;
    }
    EXPECT_EQ(store["paused"], true) << store.dump();
    EXPECT_NE(store["paused_reason"].get<std::string>().find("full"), std::string::npos)
        << store.dump();
    EXPECT_GT(store["dropped"]["disk_full"].get<int>(), 0);
    // Every post from here on is accounted for: stored, or refused for the
    // full disk. Which of them lands depends on when the store looks at the
    // disk again, at the machine's speed (under qemu the first post below may
    // still be in the writer when space returns), so the test counts them.
    const int64_t stored_before = store["stored"];
    const int64_t disk_full_before = store["dropped"]["disk_full"];
    const int64_t handled_before = Handled(store);
    int64_t posts = 0;
    // Predictions carry on while storing is paused.
    EXPECT_EQ(Predict(server, "/image", images[0])["predictions"][0]["tagName"], "Apple");
    ++posts;
    EXPECT_EQ(Get(server, "/health/ready")["status"], "ready");

    // Space returns: storing resumes by itself.
    fs::remove(filler);
    json r;
    // Refused while the store waits to look at the disk again; then stored.
    ASSERT_TRUE(WaitFor([&] {
      r = Predict(server, "/image", images[1]);
      ++posts;
      store = WaitStored(server, 0);
      return store["stored"].get<int64_t>() > stored_before;
    })) << store.dump();
    ASSERT_TRUE(WaitFor([&] {
      store = Get(server, "/health")["store"];
      return Handled(store) >= handled_before + posts;
    })) << store.dump() << " posts " << posts;
    const int64_t stored = store["stored"].get<int64_t>() - stored_before;
    const int64_t refused = store["dropped"]["disk_full"].get<int64_t>() - disk_full_before;
    EXPECT_EQ(Handled(store), handled_before + posts) << store.dump();
    EXPECT_EQ(stored + refused, posts) << store.dump();
    // At least the last one landed (the loop stops at the first post stored;
    // the one made while paused lands too if the store looked at the disk
    // again before writing it).
    EXPECT_GE(stored, 1) << store.dump();
    EXPECT_EQ(store["paused"], false) << store.dump();
    EXPECT_EQ(Get(server, "/captures/" + r["id"].get<std::string>())["id"], r["id"]);
    ExpectConsistent(server, data);
  }
  // The database survived the full disk.
  ServerProcess again({"--data-dir", data, "--capture", "none"});
  ASSERT_TRUE(again.WaitReady()) << again.Log();
  ExpectConsistent(again, data);
}

}  // namespace
}  // namespace edgevision::testing
