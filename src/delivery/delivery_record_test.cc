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

TEST(DeliveryRecordTest, ThePendingRequestsRoundsRoundTripAndBelongToIt) {
  DeliveryRecord r;
  r.pending = ModelRef{std::string(64, 'c'), "v4", "/data/models/ccc", "https://h/x.zip"};
  r.error = "the server answered HTTP 503";
  r.retries = 3;
  r.next_retry = std::chrono::system_clock::time_point(std::chrono::milliseconds(1796563212123));
  const std::string text = EncodeRecord(r);
  EXPECT_NE(text.find("retry\t" + std::string(64, 'c') + "\t3\t1796563212123\n"), std::string::npos) << text;
  Result<DeliveryRecord> back = DecodeRecord(text);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, r);
  // Rounds are not written without a pending request, and never given to another one.
  DeliveryRecord none = r;
  none.ClearPending();
  EXPECT_EQ(EncodeRecord(none).find("retry"), std::string::npos);
  EXPECT_EQ(none.retries, 0);
  std::string other = text;
  other.replace(other.find("retry\tccc"), 9, "retry\tddd");
  back = DecodeRecord(other);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->retries, 0);
  EXPECT_FALSE(back->next_retry);
}

TEST(DeliveryRecordTest, GarbageIsCorrupt) {
  EXPECT_EQ(DecodeRecord("hello\n").status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(DecodeRecord("edgevision-model-delivery 1\ncurrent\tx\n").status().code(), StatusCode::kCorrupt);
  EXPECT_EQ(DecodeRecord("edgevision-model-delivery 1\nother\ta\tb\tc\td\n").status().code(), StatusCode::kCorrupt);
  for (const char* retry : {"retry\tabc\tx\t0\n", "retry\tabc\t-1\t0\n", "retry\tabc\t1\t12ms\n", "retry\tabc\t1\n"}) {
    EXPECT_EQ(DecodeRecord(std::string("edgevision-model-delivery 1\n") + retry).status().code(), StatusCode::kCorrupt)
        << retry;
  }
}

}  // namespace
}  // namespace edgevision::delivery
