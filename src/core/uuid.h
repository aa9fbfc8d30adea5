// Random (version 4) UUIDs for prediction and message ids.
#pragma once

#include <string>

namespace edgevision {

// "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx" from the OS's CSPRNG (OpenSSL).
// Thread-safe.
std::string NewUuid();

}  // namespace edgevision
