#include "core/clock.h"
#include "core/uuid.h"

#include <gtest/gtest.h>

namespace edgevision {
namespace {

using std::chrono::microseconds;
using std::chrono::seconds;
using std::chrono::system_clock;

TEST(ClockTest, FormatsLikeTheContainerAndTheCloud) {
  // 2021-07-05T21:44:39.573181 UTC
  system_clock::time_point t = system_clock::time_point(seconds(1625521479)) + microseconds(573181);
  EXPECT_EQ(FormatIsoMicros(t), "2021-07-05T21:44:39.573181");
  EXPECT_EQ(FormatIsoMillisZ(t), "2021-07-05T21:44:39.573Z");
  system_clock::time_point whole = system_clock::time_point(seconds(1625521479));
  EXPECT_EQ(FormatIsoMicros(whole), "2021-07-05T21:44:39");  // Python omits .000000
  EXPECT_EQ(FormatIsoMillisZ(whole), "2021-07-05T21:44:39.000Z");
  // The capture API's form: always 6 digits and 'Z'.
  EXPECT_EQ(FormatIsoMicrosZ(t), "2021-07-05T21:44:39.573181Z");
  EXPECT_EQ(FormatIsoMicrosZ(whole), "2021-07-05T21:44:39.000000Z");
  // Before the epoch the fraction still counts up from the whole second.
  EXPECT_EQ(FormatIsoMicrosZ(system_clock::time_point(microseconds(-1))),
            "1969-12-31T23:59:59.999999Z");
}

TEST(ClockTest, SystemClockAdvances) {
  auto a = SystemClock().Monotonic();
  auto b = SystemClock().Monotonic();
  EXPECT_LE(a, b);
  EXPECT_GT(SystemClock().Now().time_since_epoch().count(), 0);
}

TEST(UuidTest, VersionFourAndUnique) {
  std::string a = NewUuid(), b = NewUuid();
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '4');
  EXPECT_NE(std::string("89ab").find(a[19]), std::string::npos);
  EXPECT_EQ(a[8], '-');
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace edgevision
