#!/usr/bin/env bash
# `rumwatch run` keeps its alerts and baselines across kill -9 (engine
# snapshot + alert journal), with real parts: ZeroMQ in, a real webhook
# receiver, /metrics. A baseline, then /checkout slows down and fires; once
# a snapshot taken after the firing is on disk, kill -9 and restart on the
# same state dir while the slowdown goes on, and /home slows down too.
# Asserted: the start log restores firing=1; /checkout neither fires again
# (-o output, receiver: one firing notification, duplicates only with the
# same webhook-id) nor loses its end (one resolved line, one resolved
# notification); /home fires with the baselines learned before the kill
# (evidence over >= 20 windows) as fast as /checkout did before it, while a
# control daemon fed the same stream without a snapshot never fires; the
# process counters restart from 0; the snapshot age is a small number.
source "$(dirname "$0")/lib.sh"

S=$RW_TIMEOUT_SCALE
zport=$(free_port)
hport=$(free_port)
"$BUILD/rw_httprecv" --port 0 --port-file "$WORK/recv.port" --out "$WORK/hook.jsonl" --timeout 600 \
  2>"$WORK/httprecv.log" &
PIDS+=($!)
wait_for 10 test -s "$WORK/recv.port" || fail "receiver did not start"
rport=$(cat "$WORK/recv.port")

# conf FILE STATE_DIR NOTIFIERS HTTP: 1 s windows, a snapshot every second.
conf() {
  cat > "$1" <<CONF
engine = { window = 1.0; lateness = 0.5; max_future = 2.0; stats_interval = 5.0; drain_timeout = 5.0;
           snapshot_interval = 1.0; };
input = { endpoints = ["tcp://127.0.0.1:$zport"]; bind = false; topics = ["rum."]; };
scopes = ( { name = "page"; dims = ["page"]; } );
rules = (
  { name = "lcp_slowdown"; metric = "lcp"; stat = "p75"; detector = "robust_z";
    history = 40; min_history = 8; min_n = 10; z = 4.0; min_rel_change = 0.25; for = 2; recover = 2; }
);
notifiers = ( $3 );
notify = { state_dir = "$2"; };
http = { listen = "$4"; };
CONF
}
conf "$WORK/rw.conf" "$WORK/state" \
  "{ name = \"hook\"; type = \"webhook\"; url = \"http://127.0.0.1:$rport/hook\"; timeout = 2.0; retries = 3; backoff = 0.2; }" \
  "127.0.0.1:$hport"
conf "$WORK/ctl.conf" "$WORK/ctl-state" "" ""
"$RW" check -c "$WORK/rw.conf" >/dev/null 2>&1 || fail "config rejected: $("$RW" check -c "$WORK/rw.conf" 2>&1 | tail -1)"
"$RW" check -c "$WORK/ctl.conf" >/dev/null 2>&1 || fail "control config rejected: $("$RW" check -c "$WORK/ctl.conf" 2>&1 | tail -1)"

