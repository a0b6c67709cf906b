#!/usr/bin/env bash
# Reload with real parts: `rumwatch run` fed over ZeroMQ, a webhook receiver,
# /metrics. While an lcp_slowdown alert fires:
#  1. the config file gets a typo and the daemon SIGHUP: refused with the
#     file:line, the old config keeps running (events still counted, alert
#     still firing), /metrics says the last reload failed; `rumwatch reload`
#     on the broken file prints the file:line and leaves the daemon alone;
#  2. a valid config changing another rule and adding one, via `rumwatch
#     reload`: accepted, lcp_slowdown's state kept (its alert neither
#     resolves nor fires again at the reload), the changed rule's dropped,
#     counters go on; the alert resolves once, judged on a baseline older
#     than the reload.
source "$(dirname "$0")/lib.sh"

zport=$(free_port)
mport=$(free_port)
"$BUILD/rw_httprecv" --port 0 --port-file "$WORK/hport" --out "$WORK/hook.jsonl" --timeout 300 \
  2>"$WORK/httprecv.log" &
PIDS+=($!)
wait_for 10 test -s "$WORK/hport" || fail "receiver did not start"
hport=$(cat "$WORK/hport")

# write_conf ABOVE [EXTRA_RULE]: the config; lcp_high's bound is ABOVE.
write_conf() {
  cat <<CONF
engine = { window = 2.0; lateness = 1.0; max_future = 2.0; stats_interval = 1.0; drain_timeout = 3.0;
           snapshot_interval = 0.0; };
input = { endpoints = ["tcp://127.0.0.1:$zport"]; bind = false; topics = ["rum."]; stall_after = 0.0; };
http = { listen = "127.0.0.1:$mport"; };
notify = { state_dir = "$WORK/state"; };
scopes = ( { name = "page"; dims = ["page"]; } );
rules = (
  { name = "lcp_slowdown"; metric = "lcp"; stat = "p75"; detector = "robust_z";
    history = 30; min_history = 8; min_n = 10; z = 4.0; min_rel_change = 0.25; for = 2; recover = 2; },
  { name = "lcp_high"; metric = "lcp"; stat = "p75"; detector = "threshold"; above = $1; min_n = 10; }
  ${2:-}
);
notifiers = ( { name = "hook"; type = "webhook"; url = "http://127.0.0.1:$hport/hook"; timeout = 2.0; } );
CONF
}
write_conf 1e9 > "$WORK/rw.conf"
"$RW" check -c "$WORK/rw.conf" >/dev/null 2>&1 || fail "config rejected: $("$RW" check -c "$WORK/rw.conf" 2>&1 | tail -1)"

# 24 s baseline, /checkout x2.5 slower from 24 s to 60 s, calm until 76 s
# (the slowdown lasts 30 s longer per RW_TIMEOUT_SCALE step: under valgrind
# the reloads must still come while it fires).
slow_end=$((60 + 30 * (RW_TIMEOUT_SCALE - 1)))
gen_slowdown "$WORK/events.ndjson" 5 $((slow_end + 16)) 25 24 $slow_end 0.25

"$RW" run -c "$WORK/rw.conf" -o "$WORK/alerts.jsonl" 2>"$WORK/rumwatch.log" &
rwpid=$!
PIDS+=($rwpid)
wait_http 20 "http://127.0.0.1:$mport/healthz" || fail "rumwatch did not start"
"$BUILD/rw_pub" --endpoint "tcp://127.0.0.1:$zport" --bind --file "$WORK/events.ndjson" --retime \
  --wait-ms 2000 2>"$WORK/pub.log" &
PIDS+=($!)

dump() { tail -30 "$WORK/rumwatch.log" >&2; cat "$WORK/alerts.jsonl" >&2 || true; }
firing() { grep -q '"state":"firing","rule":"lcp_slowdown"' "$WORK/alerts.jsonl"; }
wait_for 60 firing || { dump; fail "lcp_slowdown never fired"; }
ok "lcp_slowdown fires on /checkout"
[ "$(prom_value "$mport" rumwatch_config_last_reload_successful)" = "1.0" ] || fail "reload gauge at start"

# 1. A typo in the daemon's own config file, then SIGHUP.
cp "$WORK/rw.conf" "$WORK/good.conf"
sed -i 's/detector = "threshold"/detectr = "threshold"/' "$WORK/rw.conf"
line=$(grep -n 'detectr' "$WORK/rw.conf" | cut -d: -f1)
acc0=$(prom_value "$mport" rumwatch_events_accepted_total type=view)
kill -HUP $rwpid
refused() { grep -q 'msg="reload refused' "$WORK/rumwatch.log"; }
wait_for 10 refused || { dump; fail "no refusal logged after SIGHUP"; }
grep 'msg="reload refused' "$WORK/rumwatch.log" | grep -q "rw.conf:$line: " ||
  { dump; fail "refusal does not name rw.conf:$line"; }
