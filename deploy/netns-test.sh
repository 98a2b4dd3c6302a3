#!/usr/bin/env bash
# netns-test.sh -- shoal on "several hosts" on one machine: the coordinator
# and each worker run in their own network namespace, joined by veth pairs
# to a bridge that lives in a namespace of its own, on a private /24
# (10.77.0.0/24) that exists only inside these namespaces.  Nothing is
# configured in the caller's namespace: no address, no route, no firewall
# rule; every namespace (and with it every veth) is deleted at exit.
#
#   coordinator  10.77.0.1   (ns shoal-<id>-c)   rpc :7700, http :9700
#   worker wk1   10.77.0.11  (ns shoal-<id>-w1)  rpc :7701, http :9701
#   worker wk2   10.77.0.12  (ns shoal-<id>-w2)  rpc :7701, http :9701
#   bridge br0               (ns shoal-<id>-sw)
#
# The daemons run from config files, as deploy/systemd would start them.
# The test: tenants on both workers are loaded and searched; wk1 is cut off
# the network (its link goes down, the process keeps running); the
# coordinator reports it down (CLI, /metrics, /status.json), wk1's tenant
# fails within seconds, naming wk1, while wk2's is still served; the link comes
# back; wk1 is reported up again and its tenant is served with every point.
#
# Needs root (ip netns add); exits 77 (skipped) when namespaces cannot be
# created.  Usage: deploy/netns-test.sh BIN_DIR    (ctest: integration.it_netns)
set -euo pipefail
bin=$(cd "${1:?usage: netns-test.sh BIN_DIR}" && pwd)
id="o9$$"
ns_sw="shoal-$id-sw" ns_c="shoal-$id-c" ns_w1="shoal-$id-w1" ns_w2="shoal-$id-w2"
dir=$(mktemp -d /tmp/shoal-netns-XXXXXX)
pids=()
made=()

cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for ((t = 0; t < 100; t++)); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
  done
  for n in "${made[@]}"; do ip netns del "$n" 2>/dev/null || true; done
  if [[ -n "${KEEP:-}" ]]; then echo "kept $dir"; else rm -rf "$dir"; fi
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$dir"/*.log; do echo "---- $f" >&2; tail -n 15 "$f" >&2; done
  exit 1
}

if ! command -v ip >/dev/null || ! ip netns add "$ns_sw" 2>/dev/null; then
  echo "SKIP: cannot create network namespaces (needs root and iproute2's 'ip netns')"
  exit 77
fi
made+=("$ns_sw")
for n in "$ns_c" "$ns_w1" "$ns_w2"; do
  ip netns add "$n" || fail "ip netns add $n"
  made+=("$n")
done

# ---- the network: a bridge in ns_sw, one veth per node
ip -n "$ns_sw" link add br0 type bridge
ip -n "$ns_sw" link set br0 up
node() { # NS SHORT ADDR
  ip -n "$ns_sw" link add "v$2" type veth peer name eth0 netns "$1"
  ip -n "$ns_sw" link set "v$2" master br0 up
  ip -n "$1" addr add "$3/24" dev eth0
  ip -n "$1" link set eth0 up
  ip -n "$1" link set lo up
}
node "$ns_c" c 10.77.0.1
node "$ns_w1" w1 10.77.0.11
node "$ns_w2" w2 10.77.0.12

# ---- configs, as /etc/shoal would hold them
cat >"$dir/coordinator.conf" <<EOF
listen = tcp://10.77.0.1:7700
data = $dir/coordinator
http-listen = 10.77.0.1:9700
worker-timeout-ms = 3000
EOF
for i in 1 2; do
  cat >"$dir/worker-$i.conf" <<EOF
listen = tcp://10.77.0.1$i:7701
coordinator = tcp://10.77.0.1:7700
name = wk$i
data = $dir/worker-$i
http-listen = 10.77.0.1$i:9701
sync = true
EOF
done

start() { # NS NAME ARGS...
  local ns=$1 name=$2
  shift 2
  ip netns exec "$ns" "$@" --ready-file "$dir/$name.ready" >"$dir/$name.log" 2>&1 &
  pids+=($!)
  for ((t = 0; t < 300; t++)); do
    [[ -s "$dir/$name.ready" ]] && return 0
    kill -0 "${pids[-1]}" 2>/dev/null || fail "$name exited at start"
    sleep 0.1
  done
  fail "$name did not start"
}
start "$ns_c" coordinator "$bin/shoal-coordinator" --config "$dir/coordinator.conf"
start "$ns_w1" worker-1 "$bin/shoal-worker" --config "$dir/worker-1.conf"
start "$ns_w2" worker-2 "$bin/shoal-worker" --config "$dir/worker-2.conf"
w1_pid=${pids[1]}

