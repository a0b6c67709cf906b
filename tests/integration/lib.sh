# Shared helpers for integration tests (sourced). $1 of each test = build dir.
set -euo pipefail
BUILD=$(cd "${1:-build}" && pwd)
RW="$BUILD/rumwatch"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/rw-it.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
# RW_VALGRIND=1: every "$RW" runs under valgrind (memcheck): an error or a
# definite leak makes rumwatch exit 99, which the test sees as a failure.
# Its log goes to $RW_VALGRIND_LOG_DIR (default $BUILD/valgrind) as
# vg.<test>.<pid>.log. Waits scale by RW_TIMEOUT_SCALE (default 4 then).
if [ "${RW_VALGRIND:-0}" = 1 ]; then
  command -v valgrind >/dev/null || { echo "FAIL: RW_VALGRIND=1 but no valgrind" >&2; exit 1; }
  VG_LOGS=${RW_VALGRIND_LOG_DIR:-$BUILD/valgrind}
  mkdir -p "$VG_LOGS"
  VG_SUPP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/valgrind.supp
  cat > "$WORK/rumwatch-vg" <<VG
#!/bin/sh
exec valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \\
  --show-leak-kinds=definite --track-fds=no --num-callers=30 --suppressions="$VG_SUPP" \\
  --log-file="$VG_LOGS/vg.$(basename "$0" .sh).%p.log" "$RW" "\$@"
VG
  chmod +x "$WORK/rumwatch-vg"
  RW="$WORK/rumwatch-vg"
  RW_TIMEOUT_SCALE=${RW_TIMEOUT_SCALE:-4}
fi
export RW_TIMEOUT_SCALE=${RW_TIMEOUT_SCALE:-1}  # rw_pub scales its subscriber wait too
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_for SECONDS COMMAND...: poll until COMMAND succeeds
wait_for() {
  local deadline=$(( $(date +%s) + $1 * RW_TIMEOUT_SCALE )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}
# http_get URL: print the body of a GET; fails on a connection error or a
# non-2xx answer (python3 only, so no curl is needed).
http_get() {
  python3 - "$1" <<'PY'
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
    sys.stdout.write(r.read().decode())
PY
}
# wait_http SECONDS URL: poll until URL answers 2xx
wait_http() { wait_for "$1" http_get "$2"; }
# sockets_of PID: "proto local_ip:port state" of every inet socket PID holds
# (read from /proc, so no ss/netstat is needed).
sockets_of() {
  python3 - "$1" <<'PY'
import os, socket, struct, sys
pid = sys.argv[1]
inodes = set()
for fd in os.listdir(f"/proc/{pid}/fd"):
    try:
        t = os.readlink(f"/proc/{pid}/fd/{fd}")
    except OSError:
        continue
    if t.startswith("socket:["):
        inodes.add(t[8:-1])
def addr(hexaddr, fam):
    ip, port = hexaddr.split(":")
    raw = bytes.fromhex(ip)
    if fam == socket.AF_INET6:  # four host-order 32-bit words
        raw = b"".join(struct.pack("<I", struct.unpack(">I", raw[i:i + 4])[0]) for i in range(0, 16, 4))
    else:
        raw = struct.pack("<I", struct.unpack(">I", raw)[0])
    return f"{socket.inet_ntop(fam, raw)}:{int(port, 16)}"
for proto, fam in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6),
                   ("udp", socket.AF_INET), ("udp6", socket.AF_INET6)):
    try:
        lines = open(f"/proc/{pid}/net/{proto}").read().splitlines()[1:]
    except OSError:
        continue
    for l in lines:
        f = l.split()
        if f[9] in inodes:
            print(proto, addr(f[1], fam), f[3])
PY
}
# gen_slowdown OUT SEED SECONDS RATE SLOW_FROM SLOW_TO SIGMA: views of
# /checkout (LCP ~1500 ms) and /home (~1200 ms), RATE a second each, over
# SECONDS of event time; /checkout is x2.5 slower in [SLOW_FROM, SLOW_TO) s;
# log-normal noise of SIGMA. Deterministic for a SEED.
gen_slowdown() {
  python3 - "$@" <<'PY'
import json, math, random, sys
out, seed, secs, rate, s0, s1, sigma = sys.argv[1:8]
random.seed(int(seed))
rate, s0, s1, sigma = int(rate), float(s0) * 1000, float(s1) * 1000, float(sigma)
t0, step = 1762041600000, 1000 // rate
with open(out, "w") as f:
    for i in range(int(secs) * rate):
        ts = t0 + i * step
        for page, base in (("/checkout", 1500.0), ("/home", 1200.0)):
            slow = page == "/checkout" and s0 <= ts - t0 < s1
            lcp = base * math.exp(random.gauss(0, sigma)) * (2.5 if slow else 1.0)
            ev = {"v": 1, "type": "view", "ts": ts, "page": page,
                  "seg": {"device": "desktop"}, "vitals": {"lcp": round(lcp, 1)}}
            f.write(json.dumps(ev, separators=(",", ":")) + "\n")
PY
}
# prom_value PORT FAMILY [label=value ...]: one sample of http://127.0.0.1:PORT/metrics
# after a strict parse of the exposition (tests/tools/rw_promparse.py), as
# Python's repr of the float ("12.0"); fails on a bad exposition or a missing sample.
prom_value() {
  local port=$1; shift
  local tools; tools=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tools" && pwd)
  http_get "http://127.0.0.1:$port/metrics" >"$WORK/.prom.txt" || return 1
  python3 - "$WORK/.prom.txt" "$tools" "$@" <<'PY'
import sys
sys.path.insert(0, sys.argv[2])
import rw_promparse as pp
fams = pp.parse(open(sys.argv[1], "rb").read())
labels = dict(a.split("=", 1) for a in sys.argv[4:])
print(repr(pp.value(fams, sys.argv[3], **labels)))
PY
}
