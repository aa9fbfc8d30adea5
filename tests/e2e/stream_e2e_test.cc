// End-to-end: `edgevision serve --source` with the demo model, against real
// sources on loopback (issue 15): a video file made by Debian's ffmpeg from
// the test photos, the same video over RTSP from GStreamer's RTSP server
// (tests/stream/rtsp_server.py), an MJPEG HTTP server run by this test, a
// watched directory. Every wait is on /sources, never on a clock.
#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <iterator>
#include <set>

#include "e2e/e2e_checks.h"
#include "e2e/server_process.h"
#include "stream/testing/test_video.h"
#include "test_support.h"

namespace edgevision::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

json GetJson(const ServerProcess& s, const std::string& path) {
  auto res = s.Client().Get(path);
  if (!res || res->status != 200) return json();
  return json::parse(res->body, nullptr, false);
}

// The source's entry in GET /sources (null when absent).
json Source(const ServerProcess& s, const std::string& name) {
  json doc = GetJson(s, "/sources");
  if (!doc.is_object()) return json();
  for (const json& src : doc["sources"]) {
    if (src["name"] == name) return src;
  }
  return json();
}

// Waits until `pred` holds for the source's entry; the last entry seen.
template <typename Pred>
json WaitSource(const ServerProcess& s, const std::string& name, Pred pred, std::chrono::seconds limit = 90s) {
  json last;
  WaitFor([&] {
    last = Source(s, name);
    return !last.is_null() && pred(last);
  }, limit, 20ms);
  return last;
}

// One video per codec for the whole suite.
std::string Video(const std::string& codec, double scene_s = 2) {
  static TempDir dir("edgevision_stream_e2e");
  static std::map<std::string, std::string> made;
  const std::string key = codec + std::to_string(scene_s);
  if (auto it = made.find(key); it != made.end()) return it->second;
  VideoSpec v;
  v.codec = codec;
  v.scene_s = scene_s;
  const std::string out = dir / (key + (codec == "mjpeg" ? ".avi" : ".mp4"));
  EXPECT_TRUE(MakeTestVideo(v, out)) << "Debian's ffmpeg could not make " << out;
  return made[key] = out;
}

