// CaptureStore: predicted images kept on the device with their predictions
// and, once a person reviews them, a human label — the edge's stand-in for
// the cloud's "Predictions" tab, to validate and retrain the model.
//
// On disk, under the data directory (docs/store.md has the full schema):
//   captures.db                SQLite (WAL): one row per capture, its predictions
//   captures/<aa>/<sha256>.<ext>  the image bytes, content-addressed; <aa> is
//                              the hash's first two hex digits
//   captures/tmp/              temporary files of writes in progress
//   captures.lock              held (flock) while a server has the store open
//
// Invariants, kept across a crash (kill -9, power loss) at any moment:
//   - every row's image file exists and holds exactly its bytes: the file is
//     written to tmp/, fsynced, renamed into place and its directory fsynced
//     before the row is committed;
//   - a file no row refers to (a crash between unlink steps) is removed by the
//     reconciliation Open() runs, as are leftover temporary files.
//
// Retention: a byte quota (images + database) and a maximum age. Unreviewed
// captures past the age are removed; when over quota the oldest unreviewed go
// first and reviewed ones only when no unreviewed remain. Reviewed captures do
// not expire by age: they are the labelled data to retrain with.
//
// Disk full: when the filesystem's free space falls below `min_free_bytes`,
// or a write fails with ENOSPC/EDQUOT/SQLITE_FULL, Add() pauses: it returns
// ResourceExhausted at once (no I/O) until `pause_retry` has passed, then
// checks again; storing resumes by itself when space returns. A failed write
// leaves no partial row and no partial image.
//
// Thread-safety: every method is safe from any thread. Writers (Add, Delete,
// retention) are serialised; readers see committed state and do not wait for
// a writer's file I/O.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/sha256.h"
#include "core/status.h"
#include "detect/detection.h"
#include "store/env.h"
#include "sqlite/sqlite.h"

namespace edgevision::store {

using TimePoint = std::chrono::system_clock::time_point;

struct StoredPrediction {
  std::string tag;
  double probability = 0;
};

// What kind of model predicted a capture.
enum class CaptureKind {
  kClassification,  // tags with probabilities (predictions); a person sets a label
  kDetection,       // boxes (detections); a person sets regions
};

// "classification" / "detection" (the database and JSON spelling).
const char* CaptureKindName(CaptureKind kind);

// One box of a detector's prediction, as the HTTP response showed it
// (probability and box rounded to 8 decimals). The box is normalised to the
// image and, as the shipped code writes it, never clipped.
struct StoredDetection {
  std::string tag;
  int tag_index = 0;  // the response's tagId
  double probability = 0;
  detect::BoundingBox box;
};

// The most probable box (the first of equals); nullptr when there is none.
// A detection capture's top tag and probability are this box's.
const StoredDetection* MostProbable(const std::vector<StoredDetection>& detections);

// One box a person set on the review page: a tag and a box normalised to
// the image, inside it (0 <= left, left + width <= 1, the same for top and
// height; width and height > 0), as Custom Vision training takes regions.
struct Region {
  std::string tag;
  detect::BoundingBox box;
};

// What Add() stores: a copy of one prediction.
struct NewCapture {
  std::string id;  // lowercase UUID (the prediction's "id")
  TimePoint created;
  std::string route;                          // e.g. "POST /image"
  std::string project;                        // "" when the route has none
  std::string iteration;                      // the response's "iteration"
  std::string model_sha1;                     // the model file that predicted
  std::vector<StoredPrediction> predictions;  // sorted by probability, descending
  CaptureKind kind = CaptureKind::kClassification;
  std::vector<StoredDetection> detections;  // kDetection: the boxes, in the response's order
  std::string image_format;                 // "jpeg", "png", "bmp", "gif", "webp"
  // As decoded (a classification), or as the detector saw it after EXIF
  // orientation (a detection: the frame its boxes are normalised to).
  int image_width = 0;
  int image_height = 0;
  std::vector<uint8_t> image;  // the encoded image as received
};

// One stored capture.
struct Capture {
  int64_t seq = 0;  // insertion order (the paging cursor)
  std::string id;
  TimePoint created;
  std::string route;
  std::string project;
  std::string iteration;
  std::string model_sha1;
  std::vector<StoredPrediction> predictions;  // may be empty (no tag above 1e-8; detectors)
  CaptureKind kind = CaptureKind::kClassification;
  std::vector<StoredDetection> detections;  // kDetection only, in the response's order
  // The top predicted tag: a classifier's first prediction, a detector's most
  // probable box ("" when there is none).
  std::string top_tag;
  double top_probability = 0;
  std::string image_sha256;  // lowercase hex
  uint64_t image_bytes = 0;
  std::string image_format;
  int image_width = 0;
  int image_height = 0;
  std::optional<std::string> label;  // a classification's human label; nullopt until reviewed
  // A detection's human regions: nullopt until a person saved them (an empty
  // list means "nothing to find in this image").
  std::optional<std::vector<Region>> regions;
  std::optional<TimePoint> reviewed;  // when the label or the regions were set

