#!/usr/bin/env bash
# tests/run.sh -- build shoal and run every test (unit and integration).
# Installs missing Debian packages first; runs as root in CI with no stdin.
#   tests/run.sh              build in ./build, run ctest
#   SHOAL_SANITIZE=address,undefined tests/run.sh   (build in ./build-asan)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

deploy/install-deps.sh --test
build=build
args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [[ -n "${SHOAL_SANITIZE:-}" ]]; then
  build=build-san
  args+=(-DSHOAL_SANITIZE="$SHOAL_SANITIZE")
  # leaks inside libnng itself (tests/lsan.supp says which and why)
  export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
fi
cmake -S . -B "$build" "${args[@]}" >/dev/null
cmake --build "$build" -j2
cd "$build"
ctest --output-on-failure -j1 "$@"
