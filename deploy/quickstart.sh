#!/bin/sh
# Quick start: install what building and running needs, build, and run a
# local disaggregated cluster in the foreground: duetd supervising one
# prefill and one decode worker under mpirun, serving the bundled model on
# http://127.0.0.1:8000. Extra arguments go to duetd (e.g. --model DIR,
# --port 9000, --prefill 2). Ctrl-C drains and stops it.
set -eu
cd "$(dirname "$0")/.."
sh deploy/install-deps.sh build
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
exec build/bin/duetd --prefill 1 --decode 1 --host 127.0.0.1 --port 8000 "$@"
