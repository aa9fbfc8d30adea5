// The process's own resource use, read from /proc at scrape time, under the
// standard names every Prometheus client library uses (process_*), so
// existing dashboards and alerts work unchanged.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "metrics/registry.h"

namespace edgevision::metrics {

struct ProcessSample {
  double cpu_seconds = 0;          // user + system
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
  uint64_t open_fds = 0;
  uint64_t max_fds = 0;            // the soft RLIMIT_NOFILE
  double start_time_seconds = 0;   // since the Unix epoch
  uint64_t threads = 0;
};

// Reads /proc/self (Linux): stat for the start time, status for the memory
// sizes and threads, getrusage for the CPU time (under qemu-user, which
// fills stat's other fields with zeros, status and rusage stay the
// kernel's). nullopt when /proc is not mounted or unreadable.
std::optional<ProcessSample> ReadProcess();

// The VmRSS, VmSize and Threads lines of /proc/<pid>/status, in bytes.
struct ProcStatus {
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
  uint64_t threads = 0;
};
// nullopt when one of the three lines is missing. For tests.
std::optional<ProcStatus> ParseProcStatus(const std::string& status);

// Parses the text of /proc/<pid>/stat; `ticks_per_second` and `page_bytes`
// from sysconf, `boot_time` from /proc/stat's btime. For tests.
std::optional<ProcessSample> ParseProcStat(const std::string& stat, long ticks_per_second, long page_bytes,
                                           double boot_time);

// ReadProcess's choice of sources: the sizes and threads from `status` (the
// text of /proc/<pid>/status) when it is there and parses, the CPU time from
// getrusage's `rusage_cpu_seconds` when given; else `from_stat`'s (the
// fallback, ParseProcStat's). For tests.
ProcessSample PreferStatusAndRusage(ProcessSample from_stat, const std::optional<std::string>& status,
                                    std::optional<double> rusage_cpu_seconds);

// A collector writing process_cpu_seconds_total, process_resident_memory_bytes,
// process_virtual_memory_bytes, process_open_fds, process_max_fds,
// process_start_time_seconds and edgevision_process_threads. Writes nothing
// when /proc cannot be read.
Registry::Collector ProcessCollector();

}  // namespace edgevision::metrics
