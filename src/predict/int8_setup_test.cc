// PrepareInt8's fallback model (predict/int8_mode.h): the float32 model the
// confidence fallback answers with, calibrated now or from the cache, at the
// calibration's options (one thread) and at others. A start that calibrates
// at the calibration's options keeps the calibration's float32 compilation
// for the fallback instead of compiling the model again.
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "engine/testing/test_graphs.h"
#include "engine/xnnpack_backend.h"
#include "model/model.h"
#include "predict/int8_mode.h"
#include "test_support.h"

namespace edgevision::predict {
namespace {

using testing::Export;
using testing::TempDir;

// XNNPACK, counting what it compiles: the float32 backend PrepareInt8 is
// given.
class CountingBackend final : public engine::Backend {
 public:
  std::string_view name() const override { return xnnpack_->name(); }
  Result<std::unique_ptr<engine::CompiledModel>> Compile(const graph::Graph& graph,
                                                         const engine::EngineOptions& options) const override {
    EV_ASSIGN_OR_RETURN(std::unique_ptr<engine::CompiledModel> model, xnnpack_->Compile(graph, options));
    compiled.push_back(model.get());
    return model;
  }
  // Every model compiled (kept or since destroyed: only compared).
  mutable std::vector<const engine::CompiledModel*> compiled;

 private:
  std::unique_ptr<engine::Backend> xnnpack_ = engine::MakeXnnpackBackend();
};

// One PrepareInt8 and the float32 compilations it made.
struct Prepared {
  Int8Setup setup;
  int fp32_compilations = 0;
  bool fp32_is_counted = false;  // setup.fp32 came from the counted backend
};

Result<Prepared> Prepare(const model::LoadedModel& m, const std::string& data_dir, int threads, bool fallback) {
  engine::EngineOptions options;
  options.threads = threads;
  CountingBackend float32;
  EV_ASSIGN_OR_RETURN(Int8Setup setup, PrepareInt8(m, {}, data_dir, options, fallback, &float32));
  const bool counted = std::find(float32.compiled.begin(), float32.compiled.end(), setup.fp32.get()) !=
                       float32.compiled.end();
  return Prepared{std::move(setup), static_cast<int>(float32.compiled.size()), counted};
}

// The fallback model answers as the model compiled for float32 with the
// serving options does, to the bit (same program, same input).
void ExpectAnswersAsFp32(const engine::CompiledModel& fallback, const graph::Graph& g, int threads) {
  const std::vector<float> input = engine::testing::RandomData(
      static_cast<size_t>(graph::ShapeProduct(g.values[g.inputs[0]].shape)), 3, -1.0f, 1.0f);
  auto expected = engine::testing::RunOnce(*engine::MakeXnnpackBackend(), g, input, threads);
  ASSERT_TRUE(expected.ok()) << expected.status().ToString();
  auto session = fallback.CreateSession();
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  std::vector<float> out(fallback.output_size());
  ASSERT_TRUE((*session)->Run(input, out).ok());
  EXPECT_EQ(out, *expected);
}

// docker22: one calibration photo, the cheapest export to calibrate.
TEST(Int8SetupTest, FallbackModelCompiledOnceWhicheverWayTheCalibrationCame) {
  Result<model::LoadedModel> m = model::LoadModel(Export("docker22-appleorange-tflite").string());
  ASSERT_TRUE(m.ok()) << m.status().message();
  struct Start {
    bool fallback;
    bool cached;  // the second start on its data directory
    int fp32_compilations;
  };
  for (int threads : {1, 2}) {
    TempDir with, without;  // data directories: with and without the fallback
    // The calibration compiles float32 once, on one thread: at one thread
    // the fallback keeps that compilation, at two it has its own. From the
    // cache only the fallback's is compiled.
    for (const Start& s : {Start{false, false, 1}, Start{true, false, threads == 1 ? 1 : 2}, Start{false, true, 0},
                           Start{true, true, 1}}) {
      SCOPED_TRACE("threads=" + std::to_string(threads) + " fallback=" + std::to_string(s.fallback) +
                   " cached=" + std::to_string(s.cached));
      Result<Prepared> p = Prepare(*m, (s.fallback ? with : without).str(), threads, s.fallback);
      ASSERT_TRUE(p.ok()) << p.status().message();
      EXPECT_EQ(p->setup.report.cache_reused, s.cached);
      EXPECT_EQ(p->setup.report.fallback.enabled, s.fallback);
      EXPECT_EQ(p->fp32_compilations, s.fp32_compilations);
      if (!s.fallback) {
        EXPECT_EQ(p->setup.fp32, nullptr);
        continue;
      }
      ASSERT_NE(p->setup.fp32, nullptr);
      EXPECT_TRUE(p->fp32_is_counted);  // no float32 compilation past the given backend
      ExpectAnswersAsFp32(*p->setup.fp32, m->graph, threads);
    }
  }
}

}  // namespace
}  // namespace edgevision::predict
