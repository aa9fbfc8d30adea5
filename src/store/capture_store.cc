#include "store/capture_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace edgevision::store {

namespace {

// "EVCS" in the database header, so a stray SQLite file is never taken for
// a capture store.
constexpr int32_t kApplicationId = 0x45564353;
constexpr int kSchemaVersion = 3;

// Rows removed per retention batch (one transaction each).
constexpr int kRetentionBatch = 64;

// Version 1: classification captures. Kept as shipped: a new store is
// created at version 1 and migrated, so every store takes the same path.
const char* kSchemaV1 = R"sql(
CREATE TABLE IF NOT EXISTS captures (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  id              TEXT    NOT NULL UNIQUE,
  created_us      INTEGER NOT NULL,
  route           TEXT    NOT NULL,
  project         TEXT    NOT NULL,
  iteration       TEXT    NOT NULL,
  model_sha1      TEXT    NOT NULL,
  top_tag         TEXT    NOT NULL,
  top_probability REAL    NOT NULL,
  image_sha256    TEXT    NOT NULL,
  image_bytes     INTEGER NOT NULL,
  image_format    TEXT    NOT NULL,
  image_width     INTEGER NOT NULL,
  image_height    INTEGER NOT NULL,
  label           TEXT,
  reviewed_us     INTEGER,
  CHECK ((label IS NULL) = (reviewed_us IS NULL))
);
CREATE TABLE IF NOT EXISTS predictions (
  seq         INTEGER NOT NULL REFERENCES captures(seq) ON DELETE CASCADE,
  rank        INTEGER NOT NULL,
  tag         TEXT    NOT NULL,
  probability REAL    NOT NULL,
  PRIMARY KEY (seq, rank)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS captures_by_image ON captures(image_sha256);
CREATE INDEX IF NOT EXISTS captures_by_created ON captures(created_us);
CREATE INDEX IF NOT EXISTS captures_by_tag ON captures(top_tag, seq);
CREATE INDEX IF NOT EXISTS captures_by_label ON captures(label, seq) WHERE label IS NOT NULL;
CREATE INDEX IF NOT EXISTS captures_retention ON captures(label IS NOT NULL, seq);
)sql";

// Version 1 -> 2: detection captures. Only adds (ALTER TABLE ADD COLUMN
// rewrites no row), so old captures stay as they are, read as
// "classification" and unreviewed-by-regions. "Reviewed" becomes
// "has a label or regions", so the retention index follows.
const char* kMigrationV2 = R"sql(
ALTER TABLE captures ADD COLUMN kind TEXT NOT NULL DEFAULT 'classification'
  CHECK (kind IN ('classification', 'detection'));
ALTER TABLE captures ADD COLUMN regions_us INTEGER;
CREATE TABLE detections (
  seq         INTEGER NOT NULL REFERENCES captures(seq) ON DELETE CASCADE,
  rank        INTEGER NOT NULL,
  tag         TEXT    NOT NULL,
  tag_index   INTEGER NOT NULL,
  probability REAL    NOT NULL,
  box_left    REAL    NOT NULL,
  box_top     REAL    NOT NULL,
  box_width   REAL    NOT NULL,
  box_height  REAL    NOT NULL,
  PRIMARY KEY (seq, rank)
) WITHOUT ROWID;
CREATE TABLE regions (
  seq         INTEGER NOT NULL REFERENCES captures(seq) ON DELETE CASCADE,
  rank        INTEGER NOT NULL,
  tag         TEXT    NOT NULL,
  box_left    REAL    NOT NULL,
  box_top     REAL    NOT NULL,
  box_width   REAL    NOT NULL,
  box_height  REAL    NOT NULL,
  PRIMARY KEY (seq, rank)
) WITHOUT ROWID;
CREATE INDEX detections_by_tag ON detections(tag);
CREATE INDEX regions_by_tag ON regions(tag);
DROP INDEX captures_retention;
CREATE INDEX captures_retention2 ON captures((label IS NOT NULL OR regions_us IS NOT NULL), seq);
)sql";

// Version 2 -> 3: upload state for `edgevision export --upload`, kept
// beside the captures (a capture row's meaning does not change): one row per
// capture sent to a Custom Vision project, written when the service answered
// for it. A capture removed by retention or by hand takes its rows with it.
const char* kMigrationV3 = R"sql(
CREATE TABLE uploads (
  project     TEXT    NOT NULL,
  capture_id  TEXT    NOT NULL REFERENCES captures(id) ON DELETE CASCADE,
  status      TEXT    NOT NULL,
  image_id    TEXT    NOT NULL,
  uploaded_us INTEGER NOT NULL,
  PRIMARY KEY (project, capture_id)
) WITHOUT ROWID;
CREATE INDEX uploads_by_capture ON uploads(capture_id);
)sql";

// The columns ReadCapture reads; a version 1 store (opened by a reader,
// unmigrated) has no kind and no regions_us.
const char* kCaptureColumnsV1 =
    "seq, id, created_us, route, project, iteration, model_sha1, top_tag, top_probability, "
    "image_sha256, "
    "image_bytes, image_format, image_width, image_height, label, reviewed_us";
const char* kCaptureColumnsV2Suffix = ", kind, regions_us";
const char* kCaptureColumnsV1Suffix = ", 'classification', NULL";
const char* kReviewedV1 = "(label IS NOT NULL)";
const char* kReviewedV2 = "(label IS NOT NULL OR regions_us IS NOT NULL)";

int64_t ToMicros(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

TimePoint FromMicros(int64_t us) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds(us)));
}

Capture ReadCapture(const sqlite::Statement& st) {
  Capture c;
  c.seq = st.Int(0);
  c.id = st.Text(1);
  c.created = FromMicros(st.Int(2));
  c.route = st.Text(3);
  c.project = st.Text(4);
  c.iteration = st.Text(5);
  c.model_sha1 = st.Text(6);
  c.top_tag = st.Text(7);
  c.top_probability = st.Double(8);
  c.image_sha256 = st.Text(9);
  c.image_bytes = static_cast<uint64_t>(st.Int(10));
  c.image_format = st.Text(11);
  c.image_width = static_cast<int>(st.Int(12));
  c.image_height = static_cast<int>(st.Int(13));
  c.label = st.OptionalText(14);
  if (!st.IsNull(15)) c.reviewed = FromMicros(st.Int(15));
  c.kind = st.Text(16) == "detection" ? CaptureKind::kDetection : CaptureKind::kClassification;
  if (!st.IsNull(17)) {
    c.regions.emplace();  // filled by LoadPredictions
    c.reviewed = FromMicros(st.Int(17));
  }
  return c;
}

