// The runner with the real demo model and sources that misbehave on purpose
// (FrameSource is the seam): scene changes, reconnection, garbage, overload.
#include "stream/source_runner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <functional>
#include <thread>
#include <variant>

#include "engine/xnnpack_backend.h"
#include "image/decode.h"
#include "model/model.h"
#include "stream/testing/test_video.h"

namespace edgevision::stream {
namespace {

using namespace std::chrono_literals;

// Waits for `condition` (test_support.h's WaitFor), at most `limit`.
bool WaitUntil(const std::function<bool()>& condition, std::chrono::seconds limit = 60s) {
  return edgevision::testing::WaitFor(condition, limit, 1ms);
}

std::vector<uint8_t> Photo(const std::string& name) {
  return edgevision::testing::ReadBytes(edgevision::testing::FruitPhoto(name));
}

Frame Encoded(std::vector<uint8_t> bytes) {
  Frame f;
  f.encoded = std::move(bytes);
  f.read_at = std::chrono::steady_clock::now();
  return f;
}

// One open's worth of reads: each Read takes the next step (a frame or an
// error), optionally after `gate` allows it; after the last step, Read
// returns `end` (or, when `end` is OK, blocks until Interrupt: a camera that
// is connected and silent).
struct Script {
  std::deque<Result<Frame>> steps;
  Status end = Status::Ok();
  std::function<bool(size_t index)> gate;  // may step `index` be read now?
  std::function<Frame(size_t index)> endless;  // instead of steps: frames forever
};

class ScriptedSource final : public FrameSource {
 public:
  explicit ScriptedSource(Script script) : script_(std::move(script)) {}
  Result<Frame> Read() override {
    if (script_.endless) {
      if (interrupted_) return Unavailable("interrupted");
      return script_.endless(index_++);
    }
    if (!script_.steps.empty()) {
      if (script_.gate && !WaitUntil([&] { return interrupted_ || script_.gate(index_); })) {
        return Unavailable("gate never opened");
      }
      if (interrupted_) return Unavailable("interrupted");
      Result<Frame> step = std::move(script_.steps.front());
      script_.steps.pop_front();
      ++index_;
      return step;
    }
    if (!script_.end.ok()) return script_.end;
    WaitUntil([&] { return interrupted_.load(); }, 3600s);
    return Unavailable("interrupted");
  }
  void Interrupt() override { interrupted_ = true; }

 private:
  Script script_;
  size_t index_ = 0;
  std::atomic<bool> interrupted_{false};
};

// An opener that plays one outcome per open: an error or a script. After the
// last, every open fails.
class ScriptedOpener {
 public:
  void Add(Status error) { outcomes_.push_back(std::move(error)); }
  void Add(Script script) { outcomes_.push_back(std::move(script)); }
  int opens() const { return opens_; }
  SourceOpener Opener() {
    return [this](const SourceSpec&, const std::function<bool()>&) -> Result<std::unique_ptr<FrameSource>> {
      std::lock_guard<std::mutex> lock(mu_);
      ++opens_;
      if (outcomes_.empty()) return Unavailable("no more scripted opens");
      auto outcome = std::move(outcomes_.front());
      outcomes_.pop_front();
      if (auto* error = std::get_if<Status>(&outcome)) return *error;
      return std::unique_ptr<FrameSource>(std::make_unique<ScriptedSource>(std::get<Script>(std::move(outcome))));
    };
  }

