#include "cli/delivery_twin.h"

namespace edgevision::cli {

void ConnectDeliveryToTwin(delivery::ModelDelivery* delivery, upstream::Publisher* twin) {
  delivery->SetListener([twin] { twin->ReportSoon(); });
  twin->SetModelHandler([delivery](const upstream::DesiredModel& m) {
    return delivery->Request(delivery::DeliveryRequest{m.url, m.sha256, m.version});
  });
  twin->SetDeliveryReporter(
      [delivery]() -> std::optional<upstream::ReportedDelivery> { return delivery->status(); });
}

}  // namespace edgevision::cli
