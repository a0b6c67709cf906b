#!/usr/bin/env bash
# Silences through the CLI and the control socket of a running `rumwatch
# run` (real ZeroMQ input, a real HTTP receiver): a silence mutes the
# matching alert and not the other; it survives a restart; expiring it lets
# the still-firing alert out; with the daemon stopped the CLI writes the
# store itself and the next start applies it; bad input gets clear errors.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/delivery_lib.sh"

start_recv hook
write_conf "$WORK/rw.conf" "{ name = \"hook\"; type = \"webhook\"; url = \"http://127.0.0.1:$RECV_PORT/hook\"; }"
pages() { python3 -c 'import json,sys; print(" ".join(sorted(json.loads(l)["body"]["alerts"][0]["labels"]["page"] for l in open(sys.argv[1]))))' "$WORK/hook.jsonl"; }
start_rw "$WORK/rw.conf"

"$RW" silence add -c "$WORK/rw.conf" --match page=/muted --for 2h --comment "checkout deploy" \
  --author ci >"$WORK/id.txt" 2>"$WORK/add.log" || fail "silence add: $(cat "$WORK/add.log")"
sid=$(cat "$WORK/id.txt")
[[ "$sid" =~ ^[0-9a-f-]{36}$ ]] || fail "silence id: $sid"
"$RW" silence list -c "$WORK/rw.conf" >"$WORK/list.txt" || fail "silence list"
grep -q "$sid  active .*page=\"/muted\".* by ci: checkout deploy" "$WORK/list.txt" || { cat "$WORK/list.txt" >&2; fail "silence list content"; }
[ -s "$WORK/state/silences.json" ] || fail "silence not persisted"
[ "$(stat -c %a "$WORK/state/control.sock")" = 600 ] || fail "control socket is not 0600"

publish 3 /muted /loud
wait_for 20 reqs_ge hook 1 || { cat "$WORK/rumwatch.log" >&2; fail "no notification"; }
sleep 2 # group ticks every second: the muted alert must stay out
[ "$(pages)" = "/loud" ] || fail "delivered: $(pages)"
ok "silence added through the daemon mutes /muted, /loud delivered"

stop_rw
start_rw "$WORK/rw.conf"
"$RW" silence list -c "$WORK/rw.conf" --json >"$WORK/list.json" || fail "silence list after restart"
python3 - "$WORK/list.json" "$sid" <<'PY' || fail "silence lost in the restart"
import json, sys
l = json.load(open(sys.argv[1]))
assert [s["id"] for s in l] == [sys.argv[2]] and l[0]["status"]["state"] == "active", l
assert l[0]["matchers"] == [{"name": "page", "value": "/muted", "isRegex": False, "isEqual": True}], l
PY
publish 3 /muted /other
wait_for 20 reqs_ge hook 2 || fail "no notification after the restart"
sleep 2
[ "$(pages)" = "/loud /other" ] || fail "after restart delivered: $(pages)"
ok "silence survives a restart"

"$RW" silence expire -c "$WORK/rw.conf" "${sid:0:8}" 2>"$WORK/expire.log" || fail "silence expire: $(cat "$WORK/expire.log")"
wait_for 10 reqs_ge hook 3 || fail "the muted alert was not sent after the silence expired"
[ "$(pages)" = "/loud /muted /other" ] || fail "after expire delivered: $(pages)"
"$RW" silence list -c "$WORK/rw.conf" | grep -q 'no silences' || fail "expired silence still listed as active"
"$RW" silence list -c "$WORK/rw.conf" --expired | grep -q "$sid  expired" || fail "expired silence not listed"
ok "expired: the still-firing alert goes out"
stop_rw

# Daemon stopped: the CLI writes the store; the next start applies it.
"$RW" silence add -c "$WORK/rw.conf" page=/late --for 1h --comment offline >"$WORK/id2.txt" 2>"$WORK/add2.log" \
  || fail "offline silence add: $(cat "$WORK/add2.log")"
grep -q 'not running' "$WORK/add2.log" || fail "no offline note: $(cat "$WORK/add2.log")"
sid2=$(cat "$WORK/id2.txt")
start_rw "$WORK/rw.conf"
"$RW" silence list -c "$WORK/rw.conf" | grep -q "$sid2  active" || fail "offline silence not loaded"
n=$(count_reqs hook)
publish 3 /late /later
wait_for 20 reqs_ge hook $((n + 1)) || fail "no notification for /later"
sleep 2
[ "$(pages)" = "/later /loud /muted /other" ] || fail "offline silence not applied: $(pages)"
ok "a silence written while the daemon was down applies at the next start"

# Bad input: clear errors, exit codes, nothing changed.
"$RW" silence add -c "$WORK/rw.conf" --match page=/x --for 1h 2>"$WORK/e1" && fail "no --comment accepted"
grep -q 'comment' "$WORK/e1" || fail "message: $(cat "$WORK/e1")"
"$RW" silence add -c "$WORK/rw.conf" --match 'team=""' --comment x 2>"$WORK/e2" && fail "match-everything silence accepted"
"$RW" silence add -c "$WORK/rw.conf" --match page=/x --for soon --comment x 2>"$WORK/e3" && fail "bad duration accepted"
grep -q 'duration' "$WORK/e3" || fail "message: $(cat "$WORK/e3")"
"$RW" silence expire -c "$WORK/rw.conf" 00000000-0000-0000-0000-000000000000 2>"$WORK/e4" && fail "unknown id expired"
rc=0; "$RW" silence bogus -c "$WORK/rw.conf" 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "unknown subcommand exit code $rc"
[ "$("$RW" silence list -c "$WORK/rw.conf" --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 1 ] \
  || fail "bad input changed the silences"
stop_rw
ok "silences: CLI errors are clear"
