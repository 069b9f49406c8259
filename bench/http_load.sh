#!/usr/bin/env bash
# HTTP targets of SPEC §8, on loopback, in one run:
#   1. idle RSS of `quantcrunch serve` in embedded mode with --feed none, then
#      POST-to-visible latency (bench/post_visible.py) on that server;
#   2. idle RSS with the default simulated feed;
#   3. GET throughput: a data dir is filled with recommendation documents
#      (POSTed) and closed positions (bars replayed), then wrk (keep-alive,
#      64 connections) runs against /api/tickerlist, /api/recommendations,
#      /api/performance and the minimal Boost.Beast server, interleaved, and
#      each endpoint's req/s is divided by the minimal server's around it.
# Builds nothing. Every server it starts is stopped on exit.
#
#   bench/http_load.sh [BUILD_DIR]     (default: build-bench next to bench/)
#   env: DURATION=10s ROUNDS=2 CONNECTIONS=64 WRK_THREADS=2 THREADS=2 (server threads)
#        SESSIONS=3 (trading days of bars replayed for /api/performance)
#        POST_ITERATIONS=200  SIM_SECONDS=5
#        SOAK=0 (seconds of mixed GET load after the measurements, e.g. 600,
#        with RSS sampled every 10 s: SPEC §8 "10-minute load")
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:-$here/../build-bench}
qc=$(realpath "$build/quantcrunch")
mini=$(realpath "$build/bench/minimal_beast_server")
duration=${DURATION:-10s}
connections=${CONNECTIONS:-64}
wrk_threads=${WRK_THREADS:-2}
threads=${THREADS:-2}
sessions=${SESSIONS:-3}
post_iterations=${POST_ITERATIONS:-200}
sim_seconds=${SIM_SECONDS:-5}
soak=${SOAK:-0}
host=127.0.0.1

for tool in wrk curl python3; do
  command -v $tool > /dev/null || { echo "http_load: $tool is required" >&2; exit 2; }
done
[[ -x $qc && -x $mini ]] || {
  echo "http_load: build quantcrunch and minimal_beast_server in $build first" >&2; exit 2; }

work=$(mktemp -d /tmp/qc_http_load.XXXXXX)
token=bench-$RANDOM$RANDOM
pids=()

