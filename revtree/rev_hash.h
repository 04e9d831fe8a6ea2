// Deterministic revision ids for interactive writes.
//
// spec: revision-trees.md §2.2 (frozen: changing it makes two versions of Divan produce different
// ids for identical edits, which turns into spurious conflicts). Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace divan::revtree {

// One attachment as it enters the rev hash: name, content type, digest ("md5-<base64>").
struct AttachmentDigest {
  std::string name;
  std::string content_type;
  std::string digest;
};

// Canonical JSON text of `value`: object keys sorted by UTF-8 bytes (recursively), no whitespace,
// minimal string escapes, int64 integers in decimal, other numbers as shortest round-trip doubles.
std::string canonical_json(const nlohmann::ordered_json& value);
// The same text, given `compact` = value.dump() (compact, as bodies are stored): returns a copy of
// `compact` when that is already canonical (keys in order at every level, no floats), which spares
// a second serialisation of the common document; otherwise canonical_json(value).
std::string canonical_json(const nlohmann::ordered_json& value, std::string_view compact);

// 32 lowercase hex chars = MD5(canonical_json([deleted, parent_pos, parent_id, body, atts])).
// `canonical_body` is canonical_json() of the stored body (no `_` special fields), computed by the
// caller off the writer thread; parent_pos 0 / parent_id "" for a first revision.
// `atts` may be in any order: they are sorted by name here.
std::string new_rev_id(bool deleted, uint64_t parent_pos, std::string_view parent_id,
                       std::string_view canonical_body, std::vector<AttachmentDigest> atts = {});

// 32 lowercase hex chars = MD5(bytes): the digest new_rev_id() uses, for other stable ids built the
// same way (replicator/rep_id.h). Throws std::runtime_error only if libcrypto has no MD5 at all.
std::string md5_hex(std::string_view bytes);

}  // namespace divan::revtree
