// Storage encoding of a RevTree: compact, canonical (equal forests give equal bytes), and decoded
// with every read bounds-checked so a corrupt or hostile blob yields nullopt, never a crash.
//
// Format v1 (all integers LEB128 varints):
//   u8 version (=1), varint node_count,
//   then node_count nodes in canonical layout order (preorder, parents first), each:
//     u8 flags: bit0 has_body, bit1 deleted (only with has_body), bit2 root, bit3 id is 32 hex
//     root:     varint pos (>= 1)
//     non-root: varint (index - parent_index) (>= 1); pos = parent pos + 1
//     id:       bit3 set → 16 raw bytes (the 32 lowercase hex chars); else varint length + bytes
// A 32-hex id (what CouchDB, PouchDB and we generate) costs 16 bytes instead of 33, and a node in a
// linear chain costs 2 bytes on top of its id.
#include <cstdint>
#include <limits>

#include "base/hex.h"
#include "revtree/rev_tree.h"
#include "revtree/rev_tree_internal.h"

namespace divan::revtree {
namespace {

constexpr uint8_t kVersion = 1;
constexpr uint8_t kHasBody = 1;
constexpr uint8_t kDeleted = 2;
constexpr uint8_t kRoot = 4;
constexpr uint8_t kHexId = 8;
constexpr uint8_t kKnownFlags = kHasBody | kDeleted | kRoot | kHexId;
// Smallest encoded node: flags + one-byte varint + one-byte id length + one id byte.
constexpr size_t kMinNodeBytes = 4;

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

bool is_lower_hex_id(const std::string& id) {
  if (id.size() != kHexIdLength) return false;
  for (char c : id) {
    if (hex_digit_value(c) < 0) return false;  // lowercase: ids are canonicalised on parse
  }
  return true;
}

class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  size_t remaining() const { return bytes_.size() - at_; }

  bool byte(uint8_t& out) {
    if (at_ >= bytes_.size()) return false;
    out = static_cast<uint8_t>(bytes_[at_++]);
    return true;
  }

  bool varint(uint64_t& out) {
    out = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      uint8_t b = 0;
      if (!byte(b)) return false;
      const uint64_t bits = b & 0x7F;
      if (shift == 63 && bits > 1) return false;  // would overflow 64 bits
      out |= bits << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;  // more than 10 bytes
  }

  bool take(size_t n, std::string_view& out) {
    if (n > remaining()) return false;
    out = bytes_.substr(at_, n);
    at_ += n;
    return true;
  }

 private:
  std::string_view bytes_;
  size_t at_ = 0;
};

}  // namespace

std::string RevTree::encode() const {
  std::string out;
  out.reserve(2 + nodes_.size() * 20);
  out += static_cast<char>(kVersion);
  put_varint(out, nodes_.size());
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& nd = nodes_[i];
    const bool hex = is_lower_hex_id(nd.rev.id);
    uint8_t flags = 0;
    if (nd.has_body) flags |= kHasBody;
    if (nd.has_body && nd.deleted) flags |= kDeleted;
    if (nd.parent < 0) flags |= kRoot;
    if (hex) flags |= kHexId;
    out += static_cast<char>(flags);
    put_varint(out, nd.parent < 0 ? nd.rev.pos : i - static_cast<size_t>(nd.parent));
    if (hex) {
      for (size_t k = 0; k < kHexIdLength; k += 2) {
        out += static_cast<char>(hex_digit_value(nd.rev.id[k]) << 4 |
                                 hex_digit_value(nd.rev.id[k + 1]));
      }
    } else {
      put_varint(out, nd.rev.id.size());
      out += nd.rev.id;
    }
  }
  return out;
}

std::optional<RevTree> RevTree::decode(std::string_view bytes) {
  Reader in(bytes);
  uint8_t version = 0;
  uint64_t count = 0;
  if (!in.byte(version) || version != kVersion || !in.varint(count)) return std::nullopt;
  // Bound the allocation by what the input can possibly hold.
  if (count > in.remaining() / kMinNodeBytes || count > static_cast<uint64_t>(INT32_MAX)) {
    return std::nullopt;
  }
  RevTree tree;
  std::vector<Node>& nodes = tree.nodes_;
  nodes.reserve(static_cast<size_t>(count));
  std::vector<bool> has_child(static_cast<size_t>(count), false);
  for (size_t i = 0; i < count; ++i) {
    uint8_t flags = 0;
    uint64_t num = 0;
    if (!in.byte(flags) || (flags & ~kKnownFlags) != 0) return std::nullopt;
    if ((flags & kDeleted) && !(flags & kHasBody)) return std::nullopt;
    if (!in.varint(num)) return std::nullopt;
    Node nd;
    nd.has_body = flags & kHasBody;
    nd.deleted = flags & kDeleted;
    if (flags & kRoot) {
      if (num == 0) return std::nullopt;  // pos >= 1
      nd.rev.pos = num;
      nd.parent = -1;
    } else {
      if (num == 0 || num > i) return std::nullopt;  // parents precede children
      const size_t parent = i - static_cast<size_t>(num);
      if (nodes[parent].rev.pos == std::numeric_limits<uint64_t>::max()) return std::nullopt;
      nd.rev.pos = nodes[parent].rev.pos + 1;
      nd.parent = static_cast<int32_t>(parent);
      has_child[parent] = true;
    }
    std::string_view raw;
    if (flags & kHexId) {
      if (!in.take(kHexIdLength / 2, raw)) return std::nullopt;
      nd.rev.id = to_hex(raw);
    } else {
      uint64_t len = 0;
      if (!in.varint(len) || len == 0 || len > in.remaining() ||
          !in.take(static_cast<size_t>(len), raw)) {
        return std::nullopt;
      }
      nd.rev.id.assign(raw);
    }
    nodes.push_back(std::move(nd));
  }
  if (in.remaining() != 0) return std::nullopt;
  // Every leaf holds a body (spec §3): leaves are only ever created by writes carrying content.
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (!has_child[i] && !nodes[i].has_body) return std::nullopt;
  }
  // Bytes from encode() are already canonical; anything else that is structurally valid is brought
  // into the layout every other operation relies on.
  internal::canonicalize(nodes);
  return tree;
}

}  // namespace divan::revtree
