// through_seq. spec: replication-protocol.md §3.10.
#include "replicator/seq_tracker.h"

#include <cassert>
#include <utility>

namespace divan::replicator {

SeqTracker::SeqTracker(Json start_seq) : through_seq_(start_seq), highest_seq_(std::move(start_seq)) {}

uint64_t SeqTracker::begin(Json last_seq) {
  const uint64_t n = next_++;
  highest_seq_ = last_seq;
  pending_.emplace(n, Batch{std::move(last_seq), false});
  ++in_flight_;
  return n;
}

uint64_t SeqTracker::add_marker(Json seq) {
  const uint64_t n = begin(std::move(seq));
  complete(n);
  return n;
}

void SeqTracker::complete(uint64_t batch) {
  auto it = pending_.find(batch);
  assert(it != pending_.end() && !it->second.done);
  if (it == pending_.end() || it->second.done) return;
  it->second.done = true;
  --in_flight_;
  advance();
}

// Folds the completed prefix of batches into through_seq_.
void SeqTracker::advance() {
  while (!pending_.empty() && pending_.begin()->second.done) {
    through_seq_ = std::move(pending_.begin()->second.last_seq);
    pending_.erase(pending_.begin());
  }
}

}  // namespace divan::replicator
