// TF.js graph model import: model.json + its weight files.
//
// model.json (tensorflowjs_converter's "graph-model" format) holds
// `modelTopology`, a TensorFlow GraphDef written as protobuf JSON with every
// Const's value left out, and `weightsManifest`: groups of weight files
// ("group1-shard1of2.bin", ... or Custom Vision's "weights.bin") whose
// concatenated bytes hold the constants in the order listed, each float32 or
// int32, or float16 when the entry says `"quantization": {"dtype":
// "float16"}`. The importer parses the topology into GraphDef, puts each
// weight back into its Const node and hands the frozen graph to the GraphDef
// importer (tf_importer.cc). The byte counts must add up exactly.
//
// Colour: Microsoft's TF.js runtime (customvision-tfjs) feeds RGB when the
// model's userDefinedMetadata says "Image.BitmapPixelFormat": "Rgb8" (S1
// exports) or the model is an S1 detector (three outputs, its
// is_new_od_model) and BGR otherwise, whatever the input is called; the
// model carries that as declared_color.
#include <google/protobuf/util/json_util.h>

#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/import_common.h"
#include "model/importer.h"
#include "model/schemas/tf_graph.pb.h"
#include "model/tf_graph_import.h"

namespace edgevision::model {

namespace tf = ::edgevision::tf;

namespace {

using nlohmann::json;

Result<json> ParseModelJson(std::span<const uint8_t> bytes, const std::string& label) {
  if (bytes.size() > kMaxModelFileBytes) {
    return ResourceExhausted(label + ": " + std::to_string(bytes.size()) + " bytes exceeds the " +
                             std::to_string(kMaxModelFileBytes) + "-byte limit");
  }
  json doc = json::parse(bytes.begin(), bytes.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Corrupt(label + ": not valid JSON");
  if (!doc.is_object()) return Corrupt(label + ": not a JSON object");
  const auto format = doc.find("format");
  if (format != doc.end() && format->is_string() && *format != "graph-model") {
    return Unsupported(label + ": a TF.js '" + format->get<std::string>() +
                       "'; only graph models (tensorflowjs_converter --output_format tfjs_graph_model) "
                       "are supported");
  }
  const auto topology = doc.find("modelTopology");
  if (topology == doc.end() || !topology->is_object()) {
    return Corrupt(label + ": no modelTopology object (not a TF.js graph model)");
  }
  const auto manifest = doc.find("weightsManifest");
  if (manifest == doc.end() || !manifest->is_array()) {
    return Corrupt(label + ": no weightsManifest array");
  }
  return doc;
}

struct WeightSpec {
  std::string name;
  graph::Shape shape;
  std::string dtype;  // "float32", "int32", or "float16" (quantized float32)
};

int ElementBytes(const std::string& dtype) { return dtype == "float16" ? 2 : 4; }

Result<std::vector<WeightSpec>> ReadSpecs(const json& group, const std::string& label, size_t g) {
  const std::string where = label + ": weightsManifest[" + std::to_string(g) + "]";
  const auto weights = group.find("weights");
  if (weights == group.end() || !weights->is_array()) return Corrupt(where + " has no weights array");
  std::vector<WeightSpec> specs;
  for (const json& w : *weights) {
    if (!w.is_object() || !w.contains("name") || !w["name"].is_string() || !w.contains("shape") ||
        !w["shape"].is_array() || !w.contains("dtype") || !w["dtype"].is_string()) {
      return Corrupt(where + ": a weight without name, shape and dtype");
    }
    WeightSpec s;
    s.name = w["name"].get<std::string>();
    for (const json& d : w["shape"]) {
      if (!d.is_number_integer()) return Corrupt(where + ": weight '" + s.name + "' has a bad shape");
      s.shape.push_back(d.get<int64_t>());
    }
    s.dtype = w["dtype"].get<std::string>();
    if (const auto q = w.find("quantization"); q != w.end()) {
      const std::string qd = q->is_object() && q->contains("dtype") && (*q)["dtype"].is_string()
                                 ? (*q)["dtype"].get<std::string>()
                                 : std::string("?");
      if (qd != "float16" || s.dtype != "float32") {
        return Unsupported(where + ": weight '" + s.name + "' is quantized to " + qd +
                           "; float32, int32 and float16-quantized weights are supported");
      }
      s.dtype = "float16";
    } else if (s.dtype != "float32" && s.dtype != "int32") {
      return Unsupported(where + ": weight '" + s.name + "' is of type " + s.dtype +
                         "; float32 and int32 weights are supported");
    }
    specs.push_back(std::move(s));
  }
  return specs;
}

Result<std::vector<std::string>> Paths(const json& group, const std::string& label, size_t g) {
  const auto paths = group.find("paths");
  if (paths == group.end() || !paths->is_array() || paths->empty()) {
    return Corrupt(label + ": weightsManifest[" + std::to_string(g) + "] has no paths");
  }
  std::vector<std::string> out;
  for (const json& p : *paths) {
    if (!p.is_string()) return Corrupt(label + ": a weightsManifest path is not a string");
    out.push_back(p.get<std::string>());
  }
  return out;
}

// The Const's value: float32 and int32 bytes are copied, float16 widened.
tf::TensorProto ToTensor(const WeightSpec& s, const uint8_t* p, int64_t count) {
  tf::TensorProto t;
  t.set_dtype(s.dtype == "int32" ? tf::DT_INT32 : tf::DT_FLOAT);
  for (int64_t d : s.shape) t.mutable_tensor_shape()->add_dim()->set_size(d);
  if (s.dtype == "float16") {
    std::string raw(static_cast<size_t>(count) * sizeof(float), '\0');
    for (int64_t i = 0; i < count; ++i) {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      const float f = HalfToFloat(h);
      std::memcpy(raw.data() + 4 * i, &f, 4);
    }
    t.set_tensor_content(std::move(raw));
  } else {
    t.set_tensor_content(std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(count) * 4));
  }
  return t;
}

}  // namespace

Result<std::vector<std::string>> TfjsWeightPaths(std::span<const uint8_t> bytes,
                                                 const std::string& file_label) {
  EV_ASSIGN_OR_RETURN(json doc, ParseModelJson(bytes, file_label));
  std::vector<std::string> all;
  size_t g = 0;
  for (const json& group : doc["weightsManifest"]) {
    if (!group.is_object()) return Corrupt(file_label + ": a weightsManifest entry is not an object");
    EV_ASSIGN_OR_RETURN(std::vector<std::string> paths, Paths(group, file_label, g++));
    all.insert(all.end(), paths.begin(), paths.end());
  }
  return all;
}

Result<ImportedModel> ImportTfjs(std::span<const uint8_t> bytes, const std::string& file_label,
                                 const std::vector<CompanionFile>& companions) {
  EV_ASSIGN_OR_RETURN(json doc, ParseModelJson(bytes, file_label));
  tf::GraphDef def;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  const auto parsed = google::protobuf::util::JsonStringToMessage(doc["modelTopology"].dump(), &def, options);
  if (!parsed.ok()) {
    return Corrupt(file_label + ": modelTopology is not a TensorFlow GraphDef (" +
                   std::string(parsed.message()) + ")");
  }
  std::map<std::string, tf::NodeDef*> by_name;
  for (tf::NodeDef& n : *def.mutable_node()) by_name[n.name()] = &n;
  std::map<std::string, const CompanionFile*> files;
  for (const CompanionFile& c : companions) files[c.rel] = &c;

  int filled = 0;
  size_t g = 0;
  for (const json& group : doc["weightsManifest"]) {
    if (!group.is_object()) return Corrupt(file_label + ": a weightsManifest entry is not an object");
    EV_ASSIGN_OR_RETURN(std::vector<std::string> paths, Paths(group, file_label, g));
    EV_ASSIGN_OR_RETURN(std::vector<WeightSpec> specs, ReadSpecs(group, file_label, g));
    ++g;
    // The group's files, concatenated.
    std::vector<uint8_t> blob;
    std::string names;
    for (const std::string& p : paths) {
      auto it = files.find(p);
      if (it == files.end()) return NotFound(file_label + ": weight file '" + p + "' is missing");
      blob.insert(blob.end(), it->second->bytes.begin(), it->second->bytes.end());
      names += (names.empty() ? "" : " + ") + p;
    }
    uint64_t need = 0;
    for (const WeightSpec& s : specs) {
      EV_ASSIGN_OR_RETURN(int64_t count, CheckedElementCount(s.shape, "weight '" + s.name + "'"));
      need += static_cast<uint64_t>(count) * static_cast<uint64_t>(ElementBytes(s.dtype));
    }
    if (need != blob.size()) {
      return Corrupt(file_label + ": the weights listed need " + std::to_string(need) + " bytes but " +
                     names + " hold " + std::to_string(blob.size()) +
                     (blob.size() < need ? " (a weight file is truncated or missing a shard)"
                                         : " (a weight file is longer than the manifest says)"));
    }
    size_t offset = 0;
    for (const WeightSpec& s : specs) {
      const int64_t count = graph::ShapeProduct(s.shape);
      auto n = by_name.find(s.name);
      if (n == by_name.end() || n->second->op() != "Const") {
        return Corrupt(file_label + ": weight '" + s.name + "' names no Const node of modelTopology");
      }
      tf::NodeDef& node = *n->second;
      *(*node.mutable_attr())["value"].mutable_tensor() = ToTensor(s, blob.data() + offset, count);
      (*node.mutable_attr())["dtype"].set_type(s.dtype == "int32" ? tf::DT_INT32 : tf::DT_FLOAT);
      offset += static_cast<size_t>(count) * static_cast<size_t>(ElementBytes(s.dtype));
      ++filled;
    }
  }
  TfGraphOptions tf_options;
  tf_options.format = "TF.js graph model";
  // The signature names the output when the converter wrote one.
  if (const auto sig = doc.find("signature"); sig != doc.end() && sig->is_object()) {
    const auto outs = sig->find("outputs");
    if (outs != sig->end() && outs->is_object() && outs->size() == 1) {
      std::string name = outs->begin().key();
      if (const size_t colon = name.find(':'); colon != std::string::npos) name.resize(colon);
      tf_options.output_node = name;
      tf_options.output_source = "the signature's output";
    }
  }
  EV_ASSIGN_OR_RETURN(ImportedModel model, ImportTensorFlowGraph(def, file_label, tf_options));
  model.rewrites.push_back("filled " + std::to_string(filled) + " constants from " +
                           std::to_string(companions.size()) + " weight file(s)");
  std::string pixel_format;
  if (const auto meta = doc.find("userDefinedMetadata"); meta != doc.end() && meta->is_object()) {
    for (const auto& [k, v] : meta->items()) {
      if (v.is_string()) model.metadata[k] = v.get<std::string>();
    }
    const auto pf = meta->find("Image.BitmapPixelFormat");
    if (pf != meta->end() && pf->is_string()) pixel_format = pf->get<std::string>();
  }
  // customvision-tfjs: is_rgb_input = metadata['Image.BitmapPixelFormat'] == 'Rgb8' ||
  // is_new_od_model (an S1 detector: three outputs), else BGR.
  const bool s1 = model.detection_tail.has_value();
  model.declared_color = pixel_format == "Rgb8" || s1 ? image::ColorOrder::kRGB : image::ColorOrder::kBGR;
  model.declared_color_source =
      s1 ? "an S1 detector (three outputs): RGB, as Microsoft's TF.js runtime (customvision-tfjs, "
           "is_new_od_model) feeds it, 0-255"
      : pixel_format.empty()
          ? "no Image.BitmapPixelFormat in model.json's userDefinedMetadata: BGR, as Microsoft's "
            "TF.js runtime (customvision-tfjs) feeds it, 0-255"
          : "model.json's userDefinedMetadata Image.BitmapPixelFormat = " + pixel_format +
                " (customvision-tfjs: RGB only for Rgb8), 0-255";
  return model;
}

}  // namespace edgevision::model
