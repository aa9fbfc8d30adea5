#include "upstream/outbox.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/uuid.h"

namespace edgevision::upstream {

namespace {

constexpr int kSchemaVersion = 1;
// Append times before 2020 come from a clock that was not set yet (a board
// without a real-time clock, before NTP); such messages are not expired by
// age, only by the byte bounds.
constexpr int64_t kTrustedSinceMs = 1577836800000;  // 2020-01-01T00:00:00Z
constexpr size_t kExpireBatch = 512;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS messages (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  created_ms INTEGER NOT NULL,
  payload    BLOB    NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value
) WITHOUT ROWID;
)sql";

int64_t ToMs(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::chrono::system_clock::time_point FromMs(int64_t ms) {
  return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
}

}  // namespace

Outbox::Outbox(std::string path, const OutboxLimits& limits, const Clock& clock)
    : path_(std::move(path)), limits_(limits), clock_(clock) {}

Outbox::~Outbox() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    insert_.reset();
    read_.reset();
    remove_.reset();
    db_.reset();  // closes; the last connection checkpoints the WAL
  }
  if (lock_fd_ >= 0) close(lock_fd_);
}

Result<std::unique_ptr<Outbox>> Outbox::Open(const std::string& path, const OutboxLimits& limits,
                                             const Clock& clock) {
  std::unique_ptr<Outbox> outbox(new Outbox(path, limits, clock));
  EV_RETURN_IF_ERROR(outbox->Init());
  Result<uint64_t> expired = outbox->ExpireOld();
  if (!expired.ok()) return expired.status();
  return outbox;
}

Status Outbox::Init() {
  const std::string lock_path = path_ + ".lock";
  lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock_fd_ < 0) return IOError("cannot create " + lock_path + ": " + std::strerror(errno));
  if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK)
      return Unavailable("outbox " + path_ + " is in use by another process");
    return IOError("cannot lock " + lock_path + ": " + std::strerror(errno));
  }

  std::lock_guard<std::mutex> lock(mu_);
  EV_ASSIGN_OR_RETURN(db_, sqlite::Open(path_, /*create=*/true));
  sqlite3* db = db_.get();
  sqlite3_busy_timeout(db, 2000);

  // Check it is an outbox (or empty) before changing anything.
  EV_ASSIGN_OR_RETURN(sqlite::StmtPtr version, sqlite::Prepare(db, "PRAGMA user_version"));
  EV_ASSIGN_OR_RETURN(bool has_row, sqlite::Step(db, version.get(), "read schema version"));
  const int user_version = has_row ? sqlite3_column_int(version.get(), 0) : 0;
  version.reset();
  if (user_version > kSchemaVersion) {
    return Unsupported("outbox " + path_ + " has schema version " + std::to_string(user_version) +
                       ", newer than this edgevision's " + std::to_string(kSchemaVersion));
  }

  EV_ASSIGN_OR_RETURN(sqlite::StmtPtr wal, sqlite::Prepare(db, "PRAGMA journal_mode=WAL"));
  EV_ASSIGN_OR_RETURN(bool wal_row, sqlite::Step(db, wal.get(), "set WAL mode"));
  if (!wal_row ||
      std::strcmp(reinterpret_cast<const char*>(sqlite3_column_text(wal.get(), 0)), "wal") != 0) {
    return IOError("outbox " + path_ + ": the file system does not support SQLite's WAL mode");
  }
  wal.reset();
  EV_RETURN_IF_ERROR(
      sqlite::Exec(db, limits_.sync_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL",
                   "set synchronous"));
  EV_RETURN_IF_ERROR(sqlite::Exec(db, kSchema, "create outbox schema"));
  EV_RETURN_IF_ERROR(sqlite::Exec(
      db, ("PRAGMA user_version=" + std::to_string(kSchemaVersion)).c_str(), "set schema version"));

  // The hard cap on the file, in pages.
  const uint64_t max_file =
      limits_.max_file_bytes ? limits_.max_file_bytes : 2 * limits_.max_bytes + (16ull << 20);
  const int page_size = [&] {
    sqlite3_stmt* raw = nullptr;
    int size = 4096;
    if (sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &raw, nullptr) == SQLITE_OK) {
      sqlite::StmtPtr stmt(raw);
      if (sqlite3_step(raw) == SQLITE_ROW) size = sqlite3_column_int(raw, 0);
    }
    return size > 0 ? size : 4096;
  }();
  const uint64_t pages = std::max<uint64_t>(8, max_file / static_cast<uint64_t>(page_size));
  EV_RETURN_IF_ERROR(sqlite::Exec(db, ("PRAGMA max_page_count=" + std::to_string(pages)).c_str(),
                                  "set the file size cap"));

  // A stream id made once per database.
  {
    EV_ASSIGN_OR_RETURN(sqlite::StmtPtr get,
                        sqlite::Prepare(db, "SELECT value FROM meta WHERE key='stream'"));
    EV_ASSIGN_OR_RETURN(bool found, sqlite::Step(db, get.get(), "read stream id"));
    if (found) {
      const unsigned char* text = sqlite3_column_text(get.get(), 0);
      stats_.stream = text ? reinterpret_cast<const char*>(text) : "";
    }
  }
  if (stats_.stream.empty()) {
    stats_.stream = NewUuid();
    EV_ASSIGN_OR_RETURN(
        sqlite::StmtPtr put,
        sqlite::Prepare(db, "INSERT OR REPLACE INTO meta(key, value) VALUES('stream', ?)"));
    sqlite3_bind_text(put.get(), 1, stats_.stream.c_str(), -1, SQLITE_TRANSIENT);
    EV_ASSIGN_OR_RETURN(bool unused, sqlite::Step(db, put.get(), "write stream id"));
    (void)unused;
  }

  EV_ASSIGN_OR_RETURN(
      insert_,
      sqlite::Prepare(db, "INSERT INTO messages(seq, created_ms, payload) VALUES(?, ?, ?)"));
  EV_ASSIGN_OR_RETURN(read_,
                      sqlite::Prepare(db,
                                      "SELECT seq, created_ms, payload FROM messages WHERE seq > ? "
                                      "ORDER BY seq LIMIT ?"));
  EV_ASSIGN_OR_RETURN(
      remove_, sqlite::Prepare(db, "DELETE FROM messages WHERE seq = ? RETURNING length(payload)"));
  return LoadCounters();
}

