// Internal to the XNNPACK backend: which constants of a Program's graph its
// Sessions read, and which nodes' weights are packed once into
// Program::extra_weights instead (BuildProgram keeps only the former in the
// Program's graph; ReleaseSessionCreationData drops what creating Sessions
// alone needed).
//
// Thread-safety: pure functions.
#pragma once

#include <vector>

#include "engine/xnnpack_program.h"
#include "graph/graph.h"

namespace edgevision::engine::xnnpack_internal {

// kWinograd: the transformed kernel U of `node` (kWinogradPoints x O x I),
// which its XNNPACK operator packs. Made where an operator is created and
// dropped right after, so that U never stays beside its packed copy.
std::vector<float> WinogradKernel(const graph::Graph& graph, const graph::Node& node);

// Which values of `graph` (by id) Sessions read as constants, given how each
// node executes: at run time (reference kernels' operands, a kWinograd
// node's bias, the graph outputs), and with `creating` also while a Session
// is created (the weights XNNPACK operators pack, a kWinograd node's
// kernel). Never the weights of the nodes `packed` marks
// (PackedWeightNodes): BuildProgram packs them into extra_weights.
std::vector<bool> ConstantsSessionsRead(const graph::Graph& graph, const std::vector<Exec>& exec,
                                        const std::vector<bool>& packed, bool creating);

// Per node: whether its weights are packed into Program::extra_weights and
// read from there at run time: our kernels (kPointwiseGemm, kConvGemm,
// kDepthwise, a kWinograd with gemm_products), a kBlock with its depthwise
// and projection members, and a depthwise layer paired with a channel-split
// expansion (ChannelParts::depthwise). Reads p.exec, p.blocks, p.winograd and
// p.channel_parts (the vectors may be empty: nothing fused).
std::vector<bool> PackedWeightNodes(const Program& p);

}  // namespace edgevision::engine::xnnpack_internal