bool IsLowerHex(const std::string& s, size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Strict UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool IsValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

Status ValidateLabel(const std::string& label, size_t max_bytes,
                     const std::string& what = "label") {
  if (label.empty()) return InvalidArgument(what + " must not be empty (use null to clear it)");
  if (label.size() > max_bytes) {
    return InvalidArgument(what + " is " + std::to_string(label.size()) +
                           " bytes; the limit is " + std::to_string(max_bytes));
  }
  if (!IsValidUtf8(label)) return InvalidArgument(what + " is not valid UTF-8");
  for (unsigned char c : label) {
    if (c < 0x20 || c == 0x7f) return InvalidArgument(what + " contains control characters");
  }
  return Status::Ok();
}

// A region's box: finite, not empty, inside the image. A box drawn to the
// edge may overshoot 1 by a rounding error; that much is accepted.
Status ValidateRegionBox(const detect::BoundingBox& b, const std::string& what) {
  constexpr double kSlack = 1e-9;
  for (double v : {b.left, b.top, b.width, b.height}) {
    if (!std::isfinite(v)) return InvalidArgument(what + ": coordinates must be finite numbers");
  }
  if (b.width <= 0 || b.height <= 0)
    return InvalidArgument(what + ": width and height must be greater than 0");
  if (b.left < 0 || b.top < 0 || b.left + b.width > 1 + kSlack || b.top + b.height > 1 + kSlack) {
    return InvalidArgument(what +
                           ": the box must lie inside the image (0 <= left, left + width <= 1, "
                           "0 <= top, top + height <= 1; normalised)");
  }
  return Status::Ok();
}

std::string ToLower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The first column of the first row of `sql` (0 when there is no row).
Result<int64_t> QueryInt(sqlite3* db, const char* sql) {
  EV_ASSIGN_OR_RETURN(sqlite::Statement st, sqlite::Statement::Prepare(db, sql));
  EV_ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? st.Int(0) : 0;
}

Status CheckQuery(const CaptureQuery& q) {
  if (q.min_p && q.max_p && *q.min_p > *q.max_p)
    return InvalidArgument("min_p is greater than max_p");
  if (q.from && q.to && *q.from > *q.to) return InvalidArgument("from is after to");
  return Status::Ok();
}

// The WHERE clause for a query's filters (and its cursor when `paging`);
// `reviewed` is the schema's "reviewed" condition.
std::string WhereClause(const CaptureQuery& q, bool paging, const std::string& reviewed) {
  std::string sql = " WHERE 1";
  if (q.tag) sql += " AND top_tag = :tag";
  if (q.label) sql += " AND label = :label";
  if (q.min_p) sql += " AND top_probability >= :min_p";
  if (q.max_p) sql += " AND top_probability < :max_p";
  if (q.reviewed) sql += (*q.reviewed ? " AND " : " AND NOT ") + reviewed;
  if (q.from) sql += " AND created_us >= :from";
  if (q.to) sql += " AND created_us < :to";
  if (q.not_uploaded_to) {
    sql += " AND NOT EXISTS (SELECT 1 FROM uploads WHERE uploads.capture_id = captures.id AND "
           "uploads.project = :not_uploaded_to)";
  }
  if (paging && q.after) sql += q.oldest_first ? " AND seq > :after" : " AND seq < :after";
  return sql;
}

void BindQuery(const CaptureQuery& q, bool paging, sqlite::Statement* st) {
  if (q.tag) st->Bind(st->ParamIndex(":tag"), std::string_view(*q.tag));
  if (q.label) st->Bind(st->ParamIndex(":label"), std::string_view(*q.label));
  if (q.min_p) st->Bind(st->ParamIndex(":min_p"), *q.min_p);
  if (q.max_p) st->Bind(st->ParamIndex(":max_p"), *q.max_p);
  if (q.from) st->Bind(st->ParamIndex(":from"), ToMicros(*q.from));
  if (q.to) st->Bind(st->ParamIndex(":to"), ToMicros(*q.to));
  if (q.not_uploaded_to)
    st->Bind(st->ParamIndex(":not_uploaded_to"), std::string_view(*q.not_uploaded_to));
  if (paging && q.after) st->Bind(st->ParamIndex(":after"), *q.after);
}

}  // namespace

const StoredDetection* MostProbable(const std::vector<StoredDetection>& detections) {
  const StoredDetection* top = nullptr;
  for (const StoredDetection& d : detections) {
    if (!top || d.probability > top->probability) top = &d;
  }
  return top;
}

const char* CaptureKindName(CaptureKind kind) {
  return kind == CaptureKind::kDetection ? "detection" : "classification";
}

bool IsValidCaptureId(const std::string& id) {
  if (id.size() != 36) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return false;
    }
  }
  return true;
}

std::string ExtensionForFormat(const std::string& format) {
  if (format == "jpeg") return "jpg";
  if (format == "png" || format == "bmp" || format == "gif" || format == "webp") return format;
  return "bin";
}

std::string MimeTypeForFormat(const std::string& format) {
  if (format == "jpeg") return "image/jpeg";
  if (format == "png" || format == "bmp" || format == "gif" || format == "webp")
    return "image/" + format;
  return "application/octet-stream";
}

CaptureStore::CaptureStore(std::string data_dir, const StoreOptions& options, Mode mode, Env* env,
                           const Clock* clock)
    : data_dir_(std::move(data_dir)),
      images_dir_(data_dir_ + "/captures"),
      tmp_dir_(images_dir_ + "/tmp"),
      db_path_(data_dir_ + "/captures.db"),
      options_(options),
      mode_(mode),
      env_(env),
      clock_(clock) {
  max_bytes_ = options_.max_bytes;
  max_age_s_ = options_.max_age.count();
}

