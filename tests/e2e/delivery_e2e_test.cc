// Model delivery end to end (issue 14, part 2): the real binary, a real HTTP
// file server on loopback (tests/e2e/model_file_server.h) and the bundled
// exports. It serves the Apple/Banana TF export (--model) and is sent the
// cat/dog ONNX export as a .zip with its own test image; every fault of the
// issue is played: a swap under load with zero failed requests, a bad
// checksum, a cut download (resumed with Range), a zip with ../ entries, a
// model that does not load, a kill -9 mid-download (restart resumes; nothing
// half-applied), a delivered model that is corrupt at restart (comes up on
// the last-known-good), and a restart with the file server gone (offline:
// comes up on the delivered model). Beyond the issue: a file server that
// answers 503 to a whole round of attempts (the next round, on its timer,
// applies the model) and a delivered model whose predictions all fail
// (rolled back after the swap, on probation).
#include <gtest/gtest.h>
#include <zip.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/sha256.h"
#include "e2e/model_file_server.h"
#include "e2e/server_process.h"
#include "stream/testing/test_video.h"
#include "test_support.h"

namespace edgevision::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using std::chrono::seconds;

std::string Sha256(const std::string& bytes) {
  return Sha256Hex(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

// A zip (built with libzip) of name -> content.
std::string Zip(const std::vector<std::pair<std::string, std::string>>& members) {
  TempDir dir;
  const std::string path = dir / "m.zip";
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  for (const auto& [name, content] : members) {
    void* copy = malloc(content.size() + 1);
    memcpy(copy, content.data(), content.size());
    zip_file_add(z, name.c_str(), zip_source_buffer(z, copy, content.size(), 1), ZIP_FL_ENC_RAW);
  }
  zip_close(z);
  return ReadText(path);
}

// The cat/dog ONNX export as downloaded: one top-level folder, its test image.
std::string CatDogZip() {
  const std::string dir = "uwp-catdog-onnx12/";
  return Zip({{"CatDog.ONNX/model.onnx", ReadText(Export(dir + "model.onnx"))},
              {"CatDog.ONNX/labels.txt", ReadText(Export(dir + "labels.txt"))},
              {"CatDog.ONNX/images/kitten_224.png", ReadText(Export(dir + "images/kitten_224.png"))}});
}

const std::string& Apple() {
  static const std::string bytes = ReadText(Export("iotedge-applebanana-tf/images/apple1.jpg"));
  return bytes;
}

// The wait for an inference worker (--queue-timeout-ms, 10 s by default; a
// request past it gets 503 "no inference worker became free") is a time
// bound like the tests' own, so it is stretched by EDGEVISION_TEST_TIME_SCALE:
// the load below keeps 3 requests on 2 workers, so one always waits for an
// inference, and under qemu-user on a loaded machine an inference takes
// seconds (the arm64 root: 14 such 503s at scale 10 with the bound left at
// 10 s; natively, with the bound cut to 25 ms, the same 503s, around the first
// model's and the new model's first predictions).
std::vector<std::string> Args(const TempDir& data) {
  return {"--model", Export("iotedge-applebanana-tf").string(), "--model-delivery", "--data-dir", data.str(),
          "--url-allow-loopback", "--workers", "2", "--threads", "2",
          "--queue-timeout-ms", std::to_string(static_cast<int>(ScaledSeconds(10) * 1000))};
}

// Which model answered one prediction: "fruit" (Apple/Banana), "catdog"
// (cat/dog/Negative), else the status and body.
std::string Model(ServerProcess& server) {
  auto res = server.Client().Post("/image", Apple(), "application/octet-stream");
  if (!res) return "no response";
  if (res->status != 200) return std::to_string(res->status) + " " + res->body;
  const std::string top = json::parse(res->body)["predictions"][0]["tagName"];
  if (top == "Apple" || top == "Banana") return "fruit";
  if (top == "cat" || top == "dog" || top == "Negative") return "catdog";
  return res->body;
}
const std::string kFruit = "fruit";
const std::string kCatDog = "catdog";

json Delivery(ServerProcess& server) {
  auto res = server.Client().Get("/admin/model");
  return res && res->status == 200 ? json::parse(res->body, nullptr, false) : json();
}

int Put(ServerProcess& server, const json& body) {
  auto res = server.Client().Put("/admin/model", body.dump(), "application/json");
  return res ? res->status : -1;
}

// Waits until the delivery state is `state` (for the given sha256); the last status.
json WaitState(ServerProcess& server, const std::string& state, const std::string& sha = "") {
  json last;
  WaitFor([&] {
    last = Delivery(server);
    return last.is_object() && last["state"] == state && (sha.empty() || last["sha256"] == sha);
  }, seconds(120), std::chrono::milliseconds(20));
  return last;
}

struct Fixture {
  TempDir data{"edgevision_delivery"};
  ModelFileServer files;
  std::string zip = CatDogZip();
  std::string sha = Sha256(zip);
  Fixture() { files.Put("catdog.zip", zip); }
  json Request(const std::string& name = "catdog.zip") const {
    return {{"url", files.Url(name)}, {"sha256", sha}, {"version", "catdog-1"}};
  }
};

TEST(DeliveryE2eTest, SwapUnderLoadWithZeroFailedRequestsThenRestartsOfflineOnIt) {
  Fixture f;
  auto server = std::make_unique<ServerProcess>(Args(f.data));
  ASSERT_TRUE(server->WaitReady()) << server->Log();
  ASSERT_EQ(Model(*server), kFruit);
  EXPECT_EQ(Delivery(*server)["state"], "idle");

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0}, catdog{0};
  // What each failed request got (status and body, or the client's error),
  // with the seconds since the load started: the failure message shows them.
  std::mutex failures_mu;
  std::vector<std::string> failures;
  const auto load_start = std::chrono::steady_clock::now();
  std::vector<std::thread> load;
  for (int i = 0; i < 3; ++i) {
    load.emplace_back([&] {
      httplib::Client c = server->Client();
      while (!stop) {
        auto res = c.Post("/image", Apple(), "application/octet-stream");
        if (!res || res->status != 200) {
          ++failed;
          const double at = std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
          std::lock_guard<std::mutex> lock(failures_mu);
          failures.push_back(std::to_string(at) + " s: " +
                             (res ? std::to_string(res->status) + " " + res->body : httplib::to_string(res.error())));
          continue;
        }
        ++ok;
        const std::string top = json::parse(res->body)["predictions"][0]["tagName"];
        if (top == "cat" || top == "dog" || top == "Negative") ++catdog;
      }
    });
  }
  ASSERT_TRUE(WaitFor([&] { return ok > 20; }, seconds(60)));
  ASSERT_EQ(Put(*server, f.Request()), 202);
  const json applied = WaitState(*server, "applied", f.sha);
  ASSERT_EQ(applied["state"], "applied") << applied.dump() << server->Log();
  // Keep the load on the new model a while: its probation passes.
  ASSERT_TRUE(WaitFor([&] { return catdog > 30; }, seconds(60))) << server->Log();
  stop = true;
  for (std::thread& t : load) t.join();
  std::string failure_list;
  for (const std::string& failure : failures) failure_list += "  " + failure + "\n";
  EXPECT_EQ(failed, 0) << failure_list << server->Log();
  EXPECT_GT(ok, 50);
  RecordProperty("requests", ok.load());
  RecordProperty("answered_by_new_model", catdog.load());
  EXPECT_EQ(applied["version"], "catdog-1");
  EXPECT_EQ(applied["serving"], "catdog-1");
  EXPECT_TRUE(applied["error"].is_null());
  EXPECT_NE(server->Log().find("the export's 1 test images ran"), std::string::npos) << server->Log();
  EXPECT_EQ(Model(*server), kCatDog);

  auto health = server->Client().Get("/health");
  ASSERT_TRUE(health);
  const json h = json::parse(health->body);
  EXPECT_EQ(h["delivery"]["state"], "applied");
  EXPECT_EQ(h["delivery"]["sha256"], f.sha);
  auto metrics = server->Client().Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("edgevision_model_deliveries_total{result=\"applied\"} 1"), std::string::npos);
  EXPECT_NE(metrics->body.find("edgevision_model_delivery_state{state=\"applied\"} 1"), std::string::npos);
  // The same request again is a no-op (a twin GET after a reconnect sends it again).
  EXPECT_EQ(Put(*server, f.Request()), 202);
  EXPECT_EQ(Delivery(*server)["applied"], 1);
  EXPECT_TRUE(fs::is_directory(f.data / ("models/" + f.sha)));

  // Offline restart (the file server is gone): comes up on the delivered model.
  ASSERT_EQ(WEXITSTATUS(server->Stop(SIGTERM)), 0);
  f.files.Put("catdog.zip", "");
  server = std::make_unique<ServerProcess>(Args(f.data));
  ASSERT_TRUE(server->WaitReady()) << server->Log();
  EXPECT_EQ(Model(*server), kCatDog);
  const json after = Delivery(*server);
  EXPECT_EQ(after["state"], "applied");
  EXPECT_EQ(after["serving"], "catdog-1");

  // The delivered model is damaged on disk: the next start comes up on the
  // last-known-good (--model) and says it rolled back.
  ASSERT_EQ(WEXITSTATUS(server->Stop(SIGTERM)), 0);
  std::ofstream(f.data / ("models/" + f.sha + "/CatDog.ONNX/model.onnx"), std::ios::trunc) << "not onnx";
  server = std::make_unique<ServerProcess>(Args(f.data));
  ASSERT_TRUE(server->WaitReady()) << server->Log();
  EXPECT_EQ(Model(*server), kFruit);
  const json rolled = Delivery(*server);
  EXPECT_EQ(rolled["state"], "rolledBack") << rolled.dump();
  EXPECT_EQ(rolled["serving"], "-");
  EXPECT_NE(rolled["error"].get<std::string>().find("did not load"), std::string::npos) << rolled.dump();
}

