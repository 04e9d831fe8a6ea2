// spec: replication-protocol.md §3.10 (through_seq), §12 "through_seq: out-of-order batch completion
// never checkpoints past an unfinished batch; seq-only last_seq markers advance it; opaque string
// seqs round-trip byte-exactly".
#include <algorithm>
#include <cstdlib>
#include <random>
#include <vector>

#include <doctest/doctest.h>

#include "replicator/seq_tracker.h"
#include "replicator_test_util.h"

using divan::replicator::SeqTracker;
using Json = SeqTracker::Json;

using divan::replicator::test::numbered;

TEST_CASE("§3.10 through_seq: in-order completion follows each batch") {
  SeqTracker t(0);
  CHECK(t.through_seq() == 0);
  const auto b1 = t.begin(10);
  const auto b2 = t.begin(20);
  CHECK(b1 == 1);
  CHECK(b2 == 2);
  CHECK(t.in_flight() == 2);
  CHECK(t.highest_seq() == 20);
  t.complete(b1);
  CHECK(t.through_seq() == 10);
  t.complete(b2);
  CHECK(t.through_seq() == 20);
  CHECK(t.in_flight() == 0);
}

TEST_CASE("§12 through_seq: out-of-order completion never passes an unfinished batch") {
  SeqTracker t("0");
  const auto b1 = t.begin("10-a");
  const auto b2 = t.begin("20-b");
  const auto b3 = t.begin("30-c");
  t.complete(b3);
  CHECK(t.through_seq() == "0");  // 1 and 2 still in flight
  t.complete(b2);
  CHECK(t.through_seq() == "0");
  t.complete(b1);
  CHECK(t.through_seq() == "30-c");  // everything through batch 3 is written

  const auto b4 = t.begin("40-d");
  const auto b5 = t.begin("50-e");
  t.complete(b4);
  CHECK(t.through_seq() == "40-d");
  const auto b6 = t.begin("60-f");
  t.complete(b6);
  CHECK(t.through_seq() == "40-d");  // batch 5 is unfinished
  t.complete(b5);
  CHECK(t.through_seq() == "60-f");
}

TEST_CASE("§12 through_seq: seq-only last_seq markers advance it, but not past earlier batches") {
  SeqTracker t(0);
  t.add_marker(7);  // a filtered page / a continuous feed's last_seq line with no rows before it
  CHECK(t.through_seq() == 7);
  CHECK(t.in_flight() == 0);

  const auto b = t.begin(9);
  t.add_marker(12);
  CHECK(t.through_seq() == 7);  // the marker waits for batch b
  CHECK(t.highest_seq() == 12);
  t.complete(b);
  CHECK(t.through_seq() == 12);
}

TEST_CASE("§12 through_seq: opaque string seqs round-trip byte-exactly") {
  // CouchDB 3 seqs: never parsed, compared or re-encoded.
  const std::string s1 =
      "12-g1AAAAFTeJzLYWBg4MhgTmFQSEtKzi9KdUhJMtbLTS3KLElMT9VLzskvTUnNK9HLSy3JAapkSmRIsv";
  const std::string s2 = "11-zzz\u00e9\\\"quoted\"";  // sorts BEFORE s1 as text: order is by batch
  SeqTracker t(Json(nullptr));
  const auto b1 = t.begin(s1);
  const auto b2 = t.begin(s2);
  t.complete(b1);
  CHECK(t.through_seq().get<std::string>() == s1);
  t.complete(b2);
  CHECK(t.through_seq().get<std::string>() == s2);
  CHECK(t.through_seq().dump() == Json(s2).dump());
  // Any JSON value is a seq: arrays (BigCouch), objects, numbers.
  SeqTracker u(Json::array({1, "x"}));
  CHECK(u.through_seq() == Json::array({1, "x"}));
  u.add_marker(Json{{"opaque", true}});
  CHECK(u.through_seq() == Json{{"opaque", true}});
}

TEST_CASE("through_seq: random completion orders match a model") {
  // Model: through_seq = the seq of the highest batch k such that batches 1..k are all complete.
  const uint64_t seed = std::getenv("DIVAN_SEED") ? std::strtoull(std::getenv("DIVAN_SEED"), nullptr, 10)
                                                  : std::random_device{}();
  CAPTURE(seed);
  std::mt19937_64 rng(seed);
  for (int round = 0; round < 200; ++round) {
    const int n = 1 + static_cast<int>(rng() % 30);
    SeqTracker t("start");
    std::vector<uint64_t> order;
    std::vector<bool> done(n + 1, false);
    for (int i = 1; i <= n; ++i) {
      if (rng() % 4 == 0) {
        t.add_marker(numbered("m", i));
        done[i] = true;
      } else {
        order.push_back(t.begin(numbered("b", i)));
      }
    }
    std::shuffle(order.begin(), order.end(), rng);
    auto expected = [&]() -> Json {
      int k = 0;
      while (k < n && done[k + 1]) ++k;
      if (k == 0) return "start";
      // Batch k's seq: "m<k>" for a marker, "b<k>" for a batch.
      const bool marker = std::find(order.begin(), order.end(), static_cast<uint64_t>(k)) ==
                          order.end();
      return numbered(marker ? "m" : "b", k);
    };
    CHECK(t.through_seq() == expected());
    for (uint64_t b : order) {
      t.complete(b);
      done[b] = true;
      REQUIRE(t.through_seq() == expected());
    }
    CHECK(t.in_flight() == 0);
    CHECK(t.through_seq() == (n > 0 ? expected() : Json("start")));
  }
}
