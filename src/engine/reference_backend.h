// The reference backend: runs a graph with the plain loops of
// engine/reference_kernels.h, one freshly owned buffer per value.
//
// It is the oracle the XNNPACK backend is tested against. Compile() applies
// the same admission checks as every backend (engine/graph_check.h); the
// compiled model shares one immutable copy of the graph with its sessions.
// Thread-safety: as engine/backend.h (CompiledModel thread-safe, a Session
// used by one thread at a time).
#pragma once

#include <memory>

#include "engine/backend.h"

namespace edgevision::engine {

std::unique_ptr<Backend> MakeReferenceBackend();

}  // namespace edgevision::engine