 private:
  std::mutex mu_;
  std::deque<std::variant<Status, Script>> outcomes_;
  std::atomic<int> opens_{0};
};

struct Event {
  std::string route;
  std::string top;
  size_t image_bytes = 0;
};

class RecordingObserver final : public predict::PredictionObserver {
 public:
  void OnPrediction(const predict::PredictionRecord& r) override {
    std::lock_guard<std::mutex> lock(mu_);
    Event e{r.route, r.result && !r.result->scores.empty() ? r.result->scores[0].tag : "", r.image.size()};
    events_.push_back(e);
  }
  std::vector<Event> events() const {
    std::lock_guard<std::mutex> lock(mu_);
    return events_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<Event> events_;
};

class SourceRunnerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Result<model::LoadedModel> m = model::LoadModel((edgevision::testing::SourceDir() / "models/demo").string());
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    auto c = predict::Classifier::Create(std::move(m).value(), engine::MakeXnnpackBackend(), {});
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    slot_ = new predict::ModelSlot();
    slot_->SetReady(std::shared_ptr<const predict::Classifier>(std::move(c).value()));
  }

  std::unique_ptr<SourceRunner> MakeRunner(SourceSpec spec) {
    sink_.AddObserver(&observer_);
    sink_.SetOutcomeHook([this](const predict::Classifier& model, const Status& outcome) {
      std::lock_guard<std::mutex> lock(outcomes_mu_);
      outcomes_.push_back({&model, outcome.code()});
    });
    context_.slot = slot_;
    context_.sink = &sink_;
    context_.opener = opener_.Opener();
    context_.limits.backoff_initial = 1ms;
    context_.limits.backoff_max = 4ms;
    context_.limits.max_consecutive_bad_frames = 5;
    return std::make_unique<SourceRunner>(RunnerOptions{std::move(spec), "test://cam"}, &context_);
  }

  static SourceSpec Spec() {
    SourceSpec spec;
    spec.name = "cam";
    spec.fps = 0;
    spec.debounce = 2;
    spec.heartbeat_s = 0;
    return spec;
  }

  std::vector<std::pair<const predict::Classifier*, StatusCode>> outcomes() const {
    std::lock_guard<std::mutex> lock(outcomes_mu_);
    return outcomes_;
  }

  static inline predict::ModelSlot* slot_ = nullptr;
  predict::PredictionSink sink_;
  mutable std::mutex outcomes_mu_;
  std::vector<std::pair<const predict::Classifier*, StatusCode>> outcomes_;  // guarded by outcomes_mu_
  RunnerContext context_;
  ScriptedOpener opener_;
  RecordingObserver observer_;
};

TEST_F(SourceRunnerTest, EventsOnSceneChangesReachTheObserversWithTheFrame) {
  const std::vector<uint8_t> apple = Photo("apple1.jpg");
  const std::vector<uint8_t> banana = Photo("banana1.jpg");
  Script script;
  for (int i = 0; i < 4; ++i) script.steps.push_back(Encoded(apple));
  script.steps.push_back(Encoded(banana));  // one frame: shorter than the debounce
  for (int i = 0; i < 3; ++i) script.steps.push_back(Encoded(apple));
  for (int i = 0; i < 4; ++i) script.steps.push_back(Encoded(banana));
  SourceRunner* runner = nullptr;
  // Lockstep: frame i is read once the worker has classified i frames, so none is dropped.
  script.gate = [&runner](size_t i) { return runner && runner->Stats().frames_out >= i; };
  opener_.Add(std::move(script));
  auto r = MakeRunner(Spec());
  runner = r.get();
  r->Start();
  ASSERT_TRUE(WaitUntil([&] { return r->Stats().frames_out == 12; }));
  SourceStats s = r->Stats();
  r->Stop();
  EXPECT_EQ(s.dropped.total(), 0u);
  EXPECT_EQ(s.events, 2u);
  // Every classified frame's outcome went to the sink's hook (model
  // delivery's probation), with the model that ran it.
  const auto seen = outcomes();
  ASSERT_EQ(seen.size(), 12u);
  for (const auto& [model, code] : seen) {
    EXPECT_EQ(model, slot_->Get().get());
    EXPECT_EQ(code, StatusCode::kOk);
  }
  const std::vector<Event> events = observer_.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].route, "SOURCE cam change");
  EXPECT_EQ(events[0].top, "Apple");
  EXPECT_EQ(events[0].image_bytes, apple.size());  // the JPEG as sent
  EXPECT_EQ(events[1].top, "Banana");
  EXPECT_EQ(events[1].image_bytes, banana.size());
  ASSERT_TRUE(s.last.has_value());
  EXPECT_EQ(s.last->scene, "Banana");
  EXPECT_EQ(s.state, SourceState::kRunning);
  // latest.jpg: the last frame as the camera sent it (a classifier has no boxes).
  Result<LatestImage> latest = r->Latest();
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->jpeg, banana);
}

