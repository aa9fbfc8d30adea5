// DeliveryRecord: what model delivery has committed to disk, in
// <data-dir>/models/delivery.state. It is the commit point of every step:
// written atomically (temporary file, fsync, rename, fsync of the folder), so
// after a kill -9 or a power cut it names either the old or the new model.
//
// File format (text, one model per line, tab-separated fields):
//   edgevision-model-delivery 1
//   current<TAB>sha256<TAB>version<TAB>path<TAB>url      the model to serve
//   previous<TAB>...                                     its last-known-good
//   pending<TAB>...                                      accepted, not applied yet
//   error<TAB>text                                       why the last one failed
//                                                        (while pending: its last round's error)
//   retry<TAB>sha256<TAB>rounds<TAB>next                 the pending one's later rounds: how
//                                                        many were scheduled, when the next
//                                                        starts (ms since the Unix epoch)
// sha256 and version are "-" for the model given by --model; url is "-"
// when there is none. The file is 0600: a URL may carry a SAS token.
//
// Thread-safety: plain values and functions.
#pragma once

#include <chrono>
#include <optional>
#include <string>

#include "core/status.h"

namespace edgevision::delivery {

struct ModelRef {
  std::string sha256;   // lowercase hex; "-" for --model
  std::string version;  // the operator's name for it; "-" when none
  std::string path;     // the folder or file served
  std::string url;      // where it came from; "-" for none

  bool operator==(const ModelRef&) const = default;
};

struct DeliveryRecord {
  std::optional<ModelRef> current;
  std::optional<ModelRef> previous;
  std::optional<ModelRef> pending;
  std::string error;
  // The pending request's later rounds (docs/model-delivery.md, "Later
  // rounds"), kept so that a restart neither forgets the count nor starts a
  // round early. Written only with `pending`, for its sha256.
  int retries = 0;
  std::optional<std::chrono::system_clock::time_point> next_retry;

  // Drops the pending request and its rounds.
  void ClearPending() {
    pending.reset();
    retries = 0;
    next_retry.reset();
  }

  bool operator==(const DeliveryRecord&) const = default;
};

std::string EncodeRecord(const DeliveryRecord& record);
// Errors: Corrupt naming the line.
Result<DeliveryRecord> DecodeRecord(const std::string& text);

// An empty record when the file does not exist. Errors: Corrupt, IOError.
Result<DeliveryRecord> ReadRecord(const std::string& path);
Status WriteRecord(const std::string& path, const DeliveryRecord& record);

}  // namespace edgevision::delivery
