// `edgevision bench`: the engine alone on a fixed input, batch 1, after warm-up;
// with --image, the whole in-process request path on one image file.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <random>
#include <vector>

#include <sys/resource.h>

#include "cli/commands.h"
#include "cli/load.h"
#include "engine/int8_backend.h"
#include "engine/reference_backend.h"
#include "engine/xnnpack_backend.h"
#include "graph/graph.h"
#include "model/model.h"
#include "predict/int8_mode.h"

namespace edgevision::cli {

namespace {

// --per-op: each node that does work at run time, its mean time and share of
// the sum, its multiply-adds and the GFLOP/s it reached (2 FLOPs per
// multiply-add); with --peak-gflops, its compute floor (the time at that
// peak) and how far above it the node ran. Nodes without multiply-adds
// (pooling, element-wise, copies) have no floor: they are bound by memory.
nlohmann::json PerOp(const graph::Graph& g, const std::vector<engine::NodeProfile>& profile, double peak_gflops) {
  std::map<std::string, const graph::Node*> by_name;
  for (const graph::Node& node : g.nodes) by_name[node.name] = &node;
  double total_us = 0;
  for (const engine::NodeProfile& p : profile) total_us += p.microseconds;
  nlohmann::json ops = nlohmann::json::array();
  for (const engine::NodeProfile& p : profile) {
    std::vector<std::string> names = p.absorbed;  // it did their work too
    names.push_back(p.node);
    uint64_t macs = 0;
    for (const std::string& name : names) {
      const auto it = by_name.find(name);
      if (it != by_name.end()) macs += graph::NodeMultiplyAdds(g, *it->second);
    }
    nlohmann::json op = {{"node", p.node},
                         {"op", p.op},
                         {"us", p.microseconds},
                         {"share", total_us > 0 ? p.microseconds / total_us : 0.0},
                         {"multiply_adds", macs}};
    if (macs > 0 && p.microseconds > 0) {
      op["gflops"] = 2.0 * static_cast<double>(macs) / (p.microseconds * 1e3);
      if (peak_gflops > 0) {
        const double floor_us = 2.0 * static_cast<double>(macs) / (peak_gflops * 1e3);
        op["floor_us"] = floor_us;
        op["over_floor"] = p.microseconds / floor_us;
      }
    }
    ops.push_back(std::move(op));
  }
  return {{"total_us", total_us}, {"peak_gflops", peak_gflops}, {"ops", ops}};
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * (v.size() - 1) + 0.5));
  return v[i];
}

// A detector's whole path on one image, `runs` times after `warmup`: the
// median of each stage (predict::DetectionTimings) and of their sum.
int RunDetectorBench(const BenchOptions& options, const predict::Classifier& detector,
                     const std::vector<uint8_t>& bytes) {
  std::vector<double> total, decode, resize, infer, post;
  predict::DetectionResult last;
  for (int i = 0; i < options.warmup + options.runs; ++i) {
    Result<predict::DetectionResult> r = detector.DetectImage(bytes);
    if (!r.ok()) {
      PrintError(r.status().WithContext(options.image));
      return 1;
    }
    if (i < options.warmup) continue;
    const predict::DetectionTimings& t = r->timings;
    decode.push_back(t.decode_ms);
    resize.push_back(t.resize_ms);
    infer.push_back(t.inference_ms);
    post.push_back(t.postprocess_ms);
    total.push_back(t.decode_ms + t.resize_ms + t.inference_ms + t.postprocess_ms);
    last = std::move(r).value();
  }
  nlohmann::json doc = {
      {"model", detector.info().model_file},
      {"image", options.image},
      {"image_size", {last.image_width, last.image_height}},
      {"input", {1, last.input_height, last.input_width, 3}},
      {"detections", last.detections.size()},
      {"threads", options.threads},
      {"runs", options.runs},
      {"warmup", options.warmup},
      {"median_ms", Percentile(total, 0.5)},
      {"p90_ms", Percentile(total, 0.9)},
      {"decode_ms", Percentile(decode, 0.5)},
      {"resize_ms", Percentile(resize, 0.5)},
      {"infer_ms", Percentile(infer, 0.5)},
      {"postprocess_ms", Percentile(post, 0.5)},
  };
  std::printf("%s\n", doc.dump().c_str());
  return 0;
}

// Minor + major page faults of this process so far.
long PageFaults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt + usage.ru_majflt;
}

