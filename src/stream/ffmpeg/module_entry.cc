// edgevision-ffmpeg.so's entry point (stream/ffmpeg/module_abi.h): the only
// symbol the module exports (it is built with hidden visibility).
#include "stream/ffmpeg/ffmpeg_source.h"
#include "stream/ffmpeg/module_abi.h"

extern "C" __attribute__((visibility("default"))) const edgevision::stream::FfmpegModuleApi*
edgevision_ffmpeg_module() {
  static const edgevision::stream::FfmpegModuleApi api{
      edgevision::stream::kFfmpegModuleAbi,
      edgevision::stream::FfmpegModuleLayout(),
      &edgevision::stream::OpenFfmpegSource,
      &edgevision::stream::FfmpegVersions,
  };
  return &api;
}
