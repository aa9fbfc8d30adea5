// Decoding every format and PIL's conversions to RGB; hostile input.
//
// Exact pixel parity with PIL for every file in tests/data/images is checked
// by image_parity_test (SHA-256 of PIL's decode). These tests pin the
// semantics with relations between files made from the same pixels (see
// tests/parity/make_test_images.py) and check failure modes.
#include "image/decode.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "test_support.h"

namespace edgevision::image {
namespace {

using ::edgevision::testing::Export;
using ::edgevision::testing::ReadBytes;
using ::edgevision::testing::TestData;
using ::testing::HasSubstr;

std::vector<uint8_t> Bytes(const std::string& relative) {
  std::vector<uint8_t> bytes = ReadBytes(TestData("images/" + relative));
  EXPECT_FALSE(bytes.empty()) << "missing test image " << relative;
  return bytes;
}

DecodedImage MustDecode(const std::string& relative) {
  Result<DecodedImage> d = Decode(Bytes(relative));
  EXPECT_TRUE(d.ok()) << relative << ": " << d.status().ToString();
  return d.ok() ? std::move(d).value() : DecodedImage{};
}

bool SamePixels(const Image& a, const Image& b) {
  return a.width == b.width && a.height == b.height && a.pixels == b.pixels;
}

Image Crop(const Image& in, int w, int h) {
  Image out;
  out.width = w;
  out.height = h;
  for (int y = 0; y < h; ++y) {
    out.pixels.insert(out.pixels.end(), in.Row(y), in.Row(y) + 3 * w);
  }
  return out;
}

bool AllGrey(const Image& im) {
  for (size_t i = 0; i < im.pixels.size(); i += 3) {
    if (im.pixels[i] != im.pixels[i + 1] || im.pixels[i] != im.pixels[i + 2]) return false;
  }
  return true;
}

TEST(DecodeTest, JpegRgb) {
  Result<DecodedImage> d =
      Decode(ReadBytes(Export("iotedge-applebanana-tf") / "images/apple1.jpg"));
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->format, "jpeg");
  EXPECT_EQ(d->source_mode, "RGB");
  EXPECT_EQ(d->rgb.width, 234);
  EXPECT_EQ(d->rgb.height, 266);
  EXPECT_EQ(d->rgb.pixels.size(), 234u * 266u * 3u);
  EXPECT_EQ(d->exif_orientation, -1);
}

TEST(DecodeTest, JpegVariantsAllDecode) {
  for (const char* name : {"progressive.jpg", "restart.jpg", "subsampling_422.jpg",
                           "subsampling_444.jpg", "odd_61x37.jpg"}) {
    DecodedImage d = MustDecode(std::string("jpeg/") + name);
    EXPECT_EQ(d.source_mode, "RGB") << name;
  }
  EXPECT_EQ(MustDecode("jpeg/odd_61x37.jpg").rgb.width, 61);
}

TEST(DecodeTest, GreyJpegIsReplicated) {
  DecodedImage d = MustDecode("jpeg/grey.jpg");
  EXPECT_EQ(d.source_mode, "L");
  EXPECT_TRUE(AllGrey(d.rgb));
}

TEST(DecodeTest, CmykAndYcckJpegs) {
  DecodedImage cmyk = MustDecode("jpeg/cmyk.jpg");
  DecodedImage ycck = MustDecode("jpeg/ycck.jpg");
  DecodedImage rgb = MustDecode("jpeg/subsampling_444.jpg");  // same source pixels
  EXPECT_EQ(cmyk.source_mode, "CMYK");
  EXPECT_EQ(ycck.source_mode, "CMYK");
  ASSERT_EQ(cmyk.rgb.pixels.size(), rgb.rgb.pixels.size());
  // Lossy copies of one picture: close, and far from the inverted picture a
  // wrong CMYK polarity would give.
  for (const DecodedImage* d : {&cmyk, &ycck}) {
    double sum = 0;
    for (size_t i = 0; i < rgb.rgb.pixels.size(); ++i) {
      sum += std::abs(d->rgb.pixels[i] - rgb.rgb.pixels[i]);
    }
    EXPECT_LT(sum / rgb.rgb.pixels.size(), 6.0);
  }
}

TEST(DecodeTest, OnePixelImages) {
  for (const char* name : {"jpeg/one_pixel.jpg", "png/one_pixel.png"}) {
    DecodedImage d = MustDecode(name);
    EXPECT_EQ(d.rgb.width, 1) << name;
    EXPECT_EQ(d.rgb.height, 1) << name;
    EXPECT_EQ(d.rgb.pixels.size(), 3u) << name;
  }
}

TEST(DecodeTest, PngModes) {
  const struct {
    const char* file;
    const char* mode;
  } cases[] = {
      {"png/rgb.png", "RGB"},           {"png/rgba.png", "RGBA"}, {"png/grey.png", "L"},
      {"png/grey1.png", "1"},           {"png/grey16.png", "I"},  {"png/grey_alpha.png", "LA"},
      {"png/grey_alpha16.png", "RGBA"}, {"png/palette.png", "P"}, {"png/rgb16.png", "RGB"},
      {"png/rgba16.png", "RGBA"},
  };
  for (const auto& c : cases) {
    DecodedImage d = MustDecode(c.file);
    EXPECT_EQ(d.format, "png") << c.file;
    EXPECT_EQ(d.source_mode, c.mode) << c.file;
  }
}

// The generator wrote these from the same 90x90 pixels (or their grey
// version); PIL drops alpha and keeps 16-bit samples' high bytes.
TEST(DecodeTest, PngConversionsMatchTheirEightBitOriginal) {
  const Image rgb = MustDecode("png/rgb.png").rgb;
  const Image grey = MustDecode("png/grey.png").rgb;
  EXPECT_TRUE(SamePixels(MustDecode("png/rgba.png").rgb, rgb));
  EXPECT_TRUE(SamePixels(MustDecode("png/rgb16.png").rgb, rgb));
  EXPECT_TRUE(SamePixels(MustDecode("png/rgba16.png").rgb, rgb));
  EXPECT_TRUE(SamePixels(MustDecode("png/rgb_trns.png").rgb, rgb));
  EXPECT_TRUE(SamePixels(MustDecode("png/grey_alpha.png").rgb, grey));
  EXPECT_TRUE(SamePixels(MustDecode("png/grey_alpha16.png").rgb, grey));
  EXPECT_TRUE(SamePixels(MustDecode("png/grey_trns.png").rgb, grey));
  EXPECT_TRUE(SamePixels(MustDecode("png/interlaced_rgb.png").rgb, Crop(rgb, 53, 37)));
  EXPECT_TRUE(
      SamePixels(MustDecode("png/palette_trns.png").rgb, MustDecode("png/palette.png").rgb));
  EXPECT_TRUE(AllGrey(grey));
}

TEST(DecodeTest, PngLowBitDepthGreyIsScaled) {
  const struct {
    const char* file;
    int step;
  } cases[] = {{"png/grey1.png", 255}, {"png/grey2.png", 85}, {"png/grey4.png", 17}};
  for (const auto& c : cases) {
    DecodedImage d = MustDecode(c.file);
    EXPECT_TRUE(AllGrey(d.rgb)) << c.file;
    bool has_zero = false, has_max = false;
    for (uint8_t v : d.rgb.pixels) {
      EXPECT_EQ(v % c.step, 0) << c.file << " value " << int{v};
      has_zero |= v == 0;
      has_max |= v == 255;
    }
    EXPECT_TRUE(has_max) << c.file;
    (void)has_zero;
  }
}

// PIL opens 16-bit grey as mode "I"; convert("RGB") clips to 255.
TEST(DecodeTest, PngSixteenBitGreyIsClipped) {
  DecodedImage full = MustDecode("png/grey16.png");  // v * 257: everything but 0 clips
  for (uint8_t v : full.rgb.pixels) EXPECT_TRUE(v == 0 || v == 255) << int{v};
  // v * 3 / 2: values below 256 survive, the rest clip. Compare to grey.png.
  DecodedImage low = MustDecode("png/grey16_low.png");
  const Image grey = MustDecode("png/grey.png").rgb;
  ASSERT_EQ(low.rgb.pixels.size(), grey.pixels.size());
  for (size_t i = 0; i < grey.pixels.size(); ++i) {
    const int expected = std::min(255, grey.pixels[i] * 3 / 2);
    ASSERT_EQ(low.rgb.pixels[i], expected) << "sample " << i;
  }
}

// Indices beyond a short PLTE read as grey (i, i, i), as in PIL's palette.
TEST(DecodeTest, PngShortPaletteReadsMissingEntriesAsGrey) {
  DecodedImage d = MustDecode("png/palette_short.png");  // 6 entries, indices 0..15
  const uint8_t palette[6][3] = {{200, 30, 30}, {30, 200, 30}, {30, 30, 200},
                                 {250, 250, 0}, {0, 0, 0},     {255, 255, 255}};
  bool saw_missing = false;
  for (size_t i = 0; i < d.rgb.pixels.size(); i += 3) {
    const uint8_t* p = &d.rgb.pixels[i];
    bool in_palette = false;
    for (const auto& e : palette) in_palette |= p[0] == e[0] && p[1] == e[1] && p[2] == e[2];
    if (!in_palette) {
      EXPECT_TRUE(p[0] == p[1] && p[1] == p[2] && p[0] >= 6 && p[0] < 16)
          << int{p[0]} << "," << int{p[1]} << "," << int{p[2]};
      saw_missing = true;
    }
  }
  EXPECT_TRUE(saw_missing);
}

TEST(DecodeTest, PngInterlacedVariants) {
  EXPECT_EQ(MustDecode("png/interlaced_palette2.png").rgb.width, 31);
  DecodedImage rgba16 = MustDecode("png/interlaced_rgba16.png");
  EXPECT_EQ(rgba16.rgb.width, 23);
  EXPECT_EQ(rgba16.rgb.height, 19);
}

TEST(DecodeTest, GifFirstFrame) {
  const Image palette = MustDecode("gif/palette.gif").rgb;
  EXPECT_EQ(MustDecode("gif/palette.gif").source_mode, "P");
  EXPECT_TRUE(SamePixels(MustDecode("gif/transparent.gif").rgb, palette));
  EXPECT_TRUE(SamePixels(MustDecode("gif/animated.gif").rgb, palette));
  EXPECT_TRUE(SamePixels(MustDecode("gif/interlaced_local_palette.gif").rgb, palette));
  DecodedImage grey = MustDecode("gif/no_palette.gif");
  EXPECT_EQ(grey.source_mode, "L");
  EXPECT_TRUE(AllGrey(grey.rgb));
}

TEST(DecodeTest, GifCanvasOutsideTheFrameHoldsTheTransparentIndex) {
  // 120x100 screen, an 80x70 frame at (17, 9), transparent index 7.
  DecodedImage d = MustDecode("gif/frame_offset_transparent.gif");
  ASSERT_EQ(d.rgb.width, 120);
  ASSERT_EQ(d.rgb.height, 100);
  const uint8_t* corner = d.rgb.Row(0);
  const uint8_t* far = d.rgb.Row(99) + 3 * 119;
  EXPECT_EQ(std::vector<uint8_t>(corner, corner + 3), std::vector<uint8_t>(far, far + 3));
  // Grows the canvas when the frame reaches beyond the logical screen.
  DecodedImage beyond = MustDecode("gif/frame_beyond_screen.gif");
  EXPECT_EQ(beyond.rgb.width, 80);
  EXPECT_EQ(beyond.rgb.height, 80);
}

TEST(DecodeTest, Bmp) {
  const Image rgb = MustDecode("png/rgb.png").rgb;  // same source pixels
  DecodedImage bmp24 = MustDecode("bmp/rgb24.bmp");
  EXPECT_EQ(bmp24.format, "bmp");
  EXPECT_TRUE(SamePixels(bmp24.rgb, rgb));
  EXPECT_TRUE(SamePixels(MustDecode("bmp/rgba32.bmp").rgb, rgb));
  EXPECT_TRUE(SamePixels(MustDecode("bmp/palette8.bmp").rgb, MustDecode("png/palette.png").rgb));
  EXPECT_TRUE(SamePixels(MustDecode("bmp/grey8.bmp").rgb, MustDecode("png/grey.png").rgb));
  EXPECT_TRUE(SamePixels(MustDecode("bmp/rgb24_top_down.bmp").rgb, rgb));
  // 16-bit: PIL widens each field with v * 255 / max.
  const Image p555 = MustDecode("bmp/rgb555.bmp").rgb;
  const Image p565 = MustDecode("bmp/rgb565_top_down.bmp").rgb;
  ASSERT_EQ(p555.pixels.size(), rgb.pixels.size());
  ASSERT_EQ(p565.pixels.size(), rgb.pixels.size());
  for (size_t i = 0; i < rgb.pixels.size(); ++i) {
    const int v = rgb.pixels[i];
    ASSERT_EQ(p555.pixels[i], (v >> 3) * 255 / 31) << i;
    ASSERT_EQ(p565.pixels[i], i % 3 == 1 ? (v >> 2) * 255 / 63 : (v >> 3) * 255 / 31) << i;
  }
  DecodedImage mono = MustDecode("bmp/mono1.bmp");
  for (uint8_t v : mono.rgb.pixels) EXPECT_TRUE(v == 0 || v == 255);
}

// RLE and the other layouts of tests/data/images/corpus/bmp (made from the
// same picture by tests/parity/make_decoder_corpus.py); pixel parity with
// PIL itself is checked by tests/parity/compare_decoders.py.
TEST(DecodeTest, BmpRleAndLayoutsDecodeToTheSamePicture) {
  const Image pal8 = MustDecode("corpus/bmp/pal8.bmp").rgb;
  ASSERT_EQ(pal8.width, 37);
  for (const char* name : {"rle8.bmp", "rle8_top_down.bmp", "rle8_os2v2.bmp", "pal8_top_down.bmp",
                           "os2v1_pal8.bmp", "os2v2_pal8.bmp", "pal8_offset_0.bmp",
                           "pal8_last_row_unpadded.bmp", "pal8_colors_0.bmp"}) {
    EXPECT_TRUE(SamePixels(MustDecode(std::string("corpus/bmp/") + name).rgb, pal8)) << name;
  }
  const Image pal4 = MustDecode("corpus/bmp/pal4.bmp").rgb;
  for (const char* name : {"rle4.bmp", "rle4_top_down.bmp", "os2v1_pal4.bmp"}) {
    EXPECT_TRUE(SamePixels(MustDecode(std::string("corpus/bmp/") + name).rgb, pal4)) << name;
  }
  const Image rgb24 = MustDecode("corpus/bmp/rgb24_v5.bmp").rgb;
  for (const char* name : {"os2v1_rgb24.bmp", "os2v2_rgb24.bmp", "rgb24_bitfields.bmp", "rgb32_bgrx.bmp",
                           "rgb32_bitfields_bgrx_v3.bmp", "rgb32_bitfields_xbgr_v4.bmp",
                           "rgba32_bitfields_abgr_v4.bmp", "rgba32_bitfields_rgba_v5.bmp",
                           "rgba32_bitfields_bgra_v5.bmp"}) {
    EXPECT_TRUE(SamePixels(MustDecode(std::string("corpus/bmp/") + name).rgb, rgb24)) << name;
  }
  EXPECT_EQ(MustDecode("corpus/bmp/rle8.bmp").source_mode, "P");
  EXPECT_EQ(MustDecode("corpus/bmp/rle8_grey.bmp").source_mode, "L");
  EXPECT_EQ(MustDecode("corpus/bmp/pal1_black_white.bmp").source_mode, "1");
  EXPECT_EQ(MustDecode("corpus/bmp/rgba32_bitfields_bgra_v5.bmp").source_mode, "RGBA");
  // A 4-bit file whose palette is the grey ramp 0..15: PIL drops the palette
  // and reads each byte as one "L" pixel.
  DecodedImage ramp = MustDecode("corpus/bmp/pal4_grey_ramp.bmp");
  EXPECT_EQ(ramp.source_mode, "L");
  EXPECT_EQ(ramp.rgb.Row(1)[0], 0x01);  // bottom-up: the first file row is the last image row
  EXPECT_EQ(ramp.rgb.Row(1)[3], 0x23);
  EXPECT_EQ(ramp.rgb.Row(0)[3], 0x67);
}

// PIL's RLE decoder, quirk for quirk (the 4xN files are written byte by byte).
TEST(DecodeTest, BmpRleEscapesAsPil) {
  auto indices = [](const Image& im) {  // palette (20,40,90) -> 0, (240,200,120) -> 1, grey i -> i
    std::vector<int> out;
    for (size_t i = 0; i < im.pixels.size(); i += 3) {
      const uint8_t* p = &im.pixels[i];
      out.push_back(p[0] == 20 && p[1] == 40 ? 0 : p[0] == 240 && p[1] == 200 ? 1 : 100 + p[0]);
    }
    return out;
  };
  // Delta: PIL skips two bytes, then takes (right, up) from the next two.
  EXPECT_EQ(indices(MustDecode("corpus/bmp/rle8_delta.bmp").rgb),
            (std::vector<int>{107, 107, 107, 107, 0, 0, 0, 0, 1, 1, 0, 0}));
  // A literal run longer than the row wraps into the next row.
  EXPECT_EQ(indices(MustDecode("corpus/bmp/rle8_absolute_wraps.bmp").rgb),
            (std::vector<int>{0, 1, 0, 0, 1, 1, 0, 1}));
  // An encoded run past the row end is clipped to it.
  EXPECT_EQ(indices(MustDecode("corpus/bmp/rle8_run_clipped.bmp").rgb), (std::vector<int>{0, 0, 1, 1, 1, 1, 1, 1}));
  for (const char* name : {"rle8_early_end.bmp", "rle8_truncated.bmp", "rle8_delta_cut.bmp",
                           "rle8_mono_palette.bmp", "rle8_rgb24.bmp", "pal2.bmp", "pal8_300_colors.bmp",
                           "pal4_grey_ramp_wide.bmp", "rgb16_444_bitfields.bmp", "rgb24_bad_header_56.bmp",
                           "rgb24_jpeg_compression.bmp", "pal8_truncated.bmp"}) {
    Result<DecodedImage> d = Decode(Bytes(std::string("corpus/bmp/") + name));
    ASSERT_FALSE(d.ok()) << name << " decodes, PIL refuses it";
    EXPECT_THAT(d.status().message(), HasSubstr("bmp")) << name;
  }
  Result<DecodedImage> huge = Decode(Bytes("corpus/bmp/rgb24_huge_negative_height.bmp"));
  ASSERT_FALSE(huge.ok());
  EXPECT_EQ(huge.status().code(), StatusCode::kResourceExhausted);
}

TEST(DecodeTest, Webp) {
  const Image rgb = MustDecode("png/rgb.png").rgb;
  DecodedImage lossless = MustDecode("webp/lossless.webp");
  EXPECT_EQ(lossless.format, "webp");
  EXPECT_EQ(lossless.source_mode, "RGB");
  EXPECT_TRUE(SamePixels(lossless.rgb, rgb));
  EXPECT_EQ(MustDecode("webp/lossy.webp").source_mode, "RGB");
  EXPECT_EQ(MustDecode("webp/lossy_alpha.webp").source_mode, "RGBA");
  DecodedImage animated = MustDecode("webp/animated.webp");
  EXPECT_EQ(animated.rgb.width, 90);
}

TEST(DecodeTest, ExifOrientationIsReadFromEveryCarrier) {
  for (int v = 0; v <= 9; ++v) {
    DecodedImage d = MustDecode("exif/orientation_" + std::to_string(v) + ".jpg");
    EXPECT_EQ(d.exif_orientation, v);
    EXPECT_EQ(d.source_mode, "RGB");
  }
  EXPECT_EQ(MustDecode("exif/orientation_3_in_exif_ifd.jpg").exif_orientation, 3);
  EXPECT_EQ(MustDecode("png/rgb_orientation_6.png").exif_orientation, 6);
  EXPECT_EQ(MustDecode("png/rgba_orientation_6.png").exif_orientation, 6);
  EXPECT_EQ(MustDecode("png/rgb_raw_profile_orientation_8.png").exif_orientation, 8);
  EXPECT_EQ(MustDecode("webp/lossy_orientation_6.webp").exif_orientation, 6);
  DecodedImage grey = MustDecode("jpeg/grey_orientation_6.jpg");
  EXPECT_EQ(grey.exif_orientation, 6);
  EXPECT_EQ(grey.source_mode, "L");
  // Real food photos carry Orientation 0 and 1, or none.
  const auto food = Export("winml-food-onnx") / "images";
  EXPECT_EQ(Decode(ReadBytes(food / "Cheesecake/2730999.jpg"))->exif_orientation, 0);
  EXPECT_EQ(Decode(ReadBytes(food / "Cheesecake/2817310.jpg"))->exif_orientation, 1);
  EXPECT_EQ(Decode(ReadBytes(food / "Fries/1781706.jpg"))->exif_orientation, -1);
  EXPECT_EQ(MustDecode("png/rgb.png").exif_orientation, -1);
}

TEST(DecodeTest, EmptyTextAndGarbageAreInvalidArgument) {
  for (const char* name :
       {"bad/empty.bin", "bad/text.txt", "bad/garbage_after_soi.jpg", "bad/header_only.jpg"}) {
    Result<DecodedImage> d = Decode(ReadBytes(TestData(std::string("images/") + name)));
    ASSERT_FALSE(d.ok()) << name;
    EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument) << name << d.status().ToString();
  }
  EXPECT_THAT(Decode({}).status().message(), HasSubstr("empty"));
  EXPECT_THAT(Decode(Bytes("bad/text.txt")).status().message(), HasSubstr("unrecognised"));
}

