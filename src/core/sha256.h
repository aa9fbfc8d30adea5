// SHA-256 (OpenSSL EVP, core/digest.cc) as lowercase hex: content
// addresses of captured images, checksums of delivered models.
//
// Thread-safety: Sha256Hex is reentrant; a Sha256Hasher is used by one thread.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

namespace edgevision {

// The lowercase hex SHA-256 of `data` ("" if OpenSSL fails, which it does not).
std::string Sha256Hex(std::span<const uint8_t> data);

// An incremental SHA-256, for data read in pieces.
class Sha256Hasher {
 public:
  Sha256Hasher();
  ~Sha256Hasher();
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;

  void Update(std::span<const uint8_t> data);
  // The lowercase hex digest of everything given; call once.
  std::string HexDigest();

 private:
  struct Context;
  std::unique_ptr<Context> ctx_;
};

}  // namespace edgevision