  bool is_reviewed() const { return label.has_value() || regions.has_value(); }
};

// Filters for List(); unset fields do not filter.
struct CaptureQuery {
  std::optional<std::string> tag;    // top predicted tag equals
  std::optional<std::string> label;  // human label equals
  std::optional<double> min_p;       // top probability >= min_p
  std::optional<double> max_p;       // top probability < max_p ("uncertain")
  std::optional<bool> reviewed;      // has a label or regions / has neither
  std::optional<TimePoint> from;     // created >= from
  std::optional<TimePoint> to;       // created < to
  // not yet recorded as uploaded to this Custom Vision project (RecordUploads)
  std::optional<std::string> not_uploaded_to;
  std::optional<int64_t> after;      // cursor: the previous page's `next`
  bool oldest_first = false;         // default: newest first
  int limit = 50;                    // clamped to [1, kMaxPageSize]
};

inline constexpr int kMaxPageSize = 500;

struct CapturePage {
  std::vector<Capture> captures;
  std::optional<int64_t> next;  // pass as `after` for the next page; nullopt at the end
};

// One capture sent to a Custom Vision project, as the Training API answered
// for it: "OK", "OKDuplicate" (the project already had the image), or a
// per-image error the service will give again (e.g. "ErrorImageFormat"). A
// recorded capture is never sent to that project again.
struct UploadRecord {
  std::string capture_id;
  std::string status;
  std::string image_id;  // the training image's id; "" when the service gave none
};

struct TagCounts {
  int64_t predicted = 0;   // captures whose top predicted tag is this tag
  int64_t unreviewed = 0;  // ... and not reviewed yet
  int64_t labelled = 0;    // captures a person labelled with this tag
  int64_t confirmed = 0;   // predicted this tag and labelled this tag
  int64_t regions = 0;     // boxes people drew with this tag (detection captures)
};

struct StoreStats {
  int64_t captures = 0;
  int64_t reviewed = 0;
  int64_t unreviewed = 0;
  std::map<std::string, TagCounts> tags;
};

// Cheap counters for /health; no database access.
struct StoreHealth {
  int64_t captures = 0;
  uint64_t image_bytes = 0;
  uint64_t db_bytes = 0;
  uint64_t quota_bytes = 0;
  std::chrono::seconds max_age{0};
  bool paused = false;
  std::string paused_reason;  // "" unless paused
  int64_t added = 0;          // since Open
  int64_t removed_by_retention = 0;
  int64_t refused_disk_full = 0;  // Add() calls refused while paused / on a full disk
  std::string last_error;
};

// Named limits with safe defaults for a small SD card.
struct StoreOptions {
  // Images plus database; the oldest captures are removed beyond this.
  uint64_t max_bytes = 1ull << 30;  // 1 GiB
  // Unreviewed captures older than this are removed. 0 = no age limit.
  std::chrono::seconds max_age = std::chrono::hours(24 * 30);
  // Storing pauses while the filesystem has less free space than this, so
  // captures never take the last of the card from the OS and its logs.
  uint64_t min_free_bytes = 256ull << 20;  // 256 MiB
  // While paused, how long Add() refuses without trying again.
  std::chrono::milliseconds pause_retry{1000};
  // Largest image stored; larger ones are refused (the API takes 4 MB).
  uint64_t max_image_bytes = 16ull << 20;
  // How often Add() also runs the age-based clean-up.
  std::chrono::seconds retention_interval{60};
  // Longest human label or region tag accepted (bytes of UTF-8).
  size_t max_label_bytes = 256;
  // Most regions a person may set on one capture (Custom Vision training
  // takes up to 200 per image).
  size_t max_regions = 200;
  // SQLite VFS to open the database with ("" = SQLite's default); tests
  // inject "disk full" through one.
  std::string sqlite_vfs;
};

class CaptureStore {
 public:
  enum class Mode {
    kServe,   // exclusive (takes captures.lock), creates the store, reconciles
    kReader,  // another process may be serving; no reconciliation, no creation
    // kReader that also records uploads (RecordUploads), migrating an older
    // schema first (the migration only adds, so a server keeps serving).
    kUploader,
  };

