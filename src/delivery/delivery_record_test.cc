#include "delivery/delivery_record.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "test_support.h"

namespace edgevision::delivery {
namespace {

TEST(DeliveryRecordTest, RoundTripsAndIsWrittenAtomically) {
  testing::TempDir dir;
  const std::string path = (dir.path() / "delivery.state").string();
  Result<DeliveryRecord> empty = ReadRecord(path);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(*empty, DeliveryRecord{});
  DeliveryRecord r;
  r.current = ModelRef{std::string(64, 'a'), "v2", "/data/models/aaa", "https://h/x.zip?sig=secret"};
  r.previous = ModelRef{"-", "-", "/models/with space", "-"};
  r.error = "version v3: checksum\tmismatch\n";
  ASSERT_TRUE(WriteRecord(path, r).ok());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
  EXPECT_EQ((std::filesystem::status(path).permissions() & std::filesystem::perms::others_read),
            std::filesystem::perms::none);
  Result<DeliveryRecord> back = ReadRecord(path);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->current, r.current);
  EXPECT_EQ(back->previous, r.previous);
  EXPECT_FALSE(back->pending);
  EXPECT_EQ(back->error, "version v3: checksum mismatch ");
}

TEST(DeliveryRecordTest, GarbageIsCorrupt) {
  EXPECT_EQ(DecodeRecord("hello\n").status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(DecodeRecord("edgevision-model-delivery 1\ncurrent\tx\n").status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(DecodeRecord("edgevision-model-delivery 1\nother\ta\tb\tc\td\n").status().code(), StatusCode::kCorrupt);
}

}  // namespace
}  // namespace edgevision::delivery
