#include "image/preprocess.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "test_support.h"

namespace edgevision::image {
namespace {

using ::edgevision::testing::Export;
using ::edgevision::testing::ReadBytes;
using ::testing::HasSubstr;

PreprocessSpec Spec(int size) {
  PreprocessSpec s;
  s.input_width = s.input_height = size;
  return s;
}

Image Random(int w, int h, uint32_t seed) {
  std::mt19937 rng(seed);
  Image im;
  im.width = w;
  im.height = h;
  im.pixels.resize(static_cast<size_t>(w) * h * 3);
  for (auto& v : im.pixels) v = static_cast<uint8_t>(rng());
  return im;
}

// predict.py's extract_and_resize + crop_center, ported line by line (no
// precomputation), in BGR.
std::vector<float> ReferenceTensor(const Image& rgb, int crop) {
  const int rows = rgb.height, cols = rgb.width, target = 256;
  const long determinant = static_cast<long>(cols) * target - static_cast<long>(rows) * target;
  double ratio;
  int x_origin = 0, y_origin = 0;
  if (determinant < 0) {
    ratio = static_cast<double>(cols) / target;
    y_origin = static_cast<int>(0.5 * (rows - ratio * target));
  } else if (determinant > 0) {
    ratio = static_cast<double>(rows) / target;
    x_origin = static_cast<int>(0.5 * (cols - ratio * target));
  } else {
    ratio = static_cast<double>(rows) / target;
  }
  std::vector<float> full(static_cast<size_t>(target) * target * 3);
  for (int y = 0; y < target; ++y) {
    for (int x = 0; x < target; ++x) {
      double x_delta = (x + 0.5) * ratio - 0.5;
      int x0 = static_cast<int>(x_delta);
      x_delta -= x0;
      x0 += x_origin;
      int x1;
      if (x0 < 0) {
        x0 = 0, x1 = 0, x_delta = 0.0;
      } else if (x0 >= cols - 1) {
        x0 = cols - 1, x1 = cols - 1, x_delta = 0.0;
      } else {
        x1 = x0 + 1;
      }
      double y_delta = (y + 0.5) * ratio - 0.5;
      int y0 = static_cast<int>(y_delta);
      y_delta -= y0;
      y0 += y_origin;
      int y1;
      if (y0 < 0) {
        y0 = 0, y1 = 0, y_delta = 0.0;
      } else if (y0 >= rows - 1) {
        y0 = rows - 1, y1 = rows - 1, y_delta = 0.0;
      } else {
        y1 = y0 + 1;
      }
      for (int c = 0; c < 3; ++c) {
        const int s = 2 - c;  // BGR
        const double bl = rgb.Row(y0)[3 * x0 + s], br = rgb.Row(y0)[3 * x1 + s];
        const double tl = rgb.Row(y1)[3 * x0 + s], tr = rgb.Row(y1)[3 * x1 + s];
        const double b = x_delta * br + (1. - x_delta) * bl;
        const double t = x_delta * tr + (1. - x_delta) * tl;
        full[(static_cast<size_t>(y) * target + x) * 3 + c] =
            static_cast<float>(y_delta * t + (1. - y_delta) * b);
      }
    }
  }
  const int start = target / 2 - crop / 2;
  std::vector<float> out;
  for (int y = start; y < start + crop; ++y) {
    for (int x = start; x < start + crop; ++x) {
      for (int c = 0; c < 3; ++c)
        out.push_back(full[(static_cast<size_t>(y) * target + x) * 3 + c]);
    }
  }
  return out;
}

TEST(PreprocessTest, MatchesALiteralPortOfPredictPy) {
  uint32_t seed = 1;
  for (auto [w, h] : {std::pair{300, 200}, std::pair{200, 300}, std::pair{256, 256},
                      std::pair{224, 224}, std::pair{100, 50}, std::pair{1, 300},
                      std::pair{1599, 3}, std::pair{513, 511}, std::pair{2, 2}}) {
    const Image im = Random(w, h, seed++);
    for (int crop : {227, 224, 256, 1}) {
      const Tensor t = CropResizeNormalize(im, Spec(crop));
      ASSERT_EQ(t.height, crop);
      ASSERT_EQ(t.width, crop);
      ASSERT_EQ(t.channels, 3);
      const std::vector<float> want = ReferenceTensor(im, crop);
      ASSERT_EQ(t.data.size(), want.size());
      size_t differing = 0;
      for (size_t i = 0; i < want.size(); ++i) differing += t.data[i] != want[i];
      EXPECT_EQ(differing, 0u) << w << "x" << h << " crop " << crop;
    }
  }
}

// Below 256 px the first sample's delta is negative (int() truncates toward
// zero) and predict.py extrapolates past the first pixel.
TEST(PreprocessTest, SmallImagesExtrapolateAtTheEdge) {
  Image im;
  im.width = im.height = 224;
  for (int y = 0; y < 224; ++y) {
    for (int x = 0; x < 224; ++x) im.pixels.insert(im.pixels.end(), {uint8_t(x), 0, 0});
  }
  const Tensor t = CropResizeNormalize(im, Spec(256));
  // x = 0: d = 0.5 * 0.875 - 0.5 = -0.0625, x0 = 0, x1 = 1: R = -0.0625 * 1.
  EXPECT_FLOAT_EQ(t.data[2], -0.0625f);  // BGR: R is channel 2
  EXPECT_LT(t.data[2], 0.0f);
}

TEST(PreprocessTest, OnePixelImageGivesAConstantTensorInBgr) {
  Image im;
  im.width = im.height = 1;
  im.pixels = {10, 20, 30};
  const Tensor t = CropResizeNormalize(im, Spec(227));
  ASSERT_EQ(t.data.size(), 227u * 227u * 3u);
  for (size_t i = 0; i < t.data.size(); i += 3) {
    ASSERT_EQ(t.data[i], 30.0f);
    ASSERT_EQ(t.data[i + 1], 20.0f);
    ASSERT_EQ(t.data[i + 2], 10.0f);
  }
}

TEST(PreprocessTest, RgbOrderAndNormalisation) {
  const Image im = Random(320, 240, 7);
  PreprocessSpec bgr = Spec(224);
  PreprocessSpec rgb = bgr;
  rgb.color = ColorOrder::kRGB;
  const Tensor a = CropResizeNormalize(im, bgr);
  const Tensor b = CropResizeNormalize(im, rgb);
  for (size_t i = 0; i < a.data.size(); i += 3) {
    ASSERT_EQ(a.data[i], b.data[i + 2]);
    ASSERT_EQ(a.data[i + 1], b.data[i + 1]);
  }
  PreprocessSpec norm = rgb;
  norm.scale = 1.0f / 255.0f;
  norm.mean = {0.485f, 0.456f, 0.406f};
  norm.stddev = {0.229f, 0.224f, 0.225f};
  const Tensor n = CropResizeNormalize(im, norm);
  for (size_t i = 0; i < n.data.size(); ++i) {
    const int c = static_cast<int>(i % 3);
    // The library and this test are built with -ffp-contract=off: without it
    // aarch64 GCC fuses this expression into an FMA (tens of ulp off where
    // the subtraction cancels).
    ASSERT_FLOAT_EQ(n.data[i], (b.data[i] * norm.scale - norm.mean[c]) / norm.stddev[c]);
  }
}

TEST(PreprocessTest, ValidateSpec) {
  EXPECT_TRUE(ValidateSpec(Spec(227)).ok());
  EXPECT_TRUE(ValidateSpec(Spec(256)).ok());
  EXPECT_THAT(ValidateSpec(Spec(257)).message(), HasSubstr("resize_to"));
  EXPECT_FALSE(ValidateSpec(Spec(0)).ok());
  PreprocessSpec s = Spec(224);
  s.stddev[1] = 0;
  EXPECT_THAT(ValidateSpec(s).message(), HasSubstr("stddev"));
  s = Spec(224);
  s.mean[0] = NAN;
  EXPECT_FALSE(ValidateSpec(s).ok());
  s = Spec(224);
  s.max_dimension = 0;
  EXPECT_FALSE(ValidateSpec(s).ok());
  EXPECT_TRUE(CropResizeNormalize(Random(10, 10, 1), Spec(300)).data.empty());
  EXPECT_TRUE(CropResizeNormalize(Image{}, Spec(224)).data.empty());
}

TEST(PreprocessTest, PreprocessBytesRunsTheWholePipeline) {
  const std::vector<uint8_t> bytes =
      ReadBytes(Export("iotedge-applebanana-tf") / "images/banana1.jpg");
  Result<Tensor> t = PreprocessBytes(bytes, Spec(227));
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->height, 227);
  EXPECT_EQ(t->width, 227);
  Result<DecodedImage> d = Decode(bytes);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(CropResizeNormalize(d->rgb, Spec(227)).data, t->data);  // small, upright: same path