Status Outbox::LoadCounters() {
  sqlite3* db = db_.get();
  EV_ASSIGN_OR_RETURN(
      sqlite::StmtPtr totals,
      sqlite::Prepare(db,
                      "SELECT COUNT(*), COALESCE(SUM(length(payload)), 0), COALESCE(MAX(seq), 0) "
                      "FROM messages"));
  EV_ASSIGN_OR_RETURN(bool row, sqlite::Step(db, totals.get(), "count messages"));
  if (row) {
    stats_.depth = static_cast<uint64_t>(sqlite3_column_int64(totals.get(), 0));
    stats_.bytes = static_cast<uint64_t>(sqlite3_column_int64(totals.get(), 1));
    stats_.last_seq = static_cast<uint64_t>(sqlite3_column_int64(totals.get(), 2));
  }
  // AUTOINCREMENT remembers the largest seq ever used, also once deleted.
  EV_ASSIGN_OR_RETURN(sqlite::StmtPtr seq,
                      sqlite::Prepare(db, "SELECT seq FROM sqlite_sequence WHERE name='messages'"));
  EV_ASSIGN_OR_RETURN(bool seq_row, sqlite::Step(db, seq.get(), "read the sequence"));
  if (seq_row)
    stats_.last_seq =
        std::max(stats_.last_seq, static_cast<uint64_t>(sqlite3_column_int64(seq.get(), 0)));

  EV_ASSIGN_OR_RETURN(
      sqlite::StmtPtr dropped,
      sqlite::Prepare(db, "SELECT key, value FROM meta WHERE key LIKE 'dropped_%'"));
  while (true) {
    EV_ASSIGN_OR_RETURN(bool more, sqlite::Step(db, dropped.get(), "read drop counters"));
    if (!more) break;
    const std::string key = reinterpret_cast<const char*>(sqlite3_column_text(dropped.get(), 0));
    const uint64_t value = static_cast<uint64_t>(sqlite3_column_int64(dropped.get(), 1));
    if (key == "dropped_full") stats_.dropped_full = value;
    if (key == "dropped_expired") stats_.dropped_expired = value;
    if (key == "dropped_too_large") stats_.dropped_too_large = value;
    if (key == "dropped_corrupt") stats_.dropped_corrupt = value;
  }
  return Status::Ok();
}

