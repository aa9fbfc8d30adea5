#include "store/time_text.h"

#include <gtest/gtest.h>

namespace edgevision::store {
namespace {

using std::chrono::microseconds;
using std::chrono::seconds;
using std::chrono::system_clock;

system_clock::time_point At(int64_t s, int64_t us = 0) {
  return system_clock::time_point(
      std::chrono::duration_cast<system_clock::duration>(seconds(s) + microseconds(us)));
}

TEST(TimeTextTest, FormatsUtcWithMicroseconds) {
  EXPECT_EQ(FormatTime(At(1625521479, 573181)), "2021-07-05T21:44:39.573181Z");
  EXPECT_EQ(FormatTime(At(0)), "1970-01-01T00:00:00.000000Z");
}

TEST(TimeTextTest, ParsesTheFormsTheApiAccepts) {
  EXPECT_EQ(ParseTime("2021-07-05T21:44:39.573181Z").value(), At(1625521479, 573181));
  EXPECT_EQ(ParseTime("2021-07-05T21:44:39.5Z").value(), At(1625521479, 500000));
  EXPECT_EQ(ParseTime("2021-07-05T21:44:39").value(), At(1625521479));
  EXPECT_EQ(ParseTime("2021-07-05T21:44").value(), At(1625521440));
  EXPECT_EQ(ParseTime("2021-07-05").value(), At(1625443200));
  EXPECT_EQ(ParseTime("2021-07-05T23:44:39+02:00").value(), At(1625521479));
  EXPECT_EQ(ParseTime("2021-07-05T19:44:39-02:00").value(), At(1625521479));
  EXPECT_EQ(ParseTime("1625521479").value(), At(1625521479));
  EXPECT_EQ(ParseTime("2000-02-29").value(), At(951782400));
  // Round trip.
  EXPECT_EQ(ParseTime(FormatTime(At(1714566605, 123456))).value(), At(1714566605, 123456));
}

TEST(TimeTextTest, RejectsWhatIsNotATime) {
  for (const char* bad :
       {"", "yesterday", "2021-13-01", "2021-07-32", "2021-07-05T25:00", "2021-07-05T21:44:39X",
        "2021-07-05T21:44:39.Z", "2021-7-5", "1e400", "2021-07-05T21:44:39+2", "--1"}) {
    EXPECT_EQ(ParseTime(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace edgevision::store
