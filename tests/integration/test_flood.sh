#!/usr/bin/env bash
# A flood of malformed messages mixed with good ones, with real parts:
# `rumwatch run` subscribed over real ZeroMQ (tcp, loopback) to rw_flood in
# mode "mixed": RW_FLOOD_MESSAGES (default 1,000,000) messages, half good
# events interleaved with every kind of bad input -- malformed JSON, NaN and
# 1e999, invalid UTF-8, unknown members (accepted: ignored by the schema),
# wrong types (v, type, ts, page, seg, vitals), a page over 512 bytes, a
# negative vital, a bad custom metric name, a message over max_message (one
# per thousand), empty bodies and messages of four frames.
#   - every good event is accepted (exact), rumwatch_events_rejected_total
#     per reason equals what was sent, an empty body counts as a message and
#     not as an event, nothing is lost (the publisher does not drop:
#     ZMQ_XPUB_NODROP)
#   - the engine stays responsive: /healthz is polled every 50 ms during the
#     whole flood and every answer is 200 within HEALTH_MAX_MS (200 ms);
#     the max and p99 latency are reported
#   - rejections are logged rate-limited, not once per event
source "$(dirname "$0")/lib.sh"
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)

M=${RW_FLOOD_MESSAGES:-1000000}
if [ -z "${RW_FLOOD_MESSAGES:-}" ]; then
  if [ "${RW_VALGRIND:-0}" = 1 ]; then M=40000
  elif grep -q '^RW_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null; then M=300000; fi
fi
HEALTH_MAX_MS=${RW_FLOOD_HEALTH_MS:-200}
[ "${RW_VALGRIND:-0}" = 1 ] && HEALTH_MAX_MS=$((HEALTH_MAX_MS * 10))
MAXMSG=4096

zport=$(free_port)
mport=$(free_port)
cat > "$WORK/rw.conf" <<CONF
engine = { window = 10.0; lateness = 60.0; max_future = 10.0; stats_interval = 5.0; max_message = $MAXMSG; };
input = { endpoints = ["tcp://127.0.0.1:$zport"]; rcvhwm = 5000; stall_after = 0.0; };
http = { listen = "127.0.0.1:$mport"; };
scopes = ( { name = "page"; dims = ["page"]; }, { name = "page_device"; dims = ["page", "device"]; } );
rules = ( { name = "lcp_high"; metric = "lcp"; stat = "p75"; detector = "threshold"; above = 30000.0;
            min_n = 5; for = 2; recover = 2; } );
CONF
"$RW" check -c "$WORK/rw.conf" >/dev/null 2>"$WORK/check.err" || fail "config rejected: $(cat "$WORK/check.err")"

"$RW" run -c "$WORK/rw.conf" -o "$WORK/alerts.jsonl" 2>"$WORK/rumwatch.log" &
rwpid=$!
PIDS+=($rwpid)
dump() { tail -20 "$WORK/rumwatch.log" >&2; }
wait_http 10 "http://127.0.0.1:$mport/healthz" || { dump; fail "/healthz not up"; }

# /healthz every 50 ms until the stop file: latency of each answer (ms) or "fail".
python3 - "http://127.0.0.1:$mport/healthz" "$WORK/stop" "$WORK/health.tsv" <<'PY' &
import os, sys, time, urllib.request
url, stop, out = sys.argv[1:4]
with open(out, "w") as f:
    while not os.path.exists(stop):
        t = time.monotonic()
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                r.read()
                code = r.status
        except Exception as e:
            code = f"fail:{e}"
        f.write(f"{(time.monotonic() - t) * 1000:.1f}\t{code}\n")
        f.flush()
        time.sleep(0.05)
PY
poller=$!
PIDS+=($poller)

t0=$(date +%s%3N)
"$BUILD/rw_flood" --endpoint "tcp://127.0.0.1:$zport" --mode mixed --n "$M" --max-message $MAXMSG \
  --hwm 1000 --sub-timeout-ms 30000 >"$WORK/flood.json" 2>"$WORK/flood.log" ||
  { dump; fail "rw_flood: $(cat "$WORK/flood.log")"; }
t_sent=$(date +%s%3N)

