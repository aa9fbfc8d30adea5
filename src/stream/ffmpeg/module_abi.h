// The FFmpeg module's entry point: the one symbol edgevision-ffmpeg.so
// exports, and what the binary checks before it uses anything else.
//
// The module (src/stream/ffmpeg/, built as a CMake MODULE library) holds
// everything that links FFmpeg's libraries: the FrameSource for RTSP, HTTP(S)
// MJPEG, V4L2 devices and video files (ffmpeg_source.h). The binary does not
// link FFmpeg; it dlopen()s the module when a configured source needs it
// (stream/ffmpeg_module.h), so a server without such sources never maps
// libavcodec and its dependencies.
//
// The entry point has C linkage (an unmangled name for dlsym) and returns a
// table whose first fields are plain integers, read before anything else:
// the ABI number and a fingerprint of the C++ types that cross the border
// (SourceSpec, Frame, FrameSource, Status). The functions in the table then
// take and return those C++ types: the module and the binary come from one
// build and one package (same compiler, same libstdc++), and a module from
// another build is refused by the checks rather than called.
//
// Bump kFfmpegModuleAbi when FfmpegModuleApi, or the meaning of a type that
// crosses the border, changes; the fingerprint catches size changes that a
// forgotten bump would miss.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/status.h"
#include "stream/frame.h"
#include "stream/source.h"

namespace edgevision::stream {

inline constexpr uint32_t kFfmpegModuleAbi = 2;  // 2: FrameSource::decoder(), SourceSpec::hwdecode
inline constexpr const char* kFfmpegModuleEntry = "edgevision_ffmpeg_module";

// Sizes of what crosses the border, folded into one number.
constexpr uint32_t FfmpegModuleLayout() {
  return static_cast<uint32_t>(sizeof(SourceSpec) * 1000003u + sizeof(SourceLimits) * 10007u +
                               sizeof(Frame) * 101u + sizeof(Status) * 7u + sizeof(FrameSource) +
                               sizeof(DecoderInfo) * 31u);
}

struct FfmpegModuleApi {
  uint32_t abi;     // kFfmpegModuleAbi of the module's build
  uint32_t layout;  // FfmpegModuleLayout() of the module's build
  // Opens a source (stream/ffmpeg/ffmpeg_source.h, OpenFfmpegSource). The
  // FrameSource's code lives in the module: the module must stay loaded
  // while it exists.
  Result<std::unique_ptr<FrameSource>> (*open)(const SourceSpec& spec, const std::function<bool()>& cancelled);
  // "libavformat 59.27.100, libavcodec 59.37.100, libswscale 6.7.100".
  std::string (*versions)();
};

}  // namespace edgevision::stream

// Never null. Defined by the module only.
extern "C" const edgevision::stream::FfmpegModuleApi* edgevision_ffmpeg_module();