kill -0 $rwpid || fail "daemon died on a broken config"
reload_failed() { [ "$(prom_value "$mport" rumwatch_config_last_reload_successful)" = "0.0" ]; }
wait_for 5 reload_failed || fail "/metrics: last reload not marked failed"
[ "$(prom_value "$mport" rumwatch_config_reloads_total result=failure)" = "1.0" ] || fail "failure count"
more_events() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) + 20 else 1)' \
  "$(prom_value "$mport" rumwatch_events_accepted_total type=view)" "$acc0"; }
wait_for 10 more_events || fail "events no longer counted after the refused reload"
"$RW" status -c "$WORK/good.conf" | grep -q "last refused: .*rw.conf:$line:" || fail "status: refusal not shown"
# The CLI checks the file first: a broken one never reaches the daemon.
set +e
"$RW" reload -c "$WORK/rw.conf" >"$WORK/cli1.out" 2>&1
rc=$?
set -e
[ $rc = 2 ] || { cat "$WORK/cli1.out"; fail "reload of a broken file: exit $rc, not 2"; }
grep -q "rw.conf:$line: " "$WORK/cli1.out" || { cat "$WORK/cli1.out"; fail "CLI: no file:line"; }
[ "$(prom_value "$mport" rumwatch_config_reloads_total result=failure)" = "1.0" ] || fail "the CLI signalled the daemon"
ok "broken config refused with rw.conf:$line; the old one runs on"

# 2. lcp_high changed (another bound), lcp_p95 added, through `rumwatch reload`.
write_conf 2e9 ', { name = "lcp_p95"; metric = "lcp"; stat = "p95"; detector = "threshold"; above = 1e9; min_n = 10; }' \
  > "$WORK/rw.conf"
recv0=$(prom_value "$mport" rumwatch_events_received_total)
"$RW" reload -c "$WORK/rw.conf" >"$WORK/cli2.out" 2>&1 || { cat "$WORK/cli2.out"; dump; fail "rumwatch reload failed"; }
cat "$WORK/cli2.out"
grep -q "rules kept=1 changed=1 removed=0 new=1" "$WORK/cli2.out" || fail "reload summary"
grep -q "series kept=2" "$WORK/cli2.out" || fail "series not carried over"
grep -q "alerts firing=1" "$WORK/cli2.out" || fail "firing alert not carried over"
[ "$(prom_value "$mport" rumwatch_config_last_reload_successful)" = "1.0" ] || fail "gauge after success"
[ "$(prom_value "$mport" rumwatch_config_reloads_total result=success)" = "1.0" ] || fail "success count"
python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)' \
  "$(prom_value "$mport" rumwatch_events_received_total)" "$recv0" || fail "counters went back at the reload"
ok "changed config applied: lcp_slowdown kept, lcp_high dropped, lcp_p95 new"

resolved() { grep -q '"state":"resolved","rule":"lcp_slowdown"' "$WORK/alerts.jsonl"; }
wait_for 60 resolved || { dump; fail "lcp_slowdown never resolved"; }
sleep 2
[ "$(grep -c '"state":"firing","rule":"lcp_slowdown"' "$WORK/alerts.jsonl")" = 1 ] ||
  { dump; fail "lcp_slowdown fired again: its state was not kept"; }
[ "$(grep -c '"state":"resolved","rule":"lcp_slowdown"' "$WORK/alerts.jsonl")" = 1 ] || fail "resolved more than once"
python3 - "$WORK/alerts.jsonl" "$WORK/rumwatch.log" <<'PY' || { dump; fail "the alert resolved at the reload"; }
import datetime, json, re, sys
res = [json.loads(l) for l in open(sys.argv[1]) if '"state":"resolved","rule":"lcp_slowdown"' in l][0]
m = re.search(r'ts=(\S+) level=\w+ comp=reload msg="config reloaded"', open(sys.argv[2]).read())
assert m, "no reload line"
reload_ms = datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp() * 1000
# The baseline the resolution was judged on predates the reload: it holds
# more windows than have closed since (2 s each), so it was carried over.
since = (res["ts"] - reload_ms) / 2000.0
wins = res["evidence"]["baseline"]["windows"]
assert wins > since + 2, ("baseline of %d windows, %.1f windows since the reload" % (wins, since))
print("resolved %.1f s after the reload on a baseline of %d windows:" % (since * 2, wins),
      res["summary"][:80])
PY
wait_for 20 grep -q '"status":"resolved"' "$WORK/hook.jsonl" || fail "no resolved notification"
[ "$(grep -c '"status":"firing"' "$WORK/hook.jsonl")" = 1 ] || fail "more than one firing notification"
kill -TERM $rwpid
wait $rwpid || fail "rumwatch exit code $?"
ok "one firing and one resolution across two reloads"
