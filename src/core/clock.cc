#include "core/clock.h"

#include <ctime>

namespace edgevision {

namespace {

class RealClock : public Clock {
 public:
  std::chrono::system_clock::time_point Now() const override { return std::chrono::system_clock::now(); }
  std::chrono::steady_clock::time_point Monotonic() const override {
    return std::chrono::steady_clock::now();
  }
};

// Seconds part as "YYYY-MM-DDTHH:MM:SS" plus the sub-second count in `unit`.
std::string FormatSeconds(std::chrono::system_clock::time_point t, int64_t* micros) {
  auto since = t.time_since_epoch();
  auto secs = std::chrono::floor<std::chrono::seconds>(since);
  *micros = std::chrono::duration_cast<std::chrono::microseconds>(since - secs).count();
  std::time_t tt = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

}  // namespace

const Clock& SystemClock() {
  static const RealClock clock;
  return clock;
}

std::string FormatIsoMicros(std::chrono::system_clock::time_point t) {
  int64_t micros = 0;
  std::string s = FormatSeconds(t, &micros);
  // isoformat() omits the fraction when it is exactly zero.
  if (micros == 0) return s;
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(micros));
  return s + frac;
}

std::string FormatIsoMillisZ(std::chrono::system_clock::time_point t) {
  int64_t micros = 0;
  std::string s = FormatSeconds(t, &micros);
  char frac[8];
  std::snprintf(frac, sizeof frac, ".%03lld", static_cast<long long>(micros / 1000));
  return s + frac + "Z";
}

}  // namespace edgevision
