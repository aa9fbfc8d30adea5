// The FFmpeg module's border (issue 17, part 2): the built
// edgevision-ffmpeg.so loads and opens a real video; a missing module, a
// module whose FFmpeg libraries are missing, a module of another build and a
// file that is no module are each refused with an error that says what to do.
#include "stream/ffmpeg_module.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "stream/testing/test_video.h"
#include "test_support.h"

namespace edgevision::stream {
namespace {

namespace fs = std::filesystem;
using edgevision::testing::TempDir;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(FfmpegModule, TheBuiltModuleLoadsAndOpensAVideo) {
  Result<std::shared_ptr<FfmpegModule>> module = FfmpegModule::Load(EDGEVISION_FFMPEG_MODULE_PATH);
  ASSERT_TRUE(module.ok()) << module.status().ToString();
  EXPECT_NE((*module)->Versions().find("libavformat "), std::string::npos) << (*module)->Versions();

  TempDir dir;
  const fs::path video = dir.path() / "scenes.avi";
  edgevision::testing::VideoSpec v;
  v.codec = "mjpeg";
  v.scene_s = 0.5;
  ASSERT_TRUE(edgevision::testing::MakeTestVideo(v, video));
  SourceSpec spec;
  spec.name = "file";
  spec.url = video.string();
  spec.realtime = false;
  Result<std::unique_ptr<FrameSource>> source = (*module)->Open(spec, nullptr);
  ASSERT_TRUE(source.ok()) << source.status().ToString();
  // The source keeps the module loaded: dropping every other reference first
  // must not unload the code the source runs.
  module = Unavailable("dropped");
  Result<Frame> frame = (*source)->Read();
  ASSERT_TRUE(frame.ok()) << frame.status().ToString();
  EXPECT_TRUE(frame->is_encoded());  // an MJPEG frame goes out as sent
}

TEST(FfmpegModule, TheSearchPathFollowsTheOverrideThenTheBinarysFolder) {
  // The override is the only entry of the search path when it is set...
  ASSERT_EQ(setenv("EDGEVISION_FFMPEG_MODULE", "/nonexistent/edgevision-ffmpeg.so", 1), 0);
  std::vector<fs::path> forced = FfmpegModule::SearchPath();
  ASSERT_EQ(unsetenv("EDGEVISION_FFMPEG_MODULE"), 0);
  ASSERT_EQ(forced.size(), 1u);
  EXPECT_EQ(forced[0], "/nonexistent/edgevision-ffmpeg.so");
  // ...else the binary's folder, then ../lib/edgevision from it.
  std::vector<fs::path> found = FfmpegModule::SearchPath();
  const fs::path here = fs::read_symlink("/proc/self/exe").parent_path();
  ASSERT_EQ(found.size(), 2u);
  EXPECT_EQ(found[0], here / "edgevision-ffmpeg.so");
  EXPECT_EQ(found[1], (here / "../lib/edgevision/edgevision-ffmpeg.so").lexically_normal());
}

TEST(FfmpegModule, AMissingModuleSaysToReinstallThePackage) {
  Result<std::shared_ptr<FfmpegModule>> module = FfmpegModule::Load("/nonexistent/edgevision-ffmpeg.so");
  ASSERT_FALSE(module.ok());
  EXPECT_EQ(module.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(module.status().message().find("edgevision package"), std::string::npos) << module.status().message();
}

// The real module, with the name of the libavformat it needs changed (same
// length) so that the dynamic loader cannot find it: what a machine without
// the package's Recommends (or the slim container image) sees. Returns the
// error message of loading it.
std::string MessageWithoutLibavformat() {
  std::string bytes = ReadAll(EDGEVISION_FFMPEG_MODULE_PATH);
  const size_t at = bytes.find("libavformat.so.");
  if (at == std::string::npos) return "no libavformat.so. in the module";
  bytes.replace(at, 15, "libavfzrmat.so.");
  TempDir dir;
  const fs::path copy = dir.path() / "edgevision-ffmpeg.so";
  std::ofstream(copy, std::ios::binary) << bytes;
  Result<std::shared_ptr<FfmpegModule>> module = FfmpegModule::Load(copy);
  if (module.ok()) return "the module loaded";
  EXPECT_EQ(module.status().code(), StatusCode::kUnsupported);
  return module.status().message();
}

TEST(FfmpegModule, MissingFfmpegLibrariesNameThePackagesToInstall) {
  ASSERT_EQ(unsetenv("EDGEVISION_CONTAINER_IMAGE"), 0);
  const std::string message = MessageWithoutLibavformat();
  EXPECT_NE(message.find("libavfzrmat.so."), std::string::npos) << message;
  EXPECT_NE(message.find(std::string("apt install ") + EDGEVISION_FFMPEG_PACKAGES), std::string::npos) << message;
  EXPECT_EQ(message.find("container image"), std::string::npos) << message;
  EXPECT_NE(std::string(EDGEVISION_FFMPEG_PACKAGES).find("libavformat"), std::string::npos);
  EXPECT_EQ(FfmpegPackages(), std::string(EDGEVISION_FFMPEG_PACKAGES));
  // The full container image says the same (its libraries are missing only
  // if someone removed them).
  ASSERT_EQ(setenv("EDGEVISION_CONTAINER_IMAGE", "full", 1), 0);
  const std::string full = MessageWithoutLibavformat();
  ASSERT_EQ(unsetenv("EDGEVISION_CONTAINER_IMAGE"), 0);
  EXPECT_EQ(full, message);
}

TEST(FfmpegModule, TheSlimContainerImageSaysToUseTheFullOne) {
  // What the Dockerfile's slim stage sets: apt install is no remedy there.
  ASSERT_EQ(setenv("EDGEVISION_CONTAINER_IMAGE", "slim", 1), 0);
  const std::string message = MessageWithoutLibavformat();
  ASSERT_EQ(unsetenv("EDGEVISION_CONTAINER_IMAGE"), 0);
  EXPECT_NE(message.find("libavfzrmat.so."), std::string::npos) << message;
  EXPECT_NE(message.find(std::string("slim container image, which leaves them out (") + EDGEVISION_FFMPEG_PACKAGES +
                         "): use the full image"),
            std::string::npos)
      << message;
  EXPECT_EQ(message.find("apt install"), std::string::npos) << message;
}

TEST(FfmpegModule, AModuleOfAnotherBuildIsRefusedBeforeItIsCalled) {
  Result<std::shared_ptr<FfmpegModule>> module = FfmpegModule::Load(EDGEVISION_WRONG_ABI_MODULE_PATH);
  ASSERT_FALSE(module.ok());
  EXPECT_EQ(module.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(module.status().message().find("built for another edgevision"), std::string::npos)
      << module.status().message();
}

TEST(FfmpegModule, AFileThatIsNoModuleIsRefused) {
  TempDir dir;
  const fs::path text = dir.path() / "edgevision-ffmpeg.so";
  std::ofstream(text) << "not an ELF file\n";
  Result<std::shared_ptr<FfmpegModule>> module = FfmpegModule::Load(text);
  ASSERT_FALSE(module.ok());
  EXPECT_EQ(module.status().code(), StatusCode::kCorrupt);
  // A real shared library without the entry point.
  module = FfmpegModule::Load(EDGEVISION_NOT_A_MODULE_PATH);
  ASSERT_FALSE(module.ok());
  EXPECT_EQ(module.status().code(), StatusCode::kCorrupt);
  EXPECT_NE(module.status().message().find("no edgevision_ffmpeg_module"), std::string::npos)
      << module.status().message();
}

}  // namespace
}  // namespace edgevision::stream
