// Detector preprocessing against the golden tensors of the shipped code
// (tests/data/detection/golden/tensors.tsv, written by
// tests/parity/make_detector_tensor_golden.py from the exports' own
// object_detection.py / predict.py): the same size and the same float32
// bytes, for both families.
#include "image/detector_preprocess.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <sstream>
#include <string>

#include "core/sha256.h"
#include "test_support.h"

namespace edgevision::image {
namespace {

// The SHA-256 of the tensor's float bytes, as the golden script hashes them.
std::string FloatsSha256(const std::vector<float>& data) {
  return Sha256Hex({reinterpret_cast<const uint8_t*>(data.data()), data.size() * sizeof(float)});
}

TEST(YoloInputSizeTest, FollowsCalculateTargetDimensions) {
  EXPECT_EQ(YoloInputSize(608, 448), (Size2D{608, 448}));
  EXPECT_EQ(YoloInputSize(512, 512), (Size2D{512, 512}));
  EXPECT_EQ(YoloInputSize(224, 224), (Size2D{512, 512}));
  // ratio = sqrt(262144 / 640 / 480) = 0.9238; int(591.2) = 591 -> 608, int(443.4) = 443 -> 448
  EXPECT_EQ(YoloInputSize(640, 480), (Size2D{608, 448}));
  EXPECT_EQ(YoloInputSize(1920, 1080), (Size2D{704, 384}));
  // A 1-pixel-high strip: int(0.93) = 0 (the reference then fails in PIL).
  EXPECT_EQ(YoloInputSize(300000, 1).height, 0);
}

TEST(DetectorPreprocessTest, ExtremeAspectRatioIsRefused) {
  DecodedImage strip;
  strip.rgb.width = 20000;
  strip.rgb.height = 2;
  strip.rgb.pixels.assign(20000 * 2 * 3, 128);
  Result<Tensor> t = PreprocessYolo(std::move(strip), ColorOrder::kBGR);
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
}

TEST(DetectorPreprocessTest, TensorsAreTheShippedCodesBytes) {
  std::ifstream tsv(edgevision::testing::TestData("detection/golden/tensors.tsv"));
  ASSERT_TRUE(tsv.good());
  std::string line;
  int checked = 0;
  while (std::getline(tsv, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream row(line);
    std::string path, family, sha;
    int height = 0, width = 0;
    row >> path >> family >> height >> width >> sha;
    SCOPED_TRACE(path + " " + family);
    auto bytes = edgevision::testing::ReadBytes(edgevision::testing::SourceDir() / path);
    ASSERT_FALSE(bytes.empty());
    Result<DecodedImage> decoded = Decode(bytes);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    Result<Tensor> t = family == "yolo" ? PreprocessYolo(std::move(*decoded), ColorOrder::kBGR)
                                        : PreprocessStretch(std::move(*decoded), 320, 320, ColorOrder::kRGB);
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    EXPECT_EQ(t->height, height);
    EXPECT_EQ(t->width, width);
    EXPECT_EQ(t->channels, 3);
    EXPECT_EQ(FloatsSha256(t->data), sha);
    ++checked;
  }
  EXPECT_EQ(checked, 16);
}

}  // namespace
}  // namespace edgevision::image