TEST_F(SourceRunnerTest, ReconnectsWithBackoffAfterFailuresAndLostStreams) {
  opener_.Add(Unavailable("connection refused"));
  opener_.Add(Unavailable("connection refused"));
  Script first;
  for (int i = 0; i < 3; ++i) first.steps.push_back(Encoded(Photo("apple1.jpg")));
  first.end = Unavailable("connection reset by peer");
  opener_.Add(std::move(first));
  Script second;
  for (int i = 0; i < 3; ++i) second.steps.push_back(Encoded(Photo("apple1.jpg")));
  opener_.Add(std::move(second));  // then silent, connected
  auto r = MakeRunner(Spec());
  r->Start();
  ASSERT_TRUE(WaitUntil([&] { return r->Stats().frames_in == 6; }));
  SourceStats s = r->Stats();
  EXPECT_EQ(s.reconnects, 1u);
  EXPECT_EQ(opener_.opens(), 4);
  EXPECT_EQ(s.state, SourceState::kRunning);
  EXPECT_EQ(s.last_error, "connection reset by peer");
  r->Stop();  // interrupts the silent source
  EXPECT_EQ(r->Stats().state, SourceState::kStopped);
}

// issue 17: FFmpeg's libraries are optional (the .deb Recommends them). A
// source that needs them when they are missing is in state error with the
// opener's message, is not retried, and stops cleanly.
TEST_F(SourceRunnerTest, AnUnsupportedSourceIsInStateErrorAndNotRetried) {
  opener_.Add(Unsupported("FFmpeg's libraries are not installed: apt install libavformat59"));
  opener_.Add(Script{});  // would be taken by a retry
  auto r = MakeRunner(Spec());
  r->Start();
  ASSERT_TRUE(WaitUntil([&] { return r->Stats().state == SourceState::kError; }));
  SourceStats s = r->Stats();
  EXPECT_EQ(s.last_error, "FFmpeg's libraries are not installed: apt install libavformat59");
  EXPECT_STREQ(SourceStateName(s.state), "error");
  r->Stop();
  EXPECT_EQ(opener_.opens(), 1);
  EXPECT_EQ(r->Stats().state, SourceState::kStopped);
}

TEST_F(SourceRunnerTest, GarbageIsCountedAndIgnored) {
  Script script;
  const std::vector<uint8_t> junk = {'n', 'o', 't', ' ', 'a', 'n', ' ', 'i', 'm', 'a', 'g', 'e'};
  script.steps.push_back(Encoded(junk));                        // the model refuses it
  script.steps.push_back(InvalidArgument("undecodable packet"));  // the source refuses it
  script.steps.push_back(Encoded(Photo("apple1.jpg")));
  script.steps.push_back(Encoded(Photo("apple1.jpg")));
  SourceRunner* runner = nullptr;
  script.gate = [&runner](size_t i) {
    if (!runner) return false;
    SourceStats s = runner->Stats();
    return s.frames_out + s.bad_frames.total() >= i;
  };
  script.end = Unavailable("end of stream");
  opener_.Add(std::move(script));
  // Then a source sending only garbage: reopened after max_consecutive_bad_frames.
  Script garbage;
  for (int i = 0; i < 5; ++i) garbage.steps.push_back(InvalidArgument("corrupt"));
  opener_.Add(std::move(garbage));
  opener_.Add(Script{});
  auto r = MakeRunner(Spec());
  runner = r.get();
  r->Start();
  ASSERT_TRUE(WaitUntil([&] {
    SourceStats now = r->Stats();
    return now.reconnects == 2 && now.frames_out == 2;
  }));
  SourceStats s = r->Stats();
  r->Stop();
  EXPECT_EQ(s.frames_out, 2u);
  EXPECT_EQ(s.bad_frames.model, 1u);       // the junk "JPEG"
  EXPECT_EQ(s.bad_frames.source, 1u + 5u);  // the undecodable packet, the garbage source
  EXPECT_EQ(s.dropped.total(), 0u);
  // The model's refusal is an outcome too (a bad image, not a model error).
  const auto seen = outcomes();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].second, StatusCode::kInvalidArgument);
  EXPECT_EQ(s.events, 1u);
  EXPECT_NE(s.last_error.find("unusable frames in a row"), std::string::npos) << s.last_error;
}

