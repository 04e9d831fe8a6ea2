#!/usr/bin/env bash
# README command 2: install what is missing, build, and run every test (unit, layering, integration).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
bash tools/build.sh
cd build
ctest --output-on-failure --timeout 600 -j"$(nproc)"
