#!/usr/bin/env bash
# it_config.sh -- the config file as an operator meets it, on the real
# daemons: every flag in --help is accepted as a key (so the file and the
# flags never drift apart); bad files are refused with exit 2 naming
# FILE:LINE; the example configs in deploy/examples parse; a coordinator
# and a worker run from config files, with flags overriding the file and
# [sections] overriding the top level; the systemd units in deploy/systemd
# pass systemd-analyze verify (when systemd-analyze exists).
# Usage: it_config.sh BIN_DIR
set -euo pipefail
bin=$1
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
deploy="$here/../../deploy"
dir=$(mktemp -d /tmp/shoal-config-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -n 20 "$dir"/*.log >&2 2>/dev/null || true; exit 1; }

# expect CODE PATTERN CMD... : runs CMD, checks its exit code and that its
# stderr+stdout contain PATTERN (fixed string)
expect() {
  local code=$1 pat=$2 rc=0
  shift 2
  "$@" >"$dir/out" 2>&1 || rc=$?
  [[ $rc -eq $code ]] || fail "'$*' exited $rc, want $code: $(cat "$dir/out")"
  grep -qF -- "$pat" "$dir/out" || fail "'$*' output lacks '$pat': $(cat "$dir/out")"
}

# ---- every --help flag is a config key (value errors are fine here)
for d in coordinator worker; do
  flags=$("$bin/shoal-$d" --help | grep -oE -- '--[a-z][a-z-]+' | sort -u)
  n=0
  for f in $flags; do
    key=${f#--}
    case $key in help|version|config|restore) continue ;; esac
    printf '%s = x\n' "$key" >"$dir/k.conf"
    rc=0
    "$bin/shoal-$d" --config "$dir/k.conf" --version >"$dir/out" 2>&1 || rc=$?
    if grep -qF "unknown key" "$dir/out"; then
      fail "shoal-$d: flag --$key is not accepted as a config key: $(cat "$dir/out")"
    fi
    n=$((n + 1))
  done
  ((n >= 6)) || fail "shoal-$d --help lists only $n flags?"
  echo "shoal-$d: $n flags, all accepted as config keys"
done

# ---- bad files: exit 2, FILE:LINE, nothing started
printf 'listen = tcp://127.0.0.1:1\n\nlisen = tcp://x:1\n' >"$dir/bad1.conf"
expect 2 "$dir/bad1.conf:3: unknown key 'lisen' for shoal-coordinator" \
  "$bin/shoal-coordinator" --config "$dir/bad1.conf" --data "$dir/never"
printf '# threads\nthreads = zero\n' >"$dir/bad2.conf"
expect 2 "$dir/bad2.conf:2: threads = 'zero': expected an integer in 1..1024" \
  "$bin/shoal-worker" --config "$dir/bad2.conf" --data "$dir/never"
printf 'data = "unterminated\n' >"$dir/bad3.conf"
expect 2 "$dir/bad3.conf:1: data: unterminated quoted value" \
  "$bin/shoal-worker" --config "$dir/bad3.conf"
printf '[wroker]\nthreads = 2\n' >"$dir/bad4.conf"
expect 2 "$dir/bad4.conf:1: unknown section [wroker]" \
  "$bin/shoal-worker" --config "$dir/bad4.conf" --data "$dir/never"
printf 'http-listen = 9700\n' >"$dir/bad5.conf"
expect 2 "$dir/bad5.conf:1: http-listen = '9700': expected HOST:PORT" \
  "$bin/shoal-coordinator" --config "$dir/bad5.conf" --data "$dir/never"
printf 'worker-timeout-ms = 5000\n' >"$dir/bad6.conf"   # a coordinator key at top level
expect 2 "unknown key 'worker-timeout-ms' for shoal-worker" \
  "$bin/shoal-worker" --config "$dir/bad6.conf" --data "$dir/never"
expect 2 "cannot read config file $dir/missing.conf" \
  "$bin/shoal-worker" --config "$dir/missing.conf" --data "$dir/never"
expect 2 "--config needs a FILE" "$bin/shoal-coordinator" --data "$dir/never" --config
expect 2 "given twice" "$bin/shoal-worker" --config a --config=b
[[ ! -e "$dir/never" ]] || fail "a refused configuration created the data directory"

# ---- the examples parse (no daemon starts: --version exits after the check)
for f in coordinator.conf single-host.conf; do
  expect 0 "shoal-coordinator" "$bin/shoal-coordinator" --config "$deploy/examples/$f" --version
done
for f in worker.conf single-host.conf; do
  expect 0 "shoal-worker" "$bin/shoal-worker" --config "$deploy/examples/$f" --version
done

# ---- daemons run from files; flags override; sections override the top
port=""
for ((p = 20000 + RANDOM % 20000; p < 60000; p += 11)); do
  (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { port=$p; break; }
done
[[ -n "$port" ]] || fail "no free port"
cat >"$dir/cluster.conf" <<EOF
# one file, two daemons
threads = 2
log_level = info

[coordinator]
listen = tcp://127.0.0.1:$port
data = "$dir/coord"
threads = 3              # the section wins over the top level
http_listen = 127.0.0.1:0

[worker]
coordinator = tcp://127.0.0.1:$port
listen = tcp://127.0.0.1:0
data = "$dir/worker"
name = cfg-worker
http-listen = 127.0.0.1:0
EOF
"$bin/shoal-coordinator" --config "$dir/cluster.conf" --ready-file "$dir/c.ready" \
  >"$dir/coordinator.log" 2>&1 &
pids+=($!)
# the flag overrides the file's [worker] data
"$bin/shoal-worker" --config "$dir/cluster.conf" --data "$dir/worker-flag" --ready-file "$dir/w.ready" \
  >"$dir/worker.log" 2>&1 &
pids+=($!)
for ((t = 0; t < 300; t++)); do
  [[ -s "$dir/c.ready" && -s "$dir/w.ready" ]] && break
  sleep 0.1
done
[[ -s "$dir/c.ready" && -s "$dir/w.ready" ]] || fail "daemons did not start from the config"
grep -qF "3 threads" "$dir/coordinator.log" || fail "[coordinator] threads = 3 not applied"
[[ $(sed -n 2p "$dir/c.ready") == http://127.0.0.1:* ]] || fail "no HTTP URL in the ready file"
for ((t = 0; t < 100; t++)); do
  "$bin/shoal" --coordinator "tcp://127.0.0.1:$port" status 2>/dev/null | grep -q "cfg-worker.* up " && break
  sleep 0.1
done
"$bin/shoal" --coordinator "tcp://127.0.0.1:$port" status | grep -q "cfg-worker.* up " ||
  fail "the worker configured by file did not register"
[[ -d "$dir/worker-flag/rows" && ! -e "$dir/worker" ]] || fail "--data did not override the file"
grep -qF "data $dir/worker-flag" "$dir/worker.log" || fail "worker log does not show the flag's data dir"
# a bad flag after a good file still fails on the flag
expect 2 "--threads: 'many' is not a number" \
  "$bin/shoal-worker" --config "$dir/cluster.conf" --threads many

# ---- systemd units
if command -v systemd-analyze >/dev/null; then
  mkdir "$dir/units"
  for u in shoal-coordinator.service shoal-worker@.service; do
    sed "s|/usr/local/bin|$bin|" "$deploy/systemd/$u" >"$dir/units/$u"
  done
  cp "$dir/units/shoal-worker@.service" "$dir/units/shoal-worker@1.service"
  (cd "$dir/units" && systemd-analyze verify --man=no ./shoal-coordinator.service \
    ./shoal-worker@1.service) >"$dir/out" 2>&1 || fail "systemd-analyze verify: $(cat "$dir/out")"
  [[ ! -s "$dir/out" ]] || fail "systemd-analyze verify warns: $(cat "$dir/out")"
  echo "systemd units verified"
else
  echo "systemd-analyze not installed: units not verified"
fi
echo "it_config: OK"
