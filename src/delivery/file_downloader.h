// FileDownloader: the network side of model delivery, behind a small
// interface so tests can inject faults. The product's implementation is
// libcurl under the /url address policy (http::MakeCurlDownloader).
//
// Thread-safety: implementations are safe from any thread; one Download at a
// time per file descriptor.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "core/status.h"

namespace edgevision::delivery {

class FileDownloader {
 public:
  virtual ~FileDownloader() = default;

  // Appends the body of `url`, from byte `offset` on (an HTTP Range request
  // when offset > 0), to `fd` (positioned at its end), never writing past
  // `max_bytes` in total. `progress` is called with the total bytes on disk
  // as they arrive and about once a second while waiting; returning false
  // cancels the transfer (Unavailable). Errors: InvalidArgument (malformed URL, non-HTTP scheme, denied
  // address, an HTTP error answer); ResourceExhausted (larger than
  // max_bytes); DeadlineExceeded (timeout); Unavailable (the connection
  // failed or was cut: retrying resumes); Unsupported (the server ignores
  // Range or refuses the range: start again from 0); IOError
  // (writing to `fd` failed).
  virtual Status Download(const std::string& url, int fd, uint64_t offset, uint64_t max_bytes,
                          const std::function<bool(uint64_t)>& progress) const = 0;
};

}  // namespace edgevision::delivery
