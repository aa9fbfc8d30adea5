#include "upstream/message_codec.h"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "upstream/iothub_auth.h"

namespace edgevision::upstream {

namespace {

using nlohmann::json;

constexpr int kSchemaVersion = 1;

// Parses without exceptions; a discarded value means "not JSON".
Result<json> Parse(std::string_view text, std::string_view what) {
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return InvalidArgument(std::string(what) + ": not valid JSON");
  return doc;
}

std::string Dump(const json& doc) {
  return doc.dump(-1, ' ', false, json::error_handler_t::replace);
}

// "2026-11-25T18:10:03.120Z" -> time point. False when malformed.
bool ParseIsoMillisZ(const std::string& s, std::chrono::system_clock::time_point* out) {
  int y, mo, d, h, mi, sec, ms;
  char z = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &sec, &ms,
                  &z) != 8 ||
      z != 'Z') {
    return false;
  }
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  const std::time_t t = timegm(&tm);
  *out = std::chrono::system_clock::time_point(std::chrono::seconds(t)) +
         std::chrono::milliseconds(ms);
  return true;
}

std::string JoinTags(const std::vector<std::string>& tags) {
  std::string out;
  for (const std::string& t : tags) out += (out.empty() ? "" : ",") + t;
  return out;
}

// Tags as the twin carries them: an array of strings, or one comma-separated
// string (twin arrays are not supported everywhere).
bool ReadTags(const json& value, std::vector<std::string>* tags) {
  tags->clear();
  if (value.is_string()) {
    const std::string s = value.get<std::string>();
    size_t pos = 0;
    while (pos <= s.size()) {
      size_t end = s.find(',', pos);
      if (end == std::string::npos) end = s.size();
      std::string tag = s.substr(pos, end - pos);
      while (!tag.empty() && tag.front() == ' ') tag.erase(tag.begin());
      while (!tag.empty() && tag.back() == ' ') tag.pop_back();
      if (!tag.empty()) tags->push_back(tag);
      pos = end + 1;
    }
    return true;
  }
  if (value.is_array()) {
    for (const json& t : value) {
      if (!t.is_string()) return false;
      tags->push_back(t.get<std::string>());
    }
    return true;
  }
  return false;
}

// Readers for one optional member; a present member of the wrong type or
// range adds "<path> <reason>" to `errors` and leaves `out` unset.
void ReadBool(const json& obj, const char* key, const std::string& path, std::optional<bool>* out,
              std::vector<std::string>* errors) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return;
  if (!it->is_boolean()) {
    errors->push_back(path + key + " must be true or false");
    return;
  }
  *out = it->get<bool>();
}

void ReadProbability(const json& obj, const char* key, const std::string& path,
                     std::optional<double>* out, std::vector<std::string>* errors) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return;
  if (!it->is_number() || !std::isfinite(it->get<double>()) || it->get<double>() < 0 ||
      it->get<double>() > 1) {
    errors->push_back(path + key + " must be a number in [0, 1]");
    return;
  }
  *out = it->get<double>();
}

void ReadCount(const json& obj, const char* key, const std::string& path,
               std::optional<int64_t>* out, std::vector<std::string>* errors) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return;
  if (!it->is_number_integer() || it->get<int64_t>() < 0) {
    errors->push_back(path + key + " must be a non-negative integer");
    return;
  }
  *out = it->get<int64_t>();
}

void ReadTagsMember(const json& obj, const char* key, const std::string& path,
                    std::optional<std::vector<std::string>>* out,
                    std::vector<std::string>* errors) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return;
  std::vector<std::string> tags;
  if (!ReadTags(*it, &tags)) {
    errors->push_back(path + key + " must be a comma-separated string or an array of strings");
    return;
  }
  *out = std::move(tags);
}

json CaptureJson(const DesiredCapture& c) {
  json doc = json::object();
  if (c.enabled) doc["enabled"] = *c.enabled;
  if (c.min_probability) doc["minProbability"] = *c.min_probability;
  if (c.max_probability) doc["maxProbability"] = *c.max_probability;
  if (c.tags) doc["tags"] = JoinTags(*c.tags);
  if (c.max_bytes) doc["maxBytes"] = *c.max_bytes;
  if (c.max_age_s) doc["maxAgeSeconds"] = *c.max_age_s;
  return doc;
}

}  // namespace

