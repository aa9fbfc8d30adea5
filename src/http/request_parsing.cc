#include "http/request_parsing.h"

#include <nlohmann/json.hpp>

namespace edgevision::http {

using nlohmann::json;

Status CheckRouteParams(const HttpRequest& req) {
  for (const auto& [name, value] : req.params) {
    if (value.size() > kMaxParamLength) return InvalidArgument("route parameter '" + name + "' is too long");
    for (unsigned char c : value) {
      if (c < 0x20 || c == 0x7f) return InvalidArgument("route parameter '" + name + "' has control characters");
    }
  }
  return Status::Ok();
}

Result<std::span<const uint8_t>> ImageBytes(const HttpRequest& req) {
  const std::string* data = nullptr;
  if (!req.form.empty()) {
    auto it = req.form.find("imageData");
    if (it == req.form.end()) {
      return InvalidArgument("multipart/form-data body has no part named imageData");
    }
    data = &it->second.content;
  } else {
    data = &req.body;
  }
  if (data->empty()) return InvalidArgument("the request carries no image (empty body)");
  return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data->data()), data->size());
}

namespace {

// Refuses, without parsing, a JSON text over kMaxJsonBodyBytes or nested
// deeper than kMaxJsonDepth (brackets outside strings are counted).
Status CheckJsonBounds(std::string_view body) {
  if (body.size() > kMaxJsonBodyBytes) {
    return InvalidArgument("the JSON body is larger than " + std::to_string(kMaxJsonBodyBytes) + " bytes");
  }
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJsonDepth) {
        return InvalidArgument("the JSON body nests deeper than " + std::to_string(kMaxJsonDepth) + " levels");
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> ImageUrl(std::string_view body) {
  EV_RETURN_IF_ERROR(CheckJsonBounds(body));
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return InvalidArgument("the body must be a JSON object {\"url\": \"<image url>\"}");
  }
  for (const char* key : {"url", "Url", "URL"}) {
    auto it = doc.find(key);
    if (it == doc.end()) continue;
    if (!it->is_string() || it->get<std::string>().empty()) {
      return InvalidArgument("\"url\" must be a non-empty string");
    }
    return it->get<std::string>();
  }
  return InvalidArgument("the JSON body has no \"url\"");
}

Result<std::optional<std::string>> LabelFromBody(std::string_view body) {
  EV_RETURN_IF_ERROR(CheckJsonBounds(body));
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("label")) {
    return InvalidArgument("the body must be JSON {\"label\": \"<tag>\"} or {\"label\": null}");
  }
  const json& label = doc["label"];
  if (label.is_string()) return std::optional<std::string>(label.get<std::string>());
  if (!label.is_null()) return InvalidArgument("\"label\" must be a string or null");
  return std::optional<std::string>();
}

Result<std::optional<std::vector<store::Region>>> RegionsFromBody(std::string_view body) {
  using Regions = std::optional<std::vector<store::Region>>;
  EV_RETURN_IF_ERROR(CheckJsonBounds(body));
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("regions")) {
    return InvalidArgument(
        "the body must be JSON {\"regions\": [{\"tagName\", \"left\", \"top\", \"width\", "
        "\"height\"}, ...]} or {\"regions\": null}");
  }
  const json& list = doc["regions"];
  if (list.is_null()) return Regions();
  if (!list.is_array()) return InvalidArgument("\"regions\" must be an array or null");
  std::vector<store::Region> regions;
  for (size_t i = 0; i < list.size(); ++i) {
    const json& r = list[i];
    const std::string where = "regions[" + std::to_string(i) + "]";
    if (!r.is_object()) return InvalidArgument(where + " must be an object");
    auto tag = r.find("tagName");
    if (tag == r.end() || !tag->is_string())
      return InvalidArgument(where + ".tagName must be a string");
    store::Region region;
    region.tag = tag->get<std::string>();
    const std::pair<const char*, double*> members[] = {{"left", &region.box.left},
                                                       {"top", &region.box.top},
                                                       {"width", &region.box.width},
                                                       {"height", &region.box.height}};
    for (const auto& [name, out] : members) {
      auto v = r.find(name);
      if (v == r.end() || !v->is_number())
        return InvalidArgument(where + "." + name + " must be a number");
      *out = v->get<double>();
    }
    regions.push_back(std::move(region));
  }
  return Regions(std::move(regions));
}

}  // namespace edgevision::http
