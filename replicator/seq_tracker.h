// through_seq: the source seq a checkpoint may record, given batches that finish out of order.
//
// spec: replication-protocol.md §3.10 ("through_seq"), §1 (definition), §12 ("through_seq").
// Rows arrive from the changes feed in order and are cut into batches, numbered in that order;
// several workers then process batches concurrently and finish them in any order. A checkpoint
// may only record a seq through which EVERY change has been written, so through_seq is the last
// seq of the highest-numbered batch such that it and every batch before it are complete. Seqs
// are opaque (CouchDB 3's are strings like "12-g1AAAA…"): they are never compared, only carried;
// the order is the batch numbers'.
//
// Batches with no rows are allowed: the continuous feed's `last_seq` line, and a page of a
// filtered feed whose rows were all filtered out, still move the position forward. They are
// added already complete (add_marker) but, like any batch, cannot advance through_seq past an
// earlier batch still in flight.
//
// This is tighter than CouchDB's rule (which, after an out-of-order completion, advances only to
// the lowest finished batch until nothing is in flight) and exactly as safe: it never passes an
// unfinished batch.
//
// Not thread-safe: owned by one job (its strand).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>

#include <nlohmann/json.hpp>

namespace divan::replicator {

class SeqTracker {
 public:
  using Json = nlohmann::ordered_json;

  // `start_seq`: where the feed started (StartPoint::seq); through_seq() until a batch completes.
  explicit SeqTracker(Json start_seq = 0);

  // Registers the next batch in feed order, whose rows end at `last_seq`; returns its number
  // (1, 2, 3, … in call order).
  uint64_t begin(Json last_seq);
  // Registers a zero-row batch at `seq` (a `last_seq` marker), complete at once.
  uint64_t add_marker(Json seq);
  // Marks batch `batch` written. REQUIRES: `batch` was begun and not yet completed.
  void complete(uint64_t batch);

  // The seq through which every change has been processed.
  const Json& through_seq() const { return through_seq_; }
  // The last seq seen from the feed (the newest batch's), for progress reporting (`source_seq`).
  const Json& highest_seq() const { return highest_seq_; }
  // Batches begun and not yet completed.
  size_t in_flight() const { return in_flight_; }

 private:
  struct Batch {
    Json last_seq;
    bool done = false;
  };
  void advance();

  Json through_seq_;
  Json highest_seq_;
  uint64_t next_ = 1;
  size_t in_flight_ = 0;
  std::map<uint64_t, Batch> pending_;  // begun, not yet folded into through_seq_; by number
};

}  // namespace divan::replicator
