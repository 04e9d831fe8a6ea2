// Rendering feed rows. The hot path (100k-row feeds) is a few appends per row: ids and revs almost
// never need escaping, so they are checked in one scan and appended whole.
#include "http/server/changes_json.h"

#include <algorithm>
#include <charconv>
#include <string_view>

#include "http/server/response.h"

namespace divan::http::server {

namespace {

bool needs_no_escaping(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && c != '"' && c != '\\';
  });
}

// append_json_string, with a fast path for the common text that needs no escaping.
void append_json_text(std::string& out, std::string_view text) {
  if (!needs_no_escaping(text)) {
    append_json_string(out, text);
    return;
  }
  out.push_back('"');
  out.append(text);
  out.push_back('"');
}

void append_uint(std::string& out, uint64_t n) {
  char buf[20];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, end);
}

// "<pos>-<id>" as a JSON string, without building the rev's text first.
void append_rev(std::string& out, const revtree::RevId& rev) {
  if (!needs_no_escaping(rev.id)) {
    append_json_string(out, rev.str());
    return;
  }
  out.push_back('"');
  append_uint(out, rev.pos);
  out.push_back('-');
  out.append(rev.id);
  out.push_back('"');
}

std::string_view event_type_name(changes::DbEventType type) {
  switch (type) {
    case changes::DbEventType::kCreated: return "created";
    case changes::DbEventType::kDeleted: return "deleted";
    default: return "updated";
  }
}

}  // namespace

void append_row_json(std::string& out, const changes::ChangeRow& row) {
  out += "{\"seq\":";
  changes::append_seq(out, row.seq);
  out += ",\"id\":";
  append_json_text(out, row.id);
  out += ",\"changes\":[";
  for (size_t i = 0; i < row.changes.size(); ++i) {
    if (i) out.push_back(',');
    out += "{\"rev\":";
    append_rev(out, row.changes[i].rev);
    out.push_back('}');
  }
  out.push_back(']');
  if (row.deleted) out += ",\"deleted\":true";  // only for a deleted winner (§13.2)
  if (row.doc) {
    out += ",\"doc\":";
    out += *row.doc;
  }
  out.push_back('}');
}

void append_row_json(std::string& out, const changes::DbEvent& event) {
  out += "{\"seq\":";
  changes::append_seq(out, event.seq);
  out += ",\"db_name\":";
  append_json_string(out, event.db_name);
  out += ",\"type\":\"";
  out += event_type_name(event.type);
  out += "\"}";
}

}  // namespace divan::http::server
