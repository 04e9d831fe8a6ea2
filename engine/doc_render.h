// How a stored revision is shown: `{"_id":…,"_rev":…,<body fields>,"_deleted":true?,<extras>}`,
// built by splicing the stored compact JSON body (never re-parsed), with the extras a read asks for
// (http-api.md §5.3, §6.1). Used by every reader of documents: the HTTP handlers and the changes feed.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/json_string.h"
#include "engine/attachments.h"
#include "engine/database.h"
#include "revtree/rev_tree.h"

namespace divan::engine {

// JSON string literals (base/json_string.h), named here too for the callers that qualify them.
using divan::append_json_string;
using divan::json_string;

// How a read shows attachments (§6.1, §7.1).
enum class AttachmentMode {
  kStubs,    // {"content_type","revpos","digest","length","stub":true}: the default
  kInline,   // attachments=true: {"content_type","revpos","digest","data":"<base64>"}
  kFollows,  // multipart: {"content_type","revpos","digest","length","follows":true}, the bytes
             // going in the parts after the JSON (read_revision lists them in `follows`)
};

// Which extras a document read adds (GET /{db}/{docid} query options, §6.1).
struct ReadOptions {
  bool revs = false;
  bool revs_info = false;
  bool conflicts = false;
  bool deleted_conflicts = false;
  bool local_seq = false;
  AttachmentMode attachments = AttachmentMode::kStubs;
  // att_encoding_info: stubs and inline entries of gzip-stored attachments also show `encoding`
  // and `encoded_length` (follows entries always do).
  bool att_encoding_info = false;
  // atts_since (revision-trees.md §8): with kInline/kFollows, only attachments whose revpos is
  // greater than the pos of the first of these revs found on the read revision's own ancestry
  // carry data; the others stay stubs. None found (or empty): all carry data.
  std::vector<revtree::RevId> atts_since;
};

// atts_since (revision-trees.md §8): the pos of the first rev of `rev`'s own ancestry (itself
// first, towards the root) listed in `since`; attachments up to that pos travel as stubs. nullopt
// when none is listed: every attachment carries data. REQUIRES: `rev` is in `tree`.
std::optional<uint64_t> atts_since_pos(const revtree::RevTree& tree, const revtree::RevId& rev,
                                       const std::vector<revtree::RevId>& since);

// `{"_id":…,"_rev":…,<body fields>,"_deleted":true?,<extras>}`; `body` is stored compact JSON.
std::string render_doc(std::string_view id, std::string_view rev, bool deleted,
                       std::string_view body, std::string_view extras = {});
// The extras of `rev` within `doc`, each prefixed by ',' (empty when none were asked for).
std::string render_extras(const DocRecord& doc, const revtree::RevId& rev,
                          const ReadOptions& options, uint32_t revs_limit);
// A stored revision rendered with extras and its attachments as `options.attachments` asks;
// nullopt when its body is not held (404 missing). With kFollows, the attachments sent as parts
// are appended to `*follows` (required then) in `_attachments` order.
std::optional<std::string> read_revision(Snapshot& snapshot, const DocRecord& doc,
                                         const revtree::RevId& rev, bool deleted,
                                         const ReadOptions& options, uint32_t revs_limit,
                                         std::vector<AttachmentInfo>* follows = nullptr);

}  // namespace divan::engine
