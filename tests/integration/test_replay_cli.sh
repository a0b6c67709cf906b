#!/usr/bin/env bash
# The replay and check commands on real files: bad input is counted per
# reason and loses nothing else; .gz and stdin; --csv; config errors name
# file:line:key and exit 2; output is deterministic.
source "$(dirname "$0")/lib.sh"

# --- a file mixing good events with every kind of bad input
python3 - "$WORK/mixed.ndjson" <<'PY'
import json, sys
t0 = 1762041600000
good = 0
with open(sys.argv[1], "w") as f:
    for i in range(3000):
        ev = {"v": 1, "type": "view", "ts": t0 + i * 100, "page": "/p/%d" % (i % 7),
              "seg": {"device": "mobile"}, "vitals": {"lcp": 1000 + i % 50}}
        f.write(json.dumps(ev) + "\n"); good += 1
        if i % 100 == 0:
            f.write('{"v":1,"type":"view","ts":' + str(t0 + i * 100) + ',"page":"/x"\n')         # json
            f.write('{"v":2,"type":"view","ts":%d,"page":"/x"}\n' % (t0 + i * 100))            # version
            f.write('{"v":1,"type":"view","ts":%d,"page":"/x","vitals":{"lcp":-3}}\n' % (t0 + i * 100))  # vital
            f.write('{"v":1,"type":"view","ts":%d,"page":"/x","seg":{"device":7}}\n' % (t0 + i * 100))   # seg
            f.write('{"v":1,"type":"view","ts":%d,"page":"/%s"}\n' % (t0 + i * 100, "a" * 600))        # page_long
            f.write('{"v":1,"type":"view","ts":"soon","page":"/x"}\n')                                  # ts
            f.write('{"v":1,"type":"view","ts":%d,"page":"/x","junk":"%s"}\n' % (t0 + i * 100, "j" * 70000))  # oversize
            f.write("\n")                                                                                  # blank: ignored
    f.write('{"v":1,"type":"view","ts":%d,"page":"/late"}\n' % t0)                                  # late
print(good)
PY
"$RW" replay "$WORK/mixed.ndjson" >"$WORK/out1.jsonl" 2>"$WORK/sum1.txt" || fail "replay failed"
cat "$WORK/sum1.txt"
grep -q "3000 accepted" "$WORK/sum1.txt" || fail "good events lost"
for r in json=30 version=30 vital=30 seg=30 page_long=30 ts=30 oversize=30 late=1; do
  grep -q "$r" "$WORK/sum1.txt" || fail "missing rejection count $r"
done
ok "mixed input: every good event counted, rejections per reason"

# --- a NUL inside an oversize line does not split it; CRLF is not length
printf 'engine = { max_message = 256; };\n' >"$WORK/small.conf"
python3 - "$WORK/edge.ndjson" <<'PY'
import sys
ev = '{"v":1,"type":"view","ts":1762041600000,"page":"/p"%s}'
with open(sys.argv[1], "wb") as f:
    f.write(b"x\0" + b" " * 400 + b'{"v":1,"type":"view","ts":1762041600000,"page":"/p"}\n')  # one oversize line
    line = ev % (' ' * (256 - len(ev % '')))
    assert len(line) == 256
    f.write(line.encode() + b"\r\n")          # exactly max_message, CRLF: accepted
    f.write(line.encode() + b" \n")           # 257 bytes: oversize
PY
"$RW" replay -c "$WORK/small.conf" "$WORK/edge.ndjson" >/dev/null 2>"$WORK/edge.txt"
grep -q "3 events read, 1 accepted" "$WORK/edge.txt" || { cat "$WORK/edge.txt"; fail "NUL/CRLF line handling"; }
grep -q "oversize=2" "$WORK/edge.txt" || { cat "$WORK/edge.txt"; fail "oversize count"; }
ok "NUL inside a line, CRLF at the size limit"

# --- gz and stdin give the same bytes; replay is deterministic
gzip -c "$WORK/mixed.ndjson" >"$WORK/mixed.ndjson.gz"
"$RW" replay -o "$WORK/out2.jsonl" "$WORK/mixed.ndjson.gz" 2>/dev/null
"$RW" replay - <"$WORK/mixed.ndjson" >"$WORK/out3.jsonl" 2>/dev/null
cmp "$WORK/out1.jsonl" "$WORK/out2.jsonl" || fail ".gz output differs"
cmp "$WORK/out1.jsonl" "$WORK/out3.jsonl" || fail "stdin output differs"
ok "gz, stdin, -o: identical output"