  // Opens or creates the store under `data_dir`. kServe takes the lock,
  // creates what is missing, removes leftover temporary files and orphan
  // images, drops rows whose image is gone, and applies retention.
  // Errors: Unavailable (another server holds the lock), NotFound (kReader
  // and no store there), Corrupt (not a capture database, or a newer schema),
  // IOError / ResourceExhausted from the filesystem.
  static Result<std::unique_ptr<CaptureStore>> Open(const std::string& data_dir,
                                                    const StoreOptions& options,
                                                    Mode mode = Mode::kServe,
                                                    Env* env = DefaultEnv(),
                                                    const Clock* clock = &SystemClock());

  CaptureStore(const CaptureStore&) = delete;
  CaptureStore& operator=(const CaptureStore&) = delete;
  ~CaptureStore();

  // Stores one capture. Errors: InvalidArgument (bad id, empty or oversized
  // image, duplicate id), ResourceExhausted (paused: disk full or below
  // min_free_bytes), IOError. On error nothing of the capture is kept.
  Status Add(const NewCapture& capture);

  // NotFound when there is no capture with this id (ids are validated first:
  // InvalidArgument unless a UUID).
  Result<Capture> Get(const std::string& id) const;
  Result<CapturePage> List(const CaptureQuery& query) const;
  // How many captures match the query's filters (cursor and limit ignored).
  Result<int64_t> Count(const CaptureQuery& query) const;
  Result<StoreStats> Stats() const;

  // The capture's image bytes (read by the hash the database holds).
  Result<std::vector<uint8_t>> ReadImage(const Capture& capture) const;

  // Sets (or with nullopt clears) the human label of a classification
  // capture; returns the updated capture. InvalidArgument for an empty,
  // oversized, non-UTF-8 or control-character label, or a detection capture.
  Result<Capture> SetLabel(const std::string& id, const std::optional<std::string>& label);

  // Replaces (or with nullopt clears) the human regions of a detection
  // capture in one transaction; returns the updated capture. A region's tag
  // must be one of `known_tags` (the model's tags) or a tag already predicted
  // or drawn in this store. InvalidArgument (nothing changed) for a
  // classification capture, more than max_regions, an invalid or unknown tag,
  // or a box that is not finite, empty or outside the image.
  Result<Capture> SetRegions(const std::string& id,
                             const std::optional<std::vector<Region>>& regions,
                             const std::vector<std::string>& known_tags);

  // Records captures as uploaded to `project` (a Custom Vision project id),
  // all in one transaction; a capture already recorded keeps its first
  // record. Errors: Unsupported unless opened kServe or kUploader,
  // InvalidArgument for a record whose capture id is not a UUID, what
  // SQLite says otherwise (nothing recorded).
  Status RecordUploads(const std::string& project, const std::vector<UploadRecord>& records);
  // How many captures are recorded for `project`, by status.
  Result<std::map<std::string, int64_t>> UploadCounts(const std::string& project) const;

  // Removes the capture and its image (unless another capture has the same
  // image). NotFound if absent.
  Status Delete(const std::string& id);

  // Applies the age limit and the quota now.
  Status EnforceRetention();

  // Replaces the quota and/or the age limit while serving (the module twin's
  // capture.maxBytes / maxAgeSeconds) and applies retention at once with the
  // new limits, so a smaller quota evicts before this returns. nullopt keeps
  // the current value; a max_age of 0 removes the age limit. Safe from any
  // thread. Errors: InvalidArgument for a zero quota, Unsupported in
  // kReader mode, or what retention returns.
  Status SetLimits(std::optional<uint64_t> max_bytes, std::optional<std::chrono::seconds> max_age);
  // The limits in force (options() holds the ones the store opened with).
  uint64_t max_bytes() const { return max_bytes_; }
  std::chrono::seconds max_age() const { return std::chrono::seconds(max_age_s_.load()); }

