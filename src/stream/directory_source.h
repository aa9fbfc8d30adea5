// A watched directory as a FrameSource (`--source NAME=dir:/path`): every
// file that is closed after writing or moved into the directory (inotify
// IN_CLOSE_WRITE, IN_MOVED_TO) is one frame, its bytes as written, so it is
// classified exactly as if it had been posted. Files already there at start
// are ignored; files starting with "." are ignored (write them under a dot
// name and rename them in). Files larger than SourceLimits::max_frame_bytes
// are refused (InvalidArgument: counted, not fatal).
//
// Thread-safety: as FrameSource.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "stream/source.h"

namespace edgevision::stream {

// Errors: Unavailable when the directory cannot be watched (missing, no
// permission, inotify limits).
Result<std::unique_ptr<FrameSource>> OpenDirectorySource(const std::string& directory, const SourceLimits& limits);

}  // namespace edgevision::stream
