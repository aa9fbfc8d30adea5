// `edgevision export --upload`: the reviewed captures to a Custom Vision
// project (src/training/uploader.h); called by RunExport.
#pragma once

#include "cli/commands.h"
#include "store/capture_store.h"

namespace edgevision::cli {

// Exit code: 0 done, 1 a failure (printed; what was sent stays recorded),
// 2 a usage error.
int RunUpload(const ExportOptions& options, const store::CaptureQuery& filter);

}  // namespace edgevision::cli