# --- --csv: an exported p75 LCP series with a step
cat > "$WORK/rules.conf" <<'CONF'
rules = (
  { name = "lcp_slowdown"; metric = "lcp"; stat = "p75"; detector = "robust_z";
    scopes = ["page"]; z = 4.0; history = 60; min_history = 20; min_n = 30; for = 2; recover = 3; }
);
CONF
python3 - "$WORK/lcp.csv" <<'PY'
import random, sys
random.seed(5)
with open(sys.argv[1], "w") as f:
    f.write("timestamp,value,n\n")
    for m in range(120):
        if m == 50:
            continue                               # a gap
        v = 2000 + random.gauss(0, 60) + (1800 if 80 <= m < 90 else 0)
        f.write("2025-11-03T%02d:%02d:00Z,%.1f,200\n" % (10 + m // 60, m % 60, v))
    f.write("garbage,row\n")
PY
"$RW" replay -c "$WORK/rules.conf" --csv lcp.p75 "$WORK/lcp.csv" >"$WORK/csv.jsonl" 2>"$WORK/csv.txt"
cat "$WORK/csv.txt"
grep -q "1 bad rows skipped" "$WORK/csv.txt" || fail "bad CSV row not reported"
python3 - "$WORK/csv.jsonl" <<'PY' || fail "csv alerts"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
states = [(l["state"], l["ts"]) for l in lines]
assert [s for s, _ in states] == ["firing", "resolved"], states
f = lines[0]
# step starts 11:20 (minute 80); for = 2 -> fires at 11:21
assert f["ts"] == 1762168860000, f["ts"]
assert f["scope"] == {"series": sys.argv[1].replace("csv.jsonl", "lcp.csv")}, f["scope"]
assert 3500 < f["value"] < 4200 and 1900 < f["expected"] < 2100, f
print("csv ok:", f["summary"])
PY
"$RW" replay --csv bogus.metric "$WORK/lcp.csv" >/dev/null 2>&1 && fail "bad --csv NAME accepted"
ok "--csv replay"

# --- replay --notify sends the notified transitions (not grouped children)
"$BUILD/rw_httprecv" --port 0 --port-file "$WORK/hport" --out "$WORK/hook.jsonl" --timeout 120 2>/dev/null &
PIDS+=($!)
wait_for 10 test -s "$WORK/hport" || fail "receiver did not start"
cat > "$WORK/notify.conf" <<CONF
notifiers = ( { name = "hook"; type = "webhook"; url = "http://127.0.0.1:$(cat "$WORK/hport")/rw"; } );
CONF
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
"$RW" replay -c "$WORK/notify.conf" --notify -o "$WORK/notify.jsonl" "$ROOT/data/sample.ndjson.gz" 2>/dev/null \
  || fail "replay --notify"
python3 - "$WORK/notify.jsonl" "$WORK/hook.jsonl" <<'PY' || fail "--notify deliveries"
import datetime, json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
# Webhook bodies are Alertmanager v4: one alert per notification here.
bodies = [json.loads(l)["body"] for l in open(sys.argv[2])]
assert all(b["version"] == "4" and len(b["alerts"]) == 1 for b in bodies), "not one alert per body"
got = [b["alerts"][0] for b in bodies]
def labels(l):  # docs/notifications.md "The alert model" (no reserved scope keys here)
    d = {k: l[k] for k in ("metric", "stat", "app") if l.get(k)}
    d.update(alertname=l["rule"], rule=l["rule"], severity=l["severity"], **l["scope"])
    return d
def fingerprint(lab):  # Prometheus' label-set fingerprint: FNV-1a 64, 0xff separators
    h = 14695981039346656037
    for k in sorted(lab):
        for b in k.encode() + b"\xff" + lab[k].encode() + b"\xff":
            h = ((h ^ b) * 1099511628211) % (1 << 64)
    return "%016x" % h
def rfc3339(ms):
    t = datetime.datetime.fromtimestamp(ms // 1000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + ".%03dZ" % (ms % 1000)
top = [l for l in lines if "parent" not in l]
assert len(got) >= len([l for l in top if l["state"] == "firing"]), (len(got), len(top))
keys = {(a["fingerprint"], a["status"], a["startsAt"]) for a in got}
top_firing = {(fingerprint(labels(l)), "firing", rfc3339(l["since"])) for l in top if l["state"] == "firing"}
for l in top:
    if l["state"] == "firing":
        assert (fingerprint(labels(l)), "firing", rfc3339(l["since"])) in keys, l["summary"]
# A grouped child is never sent on its own: every firing alert sent is a top-level one.
assert {k for k in keys if k[1] == "firing"} <= top_firing, "a grouped child was sent"
print("--notify ok: %d alert lines, %d notifications" % (len(lines), len(got)))
PY
ok "replay --notify delivers notified transitions over HTTP"

# --- check: effective config, and errors with file:line:key
"$RW" check >"$WORK/check.txt" 2>&1 || fail "default config rejected"
grep -q 'name = "lcp_slowdown"' "$WORK/check.txt" || fail "check does not print rules"
printf 'engine = {\n  window = 60.0;\n  windw = 5.0;\n};\n' >"$WORK/typo.conf"
set +e
"$RW" check -c "$WORK/typo.conf" >/dev/null 2>"$WORK/err.txt"; rc=$?
set -e
[ $rc -eq 2 ] || fail "check exit $rc on a typo"
grep -q "typo.conf:3: engine.windw: unknown key 'windw'" "$WORK/err.txt" || { cat "$WORK/err.txt"; fail "typo message"; }
"$RW" replay -c "$WORK/typo.conf" "$WORK/mixed.ndjson" >/dev/null 2>&1 && fail "replay ran with a bad config"
"$RW" nosuchcommand >/dev/null 2>&1 && fail "unknown command accepted"
"$RW" --version | grep -q '^rumwatch [0-9]' || fail "--version"
[ "$("$RW" shard /product/48213 | cut -d' ' -f2)" = "/product/?" ] || fail "shard"
ok "check, usage errors, version, shard"
