// A throw-away self-signed certificate for TLS tests, made with OpenSSL at
// test time (nothing secret is committed).
#pragma once

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

namespace edgevision::testing {

// Writes cert.pem and key.pem (P-256, CN and subjectAltName 127.0.0.1 and
// localhost, valid for a day) into `dir`. Returns false on any failure.
inline bool MakeSelfSignedCert(const std::filesystem::path& dir, std::filesystem::path* cert,
                               std::filesystem::path* key) {
  struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  };
  struct X509Free {
    void operator()(X509* x) const { X509_free(x); }
  };
  struct ExtFree {
    void operator()(X509_EXTENSION* e) const { X509_EXTENSION_free(e); }
  };
  std::unique_ptr<EVP_PKEY, PkeyFree> pkey(EVP_EC_gen("P-256"));
  std::unique_ptr<X509, X509Free> x509(X509_new());
  if (!pkey || !x509) return false;
  X509_set_version(x509.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x509.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(x509.get()), -60);
  X509_gmtime_adj(X509_getm_notAfter(x509.get()), 24 * 3600);
  X509_set_pubkey(x509.get(), pkey.get());
  X509_NAME* name = X509_get_subject_name(x509.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("127.0.0.1"), -1, -1, 0);
  X509_set_issuer_name(x509.get(), name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x509.get(), x509.get(), nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, ExtFree> san(
      X509V3_EXT_conf_nid(nullptr, &ctx, NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"));
  if (!san || X509_add_ext(x509.get(), san.get(), -1) != 1) return false;
  if (X509_sign(x509.get(), pkey.get(), EVP_sha256()) <= 0) return false;
  *cert = dir / "cert.pem";
  *key = dir / "key.pem";
  FILE* f = std::fopen(cert->c_str(), "wb");
  if (!f) return false;
  bool ok = PEM_write_X509(f, x509.get()) == 1;
  std::fclose(f);
  f = std::fopen(key->c_str(), "wb");
  if (!f) return false;
  ok = ok && PEM_write_PrivateKey(f, pkey.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  std::fclose(f);
  return ok;
}

}  // namespace edgevision::testing
