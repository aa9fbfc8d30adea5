// TensorFlow SavedModel import: saved_model.pb + variables/.
//
// A SavedModel holds MetaGraphDefs; edgevision takes the one tagged "serve"
// (or the only one), its "serving_default" signature (or the only one) for
// the input and output names, and freezes the graph: every variable read
// (ReadVariableOp of a VarHandleOp, or a TF1 VariableV2) becomes a Const
// holding the value stored in variables/. The frozen GraphDef then goes
// through the GraphDef importer (tf_importer.cc).
//
// variables/ is a TensorBundle: variables.index is an SSTable in LevelDB's
// table format (read with Debian's libleveldb) whose "" key holds a
// BundleHeaderProto and every other key, a variable's name, a
// BundleEntryProto (dtype, shape, shard, offset, size, masked CRC-32C);
// variables.data-NNNNN-of-NNNNN hold the raw little-endian tensors. Every
// entry is checked against its shard's size and checksum before use.
#include <leveldb/env.h>
#include <leveldb/iterator.h>
#include <leveldb/options.h>
#include <leveldb/table.h>

#include <array>
#include <cstdio>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "model/import_common.h"
#include "model/importer.h"
#include "model/schemas/tf_graph.pb.h"
#include "model/schemas/tf_saved_model.pb.h"
#include "model/tf_graph_import.h"

namespace edgevision::model {

namespace tf = ::edgevision::tf;

namespace {

constexpr const char* kServeTag = "serve";
constexpr const char* kDefaultSignature = "serving_default";
constexpr const char* kIndexFile = "variables/variables.index";
// Most shards a bundle may declare (TensorFlow writes one per saving device).
constexpr int kMaxShards = 1024;

// CRC-32C (Castagnoli), as TensorFlow's crc32c::Value, and its Mask.
uint32_t Crc32c(const uint8_t* data, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ data[i]) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

uint32_t MaskCrc(uint32_t crc) { return ((crc >> 15) | (crc << 17)) + 0xA282EAD8u; }

// variables.index held in memory, as LevelDB's table reader wants it.
class MemoryFile : public leveldb::RandomAccessFile {
 public:
  explicit MemoryFile(const std::vector<uint8_t>& bytes) : bytes_(bytes) {}
  leveldb::Status Read(uint64_t offset, size_t n, leveldb::Slice* result,
                       char* /*scratch*/) const override {
    if (offset > bytes_.size()) return leveldb::Status::Corruption("read past the end of the file");
    const size_t left = bytes_.size() - static_cast<size_t>(offset);
    *result = leveldb::Slice(reinterpret_cast<const char*>(bytes_.data()) + offset, std::min(n, left));
    return leveldb::Status::OK();
  }

 private:
  const std::vector<uint8_t>& bytes_;
};

struct Bundle {
  tf::BundleHeaderProto header;
  std::map<std::string, tf::BundleEntryProto> entries;
};

Result<Bundle> ReadIndex(const CompanionFile& index) {
  MemoryFile file(index.bytes);
  leveldb::Options options;
  options.paranoid_checks = true;
  leveldb::Table* raw = nullptr;
  leveldb::Status st = leveldb::Table::Open(options, &file, index.bytes.size(), &raw);
  if (!st.ok()) return Corrupt(index.label + ": not a TensorBundle index (" + st.ToString() + ")");
  std::unique_ptr<leveldb::Table> table(raw);
  leveldb::ReadOptions read;
  read.verify_checksums = true;
  std::unique_ptr<leveldb::Iterator> it(table->NewIterator(read));
  Bundle bundle;
  bool header = false;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string key = it->key().ToString();
    const leveldb::Slice v = it->value();
    if (key.empty()) {
      if (!bundle.header.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
        return Corrupt(index.label + ": the bundle header does not parse");
      }
      header = true;
      continue;
    }
    tf::BundleEntryProto entry;
    if (!entry.ParseFromArray(v.data(), static_cast<int>(v.size()))) {
      return Corrupt(index.label + ": the entry of '" + key + "' does not parse");
    }
    bundle.entries.emplace(key, std::move(entry));
  }
  if (!it->status().ok()) return Corrupt(index.label + ": " + it->status().ToString());
  if (!header) return Corrupt(index.label + ": no bundle header (the \"\" key)");
  if (bundle.header.endianness() != tf::BundleHeaderProto::LITTLE) {
    return Unsupported(index.label + ": a big-endian bundle");
  }
  if (bundle.header.num_shards() < 1 || bundle.header.num_shards() > kMaxShards) {
    return Corrupt(index.label + ": num_shards " + std::to_string(bundle.header.num_shards()) +
                   " is out of range");
  }
  return bundle;
}

std::string ShardName(int shard, int num_shards) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "variables/variables.data-%05d-of-%05d", shard, num_shards);
  return buf;
}

class SavedModelImporter {
 public:
  SavedModelImporter(const std::string& label, const std::vector<CompanionFile>& companions)
      : label_(label) {
    for (const CompanionFile& c : companions) files_[c.rel] = &c;
  }

