// What a subscriber received compared with what was sent: the figures the
// fault tests assert (at least once, no gaps in seq, ids de-duplicate to
// exactly the sent set) and print.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <string>
#include <vector>

namespace edgevision::testing {

struct DeliveryReport {
  size_t sent = 0;
  size_t received = 0;    // messages, duplicates included
  size_t distinct = 0;    // distinct ids
  size_t duplicates = 0;  // received - distinct
  size_t lost = 0;        // sent ids never received
  size_t unexpected = 0;  // received ids never sent
  size_t seq_gaps = 0;    // missing seq numbers between the smallest and largest seen (per stream)
  size_t unparsable = 0;
  bool seq_matches_id = true;  // one id always came with the same seq

  bool Complete() const {
    return lost == 0 && unexpected == 0 && seq_gaps == 0 && unparsable == 0 && seq_matches_id;
  }
};

inline std::ostream& operator<<(std::ostream& os, const DeliveryReport& r) {
  return os << "sent " << r.sent << ", received " << r.received << ", distinct " << r.distinct
            << ", duplicates " << r.duplicates << ", lost " << r.lost << ", unexpected "
            << r.unexpected << ", seq gaps " << r.seq_gaps << ", unparsable " << r.unparsable;
}

template <typename Message>
DeliveryReport CheckDelivery(const std::vector<Message>& messages,
                             const std::set<std::string>& sent_ids) {
  DeliveryReport r;
  r.sent = sent_ids.size();
  r.received = messages.size();
  std::map<std::string, uint64_t> seq_of;
  std::map<std::string, std::set<uint64_t>> seqs_by_stream;
  for (const Message& m : messages) {
    nlohmann::json doc = nlohmann::json::parse(m.payload, nullptr, false);
    if (!doc.is_object() || !doc.contains("id") || !doc.contains("seq") ||
        !doc.contains("stream")) {
      ++r.unparsable;
      continue;
    }
    const std::string id = doc["id"];
    const uint64_t seq = doc["seq"];
    auto [it, inserted] = seq_of.emplace(id, seq);
    if (!inserted && it->second != seq) r.seq_matches_id = false;
    seqs_by_stream[doc["stream"].get<std::string>()].insert(seq);
  }
  r.distinct = seq_of.size();
  r.duplicates = r.received - r.unparsable - r.distinct;
  for (const std::string& id : sent_ids) r.lost += seq_of.count(id) ? 0 : 1;
  for (const auto& [id, seq] : seq_of) r.unexpected += sent_ids.count(id) ? 0 : 1;
  for (const auto& [stream, seqs] : seqs_by_stream) {
    if (!seqs.empty()) r.seq_gaps += (*seqs.rbegin() - *seqs.begin() + 1) - seqs.size();
  }
  return r;
}

}  // namespace edgevision::testing
