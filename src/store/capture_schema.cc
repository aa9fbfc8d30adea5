// Opening a capture store's database (CaptureStore::Init): the header
// checks (application id, schema version), the connection's pragmas, and the
// schema, created at version 1 and migrated in one transaction. docs/store.md
// (#schema) documents every version.
#include <spdlog/spdlog.h>

#include "store/capture_store.h"

namespace edgevision::store {

namespace {

// "EVCS" in the database header, so a stray SQLite file is never taken for
// a capture store.
constexpr int32_t kApplicationId = 0x45564353;
constexpr int kSchemaVersion = 3;

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

// The first column of the first row of `sql` (0 when there is no row).
Result<int64_t> QueryInt(sqlite3* db, const char* sql) {
  EV_ASSIGN_OR_RETURN(sqlite::Statement st, sqlite::Statement::Prepare(db, sql));
  EV_ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? st.Int(0) : 0;
}

}  // namespace

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

}  // namespace edgevision::store
