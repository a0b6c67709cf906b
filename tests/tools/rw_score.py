#!/usr/bin/env python3
"""rw_score.py - score a replay's alert lines against rw_gen incident labels.

usage: rw_score.py --labels L.json --alerts A.jsonl [--max-delay-min 10]
                   [--max-fa-per-day 1.5] [--json]

Alert lines are the engine's JSON output, one object per line; only lines with
"state": "firing" count. A firing line matches an incident when
  - its metric is the incident's metric (error incidents: error_rate, traffic
    incidents: views),
  - its ts (window end, epoch ms) lies in [start, end + 15 min], and
  - its scope names the incident's series, a more general one (app-wide for a
    segment incident) or a more specific one (page x device for a page
    incident): one scope's keys and values are a subset of the other's.
Firing lines of the same metric and time whose scope merely does not
contradict the incident's (a page alert during a mobile-wide slowdown) are
"related": neither detections nor false alerts.
An incident is detected by its first matching firing line (grouped child lines,
those with "parent", count too); delay = that ts - start, in minutes.
False alerts are firing lines without "parent" that match no incident. Lines
repeating an episode (same fingerprint and since) are counted once; the raw
line count is reported alongside. False alerts per day = count / labelled days.

Exit status: 0 pass; 1 if an incident is missed, a delay exceeds
--max-delay-min, or false alerts per day exceed --max-fa-per-day; 2 on bad
input or usage.

Standard library only.
"""

import argparse
import datetime
import json
import sys

GRACE_MS = 15 * 60 * 1000
DAY_MS = 86400000
ERROR_KINDS = {"error_burst_quiet", "error_spike_page"}
TRAFFIC_KINDS = {"traffic_drop_app", "page_outage"}


def die(msg):
    print("rw_score: " + msg, file=sys.stderr)
    sys.exit(2)


def utc(ms):
    if not isinstance(ms, (int, float)):
        return "?"
    t = datetime.datetime.fromtimestamp(ms / 1000.0, tz=datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def scope_text(scope):
    if not scope:
        return "{app}"
    return ",".join("%s=%s" % (k, scope[k]) for k in sorted(scope))


def incident_metric(inc):
    kind = inc.get("kind")
    if kind in ERROR_KINDS:
        return "error_rate"
    if kind in TRAFFIC_KINDS:
        return "views"
    return inc.get("metric")


def scope_compatible(inc_scope, alert_scope):
    for key, val in inc_scope.items():
        if key in alert_scope and str(alert_scope[key]) != str(val):
            return False
    return True


def scope_explains(inc_scope, alert_scope):
    """The alert names the incident's series, a more general one containing it
    (e.g. app-wide for a segment incident) or a more specific one inside it
    (e.g. page x device for a page incident)."""
    inc = {k: str(v) for k, v in inc_scope.items()}
    al = {k: str(v) for k, v in alert_scope.items()}
    if all(inc.get(k) == v for k, v in al.items()):
        return True
    return all(al.get(k) == v for k, v in inc.items())


def related(inc, alert):
    """Same metric and time, scope not contradicting: caused by the incident,
    so never a false alert (e.g. a page alert during a mobile-wide slowdown)."""
    if alert.get("metric") != inc["_metric"]:
        return False
    if not inc["start"] <= alert["ts"] <= inc["end"] + GRACE_MS:
        return False
    return scope_compatible(inc["scope"], alert["scope"])


def matches(inc, alert):
    """A detection: related, and its scope names the incident's series."""
    return related(inc, alert) and scope_explains(inc["scope"], alert["scope"])


def load_labels(path):
    try:
        with open(path, encoding="utf-8") as f:
            labels = json.load(f)
    except (OSError, ValueError) as e:
        die("cannot read labels %s: %s" % (path, e))
    if not isinstance(labels, dict) or not isinstance(labels.get("incidents"), list):
        die("labels %s: expected an object with an \"incidents\" list" % path)
    incidents = []
    for i, inc in enumerate(labels["incidents"]):
        if not isinstance(inc, dict):
            die("labels %s: incident %d is not an object" % (path, i))
        for key in ("start", "end"):
            if not isinstance(inc.get(key), (int, float)):
                die("labels %s: incident %d has no numeric %s" % (path, i, key))
        inc = dict(inc)
        inc.setdefault("id", "inc%d" % (i + 1))
        scope = inc.get("scope") or {}
        if not isinstance(scope, dict):
            die("labels %s: incident %s scope is not an object" % (path, inc["id"]))
        inc["scope"] = scope
        inc["_metric"] = incident_metric(inc)
        if not inc["_metric"]:
            die("labels %s: incident %s has no metric" % (path, inc["id"]))
        incidents.append(inc)
    days = labels.get("days")
    if not isinstance(days, (int, float)) or days <= 0:
        start, end = labels.get("start"), labels.get("end")
        if isinstance(start, (int, float)) and isinstance(end, (int, float)) and end > start:
            days = (end - start) / DAY_MS
        else:
            days = None
    return labels, incidents, days


def load_alerts(path):
    """Firing lines as dicts with ts/metric/scope normalized; plus counters."""
    alerts, skipped, other = [], 0, 0
    try:
        f = sys.stdin if path == "-" else open(path, encoding="utf-8")
    except OSError as e:
        die("cannot read alerts %s: %s" % (path, e))
    with f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                skipped += 1
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("ts"), (int, float)):
                skipped += 1
                continue
            if obj.get("state") != "firing":
                other += 1
                continue
            scope = obj.get("scope")
            obj["scope"] = scope if isinstance(scope, dict) else {}
            obj["_line"] = lineno
            alerts.append(obj)
    alerts.sort(key=lambda a: (a["ts"], a["_line"]))
    return alerts, skipped, other


