// Unpacking a delivered export .zip onto disk, safely.
//
// Every member is checked before anything is written: the member count, the
// total uncompressed size and each member's compression ratio (zip bombs);
// its name (relative, no "..", ".", empty or absolute parts, no backslash or
// control character, bounded length and depth: no path traversal); its type
// (regular files and folders only: a symlink or device is refused). Files are
// created with O_EXCL | O_NOFOLLOW under a fresh folder, each fsynced, then
// every folder fsynced. Limits: DeliveryLimits.
//
// Thread-safety: reentrant.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "delivery/delivery_limits.h"

namespace edgevision::delivery {

struct UnpackStats {
  uint64_t files = 0;
  uint64_t bytes = 0;
};

// Whether the file starts like a zip archive (PK\3\4, or PK\5\6 for an empty one).
bool LooksLikeZip(const std::string& path);

// Checks one member name against the rules above. Errors: InvalidArgument saying why.
Status CheckMemberName(std::string_view name, const DeliveryLimits& limits);

// Unpacks `zip_path` into `dest`, which must not exist (it is created).
// Errors: InvalidArgument (a refused member: name, type), ResourceExhausted
// (a zip-bomb limit), Corrupt (not a zip, CRC or size mismatch), IOError.
// On error `dest` may hold part of the files: the caller removes it.
Result<UnpackStats> UnpackZip(const std::string& zip_path, const std::string& dest, const DeliveryLimits& limits);

}  // namespace edgevision::delivery
