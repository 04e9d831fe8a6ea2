// How a stored revision is shown: `{"_id":…,"_rev":…,<body fields>,"_deleted":true?,<extras>}`,
// built by splicing the stored compact JSON body (never re-parsed), with the extras a read asks for
// (http-api.md §5.3, §6.1). Used by every reader of documents: the HTTP handlers and the changes feed.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/database.h"
#include "revtree/rev_tree.h"

namespace divan::engine {

// Appends `text` as a JSON string literal (quotes included). UTF-8 passes through unescaped.
void append_json_string(std::string& out, std::string_view text);
std::string json_string(std::string_view text);

// Which extras a document read adds (GET /{db}/{docid} query options, §6.1).
struct ReadOptions {
  bool revs = false;
  bool revs_info = false;
  bool conflicts = false;
  bool deleted_conflicts = false;
  bool local_seq = false;
};

// `{"_id":…,"_rev":…,<body fields>,"_deleted":true?,<extras>}`; `body` is stored compact JSON.
std::string render_doc(std::string_view id, std::string_view rev, bool deleted,
                       std::string_view body, std::string_view extras = {});
// The extras of `rev` within `doc`, each prefixed by ',' (empty when none were asked for).
std::string render_extras(const DocRecord& doc, const revtree::RevId& rev,
                          const ReadOptions& options, uint32_t revs_limit);
// A stored revision rendered with extras; nullopt when its body is not held (404 missing).
std::optional<std::string> read_revision(Snapshot& snapshot, const DocRecord& doc,
                                         const revtree::RevId& rev, bool deleted,
                                         const ReadOptions& options, uint32_t revs_limit);

}  // namespace divan::engine
