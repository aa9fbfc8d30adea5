#include "image/orientation.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "image/decode.h"
#include "test_support.h"

namespace edgevision::image {
namespace {

using ::edgevision::testing::ReadBytes;
using ::edgevision::testing::TestData;

// A w x h image whose pixel (x, y) is (x, y, x ^ y): every pixel unique.
Image Numbered(int w, int h) {
  Image im;
  im.width = w;
  im.height = h;
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      im.pixels.push_back(static_cast<uint8_t>(x));
      im.pixels.push_back(static_cast<uint8_t>(y));
      im.pixels.push_back(static_cast<uint8_t>(x ^ y));
    }
  }
  return im;
}

// PIL's three transposes, one at a time, as predict.py chains them.
Image Transpose(const Image& in) {
  Image out;
  out.width = in.height;
  out.height = in.width;
  out.pixels.resize(in.pixels.size());
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      for (int c = 0; c < 3; ++c) out.Row(y)[3 * x + c] = in.Row(x)[3 * y + c];
    }
  }
  return out;
}
Image FlipTopBottom(const Image& in) {
  Image out = in;
  for (int y = 0; y < in.height; ++y) {
    std::copy(in.Row(in.height - 1 - y), in.Row(in.height - 1 - y) + 3 * in.width, out.Row(y));
  }
  return out;
}
Image FlipLeftRight(const Image& in) {
  Image out = in;
  for (int y = 0; y < in.height; ++y) {
    for (int x = 0; x < in.width; ++x) {
      for (int c = 0; c < 3; ++c) out.Row(y)[3 * x + c] = in.Row(y)[3 * (in.width - 1 - x) + c];
    }
  }
  return out;
}

// predict.py's update_orientation, step by step.
Image Reference(Image image, int orientation) {
  const int o = orientation - 1;
  if (o >= 4) image = Transpose(image);
  if (o == 2 || o == 3 || o == 6 || o == 7) image = FlipTopBottom(image);
  if (o == 1 || o == 2 || o == 5 || o == 6) image = FlipLeftRight(image);
  return image;
}

// The source pixel that lands at output (x, y), read from Numbered().
std::pair<int, int> SourceOf(const Image& out, int x, int y) {
  const uint8_t* p = out.Row(y) + 3 * x;
  return {p[0], p[1]};
}

TEST(OrientationTest, MatchesPredictPyStepByStep) {
  for (int orientation : {-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 65535}) {
    for (auto [w, h] : {std::pair{3, 2}, std::pair{1, 5}, std::pair{70, 45}, std::pair{33, 97}}) {
      const Image in = Numbered(w, h);
      const Image got = ApplyExifOrientation(in, orientation);
      const Image want = Reference(in, orientation);
      EXPECT_EQ(got.width, want.width) << orientation;
      EXPECT_EQ(got.height, want.height) << orientation;
      EXPECT_EQ(got.pixels, want.pixels) << "orientation " << orientation << " " << w << "x" << h;
    }
  }
}

TEST(OrientationTest, StandardMeanings) {
  const Image in = Numbered(4, 3);  // 4 wide, 3 high
  // 3: rotate 180. Output (0,0) is the source's bottom-right.
  EXPECT_EQ(SourceOf(ApplyExifOrientation(in, 3), 0, 0), std::make_pair(3, 2));
  // 6: rotate 90 clockwise to view: output is 3x4, its top-left is the
  // source's bottom-left.
  const Image r6 = ApplyExifOrientation(in, 6);
  EXPECT_EQ(r6.width, 3);
  EXPECT_EQ(SourceOf(r6, 0, 0), std::make_pair(0, 2));
  EXPECT_EQ(SourceOf(r6, 2, 0), std::make_pair(0, 0));
  // 8: rotate 90 counter-clockwise: top-left is the source's top-right.
  EXPECT_EQ(SourceOf(ApplyExifOrientation(in, 8), 0, 0), std::make_pair(3, 0));
  // 2: mirror; 4: flip; 5: transpose; 7: transverse.
  EXPECT_EQ(SourceOf(ApplyExifOrientation(in, 2), 0, 0), std::make_pair(3, 0));
  EXPECT_EQ(SourceOf(ApplyExifOrientation(in, 4), 0, 0), std::make_pair(0, 2));
  EXPECT_EQ(SourceOf(ApplyExifOrientation(in, 5), 2, 1), std::make_pair(1, 2));
  EXPECT_EQ(SourceOf(ApplyExifOrientation(in, 7), 0, 0), std::make_pair(3, 2));
  // 9 is not valid EXIF, but predict.py transposes it (9 - 1 >= 4).
  EXPECT_EQ(SourceOf(ApplyExifOrientation(in, 9), 2, 1), std::make_pair(1, 2));
}

