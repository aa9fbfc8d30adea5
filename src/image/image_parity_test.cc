// Parity of the image pipeline with the exported container's predict.py,
// through the goldens in tests/data/golden/ (see its README.md; made by
// tests/parity/make_golden.py from the REAL predict.py with Debian's PIL 9.4):
//   stages.tsv   PIL's decode and predict.py's oriented and downscaled images
//                (size + SHA-256) for every test and sample image: checked
//                exactly, stage by stage;
//   tensors.tsv  the float32 tensor predict.py feeds the model, for a
//                representative set: max |diff| must be <= 1.0 (0-255 scale);
//                it is expected to be exactly 0.
// Needs nothing outside the repository.
#include <gtest/gtest.h>
#include <zip.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <span>
#include <string>
#include <vector>

#include "core/sha256.h"
#include "image/decode.h"
#include "image/npy.h"
#include "image/orientation.h"
#include "image/preprocess.h"
#include "image/resize.h"
#include "test_support.h"

namespace edgevision::image {
namespace {

using ::edgevision::testing::ReadBytes;
using ::edgevision::testing::SourceDir;
using ::edgevision::testing::TestData;

std::vector<std::vector<std::string>> ReadTsv(const std::string& relative) {
  std::ifstream in(TestData(relative));
  EXPECT_TRUE(in) << "missing " << relative;
  std::vector<std::vector<std::string>> rows;
  std::string line;
  bool header = true;
  while (std::getline(in, line)) {
    if (header) {
      header = false;
      continue;
    }
    std::vector<std::string> cells;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, '\t')) cells.push_back(cell);
    rows.push_back(cells);
  }
  return rows;
}

// "WxH:sha256" of an RGB image, as make_golden.py writes it.
std::string Describe(const Image& im) {
  return std::to_string(im.width) + "x" + std::to_string(im.height) + ":" + Sha256Hex(im.pixels);
}

struct ZipCloser {
  void operator()(zip_t* z) const { zip_close(z); }
};
struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

// The 'tensor' array of a golden .npz (zip member tensor.npy).
Result<Tensor> ReadGolden(const std::string& relative) {
  const std::string path = TestData("golden/" + relative).string();
  int error = 0;
  std::unique_ptr<zip_t, ZipCloser> zip(zip_open(path.c_str(), ZIP_RDONLY, &error));
  if (!zip) return IOError("cannot open " + path);
  const zip_int64_t index = zip_name_locate(zip.get(), "tensor.npy", 0);
  zip_stat_t st;
  if (index < 0 || zip_stat_index(zip.get(), index, 0, &st) != 0) {
    return Corrupt(path + ": no tensor.npy member");
  }
  std::unique_ptr<zip_file_t, ZipFileCloser> file(zip_fopen_index(zip.get(), index, 0));
  if (!file) return Corrupt(path + ": " + zip_strerror(zip.get()));
  std::vector<uint8_t> bytes(st.size);
  if (zip_fread(file.get(), bytes.data(), st.size) != static_cast<zip_int64_t>(st.size)) {
    return Corrupt(path + ": cannot decompress tensor.npy");
  }
  return DecodeNpy(bytes);
}

TEST(ImageParityTest, DecodeMatchesPil) {
  int checked = 0;
  for (const auto& row : ReadTsv("golden/stages.tsv")) {
    ASSERT_EQ(row.size(), 6u);
    const std::string& path = row[0];
    Result<DecodedImage> d = Decode(ReadBytes(SourceDir() / path));
    ++checked;
    if (row[2] == "error") {
      EXPECT_FALSE(d.ok()) << path << ": PIL fails (" << row[5] << ") but we decode";
      continue;
    }
    ASSERT_TRUE(d.ok()) << path << ": " << d.status().ToString();
    EXPECT_EQ(Describe(d->rgb), row[2]) << path << ": pixels differ from PIL's convert(\"RGB\")";
    EXPECT_EQ(d->source_mode, row[1]) << path;
  }
  EXPECT_GT(checked, 100);
}

TEST(ImageParityTest, OrientationAndDownscaleMatchPredictPy) {
  for (const auto& row : ReadTsv("golden/stages.tsv")) {
    const std::string& path = row[0];
    if (row[3] == "-") continue;  // predict.py stopped before orienting
    Result<DecodedImage> d = Decode(ReadBytes(SourceDir() / path));
    ASSERT_TRUE(d.ok()) << path;
    const Image oriented = ApplyExifOrientation(d->rgb, ReferenceOrientation(*d));
    EXPECT_EQ(Describe(oriented), row[3]) << path << ": oriented image differs";
    Result<Image> scaled = DownscaleToMaxDimension(oriented);
    if (row[4] == "-") {
      EXPECT_FALSE(scaled.ok()) << path << ": predict.py failed to downscale";
      continue;
    }
    ASSERT_TRUE(scaled.ok()) << path << ": " << scaled.status().ToString();
    EXPECT_EQ(Describe(*scaled), row[4]) << path << ": downscaled image differs";
  }
}

