#include "sqlite/sqlite.h"

#include <cerrno>

namespace edgevision::sqlite {

Status Error(sqlite3* db, int rc, std::string_view what) {
  std::string file =
      db ? (sqlite3_db_filename(db, "main") ? sqlite3_db_filename(db, "main") : "") : "";
  std::string message = std::string(what) + " (" + (file.empty() ? "database" : file) + "): ";
  message += db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  switch (rc & 0xff) {
    case SQLITE_FULL: return ResourceExhausted(message + " (disk full)");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return Corrupt(message);
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return Unavailable(message);
    case SQLITE_CANTOPEN: return IOError(message);
    case SQLITE_CONSTRAINT: return InvalidArgument(message);
    case SQLITE_IOERR:
      // SQLite reports ENOSPC during writes as SQLITE_FULL, but some write
      // paths surface it as an I/O error with the OS errno attached.
      if (db && (sqlite3_system_errno(db) == ENOSPC || sqlite3_system_errno(db) == EDQUOT)) {
        return ResourceExhausted(message + " (disk full)");
      }
      return IOError(message);
    default: return IOError(message);
  }
}

Result<DbPtr> Open(const std::string& path, bool create, const std::string& vfs) {
  sqlite3* raw = nullptr;
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &raw, flags, vfs.empty() ? nullptr : vfs.c_str());
  DbPtr db(raw);
  if (rc != SQLITE_OK) {
    std::string message = "open " + path + ": " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc));
    if ((rc & 0xff) == SQLITE_CANTOPEN && !create) return NotFound(message);
    return Error(nullptr, rc, "open " + path);
  }
  sqlite3_extended_result_codes(db.get(), 1);
  return db;
}

Status Exec(sqlite3* db, const char* sql) {
  return Exec(db, sql, std::string("exec \"") + std::string(sql).substr(0, 60) + "\"");
}

Status Exec(sqlite3* db, const char* sql, std::string_view what) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  return rc == SQLITE_OK ? Status::Ok() : Error(db, rc, what);
}

Result<StmtPtr> Prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  const int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
  StmtPtr stmt(raw);
  if (rc != SQLITE_OK) return Error(db, rc, "prepare \"" + std::string(sql.substr(0, 80)) + "\"");
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

Result<Statement> Statement::Prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.data(), static_cast<int>(sql.size()), &raw, nullptr);
  StmtPtr stmt(raw);
  if (rc != SQLITE_OK) return Error(db, rc, "prepare \"" + std::string(sql.substr(0, 60)) + "\"");
  return Statement(db, std::move(stmt));
}

Statement& Statement::Bind(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_.get(), index, value);
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
  return *this;
}

Statement& Statement::Bind(int index, double value) {
  int rc = sqlite3_bind_double(stmt_.get(), index, value);
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  int rc = sqlite3_bind_text64(stmt_.get(), index, text.data(), text.size(), SQLITE_TRANSIENT,
                               SQLITE_UTF8);
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
  return *this;
}

Statement& Statement::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_.get(), index);
  if (rc != SQLITE_OK && bind_error_ == SQLITE_OK) bind_error_ = rc;
  return *this;
}

Statement& Statement::Bind(int index, const std::optional<std::string>& text) {
  return text ? Bind(index, std::string_view(*text)) : BindNull(index);
}

Result<bool> Statement::Step() {
  if (bind_error_ != SQLITE_OK) return Error(db_, bind_error_, "bind");
  int rc = sqlite3_step(stmt_.get());
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Error(db_, rc, "step \"" + std::string(sqlite3_sql(stmt_.get())).substr(0, 60) + "\"");
}

Status Statement::Run() {
  while (true) {
    Result<bool> row = Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
  }
}

void Statement::Reset() {
  sqlite3_reset(stmt_.get());
  sqlite3_clear_bindings(stmt_.get());
  bind_error_ = SQLITE_OK;
}

std::string Statement::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_.get(), col);
  if (!p) return "";
  return std::string(reinterpret_cast<const char*>(p),
                     static_cast<size_t>(sqlite3_column_bytes(stmt_.get(), col)));
}

std::optional<std::string> Statement::OptionalText(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Text(col);
}

Transaction::~Transaction() {
  if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
}

Status Transaction::Begin() {
  EV_RETURN_IF_ERROR(Exec(db_, "BEGIN IMMEDIATE"));
  open_ = true;
  return Status::Ok();
}

Status Transaction::Commit() {
  Status s = Exec(db_, "COMMIT");
  if (s.ok()) open_ = false;
  // A failed COMMIT leaves the transaction open; the destructor rolls back.
  if (!s.ok() && sqlite3_get_autocommit(db_)) open_ = false;
  return s;
}

}  // namespace edgevision::sqlite
