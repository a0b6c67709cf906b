#!/usr/bin/env bash
# Dead letters and the outbox CLI, with real parts (`rumwatch run` over
# ZeroMQ, real HTTP receivers on loopback):
#   bad    answers 400 once, then 200: the refused notification is
#          dead-lettered (no retry), listed by `rumwatch outbox list`, and
#          `rumwatch outbox retry ID` against the running daemon sends it
#          again, same webhook-id, delivered once;
#   strict answers 400 to everything: both notifications dead; with the
#          daemon stopped `outbox list` and `outbox retry --all` work on the
#          files; the receiver is fixed (restarted answering 200) and the
#          next start delivers both;
#   later  is down (connections refused) for 4 s, then up: delivered.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/delivery_lib.sh"

start_recv bad --codes 400,200; p_bad=$RECV_PORT
start_recv strict --codes 400; p_strict=$RECV_PORT; strict_pid=$RECV_PID
start_recv later --down-for 4; p_later=$RECV_PORT
write_conf "$WORK/rw.conf" "
  { name = \"bad\"; type = \"webhook\"; url = \"http://127.0.0.1:$p_bad/hook\"; backoff = 0.1; },
  { name = \"strict\"; type = \"webhook\"; url = \"http://127.0.0.1:$p_strict/hook\"; backoff = 0.1; },
  { name = \"later\"; type = \"webhook\"; url = \"http://127.0.0.1:$p_later/hook\"; backoff = 0.2; max_backoff = 1.0; }"
start_rw "$WORK/rw.conf"
publish 3 /a /b

wait_for 30 reqs_ge bad 2 || { cat "$WORK/rumwatch.log" >&2; fail "bad receiver got $(count_reqs bad)/2"; }
wait_for 30 reqs_ge strict 2 || fail "strict receiver got $(count_reqs strict)/2"
wait_for 30 reqs_ge later 2 || fail "later receiver got $(count_reqs later)/2 after coming up"
sleep 0.5
[ "$(count_reqs bad)" = 2 ] || fail "a 400 was retried"
"$RW" outbox list -c "$WORK/rw.conf" >"$WORK/list.txt" || fail "outbox list"
cat "$WORK/list.txt"
[ "$(grep -c ' dead ' "$WORK/list.txt")" = 3 ] || fail "outbox list: want 3 dead"
grep -q 'rejected: HTTP 400' "$WORK/list.txt" || fail "outbox list: no reason"
"$RW" outbox list -c "$WORK/rw.conf" --json --bodies >"$WORK/list.json" || fail "outbox list --json"
dead_id=$(python3 - "$WORK/list.json" "$WORK/bad.jsonl" <<'PY'
import json, sys
entries = json.load(open(sys.argv[1]))
reqs = [json.loads(l) for l in open(sys.argv[2])]
first = reqs[0]["headers"]["webhook-id"]          # the request answered 400
bad = [e for e in entries if e["receiver"] == "bad"]
assert len(bad) == 1 and bad[0]["state"] == "dead" and bad[0]["dead_reason"] == "rejected", bad
assert bad[0]["id"] == first, (bad[0]["id"], first)
assert bad[0]["attempts"] == 1 and "HTTP 400" in bad[0]["last_error"], bad[0]
assert bad[0]["body"]["receiver"] == "bad" and bad[0]["body"]["alerts"][0]["status"] == "firing"
print(first)
PY
) || fail "outbox list --json"

# The receiver is fixed now (it answers 200): retry through the running daemon.
"$RW" outbox retry -c "$WORK/rw.conf" "$dead_id" 2>"$WORK/retry.txt" || fail "outbox retry: $(cat "$WORK/retry.txt")"
grep -q '^1 notification' "$WORK/retry.txt" || fail "outbox retry: $(cat "$WORK/retry.txt")"
wait_for 10 reqs_ge bad 3 || fail "retried notification not sent"
sleep 0.5
python3 - "$WORK/bad.jsonl" "$dead_id" <<'PY' || fail "retried delivery"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
assert len(reqs) == 3, len(reqs)
assert reqs[2]["headers"]["webhook-id"] == sys.argv[2], "retry changed the webhook-id"
assert reqs[2]["body_b64"] == reqs[0]["body_b64"], "retry changed the body"
PY
"$RW" outbox retry -c "$WORK/rw.conf" msg_doesnotexist 2>/dev/null && fail "unknown id accepted"
"$RW" status -c "$WORK/rw.conf" --json >"$WORK/status.json" || fail "status"
python3 - "$WORK/status.json" <<'PY' || fail "status content"
import json, sys
s = json.load(open(sys.argv[1]))
st = s["stats"]
assert s["ok"] and st["sent"] == 4 and st["dead"] == 3 and st["submitted"] == 6, st
assert {r["name"] for r in s["receivers"]} == {"bad", "strict", "later"}
PY
stop_rw

# Daemon stopped: the CLI works on the files.
"$RW" status -c "$WORK/rw.conf" 2>/dev/null && fail "status without a daemon"
"$RW" outbox list -c "$WORK/rw.conf" >"$WORK/list2.txt" || fail "outbox list offline"
[ "$(grep -c ' dead .*strict' "$WORK/list2.txt")" = 2 ] || { cat "$WORK/list2.txt" >&2; fail "offline list"; }
"$RW" outbox retry -c "$WORK/rw.conf" --all 2>"$WORK/retry2.txt" || fail "outbox retry --all offline"
grep -q 'next start' "$WORK/retry2.txt" || fail "offline retry note: $(cat "$WORK/retry2.txt")"
"$RW" outbox list -c "$WORK/rw.conf" >"$WORK/list3.txt"
[ "$(grep -c ' queued .*strict' "$WORK/list3.txt")" = 2 ] || { cat "$WORK/list3.txt" >&2; fail "not queued"; }
# Fix the strict receiver: same port, now answering 200.
kill "$strict_pid"; wait "$strict_pid" 2>/dev/null || true
"$BUILD/rw_httprecv" --port "$p_strict" --out "$WORK/strict2.jsonl" --timeout 120 2>/dev/null &
PIDS+=($!)
wait_for 5 python3 -c "import socket; socket.create_connection(('127.0.0.1', $p_strict), 1)" || fail "strict receiver not back"
start_rw "$WORK/rw.conf"
wait_for 15 reqs_ge strict2 2 || fail "queued dead letters not delivered after the restart"
sleep 0.5
[ "$(count_reqs strict2)" = 2 ] || fail "strict2 got $(count_reqs strict2) requests"
"$RW" outbox list -c "$WORK/rw.conf" | grep -q 'outbox empty' || fail "outbox not empty"
stop_rw
ok "dead letters: listed, retried online and offline, delivered once with the same id; down then up delivered"
