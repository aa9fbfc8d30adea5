#include "model/package.h"

#include <zip.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <system_error>

#include "core/zip_handles.h"
#include "model/manifest.h"

namespace edgevision::model {

namespace fs = std::filesystem;

namespace {

constexpr const char* kManifestName = "cvexport.manifest";
constexpr const char* kLabelsName = "labels.txt";
constexpr const char* kMetadataName = "metadata_properties.json";
constexpr const char* kPredictName = "predict.py";
constexpr const char* kDockerfileName = "Dockerfile";
constexpr const char* kTfjsModelName = "model.json";
constexpr const char* kSavedModelName = "saved_model.pb";
constexpr const char* kVariablesDir = "variables";

// A read-only tree of files: a folder on disk or the members of a zip.
// Paths are relative, '/'-separated.
class FileTree {
 public:
  virtual ~FileTree() = default;
  // Every regular file, relative to the root.
  virtual const std::vector<std::string>& Files() const = 0;
  // Reads one file, refusing it when larger than `max_bytes`.
  virtual Result<std::vector<uint8_t>> Read(const std::string& rel, uint64_t max_bytes) const = 0;
  // How to name `rel` in messages.
  virtual std::string Label(const std::string& rel) const = 0;
};

std::string TooLarge(const std::string& label, uint64_t size, uint64_t limit) {
  return label + " is " + std::to_string(size) + " bytes, over the limit of " +
         std::to_string(limit);
}

class DirectoryTree : public FileTree {
 public:
  DirectoryTree(fs::path root, int max_depth) : root_(std::move(root)) {
    std::error_code ec;
    auto it = fs::recursive_directory_iterator(root_, fs::directory_options::skip_permission_denied, ec);
    for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
      if (it.depth() > max_depth) {
        it.disable_recursion_pending();
        continue;
      }
      std::error_code type_ec;
      if (it->is_regular_file(type_ec)) files_.push_back(fs::relative(it->path(), root_).generic_string());
    }
    std::sort(files_.begin(), files_.end());
  }

  const std::vector<std::string>& Files() const override { return files_; }

  Result<std::vector<uint8_t>> Read(const std::string& rel, uint64_t max_bytes) const override {
    const fs::path path = root_ / rel;
    std::error_code ec;
    uint64_t size = fs::file_size(path, ec);
    if (ec) return IOError(path.string() + ": " + ec.message());
    if (size > max_bytes) return ResourceExhausted(TooLarge(path.string(), size, max_bytes));
    std::ifstream in(path, std::ios::binary);
    if (!in) return IOError(path.string() + ": cannot open for reading");
    std::vector<uint8_t> bytes(size);
    in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(size));
    if (static_cast<uint64_t>(in.gcount()) != size) return IOError(path.string() + ": short read");
    return bytes;
  }

  std::string Label(const std::string& rel) const override { return (root_ / rel).string(); }

 private:
  fs::path root_;
  std::vector<std::string> files_;
};

class ZipTree : public FileTree {
 public:
  static Result<std::unique_ptr<ZipTree>> Open(const std::string& path, const PackageLimits& limits) {
    int err = 0;
    ZipPtr zip(zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &err));
    if (!zip) {
      zip_error_t error;
      zip_error_init_with_code(&error, err);
      std::string message = path + ": not a readable zip archive (" + zip_error_strerror(&error) + ")";
      zip_error_fini(&error);
      return Corrupt(message);
    }
    auto tree = std::unique_ptr<ZipTree>(new ZipTree(path, std::move(zip)));
    uint64_t total = 0;
    zip_int64_t n = zip_get_num_entries(tree->zip_.get(), 0);
    for (zip_int64_t i = 0; i < n; ++i) {
      zip_stat_t st;
      if (zip_stat_index(tree->zip_.get(), i, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME)) continue;
      std::string name = st.name;
      if (name.empty() || name.back() == '/') continue;  // folder entry
      total += (st.valid & ZIP_STAT_SIZE) ? st.size : 0;
      tree->files_.push_back(name);
      tree->index_[name] = i;
    }
    if (total > limits.max_zip_uncompressed_bytes) {
      return ResourceExhausted(TooLarge(path + " (uncompressed)", total, limits.max_zip_uncompressed_bytes));
    }
    std::sort(tree->files_.begin(), tree->files_.end());
    return tree;
  }

  const std::vector<std::string>& Files() const override { return files_; }

  Result<std::vector<uint8_t>> Read(const std::string& rel, uint64_t max_bytes) const override {
    auto it = index_.find(rel);
    if (it == index_.end()) return NotFound(Label(rel) + ": no such member");
    zip_stat_t st;
    if (zip_stat_index(zip_.get(), it->second, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE)) {
      return Corrupt(Label(rel) + ": cannot read the member's size");
    }
    if (st.size > max_bytes) return ResourceExhausted(TooLarge(Label(rel), st.size, max_bytes));
    ZipFilePtr file(zip_fopen_index(zip_.get(), it->second, 0));
    if (!file) return Corrupt(Label(rel) + ": " + zip_strerror(zip_.get()));
    std::vector<uint8_t> bytes(st.size);
    zip_int64_t got = zip_fread(file.get(), bytes.data(), st.size);
    // A lying header must not make us read more than declared: read exactly
    // st.size bytes, then require end of data.
    uint8_t extra;
    if (got < 0 || static_cast<uint64_t>(got) != st.size || zip_fread(file.get(), &extra, 1) != 0) {
      return Corrupt(Label(rel) + ": truncated or corrupt member (" + zip_file_strerror(file.get()) + ")");
    }
    return bytes;
  }

  std::string Label(const std::string& rel) const override { return path_ + ":" + rel; }

 private:
  ZipTree(std::string path, ZipPtr zip) : path_(std::move(path)), zip_(std::move(zip)) {}

  std::string path_;
  ZipPtr zip_;
  std::vector<std::string> files_;
  std::map<std::string, zip_int64_t> index_;
};

