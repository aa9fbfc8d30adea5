// The inference backend interface: a normalised graph in, probabilities out.
//
// A Backend compiles a graph (graph/normalize.h output: NHWC, static shapes,
// only [exec] ops) into a CompiledModel, which holds the packed weights and is
// immutable and thread-safe. Each Session owns the activation buffers and
// per-run state; a Session is used by one thread at a time, and callers keep
// a pool of them (predict/classifier.h) instead of creating one per request.
//
// Backends: XNNPACK (the production engine, engine/xnnpack_backend.h) and a
// plain C++ reference (engine/reference_backend.h) used to test it and to
// fold constants. Tests inject faults with their own Backend.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "graph/graph.h"

namespace edgevision::engine {

struct EngineOptions {
  // Threads one Session may use for one inference (intra-op parallelism).
  // 1 = run on the caller's thread only.
  int threads = 1;
  // XNNPACK backend: run every convolution on XNNPACK's own operators, none
  // on the engine's kernels (Winograd, the GEMM kernels, fused poolings).
  // For tests and A/B runs: the default answers are the same up to rounding
  // (the GEMM kernels' exactly).
  bool xnnpack_only = false;
};

class Session {
 public:
  virtual ~Session() = default;
  // Runs the graph on one NHWC float32 input (batch 1) and writes the single
  // graph output. input.size() and output.size() must match the model's;
  // otherwise InvalidArgument. Backend failures return Internal.
  virtual Status Run(std::span<const float> input, std::span<float> output) = 0;
  // Where Run reads its input, when the Session has such a buffer (else
  // empty): a caller that writes the input there and passes this span to
  // Run saves Run a copy, and itself a buffer. Run overwrites it, so the
  // input is written again before every Run. Valid as long as the Session.
  virtual std::span<float> input_buffer() { return {}; }
};

class CompiledModel {
 public:
  virtual ~CompiledModel() = default;
  // Input shape [1, H, W, C] and the number of output floats.
  virtual const std::vector<int64_t>& input_shape() const = 0;
  virtual size_t output_size() const = 0;
  // Creates an execution context. Thread-safe.
  virtual Result<std::unique_ptr<Session>> CreateSession() const = 0;
  // Frees what only CreateSession needs (the unpacked weights that every
  // new Session packs again), once the caller has every Session it will
  // use: existing Sessions answer as before; CreateSession fails (Internal)
  // afterwards. Returns the bytes freed (0: nothing to free). Not
  // thread-safe against CreateSession.
  virtual size_t ReleaseSessionCreationData() { return 0; }
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string_view name() const = 0;
  // Errors: Unsupported naming the node and op the backend cannot run;
  // InvalidArgument for shapes it cannot handle.
  virtual Result<std::unique_ptr<CompiledModel>> Compile(const graph::Graph& graph,
                                                         const EngineOptions& options) const = 0;
};

}  // namespace edgevision::engine
