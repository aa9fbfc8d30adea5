#include "http/capture_routes.h"

#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>
#include <set>

#include "http/api_error.h"
#include "http/request_parsing.h"
#include "http/review_page/assets.h"
#include "store/time_text.h"

namespace edgevision::http {

namespace {

using nlohmann::json;

// Longest text accepted in a query filter (tag, label).
constexpr size_t kMaxFilterLength = 256;

std::string Dump(const json& doc) {
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

HttpResponse Json(const json& doc, int status = 200) {
  HttpResponse res;
  res.status = status;
  res.body = Dump(doc);
  res.headers.emplace_back("Cache-Control", "no-store");
  return res;
}

// The one mapping for store errors: a full disk is 507, the rest as api_error.h.
HttpResponse StoreError(const Status& s) {
  if (s.code() == StatusCode::kResourceExhausted)
    return ErrorResponse(507, "InsufficientStorage", s.message());
  return ErrorResponse(ToApiError(s, ErrorPhase::kRequest));
}

HttpResponse BadRequest(const std::string& message) {
  return ErrorResponse(400, "BadRequest", message);
}

json BoxJson(const detect::BoundingBox& b) {
  return {{"left", b.left}, {"top", b.top}, {"width", b.width}, {"height", b.height}};
}

json CaptureJson(const store::Capture& c) {
  json predictions = json::array();
  for (const store::StoredPrediction& p : c.predictions) {
    predictions.push_back({{"tagName", p.tag}, {"probability", p.probability}});
  }
  json doc = {
      {"id", c.id},
      {"created", store::FormatTime(c.created)},
      {"route", c.route},
      {"project", c.project},
      {"iteration", c.iteration},
      {"model_sha1", c.model_sha1},
      {"predictions", std::move(predictions)},
      {"top", c.top_tag.empty() ? json(nullptr)
                                : json{{"tagName", c.top_tag}, {"probability", c.top_probability}}},
      {"image",
       {{"url", "/captures/" + c.id + "/image"},
        {"sha256", c.image_sha256},
        {"bytes", c.image_bytes},
        {"format", c.image_format},
        {"width", c.image_width},
        {"height", c.image_height}}},
      {"label", c.label ? json(*c.label) : json(nullptr)},
      {"reviewed", c.reviewed ? json(store::FormatTime(*c.reviewed)) : json(nullptr)},
      {"kind", store::CaptureKindName(c.kind)},
  };
  if (c.kind == store::CaptureKind::kDetection) {
    // The boxes as the prediction's response showed them, and the regions
    // a person set (Custom Vision training's region shape, with tagName).
    json detections = json::array();
    for (const store::StoredDetection& d : c.detections) {
      detections.push_back({{"tagName", d.tag},
                            {"tagId", d.tag_index},
                            {"probability", d.probability},
                            {"boundingBox", BoxJson(d.box)}});
    }
    doc["detections"] = std::move(detections);
    if (c.regions) {
      json regions = json::array();
      for (const store::Region& r : *c.regions) {
        json region = BoxJson(r.box);
        region["tagName"] = r.tag;
        regions.push_back(std::move(region));
      }
      doc["regions"] = std::move(regions);
    } else {
      doc["regions"] = nullptr;
    }
  }
  return doc;
}

// The tags of the loaded model (empty without one).
std::vector<std::string> ModelTags(const CaptureApi& api) {
  if (api.slot) {
    if (std::shared_ptr<const predict::Classifier> c = api.slot->Get()) return c->info().labels;
  }
  return {};
}

// A probability filter in [0, 1].
Result<double> ParseProbability(const std::string& name, const std::string& text) {
  double v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || !std::isfinite(v) ||
      v < 0 || v > 1) {
    return InvalidArgument(name + "='" + text.substr(0, 32) + "' must be a number from 0 to 1");
  }
  return v;
}

Result<int64_t> ParseInt(const std::string& name, const std::string& text, int64_t min,
                         int64_t max) {
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size() || v < min || v > max) {
    return InvalidArgument(name + "='" + text.substr(0, 32) + "' must be an integer from " +
                           std::to_string(min) + " to " + std::to_string(max));
  }
  return v;
}

Result<bool> ParseBool(const std::string& name, const std::string& text) {
  static const std::set<std::string> yes = {"true", "1", "yes"}, no = {"false", "0", "no"};
  if (yes.count(text)) return true;
  if (no.count(text)) return false;
  return InvalidArgument(name + "='" + text.substr(0, 32) + "' must be true or false");
}

Result<std::string> ParseText(const std::string& name, const std::string& text) {
  if (text.size() > kMaxFilterLength) return InvalidArgument(name + " is longer than 256 bytes");
  return text;
}

// The query string of GET /captures as a store query. Empty values are
// treated as absent (an HTML form's empty select).
Result<store::CaptureQuery> ParseQuery(const HttpRequest& req) {
  store::CaptureQuery q;
  auto get = [&](const char* name) -> std::optional<std::string> {
    std::optional<std::string> v = req.Query(name);
    if (v && v->empty()) return std::nullopt;
    return v;
  };
  if (auto v = get("tag")) {
    EV_ASSIGN_OR_RETURN(q.tag, ParseText("tag", *v));
  }
  if (auto v = get("label")) {
    EV_ASSIGN_OR_RETURN(q.label, ParseText("label", *v));
  }
  if (auto v = get("min_p")) {
    EV_ASSIGN_OR_RETURN(q.min_p, ParseProbability("min_p", *v));
  }
  if (auto v = get("max_p")) {
    EV_ASSIGN_OR_RETURN(q.max_p, ParseProbability("max_p", *v));
  }
  if (auto v = get("reviewed")) {
    EV_ASSIGN_OR_RETURN(q.reviewed, ParseBool("reviewed", *v));
  }
  if (auto v = get("from")) {
    Result<store::TimePoint> t = store::ParseTime(*v);
    if (!t.ok()) return t.status().WithContext("from");
    q.from = *t;
  }
  if (auto v = get("to")) {
    Result<store::TimePoint> t = store::ParseTime(*v);
    if (!t.ok()) return t.status().WithContext("to");
    q.to = *t;
  }
  if (auto v = get("limit")) {
    EV_ASSIGN_OR_RETURN(int64_t limit, ParseInt("limit", *v, 1, store::kMaxPageSize));
    q.limit = static_cast<int>(limit);
  }
  if (auto v = get("after")) {
    EV_ASSIGN_OR_RETURN(q.after, ParseInt("after", *v, 0, INT64_MAX));
  }
  if (auto v = get("order")) {
    if (*v != "newest" && *v != "oldest") return InvalidArgument("order must be newest or oldest");
    q.oldest_first = *v == "oldest";
  }
  return q;
}

HttpResponse ListCaptures(const CaptureApi& api, const HttpRequest& req) {
  Result<store::CaptureQuery> q = ParseQuery(req);
  if (!q.ok()) return BadRequest(q.status().message());
  Result<store::CapturePage> page = api.store->List(*q);
  if (!page.ok()) return StoreError(page.status());
  Result<int64_t> total = api.store->Count(*q);
  if (!total.ok()) return StoreError(total.status());
  json captures = json::array();
  for (const store::Capture& c : page->captures) captures.push_back(CaptureJson(c));
  return Json({{"captures", std::move(captures)},
               {"next", page->next ? json(std::to_string(*page->next)) : json(nullptr)},
               {"total", *total}});
}

HttpResponse GetCapture(const CaptureApi& api, const HttpRequest& req) {
  Result<store::Capture> c = api.store->Get(req.Param("id"));
  if (!c.ok()) return StoreError(c.status());
  return Json(CaptureJson(*c));
}

HttpResponse GetImage(const CaptureApi& api, const HttpRequest& req) {
  Result<store::Capture> c = api.store->Get(req.Param("id"));
  if (!c.ok()) return StoreError(c.status());
  Result<std::vector<uint8_t>> bytes = api.store->ReadImage(*c);
  if (!bytes.ok()) return StoreError(bytes.status());
  HttpResponse res;
  res.content_type = store::MimeTypeForFormat(c->image_format);
  res.body.assign(bytes->begin(), bytes->end());
  // Content-addressed: the bytes behind an id never change.
  res.headers.emplace_back("Cache-Control", "private, max-age=31536000, immutable");
  res.headers.emplace_back("ETag", "\"" + c->image_sha256 + "\"");
  res.headers.emplace_back("X-Content-Type-Options", "nosniff");
  res.headers.emplace_back("Content-Security-Policy", "default-src 'none'; sandbox");
  if (res.content_type == "application/octet-stream") {
    res.headers.emplace_back("Content-Disposition", "attachment; filename=\"" + c->id + ".bin\"");
  }
  return res;
}

HttpResponse PutLabel(const CaptureApi& api, const HttpRequest& req) {
  if (!store::IsValidCaptureId(req.Param("id"))) {
    return BadRequest("capture id '" + req.Param("id").substr(0, 64) + "' is not a UUID");
  }
  Result<std::optional<std::string>> value = LabelFromBody(req.body);
  if (!value.ok()) return BadRequest(value.status().message());
  Result<store::Capture> c = api.store->SetLabel(req.Param("id"), *value);
  if (!c.ok()) return StoreError(c.status());
  return Json(CaptureJson(*c));
}

HttpResponse PutRegions(const CaptureApi& api, const HttpRequest& req) {
  if (!store::IsValidCaptureId(req.Param("id"))) {
    return BadRequest("capture id '" + req.Param("id").substr(0, 64) + "' is not a UUID");
  }
  Result<std::optional<std::vector<store::Region>>> regions = RegionsFromBody(req.body);
  if (!regions.ok()) return BadRequest(regions.status().message());
  Result<store::Capture> c = api.store->SetRegions(req.Param("id"), *regions, ModelTags(api));
  if (!c.ok()) return StoreError(c.status());
  return Json(CaptureJson(*c));
}

HttpResponse DeleteCapture(const CaptureApi& api, const HttpRequest& req) {
  Status s = api.store->Delete(req.Param("id"));
  if (!s.ok()) return StoreError(s);
  std::string id = req.Param("id");
  for (char& ch : id) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return Json({{"deleted", id}});
}

HttpResponse Stats(const CaptureApi& api) {
  Result<store::StoreStats> stats = api.store->Stats();
  if (!stats.ok()) return StoreError(stats.status());
  // The model's tags first, in its order, then tags only people used.
  const std::vector<std::string> model_tags = ModelTags(api);
  json tags = json::array();
  std::set<std::string> listed;
  auto add = [&](const std::string& tag) {
    if (!listed.insert(tag).second) return;
    store::TagCounts counts;
    auto it = stats->tags.find(tag);
    if (it != stats->tags.end()) counts = it->second;
    tags.push_back({{"tag", tag},
                    {"predicted", counts.predicted},
                    {"unreviewed", counts.unreviewed},
                    {"labelled", counts.labelled},
                    {"confirmed", counts.confirmed},
                    {"regions", counts.regions}});
  };
  for (const std::string& t : model_tags) add(t);
  for (const auto& [t, counts] : stats->tags) add(t);
  json doc = {{"captures", stats->captures},
              {"reviewed", stats->reviewed},
              {"unreviewed", stats->unreviewed},
              {"tags", std::move(tags)},
              {"model_tags", model_tags},
              {"policy", api.recorder ? json(api.recorder->policy().ToString()) : json(nullptr)}};
  return Json(doc);
}

}  // namespace

