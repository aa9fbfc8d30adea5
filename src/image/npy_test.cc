#include "image/npy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace edgevision::image {
namespace {

using ::testing::HasSubstr;

Tensor Sample() {
  Tensor t;
  t.height = 2;
  t.width = 3;
  t.channels = 3;
  for (int i = 0; i < 18; ++i) t.data.push_back(i * 0.5f - 1.0f);
  return t;
}

std::span<const uint8_t> AsBytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// A .npy exactly as numpy 1.24's np.save writes a (2, 3, 3) float32 array.
std::string NumpyWritten(const Tensor& t) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3, 3), }";
  header.append(128 - 10 - header.size() - 1, ' ');
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(header.size()));
  out.push_back(0);
  out += header;
  out.append(reinterpret_cast<const char*>(t.data.data()), t.data.size() * 4);
  return out;
}

TEST(NpyTest, EncodeMatchesNumpyByteForByte) {
  EXPECT_EQ(EncodeNpy(Sample()), NumpyWritten(Sample()));
  EXPECT_EQ(EncodeNpy(Sample()).size() % 16, (128 + 18 * 4) % 16);
}

TEST(NpyTest, RoundTripThroughAFile) {
  const auto path =
      std::filesystem::temp_directory_path() / ("npy_test_" + std::to_string(::getpid()) + ".npy");
  ASSERT_TRUE(WriteNpy(path, Sample()).ok());
  Result<Tensor> t = ReadNpy(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->height, 2);
  EXPECT_EQ(t->width, 3);
  EXPECT_EQ(t->channels, 3);
  EXPECT_EQ(t->data, Sample().data);
}

TEST(NpyTest, AcceptsABatchOfOneAndVersionTwoHeaders) {
  std::string s = NumpyWritten(Sample());
  s.replace(s.find("(2, 3, 3)"), 9, "(1, 2, 3, 3)");
  s.erase(s.find('\n') - 3, 3);  // keep the header length
  Result<Tensor> batch = DecodeNpy(AsBytes(s));
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  EXPECT_EQ(batch->height, 2);

  std::string v2 = NumpyWritten(Sample());
  v2[6] = 2;
  v2.insert(10, std::string("\0\0", 2));  // 4-byte header length
  Result<Tensor> t = DecodeNpy(AsBytes(v2));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->data, Sample().data);
}

TEST(NpyTest, RejectsWhatItCannotRepresent) {
  const std::string good = NumpyWritten(Sample());
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    s.replace(s.find(from), from.size(), to);
    return DecodeNpy(AsBytes(s)).status();
  };
  EXPECT_THAT(with("<f4", "<f8").message(), HasSubstr("dtype"));
  EXPECT_THAT(with("False", "True ").message(), HasSubstr("Fortran"));
  EXPECT_THAT(with("(2, 3, 3)", "(2, 9)   ").message(), HasSubstr("shape"));
  EXPECT_THAT(with("(2, 3, 3)", "(2, 3, 4)").message(), HasSubstr("data size"));
  EXPECT_THAT(with("NUMPY", "NUMPX").message(), HasSubstr("magic"));
  EXPECT_FALSE(DecodeNpy(AsBytes(good.substr(0, good.size() - 1))).ok());
  EXPECT_FALSE(DecodeNpy(AsBytes(good.substr(0, 12))).ok());
  EXPECT_FALSE(DecodeNpy({}).ok());
  EXPECT_EQ(ReadNpy("/nonexistent/x.npy").status().code(), StatusCode::kIOError);
}

}  // namespace
}  // namespace edgevision::image
