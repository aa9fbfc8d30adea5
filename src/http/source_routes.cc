#include "http/source_routes.h"

#include <nlohmann/json.hpp>

#include "http/api_error.h"
#include "store/time_text.h"

namespace edgevision::http {

namespace {

using nlohmann::json;

json LastJson(const stream::LastResult& last) {
  json doc = {{"at", store::FormatTime(last.at)}, {"scene", last.scene}};
  if (last.detector) {
    json boxes = json::array();
    for (const detect::Detection& d : last.detections) {
      boxes.push_back({{"tagName", d.tag},
                       {"probability", d.probability},
                       {"boundingBox",
                        {{"left", d.box.left}, {"top", d.box.top}, {"width", d.box.width}, {"height", d.box.height}}}});
    }
    doc["detections"] = std::move(boxes);
  } else {
    json scores = json::array();
    for (const predict::TagScore& s : last.scores) scores.push_back({{"tagName", s.tag}, {"probability", s.probability}});
    doc["predictions"] = std::move(scores);
  }
  return doc;
}

}  // namespace

std::string SourcesJson(const std::vector<stream::SourceStats>& stats) {
  json list = json::array();
  for (const stream::SourceStats& s : stats) {
    list.push_back({
        {"name", s.name},
        {"url", s.url},
        {"state", stream::SourceStateName(s.state)},
        {"fpsIn", s.fps_in},
        {"fpsOut", s.fps_out},
        {"targetFps", s.target_fps},
        {"framesIn", s.frames_in},
        {"framesOut", s.frames_out},
        {"dropped", s.dropped.total()},
        {"droppedBy",
         {{"superseded", s.dropped.superseded}, {"modelBusy", s.dropped.model_busy}, {"noModel", s.dropped.no_model}}},
        {"badFrames", s.bad_frames.total()},
        {"badFramesBy", {{"source", s.bad_frames.source}, {"model", s.bad_frames.model}}},
        {"decoder", s.decoder ? json{{"name", s.decoder->name},
                                     {"hardware", s.decoder->hardware},
                                     {"fallback", s.decoder->fallback.empty() ? json(nullptr) : json(s.decoder->fallback)}}
                              : json(nullptr)},
        {"reconnects", s.reconnects},
        {"events", s.events},
        {"heartbeats", s.heartbeats},
        {"lastError", s.last_error.empty() ? json(nullptr) : json(s.last_error)},
        {"msPerFrame",
         {{"readCpu", s.read_cpu_ms}, {"decode", s.decode_ms}, {"preprocess", s.preprocess_ms},
          {"inference", s.inference_ms}}},
        {"last", s.last ? LastJson(*s.last) : json(nullptr)},
    });
  }
  return json{{"sources", std::move(list)}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

void AddSourceRoutes(Router* router, const stream::Sources* sources) {
  router->Add("GET", "/sources", [sources](const HttpRequest&) {
    HttpResponse res;
    res.body = SourcesJson(sources->Stats());
    return res;
  });
  router->Add("GET", "/sources/{name}/latest.jpg", [sources](const HttpRequest& req) {
    Result<stream::LatestImage> latest = sources->Latest(req.Param("name"));
    if (!latest.ok()) return ErrorResponse(ToApiError(latest.status(), ErrorPhase::kRequest));
    HttpResponse res;
    res.content_type = "image/jpeg";
    res.body.assign(latest->jpeg.begin(), latest->jpeg.end());
    res.headers.emplace_back("Cache-Control", "no-store");
    return res;
  });
}

metrics::Registry::Collector SourcesCollector(const stream::Sources* sources) {
  return [sources](metrics::TextWriter* w) {
    const std::vector<stream::SourceStats> stats = sources->Stats();
    auto family = [&](const char* name, const char* type, const char* help, auto value) {
      w->Family(name, type, help);
      for (const stream::SourceStats& s : stats) w->Sample(name, {{"source", s.name}}, value(s));
    };
    family("edgevision_source_up", "gauge", "1 while the source is open and reading, else 0.",
           [](const stream::SourceStats& s) { return s.state == stream::SourceState::kRunning ? 1.0 : 0.0; });
    family("edgevision_source_frames_read_total", "counter", "Frames read from the source.",
           [](const stream::SourceStats& s) { return static_cast<double>(s.frames_in); });
    family("edgevision_source_frames_classified_total", "counter", "Frames classified or detected.",
           [](const stream::SourceStats& s) { return static_cast<double>(s.frames_out); });
    w->Family("edgevision_source_frames_dropped_total", "counter",
              "Frames read but never classified, by reason: superseded (a newer frame came first: the sampling "
              "rate or a slower model), model_busy (every inference worker busy), no_model (none loaded).");
    for (const stream::SourceStats& s : stats) {
      const std::pair<const char*, uint64_t> reasons[] = {
          {"superseded", s.dropped.superseded}, {"model_busy", s.dropped.model_busy}, {"no_model", s.dropped.no_model}};
      for (const auto& [reason, n] : reasons) {
        w->Sample("edgevision_source_frames_dropped_total", {{"source", s.name}, {"reason", reason}},
                  static_cast<double>(n));
      }
    }
    w->Family("edgevision_source_bad_frames_total", "counter",
              "Frames that could not be used, by who refused them: the source (undecodable, over the limits) or "
              "the model's decoder.");
    for (const stream::SourceStats& s : stats) {
      w->Sample("edgevision_source_bad_frames_total", {{"source", s.name}, {"by", "source"}},
                static_cast<double>(s.bad_frames.source));
      w->Sample("edgevision_source_bad_frames_total", {{"source", s.name}, {"by", "model"}},
                static_cast<double>(s.bad_frames.model));
    }
    family("edgevision_source_hardware_decoding", "gauge", "1 while the source's frames go through a hardware decoder.",
           [](const stream::SourceStats& s) { return s.decoder && s.decoder->hardware ? 1.0 : 0.0; });
    family("edgevision_source_reconnects_total", "counter", "Times the source was reopened.",
           [](const stream::SourceStats& s) { return static_cast<double>(s.reconnects); });
    w->Family("edgevision_source_events_total", "counter", "Events published, by kind (change, heartbeat).");
    for (const stream::SourceStats& s : stats) {
      w->Sample("edgevision_source_events_total", {{"source", s.name}, {"kind", "change"}},
                static_cast<double>(s.events));
      w->Sample("edgevision_source_events_total", {{"source", s.name}, {"kind", "heartbeat"}},
                static_cast<double>(s.heartbeats));
    }
    w->Family("edgevision_source_fps", "gauge", "Frames per second over the last few seconds, read (in) and classified (out).");
    for (const stream::SourceStats& s : stats) {
      w->Sample("edgevision_source_fps", {{"source", s.name}, {"direction", "in"}}, s.fps_in);
      w->Sample("edgevision_source_fps", {{"source", s.name}, {"direction", "out"}}, s.fps_out);
    }
  };
}

}  // namespace edgevision::http