void AddCaptureRoutes(Router* router, const CaptureApi& api) {
  router->Add("GET", "/captures", [api](const HttpRequest& req) { return ListCaptures(api, req); });
  router->Add("GET", "/captures/stats", [api](const HttpRequest&) { return Stats(api); });
  router->Add("GET", "/captures/{id}",
              [api](const HttpRequest& req) { return GetCapture(api, req); });
  router->Add("DELETE", "/captures/{id}",
              [api](const HttpRequest& req) { return DeleteCapture(api, req); });
  router->Add("GET", "/captures/{id}/image",
              [api](const HttpRequest& req) { return GetImage(api, req); });
  router->Add("PUT", "/captures/{id}/label",
              [api](const HttpRequest& req) { return PutLabel(api, req); });
  router->Add("PUT", "/captures/{id}/regions",
              [api](const HttpRequest& req) { return PutRegions(api, req); });
  AddReviewPageRoutes(router);
}

void AddReviewPageRoutes(Router* router) {
  for (size_t i = 0; i < review_page::kAssetCount; ++i) {
    const review_page::Asset* asset = &review_page::kAssets[i];
    Handler serve = [asset](const HttpRequest&) {
      HttpResponse res;
      res.content_type = asset->content_type;
      res.body.assign(reinterpret_cast<const char*>(asset->data), asset->size);
      res.headers.emplace_back("Cache-Control", "no-cache");
      res.headers.emplace_back("ETag", std::string("\"") + asset->etag + "\"");
      res.headers.emplace_back("X-Content-Type-Options", "nosniff");
      res.headers.emplace_back("Referrer-Policy", "no-referrer");
      if (std::string(asset->content_type).rfind("text/html", 0) == 0) {
        // Everything comes from this server; no inline script or style.
        res.headers.emplace_back(
            "Content-Security-Policy",
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
            "connect-src 'self'; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'");
        res.headers.emplace_back("X-Frame-Options", "DENY");
      }
      return res;
    };
    // The page itself holds no data: it loads without a key and asks for one.
    router->Add("GET", asset->path, serve, false, Access::kOpen);
    if (std::string(asset->path) == "/review/index.html") router->Add("GET", "/review", serve, false, Access::kOpen);
  }
}

