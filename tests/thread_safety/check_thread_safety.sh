#!/usr/bin/env bash
# Clang's thread-safety analysis (-Wthread-safety) over every source that uses the lock annotations
# of base/thread_annotations.h, directly or through the header of a class using them: a member marked
# GUARDED_BY(mu) touched without `mu`, or a REQUIRES(mu) function called without it, fails.
# g++ (the main build) ignores the annotations, hence this separate pass: syntax only, no objects.
#   tests/thread_safety/check_thread_safety.sh [source-root]
# Needs clang-14 (tools/install-deps.sh, as the fuzz tests): without it it fails, never skips.
set -euo pipefail
root=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"
cxx=${THREAD_SAFETY_CXX:-clang++-14}
if ! command -v "$cxx" >/dev/null; then
  echo "thread_safety: $cxx not found; install clang-14 (tools/install-deps.sh)" >&2
  exit 1
fi

folders=(base revtree engine changes http replicator tools)
# The sources that can touch annotated state: those including the annotation header, and those
# including a header that does (the one declaring the guarded members: database_internal.h,
# stop_token.h, …). One level is enough: code touching a class's guarded members includes the
# header declaring them. Going further would pull in most of the tree through public headers.
headers=(base/thread_annotations.h)
mapfile -t -O 1 headers < <(grep -rlF '#include "base/thread_annotations.h"' --include='*.h' "${folders[@]}" | sort)
pattern=$(printf '#include "%s"\n' "${headers[@]}")
mapfile -t sources < <(grep -rlF "$pattern" --include='*.cpp' "${folders[@]}" | sort)
if [[ ${#sources[@]} -eq 0 ]]; then
  echo "thread_safety: no source uses base/thread_annotations.h" >&2
  exit 1
fi

status=0
for source in "${sources[@]}"; do
  # Only the analysis' own warnings, as errors: the main build owns every other warning.
  if ! "$cxx" -fsyntax-only -std=c++20 -I "$root" \
      -DBOOST_ASIO_SEPARATE_COMPILATION -DBOOST_BEAST_SEPARATE_COMPILATION \
      -Wno-everything -Wthread-safety -Werror=thread-safety "$source"; then
    status=1
  fi
done
echo "thread_safety: ${#sources[@]} sources checked"
exit $status
