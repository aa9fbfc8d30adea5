// The FFmpeg module seen from the binary: edgevision-ffmpeg.so, loaded with
// dlopen() the first time a source needs FFmpeg (RTSP, HTTP(S) MJPEG, V4L2,
// a video file). The binary itself does not link FFmpeg's libraries, so a
// server that answers posts or watches a directory never maps them
// (docs/architecture.md, "The FFmpeg module").
//
// Where the module is looked for, first found wins:
//   1. $EDGEVISION_FFMPEG_MODULE (a path; tests point it elsewhere);
//   2. beside the running binary (the build tree: build/src/cli/);
//   3. ../lib/edgevision/ from the binary's folder (the installed layout:
//      /usr/bin/edgevision, /usr/lib/edgevision/edgevision-ffmpeg.so).
//
// Thread-safety: a loaded FfmpegModule is immutable; Open may be called from
// any thread. Default() is safe from any thread.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "stream/source.h"

namespace edgevision::stream {

struct FfmpegModuleApi;

// The Debian packages that hold the FFmpeg libraries the module links, for
// messages ("libavformat59 libavcodec59 ..."): the package's Recommends.
const char* FfmpegPackages();

// What to do about missing FFmpeg libraries, for messages: "apt install
// <FfmpegPackages()>", or, in the slim container image
// ($EDGEVISION_CONTAINER_IMAGE=slim, set by the Dockerfile), the packages it
// leaves out and "use the full image".
std::string FfmpegRemedy();

class FfmpegModule : public std::enable_shared_from_this<FfmpegModule> {
 public:
  // Loads the module at `path` and checks its ABI. Errors: Unsupported when
  // the file is missing or FFmpeg's libraries are (the message names the
  // packages to install), Corrupt when the file is not an FFmpeg module of
  // this build (no entry point, another ABI).
  static Result<std::shared_ptr<FfmpegModule>> Load(const std::filesystem::path& path);

  // The module for this process, found as the file comment says, loaded on
  // the first call; the outcome (module or error) is kept for later calls.
  static Result<std::shared_ptr<FfmpegModule>> Default();

  // Where Default() looks, in order.
  static std::vector<std::filesystem::path> SearchPath();

  FfmpegModule(const FfmpegModule&) = delete;
  FfmpegModule& operator=(const FfmpegModule&) = delete;
  ~FfmpegModule();

  // Opens an FFmpeg source (errors: as stream/ffmpeg/ffmpeg_source.h). The
  // source keeps the module loaded while it exists.
  Result<std::unique_ptr<FrameSource>> Open(const SourceSpec& spec, const std::function<bool()>& cancelled);

  std::string Versions() const;
  const std::filesystem::path& path() const { return path_; }

 private:
  struct DlCloser {
    void operator()(void* handle) const;
  };
  using Handle = std::unique_ptr<void, DlCloser>;
  FfmpegModule(std::filesystem::path path, Handle handle, const FfmpegModuleApi* api)
      : path_(std::move(path)), handle_(std::move(handle)), api_(api) {}

  std::filesystem::path path_;
  Handle handle_;                // dlclose()d last, after every source it made is gone
  const FfmpegModuleApi* api_;  // inside the module
};

}  // namespace edgevision::stream