// A live source's frames count for the probation after a swap, as posted
// images do (issue 15): a delivered model passes its probation on camera
// frames alone, without a single HTTP prediction.
TEST(DeliveryE2eTest, ProbationCountsALiveSourcesFrames) {
  Fixture f;
  TempDir videos;
  edgevision::testing::VideoSpec spec;
  spec.codec = "mjpeg";
  spec.scene_s = 1;
  const std::string video = videos / "scenes.avi";
  ASSERT_TRUE(MakeTestVideo(spec, video)) << "Debian's ffmpeg could not make " << video;
  std::vector<std::string> args = Args(f.data);
  args.push_back("--source");
  args.push_back("cam=" + video + ",fps=0,realtime=false,loop=true");
  ServerProcess server(args);
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  ASSERT_EQ(Put(server, f.Request()), 202);
  const json applied = WaitState(server, "applied", f.sha);
  ASSERT_EQ(applied["state"], "applied") << applied.dump() << server.Log();
  ASSERT_TRUE(WaitFor([&] { return server.Log().find("passed its first 20 predictions") != std::string::npos; },
                      seconds(60)))
      << server.Log();
  EXPECT_NE(server.Log().find("version catdog-1 passed its first 20 predictions"), std::string::npos) << server.Log();
  auto sources = server.Client().Get("/sources");
  ASSERT_TRUE(sources && sources->status == 200);
  EXPECT_GT(json::parse(sources->body)["sources"][0]["framesOut"].get<int>(), 20);
  auto metrics = server.Client().Get("/metrics");
  ASSERT_TRUE(metrics);
  // Not one prediction was posted: the frames did it.
  EXPECT_EQ(metrics->body.find("edgevision_requests_total{method=\"POST\""), std::string::npos);
  EXPECT_NE(metrics->body.find("edgevision_requests_total{method=\"GET\""), std::string::npos);
}

