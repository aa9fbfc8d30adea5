// Upstream publishing, assembled: resolves the target from the command line
// and the IoT Edge environment, opens the outbox in the data directory and
// builds the publisher with its MQTT transport and credentials.
//
//   auto publisher = upstream::MakePublisher(options, getenv, hooks, version);
//   if (!publisher.ok()) -> usage/configuration error (exit 2)
//   if (*publisher) { (*publisher)->Start(); ... (*publisher)->Stop(); }
//
// Thread-safety: MakePublisher is called once at start-up.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"
#include "upstream/publisher.h"
#include "upstream/upstream_config.h"

namespace edgevision::upstream {

// Returns nullptr when publishing is off (no --upstream and no IoT Edge
// environment, or --upstream off). The outbox is <data_dir>/outbox.db; a
// database that is not a valid outbox is moved aside (outbox.db.corrupt-<time>)
// and a new one created, with an error in the log.
// Errors: InvalidArgument / Unsupported for configuration mistakes (a bad
// URL or connection string, --upstream without --data-dir, an unreadable
// password file), IOError / Unavailable when the outbox cannot be opened.
// Never fails because the broker is unreachable.
Result<std::unique_ptr<Publisher>> MakePublisher(const UpstreamOptions& options,
                                                 const GetEnv& getenv, PublisherHooks hooks,
                                                 const std::string& version);

}  // namespace edgevision::upstream
