// SHA-1 (OpenSSL EVP, core/digest.cc) as lowercase hex: the fingerprint of
// a model file, as a Custom Vision export's manifest (`ModelFileSHA1`) and
// `edgevision_model_info` name it. Not for security: checksums of anything
// downloaded are SHA-256 (core/sha256.h).
//
// Thread-safety: reentrant.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace edgevision {

// The lowercase hex SHA-1 of `data` ("" if OpenSSL fails, which it does not).
std::string Sha1Hex(std::span<const uint8_t> data);

}  // namespace edgevision
