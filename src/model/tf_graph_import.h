// The TensorFlow GraphDef importer's entry for formats that carry a GraphDef
// inside something else: SavedModel (saved_model.pb + variables/) and the
// TF.js graph model (model.json + weight shards). They rebuild a frozen
// GraphDef (variables and weights as Const nodes) and hand it here.
//
// Thread-safety: reentrant.
#pragma once

#include <string>

#include "core/status.h"
#include "model/importer.h"

namespace edgevision::tf {
class GraphDef;  // model/schemas/tf_graph.proto
}  // namespace edgevision::tf

namespace edgevision::model {

struct TfGraphOptions {
  // ImportedModel::format.
  std::string format = "TensorFlow GraphDef";
  // The output node (a signature names it); empty: the usual rules ("loss",
  // "model_output", else the one node nobody consumes).
  std::string output_node;
  // Where output_node came from, for messages ("signature 'serving_default'").
  std::string output_source;
};

Result<ImportedModel> ImportTensorFlowGraph(const ::edgevision::tf::GraphDef& def, const std::string& file_label,
                                            const TfGraphOptions& options);

}  // namespace edgevision::model
