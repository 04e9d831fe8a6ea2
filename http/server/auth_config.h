// Where the auth configuration comes from: server admins given as `--admin NAME:PASSWORD` or in an
// admins file (CouchDB's ini `[admins]` section), and the AuthSession secret kept in the data
// directory. Plain passwords are hashed at once and never written anywhere; an admins file holding
// one is rewritten with the hash, as CouchDB rewrites its local.ini.
//
// Thread-safety: call at startup, from one thread.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "engine/error.h"
#include "http/server/auth.h"

namespace divan::http::server {

// "NAME:PASSWORD" (the password may contain ':'): a hashed admin. 400 bad_request when there is no
// ':' or the name is empty.
Result<Credentials> admin_from_flag(std::string_view spec);

struct AdminsFile {
  std::vector<Credentials> admins;
  size_t hashed_now = 0;  // plain passwords found, hashed and written back
};

// Reads the `[admins]` section of an ini file: `name = -pbkdf2:sha256-<hex>,<salt>,<iterations>`
// (also CouchDB's older `-pbkdf2-…` and `-hashed-…` forms) or `name = <plain password>`. Plain
// entries are hashed and the file is replaced atomically (mode 0600) with only those values
// changed. ';' and '#' start comment lines. Errors: bad_request naming the file on I/O failure.
Result<AdminsFile> load_admins_file(const std::filesystem::path& path);

// The AuthSession HMAC secret: `<data_dir>/_auth_secret` (64 hex chars, mode 0600), created on
// first start next to the node uuid, so sessions survive restarts. Throws on I/O errors or a
// corrupt file.
std::string load_or_create_auth_secret(const std::filesystem::path& data_dir);

}  // namespace divan::http::server