TEST(DecodeTest, TruncatedFilesOfEveryFormatAreInvalidArgument) {
  for (const char* name : {"bad/truncated.jpg", "bad/truncated.png", "bad/truncated.gif",
                           "bad/truncated.webp", "bad/truncated.bmp"}) {
    Result<DecodedImage> d = Decode(Bytes(name));
    ASSERT_FALSE(d.ok()) << name;
    EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument) << name << d.status().ToString();
  }
  EXPECT_THAT(Decode(Bytes("bad/truncated.jpg")).status().message(), HasSubstr("jpeg"));
}

// Every prefix of a valid file: no crash; prefixes missing pixel data fail.
TEST(DecodeTest, EveryPrefixFailsCleanly) {
  for (const char* name :
       {"jpeg/progressive.jpg", "jpeg/restart.jpg", "png/rgb.png", "png/interlaced_rgb.png",
        "png/palette4.png", "gif/palette.gif", "gif/interlaced_local_palette.gif", "bmp/rgb24.bmp",
        "bmp/palette8.bmp", "webp/lossy.webp", "webp/lossless.webp", "webp/animated.webp"}) {
    const std::vector<uint8_t> full = Bytes(name);
    const size_t step = std::max<size_t>(1, full.size() / 97);
    for (size_t n = 0; n + 16 < full.size() * 9 / 10; n += step) {
      std::span<const uint8_t> prefix(full.data(), n);
      Result<DecodedImage> d = Decode(prefix);
      EXPECT_FALSE(d.ok()) << name << " prefix " << n;
      if (!d.ok()) {
        EXPECT_TRUE(d.status().code() == StatusCode::kInvalidArgument ||
                    d.status().code() == StatusCode::kUnsupported)
            << name << " prefix " << n << ": " << d.status().ToString();
      }
    }
  }
}

