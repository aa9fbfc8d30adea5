// The watched sources over HTTP (docs/streams.md):
//   GET /sources                   every source: state, fps in and out,
//                                  dropped, errors, last error, last result
//   GET /sources/{name}/latest.jpg the last classified frame, boxes drawn
// Both are admin routes (camera pictures are as private as captures).
// SourcesCollector writes the same statistics to /metrics.
#pragma once

#include <string>

#include "http/router.h"
#include "metrics/registry.h"
#include "stream/source_runner.h"

namespace edgevision::http {

// `sources` must outlive the router.
void AddSourceRoutes(Router* router, const stream::Sources* sources);

// /sources's document for these statistics (JSON text).
std::string SourcesJson(const std::vector<stream::SourceStats>& stats);

metrics::Registry::Collector SourcesCollector(const stream::Sources* sources);

}  // namespace edgevision::http
