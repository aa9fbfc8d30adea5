// The prediction API: the exported container's routes, the cloud Prediction
// API's routes, the health routes, and their handlers.
//
// Container routes (exact paths of app.py), POST:
//   /image   /{project}/image[/nostore]   /{project}/{classify|detect}/iterations/{name}/image[/nostore]
//   /url     /{project}/url[/nostore]     /{project}/{classify|detect}/iterations/{name}/url[/nostore]
// Cloud routes (any letter case), POST:
//   /customvision/{v3.0|v3.1}/prediction/{projectId}/{classify|detect}/iterations/{name}/{image|url}[/nostore]
// GET /  -> "CustomVision.ai model host harness" (the container's health text)
// GET /health, /health/ready (200 ready, 503 otherwise), /health/live (200)
//
// Image bodies: a multipart/form-data part named imageData, else the raw body
// (any content type). URL bodies: JSON {"url": "..."} ("Url" also accepted, as
// the exported readme spells it).
#pragma once

#include <chrono>
#include <functional>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "core/clock.h"
#include "http/router.h"
#include "http/url_fetcher.h"
#include "predict/model_slot.h"
#include "predict/prediction_sink.h"

namespace edgevision::http {

struct PredictionApi {
  const predict::ModelSlot* slot = nullptr;       // required
  const UrlFetcher* fetcher = nullptr;            // required for /url routes
  const Clock* clock = &SystemClock();
  // Told every prediction's outcome and every answered prediction, as the
  // live sources tell it theirs (predict/prediction_sink.h); null: no one.
  const predict::PredictionSink* sink = nullptr;
};

void AddPredictionRoutes(Router* router, const PredictionApi& api);

struct HealthApi {
  const predict::ModelSlot* slot = nullptr;
  const Clock* clock = &SystemClock();
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::string version;
  // Extra members of the /health document, each added by one function
  // (e.g. "upstream": see http/upstream_health.h). Called on request
  // threads; must be thread-safe and quick. They never change the status code.
  std::vector<std::function<void(nlohmann::json*)>> sections;
};

void AddHealthRoutes(Router* router, const HealthApi& api);

}  // namespace edgevision::http
