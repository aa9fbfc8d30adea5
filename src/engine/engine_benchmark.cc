// Micro-benchmark of the XNNPACK backend on SqueezeNet-1.1-shaped (227x227)
// and MobileNetV2-shaped (224x224) graphs with random weights, at 1 and 2
// threads. Built with -DEDGEVISION_BUILD_BENCH=ON; run e.g.
//   engine_benchmark --benchmark_repetitions=7 --benchmark_report_aggregates_only=true
// Counters: GFLOPS (2 x multiply-adds of Conv2D/FullyConnected per second),
// arena_MB (activation arena of one session), session_MB (heap growth while
// creating one session: arena + packed weights + XNNPACK buffers),
// compile_ms / session_ms (Compile() and CreateSession() wall time).
// With --profile, afterwards prints where the time goes per op type and the
// slowest nodes (ProfileXnnpackSession).
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/testing/test_graphs.h"
#include "engine/xnnpack_backend.h"

namespace edgevision::engine {
namespace {

const graph::Graph& SqueezeNet() {
  static const graph::Graph g = testing::SqueezeNet11(227, 1000, 1);
  return g;
}
const graph::Graph& MobileNet() {
  static const graph::Graph g = testing::MobileNetV2(224, 1000, 1);
  return g;
}

double MultiplyAdds(const graph::Graph& g) {
  double macs = 0;
  for (const graph::Node& node : g.nodes) {
    const graph::Shape& y = g.values[node.outputs[0]].shape;
    if (node.op == graph::Op::kConv2D) {
      const graph::Shape& w = g.values[node.inputs[1]].shape;
      macs += static_cast<double>(y[1] * y[2] * w[0]) * static_cast<double>(w[1] * w[2] * w[3]);
    } else if (node.op == graph::Op::kFullyConnected) {
      const graph::Shape& w = g.values[node.inputs[1]].shape;
      macs += static_cast<double>(w[0] * w[1]);
    }
  }
  return macs;
}

size_t HeapBytes() {
  const struct mallinfo2 info = mallinfo2();
  return info.uordblks + info.hblkhd;
}

// With --benchmark_repetitions: the least disturbed repetition on a busy machine.
double MinOf(const std::vector<double>& v) {
  return *std::min_element(v.begin(), v.end());
}

void BM_Xnnpack(benchmark::State& state, const graph::Graph& (*model_graph)()) {
  const graph::Graph& g = model_graph();
  EngineOptions options;
  options.threads = static_cast<int>(state.range(0));
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto model = MakeXnnpackBackend()->Compile(g, options);
  const auto t1 = Clock::now();
  if (!model.ok()) {
    state.SkipWithError(model.status().ToString().c_str());
    return;
  }
  const size_t heap_before = HeapBytes();
  auto session = (*model)->CreateSession();
  const size_t heap_after = HeapBytes();
  const auto t2 = Clock::now();
  if (!session.ok()) {
    state.SkipWithError(session.status().ToString().c_str());
    return;
  }
  size_t in_size = 1;
  for (int64_t d : (*model)->input_shape()) in_size *= static_cast<size_t>(d);
  const std::vector<float> input = testing::RandomData(in_size, 7, 0.0f, 1.0f);
  std::vector<float> output((*model)->output_size());
  for (auto _ : state) {
    const Status s = (*session)->Run(input, output);
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(output.data());
  }
  state.counters["GFLOPS"] =
      benchmark::Counter(2e-9 * MultiplyAdds(g), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["arena_MB"] = GetXnnpackPlanStats(**model)->arena_bytes / 1e6;
  state.counters["session_MB"] = static_cast<double>(heap_after - heap_before) / 1e6;
  state.counters["compile_ms"] = std::chrono::duration<double, std::milli>(t1 - t0).count();
  state.counters["session_ms"] = std::chrono::duration<double, std::milli>(t2 - t1).count();
}

BENCHMARK_CAPTURE(BM_Xnnpack, squeezenet11_227, &SqueezeNet)
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->ComputeStatistics("min", MinOf);
BENCHMARK_CAPTURE(BM_Xnnpack, mobilenetv2_224, &MobileNet)
    ->Arg(1)
    ->Arg(2)
    ->ArgName("threads")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->ComputeStatistics("min", MinOf);

void PrintProfile(const char* name, const graph::Graph& g, int threads) {
  constexpr int kRuns = 50;
  EngineOptions options;
  options.threads = threads;
  auto model = MakeXnnpackBackend()->Compile(g, options);
  if (!model.ok()) return;
  auto session = (*model)->CreateSession();
  if (!session.ok()) return;
  size_t in_size = 1;
  for (int64_t d : (*model)->input_shape()) in_size *= static_cast<size_t>(d);
  const std::vector<float> input = testing::RandomData(in_size, 7, 0.0f, 1.0f);
  std::vector<float> output((*model)->output_size());
  for (int i = 0; i < 10; ++i) (void)(*session)->Run(input, output);  // warm up
  auto profile = ProfileXnnpackSession(**session, input, kRuns);
  if (!profile.ok()) {
    std::printf("%s: %s\n", name, profile.status().ToString().c_str());
    return;
  }
  double total = 0;
  std::map<std::string, std::pair<double, int>> by_op;
  for (const NodeProfile& p : *profile) {
    total += p.microseconds;
    by_op[p.op].first += p.microseconds;
    by_op[p.op].second += 1;
  }
  std::printf("\n%s, %d thread(s): %.3f ms per run summed over %zu steps\n", name, threads,
              total / 1000, profile->size());
  std::vector<std::pair<std::string, std::pair<double, int>>> ops(by_op.begin(), by_op.end());
  std::sort(ops.begin(), ops.end(),
            [](const auto& a, const auto& b) { return a.second.first > b.second.first; });
  for (const auto& [op, t] : ops) {
    std::printf("  %-26s %3d nodes %8.1f us %5.1f%%\n", op.c_str(), t.second, t.first,
                100 * t.first / total);
  }
  std::vector<NodeProfile> nodes = *profile;
  std::sort(nodes.begin(), nodes.end(),
            [](const auto& a, const auto& b) { return a.microseconds > b.microseconds; });
  std::printf("  slowest nodes:\n");
  for (size_t i = 0; i < std::min<size_t>(8, nodes.size()); ++i) {
    const graph::Node* node = nullptr;
    for (const graph::Node& n : g.nodes) {
      if (n.name == nodes[i].node) node = &n;
    }
    const graph::Shape& y = g.values[node->outputs[0]].shape;
    std::string shape;
    for (int64_t d : y) shape += (shape.empty() ? "" : "x") + std::to_string(d);
    std::printf("    %-22s %-16s -> %-14s %8.1f us\n", nodes[i].node.c_str(), nodes[i].op.c_str(),
                shape.c_str(), nodes[i].microseconds);
  }
}

}  // namespace
}  // namespace edgevision::engine

int main(int argc, char** argv) {
  bool profile = false;
  int kept = 0;
  for (int i = 0; i < argc; ++i) {
    if (std::strcmp(argv[i], "--profile") == 0) {
      profile = true;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (profile) {
    using edgevision::engine::PrintProfile;
    for (int threads : {1, 2}) {
      PrintProfile("squeezenet11_227", edgevision::engine::SqueezeNet(), threads);
      PrintProfile("mobilenetv2_224", edgevision::engine::MobileNet(), threads);
    }
  }
  return 0;
}
