#!/usr/bin/env bash
# Build the libFuzzer targets (clang, ASan+UBSan, -DRW_FUZZ=ON) in build-fuzz
# and fuzz each one for SECONDS (default 30), niced. A crash, leak, timeout
# or out-of-memory in any target fails the script; its input is kept in
# build-fuzz/fuzz-out/<target>/ (crash-*, leak-*, timeout-*, oom-*) with the
# log, and the command to reproduce it is printed (a rerun clears them).
#
#   bash tests/fuzz/run.sh [SECONDS] [TARGET...]     # TARGET: decode pagenorm config notify
#
# The seed corpus (tests/fuzz/corpus/<target>/) is only read; new inputs go
# to build-fuzz/fuzz-out/<target>/corpus/ (kept across runs, so a rerun
# continues from there). Longer runs and merging: docs/operations.md "Fuzzing".
# Env: RW_FUZZ_BUILD (build dir), RW_FUZZ_JOBS (build jobs), RW_FUZZ_RSS_MB.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-30}
shift || true
case "$secs" in '' | *[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;; esac
build=${RW_FUZZ_BUILD:-build-fuzz}
jobs=${RW_FUZZ_JOBS:-$(nproc)}
rss=${RW_FUZZ_RSS_MB:-2048}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(decode pagenorm config notify snapshot)

# -max_len per target: the longest input worth trying (messages are capped at
# engine.max_message, pages at 512 bytes, configs and alert lines are a few KB).
max_len() {
  case "$1" in
    decode) echo 16384 ;; pagenorm) echo 2048 ;; config) echo 16384 ;; notify) echo 32768 ;; snapshot) echo 65536 ;;
    *) echo 4096 ;;
  esac
}

command -v clang >/dev/null || { echo "run.sh: clang is not installed (bash .ci/deps)" >&2; exit 1; }
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRW_FUZZ=ON \
  >/dev/null
nice -n 19 cmake --build "$build" -j"$jobs" --target fuzz >/dev/null

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0}
failed=()
for t in "${targets[@]}"; do
  bin="$build/fuzz_$t"
  [ -x "$bin" ] || { echo "run.sh: no target $t ($bin)" >&2; exit 2; }
  out="$build/fuzz-out/$t"
  mkdir -p "$out/corpus"
  rm -f "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* "$out"/slow-unit-* # a past run's
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  # The first corpus directory receives new inputs; the seeds are read only.
  rc=0
  nice -n 19 "$bin" -max_total_time="$secs" -max_len="$(max_len "$t")" -rss_limit_mb="$rss" \
    -timeout=30 -print_final_stats=1 -artifact_prefix="$out/" "${dict[@]}" \
    "$out/corpus" "tests/fuzz/corpus/$t" </dev/null >"$out/log" 2>&1 || rc=$?
  # The last status line: "#N DONE cov: C ft: F corp: ... exec/s: E rss: R"
  status=$(grep -E '^#[0-9]+' "$out/log" | tail -1 || true)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log")
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/log")
  cov=$(sed -n 's/.* cov: \([0-9]*\) .*/\1/p' <<<"$status")
  ft=$(sed -n 's/.* ft: \([0-9]*\) .*/\1/p' <<<"$status")
  if [ "$rc" -eq 0 ]; then
    printf 'fuzz %-9s ok    %ss runs=%s exec/s=%s cov=%s ft=%s\n' "$t" "$secs" "${runs:-?}" \
      "${eps:-?}" "${cov:-?}" "${ft:-?}"
  else
    printf 'fuzz %-9s FAIL  exit %s after %s runs; log: %s\n' "$t" "$rc" "${runs:-?}" "$out/log"
    grep -E 'ERROR: |invariant broken|runtime error|SUMMARY' "$out/log" | head -5 | sed 's/^/  /'
    for a in "$out"/crash-* "$out"/leak-* "$out"/timeout-* "$out"/oom-* "$out"/slow-unit-*; do
      [ -e "$a" ] && echo "  reproduce: $bin $a"
    done
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]}" >&2
  exit 1
fi
