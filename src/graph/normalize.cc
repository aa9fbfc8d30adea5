#include "graph/normalize.h"

namespace edgevision::graph {

Status Normalize(Graph* graph, NormalizeReport* report) {
  return Unsupported("graph normalisation is not implemented yet");
}

Status InferShapes(Graph* graph) { return Unsupported("shape inference is not implemented yet"); }

}  // namespace edgevision::graph
