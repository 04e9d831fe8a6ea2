#include "engine/names.h"

#include "base/hex.h"

namespace divan::engine {
namespace {

bool kept_verbatim(unsigned char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

}  // namespace

std::string escape_db_name(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 8);
  for (char ch : name) {
    auto c = static_cast<unsigned char>(ch);
    if (kept_verbatim(c)) {
      out.push_back(ch);
    } else {
      out.push_back('%');
      append_hex(out, c);
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
    // Lowercase only: escape_db_name never writes uppercase, so that is not one of our names.
    int hi = hex_digit_value(stem[i + 1]);
    int lo = hex_digit_value(stem[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    auto decoded = static_cast<unsigned char>(hi * 16 + lo);
    if (kept_verbatim(decoded)) return std::nullopt;  // not what escape_db_name writes
    name.push_back(static_cast<char>(decoded));
    i += 2;
  }
  return name;
}

}  // namespace divan::engine
