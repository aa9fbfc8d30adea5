// Stand-ins for modules the loader must refuse (ffmpeg_module_test.cc):
// built as edgevision_ffmpeg_wrong_abi_module, the entry point of "another
// edgevision build" (an ABI number this build does not have: refused before
// any of its functions is called); built with EDGEVISION_TEST_NO_ENTRY, a
// shared object without the entry point.
#include "stream/ffmpeg/module_abi.h"

#ifndef EDGEVISION_TEST_NO_ENTRY
extern "C" __attribute__((visibility("default"))) const edgevision::stream::FfmpegModuleApi*
edgevision_ffmpeg_module() {
  static const edgevision::stream::FfmpegModuleApi api{edgevision::stream::kFfmpegModuleAbi + 1,
                                                       edgevision::stream::FfmpegModuleLayout(), nullptr, nullptr};
  return &api;
}
#else
extern "C" __attribute__((visibility("default"))) int edgevision_something_else() { return 0; }
#endif