TEST(DeliveryE2eTest, BadChecksumIsRefusedAndTheOldModelKeepsServing) {
  Fixture f;
  ServerProcess server(Args(f.data));
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  json req = f.Request();
  req["sha256"] = std::string(64, 'a');
  ASSERT_EQ(Put(server, req), 202);
  const json s = WaitState(server, "failed");
  EXPECT_NE(s["error"].get<std::string>().find("checksum mismatch"), std::string::npos) << s.dump();
  EXPECT_EQ(Model(server), kFruit);
  EXPECT_FALSE(fs::exists(f.data / ("models/downloads/" + std::string(64, 'a') + ".part")));
  EXPECT_FALSE(fs::exists(f.data / ("models/" + std::string(64, 'a'))));
  // Bad bodies: 400, nothing changes.
  auto res = server.Client().Put("/admin/model", "not json", "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 400);
  EXPECT_EQ(Put(server, {{"url", "ftp://x/y.zip"}, {"sha256", f.sha}}), 400);
  EXPECT_EQ(Put(server, {{"url", f.files.Url("catdog.zip")}, {"sha256", "abc"}}), 400);
  EXPECT_EQ(Delivery(server)["state"], "failed");
}

TEST(DeliveryE2eTest, CutDownloadResumesWithARangeRequest) {
  Fixture f;
  f.files.SetFault(ModelFileServer::Fault::kCutOnce);
  ServerProcess server(Args(f.data));
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  ASSERT_EQ(Put(server, f.Request()), 202);
  const json s = WaitState(server, "applied", f.sha);
  ASSERT_EQ(s["state"], "applied") << s.dump() << server.Log();
  EXPECT_EQ(s["attempts"], 2);
  const std::vector<std::string> ranges = f.files.ranges();
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[0], "");
  EXPECT_EQ(ranges[1], "bytes=" + std::to_string(f.zip.size() / 2) + "-");
  EXPECT_EQ(Model(server), kCatDog);
}

