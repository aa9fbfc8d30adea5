// The best FLOP/s XNNPACK's own f32 GEMM reaches on this CPU: a fully
// connected operator (the micro-kernel every 1x1 convolution uses) on
// shapes like a conv layer's (M = output pixels, K = input channels, N =
// output channels), weights pre-packed, best of many repetitions.
// It bounds what the engine can reach; the hardware peak (fma_peak) bounds
// what any engine can.
//
//   xnn_gemm_peak [threads] -> one JSON line
#include <pthreadpool.h>
#include <xnnpack.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  const int threads = argc > 1 ? std::atoi(argv[1]) : 1;
  if (xnn_initialize(nullptr) != xnn_status_success) return 1;
  pthreadpool_t pool = threads > 1 ? pthreadpool_create(threads) : nullptr;
  struct Shape { size_t m, k, n; };
  const Shape shapes[] = {{3136, 64, 256}, {784, 256, 512}, {196, 512, 1024}, {729, 512, 1000}};
  double best = 0;
  Shape best_shape{};
  for (const Shape& s : shapes) {
    std::vector<float> a(s.m * s.k + 16, 0.5f), w(s.n * s.k, 0.25f), bias(s.n, 0.0f), c(s.m * s.n);
    xnn_operator_t op = nullptr;
    if (xnn_create_fully_connected_nc_f32(s.k, s.n, s.k, s.n, w.data(), bias.data(), -1e30f, 1e30f, 0,
                                          &op) != xnn_status_success ||
        xnn_setup_fully_connected_nc_f32(op, s.m, a.data(), c.data(), pool) != xnn_status_success) {
      return 1;
    }
    for (int rep = 0; rep < 60; ++rep) {
      const auto start = std::chrono::steady_clock::now();
      xnn_run_operator(op, pool);
      const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double gflops = 2.0 * s.m * s.k * s.n / sec / 1e9;
      if (gflops > best) {
        best = gflops;
        best_shape = s;
      }
    }
    xnn_delete_operator(op);
  }
  std::printf("{\"threads\": %d, \"gflops\": %.2f, \"shape_mkn\": [%zu, %zu, %zu]}\n", threads, best,
              best_shape.m, best_shape.k, best_shape.n);
  if (pool) pthreadpool_destroy(pool);
  return 0;
}
