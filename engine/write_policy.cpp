#include "engine/write_policy.h"

#include <algorithm>

namespace divan::engine {

bool Writer::has_role(std::string_view role) const {
  return std::find(roles.begin(), roles.end(), role) != roles.end();
}

Error not_db_admin_error(const Writer& writer) {
  return Error{writer.name ? Code::kForbidden : Code::kUnauthorized,
               "You are not a db or server admin."};
}

}  // namespace divan::engine
