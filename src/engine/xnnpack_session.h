// Internal to the XNNPACK backend: one Session of a compiled Program. It
// owns its activation arena and thread pool; its actions (XNNPACK operators,
// our kernels' calls, reference kernels) are created and bound to the arena
// once, so Run() only copies the input in, runs them in order and copies the
// output out.
//
// Thread-safety: as engine/backend.h (one Run at a time per Session).
#pragma once

#include <memory>

#include "core/status.h"
#include "engine/backend.h"
#include "engine/xnnpack_program.h"
#include "engine/xnnpack_weights.h"

namespace edgevision::engine::xnnpack_internal {

// A Session of `program` on `threads` threads (1: the caller's thread), its
// operators' packed weights shared through `weights`. The arena is not
// zeroed: its pages are mapped when the Session first runs.
// Errors: ResourceExhausted when the thread pool, the arena or an operator
// cannot be allocated; Internal when XNNPACK rejects an operator the planner
// accepted.
Result<std::unique_ptr<Session>> CreateXnnpackSession(std::shared_ptr<const Program> program,
                                                      std::shared_ptr<WeightRegistry> weights,
                                                      int threads);

}  // namespace edgevision::engine::xnnpack_internal
