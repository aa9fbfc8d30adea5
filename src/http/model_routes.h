// Model administration over HTTP.
//
//   POST /model/reload   load the model again from its path (a new iteration
//                        copied over the old one) and swap it in without a
//                        restart. 200 {"status":"reloaded","model":{...}};
//                        on failure 500 ErrorModelReload, and the previous
//                        model keeps serving. Access::kAdmin.
//
//   PUT /admin/model     {"url": ..., "sha256": ..., "version"?: ...}: deliver
//                        a model from the cloud (src/delivery). 202 with the
//                        delivery status; the download, checks and swap run
//                        in the background. 400 for a bad body; 409
//                        ErrorModelDelivery when delivery is off. Access::kAdmin.
//   GET /admin/model     the delivery status. Access::kAdmin.
//
// Plus the "reload" and "delivery" members of /health (ReloadHealthSection,
// DeliveryHealthSection).
//
// Thread-safety: handlers are safe from any number of threads (reloads are
// serialized by the ModelReloader).
#pragma once

#include <functional>
#include <nlohmann/json_fwd.hpp>

#include "http/router.h"
#include "delivery/model_delivery.h"
#include "predict/model_reloader.h"

namespace edgevision::http {

struct ModelApi {
  predict::ModelReloader* reloader = nullptr;  // required
  const predict::ModelSlot* slot = nullptr;    // required
  delivery::ModelDelivery* delivery = nullptr;  // null: model delivery is off
  std::string delivery_off_reason = "model delivery is off (start with --model-delivery and --data-dir)";
};

void AddModelRoutes(Router* router, const ModelApi& api);

// Fills doc["reload"]: watching, reloads, failures, lastError, lastReload.
std::function<void(nlohmann::json*)> ReloadHealthSection(const predict::ModelReloader* reloader);

// Fills doc["delivery"] (delivery::DeliveryStatusJson; null when delivery is off).
std::function<void(nlohmann::json*)> DeliveryHealthSection(const delivery::ModelDelivery* delivery);

}  // namespace edgevision::http
