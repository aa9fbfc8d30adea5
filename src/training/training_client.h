// TrainingClient: the Custom Vision Training API v3.3 over HTTP(S) with
// libcurl (training_api.h lists the operations and the error mapping).
//
// Every request carries the `Training-Key` header; the key is never logged
// and never part of an error message. Requests answered 429 or 5xx, and
// requests that found no connection or timed out, are retried with
// exponential backoff, waiting as long as the answer's Retry-After says when
// it has one (delta-seconds or an HTTP date). A retried image batch may
// reach the service twice; it answers OKDuplicate for images it already
// holds, which the uploader counts as sent.
//
// Thread-safety: none; one client per thread (it reuses one connection).
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/curl_handles.h"
#include "training/training_api.h"

namespace edgevision::training {

inline constexpr std::string_view kTrainingBasePath = "/customvision/v3.3/training";

struct RetryPolicy {
  int max_attempts = 6;  // the first try included
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{60000};
  // A longer Retry-After is cut to this (the service asks for seconds).
  std::chrono::seconds max_retry_after{300};
};

struct TrainingClientOptions {
  // https://<resource>.cognitiveservices.azure.com (a path after the host is
  // kept, for proxies); plain http only to a loopback host.
  std::string endpoint;
  std::string training_key;
  std::chrono::seconds connect_timeout{10};
  // A whole request, a 64-image batch included.
  std::chrono::seconds request_timeout{300};
  // Largest answer read; the service's answers are a few kB.
  size_t max_response_bytes = 8u << 20;
  RetryPolicy retry;
  // How a retry waits (tests may record instead); default: sleep_for.
  std::function<void(std::chrono::milliseconds)> sleep;
};

// The wait a Retry-After header value asks for, from `now`: delta-seconds or
// an HTTP date (a date in the past is zero); nullopt when unparseable.
std::optional<std::chrono::seconds> ParseRetryAfter(
    std::string_view value, std::chrono::system_clock::time_point now);

// "https://host[:port][/path]" without trailing '/'. Errors: InvalidArgument
// for anything else, or plain http to a host that is not loopback.
Result<std::string> NormalizeEndpoint(const std::string& endpoint);

class TrainingClient : public TrainingApi {
 public:
  // Errors: InvalidArgument (endpoint, empty key), Internal (curl init).
  static Result<std::unique_ptr<TrainingClient>> Create(TrainingClientOptions options);

  TrainingClient(const TrainingClient&) = delete;
  TrainingClient& operator=(const TrainingClient&) = delete;

  Result<Project> GetProject(const std::string& project_id) override;
  Result<Domain> GetDomain(const std::string& domain_id) override;
  Result<std::vector<Tag>> GetTags(const std::string& project_id) override;
  Result<Tag> CreateTag(const std::string& project_id, const std::string& name) override;
  Result<BatchResult> CreateImagesFromFiles(const std::string& project_id,
                                            const std::vector<ImageFile>& images) override;

 private:
  struct Response {
    long status = 0;
    std::string body;
    std::string retry_after;  // the header's value, "" when absent
  };
  TrainingClient(TrainingClientOptions options, std::string base, CurlEasyPtr curl);
  // One request with the retries; an answer other than 2xx becomes an error.
  Result<std::string> Call(const char* method, const std::string& path, const std::string& body);
  // One attempt; a transport failure is an error (Unavailable when worth a retry).
  Result<Response> SendOnce(const char* method, const std::string& url, const std::string& body);
  std::string Escape(const std::string& text) const;

  TrainingClientOptions options_;
  std::string base_;  // endpoint + kTrainingBasePath
  CurlEasyPtr curl_;
};

}  // namespace edgevision::training
