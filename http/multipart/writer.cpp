// The strings a multipart writer needs; the server assembles the bodies.
#include <random>

#include "base/hex.h"
#include "http/multipart/multipart.h"
#include "http/multipart/text.h"

namespace divan::multipart {

std::string make_boundary() {
  std::random_device random;
  std::string out;
  out.reserve(32);
  for (int word = 0; word < 4; ++word) {
    const uint32_t bits = random();
    for (int shift = 24; shift >= 0; shift -= 8) append_hex(out, (bits >> shift) & 0xff);
  }
  return out;
}

std::string content_type(std::string_view media_type, std::string_view boundary) {
  std::string out(media_type);
  out.append("; boundary=\"").append(boundary).append("\"");
  return out;
}

std::string part_header(std::string_view boundary, const Headers& headers) {
  std::string out("--");
  out.append(boundary).append("\r\n");
  for (const Header& h : headers) {
    out.append(h.name).append(": ");
    // A control character (a CR or LF above all) would end the field early and let the value
    // write header lines of its own: each becomes a space.
    for (char c : h.value) out.push_back(text::is_control(c) ? ' ' : c);
    out.append("\r\n");
  }
  out.append("\r\n");
  return out;
}

std::string close_delimiter(std::string_view boundary) {
  std::string out("--");
  out.append(boundary).append("--");
  return out;
}

}  // namespace divan::multipart