CaptureStore::~CaptureStore() {
  std::lock_guard<std::mutex> w(write_mu_);
  std::lock_guard<std::mutex> d(db_mu_);
  if (db_ && mode_ == Mode::kServe) {
    // Fold the WAL into the database so the folder is one self-contained
    // file set; harmless if it fails (the WAL is replayed at the next open).
    sqlite3_wal_checkpoint_v2(db_.get(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  }
  db_.reset();
}

Result<std::unique_ptr<CaptureStore>> CaptureStore::Open(const std::string& data_dir,
                                                         const StoreOptions& options, Mode mode,
                                                         Env* env, const Clock* clock) {
  if (data_dir.empty())
    return InvalidArgument("the capture store needs a data directory (--data-dir)");
  std::string dir = data_dir;
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  std::unique_ptr<CaptureStore> store(new CaptureStore(dir, options, mode, env, clock));
  EV_RETURN_IF_ERROR(store->Init());
  return store;
}

Status CaptureStore::Init() {
  if (mode_ == Mode::kServe) {
    EV_RETURN_IF_ERROR(env_->CreateDir(data_dir_));
    EV_ASSIGN_OR_RETURN(lock_, env_->LockFile(data_dir_ + "/captures.lock"));
    EV_RETURN_IF_ERROR(env_->CreateDir(images_dir_));
    EV_RETURN_IF_ERROR(env_->CreateDir(tmp_dir_));
  } else if (!env_->FileExists(db_path_)) {
    return NotFound("no capture store in " + data_dir_ + " (" + db_path_ + " does not exist)");
  }

  std::lock_guard<std::mutex> w(write_mu_);
  {
    std::lock_guard<std::mutex> d(db_mu_);
    EV_ASSIGN_OR_RETURN(db_, sqlite::Open(db_path_, mode_ == Mode::kServe, options_.sqlite_vfs));
    sqlite3_busy_timeout(db_.get(), 5000);
    // Reading the header is the first access: a non-database file fails here.
    EV_ASSIGN_OR_RETURN(const int64_t app_id, QueryInt(db_.get(), "PRAGMA application_id"));
    EV_ASSIGN_OR_RETURN(const int64_t version, QueryInt(db_.get(), "PRAGMA user_version"));
    EV_ASSIGN_OR_RETURN(const int64_t tables,
                        QueryInt(db_.get(), "SELECT count(*) FROM sqlite_master"));
    const bool empty = tables == 0;
    if (!empty && app_id != kApplicationId) {
      return Corrupt(db_path_ +
                     " is an SQLite database but not an edgevision capture store (application_id " +
                     std::to_string(app_id) + ")");
    }
    if (version > kSchemaVersion) {
      return Corrupt(db_path_ + " has capture schema version " + std::to_string(version) +
                     "; this edgevision reads up to " + std::to_string(kSchemaVersion));
    }
    if (mode_ != Mode::kServe && empty)
      return NotFound("no capture store in " + data_dir_ + " (empty database)");
    schema_version_ = static_cast<int>(version);
    EV_RETURN_IF_ERROR(sqlite::Exec(db_.get(), "PRAGMA foreign_keys=ON"));
    if (mode_ == Mode::kServe) {
      // auto_vacuum only takes effect before the first table exists.
      if (empty) EV_RETURN_IF_ERROR(sqlite::Exec(db_.get(), "PRAGMA auto_vacuum=INCREMENTAL"));
      EV_RETURN_IF_ERROR(sqlite::Exec(db_.get(), "PRAGMA journal_mode=WAL"));
      // WAL + NORMAL: a crash (kill -9, power loss) may lose the last commits
      // but never corrupts; a lost row only leaves an orphan image, which
      // Reconcile() removes.
      EV_RETURN_IF_ERROR(sqlite::Exec(db_.get(), "PRAGMA synchronous=NORMAL"));
      // Bound the WAL (it counts towards the quota): checkpoint every 256
      // pages (1 MiB) and truncate it back to 1 MiB after a checkpoint.
      EV_RETURN_IF_ERROR(sqlite::Exec(db_.get(), "PRAGMA wal_autocheckpoint=256"));
      EV_RETURN_IF_ERROR(sqlite::Exec(db_.get(), "PRAGMA journal_size_limit=1048576"));
      if (empty || version < kSchemaVersion) EV_RETURN_IF_ERROR(CreateSchema());
      schema_version_ = kSchemaVersion;
    } else if (mode_ == Mode::kUploader && version < kSchemaVersion) {
      // The upload table is new in version 3; the migration only adds, so a
      // server of this schema or an older one keeps serving meanwhile.
      EV_RETURN_IF_ERROR(CreateSchema());
      schema_version_ = kSchemaVersion;
    }
  }
  if (mode_ != Mode::kServe) return Status::Ok();
  EV_RETURN_IF_ERROR(Reconcile());
  return EnforceRetentionLocked(0);
}

// Creates the store (version 0) or migrates it, in one transaction: a
// failure (a full disk, a crash) leaves the database as it was.
Status CaptureStore::CreateSchema() {
  sqlite::Transaction t(db_.get());
  EV_RETURN_IF_ERROR(t.Begin());
  EV_ASSIGN_OR_RETURN(const int64_t version, QueryInt(db_.get(), "PRAGMA user_version"));
  if (version < 1) EV_RETURN_IF_ERROR(sqlite::Exec(db_.get(), kSchemaV1));
  if (version < 2) {
    if (version >= 1) spdlog::info("capture store: migrating {} to schema version 2", db_path_);
    EV_RETURN_IF_ERROR(sqlite::Exec(db_.get(), kMigrationV2));
  }
  if (version < 3) {
    if (version >= 1) spdlog::info("capture store: migrating {} to schema version 3", db_path_);
    EV_RETURN_IF_ERROR(sqlite::Exec(db_.get(), kMigrationV3));
  }
  EV_RETURN_IF_ERROR(
      sqlite::Exec(db_.get(), ("PRAGMA application_id=" + std::to_string(kApplicationId)).c_str()));
  EV_RETURN_IF_ERROR(
      sqlite::Exec(db_.get(), ("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str()));
  return t.Commit();
}

std::string CaptureStore::ImagePath(const std::string& sha256, const std::string& format) const {
  return images_dir_ + "/" + sha256.substr(0, 2) + "/" + sha256 + "." + ExtensionForFormat(format);
}

Status CaptureStore::Reconcile() {
  // 1. Writes that never finished.
  EV_ASSIGN_OR_RETURN(std::vector<std::string> tmp_files, env_->ListDir(tmp_dir_));
  for (const std::string& name : tmp_files) {
    Status s = env_->RemoveFile(tmp_dir_ + "/" + name);
    if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
  }

  // 2. What the database refers to: file name -> expected size.
  std::map<std::string, uint64_t> referenced;
  {
    std::lock_guard<std::mutex> d(db_mu_);
    EV_ASSIGN_OR_RETURN(
        sqlite::Statement st,
        sqlite::Statement::Prepare(db_.get(),
                                   "SELECT DISTINCT image_sha256, image_format, image_bytes "
                                   "FROM captures"));
    while (true) {
      EV_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      const std::string sha = st.Text(0);
      referenced[sha + "." + ExtensionForFormat(st.Text(1))] = static_cast<uint64_t>(st.Int(2));
    }
  }

  // 3. Image files: keep referenced ones with the right size, remove orphans.
  std::set<std::string> present;
  uint64_t bytes = 0;
  int orphans = 0;
  EV_ASSIGN_OR_RETURN(std::vector<std::string> fanout, env_->ListDir(images_dir_));
  for (const std::string& sub : fanout) {
    if (sub == "tmp") continue;
    const std::string sub_dir = images_dir_ + "/" + sub;
    if (!IsLowerHex(sub, 2) || !env_->IsDirectory(sub_dir)) {
      spdlog::warn("capture store: ignoring unexpected entry {}", sub_dir);
      continue;
    }
    EV_ASSIGN_OR_RETURN(std::vector<std::string> files, env_->ListDir(sub_dir));
    for (const std::string& name : files) {
      const std::string path = sub_dir + "/" + name;
      const size_t dot = name.find('.');
      if (dot != 64 || !IsLowerHex(name.substr(0, 64), 64) || name.compare(0, 2, sub) != 0) {
        spdlog::warn("capture store: ignoring unexpected file {}", path);
        continue;
      }
      auto it = referenced.find(name);
      Result<uint64_t> size = env_->FileSize(path);
      if (it != referenced.end() && size.ok() && *size == it->second) {
        present.insert(name);
        bytes += *size;
        continue;
      }
      // An orphan (its row was never committed or already removed), or a
      // file whose size does not match its row: remove it.
      Status s = env_->RemoveFile(path);
      if (!s.ok() && s.code() != StatusCode::kNotFound) return s;
      ++orphans;
    }
  }

  // 4. Rows whose image is gone (removed by hand, or lost with a filesystem).
  int64_t dropped = 0;
  int64_t count = 0;
  {
    std::lock_guard<std::mutex> d(db_mu_);
    std::vector<int64_t> missing;
    EV_ASSIGN_OR_RETURN(sqlite::Statement st,
                        sqlite::Statement::Prepare(
                            db_.get(), "SELECT seq, image_sha256, image_format FROM captures"));
    while (true) {
      EV_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      ++count;
      if (!present.count(st.Text(1) + "." + ExtensionForFormat(st.Text(2))))
        missing.push_back(st.Int(0));
    }
    if (!missing.empty()) {
      sqlite::Transaction t(db_.get());
      EV_RETURN_IF_ERROR(t.Begin());
      EV_ASSIGN_OR_RETURN(
          sqlite::Statement del,
          sqlite::Statement::Prepare(db_.get(), "DELETE FROM captures WHERE seq = ?"));
      for (int64_t seq : missing) {
        del.Reset();
        EV_RETURN_IF_ERROR(del.Bind(1, seq).Run());
      }
      EV_RETURN_IF_ERROR(t.Commit());
      dropped = static_cast<int64_t>(missing.size());
    }
  }
  if (orphans > 0)
    spdlog::warn("capture store: removed {} image files no capture refers to", orphans);
  if (dropped > 0)
    spdlog::warn("capture store: dropped {} captures whose image file was missing", dropped);
  count_ = count - dropped;
  image_bytes_ = bytes;
  UpdateDbBytes();
  return Status::Ok();
}

void CaptureStore::UpdateDbBytes() {
  uint64_t total = 0;
  for (const char* suffix : {"", "-wal"}) {
    Result<uint64_t> size = env_->FileSize(db_path_ + suffix);
    if (size.ok()) total += *size;
  }
  db_bytes_ = total;
}

void CaptureStore::Pause(const std::string& reason) {
  retry_at_ = clock_->Monotonic() + options_.pause_retry;
  bool was = paused_.exchange(true);
  std::lock_guard<std::mutex> s(status_mu_);
  paused_reason_ = reason;
  if (!was) spdlog::warn("capture store: storing paused: {}", reason);
}

void CaptureStore::Resume() {
  if (!paused_.exchange(false)) return;
  std::lock_guard<std::mutex> s(status_mu_);
  paused_reason_.clear();
  spdlog::info("capture store: storing resumed");
}

bool CaptureStore::CheckSpaceLocked(uint64_t need) {
  Result<uint64_t> free = env_->FreeBytes(images_dir_);
  if (!free.ok()) return true;  // cannot tell; the write itself will say
  if (*free < options_.min_free_bytes + need) {
    Pause("disk low: " + std::to_string(*free) + " bytes free on " + images_dir_ + ", keeping " +
          std::to_string(options_.min_free_bytes) + " free");
    return false;
  }
  return true;
}

Status CaptureStore::Add(const NewCapture& capture) {
  if (mode_ != Mode::kServe) return Internal("capture store opened read-only");
  if (!IsValidCaptureId(capture.id))
    return InvalidArgument("capture id '" + capture.id + "' is not a UUID");
  if (capture.image.empty()) return InvalidArgument("capture " + capture.id + " has no image");
  if (capture.image.size() > options_.max_image_bytes) {
    return InvalidArgument(
        "capture " + capture.id + ": image of " + std::to_string(capture.image.size()) +
        " bytes exceeds the store's limit of " + std::to_string(options_.max_image_bytes));
  }
  std::string id = capture.id;
  std::transform(id.begin(), id.end(), id.begin(), [](unsigned char c) { return std::tolower(c); });

  std::lock_guard<std::mutex> w(write_mu_);
  if (paused_ && clock_->Monotonic() < retry_at_) {
    ++refused_;
    std::lock_guard<std::mutex> s(status_mu_);
    return ResourceExhausted("storing paused: " + paused_reason_);
  }
  if (!CheckSpaceLocked(capture.image.size())) {
    ++refused_;
    std::lock_guard<std::mutex> s(status_mu_);
    return ResourceExhausted("storing paused: " + paused_reason_);
  }

  // Make room first so the quota is an upper bound.
  if (image_bytes_ + db_bytes_ + capture.image.size() > max_bytes_ ||
      clock_->Monotonic() >= next_retention_) {
    Status s = EnforceRetentionLocked(capture.image.size());
    if (!s.ok()) spdlog::warn("capture store: retention: {}", s.message());
  }

  const std::string sha = Sha256Hex(capture.image);
  if (sha.size() != 64) return Internal("SHA-256 failed for capture " + id);
  const std::string path = ImagePath(sha, capture.image_format);
  bool wrote = false;
  if (!env_->FileExists(path)) {
    const std::string sub_dir = DirName(path);
    Status s = Status::Ok();
    if (!env_->IsDirectory(sub_dir)) {
      s = env_->CreateDir(sub_dir);
      if (s.ok()) s = env_->SyncDir(images_dir_);
    }
    if (s.ok()) s = WriteFileAtomic(env_, tmp_dir_, path, capture.image);
    if (!s.ok()) {
      if (s.code() == StatusCode::kResourceExhausted) {
        Pause(s.message());
        ++refused_;
      }
      std::lock_guard<std::mutex> st(status_mu_);
      last_error_ = s.message();
      return s;
    }
    wrote = true;
  }

  Status s = [&]() -> Status {
    std::lock_guard<std::mutex> d(db_mu_);
    sqlite::Transaction t(db_.get());
    EV_RETURN_IF_ERROR(t.Begin());
    std::string top_tag = capture.predictions.empty() ? "" : capture.predictions[0].tag;
    double top_p = capture.predictions.empty() ? 0.0 : capture.predictions[0].probability;
    if (capture.kind == CaptureKind::kDetection) {
      const StoredDetection* top = MostProbable(capture.detections);
      top_tag = top ? top->tag : "";
      top_p = top ? top->probability : 0.0;
    }
    EV_ASSIGN_OR_RETURN(
        sqlite::Statement ins,
        sqlite::Statement::Prepare(
            db_.get(),
            "INSERT INTO captures (id, created_us, route, project, iteration, model_sha1, top_tag, "
            "top_probability, image_sha256, image_bytes, image_format, image_width, image_height, "
            "kind) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
    ins.Bind(1, std::string_view(id))
        .Bind(2, ToMicros(capture.created))
        .Bind(3, std::string_view(capture.route))
        .Bind(4, std::string_view(capture.project))
        .Bind(5, std::string_view(capture.iteration))
        .Bind(6, std::string_view(capture.model_sha1))
        .Bind(7, std::string_view(top_tag))
        .Bind(8, top_p)
        .Bind(9, std::string_view(sha))
        .Bind(10, static_cast<int64_t>(capture.image.size()))
        .Bind(11, std::string_view(capture.image_format))
        .Bind(12, static_cast<int64_t>(capture.image_width))
        .Bind(13, static_cast<int64_t>(capture.image_height))
        .Bind(14, std::string_view(CaptureKindName(capture.kind)));
    EV_RETURN_IF_ERROR(ins.Run());
    const int64_t seq = sqlite3_last_insert_rowid(db_.get());
    EV_ASSIGN_OR_RETURN(
        sqlite::Statement pred,
        sqlite::Statement::Prepare(
            db_.get(), "INSERT INTO predictions (seq, rank, tag, probability) VALUES (?,?,?,?)"));
    for (size_t i = 0; i < capture.predictions.size(); ++i) {
      pred.Reset();
      pred.Bind(1, seq)
          .Bind(2, static_cast<int64_t>(i))
          .Bind(3, std::string_view(capture.predictions[i].tag))
          .Bind(4, capture.predictions[i].probability);
      EV_RETURN_IF_ERROR(pred.Run());
    }
    if (capture.kind == CaptureKind::kDetection) {
      EV_ASSIGN_OR_RETURN(
          sqlite::Statement det,
          sqlite::Statement::Prepare(
              db_.get(),
              "INSERT INTO detections (seq, rank, tag, tag_index, probability, box_left, box_top, "
              "box_width, box_height) VALUES (?,?,?,?,?,?,?,?,?)"));
      for (size_t i = 0; i < capture.detections.size(); ++i) {
        const StoredDetection& d = capture.detections[i];
        det.Reset();
        det.Bind(1, seq)
            .Bind(2, static_cast<int64_t>(i))
            .Bind(3, std::string_view(d.tag))
            .Bind(4, static_cast<int64_t>(d.tag_index))
            .Bind(5, d.probability)
            .Bind(6, d.box.left)
            .Bind(7, d.box.top)
            .Bind(8, d.box.width)
            .Bind(9, d.box.height);
        EV_RETURN_IF_ERROR(det.Run());
      }
    }
    return t.Commit();
  }();

  if (!s.ok()) {
    if (s.code() == StatusCode::kInvalidArgument)
      s = InvalidArgument("capture " + id + ": " + s.message());
    if (wrote) {
      uint64_t freed = 0;
      std::lock_guard<std::mutex> d(db_mu_);
      (void)RemoveImageIfUnreferencedLocked(sha, capture.image_format, &freed);
    }
    if (s.code() == StatusCode::kResourceExhausted) {
      Pause(s.message());
      ++refused_;
    }
    std::lock_guard<std::mutex> st(status_mu_);
    last_error_ = s.message();
    return s;
  }
  if (wrote) image_bytes_ += capture.image.size();
  ++count_;
  ++added_;
  Resume();
  UpdateDbBytes();
  return Status::Ok();
}

Status CaptureStore::RemoveImageIfUnreferencedLocked(const std::string& sha256,
                                                     const std::string& format, uint64_t* freed) {
  EV_ASSIGN_OR_RETURN(sqlite::Statement st,
                      sqlite::Statement::Prepare(
                          db_.get(), "SELECT 1 FROM captures WHERE image_sha256 = ? LIMIT 1"));
  st.Bind(1, std::string_view(sha256));
  EV_ASSIGN_OR_RETURN(bool referenced, st.Step());
  if (referenced) return Status::Ok();
  const std::string path = ImagePath(sha256, format);
  Result<uint64_t> size = env_->FileSize(path);
  Status s = env_->RemoveFile(path);
  if (!s.ok() && s.code() != StatusCode::kNotFound)
    return s;  // an orphan; Reconcile() removes it later
  if (s.ok() && size.ok()) {
    *freed += *size;
    image_bytes_ -= std::min<uint64_t>(image_bytes_, *size);
  }
  return Status::Ok();
}

Status CaptureStore::RemoveRowsLocked(const std::vector<std::pair<int64_t, std::string>>& rows,
                                      uint64_t* freed) {
  // rows: (seq, "<sha256>.<format>")
  {
    sqlite::Transaction t(db_.get());
    EV_RETURN_IF_ERROR(t.Begin());
    EV_ASSIGN_OR_RETURN(
        sqlite::Statement del,
        sqlite::Statement::Prepare(db_.get(), "DELETE FROM captures WHERE seq = ?"));
    for (const auto& row : rows) {
      del.Reset();
      EV_RETURN_IF_ERROR(del.Bind(1, row.first).Run());
    }
    EV_RETURN_IF_ERROR(t.Commit());
  }
  count_ -= static_cast<int64_t>(rows.size());
  // Files go after the rows: a crash in between leaves only orphans.
  std::set<std::string> images;
  for (const auto& row : rows) images.insert(row.second);
  Status first = Status::Ok();
  for (const std::string& image : images) {
    const size_t dot = image.find('.');
    Status s = RemoveImageIfUnreferencedLocked(image.substr(0, dot), image.substr(dot + 1), freed);
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

Status CaptureStore::EnforceRetention() {
  if (mode_ != Mode::kServe) return Status::Ok();
  std::lock_guard<std::mutex> w(write_mu_);
  return EnforceRetentionLocked(0);
}

Status CaptureStore::SetLimits(std::optional<uint64_t> max_bytes,
                               std::optional<std::chrono::seconds> max_age) {
  if (max_bytes && *max_bytes == 0) return InvalidArgument("capture store: the quota must be > 0");
  if (max_age && max_age->count() < 0) {
    return InvalidArgument("capture store: the age limit must be >= 0");
  }
  if (mode_ != Mode::kServe) return Unsupported("capture store opened read-only");
  std::lock_guard<std::mutex> w(write_mu_);
  if (max_bytes) max_bytes_ = *max_bytes;
  if (max_age) max_age_s_ = max_age->count();
  spdlog::info("capture store: limits now {} bytes, max age {} s", max_bytes_.load(),
               max_age_s_.load());
  return EnforceRetentionLocked(0);
}

Status CaptureStore::EnforceRetentionLocked(uint64_t incoming) {
  next_retention_ = clock_->Monotonic() + options_.retention_interval;
  std::lock_guard<std::mutex> d(db_mu_);
  auto take = [&](const std::string& sql, std::optional<int64_t> bind,
                  std::vector<std::pair<int64_t, std::string>>* rows) -> Status {
    rows->clear();
    EV_ASSIGN_OR_RETURN(sqlite::Statement st, sqlite::Statement::Prepare(db_.get(), sql));
    if (bind) st.Bind(1, *bind);
    while (true) {
      EV_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      rows->emplace_back(st.Int(0), st.Text(1) + "." + st.Text(2));
    }
    return Status::Ok();
  };
  std::vector<std::pair<int64_t, std::string>> rows;
  int64_t removed = 0;
  uint64_t freed = 0;
  const std::string batch = std::to_string(kRetentionBatch);
  if (max_age_s_ > 0) {
    const int64_t cutoff = ToMicros(clock_->Now() - max_age());
    while (true) {
      EV_RETURN_IF_ERROR(
          take("SELECT seq, image_sha256, image_format FROM captures "
               "WHERE NOT " + std::string(kReviewedV2) + " AND created_us < ? ORDER BY seq LIMIT " +
                   batch,
               cutoff, &rows));
      if (rows.empty()) break;
      EV_RETURN_IF_ERROR(RemoveRowsLocked(rows, &freed));
      removed += static_cast<int64_t>(rows.size());
    }
  }
  UpdateDbBytes();
  while (image_bytes_ + db_bytes_ + incoming > max_bytes_) {
    const uint64_t excess = image_bytes_ + db_bytes_ + incoming - max_bytes_;
    // Oldest unreviewed first, then oldest reviewed; just enough of them.
    std::vector<std::pair<int64_t, std::string>> candidates;
    EV_ASSIGN_OR_RETURN(sqlite::Statement st,
                        sqlite::Statement::Prepare(
                            db_.get(),
                            "SELECT seq, image_sha256, image_format, image_bytes FROM captures "
                            "ORDER BY " + std::string(kReviewedV2) + ", seq LIMIT " +
                                batch));
    uint64_t planned = 0;
    while (planned < excess) {
      EV_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      candidates.emplace_back(st.Int(0), st.Text(1) + "." + st.Text(2));
      planned += static_cast<uint64_t>(st.Int(3));
    }
    st.Reset();  // end the read before writing
    if (candidates.empty()) break;
    EV_RETURN_IF_ERROR(RemoveRowsLocked(candidates, &freed));
    removed += static_cast<int64_t>(candidates.size());
    // Give freed pages back to the filesystem so the quota can be met.
    (void)sqlite::Exec(db_.get(), "PRAGMA incremental_vacuum");
    UpdateDbBytes();
  }
  if (removed > 0) {
    removed_ += removed;
    (void)sqlite::Exec(db_.get(), "PRAGMA incremental_vacuum");
    UpdateDbBytes();
    spdlog::info("capture store: retention removed {} captures ({} image bytes)", removed, freed);
  }
  return Status::Ok();
}

Result<Capture> CaptureStore::GetLocked(const std::string& id) const {
  if (!IsValidCaptureId(id))
    return InvalidArgument("capture id '" + id.substr(0, 64) + "' is not a UUID");
  std::string lower = id;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement st,
      sqlite::Statement::Prepare(
          db_.get(), "SELECT " + CaptureColumns() + " FROM captures WHERE id = ?"));
  st.Bind(1, std::string_view(lower));
  EV_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NotFound("no capture with id " + lower);
  std::vector<Capture> one{ReadCapture(st)};
  EV_RETURN_IF_ERROR(LoadPredictions(&one));
  return std::move(one[0]);
}

Result<Capture> CaptureStore::Get(const std::string& id) const {
  std::lock_guard<std::mutex> d(db_mu_);
  return GetLocked(id);
}

std::string CaptureStore::CaptureColumns() const {
  return std::string(kCaptureColumnsV1) +
         (schema_version_ >= 2 ? kCaptureColumnsV2Suffix : kCaptureColumnsV1Suffix);
}

std::string CaptureStore::ReviewedSql() const {
  return schema_version_ >= 2 ? kReviewedV2 : kReviewedV1;
}

Status CaptureStore::LoadPredictions(std::vector<Capture>* captures) const {
  if (captures->empty()) return Status::Ok();
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement st,
      sqlite::Statement::Prepare(
          db_.get(), "SELECT tag, probability FROM predictions WHERE seq = ? ORDER BY rank"));
  for (Capture& c : *captures) {
    st.Reset();
    st.Bind(1, c.seq);
    while (true) {
      EV_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      c.predictions.push_back({st.Text(0), st.Double(1)});
    }
  }
  if (schema_version_ < 2) return Status::Ok();
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement det,
      sqlite::Statement::Prepare(db_.get(),
                                 "SELECT tag, tag_index, probability, box_left, box_top, "
                                 "box_width, box_height FROM detections WHERE seq = ? ORDER BY rank"));
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement reg,
      sqlite::Statement::Prepare(db_.get(),
                                 "SELECT tag, box_left, box_top, box_width, box_height FROM regions "
                                 "WHERE seq = ? ORDER BY rank"));
  for (Capture& c : *captures) {
    if (c.kind != CaptureKind::kDetection) continue;
    det.Reset();
    det.Bind(1, c.seq);
    while (true) {
      EV_ASSIGN_OR_RETURN(bool row, det.Step());
      if (!row) break;
      c.detections.push_back({det.Text(0), static_cast<int>(det.Int(1)), det.Double(2),
                              {det.Double(3), det.Double(4), det.Double(5), det.Double(6)}});
    }
    if (!c.regions) continue;
    reg.Reset();
    reg.Bind(1, c.seq);
    while (true) {
      EV_ASSIGN_OR_RETURN(bool row, reg.Step());
      if (!row) break;
      c.regions->push_back(
          {reg.Text(0), {reg.Double(1), reg.Double(2), reg.Double(3), reg.Double(4)}});
    }
  }
  return Status::Ok();
}

Result<CapturePage> CaptureStore::List(const CaptureQuery& q) const {
  EV_RETURN_IF_ERROR(CheckQuery(q));
  EV_RETURN_IF_ERROR(CheckUploadQuery(q));
  const int limit = std::clamp(q.limit, 1, kMaxPageSize);
  std::string sql =
      "SELECT " + CaptureColumns() + " FROM captures" + WhereClause(q, true, ReviewedSql());
  sql += q.oldest_first ? " ORDER BY seq ASC" : " ORDER BY seq DESC";
  sql += " LIMIT " + std::to_string(limit + 1);

  std::lock_guard<std::mutex> d(db_mu_);
  EV_ASSIGN_OR_RETURN(sqlite::Statement st, sqlite::Statement::Prepare(db_.get(), sql));
  BindQuery(q, true, &st);
  CapturePage page;
  while (true) {
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    if (static_cast<int>(page.captures.size()) == limit) {
      page.next = page.captures.back().seq;
      break;
    }
    page.captures.push_back(ReadCapture(st));
  }
  EV_RETURN_IF_ERROR(LoadPredictions(&page.captures));
  return page;
}

Result<int64_t> CaptureStore::Count(const CaptureQuery& q) const {
  EV_RETURN_IF_ERROR(CheckQuery(q));
  EV_RETURN_IF_ERROR(CheckUploadQuery(q));
  std::lock_guard<std::mutex> d(db_mu_);
  EV_ASSIGN_OR_RETURN(sqlite::Statement st,
                      sqlite::Statement::Prepare(
                          db_.get(), "SELECT count(*) FROM captures" +
                                         WhereClause(q, false, ReviewedSql())));
  BindQuery(q, false, &st);
  EV_ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? st.Int(0) : 0;
}

Result<StoreStats> CaptureStore::Stats() const {
  std::lock_guard<std::mutex> d(db_mu_);
  StoreStats stats;
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement by_tag,
      sqlite::Statement::Prepare(db_.get(),
                                 "SELECT top_tag, count(*), total(NOT " + ReviewedSql() +
                                     "), total(label = top_tag) FROM captures GROUP BY top_tag"));
  while (true) {
    EV_ASSIGN_OR_RETURN(bool row, by_tag.Step());
    if (!row) break;
    const int64_t n = by_tag.Int(1);
    const int64_t unreviewed = static_cast<int64_t>(by_tag.Double(2));
    stats.captures += n;
    stats.unreviewed += unreviewed;
    const std::string tag = by_tag.Text(0);
    if (tag.empty()) continue;
    TagCounts& t = stats.tags[tag];
    t.predicted = n;
    t.unreviewed = unreviewed;
    t.confirmed = static_cast<int64_t>(by_tag.Double(3));
  }
  stats.reviewed = stats.captures - stats.unreviewed;
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement by_label,
      sqlite::Statement::Prepare(db_.get(),
                                 "SELECT label, count(*) FROM captures WHERE label IS NOT NULL "
                                 "GROUP BY label"));
  while (true) {
    EV_ASSIGN_OR_RETURN(bool row, by_label.Step());
    if (!row) break;
    stats.tags[by_label.Text(0)].labelled = by_label.Int(1);
  }
  if (schema_version_ >= 2) {
    EV_ASSIGN_OR_RETURN(
        sqlite::Statement by_region,
        sqlite::Statement::Prepare(db_.get(), "SELECT tag, count(*) FROM regions GROUP BY tag"));
    while (true) {
      EV_ASSIGN_OR_RETURN(bool row, by_region.Step());
      if (!row) break;
      stats.tags[by_region.Text(0)].regions = by_region.Int(1);
    }
  }
  return stats;
}

Result<std::vector<uint8_t>> CaptureStore::ReadImage(const Capture& capture) const {
  if (!IsLowerHex(capture.image_sha256, 64)) {
    return Corrupt("capture " + capture.id + " has an invalid image hash in " + db_path_);
  }
  Result<std::vector<uint8_t>> data = env_->ReadFile(
      ImagePath(capture.image_sha256, capture.image_format), options_.max_image_bytes);
  if (!data.ok() && data.status().code() == StatusCode::kNotFound) {
    return NotFound("the image of capture " + capture.id + " is gone (removed by retention)");
  }
  return data;
}

Result<Capture> CaptureStore::SetLabel(const std::string& id,
                                       const std::optional<std::string>& label) {
  if (mode_ != Mode::kServe) return Internal("capture store opened read-only");
  if (!IsValidCaptureId(id))
    return InvalidArgument("capture id '" + id.substr(0, 64) + "' is not a UUID");
  if (label) EV_RETURN_IF_ERROR(ValidateLabel(*label, options_.max_label_bytes));
  std::string lower = id;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  std::lock_guard<std::mutex> d(db_mu_);
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement st,
      sqlite::Statement::Prepare(db_.get(),
                                 "UPDATE captures SET label = ?, reviewed_us = ? "
                                 "WHERE id = ? AND kind = 'classification'"));
  st.Bind(1, label);
  if (label) {
    st.Bind(2, ToMicros(clock_->Now()));
  } else {
    st.BindNull(2);
  }
  st.Bind(3, std::string_view(lower));
  Status s = st.Run();
  if (!s.ok()) return s;
  if (sqlite3_changes(db_.get()) == 0) {
    EV_RETURN_IF_ERROR(GetLocked(lower).status());  // NotFound
    return InvalidArgument("capture " + lower +
                           " is a detection capture: set its regions, not a label");
  }
  return GetLocked(lower);
}

Result<Capture> CaptureStore::SetRegions(const std::string& id,
                                         const std::optional<std::vector<Region>>& regions,
                                         const std::vector<std::string>& known_tags) {
  if (mode_ != Mode::kServe) return Internal("capture store opened read-only");
  if (!IsValidCaptureId(id))
    return InvalidArgument("capture id '" + id.substr(0, 64) + "' is not a UUID");
  if (regions) {
    if (regions->size() > options_.max_regions) {
      return InvalidArgument(std::to_string(regions->size()) + " regions; the limit is " +
                             std::to_string(options_.max_regions) + " per capture");
    }
    for (size_t i = 0; i < regions->size(); ++i) {
      const std::string what = "regions[" + std::to_string(i) + "]";
      EV_RETURN_IF_ERROR(
          ValidateLabel((*regions)[i].tag, options_.max_label_bytes, what + ".tagName"));
      EV_RETURN_IF_ERROR(ValidateRegionBox((*regions)[i].box, what));
    }
  }
  const std::string lower = ToLower(id);
  std::lock_guard<std::mutex> d(db_mu_);
  EV_ASSIGN_OR_RETURN(const Capture current, GetLocked(lower));
  if (current.kind != CaptureKind::kDetection) {
    return InvalidArgument("capture " + lower +
                           " is a classification capture: set its label, not regions");
  }
  if (regions) {
    // Known: the model's tags, and every tag this store has seen on a box.
    std::set<std::string> known(known_tags.begin(), known_tags.end());
    EV_ASSIGN_OR_RETURN(
        sqlite::Statement tags,
        sqlite::Statement::Prepare(
            db_.get(), "SELECT tag FROM detections UNION SELECT tag FROM regions"));
    while (true) {
      EV_ASSIGN_OR_RETURN(bool row, tags.Step());
      if (!row) break;
      known.insert(tags.Text(0));
    }
    for (size_t i = 0; i < regions->size(); ++i) {
      if (!known.count((*regions)[i].tag)) {
        return InvalidArgument("regions[" + std::to_string(i) + "].tagName '" +
                               (*regions)[i].tag.substr(0, 64) +
                               "' is not a tag of the model or of this store");
      }
    }
  }
  sqlite::Transaction t(db_.get());
  EV_RETURN_IF_ERROR(t.Begin());
  EV_ASSIGN_OR_RETURN(sqlite::Statement clear,
                      sqlite::Statement::Prepare(db_.get(), "DELETE FROM regions WHERE seq = ?"));
  EV_RETURN_IF_ERROR(clear.Bind(1, current.seq).Run());
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement mark,
      sqlite::Statement::Prepare(db_.get(), "UPDATE captures SET regions_us = ? WHERE seq = ?"));
  if (regions) {
    mark.Bind(1, ToMicros(clock_->Now()));
  } else {
    mark.BindNull(1);
  }
  EV_RETURN_IF_ERROR(mark.Bind(2, current.seq).Run());
  if (regions) {
    EV_ASSIGN_OR_RETURN(
        sqlite::Statement ins,
        sqlite::Statement::Prepare(db_.get(),
                                   "INSERT INTO regions (seq, rank, tag, box_left, box_top, "
                                   "box_width, box_height) VALUES (?,?,?,?,?,?,?)"));
    for (size_t i = 0; i < regions->size(); ++i) {
      const Region& r = (*regions)[i];
      ins.Reset();
      ins.Bind(1, current.seq)
          .Bind(2, static_cast<int64_t>(i))
          .Bind(3, std::string_view(r.tag))
          .Bind(4, r.box.left)
          .Bind(5, r.box.top)
          .Bind(6, r.box.width)
          .Bind(7, r.box.height);
      EV_RETURN_IF_ERROR(ins.Run());
    }
  }
  EV_RETURN_IF_ERROR(t.Commit());
  return GetLocked(lower);
}

Status CaptureStore::Delete(const std::string& id) {
  if (mode_ != Mode::kServe) return Internal("capture store opened read-only");
  if (!IsValidCaptureId(id))
    return InvalidArgument("capture id '" + id.substr(0, 64) + "' is not a UUID");
  std::string lower = id;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  std::lock_guard<std::mutex> w(write_mu_);
  std::lock_guard<std::mutex> d(db_mu_);
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement st,
      sqlite::Statement::Prepare(
          db_.get(), "SELECT seq, image_sha256, image_format FROM captures WHERE id = ?"));
  st.Bind(1, std::string_view(lower));
  EV_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return NotFound("no capture with id " + lower);
  std::vector<std::pair<int64_t, std::string>> rows{{st.Int(0), st.Text(1) + "." + st.Text(2)}};
  st.Reset();  // end the read before writing
  uint64_t freed = 0;
  EV_RETURN_IF_ERROR(RemoveRowsLocked(rows, &freed));
  UpdateDbBytes();
  return Status::Ok();
}

