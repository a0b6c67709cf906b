#!/usr/bin/env bash
# Replay throughput vs the jansson parse floor on a generated file of >= 1M events.
#   bash bench/run.sh [BUILD_DIR] [DAYS]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
days=${2:-2.5}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target rw_bench rw_gen rumwatch >/dev/null
file="$build/bench-events.ndjson"
if [ ! -s "$file" ]; then
  "$build/rw_gen" --seed 7 --days "$days" --rate 300 --out "$file" --labels "$build/bench-labels.json"
fi
echo "== rw_bench (in-memory: parse floor vs engine)"
"$build/rw_bench" "$file"
echo "== rumwatch replay end to end (file read included)"
/usr/bin/time -f "wall %e s, max RSS %M KiB" "$build/rumwatch" replay -o /dev/null "$file"
