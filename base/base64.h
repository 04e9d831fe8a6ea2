// Base64 (RFC 4648): the one encoder and decoder of every layer, for inline attachment `data`,
// digests ("md5-<base64>"), Basic credentials and AuthSession cookies. Each text is read in one
// alphabet only; mixing them is an error. Pure; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace divan {

enum class Base64Alphabet {
  kStandard,  // §4: '+' and '/', padded with '=' (attachments, digests, Basic credentials)
  kUrl,       // §5: '-' and '_', written without padding (AuthSession cookies)
};

std::string base64_encode(std::string_view bytes,
                          Base64Alphabet alphabet = Base64Alphabet::kStandard);

// The bytes of `text`, or nullopt unless it is base64 in `alphabet`: only its 64 characters (no
// whitespace), then '=' padding that is either absent or completes the last 4-character group; a
// last group of 1 character is refused (it cannot hold a byte).
std::optional<std::string> base64_decode(std::string_view text,
                                         Base64Alphabet alphabet = Base64Alphabet::kStandard);

}  // namespace divan
