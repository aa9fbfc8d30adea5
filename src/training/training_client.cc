#include "training/training_client.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <thread>

#include "core/base64.h"

namespace edgevision::training {

namespace {

using nlohmann::json;

struct CurlFree {
  void operator()(char* p) const { curl_free(p); }
};

struct Sink {
  std::string* body;
  size_t max;
  bool overflow = false;
};

size_t WriteBody(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<Sink*>(user);
  const size_t bytes = size * n;
  if (sink->body->size() + bytes > sink->max) {
    sink->overflow = true;
    return 0;  // aborts the transfer
  }
  sink->body->append(data, bytes);
  return bytes;
}

size_t ReadHeader(char* data, size_t size, size_t n, void* user) {
  const size_t bytes = size * n;
  std::string_view line(data, bytes);
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size()) {
    std::string head(line.substr(0, kName.size()));
    std::transform(head.begin(), head.end(), head.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (head == kName) {
      std::string_view v = line.substr(kName.size());
      while (!v.empty() && std::isspace(static_cast<unsigned char>(v.front()))) v.remove_prefix(1);
      while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
      *static_cast<std::string*>(user) = std::string(v);
    }
  }
  return bytes;
}

bool Retryable(long status) { return status == 429 || (status >= 500 && status <= 599); }

bool RetryableCurl(CURLcode rc) {
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
      return true;
    default:
      return false;
  }
}

// The service's CustomVisionError {code, message} (or the gateway's
// {"error": {code, message}}), or the start of the body.
std::string ErrorText(long status, const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) j = j["error"];
  std::string text = "HTTP " + std::to_string(status);
  if (j.is_object() && j.contains("code") && j["code"].is_string()) {
    text += " " + j["code"].get<std::string>();
    if (j.contains("message") && j["message"].is_string())
      text += ": " + j["message"].get<std::string>();
    return text;
  }
  if (!body.empty()) text += ": " + body.substr(0, 200);
  return text;
}

Status StatusFor(long status, const std::string& what, const std::string& body) {
  const std::string text = what + ": " + ErrorText(status, body);
  if (status == 401 || status == 403)
    return PermissionDenied(text + " (the training key was refused: check --training-key-file)");
  if (status == 404) return NotFound(text);
  if (Retryable(status)) return Unavailable(text);
  return InvalidArgument(text);
}

std::string String(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

Result<json> ParseObject(const std::string& body, const char* what) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_object() && !j.is_array())
    return Corrupt(std::string(what) + ": the answer is not JSON");
  return j;
}

Tag ReadTag(const json& j) { return Tag{String(j, "id"), String(j, "name"), String(j, "type")}; }

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

}  // namespace

std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value,
                                                    std::chrono::system_clock::time_point now) {
  if (value.empty()) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (value.size() > 9) return std::chrono::seconds(999999999);
    return std::chrono::seconds(std::stol(std::string(value)));
  }
  const time_t at = curl_getdate(std::string(value).c_str(), nullptr);
  if (at < 0) return std::nullopt;
  const auto wait = std::chrono::system_clock::from_time_t(at) - now;
  return std::max(std::chrono::seconds(0), std::chrono::duration_cast<std::chrono::seconds>(wait));
}

