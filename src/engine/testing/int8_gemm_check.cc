#include "engine/testing/int8_gemm_check.h"

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "engine/int8_gemm.h"
#include "engine/xnnpack_ops.h"

namespace edgevision::engine::testing {

Result<Q8GemmComparison> CompareQ8GemmWithXnnpack(const graph::Graph& g, size_t index,
                                                  int8_internal::Quant in,
                                                  int8_internal::Quant out, size_t y_stride,
                                                  int threads, uint32_t seed,
                                                  const std::vector<float>& means) {
  using int8_internal::Q8Kind;
  if (!int8_internal::Q8GemmAvailable()) return Unsupported("no AVX512-VNNI on this CPU");
  EV_RETURN_IF_ERROR(xnnpack_internal::InitializeXnnpack());
  const graph::Node& node = g.nodes[index];
  const Q8Kind kind = node.op == graph::Op::kConv2D ? Q8Kind::kConv : Q8Kind::kFullyConnected;
  const graph::Shape& xs = g.values[node.inputs[0]].shape;
  const graph::Shape& ys = g.values[node.outputs[0]].shape;
  const graph::Shape& ws = g.values[node.inputs[1]].shape;
  const auto n = static_cast<size_t>(ws[0]);
  const size_t taps = kind == Q8Kind::kConv ? static_cast<size_t>(ws[1] * ws[2]) : 1;
  const size_t k = static_cast<size_t>(graph::ShapeProduct(ws)) / n / taps;
  const size_t pixels = static_cast<size_t>(graph::ShapeProduct(ys)) / n;
  const size_t stride = y_stride ? y_stride : n;

  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(-128, 127);
  // XNNPACK reads up to XNN_EXTRA_BYTES past the input; the kernel 3.
  std::vector<int8_t> x(static_cast<size_t>(graph::ShapeProduct(xs)) + XNN_EXTRA_BYTES);
  for (int8_t& v : x) v = static_cast<int8_t>(byte(rng));
  const size_t bytes = (pixels - 1) * stride + n;
  std::vector<int8_t> expected(bytes, 0x5A), actual(bytes, 0x5A);

  const int8_internal::Q8Weights w = int8_internal::QuantizeWeights(g, node, kind, in, means);
  xnnpack_internal::ThreadPool pool;
  if (threads > 1) pool.reset(pthreadpool_create(static_cast<size_t>(threads)));
  xnnpack_internal::XnnOperator op;
  xnn_status status =
      int8_internal::CreateQ8Operator(g, node, kind, &in, out, &w, y_stride, &op);
  if (status == xnn_status_success) {
    status = int8_internal::SetupQ8Operator(g, node, kind, op.get(), x.data(), nullptr,
                                            expected.data(), pool.get());
  }
  if (status == xnn_status_success) status = xnn_run_operator(op.get(), pool.get());
  if (status != xnn_status_success) {
    return Internal("XNNPACK refused node '" + node.name + "': " +
                    std::string(xnnpack_internal::XnnStatusName(status)));
  }
  const int8_internal::Q8GemmWeights packed = int8_internal::PackQ8Gemm(w, n, taps, k, in, out);
  const int8_internal::Q8ConvArgs args =
      int8_internal::Q8GemmArgs(g, node, out, &packed, x.data(), actual.data(), y_stride);
  int8_internal::RunQ8Gemm(args, pool.get());

  Q8GemmComparison c;
  c.bytes = bytes;
  for (size_t i = 0; i < bytes; ++i) {
    c.different += expected[i] != actual[i];
    const bool output = i % stride < n;
    c.saturated += output && (expected[i] == args.out_min || expected[i] == args.out_max);
  }
  return c;
}

}  // namespace edgevision::engine::testing