// A source faster than the model: frames are dropped, never queued; at any
// moment at most one frame waits (the slot) and one is being classified.
TEST_F(SourceRunnerTest, DropsFramesUnderOverloadWithoutABacklog) {
  const std::vector<uint8_t> apple = Photo("apple1.jpg");
  Script script;
  script.endless = [&apple](size_t) { return Encoded(apple); };
  opener_.Add(std::move(script));
  auto r = MakeRunner(Spec());
  r->Start();
  ASSERT_TRUE(WaitUntil([&] { return r->Stats().frames_out >= 10; }));
  SourceStats s = r->Stats();
  r->Stop();
  EXPECT_GT(s.dropped.superseded, 0u);
  EXPECT_EQ(s.dropped.model_busy, 0u);
  EXPECT_EQ(s.dropped.no_model, 0u);
  EXPECT_GT(s.frames_in, s.frames_out);
  // Every frame read is classified, dropped, waiting in the slot or being classified.
  EXPECT_LE(s.frames_in - s.frames_out - s.dropped.total(), 2u);
}

// Frames that reach the worker while no model is loaded are dropped as
// "no model", not as superseded.
TEST_F(SourceRunnerTest, FramesWithoutAModelAreDroppedAsNoModel) {
  predict::ModelSlot empty;
  empty.SetLoading("nothing");
  Script script;
  for (int i = 0; i < 3; ++i) script.steps.push_back(Encoded(Photo("apple1.jpg")));
  SourceRunner* runner = nullptr;
  script.gate = [&runner](size_t i) { return runner && runner->Stats().dropped.no_model >= i; };
  opener_.Add(std::move(script));
  auto r = MakeRunner(Spec());
  context_.slot = &empty;
  runner = r.get();
  r->Start();
  ASSERT_TRUE(WaitUntil([&] { return r->Stats().dropped.no_model == 3; }));
  SourceStats s = r->Stats();
  r->Stop();
  EXPECT_EQ(s.dropped.superseded, 0u);
  EXPECT_EQ(s.dropped.model_busy, 0u);
  EXPECT_EQ(s.frames_out, 0u);
  EXPECT_EQ(s.last_error, "no model is loaded yet");
  EXPECT_TRUE(outcomes().empty());  // nothing reached a model
}

