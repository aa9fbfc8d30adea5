// Base64 (RFC 4648, with padding), OpenSSL's EVP_EncodeBlock underneath.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace edgevision {

std::string Base64Encode(std::string_view bytes);
// Errors: InvalidArgument when `text` is not valid base64 (the message does
// not quote the text: it may be a key).
Result<std::string> Base64Decode(std::string_view text);

}  // namespace edgevision
