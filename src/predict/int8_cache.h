// The int8 calibration cache's file (predict/int8_mode.h): one JSON document
// per model and image set, `<data-dir>/int8-calibration/<model sha1>-<set
// hash>.json`, holding the calibration (each value's range, the channel
// means, the float32 nodes) and the report's agreement, mixed precision and
// fallback bound.
//
// The report's structs are written and read through one field list each
// (int8_cache.cc): a field is added to both directions or to neither. The
// same lists give `inspect --json` and GET /health their "mixed_precision"
// and "fallback" objects (Int8ReportJson).
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "core/status.h"
#include "engine/int8_backend.h"
#include "graph/graph.h"
#include "predict/int8_report.h"

namespace edgevision::predict {

// The cache's document: calibration `c` of the images hashed `images_sha256`
// (the report's source and image count) for the model file hashed
// `model_sha1`, with report.agreement, .mixed and .fallback (not
// fallback.enabled: that is the run's option).
nlohmann::json Int8CacheJson(const engine::Int8Calibration& c, const Int8Report& report, const std::string& model_sha1,
                             const std::string& images_sha256);

// The calibration cached in `file` for `graph` (every value named as in the
// graph), with report->agreement, ->mixed and ->fallback (not ->fallback.enabled)
// set from it; nullopt, and `report` untouched, when the file is missing,
// of another version, damaged or of another graph (a cache is recalibrated,
// never trusted).
std::optional<engine::Int8Calibration> ReadInt8Cache(const std::filesystem::path& file, const graph::Graph& graph,
                                                     Int8Report* report);

// Writes `doc` to `file` durably (core/durable_files.h: temp file, fsync,
// rename, fsync of the folder; mode 0666 less the umask, the folder created
// with the default modes) and removes the other caches (.json) in its
// folder: those of other models or image sets. A failed write leaves the
// old file as it was. Errors: IOError (ResourceExhausted for a full disk).
Status WriteInt8Cache(const std::filesystem::path& file, const nlohmann::json& doc);

// The "mixed_precision" object of the cache and of Int8ReportJson.
nlohmann::json Int8MixedJson(const Int8MixedPrecision& m);
// The "fallback" object of the cache, and of Int8ReportJson before it adds
// `enabled` and the live counts.
nlohmann::json Int8FallbackJson(const Int8FallbackBound& b);

}  // namespace edgevision::predict