TEST(DeliveryE2eTest, ZipWithDotDotEntriesIsRefused) {
  Fixture f;
  const std::string evil = Zip({{"model.onnx", ReadText(Export("uwp-catdog-onnx12/model.onnx"))},
                                {"labels.txt", "cat\ndog\nNegative\n"},
                                {"../../evil.txt", "pwned"}});
  f.files.Put("evil.zip", evil);
  ServerProcess server(Args(f.data));
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  ASSERT_EQ(Put(server, {{"url", f.files.Url("evil.zip")}, {"sha256", Sha256(evil)}}), 202);
  const json s = WaitState(server, "failed");
  EXPECT_NE(s["error"].get<std::string>().find("path traversal"), std::string::npos) << s.dump();
  EXPECT_FALSE(fs::exists(f.data / "evil.txt"));
  EXPECT_FALSE(fs::exists(f.data / "models/evil.txt"));
  EXPECT_FALSE(fs::exists(f.data / ("models/" + Sha256(evil))));
  EXPECT_EQ(Model(server), kFruit);
}

TEST(DeliveryE2eTest, AModelThatFailsToLoadIsNeverSwappedIn) {
  Fixture f;
  std::string onnx = ReadText(Export("uwp-catdog-onnx12/model.onnx"));
  onnx.resize(onnx.size() / 3);  // truncated: the importer refuses it
  const std::string broken = Zip({{"model.onnx", onnx}, {"labels.txt", "cat\ndog\nNegative\n"}});
  f.files.Put("broken.zip", broken);
  ServerProcess server(Args(f.data));
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::thread load([&] {
    httplib::Client c = server.Client();
    while (!stop) {
      auto res = c.Post("/image", Apple(), "application/octet-stream");
      (res && res->status == 200 ? ok : failed)++;
    }
  });
  ASSERT_EQ(Put(server, {{"url", f.files.Url("broken.zip")}, {"sha256", Sha256(broken)}, {"version", "bad"}}), 202);
  const json s = WaitState(server, "failed");
  stop = true;
  load.join();
  EXPECT_NE(s["error"].get<std::string>().find("did not load"), std::string::npos) << s.dump();
  EXPECT_EQ(s["version"], "bad");
  EXPECT_EQ(s["serving"], "-");
  EXPECT_EQ(failed, 0);
  EXPECT_GT(ok, 0);
  EXPECT_EQ(Model(server), kFruit);
  EXPECT_FALSE(fs::exists(f.data / ("models/" + Sha256(broken))));
}

