# Helpers for the test_delivery_*.sh integration tests (sourced after lib.sh).
#
# Alerts come the real way: `rumwatch run` subscribed to a real ZeroMQ
# publisher (rw_pub --retime) on loopback. A threshold rule on p75 LCP per
# page with 1 s windows fires about two seconds after a page turns slow, so
# "make N alerts" is "publish a few seconds of slow views on N pages".
# nodata = "keep": when the views stop, alerts keep firing (no resolutions
# to count). Page names without digits: "/p1" would normalise to "/p?".

ZPORT=$(free_port)

# start_recv NAME [rw_httprecv args...]: a receiver logging to $WORK/NAME.jsonl;
# sets RECV_PORT and RECV_PID.
start_recv() {
  local name=$1; shift
  rm -f "$WORK/$name.port"
  "$BUILD/rw_httprecv" --port-file "$WORK/$name.port" --out "$WORK/$name.jsonl" --timeout 600 "$@" \
    2>>"$WORK/$name.log" &
  RECV_PID=$!
  PIDS+=($RECV_PID)
  wait_for 10 test -s "$WORK/$name.port" || fail "receiver $name did not start"
  RECV_PORT=$(cat "$WORK/$name.port")
}

# write_conf FILE NOTIFIERS [EXTRA]: engine, input, the rule, notifiers, state dir.
write_conf() {
  cat > "$1" <<CONF
engine = { window = 1.0; lateness = 0.5; max_future = 2.0; stats_interval = 1.0; drain_timeout = ${DRAIN:-2.0}; };
input = { endpoints = ["tcp://127.0.0.1:$ZPORT"]; bind = false; topics = ["rum."]; };
scopes = ( { name = "page"; dims = ["page"]; } );
rules = ( { name = "lcp_high"; metric = "lcp"; stat = "p75"; detector = "threshold"; scopes = ["page"];
            above = 3000.0; min_n = 5; for = 1; recover = 1; nodata = "keep"; } );
notifiers = ( $2 );
notify = { state_dir = "$WORK/state"; };
${3:-}
CONF
}

# start_rw CONF: `rumwatch run` in the background; sets RW_PID.
start_rw() {
  "$RW" run -c "$1" -o "$WORK/alerts.jsonl" 2>>"$WORK/rumwatch.log" &
  RW_PID=$!
  PIDS+=($RW_PID)
  wait_for 10 test -S "$WORK/state/control.sock" || { cat "$WORK/rumwatch.log" >&2; fail "rumwatch did not start"; }
}

stop_rw() {
  kill -TERM "$RW_PID" 2>/dev/null || true
  wait "$RW_PID" || fail "rumwatch exit code $?"
}

# publish SECONDS SLOW_PAGE... : SECONDS of views (10/s per page) on the slow
# pages (LCP ~5 s) and on /ok (LCP ~1 s), at wall-clock pace.
publish() {
  local secs=$1; shift
  python3 - "$WORK/events.ndjson" "$secs" "$@" <<'PY'
import json, sys
out, secs, slow = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
t0 = 1762041600000
with open(out, "w") as f:
    for i in range(int(secs * 10)):
        ts = t0 + i * 100
        for page in slow + ["/ok"]:
            lcp = 5000 + (i % 7) * 10 if page != "/ok" else 1000 + (i % 7) * 10
            f.write(json.dumps({"v": 1, "type": "view", "ts": ts, "page": page,
                                "vitals": {"lcp": lcp}}, separators=(",", ":")) + "\n")
PY
  "$BUILD/rw_pub" --endpoint "tcp://127.0.0.1:$ZPORT" --bind --file "$WORK/events.ndjson" --retime \
    --wait-ms 600 --linger-ms 1000 2>>"$WORK/pub.log" || fail "rw_pub failed"
}

# count_reqs NAME [PATH]: requests logged by receiver NAME.
count_reqs() {
  [ -f "$WORK/$1.jsonl" ] || { echo 0; return; }
  if [ -n "${2:-}" ]; then grep -c "\"path\":\"$2\"" "$WORK/$1.jsonl" || true; else wc -l < "$WORK/$1.jsonl"; fi
}

# reqs_ge NAME N [PATH]: receiver NAME logged at least N requests (for wait_for).
reqs_ge() { [ "$(count_reqs "$1" "${3:-}")" -ge "$2" ]; }