Result<std::string> NormalizeEndpoint(const std::string& endpoint) {
  std::string e = endpoint;
  while (!e.empty() && e.back() == '/') e.pop_back();
  const bool https = e.rfind("https://", 0) == 0;
  const bool http = e.rfind("http://", 0) == 0;
  if (!https && !http)
    return InvalidArgument("--endpoint must be an https:// URL (got '" + endpoint + "')");
  const size_t host_start = e.find("//") + 2;
  const size_t host_end = e.find('/', host_start);
  std::string authority = e.substr(host_start, host_end == std::string::npos
                                                   ? std::string::npos
                                                   : host_end - host_start);
  if (authority.empty() || authority.find_first_of("?#@ ") != std::string::npos)
    return InvalidArgument("--endpoint '" + endpoint + "' has no valid host");
  std::string host = authority;
  if (host.front() == '[') {
    host = host.substr(0, host.find(']') + 1);
  } else if (const size_t colon = host.find(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  if (http && !IsLoopbackHost(host)) {
    return InvalidArgument("--endpoint '" + endpoint +
                           "' is plain http: the training key would travel in clear (use https)");
  }
  return e;
}

Result<std::unique_ptr<TrainingClient>> TrainingClient::Create(TrainingClientOptions options) {
  EV_ASSIGN_OR_RETURN(std::string endpoint, NormalizeEndpoint(options.endpoint));
  if (options.training_key.empty()) return InvalidArgument("the training key is empty");
  if (options.training_key.find_first_of("\r\n") != std::string::npos)
    return InvalidArgument("the training key holds a line break");
  if (options.retry.max_attempts < 1) options.retry.max_attempts = 1;
  if (!options.sleep) options.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  CurlEasyPtr curl(curl_easy_init());
  if (!curl) return Internal("curl_easy_init failed");
  return std::unique_ptr<TrainingClient>(new TrainingClient(
      std::move(options), endpoint + std::string(kTrainingBasePath), std::move(curl)));
}

TrainingClient::TrainingClient(TrainingClientOptions options, std::string base, CurlEasyPtr curl)
    : options_(std::move(options)), base_(std::move(base)), curl_(std::move(curl)) {}

std::string TrainingClient::Escape(const std::string& text) const {
  std::unique_ptr<char, CurlFree> e(
      curl_easy_escape(curl_.get(), text.data(), static_cast<int>(text.size())));
  return e ? std::string(e.get()) : std::string();
}

Result<TrainingClient::Response> TrainingClient::SendOnce(const char* method,
                                                          const std::string& url,
                                                          const std::string& body) {
  CURL* c = curl_.get();
  curl_easy_reset(c);
  Response response;
  Sink sink{&response.body, options_.max_response_bytes};
  const std::string key_header = "Training-Key: " + options_.training_key;
  CurlSlistPtr headers(curl_slist_append(nullptr, key_header.c_str()));
  curl_slist_append(headers.get(), "Accept: application/json");
  const bool post = std::string_view(method) == "POST";
  if (post) curl_slist_append(headers.get(), "Content-Type: application/json; charset=utf-8");
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options_.connect_timeout.count() * 1000));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.request_timeout.count() * 1000));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, ReadHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, &response.retry_after);
  if (post) {
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  }
  const CURLcode rc = curl_easy_perform(c);
  if (sink.overflow)
    return ResourceExhausted("the training API's answer is larger than " +
                             std::to_string(options_.max_response_bytes) + " bytes");
  if (rc != CURLE_OK) {
    const std::string text = std::string("training API unreachable: ") + curl_easy_strerror(rc);
    return RetryableCurl(rc) ? Unavailable(text) : IOError(text);
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

Result<std::string> TrainingClient::Call(const char* method, const std::string& path,
                                         const std::string& body) {
  const std::string url = base_ + path;
  const std::string what = std::string(method) + " " + path;
  const RetryPolicy& policy = options_.retry;
  std::chrono::milliseconds backoff = policy.initial_backoff;
  Status last = Status::Ok();
  for (int attempt = 1;; ++attempt) {
    Result<Response> r = SendOnce(method, url, body);
    std::optional<std::chrono::seconds> retry_after;
    if (r.ok()) {
      if (r->status >= 200 && r->status < 300) return std::move(r->body);
      last = StatusFor(r->status, what, r->body);
      if (!Retryable(r->status)) return last;
      retry_after = ParseRetryAfter(r->retry_after, std::chrono::system_clock::now());
    } else {
      last = r.status().WithContext(what);
      if (r.status().code() != StatusCode::kUnavailable) return last;
    }
    if (attempt >= policy.max_attempts) {
      return Unavailable(last.message() + " (gave up after " + std::to_string(attempt) +
                         " attempts)");
    }
    std::chrono::milliseconds wait = backoff;
    if (retry_after) {
      wait = std::chrono::duration_cast<std::chrono::milliseconds>(
          std::min(*retry_after, policy.max_retry_after));
    }
    backoff = std::min(backoff * 2, policy.max_backoff);
    spdlog::warn("{}; retrying in {} ms (attempt {} of {})", last.message(), wait.count(),
                 attempt + 1, policy.max_attempts);
    options_.sleep(wait);
  }
}

Result<Project> TrainingClient::GetProject(const std::string& project_id) {
  EV_ASSIGN_OR_RETURN(std::string body, Call("GET", "/projects/" + Escape(project_id), ""));
  EV_ASSIGN_OR_RETURN(json j, ParseObject(body, "GetProject"));
  Project p{String(j, "id"), String(j, "name"), ""};
  if (j.contains("settings") && j["settings"].is_object())
    p.domain_id = String(j["settings"], "domainId");
  if (p.domain_id.empty()) return Corrupt("GetProject: the answer has no settings.domainId");
  return p;
}

Result<Domain> TrainingClient::GetDomain(const std::string& domain_id) {
  EV_ASSIGN_OR_RETURN(std::string body, Call("GET", "/domains/" + Escape(domain_id), ""));
  EV_ASSIGN_OR_RETURN(json j, ParseObject(body, "GetDomain"));
  return Domain{String(j, "id"), String(j, "type")};
}

Result<std::vector<Tag>> TrainingClient::GetTags(const std::string& project_id) {
  EV_ASSIGN_OR_RETURN(std::string body,
                      Call("GET", "/projects/" + Escape(project_id) + "/tags", ""));
  EV_ASSIGN_OR_RETURN(json j, ParseObject(body, "GetTags"));
  if (!j.is_array()) return Corrupt("GetTags: the answer is not a list");
  std::vector<Tag> tags;
  for (const json& t : j) {
    if (t.is_object()) tags.push_back(ReadTag(t));
  }
  return tags;
}

Result<Tag> TrainingClient::CreateTag(const std::string& project_id, const std::string& name) {
  EV_ASSIGN_OR_RETURN(
      std::string body,
      Call("POST", "/projects/" + Escape(project_id) + "/tags?name=" + Escape(name), ""));
  EV_ASSIGN_OR_RETURN(json j, ParseObject(body, "CreateTag"));
  Tag tag = ReadTag(j);
  if (tag.id.empty()) return Corrupt("CreateTag: the answer has no id");
  return tag;
}

Result<BatchResult> TrainingClient::CreateImagesFromFiles(const std::string& project_id,
                                                          const std::vector<ImageFile>& images) {
  if (images.empty() || images.size() > static_cast<size_t>(kMaxImagesPerBatch))
    return InvalidArgument("a batch holds 1 to 64 images");
  json entries = json::array();
  for (const ImageFile& f : images) {
    json e = {{"name", f.name},
              {"contents", Base64Encode(std::string_view(
                               reinterpret_cast<const char*>(f.contents.data()), f.contents.size()))}};
    if (!f.tag_ids.empty()) e["tagIds"] = f.tag_ids;
    if (!f.regions.empty()) {
      json regions = json::array();
      for (const Region& r : f.regions) {
        regions.push_back({{"tagId", r.tag_id},
                           {"left", r.left},
                           {"top", r.top},
                           {"width", r.width},
                           {"height", r.height}});
      }
      e["regions"] = std::move(regions);
    }
    entries.push_back(std::move(e));
  }
  const std::string request = json{{"images", std::move(entries)}}.dump();
  EV_ASSIGN_OR_RETURN(std::string body,
                      Call("POST", "/projects/" + Escape(project_id) + "/images/files", request));
  EV_ASSIGN_OR_RETURN(json j, ParseObject(body, "CreateImagesFromFiles"));
  BatchResult result;
  if (j.contains("isBatchSuccessful") && j["isBatchSuccessful"].is_boolean())
    result.is_batch_successful = j["isBatchSuccessful"].get<bool>();
  if (!j.contains("images") || !j["images"].is_array())
    return Corrupt("CreateImagesFromFiles: the answer has no images list");
  for (const json& i : j["images"]) {
    if (!i.is_object()) continue;
    ImageResult r{String(i, "sourceUrl"), String(i, "status"), ""};
    if (i.contains("image") && i["image"].is_object()) r.image_id = String(i["image"], "id");
    result.images.push_back(std::move(r));
  }
  return result;
}

}  // namespace edgevision::training
