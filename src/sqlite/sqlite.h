// The one thin RAII layer over the SQLite C API, shared by the capture store
// (src/store) and the upstream outbox (src/upstream): one owner per
// connection and per statement, errors as Status values.
//
// SQLITE_FULL (the disk or the database's page limit is full) maps to
// ResourceExhausted, SQLITE_CORRUPT / SQLITE_NOTADB to Corrupt, SQLITE_BUSY /
// SQLITE_LOCKED to Unavailable, anything else to IOError; messages name the
// database file and SQLite's own text.
//
// Thread-safety: none; the owner serialises access to a connection.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace edgevision::sqlite {

struct DbCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StmtFinalizer {
  void operator()(sqlite3_stmt* stmt) const { sqlite3_finalize(stmt); }
};
using DbPtr = std::unique_ptr<sqlite3, DbCloser>;
using StmtPtr = std::unique_ptr<sqlite3_stmt, StmtFinalizer>;

// The Status for SQLite result code `rc` during `what`.
Status Error(sqlite3* db, int rc, std::string_view what);

// Opens (creating if `create`) the database file at `path`, through the
// named VFS ("" = the default).
Result<DbPtr> Open(const std::string& path, bool create, const std::string& vfs = "");

// Runs one or more statements that return no rows.
Status Exec(sqlite3* db, const char* sql);

// Runs SQL that returns no rows; `what` names the step in the error (default:
// the start of the SQL).
Status Exec(sqlite3* db, const char* sql, std::string_view what);

// Free-function statement helpers, for callers that keep raw prepared
// statements (the outbox): Prepare one statement; Step it (true: a row is
// ready, false: done); Reset it for reuse and clear its bindings.
Result<StmtPtr> Prepare(sqlite3* db, std::string_view sql);
Result<bool> Step(sqlite3* db, sqlite3_stmt* stmt, std::string_view what);
void Reset(sqlite3_stmt* stmt);

// A prepared statement with typed binds (1-based) and column reads (0-based).
class Statement {
 public:
  static Result<Statement> Prepare(sqlite3* db, std::string_view sql);

  Statement(Statement&&) = default;
  Statement& operator=(Statement&&) = default;

  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, double value);
  Statement& Bind(int index, std::string_view text);
  Statement& BindNull(int index);
  Statement& Bind(int index, const std::optional<std::string>& text);
  // The index of a named parameter (":name"), 0 if absent.
  int ParamIndex(const char* name) const { return sqlite3_bind_parameter_index(stmt_.get(), name); }

  // Advances: true when a row is ready, false when done; an error otherwise.
  Result<bool> Step();
  // Runs to completion, ignoring rows.
  Status Run();
  // Rewinds for another Step() sequence and clears the bindings.
  void Reset();

  int64_t Int(int col) const { return sqlite3_column_int64(stmt_.get(), col); }
  double Double(int col) const { return sqlite3_column_double(stmt_.get(), col); }
  std::string Text(int col) const;
  bool IsNull(int col) const { return sqlite3_column_type(stmt_.get(), col) == SQLITE_NULL; }
  std::optional<std::string> OptionalText(int col) const;

 private:
  Statement(sqlite3* db, StmtPtr stmt) : db_(db), stmt_(std::move(stmt)) {}
  sqlite3* db_;
  StmtPtr stmt_;
  int bind_error_ = SQLITE_OK;
};

// BEGIN IMMEDIATE on construction; ROLLBACK in the destructor unless
// Commit() succeeded.
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

}  // namespace edgevision::sqlite
