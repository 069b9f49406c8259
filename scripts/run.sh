#!/usr/bin/env bash
# Newcomer's first command: install what is missing, build, and start the
# server on its embedded default (SQLite under ./data, in-process cache,
# simulated market data) on port 5050. Extra arguments go to `serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQC_BUILD_TESTS=OFF -DQC_BUILD_BENCH=OFF
# No libmongoc counters file in /dev/shm (docs/decisions.md, "MongoDB").
export MONGOC_DISABLE_SHM=${MONGOC_DISABLE_SHM:-1}
exec ./build/quantcrunch serve "$@"
