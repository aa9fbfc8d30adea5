// Outbox: the durable, bounded, ordered queue of messages waiting for the
// broker's acknowledgement (store-and-forward).
//
// Every message is appended here before it is published and removed only
// when the broker acknowledged it (PUBACK), so messages survive broker
// outages, network loss, and a crash or kill -9 of the process; after a
// restart the publisher resends what is left, oldest first.
//
// Storage: one SQLite database (<data-dir>/outbox.db) in WAL mode; the
// schema is in docs/upstream.md. `synchronous` is FULL by default: a message
// appended before the HTTP response was sent survives a power cut as well as
// a crash (NORMAL only survives a crash of the process; it saves an fsync
// per message). A lock file (outbox.db.lock, flock) keeps a second process
// from using the same outbox.
//
// Bounds (OutboxLimits), enforced oldest-first, every drop counted and the
// counts persisted: total payload bytes, message age, one message's size,
// and a hard cap on the database file (SQLITE_FULL from the cap or a full
// disk drops the oldest messages to make room, once, before giving up).
//
// Sequence numbers: 1, 2, 3, … in append order, never reused within a
// stream (the stream id is a UUID made when the database is created).
//
// Thread-safety: all methods are safe from any thread (one mutex).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/status.h"
#include "sqlite/sqlite.h"

namespace edgevision::upstream {

struct OutboxLimits {
  // Payload bytes kept; appending beyond drops the oldest messages.
  uint64_t max_bytes = 64ull << 20;
  // Messages older than this are dropped (judged by their append time).
  std::chrono::seconds max_age{7 * 24 * 3600};
  // One message larger than this is refused (IoT Hub's limit is 256 KiB).
  uint64_t max_message_bytes = 256 << 10;
  // Hard cap on the database file; 0 = 2 * max_bytes + 16 MiB.
  uint64_t max_file_bytes = 0;
  // synchronous=FULL (durable across power loss) or NORMAL (across crashes).
  bool sync_full = true;
};

struct OutboxEntry {
  uint64_t seq = 0;
  std::chrono::system_clock::time_point appended;
  std::string payload;
};

// Counters; the dropped_* ones are persisted in the database.
struct OutboxStats {
  std::string stream;
  uint64_t depth = 0;     // messages waiting
  uint64_t bytes = 0;     // their payload bytes
  uint64_t last_seq = 0;  // the newest sequence number handed out
  std::optional<std::chrono::system_clock::time_point> oldest;
  uint64_t dropped_full = 0;       // dropped to stay within max_bytes / the file cap
  uint64_t dropped_expired = 0;    // older than max_age
  uint64_t dropped_too_large = 0;  // larger than max_message_bytes
  uint64_t dropped_corrupt = 0;    // unreadable when it was to be sent
  uint64_t write_failures = 0;     // appends that failed (this run; not persisted)
  uint64_t DroppedTotal() const {
    return dropped_full + dropped_expired + dropped_too_large + dropped_corrupt;
  }
};

class Outbox {
 public:
  // Opens or creates the outbox at `path`, takes its lock, applies the
  // limits (expiring what is too old).
  // Errors: IOError (cannot create/open), Unavailable (another process holds
  // the lock), Corrupt (not an outbox database).
  static Result<std::unique_ptr<Outbox>> Open(const std::string& path, const OutboxLimits& limits,
                                              const Clock& clock = SystemClock());

  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;
  ~Outbox();

  // Appends one message. `encode` receives the sequence number and stream id
  // the message will have and returns its payload; it runs under the lock,
  // so keep it short. Returns the sequence number.
  // Errors: ResourceExhausted (too large, or the disk/file cap is full even
  // after dropping old messages), IOError; the failure is counted.
  Result<uint64_t> Append(
      const std::function<std::string(uint64_t seq, const std::string& stream)>& encode);

  // Up to `max_count` messages with seq > `after_seq`, oldest first.
  Result<std::vector<OutboxEntry>> ReadAfter(uint64_t after_seq, size_t max_count);

  // Removes acknowledged messages (unknown seqs are ignored).
  Status Remove(std::span<const uint64_t> seqs);

  // Removes a message that cannot be sent (counted as dropped_corrupt).
  Status DropCorrupt(uint64_t seq);

  // Drops messages older than max_age (oldest first); returns how many.
  Result<uint64_t> ExpireOld();

  OutboxStats Stats() const;
  const std::string& path() const { return path_; }

 private:
  Outbox(std::string path, const OutboxLimits& limits, const Clock& clock);
  Status Init();
  Status LoadCounters();
  Status AddDropped(const char* key, uint64_t n);
  // Inside Append's transaction: deletes the oldest messages until
  // `bytes_to_free` payload bytes and at least `min_count` messages are gone,
  // and counts them as dropped_full in the database. Returns what it deleted.
  Status DropOldest(uint64_t bytes_to_free, uint64_t min_count, uint64_t* dropped,
                    uint64_t* dropped_bytes);

  const std::string path_;
  const OutboxLimits limits_;
  const Clock& clock_;
  int lock_fd_ = -1;

  mutable std::mutex mu_;
  sqlite::DbPtr db_;        // guarded by mu_
  sqlite::StmtPtr insert_;  // guarded by mu_
  sqlite::StmtPtr read_;    // guarded by mu_
  sqlite::StmtPtr remove_;  // guarded by mu_
  OutboxStats stats_;       // guarded by mu_
};

}  // namespace edgevision::upstream
