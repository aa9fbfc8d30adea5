// `edgevision predict`: the camera's role for scripts and debugging.
#include <spdlog/spdlog.h>

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>

#include "cli/commands.h"
#include "cli/load.h"
#include "core/clock.h"
#include "core/curl_handles.h"
#include "core/uuid.h"
#include "http/prediction_json.h"
#include "image/decode.h"
#include "image/draw.h"
#include "predict/draw_detections.h"
#include "image/orientation.h"

namespace edgevision::cli {

namespace {

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<std::string*>(user)->append(data, size * count);
  return size * count;
}

// POSTs the image as the ESP-EYE does (raw body, application/octet-stream)
// and returns the response body; non-2xx answers are errors carrying it.
Result<std::string> PostImage(const std::string& server, const std::vector<uint8_t>& image) {
  std::string url = server;
  // A bare server address means the container's /image route.
  const size_t scheme = url.find("://");
  const size_t path = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (path == std::string::npos || path == url.size() - 1) url = url.substr(0, path) + "/image";
  CurlEasyPtr curl(curl_easy_init());
  if (!curl) return Internal("libcurl: cannot create a handle");
  CurlSlistPtr headers(curl_slist_append(nullptr, "Content-Type: application/octet-stream"));
  std::string body;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, image.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(image.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, AppendBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
  CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) return Unavailable(url + ": " + curl_easy_strerror(rc));
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status >= 300) {
    return InvalidArgument(url + " answered HTTP " + std::to_string(status) + ": " + body);
  }
  return body;
}

// The image as the detector saw it (EXIF orientation applied) with each
// detection's box, one colour per tag, written as JPEG to `out`.
Status DrawDetections(const std::vector<uint8_t>& bytes, const std::vector<detect::Detection>& detections,
                      const std::string& out) {
  EV_ASSIGN_OR_RETURN(image::DecodedImage decoded, image::Decode(bytes));
  const int orientation = image::ReferenceOrientation(decoded);
  image::Image img = image::ApplyExifOrientation(std::move(decoded.rgb), orientation);
  predict::DrawDetections(&img, detections);
  EV_ASSIGN_OR_RETURN(std::vector<uint8_t> jpeg, image::EncodeJpeg(img));
  std::ofstream f(out, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(jpeg.data()), static_cast<std::streamsize>(jpeg.size()));
  if (!f.flush()) return IOError(out + ": cannot write");
  return Status::Ok();
}

http::PredictionEnvelope LocalEnvelope(const predict::Classifier& model) {
  http::PredictionEnvelope envelope;
  envelope.id = NewUuid();
  envelope.iteration = model.info().iteration_id;
  envelope.created = SystemClock().Now();
  envelope.rule = model.info().answer_rule;
  envelope.label_order = model.info().label_order;
  return envelope;
}

}  // namespace

int RunPredict(const PredictOptions& options) {
  std::unique_ptr<predict::Classifier> classifier;
  if (!options.server.empty() && options.precision != "fp32") {
    PrintError(InvalidArgument("--precision applies to a local --model; the server runs at its own precision"));
    return 2;
  }
  if (options.server.empty()) {
    predict::ClassifierOptions classifier_options;
    classifier_options.threads_per_inference = options.threads;
    classifier_options.detector = MakeDetectorOptions(options.detection);
    if (Status s = ApplyPrecision(options.precision, options.data_dir, options.int8_fallback, &classifier_options); !s.ok()) {
      PrintError(s);
      return 2;
    }
    Result<model::LoadOptions> load = MakeLoadOptions(options.preprocess, options.label_order);
    if (!load.ok()) {
      PrintError(load.status());
      return 1;
    }
    Result<std::unique_ptr<predict::Classifier>> loaded = LoadClassifier(
        options.model.empty() ? DefaultModelPath() : options.model, classifier_options, *load);
    if (!loaded.ok()) {
      PrintError(loaded.status());
      return 1;
    }
    classifier = std::move(loaded).value();
    if (!options.draw.empty() && (!classifier->detector() || options.images.size() != 1)) {
      PrintError(InvalidArgument("--draw takes one image and an object detector"));
      return 2;
    }
  } else {
    curl_global_init(CURL_GLOBAL_DEFAULT);
  }
  int exit_code = 0;
  for (const std::string& path : options.images) {
    Result<std::vector<uint8_t>> bytes = ReadFile(path);
    if (!bytes.ok()) {
      PrintError(bytes.status());
      exit_code = 1;
      continue;
    }
    if (classifier && classifier->detector()) {
      Result<predict::DetectionResult> result = classifier->DetectImage(*bytes);
      if (!result.ok()) {
        PrintError(result.status().WithContext(path));
        exit_code = 1;
        continue;
      }
      std::printf("%s\n", http::DetectionJson(result->detections, LocalEnvelope(*classifier)).c_str());
      if (!options.draw.empty()) {
        if (Status s = DrawDetections(*bytes, result->detections, options.draw); !s.ok()) {
          PrintError(s);
          exit_code = 1;
        }
      }
    } else if (classifier) {
      Result<predict::Classification> result = classifier->ClassifyImage(*bytes);
      if (!result.ok()) {
        PrintError(result.status().WithContext(path));
        exit_code = 1;
        continue;
      }
      std::printf("%s\n", http::PredictionJson(*result, LocalEnvelope(*classifier)).c_str());
      if (result->int8_fallback) {
        spdlog::info("int8: {}: near tie (top-two log-odds margin {:.4f} < {:.4f}): fp32 answered", path,
                     *result->int8_margin, classifier->int8_report()->fallback.bound);
      }
    } else {
      Result<std::string> body = PostImage(options.server, *bytes);
      if (!body.ok()) {
        PrintError(body.status().WithContext(path));
        exit_code = 1;
        continue;
      }
      std::printf("%s\n", body->c_str());
    }
    std::fflush(stdout);
  }
  if (const predict::Int8FallbackCounts* counts = classifier ? classifier->int8_fallback_counts() : nullptr) {
    spdlog::info("int8: fp32 answered {} of {} image(s) (near ties, --int8-fallback)", counts->fallbacks(),
                 counts->inferences());
  }
  return exit_code;
}

}  // namespace edgevision::cli
