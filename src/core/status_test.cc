#include "core/status.h"

#include <gtest/gtest.h>

namespace edgevision {
namespace {

Result<int> Half(int x) {
  if (x % 2) return InvalidArgument("odd: " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x) {
  EV_ASSIGN_OR_RETURN(int h, Half(x));
  return Half(h);
}

Status Check(int x) {
  EV_RETURN_IF_ERROR(Quarter(x).status());
  return Status::Ok();
}

TEST(StatusTest, OkAndErrorsCarryCodeAndMessage) {
  EXPECT_TRUE(Status::Ok().ok());
  EXPECT_EQ(Status::Ok().ToString(), "OK");
  Status s = Corrupt("model.pb: node 'x' truncated");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kCorrupt);
  EXPECT_EQ(s.ToString(), "Corrupt: model.pb: node 'x' truncated");
  EXPECT_EQ(s.WithContext("loading").message(), "loading: model.pb: node 'x' truncated");
  EXPECT_EQ(s.WithContext("loading").code(), StatusCode::kCorrupt);
}

TEST(StatusTest, MacrosPropagateTheFirstError) {
  ASSERT_TRUE(Quarter(8).ok());
  EXPECT_EQ(*Quarter(8), 2);
  Result<int> r = Quarter(6);  // 6 -> 3 -> odd
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "odd: 3");
  EXPECT_TRUE(Check(4).ok());
  EXPECT_EQ(Check(5).code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace edgevision