std::string EncodeMessage(const PredictionMessage& m) {
  json predictions = json::array();
  for (const MessagePrediction& p : m.predictions) {
    predictions.push_back({{"tagName", p.tag}, {"probability", p.probability}});
  }
  json doc = {{"schemaVersion", kSchemaVersion},
              {"id", m.id},
              {"seq", m.seq},
              {"stream", m.stream},
              {"timestamp", FormatIsoMillisZ(m.timestamp)},
              {"route", m.route},
              {"project", m.project},
              {"iteration", m.iteration},
              {"model", {{"iterationId", m.model_iteration_id}, {"sha1", m.model_sha1}}},
              {"predictions", std::move(predictions)}};
  if (m.detections) {
    json detections = json::array();
    for (const MessageDetection& d : *m.detections) {
      detections.push_back({{"tagName", d.tag},
                            {"tagId", d.tag_id},
                            {"probability", d.probability},
                            {"boundingBox",
                             {{"left", d.box.left},
                              {"top", d.box.top},
                              {"width", d.box.width},
                              {"height", d.box.height}}}});
    }
    doc["detections"] = std::move(detections);
  }
  if (m.capture_id) doc["captureId"] = *m.capture_id;
  return Dump(doc);
}

Result<PredictionMessage> DecodeMessage(std::string_view body) {
  EV_ASSIGN_OR_RETURN(json doc, Parse(body, "message"));
  if (!doc.is_object()) return InvalidArgument("message: not a JSON object");
  auto str = [&doc](const char* key, std::string* out) -> Status {
    auto it = doc.find(key);
    if (it == doc.end() || !it->is_string())
      return InvalidArgument(std::string("message: ") + key + " is not a string");
    *out = it->get<std::string>();
    return Status::Ok();
  };
  PredictionMessage m;
  EV_RETURN_IF_ERROR(str("id", &m.id));
  EV_RETURN_IF_ERROR(str("stream", &m.stream));
  EV_RETURN_IF_ERROR(str("route", &m.route));
  EV_RETURN_IF_ERROR(str("project", &m.project));
  EV_RETURN_IF_ERROR(str("iteration", &m.iteration));
  std::string timestamp;
  EV_RETURN_IF_ERROR(str("timestamp", &timestamp));
  if (!ParseIsoMillisZ(timestamp, &m.timestamp))
    return InvalidArgument("message: timestamp is not ISO 8601 UTC");
  auto seq = doc.find("seq");
  if (seq == doc.end() || !seq->is_number_unsigned())
    return InvalidArgument("message: seq is not an unsigned integer");
  m.seq = seq->get<uint64_t>();
  if (auto model = doc.find("model"); model != doc.end() && model->is_object()) {
    // Optional strings: a value of another type is left out, never thrown on.
    auto optional_str = [&model](const char* key) {
      auto it = model->find(key);
      return it != model->end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    m.model_iteration_id = optional_str("iterationId");
    m.model_sha1 = optional_str("sha1");
  }
  auto preds = doc.find("predictions");
  if (preds == doc.end() || !preds->is_array())
    return InvalidArgument("message: predictions is not an array");
  for (const json& p : *preds) {
    if (!p.is_object() || !p.contains("tagName") || !p["tagName"].is_string() ||
        !p.contains("probability") || !p["probability"].is_number()) {
      return InvalidArgument(
          "message: predictions[] needs tagName (string) and probability (number)");
    }
    m.predictions.push_back({p["tagName"].get<std::string>(), p["probability"].get<double>()});
  }
  if (auto dets = doc.find("detections"); dets != doc.end()) {
    const char* kShape =
        "message: detections[] needs tagName (string), tagId (integer), probability (number) and "
        "boundingBox {left, top, width, height} (numbers)";
    if (!dets->is_array()) return InvalidArgument("message: detections is not an array");
    m.detections.emplace();
    for (const json& d : *dets) {
      if (!d.is_object()) return InvalidArgument(kShape);
      auto tag = d.find("tagName"), id = d.find("tagId"), p = d.find("probability"),
           box = d.find("boundingBox");
      if (tag == d.end() || !tag->is_string() || id == d.end() || !id->is_number_integer() ||
          p == d.end() || !p->is_number() || box == d.end() || !box->is_object())
        return InvalidArgument(kShape);
      MessageDetection out;
      out.tag = tag->get<std::string>();
      out.tag_id = id->get<int>();
      out.probability = p->get<double>();
      const std::pair<const char*, double*> members[] = {{"left", &out.box.left},
                                                         {"top", &out.box.top},
                                                         {"width", &out.box.width},
                                                         {"height", &out.box.height}};
      for (const auto& [name, value] : members) {
        auto v = box->find(name);
        if (v == box->end() || !v->is_number()) return InvalidArgument(kShape);
        *value = v->get<double>();
      }
      m.detections->push_back(std::move(out));
    }
  }
  if (auto c = doc.find("captureId"); c != doc.end() && c->is_string())
    m.capture_id = c->get<std::string>();
  return m;
}

Result<std::string> DesiredFromTwin(std::string_view twin_document) {
  EV_ASSIGN_OR_RETURN(json doc, Parse(twin_document, "twin"));
  if (!doc.is_object()) return InvalidArgument("twin: not a JSON object");
  auto it = doc.find("desired");
  if (it == doc.end()) return std::string("{}");
  if (!it->is_object()) return InvalidArgument("twin: desired is not an object");
  return Dump(*it);
}

Result<std::string> MergeDesiredPatch(std::string_view desired_document, std::string_view patch) {
  EV_ASSIGN_OR_RETURN(json desired, Parse(desired_document, "desired properties"));
  EV_ASSIGN_OR_RETURN(json p, Parse(patch, "desired properties patch"));
  if (!p.is_object()) return InvalidArgument("desired properties patch: not a JSON object");
  if (!desired.is_object()) desired = json::object();
  desired.merge_patch(p);
  return Dump(desired);
}

Result<DesiredProperties> ParseDesired(std::string_view desired_document) {
  EV_ASSIGN_OR_RETURN(json doc, Parse(desired_document, "desired properties"));
  if (!doc.is_object()) return InvalidArgument("desired properties: not a JSON object");
  DesiredProperties d;
  if (auto v = doc.find("$version"); v != doc.end() && v->is_number_integer())
    d.version = v->get<int64_t>();
  if (auto up = doc.find("upstream"); up != doc.end() && !up->is_null()) {
    if (!up->is_object()) {
      d.errors.push_back("upstream must be an object");
    } else {
      ReadBool(*up, "enabled", "upstream.", &d.publish_enabled, &d.errors);
      ReadProbability(*up, "minProbability", "upstream.", &d.min_probability, &d.errors);
      ReadProbability(*up, "maxProbability", "upstream.", &d.max_probability, &d.errors);
      ReadTagsMember(*up, "tags", "upstream.", &d.tags, &d.errors);
    }
  }
  if (auto cap = doc.find("capture"); cap != doc.end() && !cap->is_null()) {
    if (!cap->is_object()) {
      d.errors.push_back("capture must be an object");
    } else {
      DesiredCapture c;
      ReadBool(*cap, "enabled", "capture.", &c.enabled, &d.errors);
      ReadProbability(*cap, "minProbability", "capture.", &c.min_probability, &d.errors);
      ReadProbability(*cap, "maxProbability", "capture.", &c.max_probability, &d.errors);
      ReadTagsMember(*cap, "tags", "capture.", &c.tags, &d.errors);
      ReadCount(*cap, "maxBytes", "capture.", &c.max_bytes, &d.errors);
      ReadCount(*cap, "maxAgeSeconds", "capture.", &c.max_age_s, &d.errors);
      d.capture = std::move(c);
    }
  }
  if (auto m = doc.find("model"); m != doc.end() && !m->is_null()) {
    auto text = [&](const char* key, std::string* out) {
      auto it = m->find(key);
      if (it == m->end() || it->is_null()) return true;
      if (!it->is_string()) return false;
      *out = it->get<std::string>();
      return true;
    };
    DesiredModel model;
    if (!m->is_object()) {
      d.errors.push_back("model must be an object");
    } else if (!text("url", &model.url) || !text("sha256", &model.sha256) || !text("version", &model.version)) {
      d.errors.push_back("model.url, model.sha256 and model.version must be strings");
    } else if (model.url.empty() || model.sha256.empty()) {
      d.errors.push_back("model needs url and sha256");
    } else {
      d.model = std::move(model);
    }
  }
  if (auto src = doc.find("sources"); src != doc.end() && !src->is_null()) {
    if (!src->is_object()) {
      d.errors.push_back("sources must be an object of name: \"URL[,key=value...]\"");
    } else {
      for (const auto& [name, spec] : src->items()) {
        if (spec.is_null()) continue;  // removed (merge-patch semantics)
        if (!spec.is_string()) {
          d.errors.push_back("sources." + name + " must be a string \"URL[,key=value...]\"");
          continue;
        }
        d.sources[name] = spec.get<std::string>();
      }
    }
  }
  return d;
}

std::string EncodeReported(const ReportedProperties& r) {
  json upstream = {{"enabled", r.applied.enabled},
                   {"minProbability", r.applied.min_probability},
                   {"maxProbability", r.applied.max_probability},
                   {"tags", JoinTags(r.applied.tags)},
                   {"status", r.errors.empty() ? "applied" : "applied with errors"},
                   {"errors", JoinTags(r.errors)}};
  if (r.desired_version) upstream["desiredVersion"] = *r.desired_version;
  json doc = {{"edgevision", {{"version", r.version}}}, {"upstream", std::move(upstream)}};
  if (r.capture) {
    json capture = CaptureJson(*r.capture);
    capture["status"] = r.capture_status;
    doc["capture"] = std::move(capture);
  }
  if (r.model) {
    doc["model"] = {{"file", r.model->file},
                    {"format", r.model->format},
                    {"generation", r.model->generation},
                    {"iterationId", r.model->iteration_id},
                    {"sha1", r.model->sha1},
                    {"labelCount", r.model->labels.size()},
                    {"labels", JoinTags(r.model->labels)}};
  }
  if (r.delivery) doc["modelDelivery"] = delivery::DeliveryStatusJson(*r.delivery);
  if (!r.sources.empty()) {
    json sources = json::object();
    auto text = [](const std::string& v) { return v.empty() ? json(nullptr) : json(v); };
    for (const auto& [name, src] : r.sources) {
      if (!src) {
        sources[name] = nullptr;
        continue;
      }
      sources[name] = {{"url", text(src->url)},         {"origin", src->origin},
                       {"state", text(src->state)},     {"lastError", text(src->last_error)},
                       {"decoder", text(src->decoder)}, {"error", text(src->error)}};
    }
    doc["sources"] = std::move(sources);
  }
  return Dump(doc);
}

std::string EncodeSignRequest(std::string_view data_base64) {
  return Dump({{"keyId", "primary"}, {"algo", "HMACSHA256"}, {"data", std::string(data_base64)}});
}

Result<std::string> DecodeSignResponse(std::string_view body) {
  EV_ASSIGN_OR_RETURN(json doc, Parse(body, "workload sign response"));
  if (!doc.is_object() || !doc.contains("digest") || !doc["digest"].is_string()) {
    return InvalidArgument("workload sign response: no \"digest\" string");
  }
  std::string digest = doc["digest"].get<std::string>();
  if (!Base64Decode(digest).ok())
    return InvalidArgument("workload sign response: digest is not base64");
  return digest;
}

Result<std::string> DecodeTrustBundleResponse(std::string_view body) {
  EV_ASSIGN_OR_RETURN(json doc, Parse(body, "workload trust-bundle response"));
  if (!doc.is_object() || !doc.contains("certificate") || !doc["certificate"].is_string()) {
    return InvalidArgument("workload trust-bundle response: no \"certificate\" string");
  }
  std::string pem = doc["certificate"].get<std::string>();
  if (pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    // Older API descriptions call it "base64 encoded PEM": accept that too.
    Result<std::string> decoded = Base64Decode(pem);
    if (!decoded.ok() || decoded->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return InvalidArgument(
          "workload trust-bundle response: certificate holds no PEM certificate");
    }
    pem = std::move(decoded).value();
  }
  return pem;
}

std::string DecodeWorkloadError(std::string_view body) {
  json doc = json::parse(body.begin(), body.end(), nullptr, false);
  if (doc.is_object() && doc.contains("message") && doc["message"].is_string())
    return doc["message"].get<std::string>();
  return {};
}

}  // namespace edgevision::upstream
