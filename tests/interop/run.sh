#!/usr/bin/env bash
# The PouchDB interop suite (CTest: interop_pouchdb). Installs the pinned PouchDB packages from the
# npm registry into tests/interop/node_modules when they are missing or older than
# package-lock.json (`npm ci`), then runs every test/*.test.js with node's built-in test runner.
# Each test file starts its own `divan` (DIVAN_BIN) on loopback with --port 0 and a temp data dir;
# foreign_server.test.js also starts express-pouchdb (pouchdb-server's HTTP layer, in memory, pure
# JS) as a foreign CouchDB-compatible peer for the node's own replicator.
# A missing node or npm is a failure, not a skip.
set -euo pipefail
cd "$(dirname "$0")"

fail() { echo "interop: FAIL: $*" >&2; exit 1; }

command -v node >/dev/null 2>&1 \
  || fail "node not found: install Node.js >= 18 (Debian 12: apt-get install nodejs npm; tools/install-deps.sh does)"
command -v npm >/dev/null 2>&1 \
  || fail "npm not found: install it (Debian 12: apt-get install npm; tools/install-deps.sh does)"
node_major=$(node -p 'process.versions.node.split(".")[0]')
((node_major >= 18)) || fail "node $(node --version) is too old: the suite needs >= 18 (node:test, global fetch)"
[[ -n "${DIVAN_BIN:-}" ]] || fail "DIVAN_BIN is not set (CTest sets it to the built divan binary)"
[[ -x "$DIVAN_BIN" ]] || fail "DIVAN_BIN=$DIVAN_BIN is not an executable file"

# npm ci, once, under a lock (several build dirs may run this suite at the same time).
exec 9>.npm-ci.lock
flock -w 300 9 || fail "timed out waiting for another npm ci in $(pwd)"
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "interop: npm ci (node $(node --version), npm $(npm --version))"
  if ! timeout 300 npm ci --no-audit --no-fund --loglevel=error 2>&1 | tee npm-ci.log; then
    # Behind a TLS-intercepting proxy npm needs that proxy's CA (NODE_EXTRA_CA_CERTS or
    # `npm config set cafile`); say so rather than leave a bare certificate error.
    if grep -qE 'SELF_SIGNED_CERT|UNABLE_TO_GET_ISSUER|CERT_' npm-ci.log; then
      fail "npm ci failed on a TLS certificate: behind a proxy, point NODE_EXTRA_CA_CERTS at its CA"
    fi
    fail "npm ci failed (is the npm registry reachable?)"
  fi
fi
flock -u 9

echo "interop: node $(node --version), DIVAN_BIN=$DIVAN_BIN"
# Every test is bounded at 30 s inside the files; the whole suite at 3 minutes here.
exec timeout -k 10 180 node --test test/*.test.js
