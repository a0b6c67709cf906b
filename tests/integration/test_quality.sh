#!/usr/bin/env bash
# Quality of the bundled default config on realistic, labelled traffic:
# every incident found, within a few minutes, and about one false alert per
# day or fewer — on a scenario with incidents and on a clean one. Also checks
# that replay output is byte-identical across runs.
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MAX_DELAY=${RW_MAX_DELAY_MIN:-12}
MAX_FA=${RW_MAX_FA_PER_DAY:-1.0}

"$BUILD/rw_gen" --seed 1 --days 2 --rate 300 --out "$WORK/inc.ndjson.gz" --labels "$WORK/inc.json" 2>"$WORK/gen1.txt"
"$RW" replay -o "$WORK/inc.jsonl" "$WORK/inc.ndjson.gz" 2>"$WORK/sum1.txt" || fail "replay"
cat "$WORK/sum1.txt"
python3 "$ROOT/tests/tools/rw_score.py" --labels "$WORK/inc.json" --alerts "$WORK/inc.jsonl" \
  --max-delay-min "$MAX_DELAY" --max-fa-per-day "$MAX_FA" || fail "incident scenario below the bar"
ok "incident scenario: all incidents found within ${MAX_DELAY} min, FA/day <= $MAX_FA"

"$BUILD/rw_gen" --seed 2 --days 2 --rate 300 --clean --out "$WORK/clean.ndjson.gz" --labels "$WORK/clean.json" 2>/dev/null
"$RW" replay -o "$WORK/clean.jsonl" "$WORK/clean.ndjson.gz" 2>"$WORK/sum2.txt" || fail "replay clean"
python3 "$ROOT/tests/tools/rw_score.py" --labels "$WORK/clean.json" --alerts "$WORK/clean.jsonl" \
  --max-fa-per-day "$MAX_FA" || fail "clean scenario: too many false alerts"
ok "clean scenario: FA/day <= $MAX_FA"

"$RW" replay -o "$WORK/inc2.jsonl" "$WORK/inc.ndjson.gz" 2>/dev/null
cmp "$WORK/inc.jsonl" "$WORK/inc2.jsonl" || fail "replay is not deterministic"
ok "replay deterministic"
