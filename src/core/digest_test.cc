#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/sha1.h"
#include "core/sha256.h"

namespace edgevision {
namespace {

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// FIPS 180 test vectors ("abc" and the empty message): every digit
// lowercase hex, leading zeros kept (a9993e..., da39a3...0709).
TEST(DigestTest, Sha1MatchesTheStandardVectors) {
  EXPECT_EQ(Sha1Hex(Bytes("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(Sha1Hex(Bytes("")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

TEST(DigestTest, Sha256OneShotAndIncrementalMatchTheStandardVector) {
  const std::string want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  EXPECT_EQ(Sha256Hex(Bytes("abc")), want);
  Sha256Hasher h;
  h.Update(Bytes("a"));
  h.Update(Bytes("bc"));
  EXPECT_EQ(h.HexDigest(), want);
}

}  // namespace
}  // namespace edgevision
