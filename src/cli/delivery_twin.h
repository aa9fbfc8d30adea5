// The module twin and model delivery, wired together (docs/model-delivery.md):
// the twin's desired "model" becomes a delivery request, and every delivery
// state change is reported as "modelDelivery", the same document GET
// /admin/model answers (retries, maxRetries and nextRetry included).
//
// Thread-safety: call once while neither runs yet; both must outlive the
// publisher's thread.
#pragma once

#include "delivery/model_delivery.h"
#include "upstream/publisher.h"

namespace edgevision::cli {

void ConnectDeliveryToTwin(delivery::ModelDelivery* delivery, upstream::Publisher* twin);

}  // namespace edgevision::cli
