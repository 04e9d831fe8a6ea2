#!/usr/bin/env bash
# Builds a fuzz target with clang + libFuzzer + ASan + UBSan and runs it for a bounded time on its
# seed corpus.
#   tests/fuzz/run_fuzz.sh [target=multipart] [seconds=60] [build-dir=build/fuzz] [libFuzzer flags…]
# Targets: multipart (http/multipart's parser), json (http/server/json_body.cpp's parse_json). The
# target may be left out: a first argument that is a number is the seconds, for multipart.
# New interesting inputs go to <build-dir>/<target>-libfuzzer/corpus (the seeds in
# tests/fuzz/corpus/<target> are only read); a crash leaves its input in …/artifacts/ and fails.
# Needs clang-14 and libclang-rt-14-dev (tools/install-deps.sh): without them it fails, never skips.
set -euo pipefail
target=multipart
libs=()
if [[ $# -gt 0 && ! $1 =~ ^[0-9]+$ ]]; then
  target=$1
  shift
fi
seconds=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${2:-$root/build/fuzz}
shift $(( $# < 2 ? $# : 2 ))
out=$build/$target-libfuzzer
cxx=${FUZZ_CXX:-clang++-14}

case $target in
  multipart)
    sources=("$root/tests/fuzz/multipart_fuzz.cpp" "$root"/http/multipart/*.cpp)
    headers=("$root/http/multipart/multipart.h" "$root/base/hex.h" "$root/tests/fuzz/replay.h") ;;
  json)
    # engine/doc_scan.cpp and what it links: the differential check of the replicated _bulk_docs
    # fast path.
    sources=("$root/tests/fuzz/json_fuzz.cpp" "$root/http/server/json_body.cpp"
             "$root"/engine/{doc_scan,doc_json,write_ops,attachments,gzip,error,random}.cpp
             "$root"/revtree/*.cpp "$root"/base/*.cpp)
    headers=("$root/http/server/json_body.h" "$root/engine/error.h" "$root/engine/doc_scan.h"
             "$root/tests/fuzz/replay.h")
    libs=(-lsimdjson -lcrypto -lz) ;;
  *)
    echo "run_fuzz: unknown target '$target' (multipart, json)" >&2
    exit 2 ;;
esac

if ! command -v "$cxx" >/dev/null; then
  echo "run_fuzz: $cxx not found; install clang-14 and libclang-rt-14-dev (tools/install-deps.sh)" >&2
  exit 1
fi
mkdir -p "$out/corpus" "$out/artifacts"

bin=$out/${target}_fuzz
if [[ ! -x $bin ]] || [[ -n $(find "${sources[@]}" "${headers[@]}" -newer "$bin") ]]; then
  echo "run_fuzz: building $bin"
  "$cxx" -std=c++20 -O1 -g -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I "$root" "${sources[@]}" "${libs[@]}" -o "$bin.tmp"
  mv "$bin.tmp" "$bin"
fi

echo "run_fuzz: fuzzing $target for ${seconds}s"
"$bin" -max_total_time="$seconds" -rss_limit_mb=512 -timeout=10 -print_final_stats=1 \
  -dict="$root/tests/fuzz/$target.dict" -artifact_prefix="$out/artifacts/" "$@" \
  "$out/corpus" "$root/tests/fuzz/corpus/$target"
