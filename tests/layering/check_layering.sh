#!/usr/bin/env bash
# Fails when a folder includes a header from a layer above it (README: "Where the code lives").
# base <- revtree <- engine <- changes <- replicator <- http/server <- tools; http/client sits below
# replicator, and http/multipart (pure: standard library only) below both http/client and
# http/server. base (pure too) is below every other folder.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"

# folder -> the project folders its #include "…" may name (besides itself)
declare -A allowed=(
  [base]=""
  [revtree]="base"
  [engine]="revtree base"
  [changes]="engine revtree base"
  [http/multipart]="base"
  [http/client]="http/multipart base"
  [replicator]="changes engine revtree http/client http/multipart base"
  [http/server]="replicator changes engine revtree http/client http/multipart base"
)
layers="base revtree engine changes http/multipart http/client replicator http/server tools"

status=0
for folder in "${!allowed[@]}"; do
  [[ -d $folder ]] || continue
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -E 's/.*#include +"([^"]+)".*/\1/' <<<"${line#*:}")
    # The layer an include names: the longest known folder prefix.
    target=""
    for layer in $layers; do [[ $inc == "$layer/"* ]] && target=$layer; done
    [[ -z $target || $target == "$folder" ]] && continue
    if [[ " ${allowed[$folder]} " != *" $target "* ]]; then
      echo "layering: $file includes \"$inc\" ($target is not below $folder)"
      status=1
    fi
  done < <(grep -rnE '^\s*#\s*include\s+"' --include='*.h' --include='*.cpp' "$folder" | sed -E 's/^([^:]+):[0-9]+:/\1:/')
done

# Public engine headers keep SQLite and Asio private (pimpl), and revtree stays free of I/O.
for header in engine/database.h engine/catalog.h engine/error.h; do
  [[ -f $header ]] || continue
  if grep -nE '#include\s*[<"](sqlite3\.h|boost/asio)' "$header"; then
    echo "layering: $header exposes SQLite or Asio"; status=1
  fi
done
# The HTTP client's public headers keep OpenSSL and Beast's I/O headers private (pimpl): the
# replicator includes them in many files.
for header in http/client/client.h http/client/stop_token.h; do
  [[ -f $header ]] || continue
  if grep -nE '#include\s*[<"](openssl/|boost/asio/ssl|boost/beast/(ssl|core|http/(read|write|parser|string_body)))' "$header"; then
    echo "layering: $header exposes OpenSSL or Beast I/O"; status=1
  fi
done
if grep -rnE '#include\s*[<"](sqlite3\.h|boost/|fstream|cstdio)' revtree; then
  echo "layering: revtree must stay pure (no SQLite, Boost or file I/O)"; status=1
fi
# base is below everything, and http/multipart is fuzzed and shared by server and client: the
# standard library only, both.
if [[ -d base ]] && grep -rnE '#include\s*[<"](sqlite3\.h|boost/|nlohmann/|spdlog/|tl/|openssl/|fstream|cstdio|iostream)' base; then
  echo "layering: base must stay pure (standard library only, no I/O)"; status=1
fi
if [[ -d http/multipart ]] && grep -rnE '#include\s*[<"](sqlite3\.h|boost/|nlohmann/|spdlog/|tl/|fstream|cstdio|iostream)' http/multipart; then
  echo "layering: http/multipart must stay pure (standard library only, no I/O)"; status=1
fi

[[ $status == 0 ]] && echo "layering: ok"
exit $status
