#!/usr/bin/env bash
# Bounded memory under a keyspace attack, with real parts: `rumwatch run`
# subscribed over real ZeroMQ (tcp, loopback) to rw_flood, which publishes
# RW_MEMCAP_EVENTS (default 10,000,000) view events, every one with a page
# name and device/country/browser values never seen before, paced over
# ~RW_MEMCAP_SECONDS (default 90 s: longer than engine.idle_expire = 60 s,
# so series that stopped receiving expire during the flood and their slots
# are taken by new keys -- the churn a long attack causes).
#   - engine.max_memory is checked at load against the worst case of the
#     series caps: a budget below it is refused with file:line (so the check
#     can fail), and the test's budget is set to that worst case
#   - the daemon's RSS (sampled from /proc/PID/status VmRSS every 0.25 s, and
#     process_resident_memory_bytes from /metrics) stays under the cap
#     computed from the config: RSS at start + max_memory + the ZeroMQ
#     input queue (rcvhwm messages of at most BATCH events)
#   - it plateaus: the max RSS of the last quarter of the flood is at most
#     PLATEAU_PCT % (+ PLATEAU_MIB) above the max of the first quarter
#   - every event sent was received and accepted (the publisher does not
#     drop: ZMQ_XPUB_NODROP; /metrics counts), folded > 0 in every capped
#     scope, expired > 0, and no scope ever holds more than max_series + 1
#   - RW_MEMCAP_CAP_MIB=N asserts against N MiB instead (to see it fail)
# Under ASan or valgrind the same test runs with fewer events (same pacing),
# and only the counts are asserted (the RSS is the tool's).
source "$(dirname "$0")/lib.sh"
TOOLS=$(cd "$(dirname "$0")/../tools" && pwd)

N=${RW_MEMCAP_EVENTS:-10000000}
# Under valgrind or ASan the RSS is the tool's (shadow memory; ASan's
# quarantine holds freed series, so churn grows it by design): the counts
# are still asserted, the RSS cap and plateau only on a plain build.
TOOL_RSS=0
if [ "${RW_VALGRIND:-0}" = 1 ]; then TOOL_RSS=1; [ -n "${RW_MEMCAP_EVENTS:-}" ] || N=300000
elif grep -q '^RW_SANITIZE:BOOL=ON' "$BUILD/CMakeCache.txt" 2>/dev/null; then
  TOOL_RSS=1; [ -n "${RW_MEMCAP_EVENTS:-}" ] || N=3000000
fi
SECS=${RW_MEMCAP_SECONDS:-90}
BATCH=50
RCVHWM=2000
PLATEAU_PCT=10
PLATEAU_MIB=16

zport=$(free_port)
mport=$(free_port)
conf() { # conf MAX_MEMORY_MIB
  cat <<CONF
engine = { window = 10.0; lateness = 20.0; max_future = 5.0; idle_expire = 60.0;
           stats_interval = 10.0; max_series = 20000;
           max_memory = $1; };
input = { endpoints = ["tcp://127.0.0.1:$zport"]; rcvhwm = $RCVHWM; stall_after = 0.0; };
http = { listen = "127.0.0.1:$mport"; };
scopes = ( { name = "app"; dims = []; max_series = 4; },
           { name = "page"; dims = ["page"]; },
           { name = "page_device"; dims = ["page", "device"]; },
           { name = "device"; dims = ["device"]; max_series = 2000; },
           { name = "country"; dims = ["country"]; max_series = 2000; },
           { name = "browser"; dims = ["browser"]; max_series = 2000; } );
rules = ( { name = "lcp_slowdown"; metric = "lcp"; stat = "p75"; detector = "robust_z"; scale = "log";
            z = 3.5; min_n = 30; for = 2; recover = 3; },
          { name = "inp_slowdown"; metric = "inp"; stat = "p75"; detector = "robust_z"; scale = "log";
            z = 3.5; min_n = 30; for = 2; recover = 3; },
          { name = "error_spike"; metric = "error_rate"; detector = "error_rate"; alpha = 1e-6;
            min_errors = 4; min_ratio = 3.0; span = 5; history = 120; for = 1; recover = 5; } );
CONF
}

# A budget below the caps' worst case is refused, naming the setting's line.
conf 1 > "$WORK/small.conf"
if "$RW" check -c "$WORK/small.conf" >/dev/null 2>"$WORK/small.err"; then fail "max_memory = 1 accepted"; fi
grep -q "small.conf:3: engine.max_memory: the series caps allow up to [0-9]* MiB (worst case), over 1 MiB" \
  "$WORK/small.err" || fail "max_memory refusal: $(cat "$WORK/small.err")"
