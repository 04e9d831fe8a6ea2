// spec: replication-protocol.md §3.6 (changes rows), §3.8 (_bulk_get results).
#include "replicator/answer_scan.h"

#include <optional>
#include <utility>

#include <simdjson.h>

#include "engine/doc_scan.h"
#include "replicator/doc_wire.h"
#include "revtree/rev_id.h"

namespace divan::replicator::answer_scan {
namespace {

using simdjson::SUCCESS;
namespace dom = simdjson::dom;

// Parses `body` into `parser`. An answer simdjson refuses is read again through nlohmann's
// compact text of it (kept in `holder`), so that what nlohmann accepts is accepted here too.
bool parse(dom::parser& parser, std::string_view body, std::string& holder, dom::element& root) {
  if (parser.parse(body.data(), body.size()).get(root) == SUCCESS) return true;
  Json json = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return false;
  holder = json.dump();
  return parser.parse(holder).get(root) == SUCCESS;
}

// `member` of `element` as a string; empty when it is not one (or `element` is not an object).
std::string_view string_member(const dom::element& element, std::string_view member) {
  std::string_view out;
  if (element[member].get_string().get(out) != SUCCESS) return {};
  return out;
}

// One "ok" document of a _bulk_get result as its replicated write.
Result<engine::DocUpdate> fetched(const dom::element& doc) {
  if (auto split = engine::split_doc(doc)) return doc_wire::parse_fetched(std::move(*split));
  // Not an object, a member named twice, a kept `_` member: the nlohmann path decides.
  return doc_wire::parse_fetched(engine::to_nlohmann(doc));
}

BulkGetResult read_result(const dom::element& result) {
  BulkGetResult out;
  dom::array items;
  if (result["docs"].get_array().get(items) != SUCCESS || items.size() == 0) return out;
  out.has_docs = true;
  for (const dom::element item : items) {
    dom::element value;
    if (item["ok"].get(value) == SUCCESS) {
      out.docs.push_back(fetched(value));
    } else if (item["error"].get(value) == SUCCESS && string_member(value, "error") == "not_found") {
      ++out.not_found;
    } else {
      out.other = true;
    }
  }
  return out;
}

}  // namespace

tl::expected<ChangesPage, std::string> changes_page(std::string_view body, const Json& since) {
  dom::parser parser;
  std::string holder;
  dom::element root;
  dom::array results;
  if (!parse(parser, body, holder, root) || root["results"].get_array().get(results) != SUCCESS) {
    return tl::unexpected(std::string("no results array"));
  }
  ChangesPage page;
  page.rows.reserve(results.size());
  std::optional<dom::element> last_row_seq;  // of every row, skipped ones included
  for (const dom::element row : results) {
    dom::element seq;
    if (row["seq"].get(seq) != SUCCESS) return tl::unexpected(std::string("a row without seq"));
    last_row_seq = seq;
    Change change;
    change.seq = engine::to_nlohmann(seq);
    change.id = string_member(row, "id");
    dom::array changes;
    if (row["changes"].get_array().get(changes) != SUCCESS) {
      return tl::unexpected(std::string("a row without changes"));
    }
    change.revs.reserve(changes.size());
    for (const dom::element item : changes) {
      auto rev = revtree::parse_rev(string_member(item, "rev"));
      if (!rev) return tl::unexpected(std::string("a bad rev"));
      change.revs.push_back(std::move(*rev));
    }
    // §3.6: a `removed` row (a filtered feed whose doc no longer passes) drops its first rev.
    bool flag = false;
    if (row["removed"].get_bool().get(flag) == SUCCESS && flag && !change.revs.empty()) {
      change.revs.erase(change.revs.begin());
    }
    if (row["deleted"].get_bool().get(flag) == SUCCESS) change.deleted = flag;
    // §3.6: CouchDB skips (and logs) rows with an empty id.
    if (change.id.empty()) continue;
    page.rows.push_back(std::move(change));
  }
  dom::element last;
  if (root["last_seq"].get(last) == SUCCESS && !last.is_null()) {
    page.last_seq = engine::to_nlohmann(last);
  } else if (last_row_seq && !last_row_seq->is_null()) {
    page.last_seq = engine::to_nlohmann(*last_row_seq);
  } else {
    page.last_seq = since;
  }
  if (int64_t pending = 0; root["pending"].get_int64().get(pending) == SUCCESS && pending >= 0) {
    page.pending = static_cast<uint64_t>(pending);
  }
  return page;
}

std::optional<std::vector<BulkGetResult>> bulk_get(std::string_view body, size_t expected) {
  dom::parser parser;
  std::string holder;
  dom::element root;
  dom::object top;
  dom::array results;
  // §3.8: exactly {"results":[…]}, one result per entry.
  if (!parse(parser, body, holder, root) || root.get_object().get(top) != SUCCESS ||
      top.size() != 1 || top["results"].get_array().get(results) != SUCCESS ||
      results.size() != expected) {
    return std::nullopt;
  }
  std::vector<BulkGetResult> out;
  out.reserve(expected);
  for (const dom::element result : results) out.push_back(read_result(result));
  return out;
}

}  // namespace divan::replicator::answer_scan