  Result<ImportedModel> Run(std::span<const uint8_t> bytes) {
    tf::SavedModel sm;
    if (bytes.empty() || !sm.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      return Corrupt(label_ + ": not a valid SavedModel (protobuf parse failed)");
    }
    EV_ASSIGN_OR_RETURN(const tf::MetaGraphDef* mg, PickMetaGraph(sm));
    EV_ASSIGN_OR_RETURN(std::string sig_name, PickSignature(*mg));
    const tf::SignatureDef& sig = mg->signature_def().at(sig_name);
    if (sig.inputs_size() != 1) {
      return Unsupported(label_ + ": signature '" + sig_name + "' has " +
                         std::to_string(sig.inputs_size()) + " inputs; one image input is supported");
    }
    if (sig.outputs_size() < 1) return Corrupt(label_ + ": signature '" + sig_name + "' has no output");
    // The first output, as Microsoft's sample takes it (keys sorted).
    std::map<std::string, const tf::TensorInfo*> outputs;
    for (const auto& [k, v] : sig.outputs()) outputs[k] = &v;
    EV_ASSIGN_OR_RETURN(std::string out_node, NodeOf(*outputs.begin()->second, sig_name));
    EV_ASSIGN_OR_RETURN(std::string in_node, NodeOf(sig.inputs().begin()->second, sig_name));

    tf::GraphDef def = mg->graph_def();
    EV_RETURN_IF_ERROR(Freeze(&def));
    TfGraphOptions options;
    options.format = "TensorFlow SavedModel";
    options.output_node = out_node;
    options.output_source = "output '" + outputs.begin()->first + "' of signature '" + sig_name + "'";
    EV_ASSIGN_OR_RETURN(ImportedModel model, ImportTensorFlowGraph(def, label_, options));
    if (model.input_name != in_node) {
      return Unsupported(label_ + ": signature '" + sig_name + "' feeds '" + in_node +
                         "' but the output depends on '" + model.input_name + "'");
    }
    model.rewrites.push_back("froze " + std::to_string(frozen_) + " variables from " + kIndexFile +
                             " (signature '" + sig_name + "', tags " + tags_ + ")");
    model.metadata["SavedModel.signature"] = sig_name;
    return model;
  }

 private:
  Result<const tf::MetaGraphDef*> PickMetaGraph(const tf::SavedModel& sm) {
    if (sm.meta_graphs_size() == 0) return Corrupt(label_ + ": the SavedModel holds no MetaGraphDef");
    std::string seen;
    for (const tf::MetaGraphDef& mg : sm.meta_graphs()) {
      std::string tags;
      for (const std::string& t : mg.meta_info_def().tags()) tags += (tags.empty() ? "" : ",") + t;
      seen += (seen.empty() ? "" : "; ") + ("[" + tags + "]");
      for (const std::string& t : mg.meta_info_def().tags()) {
        if (t == kServeTag) {
          tags_ = "[" + tags + "]";
          return &mg;
        }
      }
    }
    if (sm.meta_graphs_size() == 1) {
      tags_ = seen;
      return &sm.meta_graphs(0);
    }
    return Unsupported(label_ + ": no MetaGraphDef tagged 'serve' among " + seen);
  }

  Result<std::string> PickSignature(const tf::MetaGraphDef& mg) const {
    if (mg.signature_def().count(kDefaultSignature)) return std::string(kDefaultSignature);
    if (mg.signature_def_size() == 1) return mg.signature_def().begin()->first;
    std::string names;
    for (const auto& [k, v] : mg.signature_def()) names += (names.empty() ? "" : ", ") + k;
    return Unsupported(label_ + ": no 'serving_default' signature (has: " +
                       (names.empty() ? std::string("none") : names) + ")");
  }

  Result<std::string> NodeOf(const tf::TensorInfo& info, const std::string& sig) const {
    if (info.name().empty()) {
      return Unsupported(label_ + ": signature '" + sig + "' uses a sparse or composite tensor");
    }
    std::string name = info.name();
    const size_t colon = name.find(':');
    if (colon != std::string::npos) {
      if (name.substr(colon) != ":0") {
        return Unsupported(label_ + ": signature '" + sig + "' names output " + name +
                           " (only the first output of a node is supported)");
      }
      name.resize(colon);
    }
    return name;
  }

