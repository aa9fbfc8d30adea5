#include "predict/classifier.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "fake_backend.h"
#include "test_support.h"

namespace edgevision::predict {
namespace {

using testing::FakeBackend;

model::LoadedModel TinyModel() { return testing::FakeModel(); }

// An 8x8 tensor of one colour (0-255); the fake's scores are channel means / 255.
image::Tensor Tensor(float r, float g, float b) {
  image::Tensor t{8, 8, 3, {}};
  for (int i = 0; i < 64; ++i) t.data.insert(t.data.end(), {r, g, b});
  return t;
}

TEST(ClassifierTest, ScoresAreLabelledAndSortedDescending) {
  FakeBackend backend;
  auto c = Classifier::Create(TinyModel(), backend, {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  Result<Classification> r = (*c)->ClassifyTensor(Tensor(51, 178.5f, 25.5f));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->scores.size(), 3u);
  EXPECT_EQ(r->scores[0].tag, "green");
  EXPECT_EQ(r->scores[0].index, 1);
  EXPECT_FLOAT_EQ(r->scores[0].probability, 0.7f);
  EXPECT_FLOAT_EQ(r->scores[2].probability, 0.1f);
  EXPECT_EQ(r->scores[1].tag, "red");
  EXPECT_EQ(r->scores[2].tag, "blue");
}

TEST(ClassifierTest, WrongTensorSizeIsInvalidArgument) {
  FakeBackend backend;
  auto c = Classifier::Create(TinyModel(), backend, {});
  ASSERT_TRUE(c.ok());
  image::Tensor t{3, 3, 3, std::vector<float>(27)};
  EXPECT_EQ((*c)->ClassifyTensor(t).status().code(), StatusCode::kInvalidArgument);
}

TEST(ClassifierTest, EngineFailureIsReportedAndTheSessionReturnsToThePool) {
  FakeBackend backend;
  auto c = Classifier::Create(TinyModel(), backend, {});
  ASSERT_TRUE(c.ok());
  backend.control.fail = true;
  EXPECT_EQ((*c)->ClassifyTensor(Tensor(1, 2, 3)).status().code(), StatusCode::kInternal);
  backend.control.fail = false;
  EXPECT_TRUE((*c)->ClassifyTensor(Tensor(1, 2, 3)).ok());
}

TEST(ClassifierTest, NoMoreThanWorkersRunAtOnceAndExcessWaitersAreRefused) {
  FakeBackend backend;
  ClassifierOptions options;
  options.workers = 2;
  options.max_waiting = 2;
  auto c = Classifier::Create(TinyModel(), backend, options);
  ASSERT_TRUE(c.ok());
  // Held, so the pool's state is set by the test, not by how fast threads
  // start: 2 running, then 2 waiting, then 4 more that cannot fit.
  backend.control.Hold();
  std::atomic<int> ok{0}, unavailable{0};
  std::vector<std::thread> threads;
  auto call = [&] {
    threads.emplace_back([&] {
      Result<Classification> r = (*c)->ClassifyTensor(Tensor(1, 1, 1));
      if (r.ok()) ++ok;
      else if (r.status().code() == StatusCode::kUnavailable) ++unavailable;
    });
  };
  call();
  call();
  const bool running = backend.control.WaitRunning(2);
  call();
  call();
  const bool waiting = edgevision::testing::WaitFor([&] { return (*c)->queue_stats().waiting == 2; });
  for (int i = 0; i < 4; ++i) call();
  const bool refused = edgevision::testing::WaitFor([&] { return unavailable.load() == 4; });
  backend.control.Release();
  for (auto& t : threads) t.join();
  ASSERT_TRUE(running);
  ASSERT_TRUE(waiting);
  EXPECT_TRUE(refused);
  EXPECT_EQ(backend.control.max_running.load(), 2);
  EXPECT_EQ(ok.load(), 4);           // 2 running + 2 waiting get through
  EXPECT_EQ(unavailable.load(), 4);  // the queue was full for the other 4
}

TEST(ClassifierTest, QueueTimeoutIsUnavailable) {
  FakeBackend backend;
  ClassifierOptions options;
  options.workers = 1;
  options.queue_timeout = std::chrono::milliseconds(20);
  auto c = Classifier::Create(TinyModel(), backend, options);
  ASSERT_TRUE(c.ok());
  backend.control.Hold();  // the first request occupies the only worker until released
  std::thread slow([&] { (void)(*c)->ClassifyTensor(Tensor(1, 1, 1)); });
  const bool first_running = backend.control.WaitRunning(1);
  Status s = (*c)->ClassifyTensor(Tensor(1, 1, 1)).status();
  backend.control.Release();
  slow.join();
  ASSERT_TRUE(first_running);
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("20 ms"), std::string::npos);
}

TEST(ClassifierTest, QueueStatsShowBusyWorkersAndWaiters) {
  FakeBackend backend;
  ClassifierOptions options;
  options.workers = 1;
  auto c = Classifier::Create(TinyModel(), backend, options);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->queue_stats().workers, 1);
  EXPECT_EQ((*c)->queue_stats().busy, 0);
  backend.control.Hold();  // the first request occupies the only worker until released
  std::thread first([&] { (void)(*c)->ClassifyTensor(Tensor(1, 1, 1)); });
  ASSERT_TRUE(backend.control.WaitRunning(1));
  std::thread second([&] { (void)(*c)->ClassifyTensor(Tensor(1, 1, 1)); });
  const bool waiting = edgevision::testing::WaitFor([&] { return (*c)->queue_stats().waiting == 1; });
  const QueueStats during = (*c)->queue_stats();
  backend.control.Release();
  first.join();
  second.join();
  ASSERT_TRUE(waiting);
  EXPECT_EQ(during.busy, 1);
  EXPECT_EQ(during.waiting, 1);
  EXPECT_EQ((*c)->queue_stats().busy, 0);
  EXPECT_EQ((*c)->queue_stats().waiting, 0);
}

// The int8 confidence fallback's fields of an answer (Infer sets them for
// ClassifyTensor and for the decoded paths alike): the margin of the first
// engine's scores, and whether the fallback model answered. The two fakes
// score alike, so their run counts tell which engines ran.
TEST(ClassifierTest, Int8FallbackFieldsOnTheTensorAndPixelPaths) {
  FakeBackend int8, fp32;
  auto c = Classifier::Create(TinyModel(), int8, {});
  ASSERT_TRUE(c.ok());
  // Without the fallback: no margin, never fell back.
  Result<Classification> plain = (*c)->ClassifyTensor(Tensor(127.5f, 130, 10));
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->int8_margin.has_value());
  EXPECT_FALSE(plain->int8_fallback);

