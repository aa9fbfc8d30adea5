// Peak single-precision FLOP/s of this CPU, measured: each thread runs
// independent chains of vector fused multiply-adds (enough chains to cover
// FMA latency x FMA ports), so the loop is bound only by FMA throughput.
// Built by bench/run.sh with -O2 -march=native: the widest vectors the CPU
// has (AVX-512 where present). One FMA = 2 FLOPs.
//
//   fma_peak [threads]   -> one JSON line: {"threads", "vector_bits", "gflops"}
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#if defined(__AVX512F__)
constexpr int kBytes = 64;
#elif defined(__AVX__)
constexpr int kBytes = 32;
#else
constexpr int kBytes = 16;
#endif
typedef float Vec __attribute__((vector_size(kBytes)));
constexpr int kLanes = kBytes / 4;
constexpr int kChains = 16;  // >= latency (4-5 cycles) x ports (2) on current x86 and ARM

// Returns FLOPs done. `seed` is opaque to the compiler so nothing folds.
__attribute__((noinline)) double Spin(long iterations, float seed, float* sink) {
  Vec acc[kChains];
  Vec a, b;
  for (int l = 0; l < kLanes; ++l) {
    a[l] = 1.0f + seed * 1e-9f;
    b[l] = 1e-7f * seed;
  }
  for (int c = 0; c < kChains; ++c) acc[c] = a * static_cast<float>(c);
  for (long i = 0; i < iterations; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < kChains; ++c) acc[c] = acc[c] * a + b;  // contracted to FMA
  }
  Vec total = acc[0];
  for (int c = 1; c < kChains; ++c) total += acc[c];
  float s = 0;
  for (int l = 0; l < kLanes; ++l) s += total[l];
  *sink = s;
  return 2.0 * kLanes * kChains * static_cast<double>(iterations);
}

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  const long iterations = 2'000'000;  // ~10-40 ms a repetition
  double best = 0;
  // The best of many short repetitions: on a shared machine some run unpreempted.
  for (int rep = 0; rep < 40; ++rep) {
    std::vector<std::thread> pool;
    std::vector<float> sink(threads * 16);
    const auto start = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] { Spin(iterations, static_cast<float>(argc + t), &sink[t * 16]); });
    for (auto& th : pool) th.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double gflops = 2.0 * kLanes * kChains * static_cast<double>(iterations) * threads / s / 1e9;
    if (gflops > best) best = gflops;
  }
  std::printf("{\"threads\": %d, \"vector_bits\": %d, \"gflops\": %.2f}\n", threads, kBytes * 8, best);
  return 0;
}
