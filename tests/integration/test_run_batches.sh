#!/usr/bin/env bash
# `rumwatch run` over real ZeroMQ with batched message bodies mixing good and
# malformed events: every good event is counted, every bad one is counted
# under its reason, nothing is lost silently (the high-water marks are set
# high on both sides), and the daemon stops cleanly on SIGTERM.
source "$(dirname "$0")/lib.sh"

zport=$(free_port)
cat > "$WORK/rw.conf" <<CONF
engine = { window = 2.0; lateness = 2.0; max_future = 5.0; stats_interval = 1.0; drain_timeout = 1.0; };
input = { endpoints = ["tcp://127.0.0.1:$zport"]; bind = false; topics = ["rum."]; };
notifiers = ();
CONF
python3 - "$WORK/events.ndjson" <<'PY'
import json, sys
t0 = 1762041600000
with open(sys.argv[1], "w") as f:
    for i in range(20000):
        ev = {"v": 1, "type": "view" if i % 10 else "error", "ts": t0 + i // 5,
              "page": "/p/%d" % (i % 40), "seg": {"device": "mobile" if i % 3 else "desktop"},
              "vitals": {"lcp": 1000 + i % 700, "inp": 50 + i % 90}}
        if ev["type"] == "error":
            del ev["vitals"]
            ev["error"] = {"kind": "TypeError", "message": "x"}
        f.write(json.dumps(ev, separators=(",", ":")) + "\n")
        if i % 100 == 50:
            f.write('{"v":1,"type":"view","ts":%d,"page":"/bad","vitals":{"lcp":-1}}\n' % (t0 + i // 5))
        if i % 100 == 99:
            f.write('{"v":1,"type":"view",oops}\n')
PY
"$RW" run -c "$WORK/rw.conf" -o "$WORK/alerts.jsonl" 2>"$WORK/rumwatch.log" &
rwpid=$!
PIDS+=($rwpid)
sleep 0.3
"$BUILD/rw_pub" --endpoint "tcp://127.0.0.1:$zport" --bind --file "$WORK/events.ndjson" --retime \
  --batch 50 --wait-ms 1000 --nodrop --linger-ms -1 2>"$WORK/pub.log" || fail "rw_pub: $(cat "$WORK/pub.log")"
cat "$WORK/pub.log"
sleep $((2 * RW_TIMEOUT_SCALE))
kill -TERM $rwpid
wait $rwpid || fail "rumwatch exit code $?"
last=$(grep 'comp=stats' "$WORK/rumwatch.log" | tail -1)
echo "$last"
echo "$last" | grep -q ' received=20400 ' || fail "received count"
echo "$last" | grep -q ' accepted=20000 ' || fail "accepted count"
echo "$last" | grep -q ' rejected=400 ' || fail "rejected count"
grep -q 'reason=vital' "$WORK/rumwatch.log" || fail "no rate-limited log line for bad vitals"
grep -q 'reason=json' "$WORK/rumwatch.log" || fail "no rate-limited log line for bad JSON"
[ "$(grep -c 'msg="event rejected"' "$WORK/rumwatch.log")" -le 4 ] || fail "rejections not rate-limited"
ok "run: 20000 good + 400 bad events in batches of 50, all counted"
