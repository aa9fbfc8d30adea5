// The real sources: FFmpeg on videos Debian's ffmpeg makes from the test
// photos, and a real inotify-watched directory.
#include "stream/source.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "engine/xnnpack_backend.h"
#include "image/decode.h"
#include "image/draw.h"
#include "model/model.h"
#include "predict/classifier.h"
#include "stream/directory_source.h"
#include "stream/ffmpeg_module.h"
#include "stream/testing/test_video.h"

namespace edgevision::stream {
namespace {

namespace fs = std::filesystem;
using edgevision::testing::MakeTestVideo;
using edgevision::testing::VideoSpec;

using edgevision::testing::TempDir;

// One video per codec for the whole suite (ffmpeg takes a second or two).
const fs::path& Video(const std::string& codec) {
  static TempDir dir("edgevision_stream");
  static std::map<std::string, fs::path> made;
  auto it = made.find(codec);
  if (it != made.end()) return it->second;
  VideoSpec v;
  v.codec = codec;
  v.scene_s = 1;
  const fs::path out = dir.path() / (codec == "mjpeg" ? "scenes.avi" : "scenes.mp4");
  EXPECT_TRUE(MakeTestVideo(v, out)) << "Debian's ffmpeg could not make " << out;
  return made[codec] = out;
}

// Every FFmpeg source here is opened through the built module
// (edgevision-ffmpeg.so), as the binary opens them.
Result<std::unique_ptr<FrameSource>> OpenFfmpegSource(const SourceSpec& spec, const std::function<bool()>& cancelled) {
  static const Result<std::shared_ptr<FfmpegModule>> module = FfmpegModule::Load(EDGEVISION_FFMPEG_MODULE_PATH);
  if (!module.ok()) return module.status();
  return (*module)->Open(spec, cancelled);
}

SourceSpec FileSpec(const fs::path& path) {
  SourceSpec spec;
  spec.name = "file";
  spec.url = path.string();
  spec.realtime = false;
  return spec;
}

std::unique_ptr<predict::Classifier> DemoModel() {
  Result<model::LoadedModel> m = model::LoadModel((edgevision::testing::SourceDir() / "models/demo").string());
  EXPECT_TRUE(m.ok()) << m.status().ToString();
  auto c = predict::Classifier::Create(std::move(m).value(), engine::MakeXnnpackBackend(), {});
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return std::move(c).value();
}

TEST(ParseSourceSpec, NameUrlAndOptions) {
  Result<SourceSpec> s = ParseSourceSpec("door=rtsp://user:pw@cam/stream?a=1,fps=2.5,debounce=4,threshold=0.8,"
                                         "heartbeat=30,transport=udp,timeout=3,ffmpeg.max_delay=500000");
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->name, "door");
  EXPECT_EQ(s->url, "rtsp://user:pw@cam/stream?a=1");
  EXPECT_DOUBLE_EQ(s->fps, 2.5);
  EXPECT_EQ(s->debounce, 4);
  EXPECT_DOUBLE_EQ(s->threshold, 0.8);
  EXPECT_EQ(s->heartbeat_s, 30);
  EXPECT_EQ(s->transport, "udp");
  EXPECT_EQ(s->limits.read_timeout, std::chrono::milliseconds(3000));
  EXPECT_EQ(s->ffmpeg_options.at("max_delay"), "500000");
  EXPECT_EQ(KindOf(*s), SourceKind::kFfmpeg);