TEST(DeliveryE2eTest, KillDashNineMidDownloadThenRestartResumesNothingHalfApplied) {
  Fixture f;
  f.files.SetFault(ModelFileServer::Fault::kStallUntilRelease);
  auto server = std::make_unique<ServerProcess>(Args(f.data));
  ASSERT_TRUE(server->WaitReady()) << server->Log();
  ASSERT_EQ(Put(*server, f.Request()), 202);
  ASSERT_TRUE(f.files.WaitStalled(Scaled(seconds(60))));
  const std::string part = f.data / ("models/downloads/" + f.sha + ".part");
  ASSERT_TRUE(WaitFor([&] { return fs::exists(part) && fs::file_size(part) == f.zip.size() / 2; }, seconds(60)));
  server->Stop(SIGKILL);
  // Power cut: the old model is what the state names; nothing of the new one is in place.
  EXPECT_FALSE(fs::exists(f.data / ("models/" + f.sha)));
  const std::string state = ReadText(f.data / "models/delivery.state");
  EXPECT_EQ(state.find("current"), std::string::npos) << state;
  EXPECT_NE(state.find("pending\t" + f.sha), std::string::npos) << state;

  // Restart with the file server still stalling a fresh download: the resume
  // asks for the rest with Range and gets it.
  f.files.Release();
  server = std::make_unique<ServerProcess>(Args(f.data));
  ASSERT_TRUE(server->WaitReady()) << server->Log();
  const json s = WaitState(*server, "applied", f.sha);
  ASSERT_EQ(s["state"], "applied") << s.dump() << server->Log();
  const std::vector<std::string> ranges = f.files.ranges();
  ASSERT_GE(ranges.size(), 2u);
  EXPECT_EQ(ranges.back(), "bytes=" + std::to_string(f.zip.size() / 2) + "-");
  EXPECT_EQ(Model(*server), kCatDog);
  EXPECT_FALSE(fs::exists(part)) << "the download is removed once unpacked";
}

// After the 5 attempts of a round all fail (503), the request waits for its
// next round (visible in GET /admin/model), and that round, started by the
// timer, downloads and applies the model.
TEST(DeliveryE2eTest, AFailedRoundIsRetriedLaterOnItsTimerThenApplied) {
  Fixture f;
  f.files.SetFault(ModelFileServer::Fault::kUnavailable);
  std::vector<std::string> args = Args(f.data);
  // The delay between rounds must outlast the check below (one GET of the
  // state, then counting the file server's requests) or the next round's
  // attempts are counted too: 2 s natively, scaled under emulation.
  const std::string delay_ms = std::to_string(Scaled(std::chrono::milliseconds(2000)).count());
  for (const char* a : {"--model-retry-rounds", "3", "--model-retry-delay-ms"}) args.push_back(a);
  args.push_back(delay_ms);
  ServerProcess server(args);
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  ASSERT_EQ(Put(server, f.Request()), 202);
  json waiting;
  ASSERT_TRUE(WaitFor([&] {
    waiting = Delivery(server);
    return waiting.is_object() && !waiting["nextRetry"].is_null();
  }, seconds(120), std::chrono::milliseconds(10))) << waiting.dump() << server.Log();
  EXPECT_EQ(waiting["state"], "downloading");
  EXPECT_GE(waiting["retries"], 1);
  EXPECT_EQ(waiting["maxRetries"], 3);
  EXPECT_EQ(waiting["attempts"], 5);
  EXPECT_NE(waiting["error"].get<std::string>().find("HTTP 503"), std::string::npos) << waiting.dump();
  EXPECT_EQ(Model(server), kFruit);
  const size_t requests = f.files.ranges().size();
  EXPECT_EQ(requests % 5, 0u) << "whole rounds of 5 attempts";
  f.files.SetFault(ModelFileServer::Fault::kNone);
  const json s = WaitState(server, "applied", f.sha);
  ASSERT_EQ(s["state"], "applied") << s.dump() << server.Log();
  EXPECT_GE(s["retries"], 1);
  EXPECT_TRUE(s["nextRetry"].is_null());
  EXPECT_TRUE(s["error"].is_null());
  EXPECT_EQ(f.files.ranges().size(), requests + 1) << "the next round's first attempt";
  EXPECT_EQ(Model(server), kCatDog);
}

