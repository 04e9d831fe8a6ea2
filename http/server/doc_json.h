// Documents on the wire: splitting the special `_` fields off an incoming body (http-api.md §5),
// and rendering a stored body back with `_id`, `_rev` and the requested extras (§5.3) by splicing
// text, without re-parsing the stored body.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/database.h"
#include "engine/doc_render.h"
#include "engine/error.h"
#include "revtree/rev_tree.h"

namespace divan::http {

using Json = nlohmann::ordered_json;

inline constexpr std::string_view kLocalPrefix = "_local/";
inline constexpr std::string_view kDesignPrefix = "_design/";
// CouchDB's default max_document_size: larger bodies are 413 document_too_large (§5.4).
inline constexpr size_t kMaxDocumentSize = 8'000'000;

// Id rules (http-api.md §5.1): illegal_docid with CouchDB's reasons.
Result<void> validate_doc_id(std::string_view id);
Result<void> validate_json_doc_id(const Json& id);  // also "Document id must be a string"

// A request body with its special fields taken out.
struct IncomingDoc {
  std::optional<std::string> id;              // `_id`, validated
  std::optional<revtree::RevId> rev;          // `_rev`
  std::optional<std::string> raw_rev;         // `_rev` text as given (local docs use "0-N")
  std::optional<revtree::RevPath> revisions;  // `_revisions`
  bool deleted = false;
  Json body = Json::object();                 // user fields in their original order
};

// Validates and splits `doc` (must be an object). `_rev` is parsed as a tree rev unless the doc is
// local (then raw_rev only). Errors: doc_validation / bad_request / illegal_docid per §5.2.
Result<IncomingDoc> parse_incoming_doc(Json&& doc);

// The engine write for a normal (tree) document. new_edits=false needs `_rev` or `_revisions`.
Result<engine::DocUpdate> to_doc_update(IncomingDoc&& doc, std::string id, bool new_edits);
// The engine write for a `_local/…` doc; rev "0-N" or absent.
Result<engine::LocalUpdate> to_local_update(IncomingDoc&& doc, std::string id);

// Rendering stored revisions lives in the engine (changes/ renders docs too).
using engine::ReadOptions;
using engine::read_revision;
using engine::render_doc;
using engine::render_extras;

}  // namespace divan::http
