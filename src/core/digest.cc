// The digests of core/sha1.h and core/sha256.h: OpenSSL EVP, lowercase hex.
#include <openssl/evp.h>

#include "core/sha1.h"
#include "core/sha256.h"

namespace edgevision {

namespace {

std::string Hex(const unsigned char* digest, unsigned len) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

std::string DigestHex(const EVP_MD* md, std::span<const uint8_t> data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &len, md, nullptr) != 1) return "";
  return Hex(digest, len);
}

}  // namespace

std::string Sha1Hex(std::span<const uint8_t> data) { return DigestHex(EVP_sha1(), data); }

std::string Sha256Hex(std::span<const uint8_t> data) { return DigestHex(EVP_sha256(), data); }

struct Sha256Hasher::Context {
  struct Deleter {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Deleter> md{EVP_MD_CTX_new()};
};

Sha256Hasher::Sha256Hasher() : ctx_(std::make_unique<Context>()) {
  if (ctx_->md) EVP_DigestInit_ex(ctx_->md.get(), EVP_sha256(), nullptr);
}

Sha256Hasher::~Sha256Hasher() = default;

void Sha256Hasher::Update(std::span<const uint8_t> data) {
  if (ctx_->md) EVP_DigestUpdate(ctx_->md.get(), data.data(), data.size());
}

std::string Sha256Hasher::HexDigest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (!ctx_->md || EVP_DigestFinal_ex(ctx_->md.get(), digest, &len) != 1) return "";
  return Hex(digest, len);
}

}  // namespace edgevision
