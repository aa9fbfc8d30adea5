// A SQLite VFS for tests that delegates to the default VFS but can make
// every write fail with SQLITE_FULL, the way SQLite reports ENOSPC — so the
// store's "database disk full" path is tested without filling a disk.
//
// Register once, then open the store with StoreOptions::sqlite_vfs =
// kFaultVfsName. Thread-safe.
#pragma once

namespace edgevision::store::testing {

inline constexpr const char* kFaultVfsName = "edgevision-fault";

// Registers the VFS (idempotent).
void RegisterFaultVfs();

// While true, xWrite and xTruncate on database and WAL files return SQLITE_FULL.
void SetSqliteDiskFull(bool full);

}  // namespace edgevision::store::testing
