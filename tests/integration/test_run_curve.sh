#!/usr/bin/env bash
# Authenticated input (input.curve; docs/operations.md "Authenticated input
# (CURVE)"), with real parts: `rumwatch keygen` makes the server key (to a
# 0600 file) and the allowed client's pair; `rumwatch run` subscribes over
# tcp on 127.0.0.1 to four real publishers (rw_pub) at once:
#   - the allowed client (keygen's pair, keygen's server public key): its N
#     events are all accepted (/metrics, strict parse)
#   - a valid CURVE client whose key is not allowed, a plain (no CURVE)
#     publisher, and a CURVE client of another server key: M events each,
#     none counted (received == accepted == N, messages == N), and each kind
#     shows in rumwatch_input_auth_failures_total and the log
# A second daemon with input.bind = true: publishers connect to it, the
# allowed one counts, the unknown one does not.
# Plus the config side: a malformed key, a world-readable secret file, a
# missing env var and an unknown key are rejected with file:line; `check`
# never prints the secret and its printout loads back to the same config.
source "$(dirname "$0")/lib.sh"
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)
N=300
M=200

# ---- keys ----------------------------------------------------------------
"$RW" keygen --secret-file "$WORK/server.key" >"$WORK/server.pub" || fail "keygen --secret-file"
[ "$(stat -c %a "$WORK/server.key")" = 600 ] || fail "secret file mode $(stat -c %a "$WORK/server.key")"
"$RW" keygen --secret-file "$WORK/server.key" >/dev/null 2>"$WORK/keygen.err" &&
  fail "keygen overwrote an existing secret file"
