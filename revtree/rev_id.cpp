// Rev id text form, canonicalisation and ordering. spec: revision-trees.md §1.
#include "revtree/rev_id.h"

#include <limits>

#include "base/hex.h"

namespace divan::revtree {
namespace {

// Positions beyond int64 are nobody's real history (CouchDB/PouchDB count edits); capping keeps
// pos+1 and JSON/SQLite integer round trips safe everywhere above us.
constexpr uint64_t kMaxPos = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

char to_lower_ascii(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

}  // namespace

std::string RevId::str() const {
  std::string out = std::to_string(pos);
  out += '-';
  out += id;
  return out;
}

std::strong_ordering operator<=>(const RevId& a, const RevId& b) {
  if (a.pos != b.pos) return a.pos <=> b.pos;
  // std::string::compare is char_traits<char>::compare: memcmp semantics (bytes as unsigned char),
  // then the shorter string first. That is the byte order the winner rule needs (spec §4).
  const int c = a.id.compare(b.id);
  if (c < 0) return std::strong_ordering::less;
  if (c > 0) return std::strong_ordering::greater;
  return std::strong_ordering::equal;
}

std::optional<std::string> canonical_rev_id(std::string_view id) {
  if (id.empty()) return std::nullopt;
  if (id.size() != kHexIdLength) return std::string(id);  // opaque peer-generated id, verbatim
  std::string out(id);
  for (char& c : out) {
    if (hex_digit_value(c, HexCase::kUpper) < 0) return std::nullopt;
    c = to_lower_ascii(c);
  }
  return out;
}

std::optional<RevId> parse_rev(std::string_view text) {
  // The first '-' splits: ids may contain '-' themselves.
  const size_t dash = text.find('-');
  if (dash == std::string_view::npos || dash == 0) return std::nullopt;
  uint64_t pos = 0;
  for (char c : text.substr(0, dash)) {
    // Digits only: no sign, no spaces. (Erlang's list_to_integer would take "+1"; PouchDB's
    // /^\d+-/ would not. We side with the stricter one.) Leading zeros are accepted, as in both.
    if (c < '0' || c > '9') return std::nullopt;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (pos > (kMaxPos - digit) / 10) return std::nullopt;
    pos = pos * 10 + digit;
  }
  // pos 0 is the `_local` doc form ("0-N"), never a tree revision (spec §1, §11).
  if (pos == 0) return std::nullopt;
  auto id = canonical_rev_id(text.substr(dash + 1));
  if (!id) return std::nullopt;
  return RevId{pos, std::move(*id)};
}

}  // namespace divan::revtree
