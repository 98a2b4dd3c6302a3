#!/usr/bin/env bash
# install-deps.sh -- install the Debian packages shoal needs, only those
# that are missing.  Runs as root (or through sudo); never asks questions.
#   deploy/install-deps.sh          build + run dependencies
#   deploy/install-deps.sh --test   also what the tests need
set -euo pipefail

pkgs=(build-essential cmake pkg-config
      libfaiss-dev libopenblas-dev librocksdb-dev libnng-dev
      libprotobuf-c-dev protobuf-c-compiler libpq-dev
      libmbedtls-dev openssl)
# libmbedtls-dev: common/rpc_tls.c checks certificate files with mbedTLS,
# the TLS engine of Debian's libnng (libnng-dev pulls it in already).
# openssl: deploy/make-certs.sh (and the TLS tests, which run it).
if [[ "${1:-}" == "--test" ]]; then
  # chromium: the status page test (it_status_page) renders the page in
  # headless Chromium; installing it took 16 s here (122 MB download).
  # iproute2: the namespace test (deploy/netns-test.sh).
  # clang + libclang-rt-14-dev: the fuzz tests (tests/fuzz/run.sh; skipped
  # without them).  They were preinstalled on the build machine, so their
  # install time was not measured (a download of the same order as chromium).
  pkgs+=(libcmocka-dev postgresql chromium iproute2 clang libclang-rt-14-dev)
fi

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "install ok installed" >/dev/null; then
    missing+=("$p")
  fi
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
