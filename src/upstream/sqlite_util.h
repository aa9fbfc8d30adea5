// RAII owners for SQLite handles used by the outbox, and SQLite result codes
// as Status values: SQLITE_FULL -> ResourceExhausted (disk or page limit
// full), SQLITE_CORRUPT/NOTADB -> Corrupt, SQLITE_BUSY/LOCKED -> Unavailable,
// anything else -> IOError. Messages name the database file and SQLite's text.
//
// Thread-safety: none; the owner serialises use of a connection.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace edgevision::upstream::sqlite {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// The Status for result code `rc` while doing `what` on `db`.
Status Error(sqlite3* db, int rc, std::string_view what);

// Opens or creates the database at `path` (read-write, full mutex off: the
// owner serialises).
Result<DbPtr> Open(const std::string& path);

// Runs SQL that returns no rows.
Status Exec(sqlite3* db, const char* sql, std::string_view what);

// Prepares one statement.
Result<StmtPtr> Prepare(sqlite3* db, std::string_view sql);

// Steps a statement: true when a row is ready, false when done.
Result<bool> Step(sqlite3* db, sqlite3_stmt* stmt, std::string_view what);

// Resets a prepared statement for reuse (and clears its bindings).
void Reset(sqlite3_stmt* stmt);

// BEGIN IMMEDIATE in Begin(); ROLLBACK in the destructor unless Commit() ran.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {}
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();
  Status Begin();
  Status Commit();

 private:
  sqlite3* db_;
  bool open_ = false;
};

}  // namespace edgevision::upstream::sqlite
