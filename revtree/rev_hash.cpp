// Deterministic revision ids. spec: revision-trees.md §2.2 — FROZEN: any change to the canonical
// text below changes the ids Divan generates, so two Divan versions would turn identical edits into
// conflicts. Change nothing here without a migration story.
#include "revtree/rev_hash.h"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <stdexcept>
#include <tuple>
#include <utility>

#include "base/hex.h"

namespace divan::revtree {
namespace {

using Json = nlohmann::ordered_json;

// Strings: raw UTF-8; escape only '"', '\\' and U+0000..U+001F (short forms where JSON has one,
// otherwise \u00XX with lowercase hex). Everything else, U+007F and non-ASCII included, is
// verbatim.
void append_string(std::string& out, std::string_view s) {
  out += '"';
  // Characters that need no escape are copied a run at a time rather than one by one.
  size_t run = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        append_hex(out, c);
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

void append_int(std::string& out, int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// Numbers are canonicalised by value, not by how the sender spelled them: an integral value that
// fits int64 is plain decimal (so 1, 1.0, 1e0 and 100 vs 1e2 hash alike), everything else is the
// shortest round-trip double text from std::to_chars (e.g. 0.1, 1e+100, 1e-07, and
// 18446744073709551616 for 2^64-1, which is not a double and rounds to 2^64).
void append_double(std::string& out, double v) {
  if (!std::isfinite(v)) {
    // JSON cannot carry NaN/inf, so parsed bodies never get here; match nlohmann's dump().
    out += "null";
    return;
  }
  // [-2^63, 2^63) is exactly representable at both ends, so the cast below is defined.
  constexpr double kTwo63 = 9223372036854775808.0;
  if (std::trunc(v) == v && v >= -kTwo63 && v < kTwo63) {
    append_int(out, static_cast<int64_t>(v));  // -0.0 becomes "0"
    return;
  }
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_scalar(std::string& out, const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      out += "null";
      break;
    case Json::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      break;
    case Json::value_t::number_integer:
      append_int(out, v.get<int64_t>());
      break;
    case Json::value_t::number_unsigned: {
      const auto u = v.get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        append_int(out, static_cast<int64_t>(u));
      } else {
        append_double(out, static_cast<double>(u));
      }
      break;
    }
    case Json::value_t::number_float:
      append_double(out, v.get<double>());
      break;
    case Json::value_t::string:
      append_string(out, v.get_ref<const std::string&>());
      break;
    case Json::value_t::binary: {
      // Not producible by JSON parsing; rendered like nlohmann's dump, with keys in sorted order.
      out += "{\"bytes\":[";
      bool first = true;
      for (const uint8_t b : v.get_binary()) {
        if (!first) out += ',';
        first = false;
        append_int(out, b);
      }
      out += "],\"subtype\":";
      if (v.get_binary().has_subtype()) {
        append_int(out, v.get_binary().subtype());
      } else {
        out += "null";
      }
      out += '}';
      break;
    }
    default:
      out += "null";
      break;  // discarded: never a stored body
  }
}

// MD5 through an algorithm fetched once and a context kept per thread. EVP_Digest(…, EVP_md5())
// looks MD5 up in OpenSSL 3's provider tables and builds a context on every call: callgrind put a
// rev id at ~6k instructions that way, ~3.5k this way.
bool md5_digest(std::string_view text, unsigned char* md, unsigned int& md_len) {
  static EVP_MD* const kMd5 = EVP_MD_fetch(nullptr, "MD5", nullptr);
  thread_local const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(),
                                                                               EVP_MD_CTX_free);
  return kMd5 != nullptr && ctx != nullptr && EVP_DigestInit_ex(ctx.get(), kMd5, nullptr) == 1 &&
         EVP_DigestUpdate(ctx.get(), text.data(), text.size()) == 1 &&
         EVP_DigestFinal_ex(ctx.get(), md, &md_len) == 1;
}

// One open container on the explicit stack. Iterative, so a maliciously deep body cannot overflow
// the C++ stack (the parser above us is iterative too).
struct Frame {
  const Json* container;
  size_t next = 0;
  std::vector<std::pair<const std::string*, const Json*>> members;  // objects: sorted by key bytes
};

}  // namespace

std::string canonical_json(const Json& value) {
  std::string out;
  std::vector<Frame> stack;

  // Emits `v`; containers are opened and pushed, their elements emitted by the loop below.
  auto open = [&](const Json& v) {
    if (v.is_array()) {
      out += '[';
      stack.push_back(Frame{&v, 0, {}});
    } else if (v.is_object()) {
      out += '{';
      Frame f{&v, 0, {}};
      f.members.reserve(v.size());
      for (auto it = v.begin(); it != v.end(); ++it) f.members.emplace_back(&it.key(), &it.value());
      // Object keys are unique, so the order is total. std::string compares as unsigned bytes,
      // which is UTF-8 code point order.
      std::sort(f.members.begin(), f.members.end(),
                [](const auto& a, const auto& b) { return *a.first < *b.first; });
      stack.push_back(std::move(f));
    } else {
      append_scalar(out, v);
    }
  };

  open(value);
  while (!stack.empty()) {
    Frame& f = stack.back();
    if (f.container->is_array()) {
      if (f.next == f.container->size()) {
        out += ']';
        stack.pop_back();
        continue;
      }
      if (f.next > 0) out += ',';
      const Json& child = (*f.container)[f.next++];
      open(child);  // may reallocate `stack`: `f` is not used after this
    } else {
      if (f.next == f.members.size()) {
        out += '}';
        stack.pop_back();
        continue;
      }
      if (f.next > 0) out += ',';
      const auto [key, child] = f.members[f.next++];
      append_string(out, *key);
      out += ':';
      open(*child);
    }
  }
  return out;
}

namespace {

// A scalar that nlohmann's dump() writes exactly as canonical_json does: not a float (dump keeps
// "1.0", canonical writes "1"), not an unsigned above INT64_MAX (canonical writes it as a double),
// not binary.
bool dumps_canonically(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
    case Json::value_t::boolean:
    case Json::value_t::number_integer:
    case Json::value_t::string:
      return true;
    case Json::value_t::number_unsigned:
      return v.get<uint64_t>() <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    default:
      return false;
  }
}

// True when value.dump() is already canonical_json(value): every object's keys in byte order and
// every scalar dumped alike (strings are escaped the same way by both). Iterative, as
// canonical_json is.
bool dump_is_canonical(const Json& value) {
  std::vector<const Json*> todo{&value};
  while (!todo.empty()) {
    const Json& v = *todo.back();
    todo.pop_back();
    if (v.is_object()) {
      const std::string* previous = nullptr;
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (previous != nullptr && !(*previous < it.key())) return false;
        previous = &it.key();
        todo.push_back(&it.value());
      }
    } else if (v.is_array()) {
      for (const Json& element : v) todo.push_back(&element);
    } else if (!dumps_canonically(v)) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string canonical_json(const Json& value, std::string_view compact) {
  return dump_is_canonical(value) ? std::string(compact) : canonical_json(value);
}

std::string new_rev_id(bool deleted, uint64_t parent_pos, std::string_view parent_id,
                       std::string_view canonical_body, std::vector<AttachmentDigest> atts) {
  // Attachment order in a document is not meaningful; names are unique within a doc, and the full
  // tuple breaks any tie so the result never depends on the caller's order.
  std::sort(atts.begin(), atts.end(), [](const AttachmentDigest& a, const AttachmentDigest& b) {
    return std::tie(a.name, a.content_type, a.digest) < std::tie(b.name, b.content_type, b.digest);
  });

  // canonical_json([deleted, parent_pos, parent_id, body, [[name, content_type, digest], ...]])
  std::string text;
  text.reserve(canonical_body.size() + parent_id.size() + 64 + atts.size() * 64);
  text += '[';
  text += deleted ? "true" : "false";
  text += ',';
  text += std::to_string(parent_pos);
  text += ',';
  append_string(text, parent_id);
  text += ',';
  text += canonical_body;
  text += ",[";
  for (size_t i = 0; i < atts.size(); ++i) {
    if (i > 0) text += ',';
    text += '[';
    append_string(text, atts[i].name);
    text += ',';
    append_string(text, atts[i].content_type);
    text += ',';
    append_string(text, atts[i].digest);
    text += ']';
  }
  text += "]]";

  return md5_hex(text);
}

std::string md5_hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (!md5_digest(bytes, md, md_len) || md_len != 16) {
    // Only possible if libcrypto cannot provide MD5 at all (e.g. a FIPS-only provider): a broken
    // deployment, not a per-request condition.
    throw std::runtime_error("revtree: MD5 unavailable in libcrypto");
  }
  return to_hex(std::string_view(reinterpret_cast<const char*>(md), md_len));
}

}  // namespace divan::revtree
