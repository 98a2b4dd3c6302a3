#!/usr/bin/env bash
# quickstart.sh -- from a fresh Debian machine to a searched shoal cluster:
# installs missing packages, builds, starts a local cluster (1 coordinator,
# 4 workers on 127.0.0.1:7700-7704, data in ./shoal-data), creates a sample
# tenant and collection, loads 20,000 generated vectors and prints a top-10.
# Run it again at any time: it restarts the cluster with its data.
# Stop the cluster with: deploy/local-cluster.sh down
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

deploy/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j2
deploy/local-cluster.sh up

port=$(cat shoal-data/port 2>/dev/null || echo 7700)
shoal() { build/bin/shoal --coordinator "tcp://127.0.0.1:$port" "$@"; }
if ! shoal tenant list | grep -w demo >/dev/null; then
  shoal tenant create demo
  shoal collection create demo docs --dim 64 --metric cosine
  shoal load demo docs --gen 20000 --seed 1
fi
echo
echo "top-10 neighbours of generated vector #123 in demo/docs:"
shoal search demo docs --gen-seed 1 --gen-index 123 --k 10
echo
echo "the cluster keeps running; try: build/bin/shoal status   (stop: deploy/local-cluster.sh down)"
