// Every JSON document upstream publishing reads or writes, in one place (the
// wire boundary): the published message, the module twin's desired and
// reported properties, and the IoT Edge workload API's bodies. The formats
// are documented in docs/upstream.md.
//
// Errors: InvalidArgument naming the field and the reason. Parsing never
// throws and accepts any bytes (the twin and workload API are remote input).
//
// Thread-safety: free functions.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"
#include "upstream/message.h"

namespace edgevision::upstream {

// The message body (UTF-8 JSON, one line).
std::string EncodeMessage(const PredictionMessage& message);
// The inverse of EncodeMessage (used to build topics from stored messages,
// and by tests and consumers written in C++).
Result<PredictionMessage> DecodeMessage(std::string_view body);

// The "desired" object of a full twin document {"desired":{…},"reported":{…}}.
Result<std::string> DesiredFromTwin(std::string_view twin_document);
// Applies a desired-properties patch to a desired document as IoT Hub does
// (JSON merge patch, RFC 7386: null removes a member). Returns the new document.
Result<std::string> MergeDesiredPatch(std::string_view desired_document, std::string_view patch);
// Reads the properties edgevision understands. Unknown members are ignored;
// members of the wrong type or range are ignored and listed in `errors`.
Result<DesiredProperties> ParseDesired(std::string_view desired_document);

// The reported-properties patch body.
std::string EncodeReported(const ReportedProperties& reported);

// IoT Edge workload API, 2019-01-30: the sign request body for base64 data,
// and the digest (base64) from a sign response.
std::string EncodeSignRequest(std::string_view data_base64);
Result<std::string> DecodeSignResponse(std::string_view body);
// The PEM certificates from a trust-bundle response {"certificate":"…"}.
Result<std::string> DecodeTrustBundleResponse(std::string_view body);
// The "message" of a workload API error body, or "" if there is none.
std::string DecodeWorkloadError(std::string_view body);

}  // namespace edgevision::upstream
