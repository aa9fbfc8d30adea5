#include "core/guard.h"

#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

namespace edgevision {
namespace {

TEST(GuardTest, CatchAllTurnsAnExceptionIntoAnInternalStatusNamingWhere) {
  EXPECT_TRUE(CatchAll("nothing", [] {}).ok());
  Status s = CatchAll("decoding", [] { throw std::runtime_error("bad byte"); });
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_EQ(s.message(), "decoding: unexpected error: bad byte");
  s = CatchAll("odd", [] { throw 7; });
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_NE(s.message().find("odd: unexpected error"), std::string::npos);
}

TEST(GuardTest, AGuardedThreadThatThrowsEndsAloneNotTheProcess) {
  std::atomic<bool> ran{false};
  std::thread t = GuardedThread("test", [&] {
    ran = true;
    throw std::logic_error("escaped");
  });
  t.join();  // without the guard: std::terminate
  EXPECT_TRUE(ran);
  EXPECT_FALSE(RunLogged("unit", [] { throw std::runtime_error("x"); }));
  EXPECT_TRUE(RunLogged("unit", [] {}));
}

TEST(GuardTest, ACommandThatThrowsExitsOneWithAMessage) {
  EXPECT_EQ(RunCommand("inspect", [] { return 0; }), 0);
  EXPECT_EQ(RunCommand("inspect", [] { return 2; }), 2);
  ::testing::internal::CaptureStderr();
  const int code = RunCommand("inspect", []() -> int { throw std::runtime_error("invalid UTF-8"); });
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(code, 1);
  EXPECT_EQ(err, "edgevision: inspect: unexpected error: invalid UTF-8\n");
}

}  // namespace
}  // namespace edgevision
