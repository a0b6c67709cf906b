#!/usr/bin/env bash
# End to end against a real Prometheus Alertmanager (Debian package
# prometheus-alertmanager, installed by .ci/deps): the test starts it on a
# free loopback port (no clustering, storage in the work dir), runs
# `rumwatch run` fed over ZeroMQ with a baseline, a slowdown of /checkout and
# calm, and asks Alertmanager's own API (GET /api/v2/alerts) what it holds:
#   - while the alert fires: exactly rumwatch's alert, active, with the labels,
#     annotations, startsAt, generatorURL and fingerprint rumwatch computed
#     (seen through a second receiver, a webhook to rw_httprecv) and an endsAt
#     far enough ahead that it cannot expire by itself during the test;
#   - after the resolution: no alert at all, and Alertmanager counted a
#     resolved alert received.
# A missing Alertmanager is a failure, not a skip.
source "$(dirname "$0")/lib.sh"

AM_BIN=${RW_ALERTMANAGER:-/usr/bin/prometheus-alertmanager}
[ -x "$AM_BIN" ] || fail "$AM_BIN not found: install the Debian package prometheus-alertmanager (bash .ci/deps does)"

# --- Alertmanager: loopback only, no gossip, a receiver that sends nothing ---
mkdir -p "$WORK/am"
cat > "$WORK/am/am.yml" <<'YML'
route:
  receiver: "null"
receivers:
  - name: "null"
YML
am_start() {
  amport=$(free_port)
  # An empty --cluster.listen-address turns HA mode off: nothing binds
  # 0.0.0.0:9094 and the API answers without waiting for peers to settle.
  "$AM_BIN" --config.file="$WORK/am/am.yml" --storage.path="$WORK/am/data" \
    --web.listen-address="127.0.0.1:$amport" --cluster.listen-address= \
    --log.level=info >"$WORK/am/am.log" 2>&1 &
  ampid=$!
  PIDS+=($ampid)
  AM="http://127.0.0.1:$amport"
  wait_http 20 "$AM/-/ready"
}
# free_port is a race (another process may take the port before AM binds):
# try a few ports.
for attempt in 1 2 3; do
  am_start && break
  kill "$ampid" 2>/dev/null || true
  [ "$attempt" = 3 ] && { cat "$WORK/am/am.log" >&2; fail "alertmanager did not become ready"; }
done
socks=$(sockets_of "$ampid")
[ -n "$socks" ] || fail "no sockets seen for alertmanager (pid $ampid)"
if grep -Ev ' (127\.[0-9.]+|::1):[0-9]+ ' <<<"$socks" | grep -q .; then
  echo "$socks" >&2
  fail "alertmanager holds a non-loopback socket"
fi
ok "alertmanager $("$AM_BIN" --version 2>&1 | head -1 | awk '{print $3}') ready on 127.0.0.1:$amport (loopback only)"

# --- a webhook receiver: shows what rumwatch computed for the same alert ---
zport=$(free_port)
"$BUILD/rw_httprecv" --port 0 --port-file "$WORK/hport" --out "$WORK/hook.jsonl" --timeout 120 \
  2>"$WORK/httprecv.log" &
PIDS+=($!)
wait_for 10 test -s "$WORK/hport" || fail "receiver did not start"
hport=$(cat "$WORK/hport")