msgs() {
  http_get "http://127.0.0.1:$mport/metrics" > "$WORK/m.txt" || return 1
  python3 -c '
import sys
sys.path.insert(0, sys.argv[2])
import rw_promparse as pp
print("%.0f" % pp.value(pp.parse(open(sys.argv[1], "rb").read()), "rumwatch_input_messages_total"))
' "$WORK/m.txt" "$TOOLS"
}
all_in() { [ "$(msgs)" = "$M" ]; }
wait_for 60 all_in || { dump; fail "messages received $(msgs) of $M"; }
t_recv=$(date +%s%3N)
sleep 1.2 # the counters are republished once a second
touch "$WORK/stop"
wait "$poller" || true
http_get "http://127.0.0.1:$mport/metrics" > "$WORK/metrics.txt" || fail "GET /metrics"
kill -0 "$rwpid" || fail "rumwatch died"

python3 - "$WORK" "$TOOLS" "$M" "$HEALTH_MAX_MS" "$t0" "$t_sent" "$t_recv" <<'PY' || { dump; fail "flood counts"; }
import json, sys
work, tools = sys.argv[1:3]
M, hmax, t0, t_sent, t_recv = map(int, sys.argv[3:8])
sys.path.insert(0, tools)
import rw_promparse as pp
fams = pp.parse(open(f"{work}/metrics.txt", "rb").read())
v = lambda f, **l: pp.value(fams, f, **l)
sent = json.load(open(f"{work}/flood.json"))
assert sent["messages"] == M, sent
empty = sent["rejected"].pop("empty")
want = {r: n for r, n in sent["rejected"].items()}
assert v("rumwatch_input_messages_total") == M
assert v("rumwatch_events_accepted_total", type="view") == sent["good"], (v("rumwatch_events_accepted_total", type="view"), sent["good"])
assert v("rumwatch_events_accepted_total", type="error") == 0
assert v("rumwatch_events_accepted_total", type="metric") == 0
got = {l["reason"]: x for n, l, x in fams["rumwatch_events_rejected_total"]["samples"]}
for r in got:
    if r not in want:
        want[r] = 0
assert got == want, {r: (got[r], want[r]) for r in got if got[r] != want[r]}
assert v("rumwatch_events_received_total") == sent["events"] == M - empty, (v("rumwatch_events_received_total"), sent["events"], empty)
assert sent["good"] + sum(want.values()) == sent["events"], sent
assert all(want[r] > 0 for r in ("json", "shape", "version", "type", "ts", "page", "page_long", "seg", "vital", "metric", "oversize")), want
lat = []
for l in open(f"{work}/health.tsv"):
    ms, code = l.rstrip("\n").split("\t")
    assert code == "200", f"/healthz answered {code} during the flood"
    lat.append(float(ms))
assert len(lat) >= 10, len(lat)
lat.sort()
p99 = lat[int(0.99 * (len(lat) - 1))]
assert lat[-1] <= hmax, f"/healthz took {lat[-1]:.0f} ms (max {hmax})"
secs = (t_recv - t0) / 1000
print(f"flood: {M} messages ({sent['good']} good, {sum(want.values())} rejected, {empty} empty) in {secs:.1f} s "
      f"({M / secs:.0f} messages/s; sent in {(t_sent - t0) / 1000:.1f} s); /healthz {len(lat)} polls, "
      f"max {lat[-1]:.1f} ms, p99 {p99:.1f} ms")
print("rejected: " + " ".join(f"{r}={int(n)}" for r, n in sorted(got.items()) if n))
PY
ok "every good event accepted, rejections per reason exact, /healthz answered within ${HEALTH_MAX_MS} ms throughout"

# Rejections are logged rate-limited (a line with a suppressed count), not per event.
nlog=$(grep -c 'msg="event rejected"' "$WORK/rumwatch.log" || true)
[ "$nlog" -lt 2000 ] || fail "$nlog rejection log lines for a flood of $M: not rate-limited"
ok "rejection log lines: $nlog"

kill -TERM $rwpid
for i in $(seq $((100 * RW_TIMEOUT_SCALE))); do kill -0 $rwpid 2>/dev/null || break; sleep 0.1; done
kill -0 $rwpid 2>/dev/null && fail "rumwatch did not stop on SIGTERM"
wait $rwpid || fail "rumwatch exit code $?"
ok "malformed flood"
