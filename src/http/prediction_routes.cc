#include "http/prediction_routes.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cctype>
#include <span>

#include "core/uuid.h"
#include "http/api_error.h"
#include "http/framing.h"
#include "http/prediction_json.h"
#include "http/request_parsing.h"
#include "predict/int8_mode.h"

namespace edgevision::http {

namespace {

using nlohmann::json;

// How a matched route wants its request read and its response written.
struct RouteKind {
  bool url = false;      // {"url": ...} body instead of image bytes
  bool nostore = false;  // never store the image
  ResponseStyle style = ResponseStyle::kContainer;
  std::string name;      // e.g. "POST /{project}/image/nostore", for records and logs
};

class PredictionHandler {
 public:
  PredictionHandler(PredictionApi api, RouteKind kind) : api_(std::move(api)), kind_(std::move(kind)) {}

  HttpResponse operator()(const HttpRequest& req) const {
    const auto received = std::chrono::steady_clock::now();
    if (Status s = CheckRouteParams(req); !s.ok()) return ErrorResponse(ToApiError(s, ErrorPhase::kRequest));
    std::shared_ptr<const predict::Classifier> classifier = api_.slot->Get();
    if (!classifier) {
      const bool failed = api_.slot->state() == predict::ModelSlot::State::kFailed;
      return ErrorResponse(503, failed ? "ErrorPredictionModelNotFound" : "ErrorPredictionServiceUnavailable",
                           failed ? "no model is loaded: " + api_.slot->error().message()
                                  : "the model is still loading");
    }

    // A classify route on a detector, or a detect route on a classifier: 400
    // before any work. /image and /url serve whichever the model is.
    const bool detector = classifier->detector() != nullptr;
    std::string task = req.Param("task");
    for (char& ch : task) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (!task.empty() && (task == "detect") != detector) {
      return ErrorResponse(ToApiError(predict::WrongModelKind(detector), ErrorPhase::kRequest));
    }

    std::vector<uint8_t> fetched;
    std::span<const uint8_t> image;
    if (kind_.url) {
      Result<std::string> url = ImageUrl(req.body);
      if (!url.ok()) return ErrorResponse(ToApiError(url.status(), ErrorPhase::kUrlFetch));
      if (!api_.fetcher) return ErrorResponse(400, "BadRequestImageUrl", "URL fetching is disabled");
      Result<std::vector<uint8_t>> body = api_.fetcher->Fetch(*url);
      if (!body.ok()) return ErrorResponse(ToApiError(body.status(), ErrorPhase::kUrlFetch));
      fetched = std::move(body).value();
      if (fetched.empty()) return ErrorResponse(400, "BadRequestImageUrl", "the URL returned an empty body");
      image = fetched;
    } else {
      Result<std::span<const uint8_t>> bytes = ImageBytes(req);
      if (!bytes.ok()) return ErrorResponse(ToApiError(bytes.status(), ErrorPhase::kImage));
      image = *bytes;
    }

    if (detector) return Detect(req, received, *classifier, image);
    Result<predict::Classification> result = classifier->ClassifyImage(image);
    if (api_.sink) api_.sink->Outcome(*classifier, result.status());
    if (!result.ok()) return Failed(req, result.status());

    PredictionEnvelope envelope = Envelope(req, *classifier);
    HttpResponse res;
    res.body = PredictionJson(*result, envelope);
    NotifyObservers(envelope, received, image, &*result, nullptr, classifier->info());
    const predict::Timings& t = result->timings;
    spdlog::debug("{} {} -> {} {:.4f} (decode {:.2f} ms, preprocess {:.2f} ms, queue {:.2f} ms, infer {:.2f} ms)",
                  req.method, framing::LogSafe(req.path), result->scores.empty() ? "" : result->scores[0].tag,
                  result->scores.empty() ? 0.0f : result->scores[0].probability, t.decode_ms, t.preprocess_ms,
                  t.queue_ms, t.inference_ms);
    return res;
  }

 private:
  static HttpResponse Failed(const HttpRequest& req, const Status& status) {
    ApiError e = ToApiError(status, ErrorPhase::kImage);
    spdlog::debug("{} {}: {} {}", req.method, framing::LogSafe(req.path), e.http_status, framing::LogSafe(e.message));
    return ErrorResponse(e);
  }

