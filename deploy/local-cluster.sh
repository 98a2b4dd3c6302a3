#!/usr/bin/env bash
# local-cluster.sh -- a shoal cluster on this machine's loopback address.
#
#   deploy/local-cluster.sh up     [--workers N] [--data DIR] [--port P] [--bin DIR]
#                                  [--http-port H]
#   deploy/local-cluster.sh down   [--data DIR]
#   deploy/local-cluster.sh status [--data DIR]
#
# up:     one coordinator on 127.0.0.1:P (default 7700) and N workers
#         (default 4; on a restart, the number the cluster was created with)
#         on ports P+1..P+N, data under DIR (default ./shoal-data), one log
#         and one pid file per daemon there.  On an existing DIR the daemons
#         restart with their data.  Waits until every worker is up.
#         --http-port H: the coordinator's status page and metrics on
#         http://127.0.0.1:H/, worker i's metrics on H+i (default: off).
# down:   stops exactly the pids recorded in DIR (SIGTERM, then SIGKILL after
#         10 s), checking that each pid still runs a shoal daemon.
# status: which daemons run, then `shoal status` (with the binaries `up`
#         used, recorded in DIR/bin).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cmd=${1:-}
[[ -n "$cmd" ]] && shift || true
workers=""
data=./shoal-data
port=7700
http_port=""
bin="$here/../build/bin"
bin_given=0

usage() { sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case "$1" in
    --workers) workers=${2:?--workers needs a number}; shift 2 ;;
    --data) data=${2:?--data needs a directory}; shift 2 ;;
    --port) port=${2:?--port needs a number}; shift 2 ;;
    --bin) bin=${2:?--bin needs a directory}; bin_given=1; shift 2 ;;
    --http-port) http_port=${2:?--http-port needs a number}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "local-cluster: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$port" =~ ^[0-9]+$ ]] || { echo "local-cluster: --port must be a number" >&2; exit 2; }
[[ -z "$http_port" || "$http_port" =~ ^[0-9]+$ ]] || { echo "local-cluster: --http-port must be a number" >&2; exit 2; }
[[ -z "$workers" || "$workers" =~ ^[1-9][0-9]*$ ]] || { echo "local-cluster: --workers must be a positive number" >&2; exit 2; }

# pid_is_ours PIDFILE: the pid in it runs a shoal daemon
pid_is_ours() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep "shoal-" >/dev/null || return 1
  echo "$pid"
}

wait_file() { # FILE PIDFILE SECONDS
  local i pid
  pid=$(cat "$2")
  for ((i = 0; i < $3 * 10; i++)); do
    [[ -s "$1" ]] && return 0
    # kill -0, not pid_is_ours: right after the fork the child may not
    # have exec'd the daemon yet
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

start_daemon() { # NAME LOG PIDFILE READY ARGS...
  local name=$1 log=$2 pidfile=$3 ready=$4; shift 4
  if pid=$(pid_is_ours "$pidfile"); then
    echo "  $name already running (pid $pid)"
    return 0
  fi
  rm -f "$ready"
  nohup "$@" --ready-file "$ready" >>"$log" 2>&1 </dev/null &
  echo $! >"$pidfile"
  if ! wait_file "$ready" "$pidfile" 60; then
    echo "local-cluster: $name did not start; last lines of $log:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  echo "  $name up (pid $(cat "$pidfile")), log $log"
}

up() {
  for b in shoal-coordinator shoal-worker shoal; do
    [[ -x "$bin/$b" ]] || { echo "local-cluster: $bin/$b not found; build first (cmake -S . -B build && cmake --build build -j2)" >&2; exit 1; }
  done
  mkdir -p "$data"
  data=$(cd "$data" && pwd)
  if [[ -z "$workers" ]]; then
    workers=$(cat "$data/workers" 2>/dev/null || echo 4)
  fi
  echo "$workers" >"$data/workers"
  echo "$port" >"$data/port"
  (cd "$bin" && pwd) >"$data/bin"
  local coord="tcp://127.0.0.1:$port"
  echo "starting shoal on 127.0.0.1:$port with $workers workers, data in $data"
  start_daemon coordinator "$data/coordinator.log" "$data/coordinator.pid" "$data/coordinator.ready" \
    "$bin/shoal-coordinator" --listen "$coord" --data "$data/coordinator" \
    ${http_port:+--http-listen "127.0.0.1:$http_port"}
  for ((i = 1; i <= workers; i++)); do
    start_daemon "worker-$i" "$data/worker-$i.log" "$data/worker-$i.pid" "$data/worker-$i.ready" \
      "$bin/shoal-worker" --listen "tcp://127.0.0.1:$((port + i))" --data "$data/worker-$i" \
      --coordinator "$coord" --name "worker-$i" \
      ${http_port:+--http-listen "127.0.0.1:$((http_port + i))"}
  done
  # wait until the coordinator sees every worker's heartbeat
  for ((t = 0; t < 300; t++)); do
    n=$("$bin/shoal" --coordinator "$coord" status 2>/dev/null | grep -c ' up ' || true)
    if ((n >= workers)); then
      echo "cluster ready: $n workers up"
      [[ -z "$http_port" ]] || echo "status page: http://127.0.0.1:$http_port/"
      return 0
    fi
    sleep 0.1
  done
  echo "local-cluster: workers did not all report up; see $data/*.log" >&2
  exit 1
}

down() {
  [[ -d "$data" ]] || { echo "local-cluster: no cluster in $data"; return 0; }
  local stopped=0
  for pidfile in "$data"/worker-*.pid "$data"/coordinator.pid; do
    [[ -e "$pidfile" ]] || continue
    if pid=$(pid_is_ours "$pidfile"); then
      kill -TERM "$pid" 2>/dev/null || true
      for ((t = 0; t < 100; t++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
      if kill -0 "$pid" 2>/dev/null; then
        echo "  $(basename "$pidfile" .pid) did not stop in 10 s: SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
      fi
      echo "  stopped $(basename "$pidfile" .pid) (pid $pid)"
      stopped=$((stopped + 1))
    fi
    rm -f "$pidfile"
  done
  echo "stopped $stopped daemons"
}

status() {
  [[ -d "$data" ]] || { echo "no cluster in $data"; exit 1; }
  for pidfile in "$data"/coordinator.pid "$data"/worker-*.pid; do
    [[ -e "$pidfile" ]] || continue
    if pid=$(pid_is_ours "$pidfile"); then
      echo "  $(basename "$pidfile" .pid): running (pid $pid)"
    else
      echo "  $(basename "$pidfile" .pid): not running"
    fi
  done
  p=$(cat "$data/port" 2>/dev/null || echo "$port")
  # the binaries the cluster was started with, unless --bin says otherwise
  if ((!bin_given)) && [[ -s "$data/bin" ]]; then bin=$(cat "$data/bin"); fi
  "$bin/shoal" --coordinator "tcp://127.0.0.1:$p" status
}

case "$cmd" in
  up) up ;;
  down) down ;;
  status) status ;;
  -h|--help|help) usage ;;
  *) echo "local-cluster: expected up|down|status" >&2; usage >&2; exit 2 ;;
esac
