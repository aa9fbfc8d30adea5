// Peak resident memory of a piece of code, for tests that pin an allocation
// bound (a hostile model file must not make an importer allocate gigabytes).
//
// Linux only: resets the process's peak RSS (VmHWM) to its current RSS through
// /proc/self/clear_refs, runs `fn`, and returns how far the peak rose above
// the RSS before, in bytes; -1 when /proc cannot be used. Not thread-safe
// with respect to other threads allocating at the same time.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>

namespace edgevision::testing {

// VmHWM or VmRSS from /proc/self/status in bytes, -1 if unreadable.
inline int64_t ProcStatusBytes(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stoll(line.substr(key.size() + 1)) * 1024;
  }
  return -1;
}

template <typename Fn>
int64_t PeakRssGrowth(Fn&& fn) {
  {
    std::ofstream reset("/proc/self/clear_refs");
    reset << "5";
    if (!reset.flush()) return -1;
  }
  const int64_t before = ProcStatusBytes("VmRSS");
  fn();
  const int64_t peak = ProcStatusBytes("VmHWM");
  if (before < 0 || peak < 0) return -1;
  return peak - before;
}

}  // namespace edgevision::testing