# --- rumwatch: 1 s windows, one rule, both receivers ---
write_conf() { # $1 = extra top-level settings
  cat <<CONF
engine = { window = 1.0; lateness = 0.5; max_future = 1.0; stats_interval = 2.0; drain_timeout = 5.0;
           pool_windows = 1; };
input = { endpoints = ["tcp://127.0.0.1:$zport"]; bind = false; topics = ["rum."]; };
scopes = ( { name = "page"; dims = ["page"]; } );
rules = (
  { name = "lcp_slowdown"; metric = "lcp"; stat = "p75"; detector = "robust_z"; severity = "critical";
    history = 30; min_history = 8; min_n = 20; z = 4.0; min_rel_change = 0.25; for = 2; recover = 2; }
);
notifiers = (
  { name = "am"; type = "alertmanager"; url = "http://127.0.0.1:$amport/"; timeout = 2.0; retries = 3; backoff = 0.2; },
  { name = "hook"; type = "webhook"; url = "http://127.0.0.1:$hport/hook"; timeout = 2.0; retries = 3; backoff = 0.2; }
);
$1
CONF
}
# Short group timers, and both receivers on every alert (with a route, an
# alert goes only to the routes that match it).
ROUTE='route = { receiver = "am"; group_by = ["..."]; group_wait = "0s"; group_interval = "1s";
          repeat_interval = "1h";
          routes = ( { receiver = "hook"; continue = true; }, { receiver = "am"; } ); };'
write_conf "$ROUTE" > "$WORK/rw.conf"
"$RW" check -c "$WORK/rw.conf" >/dev/null 2>&1 || fail "config rejected: $("$RW" check -c "$WORK/rw.conf" 2>&1 | tail -1)"

# 12 s baseline, 14 s slowdown of /checkout (x2.5), 10 s calm; 40 views/s per page.
gen_slowdown "$WORK/events.ndjson" 7 36 40 12 26 0.2

"$RW" run -c "$WORK/rw.conf" -o "$WORK/alerts.jsonl" 2>"$WORK/rumwatch.log" &
rwpid=$!
PIDS+=($rwpid)
sleep 0.5
"$BUILD/rw_pub" --endpoint "tcp://127.0.0.1:$zport" --bind --file "$WORK/events.ndjson" --retime \
  --wait-ms 700 2>"$WORK/pub.log" &
PIDS+=($!)

# am_alerts FILE: Alertmanager's alerts now (active, silenced, inhibited and
# unprocessed: everything it would show; resolved ones are never listed).
am_alerts() { http_get "$AM/api/v2/alerts?active=true&silenced=true&inhibited=true&unprocessed=true" > "$1"; }
am_has() { am_alerts "$WORK/am_now.json" && grep -q '"rule":"lcp_slowdown"' "$WORK/am_now.json"; }
am_empty() { am_alerts "$WORK/am_now.json" && [ "$(tr -d ' \n' < "$WORK/am_now.json")" = "[]" ]; }
hook_has() { grep -q "\"status\":\"$1\"" "$WORK/hook.jsonl"; }
dump() {
  echo "--- rumwatch.log" >&2; tail -20 "$WORK/rumwatch.log" >&2
  echo "--- alertmanager" >&2; tail -20 "$WORK/am/am.log" >&2
  echo "--- alertmanager alerts" >&2; cat "$WORK/am_now.json" >&2 2>/dev/null || true
}

wait_for 60 hook_has firing || { dump; fail "no firing notification from rumwatch"; }
wait_for 10 am_has || { dump; fail "alertmanager does not list rumwatch's alert"; }
cp "$WORK/am_now.json" "$WORK/am_firing.json"
python3 - "$WORK/hook.jsonl" "$WORK/am_firing.json" <<'PY' || { dump; fail "alert in alertmanager"; }
import json, sys, time
from datetime import datetime
def t(s):
    return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
def prom_fingerprint(labels):  # Prometheus' model.LabelSet.Fingerprint, written out again
    h = 0xcbf29ce484222325
    for k in sorted(labels):
        for b in k.encode() + b"\xff" + labels[k].encode() + b"\xff":
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%016x" % h
hooks = [json.loads(l) for l in open(sys.argv[1])]
rw = next(r["body"]["alerts"][0] for r in hooks if r["body"]["status"] == "firing")
am = json.load(open(sys.argv[2]))
assert len(am) == 1, am                            # no false alert on /home
a = am[0]
l = a["labels"]
assert l == {"alertname": "lcp_slowdown", "rule": "lcp_slowdown", "severity": "critical",
             "metric": "lcp", "stat": "p75", "app": "default", "page": "/checkout"}, l
