#include "predict/inference_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <stdexcept>
#include <thread>

#include "test_support.h"

namespace edgevision::predict {
namespace {

using namespace std::chrono_literals;

// A job that blocks until released, so tests hold a worker without sleeping.
struct Gate {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
};

// Starts a job that occupies one worker until `gate` is released; returns
// once it runs (an invalid future, the gate released, if it never started). `ran_on` (optional)
// receives the job's thread.
std::future<Result<int>> Occupy(InferencePool& pool, Gate& gate, std::thread::id* ran_on = nullptr) {
  auto holding = std::make_shared<std::atomic<bool>>(false);
  auto hold = std::async(std::launch::async, [&pool, &gate, holding, ran_on] {
    return pool.Run<int>([&gate, holding, ran_on](int) -> Result<int> {
      if (ran_on) *ran_on = std::this_thread::get_id();
      *holding = true;
      gate.released.wait();
      return 1;
    });
  });
  if (!edgevision::testing::WaitFor([&] { return holding->load(); })) {
    gate.release.set_value();  // let it end rather than hang the test
    return {};
  }
  return hold;
}

TEST(InferencePoolTest, AnIdleWorkerRunsTheJobOnTheCallersThread) {
  InferencePool pool(2, 4, edgevision::testing::Scaled(10s));  // the queue timeouts: hang guards
  const std::thread::id caller = std::this_thread::get_id();
  std::thread::id ran_on;
  int worker = -1;
  Result<int> r = pool.Run<int>([&](int w) -> Result<int> {
    ran_on = std::this_thread::get_id();
    worker = w;
    return 42;
  });
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(*r, 42);
  EXPECT_EQ(ran_on, caller);  // no hand-off when nobody waits
  EXPECT_TRUE(worker == 0 || worker == 1);
  // An error from the job is the caller's.
  Result<int> e = pool.Run<int>([](int) -> Result<int> { return InvalidArgument("bad image"); });
  EXPECT_EQ(e.status().code(), StatusCode::kInvalidArgument);
}

TEST(InferencePoolTest, AQueuedJobRunsOnTheWorkersOwnThreadWhenItFrees) {
  InferencePool pool(1, 4, edgevision::testing::Scaled(10s));
  Gate gate;
  std::thread::id first_thread, queued_caller, queued_ran_on;
  auto first = Occupy(pool, gate, &first_thread);
  ASSERT_TRUE(first.valid());
  double waited = -1;
  auto queued = std::async(std::launch::async, [&] {
    queued_caller = std::this_thread::get_id();
    return pool.Run<int>(
        [&](int w) -> Result<int> {
          queued_ran_on = std::this_thread::get_id();
          return w;
        },
        &waited);
  });
  ASSERT_TRUE(edgevision::testing::WaitFor([&] { return pool.stats().waiting == 1; }));
  EXPECT_EQ(pool.stats().busy, 1);
  gate.release.set_value();
  ASSERT_TRUE(first.get().ok());
  Result<int> q = queued.get();
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(*q, 0);
  EXPECT_NE(queued_ran_on, queued_caller);
  EXPECT_NE(queued_ran_on, first_thread);
  EXPECT_GE(waited, 0.0);
  EXPECT_EQ(pool.stats().busy, 0);
  EXPECT_EQ(pool.stats().waiting, 0);
}

TEST(InferencePoolTest, TwoJobsAtOnceGetDifferentWorkers) {
  InferencePool pool(2, 4, edgevision::testing::Scaled(10s));
  Gate gate;
  std::atomic<int> running{0};
  std::atomic<int> seen[2] = {0, 0};
  auto job = [&](int w) -> Result<int> {
    ++seen[w];
    ++running;
    gate.released.wait();
    return w;
  };
  auto a = std::async(std::launch::async, [&] { return pool.Run<int>(job); });
  auto b = std::async(std::launch::async, [&] { return pool.Run<int>(job); });
  ASSERT_TRUE(edgevision::testing::WaitFor([&] { return running.load() == 2; }));
  EXPECT_EQ(pool.stats().busy, 2);
  gate.release.set_value();
  Result<int> ra = a.get(), rb = b.get();
  ASSERT_TRUE(ra.ok() && rb.ok());
  EXPECT_NE(*ra, *rb);
  EXPECT_EQ(seen[0].load(), 1);
  EXPECT_EQ(seen[1].load(), 1);
}

TEST(InferencePoolTest, AJobThatTimesOutInTheQueueNeverRuns) {
  InferencePool pool(1, 4, 30ms);
  Gate gate;
  auto hold = Occupy(pool, gate);
  ASSERT_TRUE(hold.valid());
  std::atomic<bool> ran{false};
  double waited = 0;
  Result<int> late = pool.Run<int>(
      [&](int) -> Result<int> {
        ran = true;
        return 2;
      },
      &waited);
  EXPECT_EQ(late.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(late.status().message().find("30 ms"), std::string::npos);
  EXPECT_EQ(pool.stats().waiting, 0);
  gate.release.set_value();
  ASSERT_TRUE(hold.get().ok());
  // The worker is free again, and the timed-out job was dropped, not run.
  ASSERT_TRUE(pool.Run<int>([](int) -> Result<int> { return 3; }).ok());
  EXPECT_FALSE(ran.load());
}

TEST(InferencePoolTest, AFullQueueIsRefusedBeforeRunning) {
  InferencePool pool(1, 1, edgevision::testing::Scaled(10s));
  Gate gate;
  auto hold = Occupy(pool, gate);
  ASSERT_TRUE(hold.valid());
  auto queued = std::async(std::launch::async, [&] { return pool.Run<int>([](int) -> Result<int> { return 2; }); });
  ASSERT_TRUE(edgevision::testing::WaitFor([&] { return pool.stats().waiting == 1; }));
  Result<int> refused = pool.Run<int>([](int) -> Result<int> { return 3; });
  EXPECT_EQ(refused.status().code(), StatusCode::kUnavailable);
  gate.release.set_value();
  EXPECT_TRUE(hold.get().ok());
  Result<int> q = queued.get();
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(*q, 2);
}

TEST(InferencePoolTest, AThrowingJobIsInternalAndTheWorkerSurvives) {
  InferencePool pool(1, 4, edgevision::testing::Scaled(10s));
  Result<int> r = pool.Run<int>([](int) -> Result<int> { throw std::runtime_error("boom"); });
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
  Result<int> next = pool.Run<int>([](int) -> Result<int> { return 7; });
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(*next, 7);
}

}  // namespace
}  // namespace edgevision::predict
