// NumPy .npy files holding a float32 HxWxC Tensor (format version 1.0 on
// write; 1.0, 2.0 and 3.0 on read). Used by `edgevision tensor` to write the
// exact model input and by the parity tests to read golden tensors.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include "core/status.h"
#include "image/image.h"

namespace edgevision::image {

// The .npy bytes for `tensor`: dtype '<f4', C order, shape (H, W, C).
std::string EncodeNpy(const Tensor& tensor);

// Parses .npy bytes. Accepts dtype '<f4' in C order with shape (H, W, C) or
// (1, H, W, C). Errors: InvalidArgument naming what is wrong (magic, header,
// dtype, order, shape, size).
Result<Tensor> DecodeNpy(std::span<const uint8_t> bytes);

// File wrappers. Errors: IOError for the file system, else as above.
Status WriteNpy(const std::filesystem::path& path, const Tensor& tensor);
Result<Tensor> ReadNpy(const std::filesystem::path& path);

}  // namespace edgevision::image