std::string Dirname(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? "" : rel.substr(0, slash);
}

std::string Basename(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? rel : rel.substr(slash + 1);
}

int Depth(const std::string& rel) { return static_cast<int>(std::count(rel.begin(), rel.end(), '/')); }

std::string Join(const std::string& dir, const std::string& name) {
  return dir.empty() ? name : dir + "/" + name;
}

// A file name from the manifest must name a file beside it, nothing else.
bool IsPlainFileName(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\\') == std::string::npos;
}

Result<std::optional<SideFile>> ReadSide(const FileTree& tree, const std::string& rel,
                                         const PackageLimits& limits) {
  if (!std::binary_search(tree.Files().begin(), tree.Files().end(), rel)) return std::optional<SideFile>();
  EV_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, tree.Read(rel, limits.max_side_file_bytes));
  return std::optional<SideFile>(SideFile{tree.Label(rel), std::string(bytes.begin(), bytes.end())});
}

// The files the model needs beside it: a SavedModel's variables/ folder, a
// TF.js model's weight shards. `dir` is the model file's folder in `tree`.
Status ReadCompanions(const FileTree& tree, const std::string& dir, const PackageLimits& limits,
                      ExportFiles* files) {
  std::vector<std::string> wanted;
  if (files->model_name == kSavedModelName) {
    const std::string prefix = Join(dir, kVariablesDir) + "/";
    for (const std::string& rel : tree.Files()) {
      if (rel.compare(0, prefix.size(), prefix) == 0 && Depth(rel) == Depth(prefix)) {
        wanted.push_back(rel.substr(dir.empty() ? 0 : dir.size() + 1));
      }
    }
  } else if (files->model_name == kTfjsModelName) {
    EV_ASSIGN_OR_RETURN(std::vector<std::string> paths,
                        TfjsWeightPaths(files->model_bytes, files->model_label));
    for (const std::string& p : paths) {
      if (!IsPlainFileName(p)) {
        return Corrupt(files->model_label + ": weightsManifest path '" + p +
                       "' is not a file name beside model.json");
      }
      if (!std::binary_search(tree.Files().begin(), tree.Files().end(), Join(dir, p))) {
        return NotFound(tree.Label(Join(dir, p)) + ": weight file listed by " + files->model_label +
                        " is missing");
      }
      wanted.push_back(p);
    }
  }
  uint64_t total = files->model_bytes.size();
  for (const std::string& rel : wanted) {
    const std::string full = Join(dir, rel);
    const uint64_t left = limits.max_model_bytes > total ? limits.max_model_bytes - total : 0;
    EV_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, tree.Read(full, left));
    total += bytes.size();
    files->companions.push_back(CompanionFile{rel, tree.Label(full), std::move(bytes)});
  }
  return Status::Ok();
}

