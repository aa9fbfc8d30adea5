#include "predict/int8_cache.h"

#include <concepts>
#include <fstream>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/durable_files.h"
#include "predict/int8_fallback.h"
#include "predict/int8_mixed.h"

namespace edgevision::predict {

namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// Bump when the engine's int8 program or the cache's fields change meaning
// (5: channel means for bias correction; 6: the leading float32 prefix of
// mixed precision; 7: its budget depends on the int16 kernel; 8: the
// confidence fallback's margin error; 9: the prefix's tolerance depends on
// the near ties, predict/int8_mixed.h — an older cache is recalibrated).
constexpr int kCacheVersion = 9;

// The field lists: `visit(place, member)` for each member a struct keeps in
// its JSON object, `place` a JSON pointer within that object, on the struct
// or the const struct: one list writes (FieldsJson) and reads (ReadFields).
// Members left out are not stored: derived ones (Int8Agreement::top1_rate)
// and the run's option (Int8FallbackBound::enabled).
template <typename S, typename T>
concept StructOf = std::same_as<std::remove_const_t<S>, T>;  // T or const T

void ForEachField(StructOf<Int8Agreement> auto& a, auto&& visit) {
  visit("/images", a.images);
  visit("/top1_agree", a.top1_agree);
  visit("/mean_abs_diff", a.mean_abs_diff);
  visit("/max_abs_diff", a.max_abs_diff);
}

void ForEachField(StructOf<Int8MixedPrecision> auto& m, auto&& visit) {
  visit("/float_nodes", m.float_nodes);
  visit("/leading/nodes", m.leading_nodes);
  visit("/leading/multiply_add_share", m.leading_share);
  visit("/leading/tolerance", m.leading_tolerance);
  visit("/leading/log_odds_error", m.leading_error);
  visit("/leading/all_int8_log_odds_error", m.all_int8_error);
  visit("/bar_met", m.bar_met);
  visit("/inputs", m.inputs);
  visit("/top1_agree", m.top1_agree);
  visit("/max_abs_prob_diff", m.max_abs_diff);
  visit("/all_int8_max_abs_prob_diff", m.all_int8_max_abs_diff);
  visit("/trials", m.trials);
}

void ForEachField(StructOf<Int8FallbackBound> auto& b, auto&& visit) {
  visit("/inputs", b.inputs);
  visit("/near_tie_inputs", b.near_tie_inputs);
  visit("/max_margin_error", b.max_margin_error);
  visit("/safety_factor", b.safety_factor);
  visit("/bound", b.bound);
  visit("/below_bound", b.below_bound);
}

template <typename S>
json FieldsJson(const S& s) {
  json j = json::object();
  ForEachField(s, [&](const char* place, const auto& member) { j[json::json_pointer(place)] = member; });
  return j;
}

// One member from `j` (an object); false when missing or of another type.
bool ReadValue(const json& j, int* out) {
  if (!j.is_number_integer()) return false;
  *out = j.get<int>();
  return true;
}
bool ReadValue(const json& j, double* out) {
  if (!j.is_number()) return false;
  *out = j.get<double>();
  return true;
}
bool ReadValue(const json& j, bool* out) {
  if (!j.is_boolean()) return false;
  *out = j.get<bool>();
  return true;
}
bool ReadValue(const json& j, std::vector<std::string>* out) {
  if (!j.is_array()) return false;
  std::vector<std::string> strings;
  for (const json& s : j) {
    if (!s.is_string()) return false;
    strings.push_back(s.get<std::string>());
  }
  *out = std::move(strings);
  return true;
}

// The inverse of FieldsJson: every listed member of *s from `j`; false, and
// *s untouched, when `j` is not an object or a member is missing or of
// another type.
template <typename S>
bool ReadFields(const json& j, S* s) {
  if (!j.is_object()) return false;
  S read = *s;  // members not in the list keep their values
  bool ok = true;
  ForEachField(read, [&](const char* place, auto& member) {
    const json::json_pointer at(place);
    ok = ok && j.contains(at) && ReadValue(j.at(at), &member);
  });
  if (ok) *s = std::move(read);
  return ok;
}

// The cache's mixed_precision object; false when a field is missing or of
// another type, the prefix is longer than the float32 nodes, or it was chosen
// under another budget than this machine's (a cache written on an x86 with
// the int16 kernel, copied to a Pi, is recalibrated there: its longer prefix
// would run in float32).
bool ReadMixed(const json& j, Int8MixedPrecision* m) {
  Int8MixedPrecision read;
  if (!ReadFields(j, &read)) return false;
  const json::json_pointer budget("/leading/budget");
  if (!j.contains(budget) || j.at(budget) != json(LeadingBudget())) return false;
  if (read.leading_nodes < 0 || static_cast<size_t>(read.leading_nodes) > read.float_nodes.size()) return false;
  *m = std::move(read);
  return true;
}

// The cache's fallback object; false when a field is missing or the near-tie
// margin or the safety factor is not this build's (the bound and
// below_bound depend on them).
bool ReadFallback(const json& j, Int8FallbackBound* b) {
  Int8FallbackBound read = *b;
  if (!ReadFields(j, &read) || j.value("near_tie_margin", json()) != json(kFallbackNearTieMargin) ||
      read.safety_factor != kFallbackSafetyFactor) {
    return false;
  }
  *b = read;
  return true;
}

}  // namespace

