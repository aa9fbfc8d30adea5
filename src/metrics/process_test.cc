#include "metrics/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <future>
#include <thread>
#include <vector>

namespace edgevision::metrics {
namespace {

TEST(ProcStat, ParsesFieldsAfterACommandNameWithSpacesAndParens) {
  // proc(5): utime=14 stime=15 num_threads=20 starttime=22 vsize=23 rss=24.
  const std::string stat =
      "1234 (odd) name)) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 1000 123456789 300 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
  std::optional<ProcessSample> s = ParseProcStat(stat, 100, 4096, 1.7e9);
  ASSERT_TRUE(s.has_value());
  EXPECT_DOUBLE_EQ(s->cpu_seconds, 3.0);
  EXPECT_EQ(s->threads, 7u);
  EXPECT_DOUBLE_EQ(s->start_time_seconds, 1.7e9 + 10);
  EXPECT_EQ(s->virtual_bytes, 123456789u);
  EXPECT_EQ(s->resident_bytes, 300u * 4096);
}

TEST(ProcStat, RefusesTruncatedText) {
  EXPECT_FALSE(ParseProcStat("1234 (x) S 1 2 3", 100, 4096, 0).has_value());
  EXPECT_FALSE(ParseProcStat("no parens at all", 100, 4096, 0).has_value());
}

TEST(ProcStatus, ParsesSizesInKibibytesAndThreads) {
  const std::string status =
      "Name:\tedgevision\nVmPeak:\t  260800 kB\nVmSize:\t  228296 kB\nVmHWM:\t   12204 kB\n"
      "VmRSS:\t   12000 kB\nThreads:\t7\nSigQ:\t0/95000\n";
  std::optional<ProcStatus> s = ParseProcStatus(status);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->resident_bytes, 12000u * 1024);
  EXPECT_EQ(s->virtual_bytes, 228296u * 1024);
  EXPECT_EQ(s->threads, 7u);
}

TEST(ProcStatus, RefusesTextWithoutTheLines) {
  EXPECT_FALSE(ParseProcStatus("Name:\tx\nVmRSS:\t 10 kB\nVmSize:\t 20 kB\n").has_value());  // no Threads
  EXPECT_FALSE(ParseProcStatus("VmRSS:\t kB\nVmSize:\t 20 kB\nThreads:\t1\n").has_value());   // no number
  EXPECT_FALSE(ParseProcStatus("").has_value());
}

TEST(ReadProcess, FallsBackToStatWhenStatusOrRusageAreMissing) {
  const std::string stat =
      "42 (edgevision) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 1000 123456789 300 "
      "18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0";
  const std::optional<ProcessSample> from_stat = ParseProcStat(stat, 100, 4096, 1.7e9);
  ASSERT_TRUE(from_stat.has_value());
  const std::string status = "Name:\tedgevision\nVmSize:\t  228296 kB\nVmRSS:\t   12000 kB\nThreads:\t9\n";
  // Both there: status's sizes and threads, rusage's CPU; stat's start time.
  ProcessSample both = PreferStatusAndRusage(*from_stat, status, 1.25);
  EXPECT_EQ(both.resident_bytes, 12000u * 1024);
  EXPECT_EQ(both.virtual_bytes, 228296u * 1024);
  EXPECT_EQ(both.threads, 9u);
  EXPECT_DOUBLE_EQ(both.cpu_seconds, 1.25);
  EXPECT_DOUBLE_EQ(both.start_time_seconds, 1.7e9 + 10);
  // status unreadable, or without its lines, and no rusage: all from stat.
  for (const std::optional<std::string>& missing :
       {std::optional<std::string>(), std::optional<std::string>("Name:\tx\n")}) {
    ProcessSample fallback = PreferStatusAndRusage(*from_stat, missing, std::nullopt);
    EXPECT_EQ(fallback.resident_bytes, 300u * 4096);
    EXPECT_EQ(fallback.virtual_bytes, 123456789u);
    EXPECT_EQ(fallback.threads, 7u);
    EXPECT_DOUBLE_EQ(fallback.cpu_seconds, 3.0);
    EXPECT_DOUBLE_EQ(fallback.start_time_seconds, 1.7e9 + 10);
  }
}

// The kernel's figures for this process, which qemu-user's own /proc/self/stat
// (zeros for CPU, threads and sizes) would fail: a thread more, 64 MiB touched.
TEST(ReadProcess, SeesThisProcessItsThreadsMemoryAndNewDescriptors) {
  std::optional<ProcessSample> before = ReadProcess();
  ASSERT_TRUE(before.has_value());
  EXPECT_GT(before->resident_bytes, 0u);
  EXPECT_GT(before->virtual_bytes, before->resident_bytes);
  EXPECT_GT(before->cpu_seconds, 0.0);
  EXPECT_GT(before->max_fds, 0u);
  EXPECT_GE(before->threads, 1u);
  const int fd1 = open("/dev/null", O_RDONLY), fd2 = open("/dev/null", O_RDONLY);
  ASSERT_GE(fd1, 0);
  ASSERT_GE(fd2, 0);
  constexpr size_t kTouched = 64u << 20;  // far above the noise of a test process's RSS
  std::vector<char> touched(kTouched, 1);
  std::promise<void> release;
  std::thread waiting([f = release.get_future()]() mutable { f.wait(); });
  std::optional<ProcessSample> after = ReadProcess();
  release.set_value();
  waiting.join();
  close(fd1);
  close(fd2);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->open_fds, before->open_fds + 2);
  EXPECT_EQ(after->threads, before->threads + 1);
  EXPECT_GE(after->resident_bytes, before->resident_bytes + kTouched / 2) << int(touched[kTouched / 2]);
  EXPECT_GE(after->cpu_seconds, before->cpu_seconds);
}

TEST(ProcessCollector, WritesTheStandardNames) {
  TextWriter w;
  ProcessCollector()(&w);
  for (const char* name : {"process_cpu_seconds_total ", "process_resident_memory_bytes ", "process_open_fds ",
                           "process_max_fds ", "process_start_time_seconds ", "process_virtual_memory_bytes "}) {
    EXPECT_NE(w.text().find(std::string("\n") + name), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace edgevision::metrics
