#include "stream/event_tracker.h"

#include <gtest/gtest.h>

namespace edgevision::stream {
namespace {

using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

TEST(EventTracker, FirstStableSceneIsAChangeAfterTheDebounce) {
  EventTracker t(3, seconds(0));
  const Clock::time_point t0{};
  EXPECT_EQ(t.Observe("Apple", t0), EventKind::kNone);
  EXPECT_EQ(t.Observe("Apple", t0), EventKind::kNone);
  EXPECT_EQ(t.Observe("Apple", t0), EventKind::kChange);
  EXPECT_EQ(t.published(), "Apple");
  EXPECT_EQ(t.Observe("Apple", t0), EventKind::kNone);
}

TEST(EventTracker, FlickerShorterThanTheDebounceIsNoEvent) {
  EventTracker t(3, seconds(0));
  const Clock::time_point t0{};
  for (int i = 0; i < 3; ++i) t.Observe("Apple", t0);
  EXPECT_EQ(t.Observe("Banana", t0), EventKind::kNone);
  EXPECT_EQ(t.Observe("Banana", t0), EventKind::kNone);
  EXPECT_EQ(t.Observe("Apple", t0), EventKind::kNone);  // back before 3 frames: nothing happened
  EXPECT_EQ(t.Observe("Banana", t0), EventKind::kNone);
  EXPECT_EQ(t.Observe("Banana", t0), EventKind::kNone);
  EXPECT_EQ(t.Observe("Banana", t0), EventKind::kChange);
  EXPECT_EQ(t.published(), "Banana");
  // Nothing over the threshold is a scene too ("the apple left").
  for (int i = 0; i < 2; ++i) EXPECT_EQ(t.Observe("", t0), EventKind::kNone);
  EXPECT_EQ(t.Observe("", t0), EventKind::kChange);
}

TEST(EventTracker, HeartbeatEveryPeriodAfterTheLastPublish) {
  EventTracker t(1, seconds(10));
  const Clock::time_point t0{};
  EXPECT_EQ(t.Observe("Apple", t0), EventKind::kChange);
  EXPECT_EQ(t.Observe("Apple", t0 + seconds(9)), EventKind::kNone);
  EXPECT_EQ(t.Observe("Apple", t0 + seconds(10)), EventKind::kHeartbeat);
  EXPECT_EQ(t.Observe("Apple", t0 + seconds(19)), EventKind::kNone);
  EXPECT_EQ(t.Observe("Banana", t0 + seconds(19)), EventKind::kChange);  // a change restarts the period
  EXPECT_EQ(t.Observe("Banana", t0 + seconds(28)), EventKind::kNone);
  EXPECT_EQ(t.Observe("Banana", t0 + seconds(29)), EventKind::kHeartbeat);
}

TEST(EventTracker, NoHeartbeatBeforeAnythingWasPublishedOrWhenOff) {
  EventTracker never(1, seconds(0));
  EventTracker slow(5, seconds(1));
  const Clock::time_point t0{};
  never.Observe("Apple", t0);
  EXPECT_EQ(never.Observe("Apple", t0 + seconds(1000)), EventKind::kNone);
  EXPECT_EQ(slow.Observe("Apple", t0 + seconds(100)), EventKind::kNone);
}

TEST(SceneOf, ClassifierTopTagOverTheThreshold) {
  predict::Classification c;
  c.scores = {{"Apple", 0, 0.7f}, {"Banana", 1, 0.3f}};
  EXPECT_EQ(SceneOf(c, 0.5), "Apple");
  EXPECT_EQ(SceneOf(c, 0.8), "");
  EXPECT_EQ(SceneOf(predict::Classification{}, 0.0), "");
}

TEST(SceneOf, DetectorCountsBoxesPerTagOverTheThreshold) {
  std::vector<detect::Detection> d(4);
  d[0].tag = "Banana"; d[0].probability = 0.9f;
  d[1].tag = "Apple"; d[1].probability = 0.6f;
  d[2].tag = "Apple"; d[2].probability = 0.55f;
  d[3].tag = "Apple"; d[3].probability = 0.2f;
  EXPECT_EQ(SceneOf(d, 0.5), "Apple:2,Banana:1");
  EXPECT_EQ(SceneOf(d, 0.95), "");
}

}  // namespace
}  // namespace edgevision::stream
