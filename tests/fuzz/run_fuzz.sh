#!/usr/bin/env bash
# Builds the http/multipart fuzz target with clang + libFuzzer + ASan + UBSan and runs it for a
# bounded time on the seed corpus.
#   tests/fuzz/run_fuzz.sh [seconds=60] [build-dir=build/fuzz] [extra libFuzzer flags…]
# New interesting inputs go to <build-dir>/multipart-libfuzzer/corpus (the seeds in
# tests/fuzz/corpus/multipart are only read); a crash leaves its input in …/artifacts/ and fails.
# Needs clang-14 and libclang-rt-14-dev (tools/install-deps.sh): without them it fails, never skips.
set -euo pipefail
seconds=${1:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${2:-$root/build/fuzz}
shift $(( $# < 2 ? $# : 2 ))
out=$build/multipart-libfuzzer
cxx=${FUZZ_CXX:-clang++-14}

if ! command -v "$cxx" >/dev/null; then
  echo "run_fuzz: $cxx not found; install clang-14 and libclang-rt-14-dev (tools/install-deps.sh)" >&2
  exit 1
fi
mkdir -p "$out/corpus" "$out/artifacts"

sources=("$root/tests/fuzz/multipart_fuzz.cpp" "$root"/http/multipart/*.cpp)
bin=$out/multipart_fuzz
if [[ ! -x $bin ]] || [[ -n $(find "${sources[@]}" "$root/http/multipart/multipart.h" -newer "$bin") ]]; then
  echo "run_fuzz: building $bin"
  "$cxx" -std=c++20 -O1 -g -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I "$root" "${sources[@]}" -o "$bin.tmp"
  mv "$bin.tmp" "$bin"
fi

echo "run_fuzz: fuzzing for ${seconds}s"
"$bin" -max_total_time="$seconds" -rss_limit_mb=512 -timeout=10 -print_final_stats=1 \
  -dict="$root/tests/fuzz/multipart.dict" -artifact_prefix="$out/artifacts/" "$@" \
  "$out/corpus" "$root/tests/fuzz/corpus/multipart"
