#!/usr/bin/env bash
# run-report.sh -- the full shoal-bench report into bench/results/.
#
#   bench/run-report.sh [--build DIR] [--pg DSN | --no-pg] [--out DIR] [--quick]
#                       [--no-import-1m]
#
# Two runs, each against raw FAISS, a worker's own search path in process
# (target worker), a local shoal cluster (--local 2) and PostgreSQL +
# pgvector, ef_search 10..640, 1 and 4 clients, with every workload (ingest, search, tenant;
# scatter over 32 shards and 1,000 keys; filter at 50, 10, 1 and 0.1%;
# migrate of a tenant of up to 100,000 points, unthrottled and throttled
# to $MIGRATE_MBPS MB/s (default 10); import):
#   1. 100,000 x 128 generated, clustered (low intrinsic dimension), l2,
#      10,000 queries;
#   2. Fashion-MNIST from Debian's dataset-fashion-mnist (60,000 x 784, l2,
#      10,000 queries: ann-benchmarks' fashion-mnist-784-euclidean).
# Each writes results/<name>.json, <name>.md and recall-vs-QPS PNGs.
# Then the rebalance workload alone (issue 5's comparison with Citus): a
# cluster of 4 workers holding 200,000 x 128 (102 MB of vectors) in a
# shared collection of 32 shards, a 5th worker added and the cluster
# rebalanced under a reader and a writer (results/rebalance-200000x128.*;
# a few minutes).
# Then, when there is a PostgreSQL (below), a third run of the import
# workload alone (issue 6): 1,000,000 x 128 generated, clustered, shoal's
# `shoal import pg` against pgvector's COPY + CREATE INDEX (results/
# gen-clustered-1000000x128.*; the two runs above include it at their own
# size).  It adds roughly 30-60 minutes on 2 cores; --no-import-1m skips it.
#
# PostgreSQL: --pg DSN (or $PG_DSN) uses that server.  Otherwise, when a
# PostgreSQL server with pgvector is installed here (e.g. Debian's
# postgresql-15 plus postgresql-15-pgvector), a throwaway cluster is
# initialised in a temp dir on a free loopback port for the run and stopped
# (by its postmaster pid) at the end.  Without either, pgvector is skipped
# and the reports say why.  --no-pg skips it on purpose.
#
# --quick: 20,000 x 128 and the first 20,000 Fashion-MNIST images with
# 1,000 queries, to try the script out in a few minutes.
#
# Run it on a quiet machine: the numbers are only as good as the machine's
# idleness.  Takes roughly 20-40 minutes on 2 cores.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
build="$root/build"
out="$here/results"
pg_dsn="${PG_DSN:-}"
no_pg=0
quick=0
import_1m=1

usage() { awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
while (($#)); do
  case "$1" in
    --build) build=${2:?--build needs a directory}; shift 2 ;;
    --pg) pg_dsn=${2:?--pg needs a DSN}; shift 2 ;;
    --no-pg) no_pg=1; shift ;;
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --quick) quick=1; shift ;;
    --no-import-1m) import_1m=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run-report: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

bench="$build/bin/shoal-bench"
if [[ ! -x "$bench" ]]; then
  echo "run-report: $bench not found; building it (cmake -S $root -B $build)" >&2
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j2 --target shoal-bench
fi
mkdir -p "$out"

# ---------------------------------------------------------------- PostgreSQL
pg_tmp=""
pg_pid=""
stop_pg() {
  if [[ -n "$pg_pid" ]] && kill -0 "$pg_pid" 2>/dev/null; then
    echo "run-report: stopping the throwaway PostgreSQL (pid $pg_pid)" >&2
    kill -INT "$pg_pid" 2>/dev/null || true   # fast shutdown
    for _ in $(seq 1 100); do kill -0 "$pg_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pg_pid" 2>/dev/null && kill -KILL "$pg_pid" 2>/dev/null || true
  fi
  [[ -n "$pg_tmp" ]] && rm -rf "$pg_tmp"
  return 0
}
trap stop_pg EXIT

free_port() {
  local p
  for p in $(seq 55432 55532); do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return 0; }
  done
  return 1
}