stop_pid() {  # TERM, then KILL after 5 s; reaps the child
  local pid=$1
  kill -TERM "$pid" 2> /dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2> /dev/null || true
  wait "$pid" 2> /dev/null || true
}
cleanup() {
  local pid
  for pid in "${pids[@]}"; do stop_pid "$pid"; done
  if [[ -n ${KEEP_DIR:-} ]]; then cp -r "$work" "$KEEP_DIR"; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_qc LOG ARGS... : quantcrunch serve in an empty working directory (no
# stray .env) with a clean environment (no MONGO/REDIS/POLYGON variables).
start_qc() {
  local log=$1
  shift
  (cd "$work" && exec env -i PATH="$PATH" HOME="$work" QC_API_TOKEN="$token" \
    "$qc" serve --host "$host" --threads "$threads" "$@") > "$log" 2>&1 &
  qc_pid=$!
  pids+=("$qc_pid")
}
start_mini() {
  "$mini" --host "$host" "$@" > "$work/mini.log" 2>&1 &
  mini_pid=$!
  pids+=("$mini_pid")
}
wait_http() {  # wait_http PORT PID LOG
  for _ in $(seq 150); do
    curl -sf "http://$host:$1/healthz" -o /dev/null 2> /dev/null && return 0
    curl -sf "http://$host:$1/" -o /dev/null 2> /dev/null && return 0
    kill -0 "$2" 2> /dev/null || { echo "http_load: server exited:" >&2; cat "$3" >&2; exit 1; }
    sleep 0.1
  done
  echo "http_load: server on port $1 did not answer in 15 s" >&2
  cat "$3" >&2
  exit 1
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
mb() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "quantcrunch: $qc ($threads HTTP threads); wrk -t$wrk_threads -c$connections -d$duration"
echo

# ---- 1. idle RSS (--feed none) and POST to visible -----------------------------
port=$(free_port)
start_qc "$work/none.log" --port "$port" --data-dir "$work/none" --feed none
wait_http "$port" "$qc_pid" "$work/none.log"
sleep 2
rss_none=$(rss_kb "$qc_pid")
echo "idle RSS, embedded mode, --feed none: $(mb "$rss_none") MB"
python3 "$here/post_visible.py" --port "$port" --token "$token" --iterations "$post_iterations" \
  | tee "$work/post_visible.txt"
stop_pid "$qc_pid"
echo

# ---- 2. idle RSS with the default simulated feed --------------------------------
port=$(free_port)
start_qc "$work/sim.log" --port "$port" --data-dir "$work/sim"
wait_http "$port" "$qc_pid" "$work/sim.log"
sleep "$sim_seconds"
rss_sim=$(rss_kb "$qc_pid")
echo "RSS, embedded mode, default simulated feed, ${sim_seconds} s after start: $(mb "$rss_sim") MB"
grep -o 'market data: .*' "$work/sim.log" | head -1 | sed 's/^/  /'
stop_pid "$qc_pid"
echo

# ---- 3. GET throughput -------------------------------------------------------------
python3 "$here/gen_data.py" --bars $((sessions * 390 * 11)) --out-bars "$work/bars.jsonl" \
  --out-recs "$work/recs.jsonl" 2> /dev/null
port=$(free_port)
start_qc "$work/load1.log" --port "$port" --data-dir "$work/load" --feed none
wait_http "$port" "$qc_pid" "$work/load1.log"
python3 "$here/post_visible.py" --port "$port" --token "$token" --post-file "$work/recs.jsonl"
stop_pid "$qc_pid"
start_qc "$work/load2.log" --port "$port" --data-dir "$work/load" --feed "replay:$work/bars.jsonl"
wait_http "$port" "$qc_pid" "$work/load2.log"
for _ in $(seq 300); do
  curl -s "http://$host:$port/readyz" | python3 -c \
    'import json, sys; sys.exit(0 if json.load(sys.stdin)["feed"].get("exhausted") else 1)' && break
  sleep 0.1
done
qc_load_pid=$qc_pid
ready=$(curl -s "http://$host:$port/readyz")
echo "data: $(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["documents"], "documents,", d["positions"]["open"], "open and", d["positions"]["closed"], "closed positions,", d["feed"]["bars_applied"], "bars replayed")' "$ready")"
rss_loaded=$(rss_kb "$qc_load_pid")

mini_port=$(free_port)
start_mini --port "$mini_port" --threads "$threads"
wait_http "$mini_port" "$mini_pid" "$work/mini.log"

body_bytes() { curl -s "$1" | wc -c; }
# run_wrk NAME URL : one wrk run; prints a result line, sets $last_rps
declare -A sum_ratio sum_rps
run_wrk() {
  local name=$1 url=$2 out r p99 non2xx sock
  out=$(wrk -t"$wrk_threads" -c"$connections" -d"$duration" --latency "$url")
  echo "$out" > "$work/wrk_${name//\//_}_$round.txt"
  r=$(awk '/^Requests\/sec:/ {print $2}' <<< "$out")
  p99=$(awk '$1 == "99%" {print $2}' <<< "$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<< "$out")
  sock=$(grep -o 'Socket errors:.*' <<< "$out" || true)
  printf '  %-22s %6s B %9.0f req/s  p99 %8s  %s%s\n' "$name" "$(body_bytes "$url")" "$r" "$p99" \
    "${non2xx:+non-2xx: $non2xx; }" "${sock:-no socket errors}"
  last_rps=$r
}
# Rounds of [minimal, the three endpoints], then the minimal server once more:
# each endpoint is compared with the mean of the minimal runs just before and
# just after it, so a change in background load moves both sides alike.
rounds=${ROUNDS:-2}
endpoints=(/api/tickerlist /api/recommendations /api/performance)
echo "wrk: $rounds rounds of $duration per run"
round=1
run_wrk minimal "http://$host:$mini_port/api/any"
before=$last_rps
minimal_all=$before
for ((round = 1; round <= rounds; round++)); do
  declare -A this=()
  for ep in "${endpoints[@]}"; do
    run_wrk "$ep" "http://$host:$port$ep"
    this[$ep]=$last_rps
  done
  run_wrk minimal "http://$host:$mini_port/api/any"
  after=$last_rps
  minimal_all="$minimal_all $after"
  for ep in "${endpoints[@]}"; do
    sum_rps[$ep]=$(awk -v a="${sum_rps[$ep]:-0}" -v r="${this[$ep]}" 'BEGIN {print a + r}')
    sum_ratio[$ep]=$(awk -v a="${sum_ratio[$ep]:-0}" -v r="${this[$ep]}" -v b="$before" -v c="$after" \
      'BEGIN {print a + r / ((b + c) / 2)}')
  done
  before=$after
done
rss_after=$(rss_kb "$qc_load_pid")

echo
echo "ratio to the minimal Boost.Beast server (runs: $minimal_all req/s); SPEC §8 target >= 0.8:"
for ep in "${endpoints[@]}"; do
  awk -v n="$ep" -v r="${sum_rps[$ep]}" -v q="${sum_ratio[$ep]}" -v k="$rounds" \
    'BEGIN {printf "  %-22s %8.0f req/s  ratio %.2f  %s\n", n, r / k, q / k, (q / k >= 0.8 ? "met" : "NOT MET")}'
done
echo
echo "memory (SPEC §8 target: idle < 30 MB RSS):"
echo "  idle, --feed none:                 $(mb "$rss_none") MB"
echo "  default sim feed after ${sim_seconds} s:        $(mb "$rss_sim") MB"
echo "  load data dir, before wrk:         $(mb "$rss_loaded") MB"
echo "  load data dir, after wrk:          $(mb "$rss_after") MB"
echo "POST to visible (SPEC §8 target < 10 ms):"
grep -E 'POST|visible' "$work/post_visible.txt" | sed 's/^ */  /'

# ---- optional soak -----------------------------------------------------------------
if (( soak > 0 )); then
  echo
  echo "soak: ${soak} s of mixed GETs (bench/mixed_gets.lua), RSS every 10 s"
  wrk -t"$wrk_threads" -c"$connections" -d"${soak}s" -s "$here/mixed_gets.lua" \
    "http://$host:$port" > "$work/wrk_soak.txt" &
  wrk_pid=$!
  samples=()
  while kill -0 "$wrk_pid" 2> /dev/null; do
    samples+=("$(rss_kb "$qc_load_pid")")
    sleep 10
  done
  wait "$wrk_pid" || true
  grep -E 'Requests/sec|Non-2xx|Socket errors|requests in' "$work/wrk_soak.txt" | sed 's/^ */  /'
  grep -qE 'Non-2xx|Socket errors' "$work/wrk_soak.txt" || echo "  errors: none (all answers 2xx, no socket errors)"
  printf '  RSS samples (MB): '
  for s in "${samples[@]}"; do printf '%s ' "$(mb "$s")"; done
  echo
  kill -0 "$qc_load_pid" 2> /dev/null && echo "  quantcrunch still running" || echo "  quantcrunch DIED"
fi
