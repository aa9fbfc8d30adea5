#include "model/model.h"

#include <span>

#include "core/sha1.h"
#include "detect/family.h"
#include "graph/normalize.h"
#include "model/importer.h"
#include "model/manifest.h"
#include "model/package.h"

namespace edgevision::model {

namespace {

enum class Format { kOnnx, kTensorFlow, kSavedModel, kTfjs, kTflite, kUnknown };

bool EndsWith(const std::string& s, const char* suffix) {
  std::string x(suffix);
  return s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
}

// By content first (a renamed file still loads), then by extension.
Format DetectFormat(const std::vector<uint8_t>& bytes, const std::string& name) {
  // saved_model.pb (a SavedModel: field 1 is a varint, like ONNX's) and
  // model.json go by their fixed names.
  if (name == "saved_model.pb") return Format::kSavedModel;
  if (EndsWith(name, ".json")) return Format::kTfjs;
  if (bytes.size() >= 8 && bytes[4] == 'T' && bytes[5] == 'F' && bytes[6] == 'L' && bytes[7] == '3') {
    return Format::kTflite;
  }
  if (!bytes.empty()) {
    // ONNX ModelProto starts with field 1 (ir_version, varint: tag 0x08);
    // a GraphDef with field 1 (node, length-delimited: tag 0x0a).
    if (bytes[0] == 0x08) return Format::kOnnx;
    if (bytes[0] == 0x0a) return Format::kTensorFlow;
  }
  if (EndsWith(name, ".onnx")) return Format::kOnnx;
  if (EndsWith(name, ".pb")) return Format::kTensorFlow;
  if (EndsWith(name, ".tflite")) return Format::kTflite;
  return Format::kUnknown;
}

Result<ImportedModel> Import(const ExportFiles& files) {
  const std::span<const uint8_t> bytes(files.model_bytes);
  switch (DetectFormat(files.model_bytes, files.model_name)) {
    case Format::kOnnx: return ImportOnnx(bytes, files.model_label);
    case Format::kTensorFlow: return ImportTensorFlow(bytes, files.model_label);
    case Format::kTflite: return ImportTflite(bytes, files.model_label);
    case Format::kSavedModel: return ImportSavedModel(bytes, files.model_label, files.companions);
    case Format::kTfjs: return ImportTfjs(bytes, files.model_label, files.companions);
    case Format::kUnknown: break;
  }
  return Unsupported(files.model_label +
                     ": not an ONNX, TensorFlow GraphDef, SavedModel, TF.js or TFLite model");
}

// The family of a detector export: the metadata, else (and over it) the
// model's outputs (an S1 graph's are its NMS tail's).
Result<detect::FamilyDecision> DetectorFamily(const std::map<std::string, std::string>& metadata,
                                              const ImportedModel* model) {
  std::vector<std::string> outputs;
  if (model && model->detection_tail) {
    outputs = model->detection_tail->outputs;
  } else if (model) {
    for (int id : model->graph.outputs) outputs.push_back(model->graph.values[id].name);
  }
  return detect::DetectFamily(metadata, outputs);
}

// S1 exports are served from graphs that run NMS with their format's NMS
// ops (the importers split their NMS tail off); an S1 export whose graph
// does not (or does not import) is refused naming the family and, when
// known, why.
Status RefuseSsd(const ExportFiles& files, const detect::FamilyDecision& family, const std::string& why) {
  return Unsupported(files.model_label + ": ObjectDetection export, a " +
                     detect::FamilyDisplayName(family.family) + " detector (" + family.evidence +
                     "); edgevision serves S1 detectors whose graph runs NonMaxSuppression (ONNX), "
                     "NonMaxSuppressionV2..V5 or CombinedNonMaxSuppression (TensorFlow GraphDef, "
                     "SavedModel, TF.js) or "
                     "NON_MAX_SUPPRESSION_V4/V5 (TFLite): " + why);
}

// The number of classes an S1 graph's NonMaxSuppression scores ([B, C, N]),
// or -1 when the tail does not show it.
int64_t SsdClassCount(const detect::TailGraph& tail) {
  for (const detect::TailNode& n : tail.nodes) {
    if (n.op != "NonMaxSuppression" || n.inputs.size() < 2) continue;
    for (const detect::TailInput& in : tail.inputs) {
      if (in.name == n.inputs[1] && in.shape.size() == 3) return in.shape[1];
    }
  }
  return -1;
}

bool MetadataSaysDetector(const std::map<std::string, std::string>& metadata) {
  auto it = metadata.find(detect::kPostprocessMethodKey);
  return it != metadata.end() && (it->second == "Yolo" || it->second == "SSD");
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Result<LoadedModel> LoadModel(const std::string& path, const LoadLimits& limits,
                              const LoadOptions& options) {
  PackageLimits package_limits;
  package_limits.max_model_bytes = limits.max_model_bytes;
  package_limits.max_zip_uncompressed_bytes = limits.max_zip_uncompressed_bytes;
  EV_ASSIGN_OR_RETURN(ExportFiles files, ReadExport(path, package_limits));

  LoadedModel loaded;
  ModelInfo& info = loaded.info;
  info.path = path;
  info.model_file = files.model_label;
  info.model_sha1 = Sha1Hex(files.model_bytes);

  if (files.manifest) {
    EV_ASSIGN_OR_RETURN(Manifest manifest, ParseManifest(files.manifest->text, files.manifest->label));
    if (!manifest.model_file_sha1.empty() && Lower(manifest.model_file_sha1) != info.model_sha1) {
      info.warnings.push_back(files.manifest->label + ": ModelFileSHA1 " + manifest.model_file_sha1 +
                              " does not match " + files.model_label + " (sha1 " + info.model_sha1 +
                              "); loading it anyway, as real exports ship mismatched manifests");
    }
    if (!manifest.domain_type.empty()) info.domain = manifest.domain_type;
    info.iteration_id = manifest.iteration_id;
    info.manifest = std::move(manifest);
  }
  std::map<std::string, std::string> side_metadata;
  if (files.metadata) {
    EV_ASSIGN_OR_RETURN(side_metadata, ParseMetadataProperties(files.metadata->text, files.metadata->label));
  }
  if (MetadataSaysDetector(side_metadata)) info.domain = "ObjectDetection";
  bool detector = info.domain == "ObjectDetection";
  if (!detector && info.domain != "Classification") {
    return Unsupported(files.model_label + ": " + info.domain +
                       " exports are not supported yet; edgevision serves classifiers");
  }

  Result<ImportedModel> imported = Import(files);
  if (!imported.ok()) {
    if (!detector) return imported.status();
    // Say which detector it is even when its graph does not import (an S1
    // graph's NMS ops).
    Result<detect::FamilyDecision> family = DetectorFamily(side_metadata, nullptr);
    if (family.ok() && family->family == detect::DetectorFamily::kSsd &&
        DetectFormat(files.model_bytes, files.model_name) != Format::kOnnx) {
      return RefuseSsd(files, *family, imported.status().message());
    }
    return imported.status();
  }
  ImportedModel& model = imported.value();
  // A graph that runs NonMaxSuppression is a detector whatever the side
  // files say (an ONNX file on its own has none).
  if (model.detection_tail && !detector) {
    detector = true;
    info.domain = "ObjectDetection";
  }
  if (detector) {
    std::map<std::string, std::string> all = model.metadata;
    for (auto& [k, v] : side_metadata) all[k] = v;
    Result<detect::FamilyDecision> decided = DetectorFamily(all, &model);
    if (!decided.ok()) return decided.status().WithContext(files.model_label);
    detect::FamilyDecision family = std::move(decided).value();
    if (family.family == detect::DetectorFamily::kSsd && !model.detection_tail) {
      return RefuseSsd(files, family, "this " + model.format + " graph runs none");
    }
    if (family.family == detect::DetectorFamily::kYolo && model.detection_tail) {
      return Unsupported(files.model_label + ": the graph runs NonMaxSuppression, but " + family.evidence +
                         " says a compact (YOLO) detector, whose NMS the container runs outside the model");
    }
    DetectorSpec spec;
    spec.family = family.family;
    spec.family_evidence = family.evidence;
    std::vector<std::string> notes;
    Result<detect::YoloParams> params = detect::YoloParamsFromMetadata(all, &notes);
    if (!params.ok()) return params.status().WithContext(files.model_label);
    spec.yolo = std::move(params).value();
    spec.sum_order = model.format == "ONNX" ? detect::SumOrder::kSequential : detect::SumOrder::kNumpyPairwise;
    for (std::string& w : family.warnings) info.warnings.push_back(std::move(w));
    if (spec.family == detect::DetectorFamily::kYolo) {
      for (std::string& n : notes) info.rewrites.push_back(std::move(n));
    }
    if (model.detection_tail) spec.ssd_tail = *model.detection_tail;
    spec.output_float16 = model.output_float16 && !model.detection_tail;
    loaded.detector = std::move(spec);
  }

  if (model.symbolic_hw &&
      (!loaded.detector || loaded.detector->family != detect::DetectorFamily::kYolo)) {
    return Unsupported(files.model_label + ": input '" + model.input_name + "' " +
                       graph::ShapeToString(model.input_shape) +
                       " has a symbolic height/width; edgevision runs those only for compact (YOLO) "
                       "detectors, which take each image's own size. Export the model with a fixed input size");
  }
  info.format = model.format;
  info.generation = model.generation;
  info.producer = model.producer;
  info.input_name = model.input_name;
  info.input_shape = model.input_shape;
  info.input_layout = model.input_layout;
  info.output_name = model.output_name;
  info.output_activation = model.output_activation;
  info.source_ops = model.source_ops;
  info.rewrites = model.rewrites;
  info.metadata = model.metadata;

  // Preprocessing: the reference defaults (BGR, 0-255), then what the model
  // file declares, then metadata_properties.json.
  // TensorFlow-family models (GraphDef, TFLite) take 0-255 in the domain's
  // colour order whatever metadata_properties.json claims (always Rgb8 and
  // Normalized_0_1): compact models (input Placeholder) BGR, S1 models
  // (input data) RGB, as Microsoft's samples feed them and the compact
  // model's own first layer shows (it subtracts the BGR means 104/117/123).
  const bool tf_family = model.format != "ONNX";
  const bool s1_detector = loaded.detector && loaded.detector->family == detect::DetectorFamily::kSsd;
  const image::ColorOrder domain_color =
      model.input_name == "data" || s1_detector ? image::ColorOrder::kRGB : image::ColorOrder::kBGR;
  image::PreprocessSpec& spec = loaded.preprocess;
  const std::string domain_reason =
      (s1_detector ? std::string("an S1 detector (RGB)")
                   : "input '" + model.input_name + "' names the " +
                         (domain_color == image::ColorOrder::kBGR ? std::string("compact domain (BGR)")
                                                                  : std::string("S1 domain (RGB)"))) +
      ", 0-255, as Microsoft's samples feed a " + model.format + " export";
  if (tf_family) {
    spec.color = domain_color;
    info.color_reason = domain_reason;
  } else {
    info.color_reason = "no colour or range metadata: the reference defaults (BGR, 0-255)";
  }
  if (model.declared_color) spec.color = *model.declared_color;
  if (auto pf = model.metadata.find("Image.BitmapPixelFormat");
      model.declared_color || (!tf_family && pf != model.metadata.end())) {
    info.color_reason = "the model's embedded metadata" +
                        (pf != model.metadata.end() ? " (Image.BitmapPixelFormat = " + pf->second + ")"
                                                    : std::string());
  }
  if (!model.declared_color_source.empty()) info.color_reason = model.declared_color_source;
  if (!tf_family && model.metadata.count("Image.NominalPixelRange")) {
    info.color_reason += "; range from Image.NominalPixelRange = " +
                         model.metadata.at("Image.NominalPixelRange");
  }
  if (model.required_mean) spec.mean = *model.required_mean;
  EV_RETURN_IF_ERROR(ApplyMetadataToPreprocess(model.metadata, &spec).WithContext(files.model_label));
  if (files.metadata) {
    EV_ASSIGN_OR_RETURN(auto props, ParseMetadataProperties(files.metadata->text, files.metadata->label));
    for (auto& [k, v] : props) info.metadata[k] = v;
    if (tf_family) {
      bool ignored = false;
      for (const char* key : {"Image.BitmapPixelFormat", "Image.NominalPixelRange",
                              "CustomVision.Preprocess.NormalizeMean",
                              "CustomVision.Preprocess.NormalizeStd"}) {
        ignored |= props.erase(key) > 0;
      }
      if (ignored) {
        info.rewrites.push_back(files.metadata->label +
                                ": colour and range keys not applied; a " + model.format +
                                " Custom Vision model takes 0-255 " +
                                (domain_color == image::ColorOrder::kBGR ? "BGR (compact)"
                                                                         : "RGB (S1)"));
      }
    }
    if (!tf_family) {
      // ONNX: the metadata embedded in the model decides, as Microsoft's
      // ONNX samples read it (the side file says Rgb8/Normalized_0_1 for
      // every export); the side file only fills keys the model lacks.
      std::string overridden;
      for (auto it = props.begin(); it != props.end();) {
        auto embedded = model.metadata.find(it->first);
        if (embedded != model.metadata.end() && embedded->second != it->second) {
          overridden += (overridden.empty() ? "" : ", ") + it->first + " = " + it->second +
                        " (the model says " + embedded->second + ")";
          info.metadata[it->first] = embedded->second;
          it = props.erase(it);
        } else {
          ++it;
        }
      }
      if (!overridden.empty()) {
        info.rewrites.push_back(files.metadata->label + ": not applied where the model's embedded "
                                "metadata differs: " + overridden);
      }
    }
    if (!tf_family && (props.count("Image.BitmapPixelFormat") || props.count("Image.NominalPixelRange"))) {
      info.color_reason = files.metadata->label + " (the model embeds no Image.* metadata)";
    }
    EV_RETURN_IF_ERROR(ApplyMetadataToPreprocess(props, &spec).WithContext(files.metadata->label));
  }

  graph::NormalizeReport report;
  EV_RETURN_IF_ERROR(graph::Normalize(&model.graph, &report).WithContext(files.model_label));
  info.rewrites.insert(info.rewrites.end(), report.rewrites.begin(), report.rewrites.end());
  info.normalized_ops = model.graph.OpSummary();

  // The engine input is NHWC [1,H,W,3]; its size always comes from the model.
  const graph::Graph& g = model.graph;
  if (g.inputs.size() != 1 || g.outputs.size() != 1) {
    return Unsupported(files.model_label + ": expected one image input and one score output, found " +
                       std::to_string(g.inputs.size()) + " inputs and " +
                       std::to_string(g.outputs.size()) + " outputs");
  }
  const graph::Shape& in_shape = g.values[g.inputs[0]].shape;
  if (in_shape.size() != 4 || in_shape[3] != 3 || in_shape[1] <= 0 || in_shape[2] <= 0) {
    return Unsupported(files.model_label + ": input '" + model.input_name +
                       "' is not a 3-channel image tensor");
  }
  spec.input_height = static_cast<int>(in_shape[1]);
  spec.input_width = static_cast<int>(in_shape[2]);

  // The container code shipped with the export decides over the metadata
  // (classifiers; a detector's preprocessing is its family's, set below).
  if (!loaded.detector) {
    ExportEvidence evidence;
    if (files.predict_py) {
      evidence.predict_py = files.predict_py->text;
      evidence.predict_py_label = files.predict_py->label;
    }
    evidence.docker_app = files.docker_app;
    evidence.tflite = model.format == "TFLite";
    if (info.manifest) evidence.exported_date = info.manifest->exported_date;
    GenerationChoice choice = DetectGeneration(evidence);
    if (options.generation && *options.generation != choice.generation) {
      choice.reason = "--preprocess " + std::string(GenerationName(*options.generation)) +
                      " (detected: " + std::string(GenerationName(choice.generation)) + ", " +
                      choice.reason + ")";
      choice.generation = *options.generation;
    }
    // Without predict.py's word, the domain decides the colour.
    ApplyGeneration(choice.generation, choice.color, domain_color, &spec);
    if (choice.generation != Generation::kModelFile) {
      info.color_reason = choice.color ? "the export's container code (" + choice.reason + "), 0-255"
                                       : domain_reason + " (the container code does not say)";
    }
    EV_RETURN_IF_ERROR(image::ValidateSpec(spec).WithContext(files.model_label));
    info.export_generation = choice.generation;
    info.export_generation_reason = choice.reason;
    info.answer_rule = AnswerRuleOf(choice.generation);
  }
  info.label_order = options.label_order;
  const bool ssd = loaded.detector && loaded.detector->family == detect::DetectorFamily::kSsd;
  const int64_t num_scores = ssd ? SsdClassCount(loaded.detector->ssd_tail) : g.values[g.outputs[0]].NumElements();

  if (files.labels) {
    info.labels = ParseLabels(files.labels->text);
    info.labels_source = files.labels->label;
    if (!model.embedded_labels.empty() && model.embedded_labels != info.labels) {
      info.warnings.push_back(files.labels->label + " differs from the labels the model carries; using " +
                              files.labels->label);
    }
  } else if (!model.embedded_labels.empty()) {
    info.labels = model.embedded_labels;
    info.labels_source = "model (ZipMap classlabels_strings)";
  } else {
    for (int64_t i = 0; i < num_scores; ++i) info.labels.push_back(std::to_string(i));
    info.labels_source = "none found: tags named by index";
    info.warnings.push_back(files.model_label + ": no labels.txt and no labels in the model; tags are "
                                                "named by their index");
  }
  if (ssd) {
    // The S1 containers' predict.py: Image.resize to the model's input (a
    // stretch), RGB, 0..255; what the ONNX file itself declares wins, as
    // Microsoft's ONNX samples read it.
    spec = image::PreprocessSpec{};
    spec.input_height = static_cast<int>(in_shape[1]);
    spec.input_width = static_cast<int>(in_shape[2]);
    spec.color = model.declared_color.value_or(image::ColorOrder::kRGB);
    info.color_reason = model.declared_color ? (model.declared_color_source.empty() ? "the model's embedded metadata"
                                                                                    : model.declared_color_source)
                                             : "the S1 containers' predict.py (RGB, 0-255, stretched to " +
                                                   std::to_string(spec.input_width) + "x" +
                                                   std::to_string(spec.input_height) + ")";
    if (num_scores > 0 && static_cast<int64_t>(info.labels.size()) != num_scores) {
      info.warnings.push_back(info.labels_source + " has " + std::to_string(info.labels.size()) +
                              " labels but the model's NonMaxSuppression scores " + std::to_string(num_scores) +
                              " classes; a detection of a class without a label fails its request");
    }
    loaded.graph = std::move(model.graph);
    return loaded;
  }
  if (loaded.detector) {
    // The shipped object_detection.py feeds BGR 0..255 whatever the metadata
    // says, at each image's own ~512^2 size (image/detector_preprocess.h).
    spec = image::PreprocessSpec{};
    spec.input_height = static_cast<int>(in_shape[1]);
    spec.input_width = static_cast<int>(in_shape[2]);
    spec.color = image::ColorOrder::kBGR;
    const graph::Shape& out = g.values[g.outputs[0]].shape;
    const int64_t anchors = static_cast<int64_t>(loaded.detector->yolo.anchors.size());
    if (out.size() != 4 || anchors < 1 || out[3] % anchors != 0 || out[3] / anchors - 5 < 1) {
      return Unsupported(files.model_label + ": output " + graph::ShapeToString(out) +
                         " is not a compact detector's grid [1, H, W, anchors * (5 + classes)] with " +
                         std::to_string(anchors) + " anchors");
    }
    const int64_t classes = out[3] / anchors - 5;
    if (static_cast<int64_t>(info.labels.size()) != classes) {
      return InvalidArgument(info.labels_source + " has " + std::to_string(info.labels.size()) + " labels but " +
                             files.model_label + " detects " + std::to_string(classes) + " classes");
    }
    loaded.graph = std::move(model.graph);
    return loaded;
  }
  if (static_cast<int64_t>(info.labels.size()) != num_scores) {
    return InvalidArgument(info.labels_source + " has " + std::to_string(info.labels.size()) +
                           " labels but " + files.model_label + " outputs " + std::to_string(num_scores) +
                           " scores");
  }
  loaded.output_float16 = !loaded.detector && model.output_float16;
  loaded.graph = std::move(model.graph);
  return loaded;
}

}  // namespace edgevision::model
