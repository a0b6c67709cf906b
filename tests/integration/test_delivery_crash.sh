#!/usr/bin/env bash
# At-least-once across crashes, with real parts: `rumwatch run` fed over
# ZeroMQ makes 8 alerts while their receiver is down; kill -9; the receiver
# comes up (hanging on its first two requests); the restarted daemon sends
# everything; kill -9 again while two requests hang; the third start sends
# those two again. In the end: every notification delivered (8 distinct
# webhook-ids, one per alert), duplicates only with the same webhook-id and
# the same bytes, nothing left in the outbox.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/delivery_lib.sh"

port=$(free_port)
write_conf "$WORK/rw.conf" "
  { name = \"hook\"; type = \"webhook\"; url = \"http://127.0.0.1:$port/hook\"; timeout = 30.0; backoff = 0.2; max_backoff = 1.0; }"
start_rw "$WORK/rw.conf"
publish 3 /a /b /c /d /e /f /g /h
pending() { "$RW" outbox list -c "$WORK/rw.conf" --json | python3 -c 'import json,sys; print(sum(e["state"] == "pending" for e in json.load(sys.stdin)))'; }
pending_is() { [ "$(pending)" = "$1" ]; }
wait_for 20 pending_is 8 || { cat "$WORK/rumwatch.log" >&2; fail "want 8 pending, have $(pending)"; }
kill -9 "$RW_PID"; wait "$RW_PID" 2>/dev/null || true
[ "$(pending)" = 8 ] || fail "after kill -9: $(pending) pending"
ok "8 notifications pending on disk after kill -9"

# The receiver comes up, leaving its first two requests unanswered.
start_recv hook --port "$port" --hang 2
start_rw "$WORK/rw.conf"
wait_for 20 reqs_ge hook 8 || { cat "$WORK/rumwatch.log" >&2; fail "receiver got $(count_reqs hook)/8"; }
pending_is 2 || wait_for 5 pending_is 2 || fail "want the 2 hanging ones pending, have $(pending)"
kill -9 "$RW_PID"; wait "$RW_PID" 2>/dev/null || true
ok "second kill -9 with 2 requests in flight"

start_rw "$WORK/rw.conf"
wait_for 20 reqs_ge hook 10 || fail "in-flight notifications not re-sent: $(count_reqs hook)/10"
wait_for 10 pending_is 0 || fail "outbox not empty: $(pending)"
sleep 0.5
python3 - "$WORK/hook.jsonl" <<'PY' || fail "deliveries after crashes"
import collections, json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
by_id = collections.defaultdict(list)
for r in reqs:
    by_id[r["headers"]["webhook-id"]].append(r)
assert len(reqs) == 10, len(reqs)
assert len(by_id) == 8, len(by_id)
pages = sorted(r["body"]["alerts"][0]["labels"]["page"] for rs in by_id.values() for r in rs[:1])
assert pages == ["/" + c for c in "abcdefgh"], pages
dups = {i: rs for i, rs in by_id.items() if len(rs) > 1}
assert len(dups) == 2 and all(len(rs) == 2 for rs in dups.values()), {i: len(rs) for i, rs in by_id.items()}
for i, rs in dups.items():
    assert len({r["body_b64"] for r in rs}) == 1, "a duplicate with other bytes"
# the duplicates are exactly the two requests that hung when the daemon died
assert set(dups) == {reqs[0]["headers"]["webhook-id"], reqs[1]["headers"]["webhook-id"]}
print("10 requests, 8 notifications, 2 duplicates with the same webhook-id")
PY
stop_rw
grep comp=stats "$WORK/rumwatch.log" | tail -1 | grep -q 'notify_pending=0 ' || fail "stats: pending"
ok "kill -9 twice: nothing lost, duplicates carry the same webhook-id"