  // The value stored for variable `key`, as a TensorProto.
  Result<tf::TensorProto> Load(const std::string& key, const std::string& node) {
    if (!bundle_) {
      auto it = files_.find(kIndexFile);
      if (it == files_.end()) {
        return NotFound(label_ + ": " + kIndexFile + " is missing (a SavedModel keeps its weights there)");
      }
      EV_ASSIGN_OR_RETURN(Bundle b, ReadIndex(*it->second));
      bundle_ = std::make_unique<Bundle>(std::move(b));
    }
    const std::string& index_label = files_.at(kIndexFile)->label;
    auto e = bundle_->entries.find(key);
    if (e == bundle_->entries.end()) {
      return Corrupt(index_label + ": no entry for variable '" + key + "' (node '" + node + "')");
    }
    const tf::BundleEntryProto& entry = e->second;
    const std::string what = "variable '" + key + "'";
    if (entry.slices_size() > 0) return Unsupported(index_label + ": " + what + " is partitioned");
    if (entry.dtype() != tf::DT_FLOAT) {
      return Unsupported(index_label + ": " + what + " is of type " + tf::DataType_Name(entry.dtype()) +
                         "; float32 variables are supported");
    }
    graph::Shape shape;
    for (const auto& d : entry.shape().dim()) shape.push_back(d.size());
    EV_ASSIGN_OR_RETURN(int64_t count, CheckedElementCount(shape, what));
    if (entry.shard_id() < 0 || entry.shard_id() >= bundle_->header.num_shards()) {
      return Corrupt(index_label + ": " + what + " is in shard " + std::to_string(entry.shard_id()) +
                     " of " + std::to_string(bundle_->header.num_shards()));
    }
    const std::string shard = ShardName(entry.shard_id(), bundle_->header.num_shards());
    auto f = files_.find(shard);
    if (f == files_.end()) return NotFound(label_ + ": " + shard + " is missing (it holds " + what + ")");
    const std::vector<uint8_t>& data = f->second->bytes;
    if (entry.offset() < 0 || entry.size() < 0 ||
        static_cast<uint64_t>(entry.offset()) > data.size() ||
        static_cast<uint64_t>(entry.size()) > data.size() - static_cast<uint64_t>(entry.offset())) {
      return Corrupt(f->second->label + ": " + what + " at offset " + std::to_string(entry.offset()) +
                     ", " + std::to_string(entry.size()) + " bytes, lies past the end of the file (" +
                     std::to_string(data.size()) + " bytes)");
    }
    EV_RETURN_IF_ERROR(CheckPayloadBytes(count, sizeof(float), static_cast<size_t>(entry.size()), shape,
                                         index_label + ": " + what));
    const uint8_t* p = data.data() + entry.offset();
    const uint32_t crc = MaskCrc(Crc32c(p, static_cast<size_t>(entry.size())));
    if (crc != entry.crc32c()) {
      return Corrupt(f->second->label + ": " + what + " fails its CRC-32C check (the file is damaged)");
    }
    tf::TensorProto t;
    t.set_dtype(tf::DT_FLOAT);
    *t.mutable_tensor_shape() = entry.shape();
    t.set_tensor_content(std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(entry.size())));
    return t;
  }

  // Variable reads become constants. VarHandleOp -> ReadVariableOp (TF2
  // resource variables: the key is the handle's shared_name, else its
  // name); VariableV2/Variable (TF1: the key is the node's name).
  Status Freeze(tf::GraphDef* def) {
    std::map<std::string, const tf::NodeDef*> handles;
    for (const tf::NodeDef& n : def->node()) {
      if (n.op() == "VarHandleOp") handles[n.name()] = &n;
    }
    std::map<std::string, std::string> key_of;  // handle node -> bundle key
    for (const auto& [name, n] : handles) {
      auto it = n->attr().find("shared_name");
      key_of[name] = it != n->attr().end() && !it->second.s().empty() ? it->second.s() : name;
    }
    for (tf::NodeDef& n : *def->mutable_node()) {
      std::string key;
      if (n.op() == "ReadVariableOp") {
        if (n.input_size() < 1) return Corrupt(label_ + ": node '" + n.name() + "' reads no variable");
        std::string h = n.input(0);
        if (const size_t colon = h.find(':'); colon != std::string::npos) h.resize(colon);
        auto it = key_of.find(h);
        if (it == key_of.end()) {
          return Unsupported(label_ + ": node '" + n.name() + "' reads '" + h +
                             "', which is not a VarHandleOp");
        }
        key = it->second;
      } else if (n.op() == "VariableV2" || n.op() == "Variable") {
        key = n.name();
      } else {
        continue;
      }
      // Every variable the graph reads is loaded and checked, needed or not.
      EV_ASSIGN_OR_RETURN(tf::TensorProto value, Load(key, n.name()));
      n.set_op("Const");
      n.clear_input();
      n.clear_attr();
      (*n.mutable_attr())["dtype"].set_type(tf::DT_FLOAT);
      *(*n.mutable_attr())["value"].mutable_tensor() = std::move(value);
      ++frozen_;
    }
    return Status::Ok();
  }

  const std::string& label_;
  std::map<std::string, const CompanionFile*> files_;
  std::unique_ptr<Bundle> bundle_;
  std::string tags_;
  int frozen_ = 0;
};

}  // namespace

Result<ImportedModel> ImportSavedModel(std::span<const uint8_t> bytes, const std::string& file_label,
                                       const std::vector<CompanionFile>& companions) {
  if (bytes.size() > kMaxModelFileBytes) {
    return ResourceExhausted(file_label + ": SavedModel of " + std::to_string(bytes.size()) +
                             " bytes exceeds the " + std::to_string(kMaxModelFileBytes) + "-byte limit");
  }
  SavedModelImporter importer(file_label, companions);
  return importer.Run(bytes);
}

}  // namespace edgevision::model