// The rounds a failing delivery took survive a restart of the binary (they
// are in delivery.state): the restart neither starts a round early nor
// grants a fresh set. With --model-retry-rounds 1 the round after the
// restart is the last: it fails the request (a fresh count would wait again).
TEST(DeliveryE2eTest, TheRoundsAFailingDeliveryTookSurviveARestart) {
  Fixture f;
  f.files.SetFault(ModelFileServer::Fault::kUnavailable);
  std::vector<std::string> args = Args(f.data);
  // A wait far longer than the test: only the same request starts the next round.
  for (const char* a : {"--model-retry-rounds", "1", "--model-retry-delay-ms", "3600000"}) args.push_back(a);
  auto server = std::make_unique<ServerProcess>(args);
  ASSERT_TRUE(server->WaitReady()) << server->Log();
  ASSERT_EQ(Put(*server, f.Request()), 202);
  json waiting;
  ASSERT_TRUE(WaitFor([&] {
    waiting = Delivery(*server);
    return waiting.is_object() && !waiting["nextRetry"].is_null();
  }, seconds(120), std::chrono::milliseconds(10))) << waiting.dump() << server->Log();
  EXPECT_EQ(waiting["retries"], 1);
  EXPECT_EQ(f.files.ranges().size(), 5u) << "one round of 5 attempts";
  const std::string state = ReadText(f.data / "models/delivery.state");
  EXPECT_NE(state.find("retry\t" + f.sha + "\t1\t"), std::string::npos) << state;

  ASSERT_EQ(WEXITSTATUS(server->Stop(SIGTERM)), 0);
  server = std::make_unique<ServerProcess>(args);
  ASSERT_TRUE(server->WaitReady()) << server->Log();
  const json restarted = Delivery(*server);
  EXPECT_EQ(restarted["state"], "downloading") << restarted.dump();
  EXPECT_EQ(restarted["retries"], 1) << restarted.dump();
  EXPECT_EQ(restarted["maxRetries"], 1);
  EXPECT_EQ(restarted["nextRetry"], waiting["nextRetry"]) << "still due when it was, not at once";
  EXPECT_NE(restarted["error"].get<std::string>().find("HTTP 503"), std::string::npos) << restarted.dump();
  EXPECT_EQ(Model(*server), kFruit);

  // The same request starts the round that was due; it is the last one.
  ASSERT_EQ(Put(*server, f.Request()), 202);
  const json failed = WaitState(*server, "failed");
  ASSERT_EQ(failed["state"], "failed") << failed.dump() << server->Log();
  EXPECT_NE(failed["error"].get<std::string>().find("HTTP 503"), std::string::npos) << failed.dump();
  EXPECT_EQ(f.files.ranges().size(), 10u) << "2 rounds in all, across the restart";
  EXPECT_EQ(Model(*server), kFruit);
  EXPECT_EQ(ReadText(f.data / "models/delivery.state").find("retry"), std::string::npos);
}

