#include "store/capture_recorder.h"

#include <gtest/gtest.h>

#include "store/testing/fault_injection_env.h"
#include "store/testing/store_test_util.h"

namespace edgevision::store {
namespace {

using namespace std::chrono_literals;
using testing::FakeClock;
using testing::FruitJpeg;
using testing::RandomBytes;
using testing::TempDir;
using testing::TestOptions;

// A prediction as the HTTP layer reports it.
struct Prediction {
  predict::Classification result;
  model::ModelInfo model;
  std::vector<uint8_t> image;
  predict::PredictionRecord record;

  Prediction(const std::string& top, float p, std::vector<uint8_t> bytes, bool nostore = false) {
    result.scores = {
        {top, 0, p}, {top == "Apple" ? "Banana" : "Apple", 1, 1.0f - p}, {"Cherry", 2, 1e-9f}};
    result.image_format = "jpeg";
    result.image_width = 320;
    result.image_height = 240;
    model.model_sha1 = "aaaabbbbccccddddeeeeffff0000111122223333";
    image = std::move(bytes);
    record.id = NewUuid();
    record.created = std::chrono::system_clock::now();
    record.route = nostore ? "POST /{project}/image/nostore" : "POST /image";
    record.project = nostore ? "proj" : "";
    record.iteration = "Iteration1";
    record.nostore = nostore;
    record.image = image;
    record.result = &result;
    record.model = &model;
  }
};

class CaptureRecorderTest : public ::testing::Test {
 protected:
  std::unique_ptr<CaptureStore> Open(Env* env = DefaultEnv()) {
    Result<std::unique_ptr<CaptureStore>> s =
        CaptureStore::Open(dir_.path(), TestOptions(), CaptureStore::Mode::kServe, env, &clock_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  TempDir dir_;
  FakeClock clock_;
};

// Issue 13: a detector's record (result null, detections set) becomes a
// detection capture with the boxes the response showed; the policy sees the
// most probable box.
TEST_F(CaptureRecorderTest, ADetectorsRecordStoresItsBoxes) {
  auto store = Open();
  CaptureRecorder recorder(store.get(), CapturePolicy::Parse("uncertain:0.8").value());
  std::vector<detect::Detection> boxes = {{{0.123456789012, 0.2, 0.3, 0.4}, 0.5f, 1, "screw"},
                                          {{-0.05, 0.6, 0.2, 0.3}, 0.75f, 0, "crack"}};
  std::vector<detect::Detection> sure = {{{0.1, 0.1, 0.1, 0.1}, 0.95f, 0, "crack"}};
  Prediction p("Apple", 0.5f, FruitJpeg("banana1.jpg"));
  p.record.result = nullptr;
  p.record.detections = &boxes;
  Prediction q("Apple", 0.5f, FruitJpeg("apple1.jpg"));
  q.record.result = nullptr;
  q.record.detections = &sure;
  recorder.OnPrediction(p.record);
  recorder.OnPrediction(q.record);  // top box 0.95: not uncertain, not kept
  ASSERT_TRUE(recorder.WaitIdle(edgevision::testing::Scaled(10s)));
  EXPECT_EQ(store->Get(q.record.id).status().code(), StatusCode::kNotFound);
  Result<Capture> c = store->Get(p.record.id);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->kind, CaptureKind::kDetection);
  EXPECT_TRUE(c->predictions.empty());
  // Format and size from the image itself (a detector's result has none).
  EXPECT_EQ(c->image_format, "jpeg");
  EXPECT_EQ(c->image_width, 301);
  EXPECT_EQ(c->image_height, 194);
  ASSERT_EQ(c->detections.size(), 2u);
  EXPECT_EQ(c->detections[0].tag, "screw");
  EXPECT_EQ(c->detections[0].tag_index, 1);
  EXPECT_EQ(c->detections[0].box.left, 0.12345679);  // round(x, 8), as the response
  EXPECT_EQ(c->detections[0].probability, 0.5);
  EXPECT_EQ(c->detections[1].box.left, -0.05);
  EXPECT_EQ(c->top_tag, "crack");
  EXPECT_EQ(c->top_probability, 0.75);
  EXPECT_EQ(recorder.stats().stored, 1);
}

TEST_F(CaptureRecorderTest, StoresWhatThePolicyKeepsAsTheResponseShowedIt) {
  auto store = Open();
  CaptureRecorder recorder(store.get(), CapturePolicy::Parse("all").value());
  Prediction p("Apple", 0.99956155f, FruitJpeg("apple1.jpg"));
  recorder.OnPrediction(p.record);
  ASSERT_TRUE(recorder.WaitIdle(edgevision::testing::Scaled(10s)));
  Result<Capture> c = store->Get(p.record.id);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->route, "POST /image");
  EXPECT_EQ(c->iteration, "Iteration1");
  EXPECT_EQ(c->model_sha1, p.model.model_sha1);
  EXPECT_EQ(c->image_format, "jpeg");
  EXPECT_EQ(c->image_width, 320);
  // The probabilities the response carried (predict.py's rounding); tags the
  // response drops (<= 1e-8) are not stored either.
  ASSERT_EQ(c->predictions.size(), 2u);
  EXPECT_EQ(c->predictions[0].tag, "Apple");
  EXPECT_DOUBLE_EQ(c->predictions[0].probability, predict::RoundLikeReference(0.99956155f));
  EXPECT_EQ(*store->ReadImage(*c), p.image);
  RecorderStats s = recorder.stats();
  EXPECT_EQ(s.seen, 1);
  EXPECT_EQ(s.selected, 1);
  EXPECT_EQ(s.stored, 1);
  EXPECT_EQ(s.queued, 0);
}

TEST_F(CaptureRecorderTest, NostoreRoutesAreNeverStored) {
  auto store = Open();
  CaptureRecorder recorder(store.get(), CapturePolicy::Parse("all").value());
  Prediction p("Apple", 0.5f, RandomBytes(100, 1), /*nostore=*/true);
  recorder.OnPrediction(p.record);
  ASSERT_TRUE(recorder.WaitIdle(edgevision::testing::Scaled(10s)));
  EXPECT_EQ(store->Health().captures, 0);
  EXPECT_EQ(recorder.stats().seen, 1);
  EXPECT_EQ(recorder.stats().selected, 0);
}

TEST_F(CaptureRecorderTest, PolicyNoneUncertainSampleAndTags) {
  auto store = Open();
  {
    CaptureRecorder none(store.get(), CapturePolicy::Parse("none").value());
    Prediction p("Apple", 0.5f, RandomBytes(100, 2));
    none.OnPrediction(p.record);
    ASSERT_TRUE(none.WaitIdle(edgevision::testing::Scaled(10s)));
  }
  EXPECT_EQ(store->Health().captures, 0);
  {
    CaptureRecorder uncertain(store.get(), CapturePolicy::Parse("uncertain:0.7").value());
    Prediction sure("Apple", 0.95f, RandomBytes(100, 3));
    Prediction unsure("Apple", 0.6f, RandomBytes(100, 4));
    uncertain.OnPrediction(sure.record);
    uncertain.OnPrediction(unsure.record);
    ASSERT_TRUE(uncertain.WaitIdle(edgevision::testing::Scaled(10s)));
    EXPECT_FALSE(store->Get(sure.record.id).ok());
    EXPECT_TRUE(store->Get(unsure.record.id).ok());
  }
  {
    RecorderOptions o;
    std::vector<double> draws = {0.1, 0.9, 0.2, 0.95};
    size_t next = 0;
    o.random = [&] { return draws[next++ % draws.size()]; };
    CaptureRecorder sample(store.get(), CapturePolicy::Parse("sample:0.5").value(), o);
    std::vector<std::unique_ptr<Prediction>> ps;
    for (int i = 0; i < 4; ++i) {
      ps.push_back(std::make_unique<Prediction>("Banana", 0.99f, RandomBytes(100, 10 + i)));
      sample.OnPrediction(ps.back()->record);
    }
    ASSERT_TRUE(sample.WaitIdle(edgevision::testing::Scaled(10s)));
    EXPECT_TRUE(store->Get(ps[0]->record.id).ok());
    EXPECT_FALSE(store->Get(ps[1]->record.id).ok());
    EXPECT_TRUE(store->Get(ps[2]->record.id).ok());
    EXPECT_FALSE(store->Get(ps[3]->record.id).ok());
  }
  {
    CaptureRecorder bananas(store.get(), CapturePolicy::Parse("all", {"Banana"}).value());
    Prediction apple("Apple", 0.9f, RandomBytes(100, 20));
    Prediction banana("Banana", 0.9f, RandomBytes(100, 21));
    bananas.OnPrediction(apple.record);
    bananas.OnPrediction(banana.record);
    ASSERT_TRUE(bananas.WaitIdle(edgevision::testing::Scaled(10s)));
    EXPECT_FALSE(store->Get(apple.record.id).ok());
    EXPECT_TRUE(store->Get(banana.record.id).ok());
  }
}

TEST_F(CaptureRecorderTest, APolicySetLiveAppliesToThePredictionsThatFollow) {
  auto store = Open();
  CaptureRecorder recorder(store.get(), CapturePolicy::Parse("none").value());
  Prediction before("Apple", 0.5f, RandomBytes(100, 30));
  recorder.OnPrediction(before.record);
  // As the module twin sets it: on, top probability in [0.55, 0.8).
  CapturePolicy window = CapturePolicy::Parse("all").value();
  window.min_probability = 0.55;
  window.max_probability = 0.8;
  recorder.SetPolicy(window);
  EXPECT_EQ(recorder.policy().ToString(), "all min=0.55 max=0.8");
  Prediction inside("Apple", 0.6f, RandomBytes(100, 31));
  Prediction above("Apple", 0.8f, RandomBytes(100, 32));
  Prediction below("Banana", 0.52f, RandomBytes(100, 33));
  for (const Prediction* p : {&inside, &above, &below}) recorder.OnPrediction(p->record);
  recorder.SetPolicy(CapturePolicy::Parse("none").value());
  Prediction after("Apple", 0.5f, RandomBytes(100, 34));
  recorder.OnPrediction(after.record);
  ASSERT_TRUE(recorder.WaitIdle(edgevision::testing::Scaled(10s)));
  EXPECT_FALSE(store->Get(before.record.id).ok());
  EXPECT_TRUE(store->Get(inside.record.id).ok());
  EXPECT_FALSE(store->Get(above.record.id).ok());
  EXPECT_FALSE(store->Get(below.record.id).ok());
  EXPECT_FALSE(store->Get(after.record.id).ok());
}

TEST_F(CaptureRecorderTest, AFullQueueDropsAndCountsWithoutBlocking) {
  testing::FaultInjectionEnv env;
  env.SetSyncDelay(200ms);  // a slow card
  auto store = Open(&env);
  RecorderOptions o;
  o.queue_depth = 2;
  CaptureRecorder recorder(store.get(), CapturePolicy::Parse("all").value(), o);
  std::vector<std::unique_ptr<Prediction>> ps;
  for (int i = 0; i < 10; ++i) {
    ps.push_back(std::make_unique<Prediction>("Apple", 0.9f, RandomBytes(1000, 100 + i)));
    recorder.OnPrediction(ps.back()->record);
  }
  // OnPrediction never waited for the writer: had it waited, nothing would
  // have been dropped.
  ASSERT_TRUE(recorder.WaitIdle(edgevision::testing::Scaled(30s)));
  RecorderStats s = recorder.stats();
  EXPECT_EQ(s.selected, 10);
  EXPECT_GE(s.dropped_queue_full, 7);  // one being written + two queued at most
  EXPECT_EQ(s.stored + s.dropped_queue_full, 10);
  EXPECT_EQ(store->Health().captures, s.stored);
}

TEST_F(CaptureRecorderTest, ADiskFullStoreDropsAndCountsWhilePredictionsGoOn) {
  testing::FaultInjectionEnv env;
  auto store = Open(&env);
  CaptureRecorder recorder(store.get(), CapturePolicy::Parse("all").value());
  env.SetWriteError(ResourceExhausted("No space left on device"));
  std::vector<std::unique_ptr<Prediction>> ps;
  for (int i = 0; i < 3; ++i) {
    ps.push_back(std::make_unique<Prediction>("Apple", 0.9f, RandomBytes(1000, 200 + i)));
    recorder.OnPrediction(ps.back()->record);
    ASSERT_TRUE(recorder.WaitIdle(edgevision::testing::Scaled(10s)));
  }
  RecorderStats s = recorder.stats();
  EXPECT_EQ(s.stored, 0);
  EXPECT_EQ(s.dropped_disk_full, 3);
  EXPECT_TRUE(store->Health().paused);
}

TEST_F(CaptureRecorderTest, StopWritesWhatIsQueued) {
  testing::FaultInjectionEnv env;
  env.SetSyncDelay(20ms);
  auto store = Open(&env);
  std::vector<std::unique_ptr<Prediction>> ps;
  {
    CaptureRecorder recorder(store.get(), CapturePolicy::Parse("all").value());
    for (int i = 0; i < 5; ++i) {
      ps.push_back(std::make_unique<Prediction>("Apple", 0.9f, RandomBytes(1000, 300 + i)));
      recorder.OnPrediction(ps.back()->record);
    }
    recorder.Stop();
    EXPECT_EQ(recorder.stats().stored, 5);
    // After Stop, predictions are ignored.
    Prediction late("Apple", 0.9f, RandomBytes(1000, 399));
    recorder.OnPrediction(late.record);
    EXPECT_EQ(recorder.stats().queued, 0);
  }
  EXPECT_EQ(store->Health().captures, 5);
}

}  // namespace
}  // namespace edgevision::store
