#include "engine/names.h"

namespace divan::engine {
namespace {

bool kept_verbatim(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // uppercase is not canonical: escape_db_name never writes it
}

}  // namespace

std::string escape_db_name(std::string_view name) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(name.size() + 8);
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (kept_verbatim(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

std::optional<std::string> db_name_from_file(std::string_view file_name) {
  if (file_name.size() <= kDbFileSuffix.size() || !file_name.ends_with(kDbFileSuffix)) {
    return std::nullopt;
  }
  std::string_view stem = file_name.substr(0, file_name.size() - kDbFileSuffix.size());
  std::string name;
  name.reserve(stem.size());
  for (size_t i = 0; i < stem.size(); ++i) {
    auto c = static_cast<unsigned char>(stem[i]);
    if (kept_verbatim(c)) {
      name.push_back(stem[i]);
      continue;
    }
    if (c != '%' || i + 2 >= stem.size()) return std::nullopt;
    int hi = hex_value(stem[i + 1]);
    int lo = hex_value(stem[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    auto decoded = static_cast<unsigned char>(hi * 16 + lo);
    if (kept_verbatim(decoded)) return std::nullopt;  // not what escape_db_name writes
    name.push_back(static_cast<char>(decoded));
    i += 2;
  }
  return name;
}

}  // namespace divan::engine
