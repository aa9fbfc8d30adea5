#include "metrics/process.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace edgevision::metrics {

namespace {

constexpr uint64_t kKibibyte = 1024;  // /proc/<pid>/status gives sizes in kB (KiB)

std::optional<std::string> ReadFile(const char* path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<double> BootTime() {
  std::optional<std::string> stat = ReadFile("/proc/stat");
  if (!stat) return std::nullopt;
  std::istringstream in(*stat);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("btime ", 0) == 0) return std::strtod(line.c_str() + 6, nullptr);
  }
  return std::nullopt;
}

uint64_t CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return 0;
  uint64_t n = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n > 0 ? n - 1 : 0;  // not the descriptor opendir itself holds
}

}  // namespace

std::optional<ProcessSample> ParseProcStat(const std::string& stat, long ticks_per_second, long page_bytes,
                                           double boot_time) {
  // "pid (comm) state ppid ...": comm may hold spaces and ')', so the fields
  // start after the last ')'.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos || ticks_per_second <= 0) return std::nullopt;
  std::istringstream in(stat.substr(close + 1));
  std::vector<std::string> f;  // f[0] is field 3 (state)
  for (std::string tok; in >> tok;) f.push_back(tok);
  if (f.size() < 22) return std::nullopt;
  auto field = [&](int n) { return std::strtod(f[n - 3].c_str(), nullptr); };  // 1-based as in proc(5)
  ProcessSample s;
  s.cpu_seconds = (field(14) + field(15)) / static_cast<double>(ticks_per_second);
  s.threads = static_cast<uint64_t>(field(20));
  s.start_time_seconds = boot_time + field(22) / static_cast<double>(ticks_per_second);
  s.virtual_bytes = static_cast<uint64_t>(field(23));
  s.resident_bytes = static_cast<uint64_t>(field(24)) * static_cast<uint64_t>(page_bytes);
  return s;
}

std::optional<ProcStatus> ParseProcStatus(const std::string& status) {
  std::optional<uint64_t> rss_kib, size_kib, threads;
  std::istringstream in(status);
  std::string line;
  auto value = [&](const char* key) -> std::optional<uint64_t> {
    const size_t n = std::char_traits<char>::length(key);
    if (line.compare(0, n, key) != 0) return std::nullopt;
    const char* begin = line.c_str() + n;
    char* end = nullptr;
    const unsigned long long v = std::strtoull(begin, &end, 10);
    if (end == begin) return std::nullopt;
    return static_cast<uint64_t>(v);
  };
  while (std::getline(in, line)) {
    if (auto v = value("VmRSS:")) rss_kib = v;
    if (auto v = value("VmSize:")) size_kib = v;
    if (auto v = value("Threads:")) threads = v;
  }
  if (!rss_kib || !size_kib || !threads) return std::nullopt;
  return ProcStatus{*rss_kib * kKibibyte, *size_kib * kKibibyte, *threads};
}

ProcessSample PreferStatusAndRusage(ProcessSample from_stat, const std::optional<std::string>& status,
                                    std::optional<double> rusage_cpu_seconds) {
  // qemu-user answers /proc/self/stat itself, with zeros for the CPU times,
  // the thread count and the memory sizes; /proc/self/status and
  // getrusage reach the kernel, which says the same as its stat on a real
  // system. So the sizes and threads come from status, the CPU from rusage.
  ProcessSample s = from_stat;
  if (status) {
    if (std::optional<ProcStatus> st = ParseProcStatus(*status)) {
      s.resident_bytes = st->resident_bytes;
      s.virtual_bytes = st->virtual_bytes;
      s.threads = st->threads;
    }
  }
  if (rusage_cpu_seconds) s.cpu_seconds = *rusage_cpu_seconds;
  return s;
}

std::optional<ProcessSample> ReadProcess() {
  std::optional<std::string> stat = ReadFile("/proc/self/stat");
  std::optional<double> boot = BootTime();
  if (!stat || !boot) return std::nullopt;
  std::optional<ProcessSample> s = ParseProcStat(*stat, sysconf(_SC_CLK_TCK), sysconf(_SC_PAGESIZE), *boot);
  if (!s) return std::nullopt;
  std::optional<double> rusage_cpu;
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) == 0) {
    auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
    rusage_cpu = seconds(usage.ru_utime) + seconds(usage.ru_stime);
  }
  s = PreferStatusAndRusage(*s, ReadFile("/proc/self/status"), rusage_cpu);
  s->open_fds = CountOpenFds();
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) s->max_fds = limit.rlim_cur;
  return s;
}

Registry::Collector ProcessCollector() {
  return [](TextWriter* out) {
    std::optional<ProcessSample> p = ReadProcess();
    if (!p) return;
    out->Single("process_cpu_seconds_total", "counter", "User and system CPU time spent in seconds.", p->cpu_seconds);
    out->Single("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
                static_cast<double>(p->resident_bytes));
    out->Single("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
                static_cast<double>(p->virtual_bytes));
    out->Single("process_open_fds", "gauge", "Number of open file descriptors.", static_cast<double>(p->open_fds));
    out->Single("process_max_fds", "gauge", "Maximum number of open file descriptors.",
                static_cast<double>(p->max_fds));
    out->Single("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
                p->start_time_seconds);
    out->Single("edgevision_process_threads", "gauge", "Threads in the edgevision process.",
                static_cast<double>(p->threads));
  };
}

}  // namespace edgevision::metrics
