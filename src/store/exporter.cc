#include "store/exporter.h"

#include <nlohmann/json.hpp>

#include <cstdio>
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

const char* kManifestHeader =
    "file,tag,tag_source,capture_id,created,route,project,iteration,model_sha1,predicted_tag,"
    "predicted_probability,label,reviewed,image_sha256,image_format,image_width,image_height,"
    "predictions\n";

}  // namespace

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
  std::set<std::string> used_folders;
  std::set<std::string> written;  // "<folder>/<file>"
  int64_t done = 0;
  while (true) {
    EV_ASSIGN_OR_RETURN(CapturePage page, store.List(query));
    for (const Capture& c : page.captures) {
      ++done;
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
        bool ok = true;
        if (!written.count(file)) {
          Result<std::vector<uint8_t>> image = store.ReadImage(c);
          if (!image.ok()) {
            if (image.status().code() != StatusCode::kNotFound) return image.status();
            ++summary.missing;
            ok = false;
          } else {
            EV_RETURN_IF_ERROR(WriteFile(env, out + "/" + file, *image));
            written.insert(file);
            ++summary.images_written;
          }
        }
        if (ok) {
          ++summary.exported;
          static const std::set<std::string> kTrainable = {"jpeg", "png", "bmp", "gif"};
          if (!kTrainable.count(c.image_format)) ++summary.unsupported_format;
          ++summary.per_tag[tag];
          const std::vector<std::string> fields = {
              file,
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
              PredictionsJson(c.predictions)};
          for (size_t i = 0; i < fields.size(); ++i) {
            if (i) manifest += ',';
            manifest += CsvField(fields[i]);
          }
          manifest += '\n';
        }
      }
      if (progress) progress(done, std::max(done, summary.matched));
    }
    if (!page.next) break;
    query.after = page.next;
  }
  summary.manifest = out + "/manifest.csv";
  EV_RETURN_IF_ERROR(
      WriteFile(env, summary.manifest,
                std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(manifest.data()),
                                         manifest.size())));
  return summary;
}

}  // namespace edgevision::store
