// The values upstream publishing works with. They are plain structs: JSON
// appears only in message_codec.cc, at the wire boundary.
//
// Thread-safety: values.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "delivery/delivery_status.h"
#include "detect/detection.h"

namespace edgevision::upstream {

// One tag's score in a published result.
struct MessagePrediction {
  std::string tag;
  double probability = 0;  // rounded as the HTTP response rounds it
};

// One box of a detector's published result, as the HTTP response shows it.
struct MessageDetection {
  std::string tag;
  int tag_id = 0;          // the response's tagId (the label index)
  double probability = 0;  // rounded to 8 decimals, as the response
  detect::BoundingBox box;  // normalised, rounded, never clipped

  bool operator==(const MessageDetection& o) const {
    return tag == o.tag && tag_id == o.tag_id && probability == o.probability &&
           box.left == o.box.left && box.top == o.box.top && box.width == o.box.width &&
           box.height == o.box.height;
  }
};

// One published result (docs/upstream.md, "Message schema").
struct PredictionMessage {
  std::string id;      // the prediction id: unique, the de-duplication key
  uint64_t seq = 0;    // position in this outbox's stream: 1, 2, 3, …
  std::string stream;  // the outbox's stream id; seq restarts only with a new stream
  std::chrono::system_clock::time_point timestamp;
  std::string route;                           // e.g. "POST /image"
  std::string project;                         // route parameter, or ""
  std::string iteration;                       // the response's iteration, or ""
  std::string model_iteration_id;              // from the export's manifest, or ""
  std::string model_sha1;                      // hex SHA-1 of the model file
  std::vector<MessagePrediction> predictions;  // descending probability; empty for a detector
  // A detector's boxes in the response's order; nullopt for a classifier.
  std::optional<std::vector<MessageDetection>> detections;
  std::optional<std::string> capture_id;  // set when the image was stored
};

// A successful prediction as the publisher receives it (converted from
// predict::PredictionRecord by UpstreamObserver).
struct PredictionInput {
  std::string id;
  std::chrono::system_clock::time_point created;
  std::string route;
  std::string project;
  std::string iteration;
  std::string model_iteration_id;
  std::string model_sha1;
  std::vector<MessagePrediction> predictions;  // rounded, descending
  std::optional<std::vector<MessageDetection>> detections;  // a detector's boxes
  bool captured = false;  // the capture store kept the image (under the same id)
};

// Which predictions become messages. A prediction matches when one of its
// tags (any tag when `tags` is empty) has a probability in
// [min_probability, max_probability]; for a detector, one of its boxes.
// `enabled` false publishes nothing.
struct PublishRule {
  bool enabled = true;
  double min_probability = 0.0;
  double max_probability = 1.0;
  std::vector<std::string> tags;

  bool operator==(const PublishRule&) const = default;
};

// Capture-store settings received as the twin's desired "capture" object,
// handed to the capture store's hook. Absent fields stay as configured.
struct DesiredCapture {
  std::optional<bool> enabled;
  std::optional<double> min_probability;
  std::optional<double> max_probability;
  std::optional<std::vector<std::string>> tags;
  std::optional<int64_t> max_bytes;
  std::optional<int64_t> max_age_s;

  bool operator==(const DesiredCapture&) const = default;
};

// A model to deliver, from the twin's desired "model" object
// (docs/model-delivery.md): {"url", "sha256", "version"?}.
struct DesiredModel {
  std::string url;
  std::string sha256;
  std::string version;

  bool operator==(const DesiredModel&) const = default;
};

// Model delivery's state, reported as "modelDelivery": the very document
// GET /admin/model answers (delivery::DeliveryStatusJson).
using ReportedDelivery = delivery::DeliveryStatus;

// A live source as the twin reports it, under "sources" (docs/streams.md).
struct ReportedSource {
  std::string url;         // as /sources shows it (password redacted); "" for a refused entry
  std::string origin;      // "configured" (--source, config file) or "twin"
  std::string state;       // connecting, running, backoff, stopped; "" for a refused entry
  std::string last_error;  // the source's last error ("" none)
  std::string decoder;     // e.g. "h264", "h264_v4l2m2m" ("" before the first open)
  std::string error;       // why the desired entry was refused ("" when it was applied)

  bool operator==(const ReportedSource&) const = default;
};

// The twin's desired properties as edgevision reads them (docs/upstream.md,
// "Module twin"). Absent fields mean "as configured on the command line".
struct DesiredProperties {
  std::optional<int64_t> version;  // $version
  std::optional<bool> publish_enabled;
  std::optional<double> min_probability;
  std::optional<double> max_probability;
  std::optional<std::vector<std::string>> tags;
  std::optional<DesiredCapture> capture;
  std::optional<DesiredModel> model;
  // "sources": name -> "URL[,key=value...]" ("" stops a configured source).
  // Absent: none beyond the configured ones.
  std::map<std::string, std::string> sources;
  // Problems found while reading (a field of the wrong type or range is
  // ignored and named here); reported back in the reported properties.
  std::vector<std::string> errors;
};

// What the module reports about the loaded model.
struct ReportedModel {
  std::string file;
  std::string format;
  std::string generation;
  std::string iteration_id;
  std::string sha1;
  std::vector<std::string> labels;

  bool operator==(const ReportedModel&) const = default;
};

// The reported properties edgevision writes (docs/upstream.md).
struct ReportedProperties {
  std::string version;  // edgevision's version
  PublishRule applied;
  std::optional<int64_t> desired_version;
  std::vector<std::string> errors;
  std::optional<DesiredCapture> capture;  // as applied by the capture store
  std::string capture_status;             // "" | "applied" | the store's error
  std::optional<ReportedModel> model;
  std::optional<ReportedDelivery> delivery;
  // Every source by name; nullopt removes a name reported before (the
  // reported document is merge-patched). Empty: no "sources" member.
  std::map<std::string, std::optional<ReportedSource>> sources;
};

}  // namespace edgevision::upstream
