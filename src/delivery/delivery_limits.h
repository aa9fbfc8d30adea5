// Every limit of model delivery (PUT /admin/model, the twin's desired
// "model"), with its safe default, in one place. docs/model-delivery.md
// lists them.
#pragma once

#include <chrono>
#include <cstdint>

namespace edgevision::delivery {

struct DeliveryLimits {
  // Download: the largest file accepted (by Content-Length and while
  // streaming), the time one attempt may take, and how often a failed or cut
  // attempt is retried (each resumes where the last stopped, HTTP Range).
  uint64_t max_download_bytes = 512ull << 20;
  std::chrono::milliseconds download_timeout{10 * 60 * 1000};
  std::chrono::milliseconds connect_timeout{10'000};
  int max_attempts = 5;
  std::chrono::milliseconds retry_backoff{500};  // doubled after each failed attempt
  // Later rounds: when every attempt of a round failed on a transient error
  // (the connection, a timeout, HTTP 408/429/5xx), the request stays pending
  // and a new round of max_attempts starts after retry_round_delay (doubled
  // after each round, at most max_retry_round_delay or retry_round_delay,
  // whichever is longer), at most max_retry_rounds times; then the request
  // fails. Defaults: rounds after 1, 2, 4, 8, 16 and 30 min, about an hour
  // in all. Stop ends the wait; a newer request replaces it, the same
  // request again starts the round now.
  int max_retry_rounds = 6;
  std::chrono::milliseconds retry_round_delay{60'000};
  std::chrono::milliseconds max_retry_round_delay{30 * 60'000};
  // Unpacking a .zip (zip-bomb limits): members, their total uncompressed
  // size, each member's compression ratio, and the longest member name.
  uint64_t max_zip_entries = 1000;
  uint64_t max_unpacked_bytes = 1024ull << 20;
  uint64_t max_compression_ratio = 200;  // uncompressed / compressed, per member
  uint64_t ratio_exempt_bytes = 1 << 20;  // members this small may compress better
  int max_name_length = 255;
  int max_depth = 8;  // folders in a member's path
  // Acceptance: the export's own test images run before the swap (at most
  // this many), and the first `probation_predictions` after the swap are
  // watched: `max_probation_failures` model errors among them roll back to
  // the last-known-good model.
  int max_test_images = 16;
  uint64_t max_test_image_bytes = 8 << 20;
  int probation_predictions = 20;
  int max_probation_failures = 3;
};

}  // namespace edgevision::delivery