  EXPECT_EQ(PreprocessBytes(bytes, Spec(300)).status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(PreprocessBytes({}, Spec(227)).status().code(), StatusCode::kInvalidArgument);
  DecodeLimits tiny;
  tiny.max_pixels = 100;
  EXPECT_EQ(PreprocessBytes(bytes, Spec(227), tiny).status().code(),
            StatusCode::kResourceExhausted);
}

TEST(PreprocessTest, OrientationFollowsTheSourceMode) {
  DecodedImage d;
  d.rgb = Random(40, 30, 3);
  d.exif_orientation = 6;
  d.source_mode = "RGB";
  Result<Tensor> rotated = PreprocessDecoded(d, Spec(224));
  d.source_mode = "L";  // predict.py converts first; the copy has no EXIF
  Result<Tensor> kept = PreprocessDecoded(d, Spec(224));
  d.exif_orientation = -1;
  Result<Tensor> plain = PreprocessDecoded(d, Spec(224));
  ASSERT_TRUE(rotated.ok() && kept.ok() && plain.ok());
  EXPECT_EQ(kept->data, plain->data);
  EXPECT_NE(rotated->data, plain->data);
}

TEST(PreprocessTest, ThinImagesThatCannotBeDownscaledFail) {
  DecodedImage d;
  d.rgb = Random(5000, 2, 4);
  d.source_mode = "RGB";
  Result<Tensor> t = PreprocessDecoded(d, Spec(227));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  d.rgb = Random(1599, 1, 5);  // under the limit: no downscale, fine
  EXPECT_TRUE(PreprocessDecoded(d, Spec(227)).ok());
}

// Docker 2.2 resizes RGBA/LA files premultiplied: the decoder keeps their
// alpha aside (and only theirs). Pixel parity is image_parity_test's.
TEST(PreprocessTest, Docker22KeepsAlphaForPremultipliedResizing) {
  const auto bytes = [](const char* rel) {
    return ::edgevision::testing::ReadBytes(::edgevision::testing::TestData(rel));
  };
  Result<DecodedImage> rgba = Decode(bytes("images/png/rgba.png"));
  ASSERT_TRUE(rgba.ok());
  EXPECT_EQ(rgba->alpha.size(), static_cast<size_t>(rgba->rgb.width) * rgba->rgb.height);
  Result<DecodedImage> webp = Decode(bytes("images/webp/lossy_alpha.webp"));
  ASSERT_TRUE(webp.ok());
  EXPECT_EQ(webp->alpha.size(), static_cast<size_t>(webp->rgb.width) * webp->rgb.height);
  Result<DecodedImage> rgb = Decode(bytes("images/png/rgb.png"));
  ASSERT_TRUE(rgb.ok());
  EXPECT_TRUE(rgb->alpha.empty());

  PreprocessSpec d3;
  d3.input_width = d3.input_height = 32;
  d3.geometry = Geometry::kShorterSide;
  d3.pil_order = PilOrder::kConvertLast;
  PreprocessSpec rgb_first = d3;
  rgb_first.pil_order = PilOrder::kConvertFirst;  // D2: RGB first, alpha gone
  Result<Tensor> a = PreprocessBytes(bytes("images/png/rgba.png"), d3);
  Result<Tensor> b = PreprocessBytes(bytes("images/png/rgba.png"), rgb_first);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->data, b->data) << "premultiplying must change a partly transparent image";
}

// The three pipelines a server runs: 2018-2020 exports (BGR 0-255, centre
// square), a modern RGB 0-1 normalised one, and Docker 2.2 (shorter side).
std::vector<PreprocessSpec> ServerSpecs() {
  PreprocessSpec d3 = Spec(64);
  d3.geometry = Geometry::kShorterSide;
  d3.pil_order = PilOrder::kConvertLast;
  PreprocessSpec modern = Spec(224);
  modern.color = ColorOrder::kRGB;
  modern.scale = 1.0f / 255;
  modern.mean = {0.485f, 0.456f, 0.406f};
  modern.stddev = {0.229f, 0.224f, 0.225f};
  return {Spec(227), modern, d3};
}

// A server worker decodes and preprocesses every request into one Workspace:
// the answers are those of the one-shot functions whatever came before, and
// once the buffers have grown, an image allocates nothing.
TEST(PreprocessTest, AReusedWorkspaceGivesTheOneShotResultsWithoutReallocating) {
  const auto bytes = [](const std::string& rel) {
    return ::edgevision::testing::ReadBytes(::edgevision::testing::TestData(rel));
  };
  const std::vector<std::string> files = {
      "images/jpeg/odd_61x37.jpg", "images/jpeg/grey_orientation_6.jpg", "images/png/rgba.png",
      "images/jpeg/cmyk.jpg", "images/gif/palette.gif", "images/jpeg/progressive.jpg",
      "images/webp/lossy_alpha.webp", "images/exif/orientation_6.jpg", "images/exif/orientation_3.jpg",
      "images/large/bilinear_landscape.jpg", "images/large/side_1600.jpg", "images/jpeg/one_pixel.jpg"};
  for (const PreprocessSpec& spec : ServerSpecs()) {
    Workspace ws;
    for (int pass = 0; pass < 2; ++pass) {
      for (const std::string& file : files) {
        SCOPED_TRACE(file);
        const std::vector<uint8_t> b = bytes(file);
        Result<Tensor> want = PreprocessBytes(b, spec);
        ASSERT_TRUE(want.ok()) << want.status().ToString();
        ASSERT_TRUE(DecodeInto(b, {}, &ws.decoded).ok());
        ASSERT_TRUE(PreprocessInto(spec, &ws).ok());
        EXPECT_EQ(ws.tensor.height, want->height);
        EXPECT_EQ(ws.tensor.data, want->data);
      }
    }
    // Grown to the largest image: the same images again reuse every buffer.
    const std::vector<uint8_t> b = bytes("images/large/bilinear_landscape.jpg");
    ASSERT_TRUE(DecodeInto(b, {}, &ws.decoded).ok());
    ASSERT_TRUE(PreprocessInto(spec, &ws).ok());
    const uint8_t* pixels = ws.decoded.rgb.pixels.data();
    const float* tensor = ws.tensor.data.data();
    const size_t capacity = ws.CapacityBytes();
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(DecodeInto(bytes(files[i % 2]), {}, &ws.decoded).ok());
      ASSERT_TRUE(PreprocessInto(spec, &ws).ok());
      ASSERT_TRUE(DecodeInto(b, {}, &ws.decoded).ok());
      ASSERT_TRUE(PreprocessInto(spec, &ws).ok());
    }
    EXPECT_EQ(ws.decoded.rgb.pixels.data(), pixels);
    EXPECT_EQ(ws.tensor.data.data(), tensor);
    EXPECT_EQ(ws.CapacityBytes(), capacity);
    // Trim frees what is larger than the limit, and only that.
    ws.Trim(ws.tensor.data.capacity() * sizeof(float));
    EXPECT_EQ(ws.tensor.data.data(), tensor);
    EXPECT_LE(ws.CapacityBytes(), capacity);
    ws.Trim(0);
    EXPECT_EQ(ws.CapacityBytes(), 0u);
  }
}