// GStreamer's RTSP server serving `video` on 127.0.0.1 (port 0: any), in a
// loop without end, each client from the clip's start.
class RtspServer {
 public:
  RtspServer(const std::string& video, int port = 0) : out_(dir_ / "rtsp.out") {
    const std::string script = (SourceDir() / "tests/stream/rtsp_server.py").string();
    std::vector<std::string> argv = {"/usr/bin/python3", script, video, std::to_string(port)};
    std::vector<char*> cargv;
    for (std::string& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn(&pid_, cargv[0], &actions, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    WaitFor([&] {
      std::ifstream in(out_);
      std::string word;
      if (in >> word >> port_ && word == "READY") return true;
      port_ = 0;
      return waitpid(pid_, nullptr, WNOHANG) == pid_;
    }, 30s, 10ms);
  }
  ~RtspServer() { Kill(); }
  void Kill() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }
  int port() const { return port_; }  // 0 when it did not start

 private:
  TempDir dir_;
  std::string out_;
  pid_t pid_ = -1;
  int port_ = 0;
};

// Whether GStreamer's RTSP server can run here (Debian's python3-gi and
// gir1.2-gst-rtsp-server-1.0); CI (EDGEVISION_REQUIRE_ALL=1) requires it.
bool HaveRtspServer() {
  return std::system("/usr/bin/python3 -c \"import gi; gi.require_version('GstRtspServer', '1.0'); "
                     "from gi.repository import GstRtspServer\" >/dev/null 2>&1") == 0;
}

TEST(StreamE2E, VideoFileEventsReachTheStoreAndTheOutbox) {
  TempDir data;
  ClosedPort broker;  // upstream down: events wait in the outbox
  // Each scene lasts 2 s times the time scale (as the RTSP test's): under
  // qemu-user at load, a fixed 2 s scene let the first Apple pass before its
  // `debounce` frames were classified, and the events began with Banana.
  const std::string video = Video("h264", ScaledSeconds(2));
  ServerProcess server({"--data-dir", data.str(), "--capture", "all", "--upstream",
                        "mqtt://127.0.0.1:" + std::to_string(broker.port()) + "/edgevision/events",
                        "--source", "file=" + video + ",fps=5,debounce=2,heartbeat=0"});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  json src = WaitSource(server, "file", [](const json& s) { return s["events"].get<int>() >= 3; });
  ASSERT_GE(src["events"].get<int>(), 3) << src.dump() << server.Log();
  EXPECT_EQ(src["url"], video);
  EXPECT_GT(src["framesOut"].get<int>(), 0);
  EXPECT_EQ(src["badFrames"], 0);
  // hwdecode=auto (the default) on a machine without a hardware decoder:
  // software, and why.
  EXPECT_EQ(src["decoder"]["name"], "h264") << src.dump();
  EXPECT_EQ(src["decoder"]["hardware"], false);
  EXPECT_NE(src["decoder"]["fallback"].get<std::string>().find("h264_v4l2m2m"), std::string::npos) << src.dump();

  // The store: the events, oldest first Apple, Banana, Apple, each with its frame
  // (the capture writer stores them in the background: waited for).
  json captures;
  WaitFor([&] {
    captures = GetJson(server, "/captures?limit=100");
    return captures.is_object() && captures["captures"].size() >= 3;
  }, 60s, 20ms);
  std::vector<std::string> tops;
  for (auto it = captures["captures"].rbegin(); it != captures["captures"].rend(); ++it) {
    EXPECT_EQ((*it)["route"], "SOURCE file change");
    tops.push_back((*it)["top"]["tagName"].get<std::string>());
  }
  ASSERT_GE(tops.size(), 3u) << captures.dump();
  EXPECT_EQ(std::vector<std::string>(tops.begin(), tops.begin() + 3),
            (std::vector<std::string>{"Apple", "Banana", "Apple"}));
  const std::string id = captures["captures"][0]["id"];
  auto image = server.Client().Get("/captures/" + id + "/image");
  ASSERT_TRUE(image && image->status == 200);
  EXPECT_EQ(image->body.substr(0, 2), "\xFF\xD8");  // the decoded frame, JPEG-encoded

  // The outbox holds them (the broker is down).
  json health;
  WaitFor([&] {
    health = GetJson(server, "/health");
    return health.is_object() && health["upstream"]["outbox"]["depth"].get<int>() >= 3;
  }, 60s, 20ms);
  EXPECT_GE(health["upstream"]["outbox"]["depth"].get<int>(), 3) << health.dump();

  // latest.jpg and the metrics.
  auto latest = server.Client().Get("/sources/file/latest.jpg");
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->status, 200);
  EXPECT_EQ(latest->get_header_value("Content-Type"), "image/jpeg");
  EXPECT_EQ(latest->body.substr(0, 2), "\xFF\xD8");
  EXPECT_EQ(server.Client().Get("/sources/nope/latest.jpg")->status, 404);
  auto metrics = server.Client().Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("edgevision_source_frames_read_total{source=\"file\"}"), std::string::npos);
  EXPECT_NE(metrics->body.find("edgevision_source_events_total{source=\"file\",kind=\"change\"}"), std::string::npos);
  for (const char* reason : {"superseded", "model_busy", "no_model"}) {
    EXPECT_NE(metrics->body.find("edgevision_source_frames_dropped_total{source=\"file\",reason=\"" +
                                 std::string(reason) + "\"}"),
              std::string::npos)
        << reason;
  }
  EXPECT_NE(metrics->body.find("edgevision_source_bad_frames_total{source=\"file\",by=\"model\"} 0"),
            std::string::npos);
  EXPECT_NE(metrics->body.find("edgevision_source_hardware_decoding{source=\"file\"} 0"), std::string::npos);
  // Prometheus's own linter on the scrape (Debian's prometheus package).
  if (access("/usr/bin/promtool", X_OK) == 0) {
    std::ofstream(data / "scrape.txt") << metrics->body;
    const int rc = std::system(("/usr/bin/promtool check metrics < " + (data / "scrape.txt") + " > " +
                                (data / "lint.txt") + " 2>&1").c_str());
    EXPECT_EQ(rc, 0) << ReadText(data / "lint.txt");
    EXPECT_EQ(ReadText(data / "lint.txt"), "");
  } else {
    EXPECT_FALSE(RequireAll()) << "promtool (Debian: prometheus) is missing";
  }
  ExpectStillServing(server, "a video file source");
}