nlohmann::json TimeSummary(std::vector<double> ms) {
  double sum = 0;
  for (double v : ms) sum += v;
  return {{"median_ms", Percentile(ms, 0.5)},
          {"p90_ms", Percentile(ms, 0.9)},
          {"min_ms", *std::min_element(ms.begin(), ms.end())},
          {"max_ms", *std::max_element(ms.begin(), ms.end())},
          {"mean_ms", sum / ms.size()}};
}

// --image: Classifier::ClassifyImage on one worker, the code a request runs
// between reading the body and writing the JSON.
// An object detector goes to RunDetectorBench.
int RunImageBench(const BenchOptions& options, const std::string& path) {
  predict::ClassifierOptions classifier_options;
  classifier_options.threads_per_inference = options.threads;
  if (Status s = ApplyPrecision(options.precision, options.data_dir, options.int8_fallback, &classifier_options); !s.ok()) {
    PrintError(s);
    return 2;
  }
  Result<std::unique_ptr<predict::Classifier>> classifier = LoadClassifier(path, classifier_options);
  if (!classifier.ok()) {
    PrintError(classifier.status());
    return 1;
  }
  Result<std::vector<uint8_t>> bytes = ReadFile(options.image);
  if (!bytes.ok()) {
    PrintError(bytes.status());
    return 1;
  }
  if ((*classifier)->detector()) return RunDetectorBench(options, **classifier, *bytes);
  for (int i = 0; i < options.warmup; ++i) {
    Result<predict::Classification> r = (*classifier)->ClassifyImage(*bytes);
    if (!r.ok()) {
      PrintError(r.status().WithContext(options.image));
      return 1;
    }
  }
  std::vector<double> ms, decode, preprocess, inference;
  int fallbacks = 0;  // int8 answers that float32 gave (predict/int8_fallback.h)
  const long faults_before = PageFaults();
  for (int i = 0; i < options.runs; ++i) {
    auto start = std::chrono::steady_clock::now();
    Result<predict::Classification> r = (*classifier)->ClassifyImage(*bytes);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    if (!r.ok()) {
      PrintError(r.status().WithContext(options.image));
      return 1;
    }
    decode.push_back(r->timings.decode_ms);
    preprocess.push_back(r->timings.preprocess_ms);
    inference.push_back(r->timings.inference_ms);
    if (r->int8_fallback) ++fallbacks;
  }
  const long faults = PageFaults() - faults_before;
  nlohmann::json doc = {{"model", (*classifier)->info().model_file},
                        {"image", options.image},
                        {"threads", options.threads},
                        {"precision", options.precision},
                        {"runs", options.runs},
                        {"warmup", options.warmup},
                        {"decode_median_ms", Percentile(decode, 0.5)},
                        {"preprocess_median_ms", Percentile(preprocess, 0.5)},
                        {"inference_median_ms", Percentile(inference, 0.5)},
                        {"page_faults_per_image", static_cast<double>(faults) / options.runs}};
  if ((*classifier)->int8_fallback_counts()) {
    doc["int8_fallbacks"] = fallbacks;  // of `runs`: their time includes float32's
  }
  doc.update(TimeSummary(ms));
  std::printf("%s\n", doc.dump().c_str());
  return 0;
}

}  // namespace

