#include "metrics/process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

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

TEST(ReadProcess, SeesThisProcessAndItsNewDescriptors) {
  std::optional<ProcessSample> before = ReadProcess();
  ASSERT_TRUE(before.has_value());
  EXPECT_GT(before->resident_bytes, 0u);
  EXPECT_GT(before->max_fds, 0u);
  EXPECT_GE(before->threads, 1u);
  const int fd1 = open("/dev/null", O_RDONLY), fd2 = open("/dev/null", O_RDONLY);
  ASSERT_GE(fd1, 0);
  ASSERT_GE(fd2, 0);
  std::optional<ProcessSample> after = ReadProcess();
  close(fd1);
  close(fd2);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->open_fds, before->open_fds + 2);
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
