// The admission limits every graph meets, whichever file it came from.
//
// One home for the sizes a hostile model file could otherwise inflate: the
// importers (model/import_common.h) refuse files beyond them, shape inference
// and normalisation never produce anything beyond them, and the engines
// (engine/graph_check.h) re-check them before compiling. docs/security.md
// lists them in its limits table.
#pragma once

#include <cstddef>
#include <cstdint>

namespace edgevision::graph {

// Largest element count any tensor may have (256 Mi floats = 1 GiB).
// Anything larger is treated as a corrupt model rather than allocated.
inline constexpr int64_t kMaxTensorElements = int64_t{1} << 28;
// Largest rank any tensor may have.
inline constexpr size_t kMaxRank = 8;
// Largest kernel size, stride, dilation or padding on any spatial axis, in
// any op (Conv2D, pooling, Pad). No window is meaningfully larger than the
// largest image side.
inline constexpr int64_t kMaxWindow = 4096;
// Largest height or width of a model's input image, and most channels it may
// have (Custom Vision models take 224-512 pixels, 3 channels).
inline constexpr int64_t kMaxInputSide = 4096;
inline constexpr int64_t kMaxInputChannels = 4;

}  // namespace edgevision::graph
