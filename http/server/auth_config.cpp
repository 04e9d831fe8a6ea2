#include "http/server/auth_config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "base/hex.h"
#include "engine/random.h"

namespace divan::http::server {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSecretFile = "_auth_secret";

std::string_view trim(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

void fsync_fd_or_throw(int fd, const fs::path& path) {
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    throw std::system_error(err, std::generic_category(), "fsync " + path.string());
  }
}

// Writes `text` to `path` via a 0600 temporary file, fsync and rename: a crash leaves the old file
// or the new one, and no other user can read a secret in between.
void write_private_file(const fs::path& path, const std::string& text) {
  fs::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + tmp.string());
  ::fchmod(fd, 0600);  // O_CREAT's mode does not apply to a file that already existed
  size_t written = 0;
  while (written < text.size()) {
    ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      throw std::system_error(err, std::generic_category(), "write " + tmp.string());
    }
    written += static_cast<size_t>(n);
  }
  fsync_fd_or_throw(fd, tmp);
  ::close(fd);
  fs::rename(tmp, path);
  fs::path dir = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync_fd_or_throw(dfd, dir);
    ::close(dfd);
  }
}

}  // namespace

Result<Credentials> admin_from_flag(std::string_view spec) {
  auto colon = spec.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return fail(Code::kBadRequest, "--admin wants NAME:PASSWORD");
  }
  Credentials admin;
  admin.name = std::string(spec.substr(0, colon));
  admin.roles = {"_admin"};
  admin.hash = hash_password(spec.substr(colon + 1));
  return admin;
}

Result<AdminsFile> load_admins_file(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return fail(Code::kBadRequest, "cannot read admins file " + path.string());
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  if (in.bad()) return fail(Code::kBadRequest, "cannot read admins file " + path.string());

  AdminsFile result;
  bool in_admins = false;
  for (auto& line : lines) {
    std::string_view text = trim(line);
    if (text.empty() || text.front() == ';' || text.front() == '#') continue;
    if (text.front() == '[') {
      auto close = text.find(']');
      std::string_view section = text.substr(1, close == std::string_view::npos ? close : close - 1);
      in_admins = trim(section) == "admins";
      continue;
    }
    if (!in_admins) continue;
    auto eq = text.find('=');
    if (eq == std::string_view::npos) {
      return fail(Code::kBadRequest, "admins file " + path.string() + ": expected name = value");
    }
    std::string name(trim(text.substr(0, eq)));
    std::string_view value = trim(text.substr(eq + 1));
    if (name.empty() || value.empty()) continue;
    Credentials admin;
    admin.name = name;
    admin.roles = {"_admin"};
    if (auto hash = parse_config_hash(value)) {
      admin.hash = std::move(*hash);
    } else if (value.starts_with("-pbkdf2") || value.starts_with("-hashed-")) {
      return fail(Code::kBadRequest,
                  "admins file " + path.string() + ": unreadable password hash for " + name);
    } else {
      // A plain password, as an operator may type it: hash it and keep only the hash.
      admin.hash = hash_password(value);
      line = name + " = " + format_config_hash(admin.hash);
      ++result.hashed_now;
    }
    result.admins.push_back(std::move(admin));
  }
  if (result.hashed_now > 0) {
    std::string text;
    for (const auto& line : lines) text += line + "\n";
    try {
      write_private_file(path, text);
    } catch (const std::exception& e) {
      return fail(Code::kBadRequest,
                  "cannot rewrite admins file " + path.string() + " with hashes: " + e.what());
    }
  }
  return result;
}

std::string load_or_create_auth_secret(const fs::path& data_dir) {
  fs::path file = data_dir / kSecretFile;
  if (fs::exists(file)) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    std::string secret(trim(text.str()));
    if (!in || secret.size() < 32 || !is_lower_hex(secret)) {
      throw std::runtime_error("unreadable auth secret file " + file.string());
    }
    return secret;
  }
  std::string secret = engine::random_hex(32);
  write_private_file(file, secret + "\n");
  return secret;
}

}  // namespace divan::http::server
