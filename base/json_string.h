// JSON string literals: the one escaper every layer writes JSON text with (stored bodies, split
// documents, every answer the node renders). Minimal escapes, as nlohmann's dump writes them:
// `"`, `\`, and the control characters (\b \f \n \r \t, else \u00xx); UTF-8 passes through.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace divan {

// Appends `text` as a JSON string literal (quotes included).
void append_json_string(std::string& out, std::string_view text);
std::string json_string(std::string_view text);

}  // namespace divan
