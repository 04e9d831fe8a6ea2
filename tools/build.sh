#!/usr/bin/env bash
# Configures and builds Divan (Release by default) into ./build. BUILD_TYPE=Debug for a debug build;
# DIVAN_UNITY=OFF compiles file by file (unity builds are the default: cmake/divan_build.cmake).
# Arguments name the targets to build (default: all of them, tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" ${DIVAN_UNITY:+-DDIVAN_UNITY="$DIVAN_UNITY"} >/dev/null
cmake --build build -j"$(nproc)" ${1:+--target "$@"}
