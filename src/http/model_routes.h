// Model administration over HTTP.
//
//   POST /model/reload   load the model again from its path (a new iteration
//                        copied over the old one) and swap it in without a
//                        restart. 200 {"status":"reloaded","model":{...}};
//                        on failure 500 ErrorModelReload, and the previous
//                        model keeps serving. Access::kAdmin.
//
// Plus the "reload" member of /health (see ReloadHealthSection).
//
// Thread-safety: handlers are safe from any number of threads (reloads are
// serialized by the ModelReloader).
#pragma once

#include <functional>
#include <nlohmann/json_fwd.hpp>

#include "http/router.h"
#include "predict/model_reloader.h"

namespace edgevision::http {

struct ModelApi {
  predict::ModelReloader* reloader = nullptr;  // required
  const predict::ModelSlot* slot = nullptr;    // required
};

void AddModelRoutes(Router* router, const ModelApi& api);

// Fills doc["reload"]: watching, reloads, failures, lastError, lastReload.
std::function<void(nlohmann::json*)> ReloadHealthSection(const predict::ModelReloader* reloader);

}  // namespace edgevision::http
