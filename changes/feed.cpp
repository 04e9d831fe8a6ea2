// The changes feed's rows: one per document at its latest seq (spec: http-api.md §13.2,
// revision-trees.md §4 leaf order, §9 seqs).
//
// The common case, style=main_only without include_docs or a selector, never decodes a revision
// tree nor reads a body: the seq index row already holds the winner and its deleted flag.
#include "changes/feed.h"

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "base/numbers.h"
#include "engine/doc_render.h"
#include "revtree/rev_id.h"
#include "revtree/rev_tree.h"

namespace divan::changes {

using Json = nlohmann::ordered_json;

// ---- Filter -------------------------------------------------------------------------------------

Result<Filter> Filter::doc_ids(const nlohmann::ordered_json& ids) {
  static constexpr const char* kNotAList = "`doc_ids` filter parameter is not a list of doc ids.";
  if (!ids.is_array()) return fail(Code::kBadRequest, kNotAList);
  Filter filter;
  filter.kind_ = Kind::kDocIds;
  filter.ids_.reserve(ids.size());
  for (const auto& id : ids) {
    if (!id.is_string()) return fail(Code::kBadRequest, kNotAList);
    filter.ids_.push_back(id.get<std::string>());
  }
  std::sort(filter.ids_.begin(), filter.ids_.end());
  filter.ids_.erase(std::unique(filter.ids_.begin(), filter.ids_.end()), filter.ids_.end());
  return filter;
}

Result<Filter> Filter::selector(const nlohmann::ordered_json& selector) {
  auto parsed = Selector::parse(selector);
  if (!parsed) return tl::unexpected(parsed.error());
  Filter filter;
  filter.kind_ = Kind::kSelector;
  filter.selector_ = std::make_shared<const Selector>(std::move(*parsed));
  return filter;
}

Filter Filter::design() {
  Filter filter;
  filter.kind_ = Kind::kDesign;
  return filter;
}

bool Filter::needs_body() const { return kind_ == Kind::kSelector; }

bool Filter::accepts_id(std::string_view id) const {
  switch (kind_) {
    case Kind::kDocIds: return std::binary_search(ids_.begin(), ids_.end(), id);
    case Kind::kDesign: return id.starts_with("_design/");
    default: return true;
  }
}

bool Filter::accepts_doc(const nlohmann::ordered_json& doc) const {
  return kind_ != Kind::kSelector || selector_->matches(doc);
}

const std::vector<std::string>* Filter::ids() const {
  return kind_ == Kind::kDocIds ? &ids_ : nullptr;
}

// ---- Pages --------------------------------------------------------------------------------------

namespace {

// Up to this many _doc_ids, a page reads each doc by id and sorts them by seq instead of scanning
// the whole seq index (CouchDB's changes_doc_ids_optimization_threshold, default 100). Beyond it a
// scan is cheaper than that many point reads.
constexpr size_t kDocIdsLookupMax = 100;

// Rows reserved up front. Few: a live feed's page after a wake holds a row or two, and a whole
// page's worth (~220 KiB of ChangeRows) per wake would cost more than the row. A long feed grows the
// vector a few times on its first page and then reuses it (read_page_into).
constexpr uint64_t kReserveRows = 64;

// render_extras() only uses the revs limit for _revisions/_revs_info, which a feed never asks for.
constexpr uint32_t kUnusedRevsLimit = 1000;

void append_uint(std::string& out, uint64_t n) {
  char buf[20];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

// One document's latest change, from the seq index or a point read.
struct Change {
  std::string_view id;
  uint64_t seq = 0;
  std::string_view winner;  // "<pos>-<id>"
  bool deleted = false;     // the winner is deleted
  std::string_view tree_bytes;                // encoded tree, when `record` is null
  const engine::DocRecord* record = nullptr;  // already decoded (doc_ids lookups)
};

class PageBuilder {
 public:
  PageBuilder(engine::Snapshot& snapshot, const FeedOptions& options, uint64_t cap, Page& page)
      : snapshot_(snapshot), options_(options), cap_(cap), page_(page) {}

  // Adds the row of `change` unless the filter drops it; false once the page holds `cap` rows.
  bool add(const Change& change) {
    if (!options_.filter.accepts_id(change.id)) return true;
    if (options_.style == Style::kMainOnly && !options_.include_docs &&
        !options_.filter.needs_body()) {
      add_winner_row(change);
    } else {
      add_full_row(change);
    }
    return used_ < cap_;
  }

  uint64_t last_row_seq() const { return last_row_seq_; }

  // Drops the rows of an earlier page that this one did not reuse.
  void finish() { page_.rows.resize(used_); }

 private:
  // The fast path: everything comes from the seq index row, written over a reused row's strings.
  void add_winner_row(const Change& c) {
    ChangeRow& row = new_row(c);
    row.changes.resize(1);
    revtree::Leaf& winner = row.changes.front();
    set_winner_rev(winner.rev, c);
    winner.deleted = c.deleted;
  }

  void add_full_row(const Change& c) {
    const bool all_docs = options_.style == Style::kAllDocs;
    // The tree is needed for the leaves (all_docs) and for `_conflicts`.
    const engine::DocRecord* record =
        all_docs || (options_.include_docs && (options_.conflicts || options_.attachments))
            ? &decode(c)
            : nullptr;

    std::vector<revtree::Leaf> leaves;
    if (all_docs) {
      leaves = record->tree.leaves();  // leaf order, winner first (revision-trees.md §4)
    } else {
      leaves.emplace_back().deleted = c.deleted;
      set_winner_rev(leaves.back().rev, c);
    }

    // include_docs shows the first listed leaf: the winner, or with a selector the first leaf that
    // passes (for main_only that is the winner), as CouchDB's changes_enumerator does.
    std::optional<std::string> shown_body;
    if (options_.filter.needs_body()) {
      // Each listed leaf is matched on its own (couch_changes:filter opens every leaf for
      // all_docs); only those that pass are listed, and the row is dropped if none does.
      size_t kept = 0;
      for (size_t i = 0; i < leaves.size(); ++i) {
        auto body = snapshot_.body(c.id, leaves[i].rev, options_.att_encoding_info);
        if (!body) continue;  // never for a leaf: leaves always hold their body
        Json doc = Json::parse(
            engine::render_doc(c.id, leaves[i].rev.str(), leaves[i].deleted, *body), nullptr,
            false);
        if (doc.is_discarded() || !options_.filter.accepts_doc(doc)) continue;
        if (kept == 0) shown_body = std::move(body);
        if (kept != i) leaves[kept] = std::move(leaves[i]);
        ++kept;
      }
      if (kept == 0) return;
      leaves.resize(kept);
    }

    std::optional<std::string> doc;
    if (options_.include_docs && options_.attachments) {
      // Attachment data inline: the full read of the revision (engine/doc_render.h).
      const revtree::Leaf& leaf = leaves.front();
      engine::ReadOptions read;
      read.conflicts = options_.conflicts;
      read.attachments = engine::AttachmentMode::kInline;
      read.att_encoding_info = options_.att_encoding_info;
      auto rendered =
          engine::read_revision(snapshot_, *record, leaf.rev, leaf.deleted, read, kUnusedRevsLimit);
      doc = rendered ? std::move(*rendered)
                     : engine::render_doc(c.id, leaf.rev.str(), leaf.deleted, "{}");
    } else if (options_.include_docs) {
      const revtree::Leaf& leaf = leaves.front();
      if (!shown_body) shown_body = snapshot_.body(c.id, leaf.rev, options_.att_encoding_info);
      std::string extras;
      if (options_.conflicts) {
        engine::ReadOptions read;
        read.conflicts = true;
        extras = engine::render_extras(*record, leaf.rev, read, kUnusedRevsLimit);
      }
      doc = engine::render_doc(c.id, leaf.rev.str(), leaf.deleted,
                               shown_body ? std::string_view(*shown_body) : "{}", extras);
    }
    ChangeRow& row = new_row(c);
    row.changes = std::move(leaves);
    row.doc = std::move(doc);
  }

  // The next row: a row left in the page by an earlier read is reused, its strings and vector
  // keeping their capacity, so a feed read page after page allocates little after the first.
  ChangeRow& new_row(const Change& c) {
    if (used_ == page_.rows.size()) page_.rows.emplace_back();
    ChangeRow& row = page_.rows[used_++];
    row.seq = c.seq;
    row.id.assign(c.id);
    row.deleted = c.deleted;  // of the winner, whichever leaves are listed (§13.2)
    row.doc.reset();
    last_row_seq_ = c.seq;
    return row;
  }

  // The winner's text comes from the engine, which stores revs canonical (RevId::str()): split it
  // without parse_rev's validation and lowercasing, which the fast path would feel.
  static void set_winner_rev(revtree::RevId& rev, const Change& c) {
    const std::string_view text = c.winner;
    const size_t dash = text.find('-');
    const auto pos = parse_unsigned<uint64_t>(text.substr(0, dash));
    if (dash == std::string_view::npos || !pos || *pos == 0 || dash + 1 == text.size()) {
      throw std::runtime_error("corrupt winner rev for doc " + std::string(c.id));
    }
    rev.pos = *pos;
    rev.id.assign(text.substr(dash + 1));
  }

  const engine::DocRecord& decode(const Change& c) {
    if (c.record) return *c.record;
    auto tree = revtree::RevTree::decode(c.tree_bytes);
    if (!tree) throw std::runtime_error("corrupt revision tree for doc " + std::string(c.id));
    scratch_.id.assign(c.id);
    scratch_.seq = c.seq;
    scratch_.tree = std::move(*tree);
    return scratch_;
  }

  engine::Snapshot& snapshot_;
  const FeedOptions& options_;
  const uint64_t cap_;
  Page& page_;
  size_t used_ = 0;  // rows of page_ filled by this read
  uint64_t last_row_seq_ = 0;
  engine::DocRecord scratch_;  // reused between rows
};

// Few doc ids: read each by id and list those newer than `since` in seq order. Returns true when
// the page filled up.
bool add_doc_ids(engine::Snapshot& snapshot, const FeedOptions& options,
                 const std::vector<std::string>& ids, PageBuilder& builder) {
  std::vector<engine::DocRecord> records;
  for (const auto& id : ids) {
    auto record = snapshot.doc(id);
    if (record && record->seq > options.since) records.push_back(std::move(*record));
  }
  std::sort(records.begin(), records.end(),
            [](const auto& a, const auto& b) { return a.seq < b.seq; });
  for (const auto& record : records) {
    revtree::Leaf winner = record.tree.winner();
    std::string winner_text = winner.rev.str();
    Change c{record.id, record.seq, winner_text, winner.deleted, {}, &record};
    if (!builder.add(c)) return true;
  }
  return false;
}

}  // namespace

Page read_page(engine::Snapshot& snapshot, const FeedOptions& options, uint64_t max_rows) {
  Page page;
  read_page_into(snapshot, options, max_rows, page);
  return page;
}

void read_page_into(engine::Snapshot& snapshot, const FeedOptions& options, uint64_t max_rows,
                    Page& page) {
  page.last_seq = 0;
  page.pending = 0;
  const uint64_t cap = std::min(options.limit.value_or(UINT64_MAX), max_rows);
  if (cap == 0) {
    page.rows.clear();
    if (options.descending) {
      page.last_seq = snapshot.update_seq();
      page.pending = snapshot.count_after_seq(0);
    } else {
      page.last_seq = options.since;
      page.pending = snapshot.count_after_seq(options.since);
    }
    return;
  }

  page.rows.reserve(std::min<uint64_t>(cap, kReserveRows));
  PageBuilder builder(snapshot, options, cap, page);
  bool full = false;
  uint64_t last_scanned = 0;
  const auto* ids = options.filter.ids();
  if (ids && ids->size() <= kDocIdsLookupMax && !options.descending) {
    full = add_doc_ids(snapshot, options, *ids, builder);
  } else {
    // Seqs are stored as SQLite integers: a larger `since` means "after everything".
    const uint64_t since = std::min<uint64_t>(options.since, INT64_MAX);
    snapshot.scan_by_seq(since, options.descending, [&](const engine::DocRow& row) {
      last_scanned = row.seq;
      if (builder.add(Change{row.id, row.seq, row.winner, row.deleted, row.tree_bytes, nullptr})) {
        return true;
      }
      full = true;
      return false;
    });
  }
  builder.finish();

  if (full) {
    page.last_seq = builder.last_row_seq();
    // Counting is linear in what is left, so a long ascending feed read page by page would be
    // quadratic if every page counted: only a page that can end the feed does (see feed.h).
    if (options.descending) {
      page.pending = snapshot.count_after_seq(0) - snapshot.count_after_seq(page.last_seq) - 1;
    } else if (options.limit && page.rows.size() >= *options.limit) {
      page.pending = snapshot.count_after_seq(page.last_seq);
    }
  } else if (options.descending) {
    page.last_seq = last_scanned ? last_scanned : snapshot.update_seq();
  } else {
    page.last_seq = std::max(options.since, snapshot.update_seq());
  }
}

void append_seq(std::string& out, uint64_t seq) {
  out.push_back('"');
  append_uint(out, seq);
  out.push_back('"');
}

std::string seq_json(uint64_t seq) {
  std::string out;
  append_seq(out, seq);
  return out;
}

}  // namespace divan::changes
