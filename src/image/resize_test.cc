#include "image/resize.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>

#include "image/decode.h"
#include "image/npy.h"
#include "test_support.h"

namespace edgevision::image {
namespace {

using ::edgevision::testing::ReadBytes;
using ::edgevision::testing::TestData;
using ::testing::HasSubstr;

Image Load(const std::filesystem::path& path) {
  Result<DecodedImage> d = Decode(ReadBytes(path));
  EXPECT_TRUE(d.ok()) << path << ": " << d.status().ToString();
  return d.ok() ? std::move(d->rgb) : Image{};
}

Image Uniform(int w, int h, uint8_t r, uint8_t g, uint8_t b) {
  Image im;
  im.width = w;
  im.height = h;
  for (int i = 0; i < w * h; ++i) im.pixels.insert(im.pixels.end(), {r, g, b});
  return im;
}

// A golden/resize/i_*.npy file (float32 H x W x 1, integer values) as a
// mode "I" plane.
PlaneI32 LoadPlane(const std::filesystem::path& path) {
  Result<Tensor> t = ReadNpy(path);
  EXPECT_TRUE(t.ok()) << path << ": " << t.status().ToString();
  PlaneI32 plane;
  if (!t.ok() || t->channels != 1) return plane;
  plane.Reshape(t->width, t->height);
  for (size_t i = 0; i < t->data.size(); ++i) plane.samples[i] = static_cast<int32_t>(t->data[i]);
  return plane;
}

const Buffer<uint8_t>& Samples(const Image& im) { return im.pixels; }
const Buffer<int32_t>& Samples(const PlaneI32& plane) { return plane.samples; }

// Resizes `source` as each file in golden/resize whose name matches `name`
// ((bilinear|bicubic), width, height) says and compares with the file,
// loaded by `load`. Returns how many files it checked; *outside_8bit counts
// golden samples outside 0..255.
template <typename Img, typename Load>
int CheckResizeGoldens(const Img& source, const std::regex& name, Load load, int* outside_8bit) {
  int checked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(TestData("golden/resize"))) {
    std::smatch m;
    const std::string file = entry.path().filename().string();
    if (!std::regex_match(file, m, name)) continue;
    const ResampleFilter filter =
        m[1] == "bilinear" ? ResampleFilter::kBilinear : ResampleFilter::kBicubic;
    const Img want = load(entry.path());
    const Img got = ResizeLikePil(source, std::stoi(m[2]), std::stoi(m[3]), filter);
    EXPECT_EQ(got.width, want.width) << file;
    EXPECT_EQ(got.height, want.height) << file;
    if (got.width != want.width || got.height != want.height) continue;
    int64_t max_diff = 0;
    size_t differing = 0;
    for (size_t i = 0; i < Samples(got).size(); ++i) {
      const int64_t w = Samples(want)[i];
      const int64_t d = std::abs(static_cast<int64_t>(Samples(got)[i]) - w);
      max_diff = std::max(max_diff, d);
      differing += d != 0;
      *outside_8bit += w < 0 || w > 255;
    }
    EXPECT_EQ(differing, 0u) << file << ": " << differing << " samples differ, max " << max_diff;
    ++checked;
  }
  return checked;
}

// tests/data/golden/resize/<filter>_<w>x<h>.png: PIL 9.4's Image.resize of
// tests/data/images/resize/source.png (tests/parity/make_golden.py).
TEST(ResizeTest, BitExactWithPilGoldens) {
  const Image source = Load(TestData("images/resize/source.png"));
  ASSERT_EQ(source.width, 67);
  ASSERT_EQ(source.height, 53);
  int outside = 0;
  EXPECT_EQ(CheckResizeGoldens(source, std::regex(R"((bilinear|bicubic)_(\d+)x(\d+)\.png)"), Load, &outside), 24);
}

// golden/resize/i_<filter>_<w>x<h>.npy: PIL 9.4's resize of a mode "I"
// image (its 32bpc path, values -20000..45535) made by make_golden.py.
TEST(ResizeTest, ModeIBitExactWithPilGoldens) {
  const PlaneI32 source = LoadPlane(TestData("golden/resize/i_source.npy"));
  ASSERT_EQ(source.width, 67);
  ASSERT_EQ(source.height, 53);
  int outside = 0;
  EXPECT_EQ(
      CheckResizeGoldens(source, std::regex(R"(i_(bilinear|bicubic)_(\d+)x(\d+)\.npy)"), LoadPlane, &outside),
      14);
  EXPECT_GT(outside, 1000);  // the goldens do exercise the unclipped range
}

TEST(ResizeTest, UniformStaysUniformInBothFilters) {
  const Image in = Uniform(37, 23, 10, 128, 250);
  for (ResampleFilter f : {ResampleFilter::kBilinear, ResampleFilter::kBicubic}) {
    for (auto [w, h] : {std::pair{5, 3}, std::pair{37, 11}, std::pair{80, 60}, std::pair{1, 1}}) {
      const Image out = ResizeLikePil(in, w, h, f);
      ASSERT_EQ(out.pixels.size(), static_cast<size_t>(w) * h * 3);
      for (size_t i = 0; i < out.pixels.size(); i += 3) {
        ASSERT_EQ(out.pixels[i], 10);
        ASSERT_EQ(out.pixels[i + 1], 128);
        ASSERT_EQ(out.pixels[i + 2], 250);
      }
    }
  }
}

TEST(ResizeTest, SameSizeIsACopy) {
  const Image in = Load(TestData("images/resize/source.png"));
  EXPECT_EQ(ResizeLikePil(in, in.width, in.height, ResampleFilter::kBicubic).pixels, in.pixels);
}

TEST(ResizeTest, PlanFollowsPredictPy) {
  struct Case {
    int w, h;
    bool resize;
    int nw, nh;
    ResampleFilter filter;
  };
  const Case cases[] = {
      {1599, 1599, false, 1599, 1599, ResampleFilter::kBilinear},
      {1600, 1000, true, 1600, 1000, ResampleFilter::kBilinear},  // to its own size
      {1000, 1600, true, 1000, 1600, ResampleFilter::kBilinear},
      {1200, 1601, true, 1199, 1600, ResampleFilter::kBilinear},
      {2500, 1400, true, 1600, 896, ResampleFilter::kBilinear},
      {3200, 100, true, 1600, 50, ResampleFilter::kBilinear},  // exactly 0.5
      {3201, 100, true, 1600, 49, ResampleFilter::kBicubic},
      {100, 5000, true, 32, 1600, ResampleFilter::kBicubic},
      {2000, 2000, true, 1600, 1600, ResampleFilter::kBilinear},  // h == w: (1600, 1600*h//w)
      {20000, 1, true, 1600, 0, ResampleFilter::kBicubic},
  };
  for (const Case& c : cases) {
    const DownscalePlan p = PlanDownscale(c.w, c.h);
    EXPECT_EQ(p.resize, c.resize) << c.w << "x" << c.h;
    EXPECT_EQ(p.width, c.nw) << c.w << "x" << c.h;
    EXPECT_EQ(p.height, c.nh) << c.w << "x" << c.h;
    if (c.resize) {
      EXPECT_EQ(p.filter, c.filter) << c.w << "x" << c.h;
    }
  }
  // Other limits scale the same rule.
  const DownscalePlan small = PlanDownscale(300, 100, 200);
  EXPECT_EQ(small.width, 200);
  EXPECT_EQ(small.height, 66);
}

TEST(ResizeTest, DownscaleToZeroIsAnError) {
  Result<Image> r = DownscaleToMaxDimension(Uniform(5000, 2, 1, 2, 3));  // -> 1600x0
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("5000x2"));
}

TEST(ResizeTest, DownscaleKeepsSmallImagesAndShrinksLargeOnes) {
  Result<Image> small = DownscaleToMaxDimension(Uniform(1599, 10, 1, 2, 3));
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->width, 1599);
  Result<Image> large = DownscaleToMaxDimension(Uniform(1700, 3400, 1, 2, 3));
  ASSERT_TRUE(large.ok());
  EXPECT_EQ(large->width, 800);
  EXPECT_EQ(large->height, 1600);
}

}  // namespace
}  // namespace edgevision::image
