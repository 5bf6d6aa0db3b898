#!/bin/sh
# The one test command (README, .ci/run): install dependencies, build, run
# every test, then build again with ASan+UBSan and run the unit tests.
set -eu
cd "$(dirname "$0")/.."
sh deploy/install-deps.sh
sh tests/npm-deps.sh >/dev/null
jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$jobs"
ctest --test-dir build --output-on-failure
cmake -S . -B build-asan -DDUET_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build-asan -j"$jobs"
ctest --test-dir build-asan -L unit --output-on-failure