WORST=$(sed -n 's/.*allow up to \([0-9]*\) MiB.*/\1/p' "$WORK/small.err")
[ "$WORST" -gt 0 ] || fail "no worst case in: $(cat "$WORK/small.err")"
conf $((WORST - 1)) > "$WORK/under.conf"
"$RW" check -c "$WORK/under.conf" >/dev/null 2>&1 && fail "max_memory = worst case - 1 MiB accepted"
conf "$WORST" > "$WORK/rw.conf"
"$RW" check -c "$WORK/rw.conf" >/dev/null 2>"$WORK/check.err" || fail "config rejected: $(cat "$WORK/check.err")"
ok "engine.max_memory: the caps' worst case is $WORST MiB; 1 MiB and $((WORST - 1)) MiB refused with file:line"

# rumwatch (wrapped in valgrind by lib.sh when RW_VALGRIND=1)
"$RW" run -c "$WORK/rw.conf" -o "$WORK/alerts.jsonl" 2>"$WORK/rumwatch.log" &
rwpid=$!
PIDS+=($rwpid)
dump() { tail -20 "$WORK/rumwatch.log" >&2; }
wait_http "${RW_HTTP_WAIT:-10}" "http://127.0.0.1:$mport/healthz" || { dump; fail "/healthz not up"; }
base_kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$rwpid/status")
CAP_MIB=${RW_MEMCAP_CAP_MIB:-$(( base_kib / 1024 + WORST + (RCVHWM * BATCH * 400) / 1048576 + 1 ))}

# The sampler: VmRSS every 0.25 s, /metrics every 2 s, until the stop file.
python3 - "$rwpid" "http://127.0.0.1:$mport/metrics" "$WORK/stop" "$WORK/rss.tsv" "$WORK/prom.tsv" "$TOOLS" \
  <<'PY' &
import os, sys, time, urllib.request
pid, url, stop, rss_out, prom_out, tools = sys.argv[1:7]
sys.path.insert(0, tools)
import rw_promparse as pp
t0 = time.monotonic()
next_scrape = 0.0
with open(rss_out, "w") as rf, open(prom_out, "w") as pf:
    while not os.path.exists(stop):
        now = time.monotonic() - t0
        try:
            for l in open(f"/proc/{pid}/status"):
                if l.startswith("VmRSS:"):
                    rf.write(f"{now:.2f}\t{int(l.split()[1])}\n")
        except OSError:
            break
        if now >= next_scrape:
            next_scrape = now + 2
            try:
                f = pp.parse(urllib.request.urlopen(url, timeout=5).read().decode())
                pf.write(f"{now:.2f}\t{pp.value(f, 'process_resident_memory_bytes'):.0f}\t"
                         f"{pp.value(f, 'rumwatch_engine_memory_bytes'):.0f}\t"
                         f"{pp.value(f, 'rumwatch_events_received_total'):.0f}\n")
            except Exception as e:
                pf.write(f"# {e}\n")
        rf.flush(); pf.flush()
        time.sleep(0.25)
PY
sampler=$!
PIDS+=($sampler)

rate=$(( N / SECS ))
t_pub=$(date +%s%3N)
"$BUILD/rw_flood" --endpoint "tcp://127.0.0.1:$zport" --mode keys --n "$N" --batch $BATCH --hwm 1000 \
  --rate "$rate" --sub-timeout-ms 30000 >"$WORK/flood.json" 2>"$WORK/flood.log" ||
  { dump; fail "rw_flood: $(cat "$WORK/flood.log")"; }
t_sent=$(date +%s%3N)

metric() { # metric FAMILY [label=value ...]
  http_get "http://127.0.0.1:$mport/metrics" > "$WORK/m.txt" || return 1
  python3 - "$WORK/m.txt" "$TOOLS" "$@" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
import rw_promparse as pp
fams = pp.parse(open(sys.argv[1], "rb").read())
labels = dict(a.split("=", 1) for a in sys.argv[4:])
print("%.0f" % pp.value(fams, sys.argv[3], **labels))
PY
}
received_all() { [ "$(metric rumwatch_events_received_total)" = "$N" ]; }
wait_for 120 received_all || { dump; fail "received $(metric rumwatch_events_received_total) of $N"; }
t_recv=$(date +%s%3N)
sleep 2.5 # two more samples of everything after the last event
touch "$WORK/stop"
wait "$sampler" || true
http_get "http://127.0.0.1:$mport/metrics" > "$WORK/metrics.txt"
kill -0 "$rwpid" || fail "rumwatch died"
end_kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$rwpid/status")

python3 - "$WORK" "$TOOLS" "$N" "$CAP_MIB" "$base_kib" "$PLATEAU_PCT" "$PLATEAU_MIB" \
  "$t_pub" "$t_sent" "$t_recv" "$WORST" "$TOOL_RSS" <<'PY' || { dump; fail "memory cap"; }
