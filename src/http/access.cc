#include "http/access.h"

#include <cctype>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <fstream>
#include <sstream>

namespace edgevision::http {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<std::vector<std::string>> ParseKeys(std::string_view text, const std::string& source) {
  std::vector<std::string> keys;
  int line_no = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = Trim(text.substr(start, end - start));
    start = end + 1;
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    size_t item_start = 0;
    int item_no = 0;
    while (item_start <= line.size()) {
      size_t comma = line.find(',', item_start);
      if (comma == std::string_view::npos) comma = line.size();
      std::string_view key = Trim(line.substr(item_start, comma - item_start));
      item_start = comma + 1;
      ++item_no;
      if (key.empty()) continue;
      // The message names where the key is, never what it is.
      const std::string where = source + " line " + std::to_string(line_no) + " key " + std::to_string(item_no);
      if (key.size() < kMinKeyLength) {
        return InvalidArgument(where + ": keys must be at least " + std::to_string(kMinKeyLength) + " characters");
      }
      if (key.size() > kMaxKeyLength) {
        return InvalidArgument(where + ": keys must be at most " + std::to_string(kMaxKeyLength) + " characters");
      }
      for (unsigned char c : key) {
        if (c <= 0x20 || c == 0x7f) return InvalidArgument(where + ": keys must not hold spaces or control characters");
      }
      keys.emplace_back(key);
    }
  }
  return keys;
}

Result<std::vector<std::string>> ReadKeyFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return IOError("cannot read the key file '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) return IOError("cannot read the key file '" + path + "'");
  EV_ASSIGN_OR_RETURN(std::vector<std::string> keys, ParseKeys(text.str(), "key file '" + path + "'"));
  if (keys.empty()) return InvalidArgument("the key file '" + path + "' holds no key");
  return keys;
}

AccessControl::AccessControl(const AccessKeys& keys) {
  for (const std::string& k : keys.prediction) prediction_.push_back(Hash(k));
  for (const std::string& k : keys.admin) admin_.push_back(Hash(k));
  for (const std::string& k : keys.health) health_.push_back(Hash(k));
}

AccessControl::Digest AccessControl::Hash(std::string_view key) {
  Digest d;
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), d.data());
  return d;
}

bool AccessControl::Matches(const std::vector<Digest>& keys, const Digest& presented) {
  // Every digest is compared (no early exit); CRYPTO_memcmp is constant time.
  int found = 0;
  for (const Digest& k : keys) found |= CRYPTO_memcmp(k.data(), presented.data(), k.size()) == 0;
  return found != 0;
}

bool AccessControl::Required(Access access) const {
  switch (access) {
    case Access::kOpen: return false;
    case Access::kHealth: return !health_.empty();
    case Access::kPredict: return !prediction_.empty();
    case Access::kAdmin: return !admin_.empty() || !prediction_.empty();
  }
  return true;
}

bool AccessControl::Allows(Access access, std::string_view presented) const {
  if (!Required(access)) return true;
  if (presented.empty() || presented.size() > kMaxKeyLength) return false;
  const Digest d = Hash(presented);
  // Each set is checked whether or not an earlier one matched.
  const bool prediction = Matches(prediction_, d);
  const bool admin = Matches(admin_, d);
  const bool health = Matches(health_, d);
  switch (access) {
    case Access::kOpen: return true;
    case Access::kHealth: return health || admin || prediction;
    case Access::kPredict: return prediction || admin;
    case Access::kAdmin: return admin_.empty() ? prediction : admin;
  }
  return false;
}

std::string PresentedKey(std::string_view prediction_key, std::string_view authorization) {
  if (!prediction_key.empty()) return std::string(prediction_key);
  constexpr std::string_view kBearer = "bearer ";
  if (authorization.size() <= kBearer.size()) return "";
  for (size_t i = 0; i < kBearer.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(authorization[i])) != kBearer[i]) return "";
  }
  return std::string(Trim(authorization.substr(kBearer.size())));
}

}  // namespace edgevision::http