// Random byte corruption: any outcome but a crash (run under ASan/UBSan).
TEST(DecodeTest, CorruptedBytesNeverCrash) {
  std::mt19937 rng(20240601);
  for (const char* name :
       {"jpeg/progressive.jpg", "jpeg/subsampling_444.jpg", "jpeg/cmyk.jpg", "png/rgb.png",
        "png/interlaced_rgba16.png", "png/palette.png", "gif/frame_offset_transparent.gif",
        "bmp/palette8.bmp", "webp/lossy_alpha.webp", "webp/animated.webp",
        "exif/orientation_6.jpg"}) {
    const std::vector<uint8_t> original = Bytes(name);
    for (int trial = 0; trial < 60; ++trial) {
      std::vector<uint8_t> bytes = original;
      const int flips = 1 + static_cast<int>(rng() % 8);
      for (int i = 0; i < flips; ++i) {
        // Keep the magic so the format's decoder runs.
        const size_t at = 4 + rng() % (bytes.size() - 4);
        bytes[at] = static_cast<uint8_t>(rng());
      }
      Result<DecodedImage> d = Decode(bytes);
      if (d.ok()) {
        EXPECT_EQ(d->rgb.pixels.size(), static_cast<size_t>(d->rgb.width) * d->rgb.height * 3);
      }
    }
  }
}