  auto compiled = fp32.Compile({}, {});
  ASSERT_TRUE(compiled.ok());
  Int8FallbackBound bound;
  bound.enabled = true;
  bound.bound = 1.0;  // log-odds: 0.50 vs 0.51 (0.04) is under it, 0.9 vs 0.1 (4.4) above
  ASSERT_TRUE((*c)->SetInt8Fallback(std::move(*compiled), bound).ok());
  const auto margin_of = [](const Classification& r) {
    std::vector<float> p;
    for (const TagScore& s : r.scores) p.push_back(s.probability);
    return TopTwoLogOddsMargin(p);
  };
  const auto pixels = [](uint8_t r, uint8_t g, uint8_t b) {
    image::Image img;
    img.Reshape(8, 8);
    for (int i = 0; i < 64; ++i) {
      img.pixels[static_cast<size_t>(i) * 3] = r;
      img.pixels[static_cast<size_t>(i) * 3 + 1] = g;
      img.pixels[static_cast<size_t>(i) * 3 + 2] = b;
    }
    return img;
  };
  struct Case {
    const char* name;
    Result<Classification> (*run)(const Classifier&, bool near_tie, const image::Image& tie, const image::Image& sure);
  };
  const image::Image tie_pixels = pixels(128, 130, 10), sure_pixels = pixels(26, 230, 10);
  const Case cases[] = {
      {"tensor",
       [](const Classifier& k, bool near_tie, const image::Image&, const image::Image&) {
         return k.ClassifyTensor(near_tie ? Tensor(127.5f, 130, 10) : Tensor(25.5f, 229.5f, 10));
       }},
      {"pixels",
       [](const Classifier& k, bool near_tie, const image::Image& tie, const image::Image& sure) {
         return k.ClassifyPixels(near_tie ? tie : sure);
       }},
  };
  for (const Case& k : cases) {
    SCOPED_TRACE(k.name);
    for (bool near_tie : {true, false}) {
      SCOPED_TRACE(near_tie ? "near tie" : "decisive");
      const int int8_runs = int8.control.runs.load(), fp32_runs = fp32.control.runs.load();
      Result<Classification> r = k.run(**c, near_tie, tie_pixels, sure_pixels);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_EQ(r->scores.size(), 3u);
      EXPECT_EQ(r->scores[0].tag, "green");
      ASSERT_TRUE(r->int8_margin.has_value());
      EXPECT_DOUBLE_EQ(*r->int8_margin, margin_of(*r));
      EXPECT_EQ(*r->int8_margin < bound.bound, near_tie);
      EXPECT_EQ(r->int8_fallback, near_tie);
      EXPECT_EQ(int8.control.runs.load() - int8_runs, 1);
      EXPECT_EQ(fp32.control.runs.load() - fp32_runs, near_tie ? 1 : 0);
    }
  }
  EXPECT_EQ((*c)->int8_fallback_counts()->inferences(), 4u);
  EXPECT_EQ((*c)->int8_fallback_counts()->fallbacks(), 2u);
}

TEST(RoundingTest, MatchesNumpyFloat32RoundTo8Decimals) {
  // Expected values computed with numpy: np.float64(round(np.float32(p), 8)).
  EXPECT_EQ(RoundLikeReference(0.9995615482330322f), 0.9995615482330322);
  EXPECT_EQ(RoundLikeReference(1.3282752e-07f), 1.3000000365082087e-07);
  EXPECT_EQ(RoundLikeReference(0.123456789f), 0.12345679104328156);
  EXPECT_EQ(RoundLikeReference(0.99999999f), 1.0);
  EXPECT_EQ(RoundLikeReference(3.3e-9f), 0.0);
  EXPECT_EQ(RoundLikeReference(0.5f), 0.5);
}

}  // namespace
}  // namespace edgevision::predict
