#include "upstream/outbox.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <iterator>
#include <set>
#include <thread>

#include "upstream/testing_util.h"

namespace edgevision::upstream {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using testing::FakeClock;
using testing::TempDir;

std::unique_ptr<Outbox> OpenOrDie(const std::string& path, const OutboxLimits& limits,
                                  const Clock& clock) {
  Result<std::unique_ptr<Outbox>> outbox = Outbox::Open(path, limits, clock);
  EXPECT_TRUE(outbox.ok()) << outbox.status().ToString();
  return outbox.ok() ? std::move(outbox).value() : nullptr;
}

// Appends "p<seq>" padded to `size` bytes.
Result<uint64_t> AppendSized(Outbox& outbox, size_t size = 10) {
  return outbox.Append([size](uint64_t seq, const std::string&) {
    std::string p = "p" + std::to_string(seq);
    p.resize(std::max(size, p.size()), '.');
    return p;
  });
}

std::vector<uint64_t> Seqs(Outbox& outbox) {
  std::vector<uint64_t> seqs;
  Result<std::vector<OutboxEntry>> entries = outbox.ReadAfter(0, 1 << 20);
  for (const OutboxEntry& e : *entries) seqs.push_back(e.seq);
  return seqs;
}

TEST(OutboxTest, OrderedAppendReadRemove) {
  TempDir dir("outbox");
  FakeClock clock;
  auto outbox = OpenOrDie(dir.File("outbox.db"), {}, clock);
  ASSERT_TRUE(outbox);
  std::string stream_seen;
  for (int i = 1; i <= 5; ++i) {
    Result<uint64_t> seq = outbox->Append([&](uint64_t s, const std::string& stream) {
      stream_seen = stream;
      return "m" + std::to_string(s);
    });
    ASSERT_TRUE(seq.ok());
    EXPECT_EQ(*seq, static_cast<uint64_t>(i));
  }
  EXPECT_EQ(stream_seen.size(), 36u);
  EXPECT_EQ(outbox->Stats().stream, stream_seen);
  auto first = *outbox->ReadAfter(0, 2);
  ASSERT_EQ(first.size(), 2u);
  EXPECT_EQ(first[0].seq, 1u);
  EXPECT_EQ(first[0].payload, "m1");
  EXPECT_EQ(first[0].appended, clock.Now());
  auto rest = *outbox->ReadAfter(2, 10);
  ASSERT_EQ(rest.size(), 3u);
  EXPECT_EQ(rest[0].seq, 3u);
  // Acknowledgements may come in any order; unknown seqs are ignored.
  const std::vector<uint64_t> acked = {4, 1, 99};
  ASSERT_TRUE(outbox->Remove(acked).ok());
  EXPECT_EQ(Seqs(*outbox), (std::vector<uint64_t>{2, 3, 5}));
  OutboxStats stats = outbox->Stats();
  EXPECT_EQ(stats.depth, 3u);
  EXPECT_EQ(stats.bytes, 6u);
  EXPECT_EQ(stats.last_seq, 5u);
  EXPECT_EQ(stats.DroppedTotal(), 0u);
}

TEST(OutboxTest, PersistsAcrossReopenAndNeverReusesSequenceNumbers) {
  TempDir dir("outbox");
  FakeClock clock;
  std::string stream;
  {
    auto outbox = OpenOrDie(dir.File("outbox.db"), {}, clock);
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(AppendSized(*outbox).ok());
    const std::vector<uint64_t> all = {1, 2, 3, 4};
    ASSERT_TRUE(outbox->Remove(all).ok());  // empty, but seq 4 was used
    ASSERT_TRUE(AppendSized(*outbox).ok());
    stream = outbox->Stats().stream;
  }
  auto outbox = OpenOrDie(dir.File("outbox.db"), {}, clock);
  EXPECT_EQ(outbox->Stats().stream, stream);
  EXPECT_EQ(Seqs(*outbox), std::vector<uint64_t>{5});
  EXPECT_EQ(*AppendSized(*outbox), 6u);
  const std::vector<uint64_t> all = {5, 6};
  ASSERT_TRUE(outbox->Remove(all).ok());
  outbox.reset();
  outbox = OpenOrDie(dir.File("outbox.db"), {}, clock);
  EXPECT_EQ(outbox->Stats().depth, 0u);
  EXPECT_EQ(*AppendSized(*outbox), 7u);
}

TEST(OutboxTest, ByteBoundDropsOldestAndCountsPersistently) {
  TempDir dir("outbox");
  FakeClock clock;
  OutboxLimits limits;
  limits.max_bytes = 1000;
  {
    auto outbox = OpenOrDie(dir.File("outbox.db"), limits, clock);
    for (int i = 0; i < 25; ++i) ASSERT_TRUE(AppendSized(*outbox, 100).ok());
    OutboxStats stats = outbox->Stats();
    EXPECT_EQ(stats.depth, 10u);
    EXPECT_EQ(stats.bytes, 1000u);
    EXPECT_EQ(stats.dropped_full, 15u);
    EXPECT_EQ(Seqs(*outbox).front(), 16u);  // the newest ten are kept
    // Larger than one message may be: refused, counted.
    Result<uint64_t> huge = AppendSized(*outbox, 1001);
    EXPECT_EQ(huge.status().code(), StatusCode::kResourceExhausted);
    EXPECT_EQ(outbox->Stats().dropped_too_large, 1u);
    EXPECT_EQ(outbox->Stats().depth, 10u);
  }
  auto outbox = OpenOrDie(dir.File("outbox.db"), limits, clock);
  EXPECT_EQ(outbox->Stats().dropped_full, 15u);
  EXPECT_EQ(outbox->Stats().dropped_too_large, 1u);
  EXPECT_EQ(outbox->Stats().bytes, 1000u);
}

TEST(OutboxTest, AgeBoundDropsExpiredOldestFirst) {
  TempDir dir("outbox");
  FakeClock clock;
  OutboxLimits limits;
  limits.max_age = std::chrono::hours(24);
  auto outbox = OpenOrDie(dir.File("outbox.db"), limits, clock);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(AppendSized(*outbox).ok());
  clock.Advance(hours(20));
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(AppendSized(*outbox).ok());
  EXPECT_EQ(*outbox->ExpireOld(), 0u);
  clock.Advance(hours(5));  // the first three are 25 h old, the others 5 h
  EXPECT_EQ(*outbox->ExpireOld(), 3u);
  EXPECT_EQ(Seqs(*outbox), (std::vector<uint64_t>{4, 5}));
  EXPECT_EQ(outbox->Stats().dropped_expired, 3u);
  outbox.reset();
  // Opening expires too, and the count survives.
  clock.Advance(hours(24));
  outbox = OpenOrDie(dir.File("outbox.db"), limits, clock);
  EXPECT_EQ(outbox->Stats().depth, 0u);
  EXPECT_EQ(outbox->Stats().dropped_expired, 5u);
}

TEST(OutboxTest, UnsetClockTimesAreNotExpired) {
  TempDir dir("outbox");
  FakeClock clock;
  clock.SetWall(
      std::chrono::system_clock::time_point(std::chrono::seconds(3600)));  // 1970: before NTP
  OutboxLimits limits;
  limits.max_age = std::chrono::hours(1);
  auto outbox = OpenOrDie(dir.File("outbox.db"), limits, clock);
  ASSERT_TRUE(AppendSized(*outbox).ok());
  clock.SetWall(
      std::chrono::system_clock::time_point(std::chrono::seconds(1750000000)));  // NTP synced
  ASSERT_TRUE(AppendSized(*outbox).ok());
  clock.Advance(hours(2));
  EXPECT_EQ(*outbox->ExpireOld(), 1u);
  EXPECT_EQ(Seqs(*outbox), std::vector<uint64_t>{1});  // kept: its age is unknown
}

// Fault injection: a full disk (here the file-size cap, which SQLite reports
// exactly like ENOSPC: SQLITE_FULL) makes room by dropping the oldest
// messages, and a message that cannot fit at all is refused and counted.
TEST(OutboxTest, DiskFullDropsOldestThenRefuses) {
  TempDir dir("outbox");
  FakeClock clock;
  OutboxLimits limits;
  limits.max_bytes = 16 << 20;
  limits.max_message_bytes = 1 << 20;
  limits.max_file_bytes = 128 << 10;
  limits.sync_full = false;  // durability is not what this test is about
  auto outbox = OpenOrDie(dir.File("outbox.db"), limits, clock);
  for (int i = 0; i < 400; ++i) ASSERT_TRUE(AppendSized(*outbox, 1000).ok()) << i;
  OutboxStats stats = outbox->Stats();
  EXPECT_GT(stats.dropped_full, 0u);
  EXPECT_LT(stats.bytes, 128u << 10);
  EXPECT_EQ(stats.write_failures, 0u);
  EXPECT_EQ(stats.depth + stats.dropped_full, 400u);
  std::vector<uint64_t> seqs = Seqs(*outbox);
  EXPECT_EQ(seqs.back(), 400u);  // the newest survive, in order
  EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));

  Result<uint64_t> big = AppendSized(*outbox, 200 << 10);
  EXPECT_EQ(big.status().code(), StatusCode::kResourceExhausted) << big.status().ToString();
  EXPECT_EQ(outbox->Stats().write_failures, 1u);
  // Still usable afterwards.
  EXPECT_TRUE(AppendSized(*outbox, 1000).ok());
}

