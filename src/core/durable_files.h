// Crash-safe file steps (model delivery's record and unpacked files, the
// int8 calibration cache, the IoT Edge trust bundle): every write goes to a
// temporary name, is fsynced, renamed into place, and its folder fsynced, so
// a kill -9 or a power cut leaves the old file or the new one, never half of
// either; a write that fails leaves the old file as it was.
//
// Errors: IOError naming the path and the OS reason (ResourceExhausted for a
// full disk, NotFound for a missing file or folder).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "core/status.h"

namespace edgevision {

// The mode of a file only its owner may read (delivery's files hold URLs
// that may carry tokens).
constexpr mode_t kPrivateFileMode = 0600;
// The mode of a file anyone may read, less the umask, as std::ofstream
// creates one (the int8 cache, the trust bundle: nothing secret).
constexpr mode_t kSharedFileMode = 0666;

// Writes `content` to `path` atomically (path.tmp, fsync, rename, fsync the
// folder, which must exist). A new file gets `mode` less the umask; the
// folder's mode is left as it is.
Status WriteFileAtomically(const std::string& path, std::string_view content, mode_t mode = kPrivateFileMode);
// The whole of a small file; NotFound when it does not exist.
Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes);
// fsync of a file or folder.
Status SyncPath(const std::string& path);
// mkdir -p, then chmod 0700 on `path` (delivery's folders hold URLs that may
// carry tokens; not for folders shared with other users).
Status MakeDirs(const std::string& path);
// Removes a file or a whole folder; missing is fine.
Status RemoveTree(const std::string& path);
// Lowercase hex SHA-256 of a file's bytes.
Result<std::string> Sha256OfFile(const std::string& path);

}  // namespace edgevision