start_throwaway_pg() {
  local bindir ver port run_as=()
  bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [[ -n "$bindir" && -x "$bindir/initdb" ]] || { echo "run-report: no PostgreSQL server installed (e.g. apt-get install postgresql): pgvector will be skipped" >&2; return 1; }
  ver=$(basename "$(dirname "$bindir")")
  if [[ ! -e "/usr/share/postgresql/$ver/extension/vector.control" ]]; then
    echo "run-report: PostgreSQL $ver has no pgvector (apt-get install postgresql-$ver-pgvector): pgvector will be skipped" >&2
    return 1
  fi
  pg_tmp=$(mktemp -d /tmp/shoal-bench-pg-XXXXXX)
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres "$pg_tmp"
    run_as=(runuser -u postgres --)
  fi
  port=$(free_port) || { echo "run-report: no free port for PostgreSQL" >&2; return 1; }
  "${run_as[@]}" "$bindir/initdb" -D "$pg_tmp/data" -A trust -U postgres >"$pg_tmp/initdb.log" 2>&1 ||
    { echo "run-report: initdb failed, see $pg_tmp/initdb.log" >&2; return 1; }
  # shared_buffers large enough to hold each table and index: the reports
  # list the settings
  "${run_as[@]}" "$bindir/pg_ctl" -D "$pg_tmp/data" -l "$pg_tmp/postgres.log" -w \
    -o "-p $port -k $pg_tmp -c listen_addresses=127.0.0.1 -c shared_buffers=2GB" start >/dev/null ||
    { echo "run-report: PostgreSQL did not start, see $pg_tmp/postgres.log" >&2; return 1; }
  pg_pid=$(head -n 1 "$pg_tmp/data/postmaster.pid")
  pg_dsn="host=127.0.0.1 port=$port user=postgres dbname=postgres"
  echo "run-report: throwaway PostgreSQL $ver on 127.0.0.1:$port (pid $pg_pid)" >&2
}

pg_args=()
if ((no_pg == 0)); then
  if [[ -z "$pg_dsn" ]]; then
    start_throwaway_pg || true
  fi
  [[ -n "$pg_dsn" ]] && pg_args=(--pg "$pg_dsn")
fi
# worker: the worker's own search path in process (issue 3: vs raw FAISS)
targets=faiss,worker,shoal
((${#pg_args[@]})) && targets+=,pgvector

# ---------------------------------------------------------------- runs
# The migrate workload moves its tenant twice: unthrottled, then throttled
# (bench/README.md, "Throttle"): the report shows what the throttle buys in
# search p99 and what it costs in MB/s.
migrate_mbps=${MIGRATE_MBPS:-10}
common=(--local 2 --targets "$targets" "${pg_args[@]}"
        --workload ingest,search,tenant,scatter,filter,migrate,import --max-mbps "0,$migrate_mbps"
        --m 16 --ef-construction 64 --k 10
        --ef 10,20,40,80,160,320,640 --clients 1,4 --min-time 2
        --tenants 100 --shards 32 --scatter-keys 1000 --selectivity 50,10,1,0.1
        --out "$out")

if ((quick)); then
  rb=(--gen-clustered 20000,128 --queries 200 --name rebalance-20000x128)
  gen=(--gen-clustered 20000,128 --queries 1000 --tenant-size 200)
  fm=(--fashion-mnist --limit 20000 --queries 1000 --name fashion-mnist-20k-euclidean --tenant-size 200)
else
  rb=(--gen-clustered 200000,128 --queries 1000 --name rebalance-200000x128)
  gen=(--gen-clustered 100000,128 --queries 10000)
  fm=(--fashion-mnist --queries 10000 --tenant-size 600)
fi

set -x
"$bench" "${gen[@]}" "${common[@]}"
"$bench" "${fm[@]}" "${common[@]}"
# its own cluster (4 workers + 1); --local 1 is the run's idle main cluster
"$bench" "${rb[@]}" --local 1 --targets shoal --workload rebalance --m 16 --ef-construction 64 \
  --k 10 --max-mbps 0 --out "$out"
if ((import_1m && !quick && ${#pg_args[@]})); then
  "$bench" --gen-clustered 1000000,128 --queries 1000 --local 2 --targets "${targets#faiss,worker,}" \
    "${pg_args[@]}" --workload import --m 16 --ef-construction 64 --out "$out"
fi
{ set +x; } 2>/dev/null
echo "run-report: reports in $out:" >&2
ls -1 "$out"/*.md >&2