# gen OUT SEED SECONDS PAGE:SLOW_FROM:SLOW_TO...: 25 views/s of /checkout
# (LCP ~1500 ms) and /home (~1200 ms), log-normal noise 0.25; a listed page
# is x2.5 slower in [SLOW_FROM, SLOW_TO) s.
gen() {
  python3 - "$@" <<'PY'
import json, math, random, sys
out, seed, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
slow = {p: (float(a) * 1000, float(b) * 1000) for p, a, b in (s.split(":") for s in sys.argv[4:])}
random.seed(seed)
t0, step = 1762041600000, 40
with open(out, "w") as f:
    for i in range(secs * 25):
        for page, base in (("/checkout", 1500.0), ("/home", 1200.0)):
            a, b = slow.get(page, (0, 0))
            lcp = base * math.exp(random.gauss(0, 0.25)) * (2.5 if a <= i * step < b else 1.0)
            f.write(json.dumps({"v": 1, "type": "view", "ts": t0 + i * step, "page": page,
                                "vitals": {"lcp": round(lcp, 1)}}, separators=(",", ":")) + "\n")
PY
}
# Before the kill: 20 s of baseline, then /checkout slow (the kill comes
# about 6 s into it). After: /checkout slow 4 s more, /home slow 8 s, calm.
# (Longer slowdowns would move robust_z's median: it learns every window.)
gen "$WORK/before.ndjson" 21 45 /checkout:20:45
gen "$WORK/after.ndjson" 22 20 /checkout:0:4 /home:0:8
now_ms() { date +%s%3N; }
metric() { http_get "http://127.0.0.1:$hport/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
start_rw() { # LOG
  "$RW" run -c "$WORK/rw.conf" -o "$WORK/alerts.jsonl" 2>>"$WORK/$1" &
  rwpid=$!
  PIDS+=($rwpid)
  wait_http 20 "http://127.0.0.1:$hport/metrics" || { cat "$WORK/$1" >&2; fail "rumwatch did not start"; }
}
# fired PAGE: the -o line of the first firing of PAGE (empty if none)
fired() {
  python3 - "$WORK/${2:-alerts}.jsonl" "$1" <<'PY'
import json, os, sys
if os.path.exists(sys.argv[1]):
    for l in open(sys.argv[1]):
        a = json.loads(l)
        if a["state"] == "firing" and a["scope"]["page"] == sys.argv[2]:
            print(l.strip()); break
PY
}
has_fired() { [ -n "$(fired "$1")" ]; }
hook_has() { [ -f "$WORK/hook.jsonl" ] && grep -q "\"status\":\"$1\".*\"page\":\"$2\"" "$WORK/hook.jsonl"; }

# 1. Baseline, then the slowdown: a firing alert at the receiver and in -o.
start_rw run1.log
grep -q 'msg="no snapshot: starting fresh"' "$WORK/run1.log" || fail "first start did not start fresh"
t_pub1=$(now_ms)
"$BUILD/rw_pub" --endpoint "tcp://127.0.0.1:$zport" --bind --file "$WORK/before.ndjson" --retime \
  --wait-ms 700 --linger-ms 0 2>"$WORK/pub1.log" &
pub1=$!
PIDS+=($pub1)
wait_for 40 hook_has firing /checkout || { cat "$WORK/run1.log" >&2; fail "no firing webhook for /checkout"; }
has_fired /checkout || fail "no firing line in the -o output"
ok "baseline, slowdown: /checkout fires (receiver and -o)"

# 2. A snapshot taken after the firing, then kill -9 mid-slowdown.
w0=$(metric rumwatch_snapshots_written_total)
# /metrics lags up to a second: two more writes are surely after the firing.
snap_after() { [ "$(metric rumwatch_snapshots_written_total)" -ge $((w0 + 2)) ]; }
wait_for 10 snap_after || fail "no snapshot after the firing (written: $w0 -> $(metric rumwatch_snapshots_written_total))"
recv1=$(metric rumwatch_events_received_total)
[ "$recv1" -gt 500 ] || fail "events received before the kill: $recv1"
kill -0 "$pub1" 2>/dev/null || fail "the slowdown ended before the kill"
kill -9 "$rwpid"; wait "$rwpid" 2>/dev/null || true
kill "$pub1" 2>/dev/null; wait "$pub1" 2>/dev/null || true
[ -s "$WORK/state/engine.snap" ] || fail "no engine.snap after kill -9"
sleep 2 # down for a couple of windows: they are skipped, not judged empty
ok "kill -9 with /checkout firing, $recv1 events received, snapshot on disk"

# The restart and, next to it, a control daemon without a snapshot, both
# fed the rest: /checkout still slow, /home slow from the first second.
start_rw run2.log
"$RW" run -c "$WORK/ctl.conf" -o "$WORK/ctl.jsonl" 2>"$WORK/ctl.log" &
ctlpid=$!
PIDS+=($ctlpid)
wait_for 20 grep -q 'msg="started"' "$WORK/ctl.log" || { cat "$WORK/ctl.log" >&2; fail "control daemon did not start"; }
restored=$(grep 'msg="state restored"' "$WORK/run2.log") || { cat "$WORK/run2.log" >&2; fail "no state restored line"; }
[[ "$restored" =~ \ firing=1\  ]] || fail "restored: $restored"
[[ "$restored" =~ \ rules_kept=1\  ]] || fail "restored: $restored"
grep -q 'msg="no snapshot: starting fresh"' "$WORK/ctl.log" || fail "control daemon did not start fresh"
# 4. Process counters from 0; the snapshot age is the restored one's.
[ "$(metric rumwatch_events_received_total)" = 0 ] || fail "events received after restart: $(metric rumwatch_events_received_total)"
age=$(metric rumwatch_snapshot_age_seconds)
python3 -c "import math,sys; a=float(sys.argv[1]); sys.exit(not (math.isfinite(a) and 0 <= a < 5*$S))" "$age" \
  || fail "snapshot age after restart: $age"
ok "restart: ${restored#*msg=}; events_received_total=0, snapshot age ${age}s"

t_pub2=$(now_ms)
"$BUILD/rw_pub" --endpoint "tcp://127.0.0.1:$zport" --bind --file "$WORK/after.ndjson" --retime \
  --wait-ms 700 --linger-ms 1000 2>"$WORK/pub2.log" || fail "rw_pub failed"
wait_for 10 hook_has resolved /checkout || fail "no resolved webhook for /checkout"
wait_for 10 hook_has resolved /home || fail "no resolved webhook for /home"
sleep 2 # a late second notification would show now

# /checkout: one episode across the kill, in -o and at the receiver.
python3 - "$WORK/alerts.jsonl" "$WORK/hook.jsonl" <<'PY' || fail "alerts across the restart"
import collections, json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
reqs = [json.loads(l) for l in open(sys.argv[2])]
for page in ("/checkout", "/home"):
    mine = [a for a in lines if a["scope"]["page"] == page]
    assert [a["state"] for a in mine] == ["firing", "resolved"], (page, [a["state"] for a in mine])
    assert mine[0]["fingerprint"] == mine[1]["fingerprint"], mine
    assert mine[1]["value"] < 2200, mine[1]      # resolved by the calm, not by drift
    ids = collections.defaultdict(set)           # status -> webhook-ids
    fps, n = set(), 0
    for r in reqs:
        for a in r["body"]["alerts"]:
            if a["labels"]["page"] == page:
                ids[a["status"]].add(r["headers"]["webhook-id"])
                fps.add(a["fingerprint"])
                n += 1
    assert len(fps) == 1, fps
    assert len(ids["firing"]) == 1 and len(ids["resolved"]) == 1, (page, dict(ids))
    print(f"{page}: -o one firing, one resolved line; receiver: one firing, one resolved "
          f"notification ({n} requests)")
PY
ok "/checkout fired once across kill -9 and resolved once"

# 3. Baselines kept: /home is judged against the windows learned before the
# kill and fires as fast after the restart as /checkout did before it.
python3 - "$WORK/alerts.jsonl" "$t_pub1" "$t_pub2" "$S" <<'PY' || fail "baselines after the restart"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
t1, t2, scale = int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
def first(page):
    return next(a for a in lines if a["state"] == "firing" and a["scope"]["page"] == page)
c, h = first("/checkout"), first("/home")
d1 = (c["ts"] - (t1 + 20000)) / 1000   # slowdown start to firing, event time
d2 = (h["ts"] - t2) / 1000
w = h["evidence"]["baseline"]["windows"]
print(f"/checkout fired {d1:.1f} s into its slowdown, /home {d2:.1f} s into its own, "
      f"against a baseline of {w} windows")
assert w >= 20, w                       # learned before the kill, not after
# for = 2 one-second windows: 2 to 3 s after the slowdown starts, as it
# depends on where it falls in a window (plus rw_pub's wait for its
# subscriber). A daemon that lost its baselines would need min_history = 8
# windows first (and by then /home's slow windows would be its baseline).
assert 1.0 < d2 <= d1 + 1.5 and d2 <= 3.5 + 0.5 * (scale - 1), (d1, d2)
PY
kill -TERM "$ctlpid"; wait "$ctlpid" || fail "control daemon exit code $?"
[ -f "$WORK/ctl.jsonl" ] || fail "control -o file missing"
[ ! -s "$WORK/ctl.jsonl" ] || { cat "$WORK/ctl.jsonl" >&2; fail "control daemon without a snapshot alerted"; }
grep -q 'rejected=0' "$WORK/ctl.log" || fail "control daemon rejected events"
grep -q 'msg="stopping"' "$WORK/ctl.log" || fail "control daemon did not stop cleanly"
ok "baselines kept: /home fires at once after the restart; the control without a snapshot never fires"

recv2=$(metric rumwatch_events_received_total)
n2=$(wc -l < "$WORK/after.ndjson")
[ "$recv2" -le "$n2" ] && [ "$recv2" -ge $((n2 * 9 / 10)) ] || fail "events received after restart: $recv2 of $n2"
age=$(metric rumwatch_snapshot_age_seconds)
python3 -c "import math,sys; a=float(sys.argv[1]); sys.exit(not (math.isfinite(a) and 0 <= a < 3*$S))" "$age" \
  || fail "snapshot age: $age"
kill -TERM "$rwpid"; wait "$rwpid" || fail "rumwatch exit code $?"
grep -q 'reason=shutdown' "$WORK/run2.log" || fail "no snapshot at the stop"
ok "counters: $recv2 of $n2 events since the restart (not $((recv1 + recv2))), snapshot age ${age}s"