Status Outbox::AddDropped(const char* key, uint64_t n) {
  if (n == 0) return Status::Ok();
  EV_ASSIGN_OR_RETURN(
      sqlite::StmtPtr stmt,
      sqlite::Prepare(db_.get(),
                      "INSERT INTO meta(key, value) VALUES(?, ?) "
                      "ON CONFLICT(key) DO UPDATE SET value = value + excluded.value"));
  sqlite3_bind_text(stmt.get(), 1, key, -1, SQLITE_STATIC);
  sqlite3_bind_int64(stmt.get(), 2, static_cast<int64_t>(n));
  EV_ASSIGN_OR_RETURN(bool unused,
                      sqlite::Step(db_.get(), stmt.get(), std::string("count ") + key));
  (void)unused;
  return Status::Ok();
}

Status Outbox::DropOldest(uint64_t bytes_to_free, uint64_t min_count, uint64_t* dropped,
                          uint64_t* dropped_bytes) {
  // Called inside a transaction by Append; the caller applies the counters.
  sqlite3* db = db_.get();
  EV_ASSIGN_OR_RETURN(
      sqlite::StmtPtr head,
      sqlite::Prepare(db, "SELECT seq, length(payload) FROM messages ORDER BY seq LIMIT 256"));
  EV_ASSIGN_OR_RETURN(sqlite::StmtPtr del,
                      sqlite::Prepare(db, "DELETE FROM messages WHERE seq <= ?"));
  uint64_t freed = 0, count = 0;
  while (freed < bytes_to_free || count < min_count) {
    int64_t last = -1;
    uint64_t batch_freed = 0, batch_count = 0;
    while (freed + batch_freed < bytes_to_free || count + batch_count < min_count) {
      EV_ASSIGN_OR_RETURN(bool row, sqlite::Step(db, head.get(), "find the oldest messages"));
      if (!row) break;
      last = sqlite3_column_int64(head.get(), 0);
      batch_freed += static_cast<uint64_t>(sqlite3_column_int64(head.get(), 1));
      ++batch_count;
    }
    sqlite::Reset(head.get());
    if (last < 0) break;  // empty
    sqlite3_bind_int64(del.get(), 1, last);
    EV_ASSIGN_OR_RETURN(bool unused, sqlite::Step(db, del.get(), "drop the oldest messages"));
    (void)unused;
    sqlite::Reset(del.get());
    freed += batch_freed;
    count += batch_count;
  }
  EV_RETURN_IF_ERROR(AddDropped("dropped_full", count));
  *dropped = count;
  *dropped_bytes = freed;
  return Status::Ok();
}

