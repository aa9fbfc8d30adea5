// The module twin's desired "sources" (docs/streams.md#the-module-twin)
// against a REAL mosquitto broker standing in for edgeHub: the real
// publisher (IoT Edge identity through the workload API stand-in, TLS), a
// test client playing the twin service (twin_service.h), the real live
// sources (stream::Sources, real inotify-watched folders) and the glue
// `serve` uses (cli/source_twin.h). Sources are added, changed, refused and
// removed by desired patches while the others keep running; the reported
// properties (merged as IoT Hub merges them) show each source's state.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/source_twin.h"
#include "test_support.h"
#include "upstream/edgehub_standin.h"
#include "upstream/twin_service.h"

namespace edgevision {
namespace {

using edgevision::testing::EdgeHubStandIn;
using edgevision::testing::TempDir;
using edgevision::testing::TwinService;
using nlohmann::json;
using namespace std::chrono_literals;

bool WaitUntil(const std::function<bool()>& done) { return edgevision::testing::WaitFor(done, 60s, 10ms); }

// One source in the reported document (null when absent).
json Reported(const TwinService& twin, const std::string& name) {
  const json doc = twin.reported_document();
  if (!doc.contains("sources") || !doc["sources"].contains(name)) return json();
  return doc["sources"][name];
}

TEST(SourceTwinBrokerTest, DesiredSourcesAreAddedChangedRefusedAndRemovedLive) {
  if (const std::string missing = edgevision::testing::MissingBrokerPrograms(); !missing.empty())
    EDGEVISION_SKIP_OR_FAIL(missing);
  TempDir dir("edgevision_source_twin");
  EdgeHubStandIn edgehub(dir.path());
  const std::string failed = edgehub.Start();
  ASSERT_EQ(failed, "");
  // Three real folders for `dir:` sources.
  std::map<std::string, std::string> folder;
  for (const char* f : {"configured", "first", "second"}) {
    folder[f] = (dir.path() / f).string();
    std::filesystem::create_directories(folder[f]);
  }

  // The twin at start: one good source, one that does not parse, one of the wrong type.
  const json desired = {{"sources",
                         {{"door", "dir:" + folder["first"] + ",debounce=1"},
                          {"broken", "dir:" + folder["first"] + ",fps=-3"},
                          {"number", 5}}},
                        {"$version", 2}};
  TwinService twin(edgehub.pki(), edgehub.port(), json{{"desired", desired}, {"reported", json::object()}}.dump());
  ASSERT_TRUE(twin.connected());

  Result<std::unique_ptr<upstream::Publisher>> made = edgehub.MakePublisher([](upstream::UpstreamOptions* o) {
    o->limits.model_check_interval = 100ms;  // source states re-reported quickly
  });
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  std::unique_ptr<upstream::Publisher> publisher = std::move(made).value();
  ASSERT_TRUE(publisher->uses_twin());

  // As `serve` wires them (cli/serve_command.cc MakeSources): one configured
  // source, no model loaded (frames are read and dropped as "no model").
  predict::ModelSlot slot;
  stream::RunnerContext context;
  context.slot = &slot;
  Result<stream::SourceSpec> configured = stream::ParseSourceSpec("line=dir:" + folder["configured"]);
  ASSERT_TRUE(configured.ok());
  std::vector<stream::RunnerOptions> runners = {cli::ShownSource(*configured)};
  Result<std::unique_ptr<stream::Sources>> sources = stream::Sources::Create(runners, context);
  ASSERT_TRUE(sources.ok());
  cli::SourceTwin source_twin(sources->get(), runners);
  // Whatever happens below, the publisher (which calls into source_twin) stops first.
  struct StopAll {
    upstream::Publisher* publisher;
    stream::Sources* sources;
    ~StopAll() {
      publisher->Stop();
      sources->Stop();
    }
  } stop_all{publisher.get(), sources->get()};
  publisher->SetSourcesReporter([&] { return source_twin.Report(); });
  publisher->SetSourcesHandler([&](const std::map<std::string, std::string>& d) { source_twin.Apply(d); });
  (*sources)->Start();
  publisher->Start();
  auto stats = [&](const std::string& name) {
    for (const stream::SourceStats& s : (*sources)->Stats()) {
      if (s.name == name) return std::optional<stream::SourceStats>(s);
    }
    return std::optional<stream::SourceStats>();
  };

  // Applied and reported: "door" runs, "broken" is refused with its reason,
  // "number" is named in upstream.errors; the configured source runs.
  ASSERT_TRUE(WaitUntil([&] {
    return Reported(twin, "door")["state"] == "running" && Reported(twin, "line")["state"] == "running";
  })) << twin.reported_document().dump();
  json door = Reported(twin, "door");
  EXPECT_EQ(door["origin"], "twin");
  EXPECT_EQ(door["url"], "dir:" + folder["first"]);
  EXPECT_EQ(door["decoder"], "files as written");
  EXPECT_TRUE(door["error"].is_null());
  json broken = Reported(twin, "broken");  // (a null member is absent from the merged document)
  EXPECT_NE(broken["error"].get<std::string>().find("fps=-3"), std::string::npos) << broken.dump();
  EXPECT_TRUE(broken["state"].is_null());
  EXPECT_EQ(Reported(twin, "line")["origin"], "configured");
  EXPECT_NE(twin.reported_document()["upstream"]["errors"].get<std::string>().find("sources.number must be a string"),
            std::string::npos)
      << twin.reported_document().dump();
  EXPECT_FALSE(stats("broken").has_value());
  ASSERT_TRUE(stats("line").has_value());

  // The configured source keeps reading while the twin changes the others.
  auto drop_file = [&](const std::string& where, const std::string& name) {
    std::ofstream(std::filesystem::path(folder[where]) / ("." + name)) << "frame";
    std::filesystem::rename(std::filesystem::path(folder[where]) / ("." + name),
                            std::filesystem::path(folder[where]) / name);
  };
  drop_file("configured", "1.jpg");
  ASSERT_TRUE(WaitUntil([&] { return stats("line")->frames_in == 1; }));

  // v3: "door" removed, "gate" added, the configured "line" changed to another
  // folder, "broken" fixed, "number" removed.
  twin.SendDesiredPatch(3, json{{"sources",
                                 {{"door", nullptr},
                                  {"gate", "dir:" + folder["second"]},
                                  {"line", "dir:" + folder["first"] + ",fps=1"},
                                  {"broken", "dir:" + folder["second"] + ",fps=2"},
                                  {"number", nullptr}}},
                                {"$version", 3}}
                               .dump());
  ASSERT_TRUE(WaitUntil([&] {
    const json doc = twin.reported_document();
    return !doc["sources"].contains("door") && Reported(twin, "gate")["state"] == "running" &&
           Reported(twin, "broken")["state"] == "running" && Reported(twin, "line")["origin"] == "twin" &&
           Reported(twin, "line")["state"] == "running";
  })) << twin.reported_document().dump();
  EXPECT_EQ(Reported(twin, "line")["url"], "dir:" + folder["first"]);
  EXPECT_TRUE(Reported(twin, "broken")["error"].is_null());
  EXPECT_EQ(twin.reported_document()["upstream"]["errors"], "");
  EXPECT_FALSE(stats("door").has_value());
  EXPECT_EQ(stats("line")->target_fps, 1);

  // v4: a bad change to a running source keeps it running as it was.
  twin.SendDesiredPatch(4, R"({"sources":{"gate":"dir:/x,fps=1,colour=red"},"$version":4})");
  ASSERT_TRUE(WaitUntil([&] { return !Reported(twin, "gate")["error"].is_null(); }))
      << twin.reported_document().dump();
  EXPECT_NE(Reported(twin, "gate")["error"].get<std::string>().find("unknown option colour"), std::string::npos);
  EXPECT_EQ(Reported(twin, "gate")["state"], "running");
  EXPECT_EQ(Reported(twin, "gate")["url"], "dir:" + folder["second"]);
  drop_file("second", "2.jpg");  // both "gate" and "broken" watch it
  ASSERT_TRUE(WaitUntil([&] { return stats("gate")->frames_in == 1 && stats("broken")->frames_in == 1; }));

  // v5: "line" leaves the twin (back to its configured folder); "gate" is
  // stopped with "" even though the twin added it.
  twin.SendDesiredPatch(5, R"({"sources":{"line":null,"gate":""},"$version":5})");
  ASSERT_TRUE(WaitUntil([&] {
    return Reported(twin, "line")["origin"] == "configured" && !twin.reported_document()["sources"].contains("gate");
  })) << twin.reported_document().dump();
  EXPECT_EQ(Reported(twin, "line")["url"], "dir:" + folder["configured"]);
  EXPECT_FALSE(stats("gate").has_value());
  ASSERT_TRUE(WaitUntil([&] { return Reported(twin, "line")["state"] == "running"; }));
  drop_file("configured", "3.jpg");
  ASSERT_TRUE(WaitUntil([&] { return stats("line")->frames_in == 1; }));  // a new runner: counts from 0
  EXPECT_EQ(publisher->GetStatus().twin_version, 5);
}

}  // namespace
}  // namespace edgevision
