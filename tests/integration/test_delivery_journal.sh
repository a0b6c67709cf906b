#!/usr/bin/env bash
# Alerts waiting in a group survive kill -9 (the alert journal): group_wait
# is 3 s; three alerts join one group; the daemon is killed with SIGKILL
# inside the group_wait; restarted, it sends the group's notification with
# all three alerts, once, about group_wait after the alerts were first seen
# (the wait is not started again). Without the journal nothing would ever
# arrive: the alerts lived only in the dead process.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/delivery_lib.sh"

start_recv hook
write_conf "$WORK/rw.conf" "
  { name = \"hook\"; type = \"webhook\"; url = \"http://127.0.0.1:$RECV_PORT/hook\"; }" \
  'route = { receiver = "hook"; group_by = ["rule"]; group_wait = "3s"; group_interval = "1m"; repeat_interval = "4h"; };'
start_rw "$WORK/rw.conf"
held() {
  "$RW" status -c "$WORK/rw.conf" --json 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)
print(sum(g["alerts"] for g in r.get("groups", [])))' 2>/dev/null || echo 0
}
held_is() { [ "$(held)" = "$1" ]; }
publish 4 /a /b /c &
PUB=$!
wait_for 15 held_is 3 || { cat "$WORK/rumwatch.log" >&2; fail "want 3 alerts in the group, have $(held)"; }
t_seen=$(date +%s%3N)
kill -9 "$RW_PID"; wait "$RW_PID" 2>/dev/null || true
t_kill=$(date +%s%3N)
wait "$PUB" || true
[ "$(count_reqs hook)" = 0 ] || fail "notified before group_wait ended: $(count_reqs hook)"
[ $((t_kill - t_seen)) -lt 2500 ] || fail "kill came $((t_kill - t_seen)) ms after the group filled: not within group_wait"
ok "kill -9 $((t_kill - t_seen)) ms after 3 alerts joined a group with group_wait 3 s; nothing sent yet"
[ -s "$WORK/state/alerts.journal" ] || fail "no alert journal in the state directory"

start_rw "$WORK/rw.conf"
t_start=$(date +%s%3N)
wait_for 10 reqs_ge hook 1 || { cat "$WORK/rumwatch.log" >&2; fail "the group's notification never came after the restart"; }
sleep 1.5
python3 - "$WORK/hook.jsonl" "$t_seen" "$t_start" <<'PY' || fail "notification after kill -9"
import collections, json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
t_seen, t_start = int(sys.argv[2]), int(sys.argv[3])
by_id = collections.defaultdict(list)
for r in reqs:
    by_id[r["headers"]["webhook-id"]].append(r)
for i, rs in by_id.items():
    assert len({r["body_b64"] for r in rs}) == 1, "a duplicate id with other bytes"
assert len(by_id) == 1, {i: len(rs) for i, rs in by_id.items()}
body = reqs[0]["body"]
pages = sorted(a["labels"]["page"] for a in body["alerts"])
assert pages == ["/a", "/b", "/c"], pages
assert body["status"] == "firing"
got = reqs[0]["received_ms"]
# group_wait counted from when the alerts were first seen, not from the restart
assert got - t_start < 2800, (got - t_seen, got - t_start)
print(f"1 notification, 3 alerts, {len(reqs)} request(s) with one webhook-id; "
      f"sent {got - t_seen} ms after the group filled, {got - t_start} ms after the restart")
PY
stop_rw
ok "alerts waiting in a group survived kill -9"
