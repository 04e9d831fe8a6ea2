// Documents inside a large JSON text (a `_bulk_get` answer, a `_bulk_docs` request), read with
// simdjson instead of nlohmann's DOM.
//
// Why: in a pull of 500-doc batches, nlohmann's tree (a heap node per value) and the dump of each
// body back to text cost ~20 µs per document, most of the replicating node's CPU. simdjson parses
// the whole text into one tape, fully validated (UTF-8 included), many times faster. split_doc()
// then writes each body straight from the tape to the compact text the engine stores, and only the
// few `_` members become a small nlohmann object, so that parse_incoming_doc (doc_json.h) stays
// the one place where the rules for `_id`, `_rev`, `_revisions`, `_deleted` and `_attachments` live.
//
// The body comes out byte for byte as nlohmann's dump of the same document would write it (member
// order, numbers, escapes: tests/fuzz/json_fuzz.cpp checks it on arbitrary input). Where the two
// paths could differ, split_doc() declines and the caller takes the nlohmann path: a member named
// twice, at any depth (nlohmann keeps one of them), and a `_` member the body keeps
// (`_access`, doc_json.h is_kept_special), whose place among the body members the split would
// lose.
//
// Pure functions; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "engine/doc_json.h"
#include "engine/write_ops.h"

namespace simdjson::dom {
class element;
}

namespace divan::engine {

// One document object taken apart: its `_` members as a nlohmann object (input for
// parse_incoming_doc), the others as compact JSON object text in their original order.
struct SplitDoc {
  Json specials = Json::object();
  std::string body;
};

// nullopt when `doc` is not an object, names a member twice at any depth or has a kept `_` member.
std::optional<SplitDoc> split_doc(const simdjson::dom::element& doc);

// The nlohmann value of `element`, with the types nlohmann's parser would give it. Recursive:
// for values of bounded depth (simdjson's parse limits it).
Json to_nlohmann(const simdjson::dom::element& element);

// The replicated write (new_edits=false) of a split document under `id`: to_doc_update's rules,
// with the body as split_doc wrote it. `incoming` is parse_incoming_doc(doc.specials).
[[nodiscard]] Result<DocUpdate> replicated_update(IncomingDoc&& incoming, std::string id,
                                                  std::string body);

// The documents of a `_bulk_docs` request body {"new_edits":false,"docs":[…]}: each split, or as a
// nlohmann value where split_doc declines or the doc is a `_local/` one (its write is no DocUpdate).
// nullopt for any other body, and for one that the server's strict parser
// (http/server/json_body.h) might read differently: a byte order mark, a NUL byte, an escaped
// surrogate, nesting past 256 levels, anything simdjson refuses. The caller then parses the body
// the usual way, which also gives the errors.
using ScannedDoc = std::variant<SplitDoc, Json>;
std::optional<std::vector<ScannedDoc>> scan_replicated_bulk(std::string_view body);

}  // namespace divan::engine