void AddStoreHealth(const CaptureApi& api, const std::string& error, json* doc) {
  if (!api.store) {
    json section = {{"enabled", false}};
    if (!error.empty()) section["error"] = error;
    (*doc)["store"] = std::move(section);
    return;
  }
  const store::StoreHealth h = api.store->Health();
  json section = {
      {"enabled", api.recorder != nullptr && api.recorder->policy().enabled()},
      {"policy", api.recorder ? json(api.recorder->policy().ToString()) : json("none")},
      {"data_dir", api.store->data_dir()},
      {"captures", h.captures},
      {"bytes", h.image_bytes + h.db_bytes},
      {"image_bytes", h.image_bytes},
      {"db_bytes", h.db_bytes},
      {"quota_bytes", h.quota_bytes},
      {"max_age_s", h.max_age.count()},
      {"paused", h.paused},
      {"paused_reason", h.paused ? json(h.paused_reason) : json(nullptr)},
      {"removed_by_retention", h.removed_by_retention},
      {"last_error", h.last_error.empty() ? json(nullptr) : json(h.last_error)},
  };
  if (api.recorder) {
    const store::RecorderStats r = api.recorder->stats();
    section["stored"] = r.stored;
    section["queued"] = r.queued;
    section["dropped"] = {{"queue_full", r.dropped_queue_full},
                          {"disk_full", r.dropped_disk_full},
                          {"error", r.dropped_error}};
    section["write_ms_avg"] = r.write_ms_avg;
  }
  (*doc)["store"] = std::move(section);
}

}  // namespace edgevision::http
