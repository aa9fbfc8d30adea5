#include "core/clock.h"

#include <cstdio>
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

// "YYYY-MM-DDTHH:MM:SS" in UTC, then `digits` (3 or 6) fraction digits unless
// `omit_zero_fraction` and the fraction is 0, then `suffix`. The one ISO 8601
// formatter; the functions below choose its options.
std::string FormatIso(std::chrono::system_clock::time_point t, int digits, bool omit_zero_fraction,
                      const char* suffix) {
  const auto since = t.time_since_epoch();
  const auto secs = std::chrono::floor<std::chrono::seconds>(since);
  const int64_t micros =
      std::chrono::duration_cast<std::chrono::microseconds>(since - secs).count();
  const std::time_t tt = static_cast<std::time_t>(secs.count());
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[48];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  if (!(omit_zero_fraction && micros == 0)) {
    const long long frac = digits == 3 ? micros / 1000 : micros;
    n += static_cast<size_t>(std::snprintf(buf + n, sizeof buf - n, ".%0*lld", digits, frac));
  }
  std::snprintf(buf + n, sizeof buf - n, "%s", suffix);
  return buf;
}

}  // namespace

const Clock& SystemClock() {
  static const RealClock clock;
  return clock;
}

std::string FormatIsoMicros(std::chrono::system_clock::time_point t) {
  // isoformat() omits the fraction when it is exactly zero.
  return FormatIso(t, 6, /*omit_zero_fraction=*/true, "");
}

std::string FormatIsoMicrosZ(std::chrono::system_clock::time_point t) {
  return FormatIso(t, 6, /*omit_zero_fraction=*/false, "Z");
}

std::string FormatIsoMillisZ(std::chrono::system_clock::time_point t) {
  return FormatIso(t, 3, /*omit_zero_fraction=*/false, "Z");
}

}  // namespace edgevision