int RunBench(const BenchOptions& options) {
  const std::string path = options.model.empty() ? DefaultModelPath() : options.model;
  if (!options.image.empty()) return RunImageBench(options, path);
  Result<model::LoadedModel> loaded = model::LoadModel(path);
  if (!loaded.ok()) {
    PrintError(loaded.status());
    return 1;
  }
  const bool int8 = options.precision == "int8";
  if (int8 && options.backend != "xnnpack") {
    PrintError(InvalidArgument("--precision int8 runs on the xnnpack backend"));
    return 2;
  }
  std::shared_ptr<const engine::Backend> backend;
  nlohmann::json int8_report;
  engine::EngineOptions engine_options;
  engine_options.threads = options.threads;
  Result<std::unique_ptr<engine::CompiledModel>> compiled = Internal("not compiled");
  // int8's confidence fallback (predict/int8_fallback.h): timed as served.
  std::unique_ptr<engine::CompiledModel> fp32;
  predict::Int8FallbackBound fallback;
  if (int8) {
    Result<predict::Int8Setup> setup = predict::PrepareInt8(*loaded, {}, options.data_dir, engine_options,
                                                            options.int8_fallback == "on");
    if (!setup.ok()) {
      PrintError(setup.status());
      return 1;
    }
    int8_report = predict::Int8ReportJson(setup->report);
    int8_report.erase("nodes");
    backend = setup->backend;
    compiled = std::move(setup->compiled);
    fp32 = std::move(setup->fp32);
    fallback = setup->report.fallback;
  } else {
    backend = options.backend == "reference" ? engine::MakeReferenceBackend() : engine::MakeXnnpackBackend();
    compiled = backend->Compile(loaded->graph, engine_options);
  }
  if (!compiled.ok()) {
    PrintError(compiled.status());
    return 1;
  }
  Result<std::unique_ptr<engine::Session>> session = (*compiled)->CreateSession();
  if (!session.ok()) {
    PrintError(session.status());
    return 1;
  }
  std::unique_ptr<engine::Session> fp32_session;
  if (fp32) {
    Result<std::unique_ptr<engine::Session>> s = fp32->CreateSession();
    if (!s.ok()) {
      PrintError(s.status());
      return 1;
    }
    fp32_session = std::move(s).value();
  }
  // A fixed pseudo-random input in the model's value range (seeded: every run
  // and every build sees the same tensor).
  size_t n = 1;
  for (int64_t d : (*compiled)->input_shape()) n *= static_cast<size_t>(d);
  std::vector<float> input(n), output((*compiled)->output_size());
  std::mt19937 rng(1234);
  std::uniform_real_distribution<float> dist(0.0f, 255.0f * loaded->preprocess.scale);
  for (float& v : input) v = dist(rng);
  // One inference as served: int8, then float32 when int8's answer falls back.
  int fallbacks = 0;
  double int8_margin = 0;  // int8's top-two log-odds margin on this input
  const auto run = [&]() -> Status {
    EV_RETURN_IF_ERROR((*session)->Run(input, output));
    int8_margin = predict::TopTwoLogOddsMargin(output);
    if (fp32_session && predict::FallsBack(fallback, output)) {
      ++fallbacks;
      return fp32_session->Run(input, output);
    }
    return Status::Ok();
  };

  for (int i = 0; i < options.warmup; ++i) {
    Status s = run();
    if (!s.ok()) {
      PrintError(s);
      return 1;
    }
  }
  fallbacks = 0;  // count the timed runs only
  std::vector<double> ms;
  ms.reserve(options.runs);
  for (int i = 0; i < options.runs; ++i) {
    auto start = std::chrono::steady_clock::now();
    Status s = run();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    if (!s.ok()) {
      PrintError(s);
      return 1;
    }
  }
  nlohmann::json doc = {
      {"model", loaded->info.model_file},
      {"backend", std::string(backend->name())},
      {"precision", options.precision},
      {"threads", options.threads},
      {"runs", options.runs},
      {"warmup", options.warmup},
      {"input", (*compiled)->input_shape()},
      {"multiply_adds", graph::CountMultiplyAdds(loaded->graph)},
  };
  doc.update(TimeSummary(ms));
  if (int8) {
    const engine::Int8PlanStats* stats = engine::GetInt8PlanStats(**compiled);
    int8_report["nodes"] = {{"int8", stats->int8_nodes}, {"float32", stats->float_nodes},
                            {"conversions", stats->conversions}, {"vnni", stats->vnni_nodes},
                            {"float32_names", stats->float_node_names}};
    // Whether this input's int8 answer falls back: then every timed run
    // includes a float32 run, and the time is not int8's.
    int8_report["fallback"]["bench_input_margin"] = int8_margin;
    int8_report["fallback"]["inferences"] = options.runs;
    int8_report["fallback"]["fallbacks"] = fallbacks;
    int8_report["fallback"]["rate"] = options.runs > 0 ? static_cast<double>(fallbacks) / options.runs : 0.0;
    doc["int8"] = int8_report;
  }
  if ((options.profile || options.per_op) && options.backend != "reference") {
    const int profile_runs = std::max(1, options.runs / 4);
    Result<std::vector<engine::NodeProfile>> profile =
        int8 ? engine::ProfileInt8Session(**session, input, profile_runs)
             : engine::ProfileXnnpackSession(**session, input, profile_runs);
    if (!profile.ok()) {
      PrintError(profile.status());
      return 1;
    }
    if (options.profile) {
      nlohmann::json nodes = nlohmann::json::array();
      for (const engine::NodeProfile& p : *profile) nodes.push_back({{"node", p.node}, {"op", p.op}, {"us", p.microseconds}});
      doc["profile"] = nodes;
    }
    if (options.per_op) doc["per_op"] = PerOp(loaded->graph, *profile, options.peak_gflops);
  }
  std::printf("%s\n", doc.dump().c_str());
  return 0;
}

}  // namespace edgevision::cli
