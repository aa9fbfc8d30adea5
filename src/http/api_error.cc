#include "http/api_error.h"

#include <nlohmann/json.hpp>

namespace edgevision::http {

ApiError ToApiError(const Status& status, ErrorPhase phase) {
  const std::string& m = status.message();
  const bool url = phase == ErrorPhase::kUrlFetch;
  const bool image = phase == ErrorPhase::kImage;
  switch (status.code()) {
    case StatusCode::kOk:
      return {500, "ErrorUnknown", "internal error: OK status reported as an error"};
    case StatusCode::kInvalidArgument:
    case StatusCode::kUnsupported:
      return {400, url ? "BadRequestImageUrl" : image ? "BadRequestImageFormat" : "BadRequest", m};
    case StatusCode::kResourceExhausted:
      if (url) return {400, "BadRequestImageSizeBytes", m};
      if (image) return {400, "BadRequestImageDimensions", m};
      return {413, "BadRequestImageSizeBytes", m};
    case StatusCode::kNotFound:
      return {404, "NotFound", m};
    case StatusCode::kPermissionDenied:
      return {401, "Unauthorized", m};
    case StatusCode::kUnavailable:
      return {503, "ErrorPredictionServiceUnavailable", m};
    case StatusCode::kDeadlineExceeded:
      if (url) return {400, "BadRequestImageUrl", m};
      return {504, "ErrorPrediction", m};
    case StatusCode::kCorrupt:
    case StatusCode::kIOError:
    case StatusCode::kInternal:
      return {500, "ErrorPrediction", m};
  }
  return {500, "ErrorUnknown", m};
}

HttpResponse ErrorResponse(const ApiError& error) {
  HttpResponse res;
  res.status = error.http_status;
  res.content_type = "application/json";
  // dump() with error_handler replace: messages may quote invalid UTF-8 input.
  res.body = nlohmann::json{{"code", error.code}, {"message", error.message}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (error.http_status == 503) res.headers.emplace_back("Retry-After", "1");
  return res;
}

HttpResponse ErrorResponse(int http_status, std::string code, std::string message) {
  return ErrorResponse(ApiError{http_status, std::move(code), std::move(message)});
}

}  // namespace edgevision::http