Result<uint64_t> Outbox::Append(
    const std::function<std::string(uint64_t seq, const std::string& stream)>& encode) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t seq = stats_.last_seq + 1;
  const std::string payload = encode(seq, stats_.stream);
  if (payload.size() > limits_.max_message_bytes || payload.size() > limits_.max_bytes) {
    // The counter is best effort: the disk may be what is failing.
    if (AddDropped("dropped_too_large", 1).ok()) {
    }
    ++stats_.dropped_too_large;
    ++stats_.write_failures;
    return ResourceExhausted(
        "outbox: message of " + std::to_string(payload.size()) +
        " bytes is larger than the limit of " +
        std::to_string(std::min(limits_.max_message_bytes, limits_.max_bytes)) + " bytes");
  }
  const int64_t created_ms = ToMs(clock_.Now());
  Status last;
  // Second attempt: the disk or file cap was full; make room first.
  for (int attempt = 0; attempt < 2; ++attempt) {
    // Counter changes wait for COMMIT: a rolled-back attempt changes nothing.
    uint64_t dropped = 0, dropped_bytes = 0;
    sqlite::Transaction txn(db_.get());
    last = txn.Begin();
    if (last.ok()) {
      uint64_t to_free = 0, min_count = 0;
      if (stats_.bytes + payload.size() > limits_.max_bytes)
        to_free = stats_.bytes + payload.size() - limits_.max_bytes;
      if (attempt == 1) {
        to_free =
            std::max<uint64_t>(to_free, std::max<uint64_t>(payload.size(), stats_.bytes / 10));
        min_count = std::max<uint64_t>(1, stats_.depth / 10);
      }
      if (to_free > 0 || min_count > 0)
        last = DropOldest(to_free, min_count, &dropped, &dropped_bytes);
    }
    if (last.ok()) {
      sqlite3_stmt* insert = insert_.get();
      sqlite3_bind_int64(insert, 1, static_cast<int64_t>(seq));
      sqlite3_bind_int64(insert, 2, created_ms);
      sqlite3_bind_blob(insert, 3, payload.data(), static_cast<int>(payload.size()), SQLITE_STATIC);
      Result<bool> stepped = sqlite::Step(db_.get(), insert, "append to the outbox");
      sqlite::Reset(insert);
      last = stepped.ok() ? Status::Ok() : stepped.status();
    }
    if (last.ok()) last = txn.Commit();
    if (last.ok()) {
      stats_.depth = stats_.depth - dropped + 1;
      stats_.bytes = stats_.bytes - dropped_bytes + payload.size();
      stats_.dropped_full += dropped;
      stats_.last_seq = seq;
      return seq;
    }
    if (last.code() != StatusCode::kResourceExhausted) break;
  }
  ++stats_.write_failures;
  return last;
}

Result<std::vector<OutboxEntry>> Outbox::ReadAfter(uint64_t after_seq, size_t max_count) {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<OutboxEntry> entries;
  sqlite3_stmt* read = read_.get();
  sqlite3_bind_int64(read, 1, static_cast<int64_t>(after_seq));
  sqlite3_bind_int64(read, 2, static_cast<int64_t>(max_count));
  while (true) {
    Result<bool> row = sqlite::Step(db_.get(), read, "read the outbox");
    if (!row.ok()) {
      sqlite::Reset(read);
      return row.status();
    }
    if (!*row) break;
    OutboxEntry e;
    e.seq = static_cast<uint64_t>(sqlite3_column_int64(read, 0));
    e.appended = FromMs(sqlite3_column_int64(read, 1));
    const void* blob = sqlite3_column_blob(read, 2);
    const int n = sqlite3_column_bytes(read, 2);
    if (blob && n > 0) e.payload.assign(static_cast<const char*>(blob), static_cast<size_t>(n));
    entries.push_back(std::move(e));
  }
  sqlite::Reset(read);
  return entries;
}

Status Outbox::Remove(std::span<const uint64_t> seqs) {
  if (seqs.empty()) return Status::Ok();
  std::lock_guard<std::mutex> lock(mu_);
  sqlite::Transaction txn(db_.get());
  EV_RETURN_IF_ERROR(txn.Begin());
  uint64_t removed = 0, bytes = 0;
  sqlite3_stmt* remove = remove_.get();
  for (uint64_t seq : seqs) {
    sqlite3_bind_int64(remove, 1, static_cast<int64_t>(seq));
    Result<bool> row = sqlite::Step(db_.get(), remove, "remove acknowledged messages");
    if (row.ok() && *row) {
      ++removed;
      bytes += static_cast<uint64_t>(sqlite3_column_int64(remove, 0));
      row = sqlite::Step(db_.get(), remove, "remove acknowledged messages");
    }
    sqlite::Reset(remove);
    if (!row.ok()) return row.status();
  }
  EV_RETURN_IF_ERROR(txn.Commit());
  stats_.depth -= removed;
  stats_.bytes -= bytes;
  return Status::Ok();
}

