// RAII owners for libzip handles: one deleter and one unique_ptr alias each.
//
// Header-only; include it only from targets that link libzip.
#pragma once

#include <zip.h>

#include <memory>

namespace edgevision {

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }  // read-only use: nothing to write back
};
struct ZipFileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

// An archive opened with zip_open (ZIP_RDONLY).
using ZipPtr = std::unique_ptr<zip_t, ZipCloser>;
// A member opened with zip_fopen_index.
using ZipFilePtr = std::unique_ptr<zip_file_t, ZipFileCloser>;

}  // namespace edgevision
