#!/usr/bin/env bash
# README command 1: install what is missing, build, and run a node on 127.0.0.1:5984 with its data
# in ./data. Extra arguments go to `divan serve` (see `build/tools/divan --help`).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install-deps.sh
bash tools/build.sh divan  # the node only: the tests are tools/test.sh's to build
exec build/tools/divan serve --bind 127.0.0.1 --port 5984 --data-dir ./data "$@"