// A server worker preprocesses straight into its engine Session's input: the
// same floats as into ws.tensor, which stays unallocated; a target of
// another size is refused before anything is written.
TEST(PreprocessTest, IntoATargetGivesTheTensorsFloatsAndLeavesTheWorkspaceTensorAlone) {
  const auto bytes = [](const std::string& rel) {
    return ::edgevision::testing::ReadBytes(::edgevision::testing::TestData(rel));
  };
  for (const PreprocessSpec& spec : ServerSpecs()) {
    for (const char* file :
         {"images/jpeg/odd_61x37.jpg", "images/exif/orientation_6.jpg", "images/large/bilinear_landscape.jpg"}) {
      SCOPED_TRACE(file);
      const std::vector<uint8_t> b = bytes(file);
      Result<Tensor> want = PreprocessBytes(b, spec);
      ASSERT_TRUE(want.ok()) << want.status().ToString();
      Workspace ws;
      ASSERT_TRUE(DecodeInto(b, {}, &ws.decoded).ok());
      std::vector<float> target(want->data.size(), -1.0f);
      ASSERT_TRUE(PreprocessInto(spec, &ws, target).ok());
      EXPECT_EQ(target, want->data);
      EXPECT_EQ(ws.tensor.data.capacity(), 0u);
      std::vector<float> wrong(want->data.size() - 3, -1.0f);
      const Status refused = PreprocessInto(spec, &ws, wrong);
      EXPECT_EQ(refused.code(), StatusCode::kInvalidArgument) << refused.ToString();
      EXPECT_EQ(wrong, std::vector<float>(want->data.size() - 3, -1.0f));
    }
  }
}

}  // namespace
}  // namespace edgevision::image
