#include "engine/memory_planner.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace edgevision::engine {
namespace {

bool LiveTogether(const BufferRequest& a, const BufferRequest& b) {
  return a.first_step <= b.last_step && b.first_step <= a.last_step;
}

// Every pair of buffers live at the same time occupies disjoint bytes.
void ExpectNoConflicts(const std::vector<BufferRequest>& r, const ArenaPlan& plan,
                       size_t alignment) {
  ASSERT_EQ(plan.offsets.size(), r.size());
  for (size_t i = 0; i < r.size(); ++i) {
    EXPECT_EQ(plan.offsets[i] % alignment, 0u);
    EXPECT_LE(plan.offsets[i] + r[i].bytes, plan.arena_bytes);
    for (size_t j = i + 1; j < r.size(); ++j) {
      if (!LiveTogether(r[i], r[j])) continue;
      const bool disjoint = plan.offsets[i] + r[i].bytes <= plan.offsets[j] ||
                            plan.offsets[j] + r[j].bytes <= plan.offsets[i];
      EXPECT_TRUE(disjoint) << "buffers " << i << " and " << j;
    }
  }
}

TEST(MemoryPlannerTest, ChainReusesTwoSlots) {
  // a -> b -> c -> d: each buffer lives from its producer to its consumer.
  std::vector<BufferRequest> r = {{1000, 0, 1}, {1000, 1, 2}, {1000, 2, 3}, {1000, 3, 4}};
  const ArenaPlan plan = PlanArena(r, 64);
  ExpectNoConflicts(r, plan, 64);
  EXPECT_EQ(plan.arena_bytes, 2 * 1024u);
  EXPECT_EQ(plan.offsets[0], plan.offsets[2]);
  EXPECT_EQ(plan.offsets[1], plan.offsets[3]);
}

TEST(MemoryPlannerTest, AllLiveAtOnceNeedTheSum) {
  std::vector<BufferRequest> r = {{100, 0, 5}, {200, 0, 5}, {300, 0, 5}};
  const ArenaPlan plan = PlanArena(r, 4);
  ExpectNoConflicts(r, plan, 4);
  EXPECT_EQ(plan.arena_bytes, 600u);
}

TEST(MemoryPlannerTest, SmallBufferFillsAGap) {
  // Big buffers 0 and 2 are live together; 1 is live only between them.
  std::vector<BufferRequest> r = {{4096, 0, 2}, {1024, 3, 4}, {4096, 2, 5}};
  const ArenaPlan plan = PlanArena(r, 64);
  ExpectNoConflicts(r, plan, 64);
  EXPECT_EQ(plan.arena_bytes, 8192u);
}

TEST(MemoryPlannerTest, EmptyAndZeroSized) {
  EXPECT_EQ(PlanArena({}, 64).arena_bytes, 0u);
  std::vector<BufferRequest> r = {{0, 0, 0}, {0, 0, 0}};
  const ArenaPlan plan = PlanArena(r, 64);
  EXPECT_NE(plan.offsets[0], plan.offsets[1]);  // distinct addresses even when empty
}

TEST(MemoryPlannerTest, RandomLifetimesNeverConflict) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    std::vector<BufferRequest> r(1 + rng() % 40);
    size_t sum = 0;
    for (BufferRequest& b : r) {
      b.bytes = 1 + rng() % 5000;
      b.first_step = static_cast<int>(rng() % 30);
      b.last_step = b.first_step + static_cast<int>(rng() % 8);
      sum += (b.bytes + 63) / 64 * 64;
    }
    const ArenaPlan plan = PlanArena(r, 64);
    ExpectNoConflicts(r, plan, 64);
    EXPECT_LE(plan.arena_bytes, sum);
  }
}

}  // namespace
}  // namespace edgevision::engine
