// Clock: the time source, behind an interface so tests can control it.
//
// Thread-safety: implementations must be safe to call from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace edgevision {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time (for timestamps written into responses and records).
  virtual std::chrono::system_clock::time_point Now() const = 0;
  // Monotonic time (for timeouts and durations).
  virtual std::chrono::steady_clock::time_point Monotonic() const = 0;
};

// The real clocks. Thread-safe; one shared instance.
const Clock& SystemClock();

// "2021-07-05T21:44:39.573181": UTC, microseconds, no zone suffix, as the
// exported container's datetime.utcnow().isoformat() writes it.
std::string FormatIsoMicros(std::chrono::system_clock::time_point t);

// "2021-07-05T21:44:39.573181Z": UTC, always 6 fraction digits and 'Z', as
// the capture API and the export manifest write it (store/time_text.h).
std::string FormatIsoMicrosZ(std::chrono::system_clock::time_point t);

// "2021-07-05T21:44:39.573Z": UTC with milliseconds and 'Z', as the cloud
// Prediction API writes it.
std::string FormatIsoMillisZ(std::chrono::system_clock::time_point t);

}  // namespace edgevision
