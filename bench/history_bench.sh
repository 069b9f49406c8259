#!/usr/bin/env bash
# SPEC §8 "history at scale" against a real server: 1,000,000 closed and
# 10,000 open positions in the SQLite store; start to ready < 5 s, RSS < 400 MB,
# /api/stats and /api/positions p50 < 1 ms, a /api/trades page < 2 ms.
#
# Seeds the store once with bench/seed_history.py (cached under
# $QC_BENCH_CACHE, keyed by N, M, the seed and the seeder's hash), copies it to
# a fresh data dir for each run (startup may migrate the file), and runs
# bench/history_latency.py on it: exec -> first 200 from /readyz, RSS after
# ready / after the latency runs / SETTLE s later, the wait until
# /api/performance is served gzip, p50/p99/max of sequential keep-alive GETs
# without and with Accept-Encoding: gzip. Prints a table with the SPEC's
# targets next to the figures. Builds nothing; every server is stopped and
# every temporary data dir removed on exit. Exit status is non-zero only on
# errors (no server, a wrong status, a gzip body that is not the plain body),
# never because a target was missed.
#
#   bench/history_bench.sh
#   env: QC_BIN (default build-bench/quantcrunch if it exists, else build/quantcrunch)
#        CLOSED=1000000 OPEN=10000 SEED=7 RUNS=1 THREADS=2 (server HTTP threads)
#        REQUESTS=200 PERF_REQUESTS=10 FILTERED_REQUESTS=50 WARMUP=5 DEEP_PAGES=50 (pages of 100
#        followed for the deep cursor) GZIP_WAIT=60 SETTLE=10 (s)
#        QC_BENCH_CACHE=/tmp/qc-history-bench  (seeded stores; delete to reseed)
#        SEED_DB=path/quantcrunch.sqlite3      (use this seeded store instead of
#                                               the cache; copied, never modified)
#        SERVER_ENV="NAME=VALUE ..."           (the server otherwise runs with a
#                                               clean environment: PATH and HOME)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
if [[ -n ${QC_BIN:-} ]]; then
  bin=$QC_BIN
elif [[ -x $repo/build-bench/quantcrunch ]]; then
  bin=$repo/build-bench/quantcrunch
else
  bin=$repo/build/quantcrunch
fi
closed=${CLOSED:-1000000}
open=${OPEN:-10000}
seed=${SEED:-7}
runs=${RUNS:-1}
cache=${QC_BENCH_CACHE:-/tmp/qc-history-bench}

[[ -x $bin ]] || { echo "history_bench: $bin not found; build quantcrunch or set QC_BIN" >&2; exit 2; }
bin=$(realpath "$bin")

