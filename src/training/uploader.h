// Uploader: the reviewed captures of a store sent to a Custom Vision project
// for retraining (`edgevision export --upload`), resumably.
//
//   1. GetProject + GetDomain: the key works, the project exists, and its
//      type (classification or object detection) picks the captures to send.
//   2. GetTags; CreateTag for each label or region tag the project lacks
//      (tags are matched by name, exactly, then ignoring letter case).
//   3. Pages through the reviewed captures the store has not recorded for
//      this project, oldest first, in batches of at most 64 images (and
//      `max_batch_bytes`), each image with its label's tag (classification)
//      or its regions (object detection), via CreateImagesFromFiles.
//   4. After each batch, records in the store (one transaction) every
//      capture the service answered for: OK, OKDuplicate, or a per-image
//      error it would give again. Transient per-image errors (ErrorStorage,
//      ErrorUnknown, ErrorLimitExceed) stay unrecorded, for the next run.
//
// A re-run therefore sends only what no earlier run recorded: after a kill
// or a network cut, at most the batch in flight is sent again, and the
// service answers OKDuplicate for the images it had already taken.
//
// Only reviewed captures are sent (a label, or regions a person saved);
// detection captures reviewed as "nothing here" (no regions), images in a
// format training refuses (WebP) or over 6 MB are skipped and counted.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "store/capture_store.h"
#include "training/training_api.h"

namespace edgevision::training {

struct UploadOptions {
  std::string project_id;      // a UUID
  store::CaptureQuery filter;  // reviewed is forced; cursor, order, limit ignored
  int batch_size = kMaxImagesPerBatch;  // 1..64
  // Image bytes per request (base64 adds a third on the wire).
  uint64_t max_batch_bytes = 24ull << 20;
};

struct UploadSummary {
  std::string project_name;
  std::string project_type;       // the domain's type
  int64_t already_recorded = 0;   // recorded for this project by earlier runs
  int64_t sent = 0;               // captures sent in this run
  int64_t batches = 0;
  int64_t created = 0;            // answered OK
  int64_t duplicates = 0;         // answered OKDuplicate
  std::map<std::string, int64_t> rejected;  // recorded per-image errors, by status
  int64_t retry_later = 0;        // transient per-image errors (not recorded)
  std::vector<std::string> tags_created;
  int64_t regions = 0;            // regions sent
  int64_t skipped_other_kind = 0;  // captures of the other project type
  int64_t skipped_no_regions = 0;  // detection reviewed with no regions
  int64_t skipped_format = 0;      // not JPEG, PNG, BMP or GIF
  int64_t skipped_too_large = 0;   // over kMaxImageBytes
  int64_t missing = 0;             // removed by retention meanwhile
};

// `progress(sent, total)` after each batch (may be empty); total counts the
// reviewed captures not yet recorded when the upload started.
// Errors: InvalidArgument (options), the TrainingApi's errors, the store's;
// what was recorded before an error stays recorded.
Result<UploadSummary> UploadReviewed(store::CaptureStore& store, TrainingApi& api,
                                     const UploadOptions& options,
                                     const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace edgevision::training