Result<ExportFiles> ReadFromTree(const FileTree& tree, const std::string& path, const PackageLimits& limits) {
  // The export's folder is the shallowest one holding a manifest or model
  // files; a Dockerfile export keeps them in app/.
  std::vector<std::string> candidates;
  int best_depth = limits.max_search_depth + 1;
  for (const std::string& rel : tree.Files()) {
    const std::string name = Basename(rel);
    if (name != kManifestName && !IsModelFileName(name)) continue;
    if (Depth(rel) > limits.max_search_depth) continue;
    best_depth = std::min(best_depth, Depth(rel));
    candidates.push_back(rel);
  }
  std::vector<std::string> roots;
  for (const std::string& rel : candidates) {
    if (Depth(rel) == best_depth && std::find(roots.begin(), roots.end(), Dirname(rel)) == roots.end()) {
      roots.push_back(Dirname(rel));
    }
  }
  if (roots.empty()) {
    return NotFound(path + ": no model found (looked for cvexport.manifest, model.pb, model.onnx, "
                           "model.tflite, also in app/ and sub-folders)");
  }
  if (roots.size() > 1) {
    std::string list;
    for (const std::string& r : roots) list += (list.empty() ? "" : ", ") + (r.empty() ? "." : r);
    return InvalidArgument(path + ": several exports found (" + list + "); point --model at one");
  }
  const std::string root = roots.front();

  ExportFiles files;
  std::string model_rel, labels_rel = Join(root, kLabelsName), metadata_rel = Join(root, kMetadataName);
  EV_ASSIGN_OR_RETURN(files.manifest, ReadSide(tree, Join(root, kManifestName), limits));
  if (files.manifest) {
    // Honour the manifest's file names when it has sane ones; a broken
    // manifest is reported by model loading, here we fall back to defaults.
    Result<Manifest> manifest = ParseManifest(files.manifest->text, files.manifest->label);
    if (manifest.ok()) {
      if (IsPlainFileName(manifest->model_file_name)) model_rel = Join(root, manifest->model_file_name);
      if (IsPlainFileName(manifest->label_file_name)) labels_rel = Join(root, manifest->label_file_name);
      if (IsPlainFileName(manifest->metadata_props_file_name)) {
        metadata_rel = Join(root, manifest->metadata_props_file_name);
      }
    }
  }
  if (model_rel.empty() || !std::binary_search(tree.Files().begin(), tree.Files().end(), model_rel)) {
    std::vector<std::string> models;
    for (const std::string& rel : tree.Files()) {
      if (Dirname(rel) == root && IsModelFileName(Basename(rel))) models.push_back(rel);
    }
    if (models.empty()) {
      return NotFound(tree.Label(model_rel.empty() ? Join(root, kManifestName) : model_rel) +
                      ": the export names a model file that is not there");
    }
    if (models.size() > 1) {
      std::string list;
      for (const std::string& m : models) list += (list.empty() ? "" : ", ") + Basename(m);
      return InvalidArgument(tree.Label(root.empty() ? "." : root) + ": several model files (" + list +
                             "); point --model at one of them");
    }
    model_rel = models.front();
  }
  files.model_label = tree.Label(model_rel);
  files.model_name = Basename(model_rel);
  EV_ASSIGN_OR_RETURN(files.model_bytes, tree.Read(model_rel, limits.max_model_bytes));
  EV_RETURN_IF_ERROR(ReadCompanions(tree, Dirname(model_rel), limits, &files));
  EV_ASSIGN_OR_RETURN(files.labels, ReadSide(tree, labels_rel, limits));
  EV_ASSIGN_OR_RETURN(files.metadata, ReadSide(tree, metadata_rel, limits));
  EV_ASSIGN_OR_RETURN(files.predict_py, ReadSide(tree, Join(root, kPredictName), limits));
  files.docker_app = Basename(root) == "app" &&
                     std::binary_search(tree.Files().begin(), tree.Files().end(),
                                        Join(Dirname(root), kDockerfileName));
  return files;
}

bool LooksLikeZip(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && magic[0] == 'P' && magic[1] == 'K' && magic[2] == 3 && magic[3] == 4;
}

}  // namespace

bool IsModelFileName(const std::string& name) {
  auto ends_with = [&](const char* suffix) {
    std::string s(suffix);
    return name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  return ends_with(".pb") || ends_with(".onnx") || ends_with(".tflite") || name == kTfjsModelName;
}

Result<ExportFiles> ReadExport(const std::string& path, const PackageLimits& limits) {
  std::error_code ec;
  const fs::path p(path);
  fs::file_status st = fs::status(p, ec);
  if (ec || !fs::exists(st)) return NotFound(path + ": no such file or folder");
  if (fs::is_directory(st)) {
    DirectoryTree tree(p, limits.max_search_depth);
    return ReadFromTree(tree, path, limits);
  }
  if (!fs::is_regular_file(st)) return InvalidArgument(path + ": not a file or folder");
  if (LooksLikeZip(p)) {
    EV_ASSIGN_OR_RETURN(std::unique_ptr<ZipTree> zip, ZipTree::Open(path, limits));
    return ReadFromTree(*zip, path, limits);
  }
  // A bare model file: side files are looked for beside it (and one level
  // down for a SavedModel's variables/).
  DirectoryTree tree(p.parent_path().empty() ? fs::path(".") : p.parent_path(), 1);
  const std::string name = p.filename().string();
  ExportFiles files;
  files.model_label = path;
  files.model_name = name;
  EV_ASSIGN_OR_RETURN(files.model_bytes, tree.Read(name, limits.max_model_bytes));
  EV_RETURN_IF_ERROR(ReadCompanions(tree, "", limits, &files));
  EV_ASSIGN_OR_RETURN(files.labels, ReadSide(tree, kLabelsName, limits));
  EV_ASSIGN_OR_RETURN(files.manifest, ReadSide(tree, kManifestName, limits));
  EV_ASSIGN_OR_RETURN(files.metadata, ReadSide(tree, kMetadataName, limits));
  EV_ASSIGN_OR_RETURN(files.predict_py, ReadSide(tree, kPredictName, limits));
  return files;
}

}  // namespace edgevision::model