TEST(OrientationTest, NoOpValuesLeaveTheImageAlone) {
  for (int orientation : {-1, 0, 1}) {
    EXPECT_FALSE(OrientationChangesImage(orientation));
    const Image in = Numbered(5, 4);
    EXPECT_EQ(ApplyExifOrientation(in, orientation).pixels, in.pixels);
  }
  for (int orientation : {2, 3, 4, 5, 6, 7, 8, 9, 100}) {
    EXPECT_TRUE(OrientationChangesImage(orientation)) << orientation;
  }
}

TEST(OrientationTest, ReferenceAppliesOrientationOnlyToRgbFiles) {
  DecodedImage d;
  d.exif_orientation = 6;
  d.source_mode = "RGB";
  EXPECT_EQ(ReferenceOrientation(d), 6);
  for (const char* mode : {"L", "P", "RGBA", "LA", "CMYK", "I", "1"}) {
    d.source_mode = mode;
    EXPECT_EQ(ReferenceOrientation(d), -1) << mode;
  }
}

// The 8 stored variants of one photo come out upright (up to JPEG noise).
TEST(OrientationTest, RealVariantsComeOutUpright) {
  Result<DecodedImage> upright = Decode(ReadBytes(TestData("images/exif/orientation_1.jpg")));
  ASSERT_TRUE(upright.ok());
  for (int v = 2; v <= 8; ++v) {
    Result<DecodedImage> d =
        Decode(ReadBytes(TestData("images/exif/orientation_" + std::to_string(v) + ".jpg")));
    ASSERT_TRUE(d.ok()) << v;
    const Image im = ApplyExifOrientation(d->rgb, ReferenceOrientation(*d));
    ASSERT_EQ(im.width, upright->rgb.width) << v;
    ASSERT_EQ(im.height, upright->rgb.height) << v;
    double sum = 0;
    for (size_t i = 0; i < im.pixels.size(); ++i) {
      sum += std::abs(im.pixels[i] - upright->rgb.pixels[i]);
    }
    EXPECT_LT(sum / im.pixels.size(), 4.0) << "orientation " << v;  // re-encoding noise
    if (d->rgb.width == upright->rgb.width) {  // 2, 3, 4: left as stored, it is far off
      double raw = 0;
      for (size_t i = 0; i < im.pixels.size(); ++i) {
        raw += std::abs(d->rgb.pixels[i] - upright->rgb.pixels[i]);
      }
      EXPECT_GT(raw / im.pixels.size(), 15.0) << "orientation " << v;
    }
  }
}

// A mode "I" plane moves its samples exactly as an RGB image moves its
// pixels: each sample is its own index, and the oriented plane must hold at
// every place the index the RGB image's pixel there came from.
TEST(OrientationTest, PlaneMovesLikeAnImage) {
  const int w = 7, h = 4;
  Image index_image;
  index_image.Reshape(w, h);
  PlaneI32 plane;
  plane.Reshape(w, h);
  for (int i = 0; i < w * h; ++i) {
    index_image.pixels[3 * i] = static_cast<uint8_t>(i);
    index_image.pixels[3 * i + 1] = index_image.pixels[3 * i + 2] = 0;
    plane.samples[i] = 70000 + i;  // beyond 16 bits: whole samples move
  }
  for (int o = 0; o <= 9; ++o) {
    Image want;
    ApplyExifOrientationInto(index_image, o, &want);
    PlaneI32 got;
    ApplyExifOrientationInto(plane, o, &got);
    ASSERT_EQ(got.width, want.width) << o;
    ASSERT_EQ(got.height, want.height) << o;
    for (int i = 0; i < got.width * got.height; ++i) {
      ASSERT_EQ(got.samples[i], 70000 + want.pixels[3 * i]) << "orientation " << o << " at " << i;
    }
  }
}

}  // namespace
}  // namespace edgevision::image