import json, sys
work, tools = sys.argv[1:3]
N, cap_mib, base_kib, pct, plat_mib, t_pub, t_sent, t_recv, worst, vg = map(int, sys.argv[3:13])
sys.path.insert(0, tools)
import rw_promparse as pp
fams = pp.parse(open(f"{work}/metrics.txt", "rb").read())
v = lambda f, **l: pp.value(fams, f, **l)
sent = json.load(open(f"{work}/flood.json"))
assert sent["events"] == N and sent["good"] == N, sent
assert v("rumwatch_events_received_total") == N, v("rumwatch_events_received_total")
assert v("rumwatch_events_accepted_total", type="view") == N, v("rumwatch_events_accepted_total", type="view")
rej = sum(x for n, l, x in fams["rumwatch_events_rejected_total"]["samples"])
assert rej == 0, rej
rss = [tuple(map(float, l.split())) for l in open(f"{work}/rss.tsv")]
prom = [tuple(map(float, l.split())) for l in open(f"{work}/prom.tsv") if not l.startswith("#")]
assert len(rss) > 40 and len(prom) > 5, (len(rss), len(prom))
mib = lambda kib: kib / 1024
max_rss = max(r for _, r in rss)
max_prom = max(p[1] for p in prom)
if not vg:
    assert mib(max_rss) < cap_mib, f"VmRSS max {mib(max_rss):.1f} MiB >= cap {cap_mib} MiB"
if not vg:
    assert max_prom / 1048576 < cap_mib, f"process_resident_memory_bytes max {max_prom / 1048576:.1f} MiB >= cap"
max_est = max(p[2] for p in prom)
assert max_est <= worst * 1048576, (max_est, worst)
# Plateau over the flood (sampler time 0 ~ publisher start).
dur = (t_recv - t_pub) / 1000
q1 = [r for t, r in rss if t <= dur / 4]
q4 = [r for t, r in rss if 3 * dur / 4 <= t <= dur]
assert q1 and q4, (len(q1), len(q4))
lim = max(q1) * (1 + pct / 100) + plat_mib * 1024
if not vg:
    assert max(q4) <= lim, f"no plateau: last quarter max {mib(max(q4)):.1f} MiB > {mib(lim):.1f} MiB"
caps = {"app": 4, "page": 20000, "page_device": 20000, "device": 2000, "country": 2000, "browser": 2000}
folded = {s: v("rumwatch_series_folded_total", scope=s, kind="rum") for s in caps}
expired = {s: v("rumwatch_series_expired_total", scope=s, kind="rum") for s in caps}
created = {s: v("rumwatch_series_created_total", scope=s, kind="rum") for s in caps}
for s, cap in caps.items():
    alive = v("rumwatch_series", scope=s, kind="rum")
    assert alive <= cap + 1, (s, alive, cap)
    if s != "app":
        assert folded[s] > 0, (s, folded)
assert expired["page"] > 0 and expired["page_device"] > 0, expired
# Every key beyond the cap folded: created + folded covers every event.
assert created["page"] + folded["page"] >= N, (created["page"], folded["page"])

rate = N / ((t_recv - t_pub) / 1000)
print(f"memory: {N} events in {(t_recv - t_pub) / 1000:.1f} s ({rate:.0f} events/s; sent in "
      f"{(t_sent - t_pub) / 1000:.1f} s); RSS start {mib(base_kib):.1f} MiB, max {mib(max_rss):.1f} MiB "
      f"(metric {max_prom / 1048576:.1f} MiB), first quarter max {mib(max(q1)):.1f}, last quarter max "
      f"{mib(max(q4)):.1f} MiB; cap {cap_mib} MiB (worst case {worst} MiB); engine estimate max "
      f"{max_est / 1048576:.1f} MiB")
print("folded " + " ".join(f"{s}={folded[s]:.0f}" for s in caps))
print("expired " + " ".join(f"{s}={expired[s]:.0f}" for s in caps))
print("created " + " ".join(f"{s}={created[s]:.0f}" for s in caps))
PY
ok "RSS under the cap ($CAP_MIB MiB) and plateaued$([ "$TOOL_RSS" = 1 ] && echo " (not asserted: ASan/valgrind RSS)"); $N accepted; folded and expired counted (RSS at the end $((end_kib / 1024)) MiB)"

kill -TERM $rwpid
for i in $(seq $((100 * RW_TIMEOUT_SCALE))); do kill -0 $rwpid 2>/dev/null || break; sleep 0.1; done
kill -0 $rwpid 2>/dev/null && fail "rumwatch did not stop on SIGTERM"
wait $rwpid || fail "rumwatch exit code $?"
ok "bounded memory under 10M distinct keys"
