#include "http/access.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace edgevision::http {
namespace {

const std::string kPredict = "predict-0123456789abcdef";
const std::string kAdmin = "admin-0123456789abcdefgh";
const std::string kHealth = "health-0123456789abcdef";

TEST(ParseKeysTest, LinesCommasCommentsAndSpaces) {
  Result<std::vector<std::string>> keys =
      ParseKeys("# keys for the line\n  " + kPredict + "  \n\n" + kAdmin + "," + kHealth + "\r\n", "test");
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ(*keys, (std::vector<std::string>{kPredict, kAdmin, kHealth}));
  EXPECT_TRUE(ParseKeys("", "test")->empty());
}

TEST(ParseKeysTest, BadKeysAreRefusedWithoutQuotingThem) {
  for (const std::string& bad : {std::string("short"), std::string("has a space inside"), std::string(2000, 'k'),
                                 std::string("tab\there-0123456789")}) {
    Result<std::vector<std::string>> keys = ParseKeys(bad, "$EDGEVISION_PREDICTION_KEY");
    ASSERT_FALSE(keys.ok()) << bad;
    EXPECT_EQ(keys.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(keys.status().message().find("$EDGEVISION_PREDICTION_KEY line 1"), std::string::npos);
    EXPECT_EQ(keys.status().message().find(bad), std::string::npos) << "the message must not quote the key";
  }
}

TEST(ReadKeyFileTest, MissingAndEmptyFilesAreErrors) {
  EXPECT_EQ(ReadKeyFile("/nonexistent/keys").status().code(), StatusCode::kIOError);
  const std::filesystem::path p =
      std::filesystem::temp_directory_path() / ("ev_keys_" + std::to_string(getpid()));
  std::ofstream(p) << "# nothing here\n";
  EXPECT_EQ(ReadKeyFile(p.string()).status().code(), StatusCode::kInvalidArgument);
  std::ofstream(p) << kPredict << "\n";
  Result<std::vector<std::string>> keys = ReadKeyFile(p.string());
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(*keys, std::vector<std::string>{kPredict});
  std::filesystem::remove(p);
}

TEST(AccessControlTest, NoKeysMeansEverythingIsOpen) {
  AccessControl open;
  EXPECT_FALSE(open.enabled());
  for (Access a : {Access::kOpen, Access::kHealth, Access::kPredict, Access::kAdmin}) {
    EXPECT_FALSE(open.Required(a));
    EXPECT_TRUE(open.Allows(a, ""));
  }
}

TEST(AccessControlTest, PredictionKeysAlsoGuardAdminRoutesWhenNoAdminKeyIsSet) {
  AccessControl access(AccessKeys{{kPredict}, {}, {}});
  EXPECT_TRUE(access.Allows(Access::kOpen, ""));
  EXPECT_TRUE(access.Allows(Access::kHealth, "")) << "health stays open without a health key";
  EXPECT_FALSE(access.Allows(Access::kPredict, ""));
  EXPECT_FALSE(access.Allows(Access::kPredict, kPredict + "x"));
  EXPECT_FALSE(access.Allows(Access::kPredict, kPredict.substr(1)));
  EXPECT_TRUE(access.Allows(Access::kPredict, kPredict));
  EXPECT_FALSE(access.Allows(Access::kAdmin, ""));
  EXPECT_TRUE(access.Allows(Access::kAdmin, kPredict));
}

TEST(AccessControlTest, SeparateAdminAndHealthKeys) {
  AccessControl access(AccessKeys{{kPredict}, {kAdmin}, {kHealth}});
  EXPECT_TRUE(access.Allows(Access::kPredict, kPredict));
  EXPECT_TRUE(access.Allows(Access::kPredict, kAdmin)) << "admin keys open everything";
  EXPECT_FALSE(access.Allows(Access::kPredict, kHealth));
  EXPECT_FALSE(access.Allows(Access::kAdmin, kPredict)) << "an admin key is set: prediction keys do not open admin routes";
  EXPECT_TRUE(access.Allows(Access::kAdmin, kAdmin));
  EXPECT_FALSE(access.Allows(Access::kAdmin, kHealth));
  EXPECT_FALSE(access.Allows(Access::kHealth, ""));
  EXPECT_TRUE(access.Allows(Access::kHealth, kHealth));
  EXPECT_TRUE(access.Allows(Access::kHealth, kPredict));
  EXPECT_TRUE(access.Allows(Access::kOpen, ""));
}

TEST(AccessControlTest, OnlyAHealthKeyGuardsOnlyHealth) {
  AccessControl access(AccessKeys{{}, {}, {kHealth}});
  EXPECT_TRUE(access.Required(Access::kHealth));
  EXPECT_FALSE(access.Required(Access::kPredict));
  EXPECT_FALSE(access.Required(Access::kAdmin));
  EXPECT_FALSE(access.Allows(Access::kHealth, "wrong-key-0123456789"));
}

TEST(AccessControlTest, OverlongPresentedKeysAreRefused) {
  AccessControl access(AccessKeys{{kPredict}, {}, {}});
  EXPECT_FALSE(access.Allows(Access::kPredict, std::string(kMaxKeyLength + 1, 'a')));
}

TEST(PresentedKeyTest, PredictionKeyElseBearerToken) {
  EXPECT_EQ(PresentedKey("k1", "Bearer k2"), "k1");
  EXPECT_EQ(PresentedKey("", "Bearer k2"), "k2");
  EXPECT_EQ(PresentedKey("", "bearer   k2 "), "k2");
  EXPECT_EQ(PresentedKey("", "Basic dXNlcjpwYXNz"), "");
  EXPECT_EQ(PresentedKey("", "Bearer"), "");
  EXPECT_EQ(PresentedKey("", ""), "");
}

}  // namespace
}  // namespace edgevision::http