// One inference worker, no queue, kept busy by "HTTP requests" (threads
// classifying in a loop): the source's frames that find it busy are dropped
// as "model busy", and their outcome (Unavailable) is reported.
TEST_F(SourceRunnerTest, FramesThatFindEveryWorkerBusyAreDroppedAsModelBusy) {
  Result<model::LoadedModel> m = model::LoadModel((edgevision::testing::SourceDir() / "models/demo").string());
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  predict::ClassifierOptions options;
  options.workers = 1;
  options.max_waiting = 0;
  auto c = predict::Classifier::Create(std::move(m).value(), engine::MakeXnnpackBackend(), options);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::shared_ptr<const predict::Classifier> busy_model(std::move(c).value());
  predict::ModelSlot busy;
  busy.SetReady(busy_model);
  const std::vector<uint8_t> apple = Photo("apple1.jpg");
  std::atomic<bool> done{false};
  std::vector<std::thread> requests;
  for (int i = 0; i < 2; ++i) {
    requests.emplace_back([&] {
      while (!done) (void)busy_model->ClassifyImage(apple);
    });
  }
  Script script;
  script.endless = [&apple](size_t) { return Encoded(apple); };
  opener_.Add(std::move(script));
  auto r = MakeRunner(Spec());
  context_.slot = &busy;
  r->Start();
  const bool seen_busy = WaitUntil([&] { return r->Stats().dropped.model_busy > 0; });
  done = true;
  for (std::thread& t : requests) t.join();
  SourceStats s = r->Stats();
  r->Stop();
  ASSERT_TRUE(seen_busy) << s.last_error;
  EXPECT_EQ(s.dropped.no_model, 0u);
  EXPECT_NE(s.last_error.find("busy"), std::string::npos) << s.last_error;
  const auto seen = outcomes();
  EXPECT_TRUE(std::any_of(seen.begin(), seen.end(), [](const auto& o) { return o.second == StatusCode::kUnavailable; }));
}

TEST_F(SourceRunnerTest, StopDoesNotWaitForASourceThatNeverOpens) {
  context_.slot = slot_;
  context_.opener = [](const SourceSpec&, const std::function<bool()>& cancelled)
      -> Result<std::unique_ptr<FrameSource>> {
    WaitUntil(cancelled, 3600s);  // a camera that never answers, until shutdown
    return Unavailable("cancelled");
  };
  SourceRunner r(RunnerOptions{Spec(), "x"}, &context_);
  r.Start();
  ASSERT_TRUE(WaitUntil([&] { return r.Stats().state == SourceState::kConnecting; }));
  r.Stop();
  EXPECT_EQ(r.Stats().state, SourceState::kStopped);
  EXPECT_EQ(r.Latest().status().code(), StatusCode::kNotFound);
}

