// The one error shape every route answers with, and the one place a Status
// becomes an HTTP status and a cloud error code.
//
// Body: {"code": "<CustomVisionError code>", "message": "<human text>"} as the
// cloud Prediction API's CustomVisionError (v3.0/v3.1 spec).
#pragma once

#include <string>

#include "core/status.h"
#include "http/http_types.h"

namespace edgevision::http {

struct ApiError {
  int http_status = 500;
  std::string code;  // e.g. "BadRequestImageFormat"
  std::string message;
};

// What the request was doing when it failed; picks the cloud error code.
enum class ErrorPhase {
  kImage,     // decoding / classifying an uploaded image
  kUrlFetch,  // fetching the image named by {"url": ...}
  kRequest,   // anything else (routing, request shape, auth)
};

// Status -> (HTTP status, cloud code):
//   InvalidArgument   400  BadRequestImageFormat | BadRequestImageUrl | BadRequest
//   ResourceExhausted 400  BadRequestImageDimensions | BadRequestImageSizeBytes (url) | 413 (request)
//   NotFound          404  NotFound
//   Unsupported       400  BadRequestImageFormat | BadRequestImageUrl | BadRequest
//   PermissionDenied  401  Unauthorized
//   Unavailable       503  ErrorPredictionServiceUnavailable
//   DeadlineExceeded  400 (url) | 504 (otherwise)  BadRequestImageUrl | ErrorPrediction
//   Corrupt, IOError, Internal  500  ErrorPrediction
// Any URL-fetch failure is the client's URL and answers 400 BadRequestImageUrl.
ApiError ToApiError(const Status& status, ErrorPhase phase);

HttpResponse ErrorResponse(const ApiError& error);
HttpResponse ErrorResponse(int http_status, std::string code, std::string message);

}  // namespace edgevision::http
