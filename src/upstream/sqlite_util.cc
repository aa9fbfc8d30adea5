#include "upstream/sqlite_util.h"

namespace edgevision::upstream::sqlite {

Status Error(sqlite3* db, int rc, std::string_view what) {
  const char* file = db ? sqlite3_db_filename(db, "main") : nullptr;
  std::string message = std::string(what) + " (" + (file && *file ? file : "sqlite") +
                        "): " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  switch (rc & 0xff) {
    case SQLITE_FULL: return ResourceExhausted(message);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return Corrupt(message);
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return Unavailable(message);
    default: return IOError(message);
  }
}

Result<DbPtr> Open(const std::string& path) {
  sqlite3* raw = nullptr;
  const int rc =
      sqlite3_open_v2(path.c_str(), &raw,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  DbPtr db(raw);
  if (rc != SQLITE_OK) {
    std::string reason = raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc);
    return IOError("cannot open outbox " + path + ": " + reason);
  }
  sqlite3_extended_result_codes(db.get(), 1);
  return db;
}

Status Exec(sqlite3* db, const char* sql, std::string_view what) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? Status::Ok() : Error(db, rc, what);
}

Result<StmtPtr> Prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
  StmtPtr stmt(raw);
  if (rc != SQLITE_OK) return Error(db, rc, "prepare \"" + std::string(sql) + "\"");
  return stmt;
}

Result<bool> Step(sqlite3* db, sqlite3_stmt* stmt, std::string_view what) {
  const int rc = sqlite3_step(stmt);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Error(db, rc, what);
}

void Reset(sqlite3_stmt* stmt) {
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
}

Transaction::~Transaction() {
  if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

Status Transaction::Begin() {
  EV_RETURN_IF_ERROR(Exec(db_, "BEGIN IMMEDIATE", "begin transaction"));
  open_ = true;
  return Status::Ok();
}

Status Transaction::Commit() {
  Status s = Exec(db_, "COMMIT", "commit");
  if (s.ok()) open_ = false;
  return s;
}

}  // namespace edgevision::upstream::sqlite
