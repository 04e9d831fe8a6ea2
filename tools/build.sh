#!/usr/bin/env bash
# Configures and builds Divan (Release by default) into ./build. BUILD_TYPE=Debug for a debug build.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" >/dev/null
cmake --build build -j"$(nproc)"