TEST(OutboxTest, OneProcessAtATime) {
  TempDir dir("outbox");
  FakeClock clock;
  auto outbox = OpenOrDie(dir.File("outbox.db"), {}, clock);
  pid_t child = fork();
  if (child == 0) {
    Result<std::unique_ptr<Outbox>> second = Outbox::Open(dir.File("outbox.db"), {}, clock);
    _exit(!second.ok() && second.status().code() == StatusCode::kUnavailable ? 0 : 1);
  }
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "a second process must be refused";
}

TEST(OutboxTest, NotAnOutboxIsCorrupt) {
  TempDir dir("outbox");
  {
    std::FILE* f = std::fopen(dir.File("outbox.db").c_str(), "wb");
    std::fputs(
        "this is not a database, just some bytes that are long enough to be read as a header....",
        f);
    std::fclose(f);
  }
  Result<std::unique_ptr<Outbox>> outbox = Outbox::Open(dir.File("outbox.db"), {});
  ASSERT_FALSE(outbox.ok());
  EXPECT_EQ(outbox.status().code(), StatusCode::kCorrupt) << outbox.status().ToString();
}

// Crash consistency: a child process appends and removes as fast as it can
// and is killed with SIGKILL at an arbitrary moment. On a pipe it writes an
// intent line before each operation ("+<seq>" from inside the append, once the
// seq is chosen; "-<seq>" before a removal) and a completion line after it
// commits ("a<seq>", "r<seq>"). The kill can land between an intent and its
// completion, so that one operation may or may not have happened; every other
// one is exact. Reopened, the outbox holds every completed append that was not
// removed, none that was removed, the in-flight operation either way, nothing
// else; payloads are intact, order is kept and sequence numbers are not reused.
TEST(OutboxTest, SurvivesKillDashNine) {
  for (int round = 0; round < 3; ++round) {
    TempDir dir("outbox_crash");
    const std::string path = dir.File("outbox.db");
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      close(fds[0]);
      auto report = [&](char op, uint64_t seq) {
        char line[32];
        int n = std::snprintf(line, sizeof line, "%c%llu\n", op,
                              static_cast<unsigned long long>(seq));
        if (write(fds[1], line, n) != n) _exit(4);
      };
      OutboxLimits limits;
      limits.sync_full = round % 2 == 0;
      Result<std::unique_ptr<Outbox>> outbox = Outbox::Open(path, limits);
      if (!outbox.ok()) _exit(2);
      for (;;) {
        Result<uint64_t> seq = (*outbox)->Append([&](uint64_t s, const std::string&) {
          report('+', s);
          std::string p = "p" + std::to_string(s);
          p.resize(200, '.');
          return p;
        });
        if (!seq.ok()) _exit(3);
        report('a', *seq);
        if (*seq % 3 == 0) {  // acknowledge every third message
          const std::vector<uint64_t> ack = {*seq - 1};
          report('-', ack[0]);
          if (!(*outbox)->Remove(ack).ok()) _exit(5);
          report('r', ack[0]);
        }
      }
    }
    close(fds[1]);
    // Let it run for a while, then kill it mid-operation.
    std::set<uint64_t> append_intent, appended, remove_intent, removed;
    std::string buffer;
    const size_t kill_after = 150 + 100 * static_cast<size_t>(round);
    char chunk[4096];
    bool killed = false;
    while (true) {
      ssize_t n = read(fds[0], chunk, sizeof chunk);
      if (n <= 0) break;
      buffer.append(chunk, static_cast<size_t>(n));
      size_t nl;
      while ((nl = buffer.find('\n')) != std::string::npos) {
        const std::string line = buffer.substr(0, nl);
        buffer.erase(0, nl + 1);
        const uint64_t seq = std::stoull(line.substr(1));
        switch (line[0]) {
          case '+': append_intent.insert(seq); break;
          case 'a': appended.insert(seq); break;
          case '-': remove_intent.insert(seq); break;
          case 'r': removed.insert(seq); break;
          default: FAIL() << "bad report line " << line;
        }
      }
      if (!killed && appended.size() >= kill_after) {
        kill(child, SIGKILL);
        killed = true;
      }
    }
    close(fds[0]);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "child ended otherwise: " << status;
    ASSERT_TRUE(buffer.empty()) << "torn report line " << buffer;
    ASSERT_GT(appended.size(), 100u);

    // At most one operation was in flight when the child died.
    std::set<uint64_t> append_in_flight, remove_in_flight;
    std::set_difference(append_intent.begin(), append_intent.end(), appended.begin(),
                        appended.end(), std::inserter(append_in_flight, append_in_flight.end()));
    std::set_difference(remove_intent.begin(), remove_intent.end(), removed.begin(), removed.end(),
                        std::inserter(remove_in_flight, remove_in_flight.end()));
    ASSERT_LE(append_in_flight.size() + remove_in_flight.size(), 1u);
    ASSERT_TRUE(std::includes(append_intent.begin(), append_intent.end(), appended.begin(),
                              appended.end()));
    ASSERT_TRUE(std::includes(remove_intent.begin(), remove_intent.end(), removed.begin(),
                              removed.end()));

    auto outbox = OpenOrDie(path, {}, SystemClock());
    ASSERT_TRUE(outbox);
    std::set<uint64_t> present;
    uint64_t previous = 0;
    Result<std::vector<OutboxEntry>> entries = outbox->ReadAfter(0, 1 << 20);
    ASSERT_TRUE(entries.ok());
    for (const OutboxEntry& e : *entries) {
      EXPECT_GT(e.seq, previous) << "out of order";
      previous = e.seq;
      present.insert(e.seq);
      std::string expected = "p" + std::to_string(e.seq);
      expected.resize(200, '.');
      EXPECT_EQ(e.payload, expected) << "torn payload for seq " << e.seq;
    }
    for (uint64_t seq : appended) {
      if (removed.count(seq)) {
        EXPECT_FALSE(present.count(seq)) << "removed message " << seq << " came back";
      } else if (!remove_in_flight.count(seq)) {
        EXPECT_TRUE(present.count(seq)) << "lost committed message " << seq;
      }  // else: its removal was in flight, present or absent are both right
    }
    for (uint64_t seq : present) {
      EXPECT_TRUE(appended.count(seq) || append_in_flight.count(seq))
          << "message " << seq << " was never appended";
    }
    Result<uint64_t> next = AppendSized(*outbox, 200);
    ASSERT_TRUE(next.ok());
    EXPECT_GT(*next, *appended.rbegin());
    if (!present.empty()) {
      EXPECT_GT(*next, *present.rbegin()) << "sequence number reused";
    }
    EXPECT_EQ(outbox->Stats().depth, present.size() + 1);
  }
}

}  // namespace
}  // namespace edgevision::upstream
