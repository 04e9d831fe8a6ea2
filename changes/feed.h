// Reading the changes feed: the rows of one database after a seq, chosen as CouchDB chooses them
// (http-api.md §13): one row per document at its latest seq, its winner or every leaf, the
// `deleted` flag of a deleted winner, the winning doc for include_docs, filtered by doc ids, a
// Mango selector or design-doc-ness. Rows are values: the HTTP layer renders them as CouchDB's JSON
// (http/server/changes_json.h), the replicator's local peer reads them as they are.
//
// Pure reads over an engine::Snapshot; no I/O of its own, no threads. Thread-safe as values.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "changes/selector.h"
#include "engine/database.h"
#include "engine/error.h"
#include "revtree/rev_tree.h"

namespace divan::changes {

// A seq on the wire (rows, last_seq, db info update_seq): a JSON string of the decimal seq, as
// CouchDB 3's opaque seqs are strings. Clients hand it back verbatim as `since`, which accepts it
// with or without quotes and, leniently, CouchDB's "<n>-…" form.
void append_seq(std::string& out, uint64_t seq);
std::string seq_json(uint64_t seq);

enum class Style { kMainOnly, kAllDocs };

// Which changes a feed lists (the `filter` parameter). Default: everything.
class Filter {
 public:
  Filter() = default;
  // filter=_doc_ids: `ids` must be a JSON array of strings, else 400 bad_request
  // "`doc_ids` filter parameter is not a list of doc ids."
  static Result<Filter> doc_ids(const nlohmann::ordered_json& ids);
  // filter=_selector: a Mango selector object (see selector.h).
  static Result<Filter> selector(const nlohmann::ordered_json& selector);
  // filter=_design: only `_design/` docs.
  static Filter design();

  bool needs_body() const;  // true when rows must be matched against the winning body
  bool accepts_id(std::string_view id) const;
  // REQUIRES: accepts_id(id). `body` is the winning revision rendered as a doc (with _id/_rev).
  bool accepts_doc(const nlohmann::ordered_json& doc) const;
  // The sorted, de-duplicated ids of a _doc_ids filter; nullptr for every other kind.
  const std::vector<std::string>* ids() const;

 private:
  enum class Kind { kAll, kDocIds, kSelector, kDesign };
  Kind kind_ = Kind::kAll;
  std::vector<std::string> ids_;  // sorted, for kDocIds
  std::shared_ptr<const Selector> selector_;
};

struct FeedOptions {
  uint64_t since = 0;          // exclusive; ignored when descending
  bool descending = false;
  std::optional<uint64_t> limit;
  Style style = Style::kMainOnly;
  bool include_docs = false;
  bool conflicts = false;      // with include_docs: `_conflicts` in `doc`
  bool attachments = false;    // with include_docs: attachment bodies inline (base64 `data`)
  bool att_encoding_info = false;  // with include_docs: gzip-stored attachments say so
  Filter filter;
};

// One document's change: on the wire {"seq":…,"id":…,"changes":[{"rev":…},…],"deleted":true,"doc":…}.
struct ChangeRow {
  uint64_t seq = 0;  // the document's latest seq
  std::string id;
  // The winner, or for style=all_docs every leaf in leaf order (winner first, revision-trees.md
  // §4); with a selector filter, only the leaves that pass (at least one). Each with its deleted flag.
  std::vector<revtree::Leaf> changes;
  bool deleted = false;  // the winner is deleted (only then CouchDB says "deleted":true)
  // include_docs: the first listed leaf rendered as a doc, compact JSON with _id and _rev first
  // (engine/doc_render.h), `_conflicts` and inline attachments as FeedOptions ask.
  std::optional<std::string> doc;

  friend bool operator==(const ChangeRow&, const ChangeRow&) = default;
};

// One page of a feed.
struct Page {
  std::vector<ChangeRow> rows;  // in seq order (descending: newest first)
  uint64_t last_seq = 0;        // seq the scan got through (http-api.md §13.3 `last_seq` rules)
  uint64_t pending = 0;         // changes after last_seq not yet sent
};

// Reads rows with seq > options.since in seq order, or when descending every row newest first
// (`since` ignored), at most min(options.limit, max_rows) of them. As CouchDB computes them
// (http-api.md §13.3; fabric_rpc:changes):
// - last_seq: the last row's seq when the row cap stopped the scan. Else, ascending, the snapshot's
//   update_seq (even if trailing changes were filtered out), or `since` when nothing newer exists;
//   descending, the oldest seq scanned (the snapshot's update_seq when there is none).
// - pending: changes beyond last_seq in scan direction, filtered or not (ascending: seq > last_seq;
//   descending: seq < last_seq); 0 when the scan reached the end. Counting is linear in what is
//   left, so an ascending page stopped by max_rows before options.limit leaves it 0: the caller
//   reads on from last_seq, and only the page that ends the feed (at the limit or the end) counts.
//   Callers that stop early anyway must pass their stop as options.limit.
// - a cap of 0 (limit=0): no rows, last_seq = since (descending: update_seq), pending as above.
// Throws what the engine throws (SQLite I/O, corruption).
Page read_page(engine::Snapshot& snapshot, const FeedOptions& options, uint64_t max_rows);

// read_page() into `page`, reusing the storage of the rows it holds (their strings and vectors):
// a feed that reads page after page into one Page allocates little per row after the first.
// `page` is overwritten; on a throw its contents are unspecified.
void read_page_into(engine::Snapshot& snapshot, const FeedOptions& options, uint64_t max_rows,
                    Page& page);

}  // namespace divan::changes