TEST(DecodeTest, BombHeadersAreRefusedBeforeDecoding) {
  for (const char* name :
       {"bad/bomb_20000x20000.jpg", "bad/bomb_20000x20000.png", "bad/bomb_65535x65535.gif",
        "bad/bomb_20000x20000.bmp", "bad/bomb_16384x16384.webp"}) {
    Result<DecodedImage> d = Decode(Bytes(name));
    ASSERT_FALSE(d.ok()) << name;
    EXPECT_EQ(d.status().code(), StatusCode::kResourceExhausted) << name << d.status().ToString();
    EXPECT_THAT(d.status().message(), HasSubstr("limit")) << name;
  }
}

TEST(DecodeTest, LimitsAreApplied) {
  const std::vector<uint8_t> apple =
      ReadBytes(Export("iotedge-applebanana-tf") / "images/apple1.jpg");
  DecodeLimits pixels;
  pixels.max_pixels = 234 * 266 - 1;
  EXPECT_EQ(Decode(apple, pixels).status().code(), StatusCode::kResourceExhausted);
  pixels.max_pixels = 234 * 266;
  EXPECT_TRUE(Decode(apple, pixels).ok());
  DecodeLimits side;
  side.max_dimension = 265;
  EXPECT_THAT(Decode(apple, side).status().message(), HasSubstr("max_dimension"));
  DecodeLimits scans;
  scans.max_jpeg_scans = 2;  // progressive.jpg has more
  Result<DecodedImage> d = Decode(Bytes("jpeg/progressive.jpg"), scans);
  ASSERT_FALSE(d.ok());
  EXPECT_THAT(d.status().message(), HasSubstr("max_jpeg_scans"));
  EXPECT_TRUE(Decode(Bytes("jpeg/restart.jpg"), scans).ok());  // baseline: one scan
}

