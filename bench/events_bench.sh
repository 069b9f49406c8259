#!/usr/bin/env bash
# SPEC §8 "live events": 1,000 GET /api/events subscribers on one server, how
# long until an event has reached all of them (bench/sse_fanout.cpp), on
# loopback. The server runs with --feed none; each event is the `opened` of a
# POSTed document (one position), so the figure includes the store commit.
# Also: RSS with the subscribers connected. Builds nothing; the server is
# stopped on exit.
#
#   bench/events_bench.sh [BUILD_DIR]     (default: build-bench next to bench/)
#   env: SUBSCRIBERS=1000 EVENTS=300 INTERVAL_MS=20 THREADS=2 (server threads)
#        CLIENT_THREADS=1 (threads reading the subscribers' sockets)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:-$here/../build-bench}
qc=$(realpath "$build/quantcrunch")
fanout=$(realpath "$build/bench/sse_fanout")
subscribers=${SUBSCRIBERS:-1000}
events=${EVENTS:-300}
interval=${INTERVAL_MS:-20}
threads=${THREADS:-2}
client_threads=${CLIENT_THREADS:-1}
host=127.0.0.1

[[ -x $qc && -x $fanout ]] || { echo "events_bench: build quantcrunch and sse_fanout in $build first" >&2; exit 2; }
work=$(mktemp -d /tmp/qc_events_bench.XXXXXX)
token=bench-$RANDOM$RANDOM
qc_pid=
cleanup() {
  if [[ -n $qc_pid ]]; then
    kill -TERM "$qc_pid" 2> /dev/null || true
    wait "$qc_pid" 2> /dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$work" && exec env -i PATH="$PATH" HOME="$work" QC_API_TOKEN="$token" \
  "$qc" serve --host "$host" --port "$port" --threads "$threads" --data-dir "$work/data" --feed none) \
  > "$work/server.log" 2>&1 &
qc_pid=$!
for _ in $(seq 150); do
  curl -sf "http://$host:$port/readyz" -o /dev/null 2> /dev/null && break
  kill -0 "$qc_pid" 2> /dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
rss() { awk '/^VmRSS:/ {printf "%.1f MB", $2 / 1024}' "/proc/$qc_pid/status"; }
echo "server RSS before: $(rss)"
"$fanout" --host "$host" --port "$port" --token "$token" --subscribers "$subscribers" \
  --events "$events" --interval-ms "$interval" --threads "$client_threads"
echo "server RSS after (subscribers gone): $(rss)"
curl -s "http://$host:$port/metrics" | grep '^qc_events_' | sed 's/^/  /'
