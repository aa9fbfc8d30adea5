// Times as the capture API and the export manifest write and read them.
#pragma once

#include <chrono>
#include <string>

#include "core/status.h"

namespace edgevision::store {

// "2024-05-01T12:30:05.123456Z" (UTC, microseconds, always 6 digits):
// FormatIsoMicrosZ (core/clock.h).
std::string FormatTime(std::chrono::system_clock::time_point t);

// Accepts "2024-05-01", "2024-05-01T12:30", "2024-05-01T12:30:05",
// "...:05.123456", each optionally followed by "Z" or "+hh:mm"/"-hh:mm"
// (no suffix = UTC), or Unix seconds ("1714566605", "1714566605.5").
// Errors: InvalidArgument quoting the text.
Result<std::chrono::system_clock::time_point> ParseTime(const std::string& text);

}  // namespace edgevision::store