Status Outbox::DropCorrupt(uint64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  sqlite::Transaction txn(db_.get());
  EV_RETURN_IF_ERROR(txn.Begin());
  sqlite3_stmt* remove = remove_.get();
  sqlite3_bind_int64(remove, 1, static_cast<int64_t>(seq));
  Result<bool> row = sqlite::Step(db_.get(), remove, "drop an unreadable message");
  uint64_t removed = 0, bytes = 0;
  if (row.ok() && *row) {
    removed = 1;
    bytes = static_cast<uint64_t>(sqlite3_column_int64(remove, 0));
    row = sqlite::Step(db_.get(), remove, "drop an unreadable message");
  }
  sqlite::Reset(remove);
  if (!row.ok()) return row.status();
  EV_RETURN_IF_ERROR(AddDropped("dropped_corrupt", removed));
  EV_RETURN_IF_ERROR(txn.Commit());
  stats_.depth -= removed;
  stats_.bytes -= bytes;
  stats_.dropped_corrupt += removed;
  return Status::Ok();
}

Result<uint64_t> Outbox::ExpireOld() {
  std::lock_guard<std::mutex> lock(mu_);
  sqlite3* db = db_.get();
  const int64_t cutoff =
      ToMs(clock_.Now()) -
      std::chrono::duration_cast<std::chrono::milliseconds>(limits_.max_age).count();
  EV_ASSIGN_OR_RETURN(sqlite::StmtPtr head,
                      sqlite::Prepare(db,
                                      "SELECT seq, created_ms, length(payload) FROM messages "
                                      "WHERE seq > ? ORDER BY seq LIMIT ?"));
  EV_ASSIGN_OR_RETURN(sqlite::StmtPtr del,
                      sqlite::Prepare(db, "DELETE FROM messages WHERE seq = ?"));
  uint64_t total = 0;
  int64_t after = 0;
  bool done = false;
  while (!done) {
    // Oldest first, one batch per transaction; stop at the first message
    // that is young enough (append order is age order).
    std::vector<std::pair<int64_t, uint64_t>> expired;
    sqlite3_bind_int64(head.get(), 1, after);
    sqlite3_bind_int64(head.get(), 2, static_cast<int64_t>(kExpireBatch));
    size_t seen = 0;
    while (true) {
      Result<bool> row = sqlite::Step(db, head.get(), "find expired messages");
      if (!row.ok()) {
        sqlite::Reset(head.get());
        return row.status();
      }
      if (!*row) break;
      ++seen;
      const int64_t seq = sqlite3_column_int64(head.get(), 0);
      const int64_t created = sqlite3_column_int64(head.get(), 1);
      after = seq;
      if (created < kTrustedSinceMs) continue;  // unknown age: keep
      if (created >= cutoff) {
        done = true;
        break;
      }
      expired.emplace_back(seq, static_cast<uint64_t>(sqlite3_column_int64(head.get(), 2)));
    }
    sqlite::Reset(head.get());
    if (seen < kExpireBatch) done = true;
    if (expired.empty()) continue;
    sqlite::Transaction txn(db);
    EV_RETURN_IF_ERROR(txn.Begin());
    uint64_t bytes = 0;
    for (const auto& [seq, size] : expired) {
      sqlite3_bind_int64(del.get(), 1, seq);
      Result<bool> r = sqlite::Step(db, del.get(), "drop expired messages");
      sqlite::Reset(del.get());
      if (!r.ok()) return r.status();
      bytes += size;
    }
    EV_RETURN_IF_ERROR(AddDropped("dropped_expired", expired.size()));
    EV_RETURN_IF_ERROR(txn.Commit());
    stats_.depth -= expired.size();
    stats_.bytes -= bytes;
    stats_.dropped_expired += expired.size();
    total += expired.size();
  }
  return total;
}

OutboxStats Outbox::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  OutboxStats stats = stats_;
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_.get(), "SELECT created_ms FROM messages ORDER BY seq LIMIT 1", -1,
                         &raw, nullptr) == SQLITE_OK) {
    sqlite::StmtPtr stmt(raw);
    if (sqlite3_step(raw) == SQLITE_ROW) stats.oldest = FromMs(sqlite3_column_int64(raw, 0));
  }
  return stats;
}

}  // namespace edgevision::upstream
