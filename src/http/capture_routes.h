// The capture API and the review page: HTTP over the capture store.
//
//   GET    /captures?tag=&label=&min_p=&max_p=&reviewed=&from=&to=&limit=&after=&order=
//   GET    /captures/stats
//   GET    /captures/{id}
//   GET    /captures/{id}/image
//   PUT    /captures/{id}/label      {"label": "Apple"} or {"label": null}
//   PUT    /captures/{id}/regions    {"regions": [{"tagName", "left", "top", "width",
//                                    "height"}, ...]} or {"regions": null}
//   DELETE /captures/{id}
//   GET    /review  (+ /review/review.js, /review/review.css): the review page
//
// Ids are validated as UUIDs before anything else; images are read by the
// hash the database holds, never by a path built from the request. Errors use
// the one JSON error shape (api_error.h); a full disk answers 507
// "InsufficientStorage". docs/store.md documents every field.
//
// Thread-safety: handlers are safe from any number of threads (the store is).
#pragma once

#include <functional>
#include <nlohmann/json_fwd.hpp>

#include "http/router.h"
#include "predict/model_slot.h"
#include "store/capture_recorder.h"
#include "store/capture_store.h"

namespace edgevision::http {

struct CaptureApi {
  store::CaptureStore* store = nullptr;              // required
  const store::CaptureRecorder* recorder = nullptr;  // optional: capture policy and counters
  const predict::ModelSlot* slot = nullptr;  // optional: the model's tags for the review page
};

// Adds the /captures routes and the review page.
void AddCaptureRoutes(Router* router, const CaptureApi& api);

// The review page alone (static, embedded in the binary).
void AddReviewPageRoutes(Router* router);

// Fills doc["store"] for /health: enabled, policy, captures, bytes, quota,
// paused (and why), queue and dropped counters. With api.store == nullptr it
// reports {"enabled": false} (and `error` when the store failed to open).
void AddStoreHealth(const CaptureApi& api, const std::string& error, nlohmann::json* doc);

}  // namespace edgevision::http