TEST(StreamE2E, RtspStreamAndReconnectionAfterTheServerRestarts) {
  if (!HaveRtspServer()) {
    if (RequireAll()) FAIL() << "GStreamer's RTSP server (gir1.2-gst-rtsp-server-1.0) is missing";
    GTEST_SKIP() << "GStreamer's RTSP server (gir1.2-gst-rtsp-server-1.0) is missing";
  }
  // The server plays the clip in a loop (a camera's stream does not end);
  // each scene lasts 2 s times the time scale, so a consumer that many times
  // slower (qemu-user: ~1.5 s per inference) still classifies each scene on
  // the `debounce` consecutive frames an event needs.
  const std::string video = Video("h264", ScaledSeconds(2));
  auto rtsp = std::make_unique<RtspServer>(video);
  ASSERT_NE(rtsp->port(), 0);
  const int port = rtsp->port();
  ServerProcess server({"--source", "cam=rtsp://user:secret@127.0.0.1:" + std::to_string(port) +
                                        "/cam,fps=0,debounce=2,timeout=5"});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  json src = WaitSource(server, "cam", [](const json& s) { return s["events"].get<int>() >= 2; });
  ASSERT_GE(src["events"].get<int>(), 2) << src.dump() << server.Log();
  EXPECT_EQ(src["url"], "rtsp://user:***@127.0.0.1:" + std::to_string(port) + "/cam");
  EXPECT_EQ(server.Log().find("secret"), std::string::npos);

  // The server goes away: the source notices, backs off, retries.
  rtsp->Kill();
  src = WaitSource(server, "cam", [](const json& s) { return s["state"] != "running"; });
  ASSERT_NE(src["state"], "running") << src.dump();
  EXPECT_FALSE(src["lastError"].is_null());
  const int reconnects = src["reconnects"].get<int>();
  const int frames = src["framesIn"].get<int>();
  ExpectStillServing(server, "an RTSP server that went away");

  // It comes back on the same port: frames flow again.
  rtsp = std::make_unique<RtspServer>(video, port);
  ASSERT_EQ(rtsp->port(), port);
  src = WaitSource(server, "cam", [&](const json& s) {
    return s["state"] == "running" && s["reconnects"].get<int>() > reconnects && s["framesIn"].get<int>() > frames;
  });
  EXPECT_EQ(src["state"], "running") << src.dump() << server.Log();
  EXPECT_GT(src["framesIn"].get<int>(), frames);
}

