#include "http/upstream_health.h"

#include <nlohmann/json.hpp>

#include "core/clock.h"

namespace edgevision::http {

namespace {

using nlohmann::json;

json Time(const std::optional<std::chrono::system_clock::time_point>& t) {
  return t ? json(FormatIsoMillisZ(*t)) : json(nullptr);
}

}  // namespace

void AddUpstreamJson(const upstream::UpstreamStatus& s, nlohmann::json* doc) {
  const upstream::OutboxStats& o = s.outbox;
  json outbox = {{"depth", o.depth},
                 {"bytes", o.bytes},
                 {"oldest", Time(o.oldest)},
                 {"lastSeq", o.last_seq},
                 {"stream", o.stream},
                 {"writeFailures", o.write_failures},
                 {"dropped",
                  {{"total", o.DroppedTotal()},
                   {"full", o.dropped_full},
                   {"expired", o.dropped_expired},
                   {"tooLarge", o.dropped_too_large},
                   {"corrupt", o.dropped_corrupt}}}};
  json rule = {{"enabled", s.rule.enabled},
               {"minProbability", s.rule.min_probability},
               {"maxProbability", s.rule.max_probability},
               {"tags", s.rule.tags}};
  (*doc)["upstream"] = {{"kind", s.kind},
                        {"target", s.target},
                        {"state", s.state},
                        {"connected", s.connected},
                        {"connectedSince", Time(s.connected_since)},
                        {"outbox", std::move(outbox)},
                        {"inFlight", s.in_flight},
                        {"published", s.published},
                        {"filtered", s.filtered},
                        {"enqueueFailures", s.enqueue_failures},
                        {"connectionFailures", s.connection_failures},
                        {"lastPublish", Time(s.last_publish)},
                        {"lastError", s.last_error.empty() ? json(nullptr) : json(s.last_error)},
                        {"lastErrorAt", Time(s.last_error_at)},
                        {"nextAttempt", Time(s.next_attempt)},
                        {"tokenExpires", Time(s.token_expires)},
                        {"twinVersion", s.twin_version ? json(*s.twin_version) : json(nullptr)},
                        {"rule", std::move(rule)}};
}

std::function<void(nlohmann::json*)> UpstreamHealthSection(
    std::function<upstream::UpstreamStatus()> get_status) {
  return [get_status = std::move(get_status)](nlohmann::json* doc) {
    AddUpstreamJson(get_status(), doc);
  };
}

}  // namespace edgevision::http