# the CLI and HTTP scrapes run in the coordinator's namespace (an operator's
# host on the same network)
shoal() { ip netns exec "$ns_c" "$bin/shoal" --coordinator tcp://10.77.0.1:7700 "$@"; }
http() { # HOST PORT PATH -> body
  ip netns exec "$ns_c" bash -c '
    exec 3<>"/dev/tcp/$1/$2" || exit 1
    printf "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" "$3" "$1" >&3
    sed "1,/^\r$/d" <&3' _ "$@"
}
state_of() { local s; s=$(shoal status) && awk -v w="$1" '$1 == w { print $3 }' <<<"$s"; }
wait_state() { # WORKER STATE SECONDS
  for ((t = 0; t < $3 * 10; t++)); do
    [[ "$(state_of "$1")" == "$2" ]] && return 0
    sleep 0.1
  done
  fail "$1 not $2 after $3 s: $(shoal status)"
}
wait_state wk1 up 20
wait_state wk2 up 20

shoal tenant create t1 --on wk1 >/dev/null
shoal tenant create t2 --on wk2 >/dev/null
for t in t1 t2; do
  shoal collection create $t docs --dim 16 --metric l2 >/dev/null
  shoal load $t docs --gen 2000 --seed 5 >/dev/null 2>&1 || fail "load $t"
  [[ $(shoal count $t docs) == 2000 ]] || fail "count $t"
done
# (grep reads from a variable: with pipefail, `cmd | grep -q` fails when
# grep exits early and cmd gets SIGPIPE)
r=$(shoal search t1 docs --gen-seed 5 --gen-index 17 --k 1)
grep -qw 17 <<<"$r" || fail "search t1: $r"
m=$(http 10.77.0.1 9700 /metrics)
grep -q '^shoal_cluster_workers{state="up"} 2$' <<<"$m" || fail "metrics: 2 workers up: $m"
grep -q '^shoal_tenant_points{tenant="t1",worker="wk1"} 2000$' <<<"$m" || fail "metrics: t1 size"
m=$(http 10.77.0.11 9701 /metrics)
grep -q '^shoal_worker_points 2000$' <<<"$m" || fail "wk1 metrics: $m"
echo "cluster of 3 namespaces up; 2 tenants loaded"

# ---- cut wk1 off the network (the process keeps running)
ip -n "$ns_sw" link set vw1 down
wait_state wk1 DOWN 20
kill -0 "$w1_pid" || fail "wk1 died"
m=$(http 10.77.0.1 9700 /metrics)
grep -q '^shoal_cluster_workers{state="down"} 1$' <<<"$m" || fail "metrics: 1 worker down"
grep -q '^shoal_cluster_worker_up{worker="wk1"} 0$' <<<"$m" || fail "metrics: wk1 up 0"
j=$(http 10.77.0.1 9700 /status.json)
grep -qF '"name":"wk1","url":"tcp://10.77.0.11:7701","up":false' <<<"$j" ||
  fail "status.json: wk1 not down: $j"
t0=$(date +%s%N)
rc=0
shoal count t1 docs >"$dir/out" 2>&1 || rc=$?
t1=$(date +%s%N)
# A silent link (no RST) cannot be told from a slow worker: the coordinator
# gives a worker without heartbeats a short deadline (router.c) and names it.
[[ $rc -eq 1 ]] && grep -qE "(UNAVAILABLE|DEADLINE_EXCEEDED).*wk1" "$dir/out" ||
  fail "t1 while cut off: rc $rc: $(cat "$dir/out")"
ms=$(((t1 - t0) / 1000000))
((ms < 5000)) || fail "t1 while cut off took $ms ms to fail"
echo "t1 while wk1 is cut off fails in $ms ms: $(cat "$dir/out")"
[[ $(shoal count t2 docs) == 2000 ]] || fail "t2 not served while wk1 is cut off"

# ---- restore the link: wk1 comes back by itself (heartbeats), t1 is served
ip -n "$ns_sw" link set vw1 up
wait_state wk1 up 30
for ((t = 0; t < 100; t++)); do
  c=$(shoal count t1 docs 2>/dev/null || true)
  [[ "$c" == 2000 ]] && break
  sleep 0.1
done
[[ "$c" == 2000 ]] || fail "t1 after the link came back: count '$c'"
r=$(shoal search t1 docs --gen-seed 5 --gen-index 17 --k 1)
grep -qw 17 <<<"$r" || fail "search t1 after: $r"
m=$(http 10.77.0.1 9700 /metrics)
grep -q '^shoal_cluster_workers{state="up"} 2$' <<<"$m" || fail "metrics: 2 up after the link came back"
kill -0 "$w1_pid" || fail "wk1 is not the process that was cut off"
echo "netns-test: OK"