def episode_key(alert):
    fp, since = alert.get("fingerprint"), alert.get("since")
    if fp is not None and since is not None:
        return ("episode", str(fp), str(since))
    return ("line", alert["_line"])


def alert_brief(a):
    out = {
        "ts": a["ts"],
        "utc": utc(a["ts"]),
        "rule": a.get("rule"),
        "metric": a.get("metric"),
        "stat": a.get("stat"),
        "scope": a["scope"],
        "line": a["_line"],
    }
    for key in ("value", "expected", "fingerprint", "parent", "summary"):
        if key in a:
            out[key] = a[key]
    return out


def score(incidents, alerts, days, max_delay, max_fa):
    results = []
    matched_lines = set()
    for inc in incidents:
        hits = [a for a in alerts if matches(inc, a)]
        for a in alerts:
            if related(inc, a):
                matched_lines.add(a["_line"])
        first = hits[0] if hits else None
        delay = (first["ts"] - inc["start"]) / 60000.0 if first else None
        res = {
            "id": inc["id"],
            "kind": inc.get("kind"),
            "metric": inc["_metric"],
            "scope": inc["scope"],
            "factor": inc.get("factor"),
            "start": inc["start"],
            "end": inc["end"],
            "detected": first is not None,
            "delay_min": round(delay, 2) if delay is not None else None,
            "matching_lines": len(hits),
            "first_alert": alert_brief(first) if first else None,
        }
        results.append(res)

    fa_lines = [a for a in alerts if a["_line"] not in matched_lines and "parent" not in a]
    episodes = {}
    for a in fa_lines:
        episodes.setdefault(episode_key(a), a)
    fa = sorted(episodes.values(), key=lambda a: (a["ts"], a["_line"]))
    fa_per_day = len(fa) / days if days else float(len(fa))

    failures = []
    for r in results:
        if not r["detected"]:
            failures.append("%s (%s %s %s) missed" % (r["id"], r["kind"], r["metric"],
                                                        scope_text(r["scope"])))
        elif r["delay_min"] > max_delay:
            failures.append("%s detected after %.1f min > %.1f" % (r["id"], r["delay_min"],
                                                                  max_delay))
    if fa_per_day > max_fa:
        failures.append("%.2f false alerts/day > %.2f" % (fa_per_day, max_fa))
    delays = [r["delay_min"] for r in results if r["detected"]]
    return {
        "incidents": results,
        "detected": sum(1 for r in results if r["detected"]),
        "missed": sum(1 for r in results if not r["detected"]),
        "max_delay_min": max(delays) if delays else None,
        "mean_delay_min": round(sum(delays) / len(delays), 2) if delays else None,
        "false_alerts": [alert_brief(a) for a in fa],
        "false_alert_count": len(fa),
        "false_alert_lines": len(fa_lines),
        "days": days,
        "fa_per_day": round(fa_per_day, 3),
        "limits": {"max_delay_min": max_delay, "max_fa_per_day": max_fa},
        "failures": failures,
        "pass": not failures,
    }