  Result<SourceSpec> d = ParseSourceSpec("inbox=dir:/srv/in");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(KindOf(*d), SourceKind::kDirectory);
  EXPECT_DOUBLE_EQ(d->fps, 5);  // the default
}

TEST(ParseSourceSpec, RefusesWhatCannotWork) {
  for (const char* bad : {"noequals", "=rtsp://x", "bad name=rtsp://x", "a=", "a=x,fps=-1", "a=x,fps=abc",
                          "a=x,threshold=2", "a=x,transport=sctp", "a=x,fps=1,colour=red", "a=x,loop=maybe",
                          "a=x,hwdecode=yes"}) {
    EXPECT_EQ(ParseSourceSpec(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(ParseSourceSpec, HardwareDecodingOption) {
  Result<SourceSpec> d = ParseSourceSpec("cam=rtsp://x/s");
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->hwdecode);  // the default: tried, never required
  Result<SourceSpec> off = ParseSourceSpec("cam=rtsp://x/s,hwdecode=off");
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->hwdecode);
  EXPECT_EQ(off->url, "rtsp://x/s");
  Result<SourceSpec> on = ParseSourceSpec("cam=rtsp://x/s,fps=2,hwdecode=auto");
  ASSERT_TRUE(on.ok());
  EXPECT_TRUE(on->hwdecode);
  Result<SourceSpec> bad = ParseSourceSpec("cam=rtsp://x/s,hwdecode=vaapi");
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("auto or off"), std::string::npos) << bad.status().message();
}

// V4L2 devices: /dev/videoN and v4l2:///dev/videoN go to FFmpeg's v4l2 input
// (libavdevice) with their ffmpeg.* options. This machine's kernel has no
// V4L2 (docs/streams.md says why), so opening is "unavailable" (retried),
// never "no such format" and never a crash.
TEST(FfmpegSource, V4l2DevicePathsReachFfmpegsV4l2Input) {
  for (const char* text : {"usb=/dev/video63,ffmpeg.input_format=mjpeg,ffmpeg.video_size=640x480",
                           "usb=v4l2:///dev/video63,fps=10"}) {
    Result<SourceSpec> spec = ParseSourceSpec(text);
    ASSERT_TRUE(spec.ok()) << spec.status().ToString();
    EXPECT_EQ(KindOf(*spec), SourceKind::kFfmpeg);
    ASSERT_FALSE(std::filesystem::exists("/dev/video63"));
    Result<std::unique_ptr<FrameSource>> opened = OpenFfmpegSource(*spec, nullptr);
    EXPECT_EQ(opened.status().code(), StatusCode::kUnavailable) << text << ": " << opened.status().ToString();
    EXPECT_NE(opened.status().message().find("cannot open the source"), std::string::npos)
        << opened.status().message();
  }
  EXPECT_EQ(ParseSourceSpec("usb=/dev/video0,ffmpeg.input_format=mjpeg")->ffmpeg_options.at("input_format"), "mjpeg");
}

// hwdecode=auto tries FFmpeg's hardware decoders (the V4L2 M2M wrapper, then
// each device type FFmpeg has) and falls back to software with the reason.
// This VM has neither /dev/video* nor /dev/dri: the fallback path runs, and
// gives exactly the software decoder's frames.
TEST(FfmpegSource, HardwareDecodingFallsBackToSoftwareWithItsReason) {
  SourceSpec off_spec = FileSpec(Video("h264"));
  off_spec.hwdecode = false;
  auto off = OpenFfmpegSource(off_spec, nullptr);
  ASSERT_TRUE(off.ok()) << off.status().ToString();
  EXPECT_EQ((*off)->decoder(), (DecoderInfo{"h264", false, ""}));

  SourceSpec auto_spec = FileSpec(Video("h264"));
  auto_spec.hwdecode = true;
  auto tried = OpenFfmpegSource(auto_spec, nullptr);
  ASSERT_TRUE(tried.ok()) << tried.status().ToString();
  const DecoderInfo d = (*tried)->decoder();
  if (d.hardware) {
    // A machine with a working hardware decoder: it must decode the video.
    EXPECT_TRUE(d.fallback.empty()) << d.fallback;
    for (int i = 0; i < 30; ++i) ASSERT_TRUE((*tried)->Read().ok()) << d.name << " frame " << i;
    return;
  }
  EXPECT_EQ(d.name, "h264");
  // Debian's FFmpeg has the V4L2 M2M wrapper; it cannot open without a device.
  EXPECT_NE(d.fallback.find("h264_v4l2m2m: "), std::string::npos) << d.fallback;
  for (int i = 0; i < 30; ++i) {
    Result<Frame> a = (*tried)->Read();
    Result<Frame> b = (*off)->Read();
    ASSERT_TRUE(a.ok() && b.ok()) << "frame " << i;
    ASSERT_EQ(a->rgb.pixels, b->rgb.pixels) << "frame " << i;
  }
  // MJPEG is not decoded by FFmpeg at all.
  SourceSpec mjpeg = FileSpec(Video("mjpeg"));
  mjpeg.hwdecode = true;
  auto m = OpenFfmpegSource(mjpeg, nullptr);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ((*m)->decoder(), (DecoderInfo{"jpeg as sent", false, ""}));
}

TEST(FfmpegSource, DecodesEveryFrameOfAnH264File) {
  auto source = OpenFfmpegSource(FileSpec(Video("h264")), nullptr);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  int frames = 0;
  while (true) {
    Result<Frame> f = (*source)->Read();
    if (!f.ok()) {
      EXPECT_EQ(f.status().code(), StatusCode::kUnavailable);
      EXPECT_NE(f.status().message().find("end of stream"), std::string::npos) << f.status().message();
      break;
    }
    ASSERT_FALSE(f->is_encoded());
    ASSERT_EQ(f->rgb.width, 640);
    ASSERT_EQ(f->rgb.height, 480);
    ASSERT_EQ(f->rgb.pixels.size(), 640u * 480 * 3);
    ++frames;
  }
  EXPECT_EQ(frames, 30);  // 3 scenes of 1 s at 10 fps
}

TEST(FfmpegSource, MjpegFramesGoOutAsSent) {
  auto source = OpenFfmpegSource(FileSpec(Video("mjpeg")), nullptr);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  int frames = 0;
  for (Result<Frame> f = (*source)->Read(); f.ok(); f = (*source)->Read()) {
    ASSERT_TRUE(f->is_encoded());
    Result<image::DecodedImage> d = image::Decode(f->encoded);
    ASSERT_TRUE(d.ok()) << d.status().ToString();
    EXPECT_EQ(d->format, "jpeg");
    EXPECT_EQ(d->rgb.width, 640);
    ++frames;
  }
  EXPECT_EQ(frames, 30);
}

// A decoded H.264 frame is classified from its pixels; what a posted JPEG of
// the same frame answers differs only by the JPEG round trip.
TEST(FfmpegSource, DecodedFrameAnswersAsAPostedJpegOfIt) {
  auto model = DemoModel();
  auto source = OpenFfmpegSource(FileSpec(Video("h264")), nullptr);
  ASSERT_TRUE(source.ok());
  std::vector<std::string> tops;
  for (int i = 0; i < 30; ++i) {
    Result<Frame> f = (*source)->Read();
    ASSERT_TRUE(f.ok()) << f.status().ToString();
    if (i % 10 != 5) continue;  // the middle of each scene
    Result<predict::Classification> from_pixels = model->ClassifyPixels(f->rgb);
    ASSERT_TRUE(from_pixels.ok()) << from_pixels.status().ToString();
    Result<std::vector<uint8_t>> jpeg = image::EncodeJpeg(f->rgb, 95);
    ASSERT_TRUE(jpeg.ok());
    Result<predict::Classification> posted = model->ClassifyImage(*jpeg);
    ASSERT_TRUE(posted.ok());
    EXPECT_EQ(from_pixels->scores[0].tag, posted->scores[0].tag);
    EXPECT_NEAR(from_pixels->scores[0].probability, posted->scores[0].probability, 0.02);
    EXPECT_EQ(from_pixels->image_format, "frame");
    tops.push_back(from_pixels->scores[0].tag);
  }
  EXPECT_EQ(tops, (std::vector<std::string>{"Apple", "Banana", "Apple"}));
}

TEST(FfmpegSource, LoopsAFileWhenAsked) {
  SourceSpec spec = FileSpec(Video("mjpeg"));
  spec.loop = true;
  auto source = OpenFfmpegSource(spec, nullptr);
  ASSERT_TRUE(source.ok());
  for (int i = 0; i < 75; ++i) ASSERT_TRUE((*source)->Read().ok()) << "frame " << i;
}

TEST(FfmpegSource, GarbageAndMissingInputsAreErrorsNotCrashes) {
  TempDir dir;
  const fs::path garbage = dir.path() / "garbage.mp4";
  {
    std::ofstream f(garbage, std::ios::binary);
    for (int i = 0; i < 100000; ++i) f.put(static_cast<char>((i * 7919) & 0xFF));
  }
  EXPECT_EQ(OpenFfmpegSource(FileSpec(garbage), nullptr).status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(OpenFfmpegSource(FileSpec(dir.path() / "missing.mp4"), nullptr).status().code(),
            StatusCode::kUnavailable);
  SourceSpec forced = FileSpec(garbage);
  forced.format = "no-such-format";
  EXPECT_EQ(OpenFfmpegSource(forced, nullptr).status().code(), StatusCode::kInvalidArgument);

  // A real video with its middle overwritten: frames, errors, the end; never a crash.
  const fs::path damaged = dir.path() / "damaged.mp4";
  fs::copy_file(Video("h264"), damaged);
  const auto size = fs::file_size(damaged);
  {
    std::fstream f(damaged, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(size / 3));
    for (uintmax_t i = 0; i < size / 3; ++i) f.put(static_cast<char>((i * 31) & 0xFF));
  }
  auto source = OpenFfmpegSource(FileSpec(damaged), nullptr);
  if (source.ok()) {
    int reads = 0;
    while (reads < 1000) {
      Result<Frame> f = (*source)->Read();
      ++reads;
      if (!f.ok() && f.status().code() == StatusCode::kUnavailable) break;
    }
    EXPECT_LT(reads, 1000);
  }
}

TEST(FfmpegSource, InterruptEndsARealTimeRead) {
  SourceSpec spec = FileSpec(Video("mjpeg"));
  spec.realtime = true;
  spec.loop = true;
  auto source = OpenFfmpegSource(spec, nullptr);
  ASSERT_TRUE(source.ok());
  ASSERT_TRUE((*source)->Read().ok());
  std::thread stopper([&] { (*source)->Interrupt(); });
  Result<Frame> f = Status::Ok();
  do {
    f = (*source)->Read();
  } while (f.ok());
  stopper.join();
  EXPECT_EQ(f.status().code(), StatusCode::kUnavailable);
}

TEST(DirectorySource, EachNewFileIsOneFrameAsWritten) {
  TempDir dir;
  auto source = OpenDirectorySource(dir.path().string(), SourceLimits{});
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  const std::vector<uint8_t> apple = edgevision::testing::ReadBytes(edgevision::testing::FruitPhoto("apple1.jpg"));
  // Written under a dot name and renamed in (ignored until the rename).
  {
    std::ofstream f(dir.path() / ".incoming", std::ios::binary);
    f.write(reinterpret_cast<const char*>(apple.data()), static_cast<std::streamsize>(apple.size()));
  }
  fs::rename(dir.path() / ".incoming", dir.path() / "a.jpg");
  Result<Frame> f = (*source)->Read();
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  EXPECT_EQ(f->encoded, apple);

  SourceLimits small;
  small.max_frame_bytes = 100;
  auto limited = OpenDirectorySource(dir.path().string(), small);
  ASSERT_TRUE(limited.ok());
  fs::copy_file(edgevision::testing::FruitPhoto("banana1.jpg"), dir.path() / "b.jpg");
  EXPECT_EQ((*limited)->Read().status().code(), StatusCode::kInvalidArgument);  // too large: one bad frame
  f = (*source)->Read();  // the first source saw it too
  ASSERT_TRUE(f.ok()) << f.status().ToString();
}

TEST(DirectorySource, InterruptAndMissingDirectory) {
  TempDir dir;
  auto source = OpenDirectorySource(dir.path().string(), SourceLimits{});
  ASSERT_TRUE(source.ok());
  std::thread stopper([&] { (*source)->Interrupt(); });
  EXPECT_EQ((*source)->Read().status().code(), StatusCode::kUnavailable);
  stopper.join();
  EXPECT_EQ(OpenDirectorySource((dir.path() / "nope").string(), SourceLimits{}).status().code(),
            StatusCode::kUnavailable);
}

}  // namespace
}  // namespace edgevision::stream
