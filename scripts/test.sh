#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test:
#  1. the normal build (build/): unit tests and the integration tests
#     (real server processes over loopback, real SQLite files);
#  2. the sanitizer build (build-asan/, AddressSanitizer + UBSan): the unit
#     tests and the HTTP integration tests against the instrumented server.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test

echo "== build (RelWithDebInfo)"
scripts/build.sh build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DQC_BUILD_BENCH=OFF
echo "== build (AddressSanitizer + UBSan)"
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DQC_SANITIZE=ON -DQC_BUILD_BENCH=OFF

# No libmongoc counters file per test process in /dev/shm (docs/decisions.md).
export MONGOC_DISABLE_SHM=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
echo "== tests under AddressSanitizer + UBSan"
(cd build-asan && ctest --output-on-failure -j2 -L unit)
(cd build-asan && ctest --output-on-failure -j2 -R 'integration\.http\.')
echo "== all tests"
(cd build && ctest --output-on-failure -j2)
