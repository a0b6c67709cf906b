#!/usr/bin/env bash
# `cmake --install`: into a prefix of its own ($WORK/root), then staged with
# DESTDIR for prefix /opt/rumwatch. The binary, the default config, the docs and the
# systemd unit must be there; the installed binary must report the project's
# version and accept the installed config; the unit must start that binary
# with that config and carry the hardening options (and pass
# `systemd-analyze verify` where systemd is installed).
source "$(dirname "$0")/lib.sh"
SRC=$(pwd)

version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$BUILD/CMakeCache.txt")
[ -n "$version" ] || fail "no CMAKE_PROJECT_VERSION in $BUILD/CMakeCache.txt"

root="$WORK/root"
cmake --install "$BUILD" --prefix "$root" >"$WORK/install.log" 2>&1 ||
  { cat "$WORK/install.log" >&2; fail "cmake --install --prefix"; }

unit="$root/lib/systemd/system/rumwatch.service"
doc="$root/share/doc/rumwatch"
for f in bin/rumwatch etc/rumwatch/rumwatch.conf share/doc/rumwatch/README.md \
         share/doc/rumwatch/LICENSE lib/systemd/system/rumwatch.service; do
  [ -f "$root/$f" ] || fail "not installed: $f"
done
[ -x "$root/bin/rumwatch" ] || fail "bin/rumwatch is not executable"
cmp -s "$SRC/config/rumwatch.conf" "$root/etc/rumwatch/rumwatch.conf" || fail "installed config differs"
ndocs=0
for d in "$SRC"/docs/*.md; do
  cmp -s "$d" "$doc/docs/$(basename "$d")" || fail "doc not installed: docs/$(basename "$d")"
  ndocs=$((ndocs + 1))
done
# The README's links (docs/x.md) resolve in the installed tree too.
for l in $(grep -o '](docs/[a-z_-]*\.md' "$doc/README.md" | sed 's/^](//' | sort -u); do
  [ -f "$doc/$l" ] || fail "README link $l has no installed target"
done
ok "installed: binary, config, README, LICENSE, $ndocs docs, unit"

out=$("$root/bin/rumwatch" --version)
case "$out" in
  "rumwatch $version" | "rumwatch $version "*) ok "--version: $out" ;;
  *) fail "--version printed '$out', want 'rumwatch $version'" ;;
esac

"$root/bin/rumwatch" check -c "$root/etc/rumwatch/rumwatch.conf" >"$WORK/check.out" 2>&1 ||
  { cat "$WORK/check.out" >&2; fail "installed config rejected by rumwatch check"; }
grep -q "^rules = (" "$WORK/check.out" || fail "check printed no effective config"
ok "installed config passes rumwatch check"

# The unit runs the installed binary on the installed config.
grep -qx "ExecStart=$root/bin/rumwatch run -c $root/etc/rumwatch/rumwatch.conf" "$unit" ||
  fail "ExecStart does not name the installed binary and config: $(grep ExecStart= "$unit")"
grep -q '@[A-Z_]*@' "$unit" && fail "unsubstituted @VAR@ in the unit"
for kv in "DynamicUser=yes" "StateDirectory=rumwatch" "ProtectSystem=strict" "ProtectHome=yes" \
          "PrivateTmp=yes" "NoNewPrivileges=yes" \
          "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" "CapabilityBoundingSet=" \
          "SystemCallFilter=@system-service" "MemoryDenyWriteExecute=yes" "LockPersonality=yes" \
          "RestrictNamespaces=yes" "ProtectKernelTunables=yes" "ProtectKernelModules=yes" \
          "ProtectKernelLogs=yes" "Restart=on-failure" 'ExecReload=/bin/kill -HUP $MAINPID'; do
  grep -qxF "$kv" "$unit" || fail "unit lacks '$kv'"
done
ok "unit: ExecStart and hardening options"

if command -v systemd-analyze >/dev/null; then
  # verify also loads the units it refers to; only messages about ours count.
  SYSTEMD_LOG_LEVEL=notice systemd-analyze verify "$unit" >"$WORK/verify.out" 2>&1 || true
  if grep -i "rumwatch.service" "$WORK/verify.out" | grep -v "Failed to .*connect" | grep -q .; then
    cat "$WORK/verify.out" >&2
    fail "systemd-analyze verify complains about the unit"
  fi
  ok "systemd-analyze verify: no complaints about rumwatch.service"
  # systemd's own score of the sandbox (0 = locked down, 10 = exposed).
  if systemd-analyze security --offline=true "$unit" >"$WORK/security.out" 2>&1; then
    score=$(sed -n 's/.*Overall exposure level for rumwatch.service: \([0-9.]*\).*/\1/p' "$WORK/security.out")
    [ -n "$score" ] || fail "no exposure level in systemd-analyze security output"
    awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' || fail "exposure level $score > 2.0"
    ok "systemd-analyze security: exposure $score"
  fi
else
  ok "systemd-analyze not installed: verify skipped"
fi

# Staged install for packaging: DESTDIR + the runtime prefix; the unit names
# the runtime paths, never the staging directory.
stage="$WORK/stage"
DESTDIR="$stage" cmake --install "$BUILD" --prefix /opt/rumwatch >"$WORK/install2.log" 2>&1 ||
  { cat "$WORK/install2.log" >&2; fail "DESTDIR install"; }
sunit="$stage/opt/rumwatch/lib/systemd/system/rumwatch.service"
[ -x "$stage/opt/rumwatch/bin/rumwatch" ] || fail "DESTDIR: no opt/rumwatch/bin/rumwatch"
[ -f "$stage/opt/rumwatch/etc/rumwatch/rumwatch.conf" ] || fail "DESTDIR: no config"
grep -qx "ExecStart=/opt/rumwatch/bin/rumwatch run -c /opt/rumwatch/etc/rumwatch/rumwatch.conf" \
  "$sunit" || fail "DESTDIR: $(grep ExecStart= "$sunit")"
grep -q "$stage" "$sunit" && fail "DESTDIR: the staging directory leaked into the unit"
ok "DESTDIR install for prefix /opt/rumwatch"
