// A revision id: `{pos, id}`, written "<pos>-<id>".
//
// spec: revision-trees.md §1. Ids are opaque byte strings, except that a 32-character id is hex and
// is canonicalised to lowercase (so "1-ABC…" and "1-abc…" are one revision). Comparisons are on
// (pos, id bytes). Pure value type; safe to copy between threads.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace divan::revtree {

// CouchDB generates 32 hex chars and decodes any 32-char id as hex (couch_doc:parse_revid), so a
// 32-char id that is not hex can never be a valid revision there either.
inline constexpr size_t kHexIdLength = 32;

struct RevId {
  uint64_t pos = 0;
  std::string id;

  std::string str() const;  // "<pos>-<id>"

  friend bool operator==(const RevId&, const RevId&) = default;
  // Byte order of (pos, id): memcmp on ids, a prefix sorts first.
  friend std::strong_ordering operator<=>(const RevId& a, const RevId& b);
};

// Why a rev id string was rejected; the HTTP layer turns these into CouchDB's errors.
enum class RevIdError {
  kBadFormat,  // 400 bad_request "Invalid rev format"
  kNotHex,     // 32 chars but not hex: "Invalid rev format" (or doc_validation inside _revisions)
};

// Parses "<pos>-<id>" with pos >= 1 and a non-empty id (ids may contain '-': the first '-' splits).
// Returns nullopt for every invalid form; a 32-char id must be hex and comes back lowercase.
std::optional<RevId> parse_rev(std::string_view text);

// Canonicalises one id taken from `_revisions.ids`: a 32-char id must be hex (lowercased);
// any other non-empty string is kept verbatim. nullopt for an empty id or a 32-char non-hex one.
std::optional<std::string> canonical_rev_id(std::string_view id);

}  // namespace divan::revtree
