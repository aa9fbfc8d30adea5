#include "store/capture_policy.h"

#include <gtest/gtest.h>

namespace edgevision::store {
namespace {

TEST(CapturePolicyTest, ParsesEveryMode) {
  EXPECT_EQ(CapturePolicy::Parse("none")->mode, CapturePolicy::Mode::kNone);
  EXPECT_FALSE(CapturePolicy::Parse("none")->enabled());
  EXPECT_EQ(CapturePolicy::Parse("all")->mode, CapturePolicy::Mode::kAll);
  Result<CapturePolicy> u = CapturePolicy::Parse("uncertain:0.8");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->mode, CapturePolicy::Mode::kUncertain);
  EXPECT_DOUBLE_EQ(u->threshold, 0.8);
  Result<CapturePolicy> s = CapturePolicy::Parse("sample:0.05", {"Apple", "Banana"});
  ASSERT_TRUE(s.ok());
  EXPECT_DOUBLE_EQ(s->fraction, 0.05);
  EXPECT_EQ(s->tags.size(), 2u);
  EXPECT_EQ(s->ToString(), "sample:0.05 tags=Apple,Banana");
  EXPECT_EQ(u->ToString(), "uncertain:0.8");
  EXPECT_EQ(CapturePolicy::Parse("sample:1")->ToString(), "sample:1");
}

TEST(CapturePolicyTest, RejectsMalformedSpecs) {
  for (const char* bad :
       {"", "al", "All", "all:1", "none:0", "uncertain", "uncertain:", "uncertain:0",
        "uncertain:1.5", "uncertain:-0.1", "uncertain:abc", "uncertain:0.5x", "sample:0",
        "sample:2", "sample:nan", "sample:inf", "sometimes"}) {
    Result<CapturePolicy> p = CapturePolicy::Parse(bad);
    EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument) << bad;
    if (!p.ok()) {
      EXPECT_NE(p.status().message().find("uncertain:<p>"), std::string::npos);
    }
  }
  EXPECT_FALSE(CapturePolicy::Parse("all", {""}).ok());
}

TEST(CapturePolicyTest, Decides) {
  const CapturePolicy none = CapturePolicy::Parse("none").value();
  const CapturePolicy all = CapturePolicy::Parse("all").value();
  const CapturePolicy uncertain = CapturePolicy::Parse("uncertain:0.8").value();
  const CapturePolicy sample = CapturePolicy::Parse("sample:0.25").value();
  EXPECT_FALSE(none.ShouldCapture("Apple", 0.1, 0.0));
  EXPECT_TRUE(all.ShouldCapture("Apple", 0.99, 0.9));
  EXPECT_TRUE(all.ShouldCapture("", 0, 0.9));  // no tag above 1e-8: still a prediction
  EXPECT_TRUE(uncertain.ShouldCapture("Apple", 0.79, 0.9));
  EXPECT_FALSE(uncertain.ShouldCapture("Apple", 0.8, 0.0));
  EXPECT_FALSE(uncertain.ShouldCapture("Apple", 0.99, 0.0));
  EXPECT_TRUE(sample.ShouldCapture("Apple", 0.99, 0.2499));
  EXPECT_FALSE(sample.ShouldCapture("Apple", 0.99, 0.25));
  // Over many uniform draws the sample keeps about its fraction.
  int kept = 0;
  for (int i = 0; i < 10000; ++i) kept += sample.ShouldCapture("Apple", 0.9, (i + 0.5) / 10000.0);
  EXPECT_EQ(kept, 2500);
}

TEST(CapturePolicyTest, TagFilterCombinesWithTheMode) {
  const CapturePolicy p = CapturePolicy::Parse("uncertain:0.9", {"Banana"}).value();
  EXPECT_TRUE(p.ShouldCapture("Banana", 0.5, 0));
  EXPECT_FALSE(p.ShouldCapture("Banana", 0.95, 0));
  EXPECT_FALSE(p.ShouldCapture("Apple", 0.5, 0));
  const CapturePolicy all_bananas = CapturePolicy::Parse("all", {"Banana"}).value();
  EXPECT_TRUE(all_bananas.ShouldCapture("Banana", 0.99, 0));
  EXPECT_FALSE(all_bananas.ShouldCapture("banana", 0.99, 0));  // tags are exact
}

}  // namespace
}  // namespace edgevision::store
