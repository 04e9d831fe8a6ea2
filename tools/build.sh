#!/usr/bin/env bash
# Configures and builds Divan (Release by default) into ./build. BUILD_TYPE=Debug for a debug build.
# Arguments name the targets to build (default: all of them, tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" >/dev/null
cmake --build build -j"$(nproc)" ${1:+--target "$@"}