  HttpResponse Detect(const HttpRequest& req, std::chrono::steady_clock::time_point received,
                      const predict::Classifier& model, std::span<const uint8_t> image) const {
    Result<predict::DetectionResult> result = model.DetectImage(image);
    if (api_.sink) api_.sink->Outcome(model, result.status());
    if (!result.ok()) return Failed(req, result.status());
    PredictionEnvelope envelope = Envelope(req, model);
    HttpResponse res;
    res.body = DetectionJson(result->detections, envelope);
    NotifyObservers(envelope, received, image, nullptr, &*result, model.info());
    const predict::DetectionTimings& t = result->timings;
    spdlog::debug("{} {} -> {} detections at {}x{} (queue {:.2f} ms, decode {:.2f} ms, resize {:.2f} ms, "
                  "infer {:.2f} ms, decode+NMS {:.2f} ms)",
                  req.method, framing::LogSafe(req.path), result->detections.size(), result->input_width,
                  result->input_height, t.queue_ms, t.decode_ms, t.resize_ms, t.inference_ms, t.postprocess_ms);
    return res;
  }

  PredictionEnvelope Envelope(const HttpRequest& req, const predict::Classifier& classifier) const {
    PredictionEnvelope envelope;
    envelope.id = NewUuid();
    envelope.project = req.Param("project");
    envelope.iteration = req.Param("publishedName");
    if (envelope.iteration.empty()) envelope.iteration = classifier.info().iteration_id;
    envelope.created = api_.clock->Now();
    envelope.style = kind_.style;
    envelope.rule = classifier.info().answer_rule;
    envelope.label_order = classifier.info().label_order;
    return envelope;
  }

  // Exactly one of `result` (a classifier's) and `detected` (a detector's) is set.
  void NotifyObservers(const PredictionEnvelope& envelope, std::chrono::steady_clock::time_point received,
                       std::span<const uint8_t> image, const predict::Classification* result,
                       const predict::DetectionResult* detected, const model::ModelInfo& info) const {
    if (!api_.sink || !api_.sink->has_observers()) return;
    predict::PredictionRecord record;
    record.id = envelope.id;
    record.created = envelope.created;
    record.received = received;
    record.route = kind_.name;
    record.project = envelope.project;
    record.iteration = envelope.iteration;
    record.nostore = kind_.nostore;
    record.image = image;
    record.result = result;
    if (detected != nullptr) {
      record.detections = &detected->detections;
      record.seen_width = detected->seen_width;
      record.seen_height = detected->seen_height;
    }
    record.model = &info;
    api_.sink->Notify(record);
  }

