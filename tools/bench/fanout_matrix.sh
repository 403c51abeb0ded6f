#!/bin/sh
# The fan-out matrix (docs/BENCHMARKS.md "Fan-out"): `tw bench fanout --sim N`
# for N = 100, 1,000, 10,000 boards x simulator latency 0 and 200us x REPS
# repetitions; medians, a JSON summary, an SVG chart and a Markdown table.
#
#   tools/bench/fanout_matrix.sh [TW] [OUTDIR]
#       TW      the tw binary (default build/bin/tw)
#       OUTDIR  where to write (default build/fanout); raw runs in OUTDIR/raw/
# Environment: REPS (default 3), BOARDS (default "100 1000 10000"),
#              LATENCIES (default "0 200us"), IMPLS (default all five; threads
#              is dropped above 1,000 boards), PIN (1: pass --pin, clients
#              on one CPU and the simulator on another).
# Rounds per connection: 200 at 100 boards, 50 at 1,000, 10 at 10,000.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
tw=${1:-build/bin/tw}
out=${2:-build/fanout}
reps=${REPS:-3}
boards=${BOARDS:-"100 1000 10000"}
latencies=${LATENCIES:-"0 200us"}
impls=${IMPLS:-fiber,asio-callbacks,asio-spawn,threads,python-asyncio}
pin=""
if [ "${PIN:-0}" = 1 ]; then pin="--pin"; fi
mkdir -p "$out/raw"
rm -f "$out"/raw/*.json
for n in $boards; do
  case $n in
    100) rounds=200 ;; 1000) rounds=50 ;; *) rounds=10 ;;
  esac
  list=$impls
  if [ "$n" -gt 1000 ]; then
    list=$(echo "$impls" | tr ',' '\n' | grep -vx threads | paste -sd, -)
  fi
  for lat in $latencies; do
    r=1
    while [ "$r" -le "$reps" ]; do
      f="$out/raw/n${n}_lat${lat}_r${r}.json"
      echo "$tw bench fanout --sim $n --latency $lat --rounds $rounds --impl $list $pin --json > $f" >&2
      "$tw" bench fanout --sim "$n" --latency "$lat" --rounds "$rounds" --impl "$list" $pin --json > "$f"
      r=$((r + 1))
    done
  done
done
/usr/bin/python3 "$here/fanout_report.py" "$out/raw" "$out/fanout_matrix.json" "$out/fanout_cpu.svg"