work=$(mktemp -d /tmp/qc_history_bench.XXXXXX)
seeding=
helper=
# shellcheck disable=SC2317  # (called by the trap)
cleanup() {
  # history_latency.py stops and reaps its server and then removes the pid
  # file; a pid file left behind means it died first.
  local f pid
  if [[ -n $helper ]]; then  # interrupted: the helper stops its server on SIGTERM
    kill -TERM "$helper" 2> /dev/null || true
    wait "$helper" 2> /dev/null || true
  fi
  for f in "$work"/run*/server.pid; do
    [[ -s $f ]] || continue
    pid=$(< "$f")
    kill -TERM "$pid" 2> /dev/null || continue
    for _ in $(seq 150); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2> /dev/null || true
  done
  rm -rf "$work" ${seeding:+"$seeding"}
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the seeded store
if [[ -n ${SEED_DB:-} ]]; then
  src=$(realpath "$SEED_DB")
  [[ -s $src ]] || { echo "history_bench: SEED_DB $SEED_DB is missing or empty" >&2; exit 2; }
else
  key=c${closed}_o${open}_s${seed}_$(sha1sum "$here/seed_history.py" | cut -c1-8)
  src=$cache/$key/quantcrunch.sqlite3
  if [[ ! -s $src ]]; then
    echo "seeding $closed closed / $open open positions into $cache/$key (once) ..." >&2
    mkdir -p "$cache"
    seeding=$(mktemp -d "$cache/.seeding.XXXXXX")
    tmp=$seeding
    t0=$(date +%s.%N)
    python3 "$here/seed_history.py" "$tmp" --closed "$closed" --open "$open" --seed "$seed" --create "$bin"
    printf 'seeded in %.1f s\n' "$(echo "$(date +%s.%N) - $t0" | bc -l)" >&2
    rm -rf "${cache:?}/$key"
    # Keep only the database (the server's other local state is recreated per run).
    mkdir "$tmp/.db" && mv "$tmp/quantcrunch.sqlite3" "$tmp/.db/"
    mv "$tmp/.db" "$cache/$key"
    rm -rf "$tmp"
    seeding=
  fi
fi
counts=$(python3 - "$src" << 'EOF'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
print(db.execute("SELECT count(*) FROM closed_positions").fetchone()[0],
      db.execute("SELECT count(*) FROM open_positions").fetchone()[0])
EOF
)
read -r have_closed have_open <<< "$counts"

# ---- machine and build
commit=
if git -C "$(dirname "$bin")" rev-parse --git-dir > /dev/null 2>&1; then
  commit=$(git -C "$(dirname "$bin")" rev-parse --short HEAD)
  git -C "$(dirname "$bin")" diff --quiet HEAD -- 2> /dev/null || commit+=" + uncommitted changes"
fi
cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
mem=$(awk '/^MemTotal:/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
group() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<< "$1"; }
echo "history at scale (SPEC §8): $(group "$have_closed") closed, $(group "$have_open") open positions ($src, $(( $(stat -c %s "$src") / 1000000 )) MB)"
[[ -n ${SEED_DB:-} || ($have_closed == "$closed" && $have_open == "$open") ]] ||
  echo "  note: CLOSED=$closed OPEN=$open asked, the store holds $have_closed / $have_open"
echo "binary:  $bin (modified $(date -u -r "$bin" '+%Y-%m-%d %H:%M UTC'); commit ${commit:-unknown})"
echo "machine: $(nproc) cores ($cpu), $mem; load average before: $load_before; $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "client:  Python http.client, one keep-alive connection per case, sequential; latency = request sent -> whole body read (gzip bodies not decompressed); ${REQUESTS:-200} requests (${PERF_REQUESTS:-10} for /api/performance and equity=full, ${FILTERED_REQUESTS:-50} for filtered /api/stats) after ${WARMUP:-5} warm-ups; MB = 10^6 bytes"

server_env=()
for kv in ${SERVER_ENV:-}; do server_env+=(--env "$kv"); done

status=0
for ((r = 1; r <= runs; r++)); do
  run=$work/run$r
  mkdir -p "$run/data"
  cp "$src" "$run/data/quantcrunch.sqlite3"  # also leaves it in the page cache: a warm start
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  echo
  echo "== run $r of $runs (fresh copy of the store; server: --feed none --threads ${THREADS:-2}, port $port)"
  # In the background, so that a signal to this script runs its trap at once.
  python3 "$here/history_latency.py" --bin "$bin" --data-dir "$run/data" --port "$port" \
    --pidfile "$run/server.pid" --log "$run/server.log" --threads "${THREADS:-2}" \
    --requests "${REQUESTS:-200}" --perf-requests "${PERF_REQUESTS:-10}" --filtered-requests "${FILTERED_REQUESTS:-50}" --warmup "${WARMUP:-5}" \
    --deep-pages "${DEEP_PAGES:-50}" --gzip-wait "${GZIP_WAIT:-60}" --settle "${SETTLE:-10}" "${server_env[@]}" &
  helper=$!
  wait "$helper" || {
    status=1
    echo "--- server log (last 30 lines):" >&2
    tail -n 30 "$run/server.log" >&2 || true
  }
  helper=
  rm -rf "$run/data"
done
echo
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg) (before: $load_before)"
exit $status
