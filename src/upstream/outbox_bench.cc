// Outbox throughput: messages per second appended and then removed the way
// the publisher does it (append one per prediction; remove acknowledged
// messages in batches of the in-flight window), with synchronous=FULL and
// NORMAL. Payloads are real encoded messages (two tags).
//
//   outbox_bench [messages=2000] [dir=/tmp] [window=16]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "core/uuid.h"
#include "upstream/message_codec.h"
#include "upstream/outbox.h"

using namespace edgevision;
using namespace edgevision::upstream;

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 2000;
  const std::filesystem::path dir = argc > 2 ? argv[2] : std::filesystem::temp_directory_path();
  const size_t window = argc > 3 ? static_cast<size_t>(std::atoi(argv[3])) : 16;
  PredictionMessage m;
  m.route = "POST /image";
  m.model_sha1 = "0123456789abcdef0123456789abcdef01234567";
  m.predictions = {{"Apple", 0.9995615482330322}, {"Banana", 0.00043845}};
  m.timestamp = std::chrono::system_clock::now();
  for (bool full : {true, false}) {
    const std::filesystem::path path = dir / ("outbox_bench_" + std::to_string(getpid()) + ".db");
    for (const char* suffix : {"", "-wal", "-shm", ".lock"})
      std::filesystem::remove(path.string() + suffix);
    OutboxLimits limits;
    limits.sync_full = full;
    Result<std::unique_ptr<Outbox>> outbox = Outbox::Open(path.string(), limits);
    if (!outbox.ok()) {
      std::fprintf(stderr, "%s\n", outbox.status().ToString().c_str());
      return 1;
    }
    size_t bytes = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      m.id = NewUuid();
      Result<uint64_t> seq = (*outbox)->Append([&](uint64_t s, const std::string& stream) {
        m.seq = s;
        m.stream = stream;
        std::string payload = EncodeMessage(m);
        bytes += payload.size();
        return payload;
      });
      if (!seq.ok()) return 1;
    }
    const auto t1 = std::chrono::steady_clock::now();
    uint64_t after = 0;
    while (true) {
      Result<std::vector<OutboxEntry>> batch = (*outbox)->ReadAfter(after, window);
      if (!batch.ok()) return 1;
      if (batch->empty()) break;
      std::vector<uint64_t> seqs;
      for (const OutboxEntry& e : *batch) seqs.push_back(e.seq);
      after = seqs.back();
      if (!(*outbox)->Remove(seqs).ok()) return 1;
    }
    const auto t2 = std::chrono::steady_clock::now();
    const double append_s = std::chrono::duration<double>(t1 - t0).count();
    const double remove_s = std::chrono::duration<double>(t2 - t1).count();
    std::printf(
        "synchronous=%-6s %d messages (%zu B avg): append %.0f msg/s (%.3f ms each), "
        "read+remove in batches of %zu %.0f msg/s, append+remove %.0f msg/s\n",
        full ? "FULL" : "NORMAL", n, bytes / static_cast<size_t>(n), n / append_s,
        1000 * append_s / n, window, n / remove_s, n / (append_s + remove_s));
    outbox->reset();
    for (const char* suffix : {"", "-wal", "-shm", ".lock"})
      std::filesystem::remove(path.string() + suffix);
  }
  return 0;
}
