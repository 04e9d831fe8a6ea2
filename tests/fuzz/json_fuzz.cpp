// libFuzzer target for parse_json / parse_json_object (http/server/json_body.h), the one parser
// every JSON text from a request goes through. Input: the text itself. Whatever it accepts must be
// what CouchDB accepts, one JSON text in UTF-8: no byte order mark, no NUL byte, valid UTF-8
// throughout, at most 512 levels deep. An accepted value must dump without throwing and parse
// back to the same value (what Divan stores and echoes), and parse_json_object must agree with
// parse_json. And the fast path of replicated `_bulk_docs` (engine/doc_scan.h scan_replicated_bulk)
// must read exactly what parse_json reads, or decline: the same docs, each split into its `_`
// members and a body byte for byte nlohmann's dump. Built by tests/fuzz/run_fuzz.sh json (clang, libFuzzer, ASan, UBSan) and, with
// replay_main.cpp, into the normal build as a CTest test.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "engine/doc_scan.h"
#include "http/server/json_body.h"
#include "replay.h"

namespace server = divan::http::server;
using Json = nlohmann::ordered_json;

namespace {

void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "json_fuzz: invariant failed: %s\n", what);
  std::abort();
}

// RFC 3629, written apart from nlohmann's lexer so the two check each other: shortest forms only,
// no surrogates, nothing above U+10FFFF.
bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (b < 0x80) {
      ++i;
      continue;
    } else if ((b & 0xE0) == 0xC0) {
      n = 2;
      cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      n = 3;
      cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      n = 4;
      cp = b & 0x07;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    constexpr uint32_t kShortest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kShortest[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n;
  }
  return true;
}

size_t depth(const Json& value) {
  size_t deepest = 0;
  if (value.is_structured()) {
    for (const auto& child : value) deepest = std::max(deepest, depth(child));
    return deepest + 1;
  }
  return 0;
}

using namespace std::string_view_literals;
// JSON tokens, escapes, and the bytes a lenient parser lets through (replay_main.cpp builds inputs
// from them).
constexpr std::string_view kFragments[] = {
    "{", "}", "[", "]", ",", ":", "\"", "\"a\"", "\"_id\"", "1", "-0", "1.5e-3", "1e400", "true",
    "null", "false", " ", "\r\n", "\t", "\\", "\\\"", "\\u0000", "\\ud800", "\\udc00",
    "\\ud83d\\ude00", "\\n", "\xEF\xBB\xBF", "\0"sv, "\xff", "\xc3\xa9", "\xc0\xaf", "\xed\xa0\x80",
    "\xf0\x9f\x98\x80", "\xf4\x90\x80\x80", "/*", "*/", "NaN", "'", "\x7f",
    // The replicated _bulk_docs fast path (check_bulk_scan).
    "{\"new_edits\":false,\"docs\":[", "\"_rev\"", "\"_access\"", "\"_local/x\"", "\"docs\"",
};

// scan_replicated_bulk(text) against parse_json(text): whatever the scan reads, parse_json reads
// the same way.
void check_bulk_scan(std::string_view text, const divan::Result<Json>& parsed) {
  const auto scanned = divan::engine::scan_replicated_bulk(text);
  if (!scanned) return;  // declined: the nlohmann path decides
  check(parsed.has_value() && parsed->is_object(), "the scan read what parse_json refused");
  auto new_edits = parsed->find("new_edits");
  check(new_edits != parsed->end() && *new_edits == Json(false), "the scan read new_edits otherwise");
  auto docs = parsed->find("docs");
  check(docs != parsed->end() && docs->is_array() && docs->size() == scanned->size(),
        "the scan read other docs");
  for (size_t i = 0; i < scanned->size(); ++i) {
    const Json& doc = (*docs)[i];
    if (const auto* value = std::get_if<Json>(&(*scanned)[i])) {
      check(*value == doc, "a declined doc reads otherwise");
      continue;
    }
    const auto& split = std::get<divan::engine::SplitDoc>((*scanned)[i]);
    check(doc.is_object(), "a split doc that is no object");
    Json specials = Json::object();
    Json body = Json::object();
    for (const auto& [key, member] : doc.items()) {
      (key.starts_with('_') ? specials : body)[key] = member;
    }
    check(split.specials == specials, "the split's `_` members differ");
    check(split.body == body.dump(), "the split's body is not nlohmann's dump");
  }
}

}  // namespace

const FuzzReplay kFuzzReplay{"json_fuzz", 0, kFragments};

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto parsed = server::parse_json(text);
  const auto object = server::parse_json_object(text);
  check_bulk_scan(text, parsed);
  if (!parsed) {
    check(parsed.error().code == divan::Code::kBadRequest, "refused with another code");
    check(parsed.error().reason == "invalid UTF-8 JSON" ||
              parsed.error().reason == "JSON nested too deeply",
          "refused with another reason");
    check(!object, "parse_json_object accepted what parse_json refused");
    return 0;
  }
  check(!text.starts_with("\xEF\xBB\xBF"), "a byte order mark was accepted");
  check(text.find('\0') == std::string_view::npos, "a NUL byte was accepted");
  check(valid_utf8(text), "invalid UTF-8 was accepted");
  check(depth(*parsed) <= 512, "nesting deeper than 512 was accepted");

  std::string dumped;
  try {
    dumped = parsed->dump();  // strict: throws on invalid UTF-8 in a string
  } catch (const std::exception&) {
    check(false, "an accepted value does not dump");
  }
  const auto again = server::parse_json(dumped);
  check(again.has_value(), "the dump of an accepted value is refused");
  check(*again == *parsed, "the round trip changed the value");
  check(again->dump() == dumped, "the dump is not stable");

  if (parsed->is_object()) {
    check(object.has_value() && *object == *parsed, "parse_json_object refused an object");
  } else {
    check(!object.has_value() && object.error().reason == "Request body must be a JSON object",
          "parse_json_object accepted a non-object");
  }
  return 0;
}
