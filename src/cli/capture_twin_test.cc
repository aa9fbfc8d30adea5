#include "cli/capture_twin.h"

#include <gtest/gtest.h>

namespace edgevision::cli {
namespace {

store::CapturePolicy Parsed(const std::string& spec) {
  Result<store::CapturePolicy> p = store::CapturePolicy::Parse(spec);
  EXPECT_TRUE(p.ok()) << p.status().ToString();
  return *p;
}

TEST(CaptureTwinTest, EnabledSwitchesANoneCommandLineToAllAndFalseSwitchesOff) {
  upstream::DesiredCapture on;
  on.enabled = true;
  Result<TwinCapturePolicy> r = CapturePolicyFromTwin(on, Parsed("none"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->policy.ToString(), "all");
  EXPECT_FALSE(r->max_bytes);
  EXPECT_FALSE(r->max_age);

  upstream::DesiredCapture off;
  off.enabled = false;
  r = CapturePolicyFromTwin(off, Parsed("uncertain:0.8"));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->policy.enabled());
}

TEST(CaptureTwinTest, AbsentMembersKeepTheCommandLineAndTheWindowAndTagsNarrowIt) {
  upstream::DesiredCapture d;  // nothing set: the command line's policy
  Result<TwinCapturePolicy> r = CapturePolicyFromTwin(d, Parsed("sample:0.25"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->policy.ToString(), "sample:0.25");

  d.enabled = true;
  d.min_probability = 0.0;
  d.max_probability = 0.6;  // the docs/upstream.md example
  d.tags = std::vector<std::string>{"Apple"};
  r = CapturePolicyFromTwin(d, Parsed("none"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->policy.ToString(), "all max=0.6 tags=Apple");
  EXPECT_TRUE(r->policy.ShouldCapture("Apple", 0.59, 0));
  EXPECT_FALSE(r->policy.ShouldCapture("Apple", 0.6, 0));
  EXPECT_FALSE(r->policy.ShouldCapture("Banana", 0.2, 0));
}

TEST(CaptureTwinTest, AnEmptyOrOutOfRangeWindowIsRefused) {
  upstream::DesiredCapture bad;
  bad.min_probability = 0.7;
  bad.max_probability = 0.3;
  EXPECT_EQ(CapturePolicyFromTwin(bad, Parsed("all")).status().code(), StatusCode::kInvalidArgument);
  bad.min_probability = -0.1;
  bad.max_probability = 0.5;
  EXPECT_FALSE(CapturePolicyFromTwin(bad, Parsed("all")).ok());
}

TEST(CaptureTwinTest, StoreLimitsArePassedOnToApplyLive) {
  upstream::DesiredCapture limits;
  limits.max_bytes = int64_t{1} << 30;
  limits.max_age_s = 604800;
  Result<TwinCapturePolicy> r = CapturePolicyFromTwin(limits, Parsed("all"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_TRUE(r->max_bytes);
  EXPECT_EQ(*r->max_bytes, uint64_t{1} << 30);
  ASSERT_TRUE(r->max_age);
  EXPECT_EQ(r->max_age->count(), 604800);
  EXPECT_EQ(r->policy.ToString(), "all");

  upstream::DesiredCapture zero;
  zero.max_age_s = 0;  // no age limit, like --capture-max-age 0
  r = CapturePolicyFromTwin(zero, Parsed("all"));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->max_bytes);
  EXPECT_EQ(r->max_age->count(), 0);

  zero.max_bytes = 0;  // a zero quota would delete every capture
  EXPECT_EQ(CapturePolicyFromTwin(zero, Parsed("all")).status().code(),
            StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace edgevision::cli
