#!/usr/bin/env bash
# Configures and builds Divan (Release by default) into ./build. BUILD_TYPE=Debug for a debug build;
# DIVAN_UNITY=OFF compiles file by file (unity builds are the default: cmake/divan_build.cmake).
# Arguments name the targets to build (default: all of them, tests included).
set -euo pipefail
cd "$(dirname "$0")/.."
# Ninja for a new build directory: unlike Make it compiles an executable's and a library's own
# sources while the libraries they link are still being built, which the unity build (one large TU
# per target) needs to keep both cores busy (node build: 257 s with Make, 215 s with Ninja). An
# existing build directory keeps the generator it was configured with.
generator=()
if [[ ! -f build/CMakeCache.txt ]] && command -v ninja >/dev/null; then generator=(-G Ninja); fi
cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" ${DIVAN_UNITY:+-DDIVAN_UNITY="$DIVAN_UNITY"} >/dev/null
cmake --build build -j"$(nproc)" ${1:+--target "$@"}
