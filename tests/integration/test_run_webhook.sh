#!/usr/bin/env bash
# End to end with real parts: `rumwatch run` subscribed to a real ZeroMQ
# publisher on loopback; a baseline, then a slowdown on one page, then calm.
# A real HTTP receiver must get the firing webhook with the right page,
# metric and values, then the resolution; SIGTERM must exit cleanly.
source "$(dirname "$0")/lib.sh"

zport=$(free_port)
"$BUILD/rw_httprecv" --port 0 --port-file "$WORK/hport" --out "$WORK/hook.jsonl" --timeout 200 \
  2>"$WORK/httprecv.log" &
PIDS+=($!)
wait_for 10 test -s "$WORK/hport" || fail "receiver did not start"
hport=$(cat "$WORK/hport")

cat > "$WORK/rw.conf" <<CONF
engine = { window = 2.0; lateness = 1.0; max_future = 2.0; stats_interval = 5.0; drain_timeout = 5.0; };
input = { endpoints = ["tcp://127.0.0.1:$zport"]; bind = false; topics = ["rum."]; };
scopes = ( { name = "page"; dims = ["page"]; } );
rules = (
  { name = "lcp_slowdown"; metric = "lcp"; stat = "p75"; detector = "robust_z";
    history = 30; min_history = 8; min_n = 10; z = 4.0; min_rel_change = 0.25; for = 2; recover = 2; }
);
notifiers = ( { name = "hook"; type = "webhook"; url = "http://127.0.0.1:$hport/hook"; timeout = 2.0; retries = 3; backoff = 0.2; } );
CONF
"$RW" check -c "$WORK/rw.conf" >/dev/null 2>&1 || fail "config rejected: $("$RW" check -c "$WORK/rw.conf" 2>&1 | tail -1)"

# 24 s baseline, 12 s slowdown of /checkout (x2.5), 20 s calm; 25 views/s per page.
python3 - "$WORK/events.ndjson" <<'PY'
import json, math, random, sys
random.seed(11)
t0 = 1762041600000
with open(sys.argv[1], "w") as f:
    for i in range(0, 56 * 25):
        ts = t0 + i * 40
        for page, base in (("/checkout", 1500.0), ("/home", 1200.0)):
            slow = page == "/checkout" and 24000 <= ts - t0 < 36000
            lcp = base * math.exp(random.gauss(0, 0.25)) * (2.5 if slow else 1.0)
            ev = {"v": 1, "type": "view", "ts": ts, "page": page,
                  "seg": {"device": "desktop"}, "vitals": {"lcp": round(lcp, 1)}}
            f.write(json.dumps(ev, separators=(",", ":")) + "\n")
PY

"$RW" run -c "$WORK/rw.conf" -o "$WORK/alerts.jsonl" 2>"$WORK/rumwatch.log" &
rwpid=$!
PIDS+=($rwpid)
sleep 0.5
"$BUILD/rw_pub" --endpoint "tcp://127.0.0.1:$zport" --bind --file "$WORK/events.ndjson" --retime \
  --wait-ms 700 2>"$WORK/pub.log" &
PIDS+=($!)

firing() { grep -q '"state":"firing"' "$WORK/hook.jsonl"; }
resolved() { grep -q '"state":"resolved"' "$WORK/hook.jsonl"; }
wait_for 60 firing || { cat "$WORK/rumwatch.log" >&2; fail "no firing webhook"; }
python3 - "$WORK/hook.jsonl" <<'PY' || fail "firing webhook content"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
r = next(r for r in reqs if r["body"]["status"] == "firing")
assert r["method"] == "POST" and r["path"] == "/hook", r
assert r["headers"]["content-type"].startswith("application/json"), r["headers"]
a = r["body"]["alert"]
assert a["rule"] == "lcp_slowdown" and a["metric"] == "lcp" and a["stat"] == "p75", a
assert a["scope"] == {"page": "/checkout"}, a["scope"]
assert 3000 <= a["value"] <= 5500, a["value"]          # p75 of 1500*2.5*lognormal
assert 1300 <= a["expected"] <= 2000, a["expected"]    # usual p75 ~ 1500*e^(0.674*0.25)
assert a["score_kind"] == "z" and a["score"] > 4, a
assert a["n"] >= 10 and a["high"] < a["value"], a
assert "/checkout" in a["summary"] and "LCP" in a["summary"], a["summary"]
assert not any(x["body"]["alert"]["scope"].get("page") == "/home" for x in reqs), "false alert on /home"
print("firing webhook ok:", a["summary"])
PY
wait_for 60 resolved || { cat "$WORK/rumwatch.log" >&2; fail "no resolved webhook"; }
python3 - "$WORK/hook.jsonl" <<'PY' || fail "resolved webhook content"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
f = next(r["body"]["alert"] for r in reqs if r["body"]["status"] == "firing")
r = next(r["body"]["alert"] for r in reqs if r["body"]["status"] == "resolved")
assert r["fingerprint"] == f["fingerprint"], (r, f)
assert r["value"] < 2200, r["value"]
assert r["ts"] > f["ts"]
print("resolved webhook ok:", r["summary"])
PY
kill -TERM $rwpid
for i in $(seq 50); do kill -0 $rwpid 2>/dev/null || break; sleep 0.1; done
kill -0 $rwpid 2>/dev/null && fail "rumwatch did not stop on SIGTERM"
wait $rwpid || fail "rumwatch exit code $?"
grep -q 'msg="stopping"' "$WORK/rumwatch.log" || fail "no shutdown log line"
[ "$(grep -c '"state"' "$WORK/alerts.jsonl")" -ge 2 ] || fail "alert lines not written to -o"
grep -q 'rejected=0' "$WORK/rumwatch.log" || { grep stats "$WORK/rumwatch.log" >&2; fail "events were rejected"; }
ok "run: ZeroMQ in, webhook out, firing and resolved"