json Int8MixedJson(const Int8MixedPrecision& m) {
  json j = FieldsJson(m);
  j["leading"]["budget"] = LeadingBudget();
  j["bar"] = {{"top1", "all"}, {"max_abs_prob_diff", kMixedMaxProbDiff}};
  return j;
}

json Int8FallbackJson(const Int8FallbackBound& b) {
  json j = FieldsJson(b);
  j["near_tie_margin"] = kFallbackNearTieMargin;
  return j;
}

// The calibration and the key are written here only: the reader checks the
// graph's value names, and the key is the file's name.
json Int8CacheJson(const engine::Int8Calibration& c, const Int8Report& r, const std::string& model_sha1,
                   const std::string& images_sha256) {
  json ranges = json::array();
  for (const engine::ValueRange& v : c.ranges) ranges.push_back({v.min, v.max});
  json means = json::array();  // [] without bias correction
  for (const std::vector<float>& m : c.channel_means) means.push_back(m);
  return json{{"version", kCacheVersion},
              {"model_sha1", model_sha1},
              {"images_sha256", images_sha256},
              {"source", r.calibration_source},
              {"images", r.calibration_images},
              {"agreement", FieldsJson(r.agreement)},
              {"mixed_precision", Int8MixedJson(r.mixed)},
              {"fallback", Int8FallbackJson(r.fallback)},
              {"value_names", c.value_names},
              {"ranges", std::move(ranges)},
              {"channel_means", std::move(means)}};
}

std::optional<engine::Int8Calibration> ReadInt8Cache(const fs::path& file, const graph::Graph& graph,
                                                     Int8Report* report) {
  std::ifstream in(file);
  if (!in) return std::nullopt;
  json doc = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || doc.value("version", 0) != kCacheVersion) return std::nullopt;
  const json& names = doc["value_names"];
  const json& ranges = doc["ranges"];
  const json& means = doc["channel_means"];
  if (!names.is_array() || !ranges.is_array() || !means.is_array() || names.size() != graph.values.size() ||
      ranges.size() != graph.values.size() || (!means.empty() && means.size() != graph.values.size())) {
    return std::nullopt;
  }
  engine::Int8Calibration c;
  for (size_t v = 0; v < graph.values.size(); ++v) {
    if (!names[v].is_string() || names[v].get<std::string>() != graph.values[v].name) return std::nullopt;
    const json& r = ranges[v];
    if (!r.is_array() || r.size() != 2 || !r[0].is_number() || !r[1].is_number()) return std::nullopt;
    c.value_names.push_back(graph.values[v].name);
    c.ranges.push_back({r[0].get<float>(), r[1].get<float>()});
  }
  for (const json& m : means) {
    if (!m.is_array()) return std::nullopt;
    std::vector<float>& channel = c.channel_means.emplace_back();
    for (const json& x : m) {
      if (!x.is_number()) return std::nullopt;
      channel.push_back(x.get<float>());
    }
  }
  Int8Agreement agreement = report->agreement;
  Int8MixedPrecision mixed;
  Int8FallbackBound fallback = report->fallback;
  if (!ReadFields(doc["agreement"], &agreement) || !ReadMixed(doc["mixed_precision"], &mixed) ||
      !ReadFallback(doc["fallback"], &fallback)) {
    return std::nullopt;
  }
  agreement.top1_rate = agreement.images ? static_cast<double>(agreement.top1_agree) / agreement.images : 0;
  c.float_nodes = mixed.float_nodes;
  report->agreement = agreement;
  report->mixed = std::move(mixed);
  report->fallback = fallback;
  return c;
}

Status WriteInt8Cache(const fs::path& file, const json& doc) {
  std::error_code ec;
  // The folder keeps the data folder's modes (no chmod): `inspect --precision
  // int8` may read it as another user than `serve`.
  fs::create_directories(file.parent_path(), ec);
  if (ec) return IOError(file.parent_path().string() + ": " + ec.message());
  EV_RETURN_IF_ERROR(WriteFileAtomically(file.string(), doc.dump(), kSharedFileMode));
  for (const fs::directory_entry& e : fs::directory_iterator(file.parent_path(), ec)) {
    if (e.path() != file && e.path().extension() == ".json") fs::remove(e.path(), ec);
  }
  return Status::Ok();
}

}  // namespace edgevision::predict
