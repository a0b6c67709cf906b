#!/usr/bin/env bash
# End to end with real parts: `rumwatch run` subscribed to a real ZeroMQ
# publisher on loopback; a baseline, then a slowdown on one page, then calm.
# A real HTTP receiver must get the firing webhook (Alertmanager webhook v4,
# signed with Standard Webhooks headers, with the configured custom header)
# with the right page, metric and values, then the resolution; SIGTERM must
# exit cleanly.
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
notifiers = ( { name = "hook"; type = "webhook"; url = "http://127.0.0.1:$hport/hook"; timeout = 2.0; retries = 3; backoff = 0.2;
                headers = { X-Team = "web"; }; secret_env = "RW_IT_SECRET"; } );
CONF
export RW_IT_SECRET="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
"$RW" check -c "$WORK/rw.conf" >/dev/null 2>&1 || fail "config rejected: $("$RW" check -c "$WORK/rw.conf" 2>&1 | tail -1)"

# 24 s baseline, 12 s slowdown of /checkout (x2.5), 20 s calm; 25 views/s per page.
gen_slowdown "$WORK/events.ndjson" 11 56 25 24 36 0.25

"$RW" run -c "$WORK/rw.conf" -o "$WORK/alerts.jsonl" 2>"$WORK/rumwatch.log" &
rwpid=$!
PIDS+=($rwpid)
sleep 0.5
"$BUILD/rw_pub" --endpoint "tcp://127.0.0.1:$zport" --bind --file "$WORK/events.ndjson" --retime \
  --wait-ms 700 2>"$WORK/pub.log" &
PIDS+=($!)

firing() { grep -q '"status":"firing"' "$WORK/hook.jsonl"; }
resolved() { grep -q '"status":"resolved"' "$WORK/hook.jsonl"; }
wait_for 60 firing || { cat "$WORK/rumwatch.log" >&2; fail "no firing webhook"; }
python3 - "$WORK/hook.jsonl" <<'PY' || fail "firing webhook content"
import base64, hashlib, hmac, json, re, sys, time
reqs = [json.loads(l) for l in open(sys.argv[1])]
r = next(r for r in reqs if r["body"]["status"] == "firing")
assert r["method"] == "POST" and r["path"] == "/hook", r
h = r["headers"]
assert h["content-type"].startswith("application/json"), h
assert h["x-team"] == "web", h
b = r["body"]
assert b["version"] == "4" and b["receiver"] == "hook" and len(b["alerts"]) == 1, b
a = b["alerts"][0]
l, ev = a["labels"], a["evidence"]
assert l["rule"] == "lcp_slowdown" and l["metric"] == "lcp" and l["stat"] == "p75", l
assert set(l) == {"alertname", "rule", "severity", "metric", "stat", "app", "page"}, l
assert l["page"] == "/checkout", l                      # scope {"page": "/checkout"}
assert 3000 <= ev["observed"] <= 5500, ev["observed"]  # p75 of 1500*2.5*lognormal
assert 1300 <= ev["expected"] <= 2000, ev["expected"]  # usual p75 ~ 1500*e^(0.674*0.25)
assert ev["z"] > 4, ev
assert ev["n"] >= 10 and ev["band"][1] < ev["observed"], ev
s = a["annotations"]["summary"]
assert "/checkout" in s and "LCP" in s, s
assert a["endsAt"] == "0001-01-01T00:00:00Z" and re.fullmatch(r"[0-9a-f]{16}", a["fingerprint"]), a
assert not any(x["labels"].get("page") == "/home" for q in reqs for x in q["body"]["alerts"]), "false alert on /home"
# Standard Webhooks signature. The receiver logs the parsed body, so the
# bytes are rebuilt: jansson's compact form is Python's with separators
# (",", ":"), except exponents ("2e-6" where Python writes "2e-06").
def jansson_dumps(o):
    s = json.dumps(o, separators=(",", ":"), ensure_ascii=False)
    return re.sub(r"([:,\[]-?[0-9.]+)e\+?(-?)0*([0-9])", r"\1e\2\3", s)
key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
for q in reqs:
    qh = q["headers"]
    assert re.fullmatch(r"msg_[A-Za-z0-9_-]{24}", qh["webhook-id"]), qh
    assert abs(int(qh["webhook-timestamp"]) - time.time()) < 300, qh
    raw = jansson_dumps(q["body"])
    msg = f'{qh["webhook-id"]}.{qh["webhook-timestamp"]}.{raw}'.encode()
    want = "v1," + base64.b64encode(hmac.new(key, msg, hashlib.sha256).digest()).decode()
    assert qh["webhook-signature"] == want, (qh["webhook-signature"], want)
assert len({q["headers"]["webhook-id"] for q in reqs}) == len(reqs), "webhook-id reused"
print("firing webhook ok:", s)
PY
wait_for 60 resolved || { cat "$WORK/rumwatch.log" >&2; fail "no resolved webhook"; }
python3 - "$WORK/hook.jsonl" <<'PY' || fail "resolved webhook content"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
f = next(r["body"]["alerts"][0] for r in reqs if r["body"]["status"] == "firing")
r = next(r["body"]["alerts"][0] for r in reqs if r["body"]["status"] == "resolved")
assert r["status"] == "resolved" and r["fingerprint"] == f["fingerprint"], (r, f)
assert r["labels"] == f["labels"], (r, f)
assert r["evidence"]["observed"] < 2200, r["evidence"]
assert r["startsAt"] == f["startsAt"] and r["endsAt"] > r["startsAt"], (r, f)   # one episode, then its end
print("resolved webhook ok:", r["annotations"]["summary"])
PY
kill -TERM $rwpid
for i in $(seq 50); do kill -0 $rwpid 2>/dev/null || break; sleep 0.1; done
kill -0 $rwpid 2>/dev/null && fail "rumwatch did not stop on SIGTERM"
wait $rwpid || fail "rumwatch exit code $?"
grep -q 'msg="stopping"' "$WORK/rumwatch.log" || fail "no shutdown log line"
[ "$(grep -c '"state"' "$WORK/alerts.jsonl")" -ge 2 ] || fail "alert lines not written to -o"
grep -q 'rejected=0' "$WORK/rumwatch.log" || { grep stats "$WORK/rumwatch.log" >&2; fail "events were rejected"; }
ok "run: ZeroMQ in, webhook out, firing and resolved"
