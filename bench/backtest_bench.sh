#!/usr/bin/env bash
# End-to-end backtest rate (SPEC §8: >= 3 million JSON Lines bars/s, parse +
# apply): generates N bars and matching recommendation documents once (cached
# under bench/.data/, gitignored), then times `quantcrunch backtest` RUNS times
# by wall clock, process start to exit.
#
#   bench/backtest_bench.sh [BUILD_DIR]      (default: build-bench next to bench/)
#   env: QC_BIN=BUILD_DIR/quantcrunch BARS=5000000 RUNS=3 FORMAT=jsonl|csv DATA_DIR=bench/.data
#        REVERSION=1e-5 (gen_data.py --reversion; 2e-3 makes targets rarely
#        reachable, so ~1,000 positions stay open: the engine's slow case)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
build=${1:-$here/../build-bench}
bin=${QC_BIN:-$build/quantcrunch}
bars=${BARS:-5000000}
runs=${RUNS:-3}
format=${FORMAT:-jsonl}
reversion=${REVERSION:-1e-5}
data=${DATA_DIR:-$here/.data}

[[ -x $bin ]] || { echo "backtest_bench: $bin not found; build the quantcrunch target first" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "backtest_bench: /usr/bin/time is required (apt install time)" >&2; exit 2; }
mkdir -p "$data"
# The cache key names the generator's version, so an edited gen_data.py regenerates.
key=${bars}_r${reversion}_$(sha1sum "$here/gen_data.py" | cut -c1-8)
bars_file=$data/bars_$key.$format
recs_file=$data/recs_$key.jsonl
if [[ ! -s $bars_file || ! -s $recs_file ]]; then
  echo "generating $bars bars ($format) into $data ..." >&2
  python3 "$here/gen_data.py" --bars "$bars" --format "$format" \
    --reversion "$reversion" --out-bars "$bars_file.tmp" --out-recs "$recs_file.tmp"
  mv "$bars_file.tmp" "$bars_file"
  mv "$recs_file.tmp" "$recs_file"
fi
size_mb=$(( $(stat -c %s "$bars_file") / 1000000 ))

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cat "$bars_file" > /dev/null  # warm the page cache: measure parsing, not the disk

echo "backtest: $bars bars ($format, $size_mb MB), $(wc -l < "$recs_file") recommendation documents, $runs runs"
rates=()
for ((r = 1; r <= runs; r++)); do
  t0=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$out/cpu" \
    "$bin" backtest --recommendations "$recs_file" --bars "$bars_file" --out "$out/perf.json" \
    2> "$out/stderr"
  t1=$(date +%s.%N)
  wall=$(echo "$t1 - $t0" | bc -l)
  cpu=$(awk '{print $1 + $2}' "$out/cpu")
  rate=$(echo "$bars / $wall" | bc -l)
  rates+=("$rate")
  summary=$(grep -o '[0-9,]* positions opened, [0-9,]* closed' "$out/stderr" | tail -1 || true)
  # CPU time (user + sys) is what the process itself used: on a busy machine
  # wall time also counts waiting for a core.
  printf 'run %d: %.3f s wall (%.2f million bars/s), %.2f s CPU (%.2f million bars/CPU-s)  (%s)\n' \
    "$r" "$wall" "$(echo "$rate / 1000000" | bc -l)" "$cpu" "$(echo "$bars / $cpu / 1000000" | bc -l)" \
    "$summary"
done
best=$(printf '%s\n' "${rates[@]}" | sort -g | tail -1)
median=$(printf '%s\n' "${rates[@]}" | sort -g | awk '{a[NR]=$1} END {printf "%.0f\n", (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}')
printf 'median %.2f, best %.2f million bars/s (SPEC §8 target >= 3)\n' \
  "$(echo "$median / 1000000" | bc -l)" "$(echo "$best / 1000000" | bc -l)"
if [[ -n ${KEEP_OUTPUT:-} ]]; then cp "$out/perf.json" "$KEEP_OUTPUT"; fi