// An MJPEG server as an ESP32-CAM's /stream: multipart/x-mixed-replace, one
// JPEG per part, 10 parts a second; apples first, then bananas.
class MjpegServer {
 public:
  MjpegServer() : apple_(Fruit("apple1.jpg")), banana_(Fruit("banana1.jpg")) {
    server_.Get("/stream", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content_provider("multipart/x-mixed-replace; boundary=frame",
                               [this, n = 0](size_t, httplib::DataSink& sink) mutable {
                                 const std::string& jpeg = n++ < 20 ? apple_ : banana_;
                                 std::string part = "--frame\r\nContent-Type: image/jpeg\r\nContent-Length: " +
                                                    std::to_string(jpeg.size()) + "\r\n\r\n" + jpeg + "\r\n";
                                 if (!sink.write(part.data(), part.size())) return false;
                                 // The camera's frame rate (not synchronisation).
                                 std::this_thread::sleep_for(100ms);
                                 return !stopping_;
                               });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~MjpegServer() {
    stopping_ = true;
    server_.stop();
    thread_.join();
  }
  int port() const { return port_; }
  const std::string& apple() const { return apple_; }
  const std::string& banana() const { return banana_; }

 private:
  std::string apple_;
  std::string banana_;
  httplib::Server server_;
  std::atomic<bool> stopping_{false};
  int port_ = 0;
  std::thread thread_;
};

TEST(StreamE2E, HttpMjpegStreamIsClassifiedFromTheJpegsAsSent) {
  MjpegServer camera;
  ServerProcess server(
      {"--source", "esp=http://127.0.0.1:" + std::to_string(camera.port()) + "/stream,fps=0,debounce=2"});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  json src = WaitSource(server, "esp", [](const json& s) {
    return !s["last"].is_null() && s["last"]["scene"] == "Banana" && s["events"].get<int>() >= 2;
  });
  ASSERT_FALSE(src["last"].is_null()) << src.dump() << server.Log();
  EXPECT_EQ(src["last"]["scene"], "Banana") << src.dump();
  EXPECT_EQ(src["badFrames"], 0);
  // latest.jpg is the camera's own JPEG, byte for byte: the frame was never re-encoded.
  auto latest = server.Client().Get("/sources/esp/latest.jpg");
  ASSERT_TRUE(latest && latest->status == 200);
  EXPECT_TRUE(latest->body == camera.banana()) << latest->body.size();
  // The answer is the one a POST of the same JPEG gets.
  auto posted = server.Client().Post("/image", camera.banana(), "application/octet-stream");
  ASSERT_TRUE(posted && posted->status == 200);
  const json answer = json::parse(posted->body);
  EXPECT_NEAR(src["last"]["predictions"][0]["probability"].get<double>(),
              answer["predictions"][0]["probability"].get<double>(), 1e-6);
}

// Configured in the config file this time (`source = [...]`).
TEST(StreamE2E, WatchedDirectoryClassifiesNewFilesAndCountsGarbage) {
  TempDir inbox;
  TempDir etc;
  std::ofstream(etc / "edgevision.conf") << "source = [\"inbox=dir:" << inbox.str() << ",debounce=1\"]\n";
  ServerProcess server({"--config", etc / "edgevision.conf"});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  ASSERT_EQ(WaitSource(server, "inbox", [](const json& s) { return s["state"] == "running"; })["state"], "running");
  const std::string banana = Fruit("banana1.jpg");
  {
    std::ofstream f(inbox / ".part", std::ios::binary);
    f << banana;
  }
  fs::rename(inbox / ".part", inbox / "b.jpg");
  json src = WaitSource(server, "inbox", [](const json& s) { return s["framesOut"].get<int>() >= 1; });
  EXPECT_EQ(src["last"]["scene"], "Banana") << src.dump();
  std::ofstream(inbox / "junk.jpg") << "this is not an image";
  src = WaitSource(server, "inbox", [](const json& s) { return s["badFrames"].get<int>() >= 1; });
  EXPECT_EQ(src["badFrames"], 1) << src.dump();
  EXPECT_EQ(src["badFramesBy"]["model"], 1) << src.dump();  // read as written, refused by the model's decoder
  EXPECT_EQ(src["badFramesBy"]["source"], 0);
  EXPECT_EQ(src["decoder"]["name"], "files as written");
  EXPECT_EQ(src["state"], "running");
  auto latest = server.Client().Get("/sources/inbox/latest.jpg");
  ASSERT_TRUE(latest && latest->status == 200);
  EXPECT_TRUE(latest->body == banana);
}

// A source far faster than the model (an MJPEG file read without pacing,
// looped): frames are dropped, nothing queues, memory does not grow.
TEST(StreamE2E, OverloadDropsFramesWithBoundedMemory) {
  ServerProcess server({"--source", "fast=" + Video("mjpeg") + ",realtime=false,loop=true,fps=0"});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  json src = WaitSource(server, "fast", [](const json& s) { return s["framesIn"].get<int>() >= 1000; });
  ASSERT_GE(src["framesIn"].get<int>(), 1000) << src.dump();
  const long rss_before = RssKiB(server.pid());
  src = WaitSource(server, "fast", [](const json& s) { return s["framesIn"].get<int>() >= 6000; }, 300s);
  ASSERT_GE(src["framesIn"].get<int>(), 6000) << src.dump();
  const long rss_after = RssKiB(server.pid());
  EXPECT_GT(src["dropped"].get<int>(), 0);
  // All of them superseded by newer frames: the model was loaded and free.
  EXPECT_EQ(src["droppedBy"]["superseded"], src["dropped"]) << src.dump();
  EXPECT_EQ(src["droppedBy"]["modelBusy"], 0);
  EXPECT_EQ(src["droppedBy"]["noModel"], 0);
  EXPECT_EQ(src["decoder"]["name"], "jpeg as sent");
  EXPECT_LE(src["framesIn"].get<int>() - src["framesOut"].get<int>() - src["dropped"].get<int>(), 2) << src.dump();
  // 5000 frames of ~40 KB (200 MB) went through; a backlog would show here.
  EXPECT_LT(rss_after - rss_before, 16 * 1024) << rss_before << " KiB -> " << rss_after << " KiB";
  ExpectStillServing(server, "an overloading source");
}

TEST(StreamE2E, DeadAndGarbageSourcesNeverTakeTheServerDown) {
  TempDir dir;
  const std::string junk = dir / "junk.mp4";
  {
    std::ofstream f(junk, std::ios::binary);
    for (int i = 0; i < 200000; ++i) f.put(static_cast<char>((i * 7919) & 0xFF));
  }
  ClosedPort nobody;
  ServerProcess server({"--source", "dead=rtsp://127.0.0.1:" + std::to_string(nobody.port()) + "/x,timeout=2",
                        "--source", "junk=" + junk, "--source", "gone=dir:" + dir / "missing"});
  ASSERT_TRUE(server.WaitReady()) << server.Log();
  for (const char* name : {"dead", "junk", "gone"}) {
    json src = WaitSource(server, name, [](const json& s) { return !s["lastError"].is_null(); });
    EXPECT_FALSE(src["lastError"].is_null()) << name << ": " << src.dump();
    EXPECT_NE(src["state"], "running") << name;
    EXPECT_EQ(src["framesIn"], 0) << name;
  }
  ExpectStillServing(server, "dead sources");
  EXPECT_EQ(server.Client().Get("/health")->status, 200);
}

// The FFmpeg module beside the binary, as built.
fs::path BuiltModule() { return EdgevisionBinary().parent_path() / "edgevision-ffmpeg.so"; }

// issue 17, part 2: FFmpeg is loaded only when a source needs it. A server
// with a watched directory only never maps FFmpeg's libraries nor the
// module; one with a video file maps them (the positive control).
TEST(StreamE2E, FfmpegIsLoadedOnlyWhenASourceNeedsIt) {
  TempDir inbox;
  ServerProcess without({"--source", "inbox=dir:" + inbox.str() + ",debounce=1"});
  ASSERT_TRUE(without.WaitReady()) << without.Log();
  ASSERT_EQ(WaitSource(without, "inbox", [](const json& s) { return s["state"] == "running"; })["state"], "running");
  std::ofstream(inbox / "a.jpg", std::ios::binary) << Fruit("apple1.jpg");
  json src = WaitSource(without, "inbox", [](const json& s) { return s["framesOut"].get<int>() >= 1; });
  EXPECT_EQ(src["last"]["scene"], "Apple") << src.dump();
  EXPECT_FALSE(MapsFile(without.pid(), "libavcodec")) << "a directory source loaded FFmpeg";
  EXPECT_FALSE(MapsFile(without.pid(), "edgevision-ffmpeg.so"));

  ServerProcess with({"--source", "file=" + Video("mjpeg") + ",loop=true"});
  ASSERT_TRUE(with.WaitReady()) << with.Log();
  src = WaitSource(with, "file", [](const json& s) { return s["framesOut"].get<int>() >= 1; });
  ASSERT_GE(src["framesOut"].get<int>(), 1) << src.dump() << with.Log();
  EXPECT_TRUE(MapsFile(with.pid(), "edgevision-ffmpeg.so"));
  EXPECT_TRUE(MapsFile(with.pid(), "libavcodec"));
}

// A .deb installed with --no-install-recommends has the module but not
// FFmpeg's libraries; a mixed-up install may lack the module. Either way
// the sources that need FFmpeg are in state error with a message that names
// the package to install, and everything else serves.
TEST(StreamE2E, WithoutFfmpegCameraSourcesAreInStateErrorAndTheRestServes) {
  // The real module, with the name of the libavformat it needs changed (same
  // length) so that the dynamic loader cannot find it.
  TempDir dir;
  std::string bytes;
  {
    std::ifstream in(BuiltModule(), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  const size_t at = bytes.find("libavformat.so.");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 15, "libavfzrmat.so.");
  std::ofstream(dir / "edgevision-ffmpeg.so", std::ios::binary) << bytes;

  struct Case {
    std::string module;
    std::string says;
  };
  for (const Case& c : {Case{dir / "edgevision-ffmpeg.so", "apt install libavformat"},
                        Case{dir / "missing/edgevision-ffmpeg.so", "edgevision package"}}) {
    TempDir inbox;
    ServerProcess server({"--source", "file=" + Video("mjpeg"), "--source", "inbox=dir:" + inbox.str() + ",debounce=1"},
                         {"EDGEVISION_FFMPEG_MODULE=" + c.module});
    ASSERT_TRUE(server.WaitReady()) << server.Log();
    json src = WaitSource(server, "file", [](const json& s) { return s["state"] == "error"; });
    ASSERT_EQ(src["state"], "error") << src.dump() << server.Log();
    EXPECT_NE(src["lastError"].get<std::string>().find(c.says), std::string::npos) << src.dump();
    EXPECT_EQ(src["framesIn"], 0);
    EXPECT_NE(server.Log().find(c.says), std::string::npos) << server.Log();
    // The directory source and the HTTP API are unaffected.
    ASSERT_EQ(WaitSource(server, "inbox", [](const json& s) { return s["state"] == "running"; })["state"], "running");
    std::ofstream(inbox / "b.jpg", std::ios::binary) << Fruit("banana1.jpg");
    json in = WaitSource(server, "inbox", [](const json& s) { return s["framesOut"].get<int>() >= 1; });
    EXPECT_EQ(in["last"]["scene"], "Banana") << in.dump();
    ExpectStillServing(server, "a source without FFmpeg");
    EXPECT_EQ(Source(server, "file")["state"], "error");  // not retried
  }
}

TEST(StreamE2E, BadSourceFlagsAreRefusedAtStart) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--source", "no-url"}, {"--source", "a=x,fps=-2"}, {"--source", "a=x", "--source", "a=y"}}) {
    ServerProcess server(args);
    EXPECT_EQ(WEXITSTATUS(server.WaitExit()), 2) << server.Log();
  }
}

}  // namespace
}  // namespace edgevision::testing
