#!/usr/bin/env bash
# Installs what building and testing Divan needs on Debian 12, skipping what is already there.
# Idempotent; run as root (or with sudo available). Used by both README commands.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config
  libsqlite3-dev sqlite3          # storage (sqlite3 CLI: integrity checks in tests)
  nlohmann-json3-dev              # JSON
  libsimdjson-dev                 # fast validating parser for large JSON texts (bulk answers)
  libboost1.81-dev libboost-url1.81-dev  # Beast/Asio server and client, Boost.URL query parsing
  libssl-dev                      # libcrypto: MD5, base64
  zlib1g-dev                      # gzip-encoded attachment uploads
  libexpected-dev                 # tl::expected as Result<T>
  libcli11-dev                    # command-line flags
  libspdlog-dev                   # logging
  doctest-dev                     # unit tests
  clang-14 libclang-rt-14-dev     # libFuzzer + sanitizers (tests/fuzz), thread-safety analysis
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

# Another apt or dpkg process (unattended-upgrades, a second session's install) may hold apt's
# locks: wait for it, up to DIVAN_APT_LOCK_WAIT seconds (default 300) in all, instead of failing at
# once. apt-get fails at once on a held lock ("Could not get lock", exit 100): DPkg::Lock::Timeout
# would make install wait for the dpkg frontend lock, but silently, and update ignores it for the
# lists lock. So a run that fails on a lock is retried every 5 s until the deadline, with a message.
lock_wait=${DIVAN_APT_LOCK_WAIT:-300}
lock_deadline=$((SECONDS + lock_wait))
apt_get() {
  local out status locked announced=""
  while :; do
    status=0
    out=$($SUDO env DEBIAN_FRONTEND=noninteractive apt-get "$@" 2>&1) || status=$?
    ((status == 0)) && return 0
    locked=$(grep -m1 -E 'Could not get lock|Unable to (acquire|lock)' <<<"$out" || true)
    if [[ -n $locked ]] && ((SECONDS < lock_deadline)); then
      if [[ -z $announced ]]; then
        echo "install-deps: $locked"
        echo "install-deps: another apt/dpkg process holds the lock; waiting for it (up to ${lock_wait}s)"
        announced=1
      fi
      sleep 5
      continue
    fi
    printf '%s\n' "$out" >&2
    [[ -z $locked ]] || echo "install-deps: gave up waiting for the apt/dpkg lock after ${lock_wait}s" >&2
    return "$status"
  done
}

if ((${#missing[@]})); then
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  echo "install-deps: installing ${missing[*]}"
  apt_get update -qq
  apt_get install -y -qq --no-install-recommends "${missing[@]}"
fi
