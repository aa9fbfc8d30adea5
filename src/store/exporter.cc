#include "store/exporter.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>
#include <sstream>
#include <string_view>

#include "store/time_text.h"

namespace edgevision::store {

namespace {

// RFC 4180 field: quoted when it holds a comma, quote or line break. A text
// that a spreadsheet would run as a formula (=, +, -, @, tab, CR first:
// project names, tags and labels come from clients) gets a leading ' (OWASP
// "CSV injection").
std::string CsvField(const std::string& text) {
  const bool formula = !text.empty() && std::string_view("=+-@\t\r").find(text.front()) != std::string_view::npos;
  const std::string s = formula ? "'" + text : text;
  if (!formula && s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

// A JSON string literal (nlohmann's escaping; invalid UTF-8 replaced).
std::string JsonString(const std::string& s) {
  return nlohmann::json(s).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// [{"tag":"Apple","probability":0.99},...] for the manifest's predictions column.
std::string PredictionsJson(const std::vector<StoredPrediction>& predictions) {
  std::string out = "[";
  for (size_t i = 0; i < predictions.size(); ++i) {
    if (i) out += ",";
    out += "{\"tag\":" + JsonString(predictions[i].tag) +
           ",\"probability\":" + Number(predictions[i].probability) + "}";
  }
  return out + "]";
}

// A detection capture's regions as JSON for the manifest's predictions column.
std::string RegionsJson(const std::vector<Region>& regions) {
  std::string out = "[";
  for (size_t i = 0; i < regions.size(); ++i) {
    const detect::BoundingBox& b = regions[i].box;
    if (i) out += ",";
    out += "{\"tag\":" + JsonString(regions[i].tag) + ",\"left\":" + Number(b.left) +
           ",\"top\":" + Number(b.top) + ",\"width\":" + Number(b.width) +
           ",\"height\":" + Number(b.height) + "}";
  }
  return out + "]";
}

// One exported detection image, for customvision.json and coco.json.
struct DetectionEntry {
  std::string file;  // relative to the export folder
  Capture capture;
  std::vector<Region> regions;
  std::string source;  // "regions" | "predicted"
};

std::span<const uint8_t> Bytes(const std::string& text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

std::string Pretty(const nlohmann::json& doc) {
  return doc.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

// Custom Vision training's ImageFileCreateBatch, without the image bytes:
// each image's file and its regions {tagName, left, top, width, height}
// (the API's Region has tagId, which only the project knows: create the
// tags, then replace each tagName by its id), plus the tags used.
std::string CustomVisionJson(const std::vector<DetectionEntry>& entries,
                             const std::set<std::string>& tags) {
  using nlohmann::json;
  json images = json::array();
  for (const DetectionEntry& e : entries) {
    json regions = json::array();
    for (const Region& r : e.regions) {
      regions.push_back({{"tagName", r.tag},
                         {"left", r.box.left},
                         {"top", r.box.top},
                         {"width", r.box.width},
                         {"height", r.box.height}});
    }
    images.push_back({{"name", e.file.substr(e.file.rfind('/') + 1)},
                      {"file", e.file},
                      {"captureId", e.capture.id},
                      {"source", e.source},
                      {"regions", std::move(regions)}});
  }
  json tag_list = json::array();
  for (const std::string& t : tags) tag_list.push_back({{"name", t}});
  return Pretty({{"projectType", "ObjectDetection"},
                 {"tags", std::move(tag_list)},
                 {"images", std::move(images)}});
}

// COCO object detection: pixel boxes [x, y, width, height] from the top-left
// corner; category ids 1.. in tag-name order.
std::string CocoJson(const std::vector<DetectionEntry>& entries, const std::set<std::string>& tags) {
  using nlohmann::json;
  std::map<std::string, int> category;
  json categories = json::array();
  for (const std::string& t : tags) {
    const int id = static_cast<int>(category.size()) + 1;
    category[t] = id;
    categories.push_back({{"id", id}, {"name", t}, {"supercategory", ""}});
  }
  json images = json::array();
  json annotations = json::array();
  for (size_t i = 0; i < entries.size(); ++i) {
    const DetectionEntry& e = entries[i];
    const double w = e.capture.image_width, h = e.capture.image_height;
    images.push_back({{"id", i + 1},
                      {"file_name", e.file},
                      {"width", e.capture.image_width},
                      {"height", e.capture.image_height}});
    for (const Region& r : e.regions) {
      const double bw = r.box.width * w, bh = r.box.height * h;
      annotations.push_back({{"id", annotations.size() + 1},
                             {"image_id", i + 1},
                             {"category_id", category[r.tag]},
                             {"bbox", {r.box.left * w, r.box.top * h, bw, bh}},
                             {"area", bw * bh},
                             {"iscrowd", 0}});
    }
  }
  return Pretty({{"info", {{"description", "edgevision capture export"}}},
                 {"images", std::move(images)},
                 {"annotations", std::move(annotations)},
                 {"categories", std::move(categories)}});
}

const char* kManifestHeader =
    "file,tag,tag_source,capture_id,created,route,project,iteration,model_sha1,predicted_tag,"
    "predicted_probability,label,reviewed,image_sha256,image_format,image_width,image_height,"
    "predictions\n";

}  // namespace

std::vector<Region> RegionsFromDetections(const std::vector<StoredDetection>& detections) {
  std::vector<Region> out;
  for (const StoredDetection& d : detections) {
    // Only a side past the border moves; a box inside keeps its numbers.
    detect::BoundingBox b = d.box;
    if (b.left < 0) {
      b.width += b.left;
      b.left = 0;
    }
    if (b.top < 0) {
      b.height += b.top;
      b.top = 0;
    }
    if (b.left + b.width > 1) b.width = 1 - b.left;
    if (b.top + b.height > 1) b.height = 1 - b.top;
    if (!(b.width > 0 && b.height > 0 && b.left < 1 && b.top < 1)) continue;
    out.push_back({d.tag, b});
  }
  return out;
}

std::string TagFolderName(const std::string& tag) {
  std::string out;
  for (unsigned char c : tag) {
    if (c < 0x20 || c == 0x7f ||
        std::string_view("/\\:*?\"<>|").find(static_cast<char>(c)) != std::string_view::npos) {
      out += '_';
    } else {
      out += static_cast<char>(c);
    }
  }
  // No leading/trailing spaces or dots (Windows drops them; "." and ".." are special).
  while (!out.empty() && (out.back() == ' ' || out.back() == '.')) out.back() = '_';
  while (!out.empty() && (out.front() == ' ' || out.front() == '.')) out.front() = '_';
  if (out.empty()) out = "_";
  return out;
}

Result<ExportSummary> ExportDataset(const CaptureStore& store, const ExportOptions& options,
                                    Env* env,
                                    const std::function<void(int64_t, int64_t)>& progress) {
  if (options.out_dir.empty()) return InvalidArgument("export needs an output folder (--out)");
  std::string out = options.out_dir;
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  if (env->FileExists(out)) {
    if (!env->IsDirectory(out))
      return InvalidArgument("export: " + out + " exists and is not a folder");
    EV_ASSIGN_OR_RETURN(std::vector<std::string> entries, env->ListDir(out));
    if (!entries.empty())
      return InvalidArgument("export: " + out + " is not empty; choose a new folder");
  }
  EV_RETURN_IF_ERROR(env->CreateDir(out));

  CaptureQuery query = options.filter;
  query.after.reset();
  query.oldest_first = true;
  query.limit = kMaxPageSize;
  ExportSummary summary;
  EV_ASSIGN_OR_RETURN(summary.matched, store.Count(query));

  std::string manifest = kManifestHeader;
  std::map<std::string, std::string> folders;  // tag -> folder name
  // "images" holds detection images; a tag of that name gets "images~2".
  std::set<std::string> used_folders = {kDetectionImagesFolder};
  std::set<std::string> written;  // "<folder>/<file>"
  std::vector<DetectionEntry> detection_entries;  // for the JSON files
  bool images_folder = false;
  std::set<std::string> detection_tags;
  auto add_row = [&manifest](const std::vector<std::string>& fields) {
    for (size_t i = 0; i < fields.size(); ++i) {
      if (i) manifest += ',';
      manifest += CsvField(fields[i]);
    }
    manifest += '\n';
  };
  // Writes the capture's image to `file` once; false when retention removed it.
  auto write_image = [&](const Capture& c, const std::string& file) -> Result<bool> {
    if (written.count(file)) return true;
    Result<std::vector<uint8_t>> image = store.ReadImage(c);
    if (!image.ok()) {
      if (image.status().code() != StatusCode::kNotFound) return image.status();
      ++summary.missing;
      return false;
    }
    EV_RETURN_IF_ERROR(WriteFile(env, out + "/" + file, *image));
    written.insert(file);
    ++summary.images_written;
    return true;
  };
  static const std::set<std::string> kTrainable = {"jpeg", "png", "bmp", "gif"};
  int64_t done = 0;
  while (true) {
    EV_ASSIGN_OR_RETURN(CapturePage page, store.List(query));
    for (const Capture& c : page.captures) {
      ++done;
      if (c.kind == CaptureKind::kDetection) {
        std::optional<std::vector<Region>> regions;
        std::string source;
        if (c.regions) {
          regions = *c.regions;
          source = "regions";
        } else if (!options.include_predicted) {
          ++summary.skipped_unreviewed;
        } else {
          regions = RegionsFromDetections(c.detections);
          source = "predicted";
        }
        if (regions) {
          if (!images_folder) {
            EV_RETURN_IF_ERROR(env->CreateDir(out + "/" + kDetectionImagesFolder));
            images_folder = true;
          }
          const std::string file = std::string(kDetectionImagesFolder) + "/" + c.image_sha256 +
                                   "." + ExtensionForFormat(c.image_format);
          EV_ASSIGN_OR_RETURN(const bool ok, write_image(c, file));
          if (ok) {
            ++summary.exported;
            ++summary.detection_images;
            if (!kTrainable.count(c.image_format)) ++summary.unsupported_format;
            for (const Region& r : *regions) {
              ++summary.per_tag[r.tag];
              ++summary.regions;
              detection_tags.insert(r.tag);
            }
            add_row({file, "", source, c.id, FormatTime(c.created), c.route, c.project,
                     c.iteration, c.model_sha1, c.top_tag,
                     c.top_tag.empty() ? "" : Number(c.top_probability), "",
                     c.reviewed ? FormatTime(*c.reviewed) : "", c.image_sha256, c.image_format,
                     std::to_string(c.image_width), std::to_string(c.image_height),
                     RegionsJson(*regions)});
            detection_entries.push_back({file, c, std::move(*regions), source});
          }
        }
        if (progress) progress(done, std::max(done, summary.matched));
        continue;
      }
      std::string tag;
      std::string source;
      if (c.label) {
        tag = *c.label;
        source = "label";
      } else if (!options.include_predicted) {
        ++summary.skipped_unreviewed;
      } else if (c.top_tag.empty()) {
        ++summary.skipped_no_tag;
      } else {
        tag = c.top_tag;
        source = "predicted";
      }
      if (!source.empty()) {
        auto [it, inserted] = folders.emplace(tag, "");
        if (inserted) {
          std::string name = TagFolderName(tag);
          // Distinct tags that map to the same folder name get a suffix.
          for (int n = 2; used_folders.count(name); ++n)
            name = TagFolderName(tag) + "~" + std::to_string(n);
          used_folders.insert(name);
          it->second = name;
          EV_RETURN_IF_ERROR(env->CreateDir(out + "/" + name));
        }
        const std::string file =
            it->second + "/" + c.image_sha256 + "." + ExtensionForFormat(c.image_format);
        EV_ASSIGN_OR_RETURN(const bool ok, write_image(c, file));
        if (ok) {
          ++summary.exported;
          if (!kTrainable.count(c.image_format)) ++summary.unsupported_format;
          ++summary.per_tag[tag];
          add_row({file,
                   tag,
                   source,
                   c.id,
                   FormatTime(c.created),
                   c.route,
                   c.project,
                   c.iteration,
                   c.model_sha1,
                   c.top_tag,
                   c.top_tag.empty() ? "" : Number(c.top_probability),
                   c.label.value_or(""),
                   c.reviewed ? FormatTime(*c.reviewed) : "",
                   c.image_sha256,
                   c.image_format,
                   std::to_string(c.image_width),
                   std::to_string(c.image_height),
                   PredictionsJson(c.predictions)});
        }
      }
      if (progress) progress(done, std::max(done, summary.matched));
    }
    if (!page.next) break;
    query.after = page.next;
  }
  if (!detection_entries.empty()) {
    summary.customvision = out + "/customvision.json";
    summary.coco = out + "/coco.json";
    EV_RETURN_IF_ERROR(WriteFile(env, summary.customvision,
                                 Bytes(CustomVisionJson(detection_entries, detection_tags))));
    EV_RETURN_IF_ERROR(
        WriteFile(env, summary.coco, Bytes(CocoJson(detection_entries, detection_tags))));
  }
  summary.manifest = out + "/manifest.csv";
  EV_RETURN_IF_ERROR(WriteFile(env, summary.manifest, Bytes(manifest)));
  return summary;
}

}  // namespace edgevision::store
