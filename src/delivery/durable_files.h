// Crash-safe file steps for model delivery: every write goes to a temporary
// name, is fsynced, renamed into place, and its folder fsynced, so a kill -9
// or a power cut leaves the old file or the new one, never half of either.
//
// Errors: IOError naming the path and the OS reason (ResourceExhausted for a
// full disk).
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace edgevision::delivery {

// Writes `content` to `path` atomically (path.tmp, fsync, rename, fsync the folder).
Status WriteFileAtomically(const std::string& path, std::string_view content);
// The whole of a small file; NotFound when it does not exist.
Result<std::string> ReadSmallFile(const std::string& path, size_t max_bytes);
// fsync of a file or folder.
Status SyncPath(const std::string& path);
// mkdir -p with 0700 (the folders hold URLs that may carry tokens).
Status MakeDirs(const std::string& path);
// Removes a file or a whole folder; missing is fine.
Status RemoveTree(const std::string& path);
// Lowercase hex SHA-256 of a file's bytes.
Result<std::string> Sha256OfFile(const std::string& path);

}  // namespace edgevision::delivery
