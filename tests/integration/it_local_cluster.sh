#!/usr/bin/env bash
# it_local_cluster.sh -- deploy/local-cluster.sh as a user runs it: up with
# 2 workers on free loopback ports, load and search through the CLI, down
# stops exactly the recorded pids, up again on the same data keeps every
# point, down again.  Usage: it_local_cluster.sh BIN_DIR
set -euo pipefail
bin=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
lc="$here/../../deploy/local-cluster.sh"
dir=$(mktemp -d /tmp/shoal-lc-XXXXXX)
# a free base port with 2 free ports after it
port=""
for ((p = 20000 + RANDOM % 20000; p < 60000; p += 7)); do
  busy=0
  for q in $p $((p + 1)) $((p + 2)); do
    (exec 3<>"/dev/tcp/127.0.0.1/$q") 2>/dev/null && busy=1
  done
  ((busy)) || { port=$p; break; }
done
[[ -n "$port" ]] || { echo "no free ports" >&2; exit 1; }
cleanup() { "$lc" down --data "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -n 20 "$dir"/*.log >&2 || true; exit 1; }
shoal() { "$bin/shoal" --coordinator "tcp://127.0.0.1:$port" "$@"; }

"$lc" up --workers 2 --data "$dir" --port "$port" --bin "$bin" || fail "up"
pids=$(cat "$dir"/*.pid)
[[ $(echo "$pids" | wc -l) -eq 3 ]] || fail "expected 3 pid files"
shoal tenant create demo
shoal collection create demo docs --dim 16 --metric l2
shoal load demo docs --gen 3000 --seed 5 >/dev/null 2>&1 || fail "load"
[[ $(shoal count demo docs | grep -o '[0-9]\+' | head -1) == 3000 ]] || fail "count after load: $(shoal count demo docs)"
out=$(shoal search demo docs --gen-seed 5 --gen-index 17 --k 10)
echo "$out"
echo "$out" | grep -E '^ *1 +17 ' || fail "point 17 is not its own nearest neighbour"
"$lc" status --data "$dir" | grep "worker-2: running" || fail "status"

"$lc" down --data "$dir" || fail "down"
for p in $pids; do
  if kill -0 "$p" 2>/dev/null; then fail "pid $p still running after down"; fi
done
"$lc" up --data "$dir" --port "$port" --bin "$bin" || fail "second up"
[[ $(ls "$dir"/worker-*.pid | wc -l) -eq 2 ]] || fail "restart did not keep 2 workers"
[[ $(shoal count demo docs | grep -o '[0-9]\+' | head -1) == 3000 ]] || fail "count after restart: $(shoal count demo docs)"
"$lc" down --data "$dir" >/dev/null
echo "it_local_cluster: ok"