// A detector's latest.jpg is the frame with its boxes drawn (the synthetic
// compact detector on its fruit scene, a PNG: decoded, drawn, JPEG-encoded).
TEST_F(SourceRunnerTest, DetectorLatestFrameHasItsBoxesDrawn) {
  edgevision::testing::TempDir dir;
  Result<model::LoadedModel> m = model::LoadModel(edgevision::testing::MakeSyntheticDetectorExport(dir));
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  auto c = predict::Classifier::Create(std::move(m).value(), engine::MakeXnnpackBackend(), {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  predict::ModelSlot detector_slot;
  detector_slot.SetReady(std::shared_ptr<const predict::Classifier>(std::move(c).value()));
  const std::vector<uint8_t> scene = edgevision::testing::ReadBytes(edgevision::testing::TestData("detection/fruit_scene.png"));
  Script script;
  script.steps.push_back(Encoded(scene));
  opener_.Add(std::move(script));
  auto r = MakeRunner(Spec());
  context_.slot = &detector_slot;
  r->Start();
  ASSERT_TRUE(WaitUntil([&] { return r->Stats().frames_out == 1; }));
  SourceStats s = r->Stats();
  r->Stop();
  ASSERT_TRUE(s.last && s.last->detector);
  ASSERT_FALSE(s.last->detections.empty());
  Result<LatestImage> latest = r->Latest();
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  Result<image::DecodedImage> drawn = image::Decode(latest->jpeg);
  Result<image::DecodedImage> original = image::Decode(scene);
  ASSERT_TRUE(drawn.ok() && original.ok());
  ASSERT_EQ(drawn->rgb.width, original->rgb.width);
  ASSERT_EQ(drawn->rgb.height, original->rgb.height);
  // The middle of the first box's left edge: the box colour now, not before.
  const detect::Detection& d = s.last->detections[0];
  const int x = static_cast<int>(d.box.left * drawn->rgb.width) + 1;
  const int y = static_cast<int>((d.box.top + d.box.height / 2) * drawn->rgb.height);
  auto distance = [&](const image::Image& img) {
    const uint8_t* p = img.Row(y) + 3 * x;
    // kColours in predict/draw_detections.cc: tag 0 red, tag 1 green.
    const int want[2][3] = {{255, 40, 40}, {40, 200, 40}};
    const int* w = want[d.tag_index % 2];
    return std::abs(p[0] - w[0]) + std::abs(p[1] - w[1]) + std::abs(p[2] - w[2]);
  };
  EXPECT_LT(distance(drawn->rgb), 90);
  EXPECT_GT(distance(original->rgb), 90);
}

// Apply (the module twin): an unchanged source keeps running untouched, a
// changed one is restarted with its new spec, a removed one stops, a new one
// starts; two with one name are refused and nothing changes.
TEST_F(SourceRunnerTest, ApplyAddsChangesAndRemovesSourcesAtRunTime) {
  std::mutex mu;
  std::map<std::string, int> opens;  // by URL
  context_.slot = slot_;
  context_.limits.backoff_initial = 1ms;
  context_.opener = [&](const SourceSpec& spec, const std::function<bool()>&) -> Result<std::unique_ptr<FrameSource>> {
    std::lock_guard<std::mutex> lock(mu);
    ++opens[spec.url];
    return std::unique_ptr<FrameSource>(std::make_unique<ScriptedSource>(Script{}));  // connected, silent
  };
  auto spec = [](const std::string& name, const std::string& url) {
    SourceSpec s = Spec();
    s.name = name;
    s.url = url;
    return RunnerOptions{s, url};
  };
  auto opened = [&](const std::string& url) {
    std::lock_guard<std::mutex> lock(mu);
    return opens[url];
  };
  auto states = [](const Sources& s) {
    std::map<std::string, std::string> out;
    for (const SourceStats& st : s.Stats()) out[st.name] = st.url + " " + SourceStateName(st.state);
    return out;
  };
  Result<std::unique_ptr<Sources>> created = Sources::Create({spec("a", "u1"), spec("b", "u2")}, context_);
  ASSERT_TRUE(created.ok());
  Sources& sources = **created;
  sources.Start();
  ASSERT_TRUE(WaitUntil([&] { return opened("u1") == 1 && opened("u2") == 1; }));
  ASSERT_TRUE(sources.Apply({spec("a", "u1"), spec("b", "u3"), spec("c", "u4")}).ok());
  ASSERT_TRUE(WaitUntil([&] {
    return states(sources) == std::map<std::string, std::string>{
                                  {"a", "u1 running"}, {"b", "u3 running"}, {"c", "u4 running"}};
  })) << states(sources).size();
  EXPECT_EQ(opened("u1"), 1);  // untouched
  EXPECT_EQ(opened("u3"), 1);
  ASSERT_TRUE(sources.Apply({spec("c", "u4")}).ok());
  EXPECT_EQ(states(sources), (std::map<std::string, std::string>{{"c", "u4 running"}}));
  EXPECT_EQ(sources.Apply({spec("x", "u5"), spec("x", "u6")}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(sources.size(), 1u);
  sources.Stop();
  EXPECT_EQ(states(sources), (std::map<std::string, std::string>{{"c", "u4 stopped"}}));
  // After Stop, Apply starts nothing.
  ASSERT_TRUE(sources.Apply({spec("d", "u7")}).ok());
  EXPECT_EQ(opened("u7"), 0);
}

TEST_F(SourceRunnerTest, TwoSourcesWithOneNameAreRefused) {
  SourceSpec a = Spec();
  std::vector<RunnerOptions> both = {{a, "x"}, {a, "y"}};
  EXPECT_EQ(Sources::Create(both, RunnerContext{}).status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace edgevision::stream
