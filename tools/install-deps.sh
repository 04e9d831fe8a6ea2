#!/usr/bin/env bash
# Installs what building and testing Divan needs on Debian 12, skipping what is already there.
# Idempotent; run as root (or with sudo available). Used by both README commands.
set -euo pipefail

PACKAGES=(
  build-essential cmake ccache pkg-config
  libsqlite3-dev sqlite3          # storage (sqlite3 CLI: integrity checks in tests)
  nlohmann-json3-dev              # JSON
  libboost1.81-dev libboost-url1.81-dev  # Beast/Asio server and client, Boost.URL query parsing
  libssl-dev                      # libcrypto: MD5, base64
  zlib1g-dev                      # gzip-encoded attachment uploads
  libexpected-dev                 # tl::expected as Result<T>
  libcli11-dev                    # command-line flags
  libspdlog-dev                   # logging
  doctest-dev                     # unit tests
  clang-14 libclang-rt-14-dev     # libFuzzer + sanitizers for tests/fuzz/run_fuzz.sh
  python3                         # integration tests drive the real binary over HTTP
  curl                            # README tour, health checks
)
# PouchDB interop suite (tests/interop): node >= 18 and npm. Only when missing: a NodeSource nodejs
# already provides npm, and Debian's npm package conflicts with it.
command -v node >/dev/null 2>&1 || PACKAGES+=(nodejs)
command -v npm >/dev/null 2>&1 || PACKAGES+=(npm)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