  StoreHealth Health() const;
  const StoreOptions& options() const { return options_; }
  const std::string& data_dir() const { return data_dir_; }

  // Checks the invariants (for tests and `--check`): every row's file exists
  // with the recorded size and hash, no image file without a row, SQLite's
  // integrity_check passes. Returns the first problem as Corrupt.
  Status CheckConsistency() const;

  // The image path for a hash and format, relative to nothing (absolute if
  // data_dir is).
  std::string ImagePath(const std::string& sha256, const std::string& format) const;

 private:
  CaptureStore(std::string data_dir, const StoreOptions& options, Mode mode, Env* env,
               const Clock* clock);
  Status Init();
  Status CreateSchema();
  Status Reconcile();
  void UpdateDbBytes();
  // Removes rows (and their images if unreferenced); adds freed image bytes.
  Status RemoveRowsLocked(const std::vector<std::pair<int64_t, std::string>>& rows,
                          uint64_t* freed);
  Status RemoveImageIfUnreferencedLocked(const std::string& sha256, const std::string& format,
                                         uint64_t* freed);
  // Applies age and quota, leaving room for `incoming` more bytes.
  Status EnforceRetentionLocked(uint64_t incoming);
  // Checks free space; pauses with `reason` when short. Returns whether Add may proceed.
  bool CheckSpaceLocked(uint64_t need);
  void Pause(const std::string& reason);
  void Resume();
  // An Add that failed with `s`: a full disk pauses storing and counts as
  // refused; every failure becomes the last error. Returns `s`.
  Status AddFailed(Status s);
  Result<Capture> GetLocked(const std::string& id) const;
  // Fills predictions, detections and regions.
  Status LoadPredictions(std::vector<Capture>* captures) const;
  // Schema-dependent SQL: the capture columns ReadCapture reads, and the
  // "reviewed" condition (a reader may open a version 1 store unmigrated).
  std::string CaptureColumns() const;
  std::string ReviewedSql() const;
  // Unsupported for a not_uploaded_to query on a store older than the
  // upload table (a reader of an unmigrated store).
  Status CheckUploadQuery(const CaptureQuery& q) const;

  const std::string data_dir_;
  const std::string images_dir_;
  const std::string tmp_dir_;
  const std::string db_path_;
  const StoreOptions options_;
  const Mode mode_;
  Env* const env_;
  const Clock* const clock_;

  std::unique_ptr<FileLock> lock_;

  // Serialises writers (Add, Delete, retention): file create/unlink and the
  // rows that refer to them change together. Taken before db_mu_.
  std::mutex write_mu_;
  // Guards the connection.
  mutable std::mutex db_mu_;
  sqlite::DbPtr db_;  // guarded by db_mu_
  int schema_version_ = 0;  // of the open database; set once in Init

  // Guarded by write_mu_.
  std::chrono::steady_clock::time_point next_retention_{};
  std::chrono::steady_clock::time_point retry_at_{};

  // Limits in force: start from options_, changed by SetLimits under
  // write_mu_, read anywhere.
  std::atomic<uint64_t> max_bytes_{0};
  std::atomic<int64_t> max_age_s_{0};

  // Health counters; written under write_mu_, read anywhere.
  std::atomic<int64_t> count_{0};
  std::atomic<uint64_t> image_bytes_{0};
  std::atomic<uint64_t> db_bytes_{0};
  std::atomic<bool> paused_{false};
  std::atomic<int64_t> added_{0};
  std::atomic<int64_t> removed_{0};
  std::atomic<int64_t> refused_{0};
  mutable std::mutex status_mu_;
  std::string paused_reason_;  // guarded by status_mu_
  std::string last_error_;     // guarded by status_mu_
};

// True for a lowercase or uppercase RFC 4122 UUID string (36 characters).
bool IsValidCaptureId(const std::string& id);

// The file extension and MIME type for a stored format ("jpeg" -> "jpg",
// "image/jpeg"); unknown formats are "bin", "application/octet-stream".
std::string ExtensionForFormat(const std::string& format);
std::string MimeTypeForFormat(const std::string& format);

// Lowercase hex SHA-256 of `data` (core/sha256.h).
using ::edgevision::Sha256Hex;

}  // namespace edgevision::store
