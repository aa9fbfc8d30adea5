// kill -9 at random moments: a child process writes, labels, deletes and
// runs retention in a loop on a real store; the parent kills it with SIGKILL
// at a random time, then checks the store as the next start would find it,
// for several rounds on the same store.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include "store/capture_store.h"
#include "sqlite/sqlite.h"
#include "store/testing/store_test_util.h"

namespace edgevision::store {
namespace {

using testing::MakeCapture;
using testing::RandomBytes;
using testing::TempDir;
using testing::TestOptions;

StoreOptions CrashOptions() {
  StoreOptions o = TestOptions();
  o.max_bytes = 3u << 20;  // small: retention runs often while the child writes
  return o;
}

// The child: never returns.
[[noreturn]] void WriteForever(const std::string& dir, uint64_t seed, int ready_fd) {
  Result<std::unique_ptr<CaptureStore>> store = CaptureStore::Open(dir, CrashOptions());
  if (!store.ok()) _exit(3);
  std::mt19937_64 rng(seed);
  std::vector<std::string> ids;
  // Report readiness so the parent kills during writes, not during start-up.
  (void)!write(ready_fd, "r", 1);
  close(ready_fd);
  for (uint64_t i = 0;; ++i) {
    const size_t size = 2000 + rng() % 60000;
    // Every fifth image repeats an earlier one (content addressing shares the file).
    const uint64_t image_seed = (i % 5 == 4) ? seed * 1000 + (rng() % (i + 1)) : seed * 1000 + i;
    NewCapture c = MakeCapture(RandomBytes(size, image_seed), rng() % 2 ? "Apple" : "Banana",
                               0.5 + (rng() % 50) / 100.0, std::chrono::system_clock::now());
    if ((*store)->Add(c).ok()) ids.push_back(c.id);
    if (!ids.empty() && rng() % 4 == 0) {
      (void)(*store)->SetLabel(ids[rng() % ids.size()],
                               std::string(rng() % 2 ? "Apple" : "Banana"));
    }
    if (!ids.empty() && rng() % 6 == 0) {
      const size_t k = rng() % ids.size();
      (void)(*store)->Delete(ids[k]);
      ids.erase(ids.begin() + static_cast<long>(k));
    }
  }
}

// Before any reconciliation: every row's image must exist with its bytes.
void ExpectNoRowWithoutItsFile(const std::string& dir) {
  Result<sqlite::DbPtr> db = sqlite::Open(dir + "/captures.db", false);
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  Result<sqlite::Statement> st = sqlite::Statement::Prepare(
      db->get(), "SELECT id, image_sha256, image_format, image_bytes FROM captures");
  ASSERT_TRUE(st.ok());
  int rows = 0;
  while (true) {
    Result<bool> row = st->Step();
    ASSERT_TRUE(row.ok()) << row.status().ToString();
    if (!*row) break;
    ++rows;
    const std::string sha = st->Text(1);
    const std::string path =
        dir + "/captures/" + sha.substr(0, 2) + "/" + sha + "." + ExtensionForFormat(st->Text(2));
    std::vector<uint8_t> bytes = edgevision::testing::ReadBytes(path);
    ASSERT_EQ(bytes.size(), static_cast<size_t>(st->Int(3)))
        << "capture " << st->Text(0) << ": " << path;
    ASSERT_EQ(Sha256Hex(bytes), sha) << path;
  }
}

TEST(CrashTest, KillNineAtRandomMomentsLeavesAConsistentStore) {
  TempDir dir;
  std::mt19937_64 rng(20240501);
  constexpr int kRounds = 12;
  int64_t total_seen = 0;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(ready[0]);
      WriteForever(dir.path(), 1000 + static_cast<uint64_t>(round), ready[1]);
    }
    close(ready[1]);
    char c = 0;
    ASSERT_EQ(read(ready[0], &c, 1), 1) << "the writer did not start";
    close(ready[0]);
    std::this_thread::sleep_for(std::chrono::milliseconds(20 + rng() % 400));
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "the writer exited early: " << status;

    ExpectNoRowWithoutItsFile(dir.path());
    // The next start reconciles: orphans and temporary files are gone.
    Result<std::unique_ptr<CaptureStore>> store = CaptureStore::Open(dir.path(), CrashOptions());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    Status check = (*store)->CheckConsistency();
    EXPECT_TRUE(check.ok()) << check.ToString();
    EXPECT_TRUE(std::filesystem::is_empty(dir / "captures/tmp"));
    CaptureQuery all;
    all.limit = kMaxPageSize;
    int64_t listed = 0;
    while (true) {
      Result<CapturePage> page = (*store)->List(all);
      ASSERT_TRUE(page.ok());
      listed += static_cast<int64_t>(page->captures.size());
      if (!page->next) break;
      all.after = page->next;
    }
    EXPECT_EQ((*store)->Health().captures, listed);
    StoreHealth h = (*store)->Health();
    EXPECT_LE(h.image_bytes + h.db_bytes, CrashOptions().max_bytes + (1u << 20));
    total_seen += listed;
  }
  // The child really wrote something across the rounds.
  EXPECT_GT(total_seen, 0);
}

}  // namespace
}  // namespace edgevision::store