StoreHealth CaptureStore::Health() const {
  StoreHealth h;
  h.captures = count_;
  h.image_bytes = image_bytes_;
  h.db_bytes = db_bytes_;
  h.quota_bytes = max_bytes_;
  h.max_age = max_age();
  h.paused = paused_;
  h.added = added_;
  h.removed_by_retention = removed_;
  h.refused_disk_full = refused_;
  std::lock_guard<std::mutex> s(status_mu_);
  if (h.paused) h.paused_reason = paused_reason_;
  h.last_error = last_error_;
  return h;
}

Status CaptureStore::CheckConsistency() const {
  std::lock_guard<std::mutex> d(db_mu_);
  {
    EV_ASSIGN_OR_RETURN(sqlite::Statement st,
                        sqlite::Statement::Prepare(db_.get(), "PRAGMA integrity_check"));
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row || st.Text(0) != "ok")
      return Corrupt(db_path_ + ": integrity_check: " + (row ? st.Text(0) : ""));
  }
  {
    EV_ASSIGN_OR_RETURN(sqlite::Statement st,
                        sqlite::Statement::Prepare(db_.get(), "PRAGMA foreign_key_check"));
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (row) return Corrupt(db_path_ + ": a prediction row has no capture");
  }
  std::set<std::string> referenced;
  EV_ASSIGN_OR_RETURN(
      sqlite::Statement st,
      sqlite::Statement::Prepare(
          db_.get(), "SELECT id, image_sha256, image_format, image_bytes FROM captures"));
  while (true) {
    EV_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    const std::string id = st.Text(0), sha = st.Text(1), format = st.Text(2);
    const std::string path = ImagePath(sha, format);
    Result<std::vector<uint8_t>> data = env_->ReadFile(path, options_.max_image_bytes);
    if (!data.ok()) return Corrupt("capture " + id + ": " + data.status().message());
    if (data->size() != static_cast<uint64_t>(st.Int(3))) {
      return Corrupt("capture " + id + ": " + path + " has " + std::to_string(data->size()) +
                     " bytes, the row says " + std::to_string(st.Int(3)));
    }
    if (Sha256Hex(*data) != sha)
      return Corrupt("capture " + id + ": " + path + " does not match its SHA-256");
    referenced.insert(sha + "." + ExtensionForFormat(format));
  }
  EV_ASSIGN_OR_RETURN(std::vector<std::string> fanout, env_->ListDir(images_dir_));
  for (const std::string& sub : fanout) {
    if (!IsLowerHex(sub, 2) || !env_->IsDirectory(images_dir_ + "/" + sub))
      continue;  // tmp/, strays
    EV_ASSIGN_OR_RETURN(std::vector<std::string> files, env_->ListDir(images_dir_ + "/" + sub));
    for (const std::string& name : files) {
      if (!referenced.count(name))
        return Corrupt(images_dir_ + "/" + sub + "/" + name + ": no capture refers to it");
    }
  }
  return Status::Ok();
}

}  // namespace edgevision::store
