#include "engine/doc_scan.h"

#include <algorithm>
#include <string_view>
#include <unordered_set>
#include <vector>

#include <simdjson.h>

#include "base/json_string.h"
#include "engine/doc_json.h"

namespace divan::engine {
namespace {

// Past this many members a hash set finds repeats; below it a linear scan is cheaper.
constexpr size_t kLinearKeyScan = 16;

// Whether some key is there twice. Keys are views into the parser's tape.
bool has_repeated_key(const std::vector<std::string_view>& keys) {
  if (keys.size() <= kLinearKeyScan) {
    for (size_t i = 1; i < keys.size(); ++i) {
      if (std::find(keys.begin(), keys.begin() + static_cast<ptrdiff_t>(i), keys[i]) !=
          keys.begin() + static_cast<ptrdiff_t>(i)) {
        return true;
      }
    }
    return false;
  }
  std::unordered_set<std::string_view> seen;
  seen.reserve(keys.size());
  for (auto key : keys) {
    if (!seen.insert(key).second) return true;
  }
  return false;
}

// Whether `object` names one of its own members twice.
bool names_a_member_twice(const simdjson::dom::object& object) {
  std::vector<std::string_view> keys;
  keys.reserve(object.size());
  for (const simdjson::dom::key_value_pair field : object) keys.push_back(field.key);
  return has_repeated_key(keys);
}

// Whether `element` or an object anywhere inside it names a member twice: the split writes values
// as simdjson holds them, every member kept, where nlohmann keeps one.
bool has_repeated_key_inside(const simdjson::dom::element& element) {
  simdjson::dom::array array;
  if (element.get_array().get(array) == simdjson::SUCCESS) {
    for (const simdjson::dom::element item : array) {
      if (has_repeated_key_inside(item)) return true;
    }
    return false;
  }
  simdjson::dom::object object;
  if (element.get_object().get(object) != simdjson::SUCCESS) return false;
  for (const simdjson::dom::key_value_pair field : object) {
    if (has_repeated_key_inside(field.value)) return true;
  }
  return names_a_member_twice(object);
}

// Nesting deeper than this takes the nlohmann path, whose own limit (512) then decides: well
// above any real document, well below that limit however the two count levels.
constexpr size_t kMaxScanDepth = 256;

// Escapes \uD800–\uDFFF: nlohmann refuses an unpaired surrogate; simdjson need not agree, so a body
// with any escaped surrogate (or what looks like one) is left to nlohmann.
bool has_surrogate_escape(std::string_view text) {
  for (size_t at = text.find("\\u"); at != std::string_view::npos; at = text.find("\\u", at + 2)) {
    if (at + 2 < text.size() && (text[at + 2] == 'd' || text[at + 2] == 'D')) return true;
  }
  return false;
}

// What the server's strict parser refuses that simdjson might accept (http/server/json_body.cpp).
bool needs_strict_parser(std::string_view text) {
  return text.starts_with("\xEF\xBB\xBF") || text.find('\0') != std::string_view::npos ||
         has_surrogate_escape(text);
}

// A `_local/` document, whose write is a LocalUpdate.
bool is_local_doc(const SplitDoc& doc) {
  auto id = doc.specials.find("_id");
  return id != doc.specials.end() && id->is_string() &&
         id->get_ref<const std::string&>().starts_with(kLocalPrefix);
}

}  // namespace

Json to_nlohmann(const simdjson::dom::element& element) {
  // The types nlohmann's own parser gives: a non-negative integer is number_unsigned.
  switch (element.type()) {
    case simdjson::dom::element_type::STRING:
      return Json(std::string(element.get_string().value_unsafe()));
    case simdjson::dom::element_type::INT64: {
      const int64_t value = element.get_int64().value_unsafe();
      return value >= 0 ? Json(static_cast<uint64_t>(value)) : Json(value);
    }
    case simdjson::dom::element_type::UINT64:
      return Json(element.get_uint64().value_unsafe());
    case simdjson::dom::element_type::DOUBLE:
      return Json(element.get_double().value_unsafe());
    case simdjson::dom::element_type::BOOL:
      return Json(element.get_bool().value_unsafe());
    case simdjson::dom::element_type::NULL_VALUE:
      return Json(nullptr);
    case simdjson::dom::element_type::ARRAY: {
      // Named: a range-for over value_unsafe() of a temporary result would dangle.
      const simdjson::dom::array array = element.get_array().value_unsafe();
      Json out = Json::array();
      for (const simdjson::dom::element item : array) out.push_back(to_nlohmann(item));
      return out;
    }
    case simdjson::dom::element_type::OBJECT: {
      // A repeated name keeps its first place and its last value, as nlohmann's parser does.
      const simdjson::dom::object object = element.get_object().value_unsafe();
      Json out = Json::object();
      for (const simdjson::dom::key_value_pair field : object) {
        out[std::string(field.key)] = to_nlohmann(field.value);
      }
      return out;
    }
  }
  return Json();  // unreachable: every element type is handled above
}

std::optional<SplitDoc> split_doc(const simdjson::dom::element& doc) {
  simdjson::dom::object object;
  if (doc.get_object().get(object) != simdjson::SUCCESS || has_repeated_key_inside(doc)) {
    return std::nullopt;
  }
  SplitDoc out;
  out.body.push_back('{');
  for (const simdjson::dom::key_value_pair field : object) {
    if (field.key.starts_with('_')) {
      if (is_kept_special(field.key)) return std::nullopt;  // a body member: its place is kept there
      out.specials[std::string(field.key)] = to_nlohmann(field.value);
      continue;
    }
    if (out.body.size() > 1) out.body.push_back(',');
    append_json_string(out.body, field.key);
    out.body.push_back(':');
    out.body += simdjson::to_string(field.value);
  }
  out.body.push_back('}');
  return out;
}

Result<DocUpdate> replicated_update(IncomingDoc&& incoming, std::string id, std::string body) {
  auto update = to_doc_update(std::move(incoming), std::move(id), /*new_edits=*/false);
  if (!update) return tl::unexpected(update.error());
  return std::move(*update).with_body_text(std::move(body));
}

std::optional<std::vector<ScannedDoc>> scan_replicated_bulk(std::string_view body) {
  if (needs_strict_parser(body)) return std::nullopt;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.allocate(body.size(), kMaxScanDepth) != simdjson::SUCCESS ||
      parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  // A repeated member (two `new_edits`) is read by nlohmann as the last one, by simdjson as the
  // first.
  simdjson::dom::object top;
  if (root.get_object().get(top) != simdjson::SUCCESS) return std::nullopt;
  bool new_edits = true;
  simdjson::dom::array docs;
  if (names_a_member_twice(top) ||
      top["new_edits"].get_bool().get(new_edits) != simdjson::SUCCESS || new_edits ||
      top["docs"].get_array().get(docs) != simdjson::SUCCESS) {
    return std::nullopt;
  }
  std::vector<ScannedDoc> out;
  out.reserve(docs.size());
  for (const simdjson::dom::element doc : docs) {
    auto split = split_doc(doc);
    if (split && !is_local_doc(*split)) {
      out.emplace_back(std::move(*split));
    } else {
      out.emplace_back(to_nlohmann(doc));
    }
  }
  return out;
}

}  // namespace divan::engine