def print_table(rep, firing, skipped, other):
    if not rep["incidents"]:
        print("(no incidents labelled)")
    rows = [("incident", "kind", "metric", "scope", "start (UTC)", "det", "delay",
             "caught by")]
    for r in rep["incidents"]:
        fa = r["first_alert"]
        if fa:
            by = "%s %s" % (fa.get("rule") or "?", scope_text(fa["scope"]))
            if "parent" in fa:
                by += " (grouped)"
            delay = "%.1fm" % r["delay_min"]
        else:
            by, delay = "-", "-"
        rows.append((r["id"], r["kind"] or "?", r["metric"], scope_text(r["scope"]),
                     utc(r["start"])[:16].replace("T", " "), "yes" if r["detected"] else "NO",
                     delay, by))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [str(c).ljust(w) for c, w in zip(row, widths)]
        print("  ".join(cells + [str(row[-1])]).rstrip())
    print()
    n = len(rep["incidents"])
    md = rep["max_delay_min"]
    print("detected %d/%d, mean delay %s, max delay %s (limit %.1f min)" % (
        rep["detected"], n,
        "%.1f min" % rep["mean_delay_min"] if rep["mean_delay_min"] is not None else "-",
        "%.1f min" % md if md is not None else "-", rep["limits"]["max_delay_min"]))
    days = rep["days"]
    print("false alerts: %d (%d firing lines) over %s = %.2f/day (limit %.2f)" % (
        rep["false_alert_count"], rep["false_alert_lines"],
        "%.2f days" % days if days else "? days", rep["fa_per_day"],
        rep["limits"]["max_fa_per_day"]))
    for a in rep["false_alerts"]:
        print("  %s %s %s/%s %s value=%s expected=%s" % (
            a["utc"], a.get("rule"), a.get("metric"), a.get("stat"), scope_text(a["scope"]),
            a.get("value"), a.get("expected")))
    print("alert lines: %d firing, %d other states, %d unreadable" % (firing, other, skipped))
    if rep["pass"]:
        print("PASS")
    else:
        print("FAIL: " + "; ".join(rep["failures"]))


def main(argv=None):
    ap = argparse.ArgumentParser(description="Score alert lines against rw_gen labels.")
    ap.add_argument("--labels", required=True, help="labels JSON written by rw_gen --labels")
    ap.add_argument("--alerts", required=True, help="alert JSON lines ('-' = stdin)")
    ap.add_argument("--max-delay-min", type=float, default=10.0)
    ap.add_argument("--max-fa-per-day", type=float, default=1.5)
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args(argv)

    _, incidents, days = load_labels(args.labels)
    alerts, skipped, other = load_alerts(args.alerts)
    rep = score(incidents, alerts, days, args.max_delay_min, args.max_fa_per_day)
    if args.json:
        rep["alert_lines"] = {"firing": len(alerts), "other": other, "unreadable": skipped}
        json.dump(rep, sys.stdout, indent=2, sort_keys=True)
        print()
    else:
        print_table(rep, len(alerts), skipped, other)
    return 0 if rep["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