TEST(ImageParityTest, TensorsMatchGolden) {
  std::printf("%-66s %4s %10s %10s %s\n", "image", "size", "max|diff|", "mean|diff|", "exact");
  int checked = 0;
  for (const auto& row : ReadTsv("golden/tensors.tsv")) {
    ASSERT_EQ(row.size(), 3u);
    const std::string& path = row[0];
    const int size = std::stoi(row[1]);
    Result<Tensor> golden = ReadGolden(row[2]);
    ASSERT_TRUE(golden.ok()) << row[2] << ": " << golden.status().ToString();
    PreprocessSpec spec;
    spec.input_width = spec.input_height = size;
    spec.color = ColorOrder::kBGR;
    Result<Tensor> ours = PreprocessBytes(ReadBytes(SourceDir() / path), spec);
    ASSERT_TRUE(ours.ok()) << path << ": " << ours.status().ToString();
    ASSERT_EQ(ours->height, golden->height) << path;
    ASSERT_EQ(ours->width, golden->width) << path;
    ASSERT_EQ(ours->channels, golden->channels) << path;
    double max_diff = 0, sum = 0;
    size_t differing = 0;
    for (size_t i = 0; i < golden->data.size(); ++i) {
      const double diff = std::fabs(static_cast<double>(ours->data[i]) - golden->data[i]);
      max_diff = std::max(max_diff, diff);
      sum += diff;
      differing += ours->data[i] != golden->data[i];
    }
    std::printf("%-66s %4d %10.3g %10.3g %s\n", path.c_str(), size, max_diff,
                sum / golden->data.size(), differing == 0 ? "yes" : "no");
    EXPECT_LE(max_diff, 1.0) << path << " at " << size;
    EXPECT_EQ(differing, 0u) << path << " at " << size << ": not bit-exact (" << differing
                             << " values differ), though within tolerance";
    ++checked;
  }
  EXPECT_GE(checked, 30);
}

// Docker 2.2 (D3): golden/d3/tensors.tsv, made by make_golden_d3.py from the
// export's REAL predict.py. Every tensor must be predict.py's exactly: a
// stored one value for value (the bound is 1.0 on 0-255; predict.py's
// values are integers, and we match them all), the others by the SHA-256 of
// the tensor as uint8.
TEST(ImageParityTest, Docker22TensorsMatchGolden) {
  PreprocessSpec spec;
  spec.input_width = spec.input_height = 224;
  spec.color = ColorOrder::kBGR;  // the export's IS_BGR = True
  spec.geometry = Geometry::kShorterSide;
  spec.pil_order = PilOrder::kConvertLast;
  std::printf("%-66s %10s %s\n", "image", "max|diff|", "exact");
  int checked = 0, exact = 0;
  double worst = 0;
  for (const auto& row : ReadTsv("golden/d3/tensors.tsv")) {
    ASSERT_EQ(row.size(), 3u);
    const std::string& path = row[0];
    Result<Tensor> ours = PreprocessBytes(ReadBytes(SourceDir() / path), spec);
    if (row[2].rfind("error", 0) == 0) {
      EXPECT_FALSE(ours.ok()) << path << ": predict.py fails (" << row[2] << ") but we do not";
      continue;
    }
    ASSERT_TRUE(ours.ok()) << path << ": " << ours.status().ToString();
    ASSERT_EQ(ours->height, 224) << path;
    ASSERT_EQ(ours->width, 224) << path;
    ++checked;
    if (row[1] == "-") {
      std::vector<uint8_t> as_u8;
      for (float v : ours->data) as_u8.push_back(static_cast<uint8_t>(v));
      EXPECT_EQ(Sha256Hex(as_u8), row[2]) << path << ": tensor differs from predict.py's";
      exact += Sha256Hex(as_u8) == row[2];
      continue;
    }
    Result<Tensor> golden = ReadGolden("d3/" + row[1]);
    ASSERT_TRUE(golden.ok()) << row[1] << ": " << golden.status().ToString();
    ASSERT_EQ(golden->data.size(), ours->data.size()) << path;
    double max_diff = 0;
    size_t differing = 0;
    for (size_t i = 0; i < golden->data.size(); ++i) {
      const double diff = std::fabs(static_cast<double>(ours->data[i]) - golden->data[i]);
      max_diff = std::max(max_diff, diff);
      differing += ours->data[i] != golden->data[i];
    }
    std::printf("%-66s %10.3g %s\n", path.c_str(), max_diff, differing == 0 ? "yes" : "no");
    exact += differing == 0;
    worst = std::max(worst, max_diff);
    EXPECT_EQ(differing, 0u) << path << ": max |diff| " << max_diff;
  }
  std::printf("D3: %d images, %d bit-exact; worst max|diff| %.3g\n", checked, exact, worst);
  EXPECT_EQ(exact, checked);
  EXPECT_GT(checked, 100);
}

}  // namespace
}  // namespace edgevision::image