  PredictionApi api_;
  RouteKind kind_;
};

void Add(Router* router, const PredictionApi& api, const std::string& pattern, bool url, bool nostore,
         ResponseStyle style, bool ignore_case) {
  RouteKind kind{url, nostore, style, "POST " + pattern};
  router->Add("POST", pattern, PredictionHandler(api, kind), ignore_case, Access::kPredict);
}

const char* StateName(predict::ModelSlot::State s) {
  switch (s) {
    case predict::ModelSlot::State::kLoading: return "loading";
    case predict::ModelSlot::State::kReady: return "ready";
    case predict::ModelSlot::State::kFailed: return "failed";
  }
  return "unknown";
}

// A detector's family, post-processing and its compiled input sizes.
json DetectorJson(const predict::Detector& d) {
  const predict::PlanCacheStats plans = d.plan_stats();
  json shapes = json::array();
  for (const auto& [h, w] : plans.shapes) shapes.push_back({{"height", h}, {"width", w}});
  const detect::YoloParams& p = d.params();
  json doc = {
      {"family", detect::FamilyName(d.spec().family)},
      {"family_evidence", d.spec().family_evidence},
      {"plans", {{"capacity", plans.capacity}, {"cached", plans.shapes.size()}, {"hits", plans.hits},
                 {"misses", plans.misses}, {"evictions", plans.evictions}, {"failures", plans.failures},
                 {"shapes", shapes}}},
  };
  if (d.is_ssd()) {
    // S1: the model's own NMS decides; every row it outputs is answered.
    doc["nms"] = "in the model (NonMaxSuppression); no threshold or cap after it, as the S1 containers";
  } else {
    doc["probability_threshold"] = p.probability_threshold;
    doc["iou_threshold"] = p.iou_threshold;
    doc["max_detections"] = p.max_detections;
  }
  return doc;
}

json ModelJson(const predict::Classifier& c) {
  const model::ModelInfo& m = c.info();
  const image::PreprocessSpec& p = c.preprocess();
  json doc = {
      {"path", m.path},
      {"file", m.model_file},
      {"sha1", m.model_sha1},
      {"format", m.format},
      {"generation", m.generation},
      {"domain", m.domain},
      {"iteration", m.iteration_id},
      {"labels", m.labels},
      {"input", {{"name", m.input_name}, {"shape", m.input_shape}, {"layout", m.input_layout},
                 {"width", p.input_width}, {"height", p.input_height},
                 {"color", p.color == image::ColorOrder::kBGR ? "BGR" : "RGB"}}},
      {"output", {{"name", m.output_name}, {"activation", m.output_activation}}},
      {"warnings", m.warnings},
      {"workers", c.options().workers},
      {"threads_per_inference", c.options().threads_per_inference},
      {"detector", c.detector() ? DetectorJson(*c.detector()) : json(nullptr)},
      {"precision", c.int8_report() ? "int8" : "fp32"},
  };
  if (const predict::Int8Report* int8 = c.int8_report()) doc["int8"] = predict::Int8ReportJson(*int8, c.int8_fallback_counts());
  return doc;
}

}  // namespace

void AddPredictionRoutes(Router* router, const PredictionApi& api) {
  router->Add("GET", "/", [](const HttpRequest&) {
    HttpResponse res;
    res.content_type = "text/html; charset=utf-8";
    res.body = "CustomVision.ai model host harness";
    return res;
  }, false, Access::kOpen);
  const ResponseStyle container = ResponseStyle::kContainer;
  for (const char* what : {"image", "url"}) {
    const bool url = std::string(what) == "url";
    const std::string w = what;
    Add(router, api, "/" + w, url, false, container, false);
    Add(router, api, "/{project}/" + w, url, false, container, false);
    Add(router, api, "/{project}/" + w + "/nostore", url, true, container, false);
    Add(router, api, "/{project}/{task:classify|detect}/iterations/{publishedName}/" + w, url, false, container,
        false);
    Add(router, api, "/{project}/{task:classify|detect}/iterations/{publishedName}/" + w + "/nostore", url, true,
        container, false);
    const std::string cloud = "/customvision/{version:v3.0|v3.1}/prediction/{project}/{task:classify|detect}/"
                              "iterations/{publishedName}/" + w;
    Add(router, api, cloud, url, false, ResponseStyle::kCloud, true);
    Add(router, api, cloud + "/nostore", url, true, ResponseStyle::kCloud, true);
  }
}

void AddHealthRoutes(Router* router, const HealthApi& api) {
  auto health = [api](const HttpRequest&) {
    const predict::ModelSlot::State state = api.slot->state();
    const auto uptime = std::chrono::duration<double>(std::chrono::steady_clock::now() - api.started).count();
    json doc = {{"status", StateName(state)},
                {"live", true},
                {"ready", state == predict::ModelSlot::State::kReady},
                {"version", api.version},
                {"uptime_s", uptime}};
    if (std::shared_ptr<const predict::Classifier> c = api.slot->Get()) doc["model"] = ModelJson(*c);
    if (state == predict::ModelSlot::State::kLoading) doc["loading"] = api.slot->loading();
    if (Status error = api.slot->error(); !error.ok()) doc["error"] = error.message();
    for (const auto& section : api.sections) section(&doc);
    HttpResponse res;
    res.status = state == predict::ModelSlot::State::kReady ? 200 : 503;
    res.body = doc.dump(-1, ' ', false, json::error_handler_t::replace);
    return res;
  };
  router->Add("GET", "/health", health, false, Access::kHealth);
  router->Add("GET", "/health/ready", health, false, Access::kHealth);
  router->Add("GET", "/health/live", [](const HttpRequest&) {
    HttpResponse res;
    res.body = R"({"live":true})";
    return res;
  }, false, Access::kOpen);
}

}  // namespace edgevision::http