// A model that loads but whose every prediction fails (the synthetic
// detector with a NaN bias: "the detector output a non-finite value") is
// swapped in, fails its probation, and the model before it serves again.
TEST(DeliveryE2eTest, AModelWhosePredictionsFailIsRolledBackAfterTheSwap) {
  Fixture f;
  const std::string det = "detection/exports/onnx-yolo-2024/";
  const std::string nan = Zip({{"model.onnx", ReadText(TestData("synthetic/yolo_compact_fruit_nan.onnx"))},
                               {"labels.txt", "apple\nbanana\n"},
                               {"cvexport.manifest", ReadText(TestData(det + "cvexport.manifest"))},
                               {"metadata_properties.json", ReadText(TestData(det + "metadata_properties.json"))}});
  f.files.Put("nan.zip", nan);
  ServerProcess server(Args(f.data));
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  ASSERT_EQ(Put(server, {{"url", f.files.Url("nan.zip")}, {"sha256", Sha256(nan)}, {"version", "nan-1"}}), 202);
  const json applied = WaitState(server, "applied", Sha256(nan));
  ASSERT_EQ(applied["state"], "applied") << applied.dump() << server.Log();
  EXPECT_EQ(applied["serving"], "nan-1");
  // Its predictions fail; the third (max_probation_failures) rolls it back.
  for (int i = 0; i < 3; ++i) {
    auto res = server.Client().Post("/image", Apple(), "application/octet-stream");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 500) << res->body;
    EXPECT_NE(res->body.find("non-finite"), std::string::npos) << res->body;
  }
  const json rolled = WaitState(server, "rolledBack");
  ASSERT_EQ(rolled["state"], "rolledBack") << rolled.dump() << server.Log();
  EXPECT_EQ(rolled["version"], "nan-1");
  EXPECT_EQ(rolled["serving"], "-");
  EXPECT_EQ(rolled["rolledBack"], 1);
  EXPECT_NE(rolled["error"].get<std::string>().find("3 of its first 3 predictions failed"), std::string::npos)
      << rolled.dump();
  EXPECT_EQ(Model(server), kFruit);
  auto health = server.Client().Get("/health");
  ASSERT_TRUE(health);
  const json h = json::parse(health->body);
  EXPECT_EQ(h["status"], "ready") << health->body;
  EXPECT_EQ(h["delivery"]["state"], "rolledBack");
  EXPECT_EQ(h["delivery"]["serving"], "-");
  EXPECT_EQ(h["model"]["labels"], json::array({"Apple", "Banana"})) << health->body;
  EXPECT_FALSE(fs::exists(f.data / ("models/" + Sha256(nan)))) << "the rolled-back model is removed";
}

TEST(DeliveryE2eTest, DownloadsFollowTheUrlAddressPolicy) {
  Fixture f;
  std::vector<std::string> args = Args(f.data);
  args.erase(std::find(args.begin(), args.end(), "--url-allow-loopback"));
  ServerProcess server(args);
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  ASSERT_EQ(Put(server, f.Request()), 202);
  const json s = WaitState(server, "failed");
  EXPECT_NE(s["error"].get<std::string>().find("loopback address"), std::string::npos) << s.dump();
  EXPECT_TRUE(f.files.ranges().empty()) << "no connection reached the file server";
  EXPECT_EQ(Model(server), kFruit);
}

TEST(DeliveryE2eTest, OffWithoutTheFlag) {
  TempDir data;
  ServerProcess server({"--model", Export("iotedge-applebanana-tf").string()});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  EXPECT_EQ(Put(server, {{"url", "http://127.0.0.1:1/x.zip"}, {"sha256", std::string(64, 'a')}}), 409);
  ServerProcess no_dir({"--model", Export("iotedge-applebanana-tf").string(), "--model-delivery"});
  EXPECT_EQ(WEXITSTATUS(no_dir.WaitExit()), 2);
}

}  // namespace
}  // namespace edgevision::testing