grep -q "exists" "$WORK/keygen.err" || fail "keygen refusal: $(cat "$WORK/keygen.err")"
SPUB=$(awk '$1 == "public-key" {print $2}' "$WORK/server.pub")
SSEC=$(grep -v '^#' "$WORK/server.key")
"$RW" keygen >"$WORK/client.txt" || fail "keygen"
CPUB=$(awk '$1 == "public-key" {print $2}' "$WORK/client.txt")
CSEC=$(awk '$1 == "secret-key" {print $2}' "$WORK/client.txt")
for k in "$SPUB" "$SSEC" "$CPUB" "$CSEC"; do
  [ ${#k} = 40 ] || fail "keygen printed a key of ${#k} characters: $(cat "$WORK/client.txt")"
done
[ "$CPUB" != "$SPUB" ] && [ "$CSEC" != "$SSEC" ] || fail "keygen repeats keys"
"$RW" keygen --help | grep -q secret-file || fail "keygen --help"
"$RW" --help | grep -q "keygen" || fail "rumwatch --help does not list keygen"
ok "keygen: Z85 pairs, secret file 0600, never overwritten"

# ---- config --------------------------------------------------------------
zport=$(free_port); zport2=$(free_port); zport3=$(free_port); zport4=$(free_port)
mport=$(free_port)
# Other allowed keys come from a file (comments, blank lines, a name after '#').
OTHER=$("$RW" keygen | awk '$1 == "public-key" {print $2}')
printf '# publishers of the test\n\n%s   # collector-2\n' "$OTHER" >"$WORK/allow.txt"
cat >"$WORK/rw.conf" <<CONF
engine = { window = 1.0; lateness = 2.0; max_future = 2.0; stats_interval = 0.0; drain_timeout = 1.0; };
input = {
  endpoints = ["tcp://127.0.0.1:$zport", "tcp://127.0.0.1:$zport2", "tcp://127.0.0.1:$zport3",
               "tcp://127.0.0.1:$zport4"];
  stall_after = 0.0;
  curve = {
    server_secret_file = "$WORK/server.key";
    allow = ["$CPUB"];
    allow_file = "$WORK/allow.txt";
  };
};
http = { listen = "127.0.0.1:$mport"; };
scopes = ( { name = "page"; dims = ["page"]; } );
rules = ( { name = "lcp_high"; metric = "lcp"; stat = "p75"; detector = "threshold"; above = 3000.0; } );
notify = { state_dir = "$WORK/state"; };
CONF
"$RW" check -c "$WORK/rw.conf" >"$WORK/check.txt" 2>&1 || fail "config rejected: $(tail -1 "$WORK/check.txt")"
grep -qF "$SSEC" "$WORK/check.txt" && fail "check printed the server secret key"
grep -qF "server_secret_file = \"$WORK/server.key\";" "$WORK/check.txt" || fail "check: no server_secret_file"
grep -qF "\"$CPUB\"" "$WORK/check.txt" || fail "check: no allowed key"
grep -qF "$OTHER" "$WORK/check.txt" && fail "check printed allow_file's keys inline (they would count twice)"
grep -q "2 client keys allowed (1 from allow_file)" "$WORK/check.txt" || fail "check: key count"
# The printout is a config: loaded again it prints the same (comments aside).
"$RW" check -c "$WORK/rw.conf" | sed -n '/^engine = {/,$p' >"$WORK/printed.conf"
"$RW" check -c "$WORK/printed.conf" | sed -n '/^engine = {/,$p' >"$WORK/printed2.conf" ||
  fail "the printed config does not load"
diff <(grep -v '^ *#' "$WORK/printed.conf") <(grep -v '^ *#' "$WORK/printed2.conf") ||
  fail "the printed config changes on reload"
# The secret from the environment instead: named, never printed.
sed "s|server_secret_file = \"$WORK/server.key\";|server_secret_env = \"RW_TEST_CURVE_SECRET\";|" \
  "$WORK/rw.conf" >"$WORK/env.conf"
RW_TEST_CURVE_SECRET="$SSEC" "$RW" check -c "$WORK/env.conf" >"$WORK/check-env.txt" 2>&1 ||
  fail "server_secret_env rejected: $(tail -1 "$WORK/check-env.txt")"
grep -qF "$SSEC" "$WORK/check-env.txt" && fail "check printed the secret from the environment"
grep -qF 'server_secret_env = "RW_TEST_CURVE_SECRET";' "$WORK/check-env.txt" || fail "check: no server_secret_env"
ok "check: key sources printed, secret never; printout round-trips"

# bad configs: each names file:line and says why
expect_reject() { # NAME LINE PATTERN: rumwatch check must refuse $WORK/NAME at NAME:LINE
  local out
  if out=$("$RW" check -c "$WORK/$1" 2>&1); then fail "$1 accepted"; fi
  grep -qF "$WORK/$1:$2: " <<<"$out" || fail "$1: no file:line $2 in: $out"
  grep -qE "$3" <<<"$out" || fail "$1: message does not match /$3/: $out"
  grep -qF "$SSEC" <<<"$out" && fail "$1: the message shows the secret"
  echo "  $1: $(tail -1 <<<"$out")"
}
bad_conf() { # NAME CURVE-BODY: a config whose input.curve (line 3) is CURVE-BODY
  printf 'input = {\n  endpoints = ["tcp://127.0.0.1:%s"];\n  curve = {\n%s\n  };\n};\n' "$zport" "$2" \
    >"$WORK/$1"
}
bad_conf bad_short.conf "    server_secret_file = \"$WORK/server.key\";
    allow = [\"$CPUB\",
             \"${CPUB:0:39}\"];"
expect_reject bad_short.conf 6 "allow\\[1\\]: 39 characters"
bad_conf bad_alphabet.conf "    server_secret_file = \"$WORK/server.key\";
    allow = [\"${CPUB:0:20}\\\"${CPUB:21}\"];"
expect_reject bad_alphabet.conf 5 "character 21 is not in the Z85 alphabet"
bad_conf bad_overflow.conf "    server_secret_file = \"$WORK/server.key\";
    allow = [\"%%%%%${CPUB:5}\"];"
expect_reject bad_overflow.conf 5 "characters 1-5 do not decode"
cp "$WORK/server.key" "$WORK/open.key"
chmod 644 "$WORK/open.key"
bad_conf bad_mode.conf "    server_secret_file = \"$WORK/open.key\";
    allow = [\"$CPUB\"];"
expect_reject bad_mode.conf 4 "other users can access the secret key \\(mode 0644\\)"
bad_conf bad_env.conf "    server_secret_env = \"RW_TEST_CURVE_UNSET\";
    allow = [\"$CPUB\"];"
expect_reject bad_env.conf 4 'RW_TEST_CURVE_UNSET is not set'
bad_conf bad_both.conf "    server_secret_file = \"$WORK/server.key\"; server_secret_env = \"X\";
    allow = [\"$CPUB\"];"
expect_reject bad_both.conf 4 "exactly one of server_secret_file and server_secret_env"
bad_conf bad_typo.conf "    server_secret_file = \"$WORK/server.key\";
    allow = [\"$CPUB\"];
    alow_file = \"x\";"
expect_reject bad_typo.conf 6 "unknown key 'alow_file'"
bad_conf bad_none.conf "    server_secret_file = \"$WORK/server.key\";"
expect_reject bad_none.conf 3 "no client key"
printf '%s\n%s extra\n' "$CPUB" "$CPUB" >"$WORK/allow-bad.txt"
bad_conf bad_file.conf "    server_secret_file = \"$WORK/server.key\";
    allow_file = \"$WORK/allow-bad.txt\";"
expect_reject bad_file.conf 5 "allow-bad.txt:2: one key a line"
ok "malformed keys, an open secret file, a missing env var, typos: rejected with file:line"

# ---- run -----------------------------------------------------------------
python3 - "$WORK" $N $M <<'PY'
import json, sys
work, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t0 = 1762041600000
def write(name, count, page):
    with open(f"{work}/{name}", "w") as f:
        for i in range(count):
            f.write(json.dumps({"v": 1, "type": "view", "ts": t0 + i * 10, "page": page,
                                "vitals": {"lcp": 1000.0 + i % 7}}) + "\n")
write("good.ndjson", n, "/good")
write("bad.ndjson", m, "/bad")
PY

t_run=$SECONDS
"$RW" run -c "$WORK/rw.conf" -o "$WORK/alerts.jsonl" 2>"$WORK/rumwatch.log" &
rwpid=$!
PIDS+=($rwpid)
dump() { tail -30 "$WORK/rumwatch.log" >&2; }
wait_http 10 "http://127.0.0.1:$mport/healthz" || { dump; fail "rumwatch did not start"; }
grep -qF "server_public=$SPUB" "$WORK/rumwatch.log" || { dump; fail "start line lacks server_public=$SPUB"; }

# --retime --speed 10: a few seconds of sending, with wall-clock "ts". The
# refused publishers wait and send for longer than the allowed one, so
# their connection attempts (every 100 ms) overlap its whole run.
pub() { # NAME PORT [rw_pub options]
  local name=$1 port=$2; shift 2
  "$BUILD/rw_pub" --endpoint "tcp://127.0.0.1:$port" --bind --retime --speed 10 --linger-ms 500 "$@" \
    2>"$WORK/pub-$name.log" &
  PIDS+=($!)
  eval "pid_$name=$!"
}
pub good "$zport" --file "$WORK/good.ndjson" --wait-ms 2500 \
  --curve-server "$SPUB" --curve-public "$CPUB" --curve-secret "$CSEC"
pub unknown "$zport2" --file "$WORK/bad.ndjson" --wait-ms 3500 --curve-server "$SPUB"
pub plain "$zport3" --file "$WORK/bad.ndjson" --wait-ms 3500
WRONG=$("$RW" keygen | awk '$1 == "public-key" {print $2}')
pub wrongsrv "$zport4" --file "$WORK/bad.ndjson" --wait-ms 3500 --curve-server "$WRONG"

metric() { prom_value "$mport" "$@"; } # metric FAMILY [label=value ...]
accepted_reaches() { [ "$(metric rumwatch_events_accepted_total type=view)" = "$1.0" ]; }
wait_for 30 accepted_reaches $N || { dump; metric rumwatch_events_accepted_total type=view; fail "accepted never reached $N"; }
for p in good unknown plain wrongsrv; do
  eval "wait \$pid_$p" || fail "rw_pub $p failed: $(cat "$WORK/pub-$p.log")"
  grep -q "events=$([ $p = good ] && echo $N || echo $M) " "$WORK/pub-$p.log" ||
    fail "rw_pub $p did not send: $(cat "$WORK/pub-$p.log")"
done
sleep 1.5 # a second republish of the counters after the last publisher is done
http_get "http://127.0.0.1:$mport/metrics" >"$WORK/metrics.txt" || fail "GET /metrics"
python3 - "$WORK/metrics.txt" "$TOOLS" $N <<'PY' || { dump; fail "/metrics content"; }
import sys
sys.path.insert(0, sys.argv[2])
import rw_promparse as pp
fams = pp.parse(open(sys.argv[1], "rb").read())
N = int(sys.argv[3])
v = lambda f, s=None, **l: pp.value(fams, f, s, **l)
# Only the allowed publisher's events exist for the engine.
assert v("rumwatch_events_accepted_total", type="view") == N, v("rumwatch_events_accepted_total", type="view")
assert v("rumwatch_events_received_total") == N, v("rumwatch_events_received_total")
assert v("rumwatch_input_messages_total") == N, v("rumwatch_input_messages_total")
assert v("rumwatch_series", scope="page", kind="rum") == 1   # /good only: no /bad
denied = v("rumwatch_input_auth_failures_total", reason="not_allowed")
hs = v("rumwatch_input_auth_failures_total", reason="handshake")
assert denied >= 1, denied    # the unknown client, each reconnection
assert hs >= 2, hs            # the plain publisher and the one of another server
assert v("rumwatch_input_auth_accepted_total") >= 1
print(f"accepted={N} auth_failures not_allowed={denied:.0f} handshake={hs:.0f}")
PY
grep -q 'msg="publisher refused: key not in the allow-list" address=127.0.0.1 key=' "$WORK/rumwatch.log" ||
  { dump; fail "no log line for the refused key"; }
grep -qF "msg=\"publisher authenticated\" address=127.0.0.1 key=$CPUB" "$WORK/rumwatch.log" ||
  { dump; fail "no log line for the allowed key"; }
grep -q 'msg="publisher refused: CURVE handshake failed' "$WORK/rumwatch.log" ||
  { dump; fail "no log line for the failed handshakes"; }
# Rate-limited: one line per kind (key, handshake) per 10 s, not one per attempt.
nlog=$(grep -c 'publisher refused' "$WORK/rumwatch.log" || true)
[ "$nlog" -le $(( 2 * ((SECONDS - t_run) / 10 + 1) )) ] ||
  fail "$nlog 'publisher refused' lines in $((SECONDS - t_run)) s: not rate-limited"
ok "allowed publisher: $N/$N accepted; unknown key, plain and wrong-server publishers: 0 of 3 x $M"

stop_rw() {
  kill -TERM $rwpid
  for i in $(seq 50); do kill -0 $rwpid 2>/dev/null || break; sleep 0.1; done
  kill -0 $rwpid 2>/dev/null && fail "rumwatch did not stop on SIGTERM"
  wait $rwpid || fail "rumwatch exit code $?"
}
stop_rw

# ---- input.bind = true: the publishers connect -----------------------------
bport=$(free_port)
sed -e "s|^  endpoints = .*|  endpoints = [\"tcp://127.0.0.1:$bport\"]; bind = true;|" -e '/^               "tcp:/d' \
  "$WORK/rw.conf" >"$WORK/bind.conf"
"$RW" run -c "$WORK/bind.conf" -o /dev/null 2>"$WORK/rumwatch-bind.log" &
rwpid=$!
PIDS+=($rwpid)
wait_http 10 "http://127.0.0.1:$mport/healthz" || { dump; fail "rumwatch (bind) did not start"; }
grep -q "msg=\"bound\" endpoint=tcp://127.0.0.1:$bport" "$WORK/rumwatch-bind.log" || { dump; fail "not bound"; }
K=100
head -$K "$WORK/good.ndjson" >"$WORK/k.ndjson"
pub bgood "$bport" --connect --file "$WORK/k.ndjson" --wait-ms 2500 \
  --curve-server "$SPUB" --curve-public "$CPUB" --curve-secret "$CSEC"
pub bunknown "$bport" --connect --file "$WORK/bad.ndjson" --wait-ms 2500 --curve-server "$SPUB"
pub bplain "$bport" --connect --file "$WORK/bad.ndjson" --wait-ms 2500
for p in bgood bunknown bplain; do eval "wait \$pid_$p" || fail "rw_pub $p failed"; done
wait_for 10 accepted_reaches $K || { dump; fail "bind: accepted never reached $K"; }
denied_seen() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1]) >= 1 and float(sys.argv[2]) >= 1 else 1)' \
  "$(metric rumwatch_input_auth_failures_total reason=not_allowed)" "$(metric rumwatch_input_auth_failures_total reason=handshake)"; }
wait_for 5 denied_seen || { dump; fail "bind: refusals not counted"; }
sleep 1.5
[ "$(metric rumwatch_events_received_total)" = "$K.0" ] || fail "bind: received $(metric rumwatch_events_received_total) != $K"
stop_rw
ok "input.bind = true: the allowed publisher's $K events count, the others' none"
ok "authenticated input (CURVE)"