assert l == rw["labels"], (l, rw["labels"])        # what rumwatch pushed, nothing lost or renamed
assert a["fingerprint"] == rw["fingerprint"] == prom_fingerprint(l), (a["fingerprint"], rw["fingerprint"])
assert a["status"]["state"] == "active", a["status"]
assert not a["status"]["silencedBy"] and not a["status"]["inhibitedBy"], a["status"]
assert [r["name"] for r in a["receivers"]] == ["null"], a["receivers"]
ann = a["annotations"]
assert ann["summary"] == rw["annotations"]["summary"] and ann["description"] == rw["annotations"]["description"], ann
assert "/checkout" in ann["summary"] and "LCP" in ann["summary"], ann
assert abs(t(a["startsAt"]) - t(rw["startsAt"])) < 0.002, (a["startsAt"], rw["startsAt"])
assert abs(t(a["startsAt"]) - time.time()) < 30, a["startsAt"]    # wall-clock event time
# A firing alert's endsAt is send time + 4 x resend_interval (60 s): far
# enough ahead that only a resolution can take it out during this test.
assert t(a["endsAt"]) - time.time() > 180, a["endsAt"]
assert a.get("generatorURL", "") == rw["generatorURL"], (a.get("generatorURL"), rw["generatorURL"])
print("alertmanager lists:", a["fingerprint"], ann["summary"])
PY
ok "alertmanager lists the firing alert with rumwatch's labels and fingerprint"

wait_for 60 hook_has resolved || { dump; fail "no resolved notification from rumwatch"; }
wait_for 10 am_empty || { dump; fail "alertmanager still lists the alert after its resolution"; }
# The alert left because a resolved alert arrived, not by expiry (checked
# above: endsAt was minutes ahead) nor by a restart.
http_get "$AM/metrics" > "$WORK/am_metrics.txt" || fail "alertmanager /metrics"
python3 - "$WORK/am_metrics.txt" "$WORK/hook.jsonl" <<'PY' || { dump; fail "alertmanager counters"; }
import json, re, sys
m = open(sys.argv[1]).read()
def total(name, sel=""):  # summed over API versions (v1, v2)
    return sum(float(v) for v in re.findall(r'^%s\{[^}]*%s[^}]*\} (\S+)$' % (name, sel), m, re.M))
def counter(status):
    return total("alertmanager_alerts_received_total", 'status="%s"' % status)
assert counter("firing") >= 1 and counter("resolved") >= 1, (counter("firing"), counter("resolved"))
assert "alertmanager_alerts_invalid_total{" in m and total("alertmanager_alerts_invalid_total") == 0, "invalid alerts"
hooks = [json.loads(l) for l in open(sys.argv[2])]
f = next(r["body"]["alerts"][0] for r in hooks if r["body"]["status"] == "firing")
r = next(r["body"]["alerts"][0] for r in hooks if r["body"]["status"] == "resolved")
assert r["fingerprint"] == f["fingerprint"] and r["labels"] == f["labels"], (r, f)
print("alertmanager received firing=%d resolved=%d" % (counter("firing"), counter("resolved")))
PY
ok "alertmanager no longer lists the alert after the resolution"

kill -TERM $rwpid
for i in $(seq 50); do kill -0 $rwpid 2>/dev/null || break; sleep 0.1; done
kill -0 $rwpid 2>/dev/null && fail "rumwatch did not stop on SIGTERM"
wait $rwpid || fail "rumwatch exit code $?"
grep -q 'rejected=0' "$WORK/rumwatch.log" || { grep stats "$WORK/rumwatch.log" >&2; fail "events were rejected"; }
last=$(grep 'notify_sent=' "$WORK/rumwatch.log" | tail -1)
grep -q 'notify_failed=0' <<<"$last" || fail "deliveries failed: $last"
ok "alertmanager: rumwatch's alert listed while firing, gone after resolution"