TEST(DecodeTest, ZeroSizedImageIsInvalidArgument) {
  Result<DecodedImage> d = Decode(Bytes("bad/zero_size.png"));
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(d.status().message(), HasSubstr("no pixels"));
}

TEST(DecodeTest, ReadHeaderDoesNotDecode) {
  const struct {
    const char* file;
    const char* format;
    int w, h;
  } cases[] = {
      {"bad/bomb_20000x20000.jpg", "jpeg", 20000, 20000},
      {"bad/bomb_20000x20000.png", "png", 20000, 20000},
      {"bad/bomb_65535x65535.gif", "gif", 65535, 65535},
      {"bad/bomb_20000x20000.bmp", "bmp", 20000, 20000},
      {"bad/bomb_16384x16384.webp", "webp", 16384, 16384},
      {"exif/orientation_6.jpg", "jpeg", 384, 512},
      {"png/interlaced_rgb.png", "png", 53, 37},
      {"webp/animated.webp", "webp", 90, 90},
  };
  for (const auto& c : cases) {
    Result<ImageHeader> h = ReadHeader(Bytes(c.file));
    ASSERT_TRUE(h.ok()) << c.file << ": " << h.status().ToString();
    EXPECT_EQ(h->format, c.format) << c.file;
    EXPECT_EQ(h->width, c.w) << c.file;
    EXPECT_EQ(h->height, c.h) << c.file;
  }
  EXPECT_FALSE(ReadHeader(Bytes("bad/text.txt")).ok());
  EXPECT_FALSE(ReadHeader({}).ok());
}

}  // namespace
}  // namespace edgevision::image
