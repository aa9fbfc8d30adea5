#include "store/testing/fault_vfs.h"

#include <sqlite3.h>

#include <atomic>
#include <cstring>
#include <mutex>

namespace edgevision::store::testing {

namespace {

std::atomic<bool> g_full{false};
sqlite3_vfs g_vfs;
sqlite3_vfs* g_real = nullptr;

// Our file wraps the real VFS's file, which lives right after it.
struct FaultFile {
  sqlite3_file base;
  sqlite3_file* real;
};

int Close(sqlite3_file* f) {
  sqlite3_file* real = reinterpret_cast<FaultFile*>(f)->real;
  return real->pMethods->xClose(real);
}
int Read(sqlite3_file* f, void* buf, int n, sqlite3_int64 off) {
  sqlite3_file* real = reinterpret_cast<FaultFile*>(f)->real;
  return real->pMethods->xRead(real, buf, n, off);
}
int Write(sqlite3_file* f, const void* buf, int n, sqlite3_int64 off) {
  if (g_full) return SQLITE_FULL;
  sqlite3_file* real = reinterpret_cast<FaultFile*>(f)->real;
  return real->pMethods->xWrite(real, buf, n, off);
}
int Truncate(sqlite3_file* f, sqlite3_int64 size) {
  if (g_full) return SQLITE_FULL;
  sqlite3_file* real = reinterpret_cast<FaultFile*>(f)->real;
  return real->pMethods->xTruncate(real, size);
}
int Sync(sqlite3_file* f, int flags) {
  sqlite3_file* real = reinterpret_cast<FaultFile*>(f)->real;
  return real->pMethods->xSync(real, flags);
}
int FileSize(sqlite3_file* f, sqlite3_int64* size) {
  sqlite3_file* real = reinterpret_cast<FaultFile*>(f)->real;
  return real->pMethods->xFileSize(real, size);
}
int Lock(sqlite3_file* f, int level) {
  sqlite3_file* real = reinterpret_cast<FaultFile*>(f)->real;
  return real->pMethods->xLock(real, level);
}
int Unlock(sqlite3_file* f, int level) {
  sqlite3_file* real = reinterpret_cast<FaultFile*>(f)->real;
  return real->pMethods->xUnlock(real, level);
}
int CheckReservedLock(sqlite3_file* f, int* out) {
  sqlite3_file* real = reinterpret_cast<FaultFile*>(f)->real;
  return real->pMethods->xCheckReservedLock(real, out);
}
int FileControl(sqlite3_file* f, int op, void* arg) {
  sqlite3_file* real = reinterpret_cast<FaultFile*>(f)->real;
  return real->pMethods->xFileControl(real, op, arg);
}
int SectorSize(sqlite3_file* f) {
  sqlite3_file* real = reinterpret_cast<FaultFile*>(f)->real;
  return real->pMethods->xSectorSize(real);
}
int DeviceCharacteristics(sqlite3_file* f) {
  sqlite3_file* real = reinterpret_cast<FaultFile*>(f)->real;
  return real->pMethods->xDeviceCharacteristics(real);
}
int ShmMap(sqlite3_file* f, int region, int size, int extend, void volatile** p) {
  sqlite3_file* real = reinterpret_cast<FaultFile*>(f)->real;
  return real->pMethods->xShmMap(real, region, size, extend, p);
}
int ShmLock(sqlite3_file* f, int offset, int n, int flags) {
  sqlite3_file* real = reinterpret_cast<FaultFile*>(f)->real;
  return real->pMethods->xShmLock(real, offset, n, flags);
}
void ShmBarrier(sqlite3_file* f) {
  sqlite3_file* real = reinterpret_cast<FaultFile*>(f)->real;
  real->pMethods->xShmBarrier(real);
}
int ShmUnmap(sqlite3_file* f, int del) {
  sqlite3_file* real = reinterpret_cast<FaultFile*>(f)->real;
  return real->pMethods->xShmUnmap(real, del);
}

// Version 2: WAL's shared memory, no memory-mapped I/O.
const sqlite3_io_methods kMethods = {2,
                                     Close,
                                     Read,
                                     Write,
                                     Truncate,
                                     Sync,
                                     FileSize,
                                     Lock,
                                     Unlock,
                                     CheckReservedLock,
                                     FileControl,
                                     SectorSize,
                                     DeviceCharacteristics,
                                     ShmMap,
                                     ShmLock,
                                     ShmBarrier,
                                     ShmUnmap,
                                     nullptr,
                                     nullptr};

int Open(sqlite3_vfs*, sqlite3_filename name, sqlite3_file* f, int flags, int* out_flags) {
  FaultFile* ff = reinterpret_cast<FaultFile*>(f);
  ff->real = reinterpret_cast<sqlite3_file*>(ff + 1);
  ff->base.pMethods = nullptr;
  int rc = g_real->xOpen(g_real, name, ff->real, flags, out_flags);
  if (ff->real->pMethods) ff->base.pMethods = &kMethods;
  return rc;
}
int Delete(sqlite3_vfs*, const char* name, int sync_dir) {
  return g_real->xDelete(g_real, name, sync_dir);
}
int Access(sqlite3_vfs*, const char* name, int flags, int* out) {
  return g_real->xAccess(g_real, name, flags, out);
}
int FullPathname(sqlite3_vfs*, const char* name, int n, char* out) {
  return g_real->xFullPathname(g_real, name, n, out);
}
void* DlOpen(sqlite3_vfs*, const char* name) {
  return g_real->xDlOpen(g_real, name);
}
void DlError(sqlite3_vfs*, int n, char* msg) {
  g_real->xDlError(g_real, n, msg);
}
void (*DlSym(sqlite3_vfs*, void* h, const char* sym))(void) {
  return g_real->xDlSym(g_real, h, sym);
}
void DlClose(sqlite3_vfs*, void* h) {
  g_real->xDlClose(g_real, h);
}
int Randomness(sqlite3_vfs*, int n, char* out) {
  return g_real->xRandomness(g_real, n, out);
}
int Sleep(sqlite3_vfs*, int us) {
  return g_real->xSleep(g_real, us);
}
int CurrentTime(sqlite3_vfs*, double* t) {
  return g_real->xCurrentTime(g_real, t);
}
int GetLastError(sqlite3_vfs*, int n, char* out) {
  return g_real->xGetLastError(g_real, n, out);
}
int CurrentTimeInt64(sqlite3_vfs*, sqlite3_int64* t) {
  return g_real->xCurrentTimeInt64(g_real, t);
}

}  // namespace

void RegisterFaultVfs() {
  static std::once_flag once;
  std::call_once(once, [] {
    g_real = sqlite3_vfs_find(nullptr);
    std::memset(&g_vfs, 0, sizeof g_vfs);
    g_vfs.iVersion = 2;
    g_vfs.szOsFile = static_cast<int>(sizeof(FaultFile)) + g_real->szOsFile;
    g_vfs.mxPathname = g_real->mxPathname;
    g_vfs.zName = kFaultVfsName;
    g_vfs.xOpen = Open;
    g_vfs.xDelete = Delete;
    g_vfs.xAccess = Access;
    g_vfs.xFullPathname = FullPathname;
    g_vfs.xDlOpen = DlOpen;
    g_vfs.xDlError = DlError;
    g_vfs.xDlSym = DlSym;
    g_vfs.xDlClose = DlClose;
    g_vfs.xRandomness = Randomness;
    g_vfs.xSleep = Sleep;
    g_vfs.xCurrentTime = CurrentTime;
    g_vfs.xGetLastError = GetLastError;
    g_vfs.xCurrentTimeInt64 = CurrentTimeInt64;
    sqlite3_vfs_register(&g_vfs, /*makeDflt=*/0);
  });
}

void SetSqliteDiskFull(bool full) {
  g_full = full;
}

}  // namespace edgevision::store::testing
