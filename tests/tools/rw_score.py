#!/usr/bin/env python3
"""rw_score.py - score a replay's alert lines against rw_gen incident labels.

usage: rw_score.py --labels L.json --alerts A.jsonl [--max-delay-min 10]
                   [--max-fa-per-day 1.5] [--ignore-label-delays]
                   [--exclude-warmup] [--json]

Alert lines are the engine's JSON output, one object per line; only lines with
"state": "firing" count. A firing line matches an incident when
  - its metric is the incident's metric (error incidents: error_rate, traffic
    incidents: views; custom-metric incidents: "custom" with the label's
    "name", see custom_metric_of()),
  - its ts (window end, epoch ms) lies in [start, end + 15 min],
  - its scope names the incident's series, a more general one (app-wide for a
    segment incident) or a more specific one (page x device for a page
    incident): one scope's keys and values are a subset of the other's, and
  - if the label lists "rules", its rule is one of them.
Firing lines of the same metric and time whose scope merely does not
contradict the incident's (a page alert during a mobile-wide slowdown, or an
alert of a rule the label does not list) are "related": neither detections
nor false alerts. Which rules (listed or not) named the incident's series is
reported per incident ("caught_by").
An incident is detected by its first matching firing line (grouped child lines,
those with "parent", count too); delay = that ts - start, in minutes. The
delay limit is the label's "max_delay_min" when it has one (rw_gen --suite
detectors writes one per kind: ramps and seasonal incidents take hours), else
--max-delay-min; --ignore-label-delays uses --max-delay-min for all.
False alerts are firing lines without "parent" that match no incident. Lines
repeating an episode (same fingerprint and since) are counted once; the raw
line count is reported alongside. False alerts per day = count / labelled days.
--exclude-warmup leaves out the labels' "warmup_days" (alerts before start +
warmup_days are counted apart, and the days exclude it).

Exit status: 0 pass; 1 if an incident is missed, a delay exceeds its limit,
or false alerts per day exceed --max-fa-per-day; 2 on bad input or usage.

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
CUSTOM_KINDS = {"custom_drop"}
# Alert-line fields that may carry a custom metric's name (the engine's
# custom rules; the first one present is used).
CUSTOM_NAME_FIELDS = ("name", "metric_name", "custom_name", "custom")


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
    if kind in CUSTOM_KINDS:
        return "custom"
    return inc.get("metric")


def custom_metric_of(alert):
    """(is_custom, name or None) of an alert line. A custom alert has metric
    "custom" (the name then in one of CUSTOM_NAME_FIELDS, if any), or
    "custom:NAME", or "custom.NAME"."""
    metric = alert.get("metric")
    if not isinstance(metric, str):
        return False, None
    if metric == "custom":
        scope = alert.get("scope")
        if isinstance(scope, dict) and isinstance(scope.get("metric"), str):
            return True, scope["metric"]  # rumwatch: the name is a scope dim
        for key in CUSTOM_NAME_FIELDS:
            val = alert.get(key)
            if isinstance(val, str) and val:
                return True, val
        return True, None
    for prefix in ("custom:", "custom."):
        if metric.startswith(prefix) and len(metric) > len(prefix):
            return True, metric[len(prefix):]
    return False, None


def metric_matches(inc, alert):
    if inc["_metric"] != "custom":
        return alert.get("metric") == inc["_metric"]
    is_custom, name = custom_metric_of(alert)
    if not is_custom:
        # an alert whose metric is the custom metric's bare name
        return inc.get("name") is not None and alert.get("metric") == inc.get("name")
    return name is None or inc.get("name") is None or name == inc.get("name")


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
    if not metric_matches(inc, alert):
        return False
    if not inc["start"] <= alert["ts"] <= inc["end"] + GRACE_MS:
        return False
    return scope_compatible(inc["scope"], alert["scope"])


def names_series(inc, alert):
    """Related, and its scope names the incident's series (any rule)."""
    return related(inc, alert) and scope_explains(inc["scope"], alert["scope"])


def matches(inc, alert):
    """A detection: names the incident's series, by one of its rules (if the
    label lists rules)."""
    if not names_series(inc, alert):
        return False
    rules = inc["_rules"]
    return rules is None or alert.get("rule") in rules


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
        rules = inc.get("rules")
        if isinstance(rules, str):
            rules = [rules]
        if rules is not None and (not isinstance(rules, list) or
                                  not all(isinstance(r, str) for r in rules)):
            die("labels %s: incident %s rules is not a list of names" % (path, inc["id"]))
        inc["_rules"] = set(rules) if rules else None
        md = inc.get("max_delay_min")
        if md is not None and (not isinstance(md, (int, float)) or isinstance(md, bool) or md < 0):
            die("labels %s: incident %s max_delay_min is not a number" % (path, inc["id"]))
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


def summarize(values):
    if not values:
        return None, None, None
    v = sorted(values)
    mid = len(v) // 2
    median = v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2.0
    return round(sum(v) / len(v), 2), round(median, 2), round(v[-1], 2)


def score(incidents, alerts, days, max_delay, max_fa, ignore_label_delays=False,
          warmup_end=None, warmup_days=0.0):
    results = []
    matched_lines = set()
    for inc in incidents:
        hits, caught_by = [], {}
        for a in alerts:
            if related(inc, a):
                matched_lines.add(a["_line"])
            if names_series(inc, a):
                rule = a.get("rule") or "?"
                if rule not in caught_by:
                    caught_by[rule] = round((a["ts"] - inc["start"]) / 60000.0, 2)
                if inc["_rules"] is None or a.get("rule") in inc["_rules"]:
                    hits.append(a)
        first = hits[0] if hits else None
        delay = (first["ts"] - inc["start"]) / 60000.0 if first else None
        limit = max_delay
        if not ignore_label_delays and inc.get("max_delay_min") is not None:
            limit = float(inc["max_delay_min"])
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
            "max_delay_min": limit,
            "late": delay is not None and delay > limit,
            "matching_lines": len(hits),
            "first_alert": alert_brief(first) if first else None,
            "caught_by": caught_by,
        }
        if inc.get("name") is not None:
            res["name"] = inc["name"]
        if inc["_rules"] is not None:
            res["rules"] = sorted(inc["_rules"])
        results.append(res)

    fa_lines = [a for a in alerts if a["_line"] not in matched_lines and "parent" not in a]
    warm_lines = []
    if warmup_end is not None:
        warm_lines = [a for a in fa_lines if a["ts"] < warmup_end]
        fa_lines = [a for a in fa_lines if a["ts"] >= warmup_end]
    episodes = {}
    for a in fa_lines:
        episodes.setdefault(episode_key(a), a)
    fa = sorted(episodes.values(), key=lambda a: (a["ts"], a["_line"]))
    warm_eps = {episode_key(a) for a in warm_lines}
    fa_days = days
    if warmup_end is not None and days:
        fa_days = max(days - warmup_days, 0.0) or None
    fa_per_day = len(fa) / fa_days if fa_days else float(len(fa))
    fa_by_rule = {}
    for a in fa:
        rule = a.get("rule") or "?"
        fa_by_rule[rule] = fa_by_rule.get(rule, 0) + 1

    failures = []
    for r in results:
        if not r["detected"]:
            failures.append("%s (%s %s %s) missed" % (r["id"], r["kind"], r.get("name", r["metric"]),
                                                        scope_text(r["scope"])))
        elif r["late"]:
            failures.append("%s detected after %.1f min > %.1f" % (r["id"], r["delay_min"],
                                                                  r["max_delay_min"]))
    if fa_per_day > max_fa:
        failures.append("%.2f false alerts/day > %.2f" % (fa_per_day, max_fa))
    delays = [r["delay_min"] for r in results if r["detected"]]

    per_kind = {}
    for r in results:
        k = per_kind.setdefault(r["kind"] or "?", {"incidents": 0, "found": 0, "missed": 0,
                                                   "late": 0, "_delays": [], "ids_missed": []})
        k["incidents"] += 1
        if r["detected"]:
            k["found"] += 1
            k["_delays"].append(r["delay_min"])
            k["late"] += 1 if r["late"] else 0
        else:
            k["missed"] += 1
            k["ids_missed"].append(r["id"])
    for k in per_kind.values():
        k["mean_delay_min"], k["median_delay_min"], k["max_delay_min"] = summarize(k.pop("_delays"))

    return {
        "incidents": results,
        "detected": sum(1 for r in results if r["detected"]),
        "missed": sum(1 for r in results if not r["detected"]),
        "max_delay_min": max(delays) if delays else None,
        "mean_delay_min": round(sum(delays) / len(delays), 2) if delays else None,
        "per_kind": per_kind,
        "false_alerts": [alert_brief(a) for a in fa],
        "false_alert_count": len(fa),
        "false_alert_lines": len(fa_lines),
        "false_alerts_by_rule": fa_by_rule,
        "warmup_alerts": len(warm_eps),
        "days": days,
        "fa_days": fa_days,
        "fa_per_day": round(fa_per_day, 3),
        "limits": {"max_delay_min": max_delay, "max_fa_per_day": max_fa,
                   "label_delays": not ignore_label_delays,
                   "exclude_warmup": warmup_end is not None},
        "failures": failures,
        "pass": not failures,
    }


def print_table(rep, firing, skipped, other):
    if not rep["incidents"]:
        print("(no incidents labelled)")
    with_rules = any("rules" in r for r in rep["incidents"])
    head = ("incident", "kind", "metric", "scope", "start (UTC)", "det", "delay")
    if with_rules:
        head += ("limit", "expected rules")
    rows = [head + ("caught by",)]
    for r in rep["incidents"]:
        fa = r["first_alert"]
        if fa:
            by = "%s %s" % (fa.get("rule") or "?", scope_text(fa["scope"]))
            if "parent" in fa:
                by += " (grouped)"
            delay = "%.1fm%s" % (r["delay_min"], " LATE" if r["late"] else "")
        else:
            by, delay = "-", "-"
        others = sorted((d, rule) for rule, d in r["caught_by"].items()
                        if "rules" in r and rule not in r["rules"])
        if others:
            by += "; also " + ", ".join("%s %.0fm" % (rule, d) for d, rule in others)
        metric = r["metric"] if "name" not in r else "%s:%s" % (r["metric"], r["name"])
        row = (r["id"], r["kind"] or "?", metric, scope_text(r["scope"]),
               utc(r["start"])[:16].replace("T", " "), "yes" if r["detected"] else "NO", delay)
        if with_rules:
            row += ("%gm" % r["max_delay_min"], ",".join(r.get("rules", ["(any)"])))
        rows.append(row + (by,))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = [str(c).ljust(w) for c, w in zip(row, widths)]
        print("  ".join(cells + [str(row[-1])]).rstrip())
    print()
    if len(rep["per_kind"]) > 1:
        krows = [("kind", "found", "missed", "late", "delay mean", "median", "max", "missed ids")]
        for kind in sorted(rep["per_kind"]):
            k = rep["per_kind"][kind]
            f = lambda v: "-" if v is None else "%.1fm" % v
            krows.append((kind, "%d/%d" % (k["found"], k["incidents"]), str(k["missed"]),
                          str(k["late"]), f(k["mean_delay_min"]), f(k["median_delay_min"]),
                          f(k["max_delay_min"]), ",".join(k["ids_missed"]) or "-"))
        kw = [max(len(row[i]) for row in krows) for i in range(len(krows[0]) - 1)]
        for row in krows:
            print("  ".join([c.ljust(w) for c, w in zip(row, kw)] + [row[-1]]).rstrip())
        print()
    n = len(rep["incidents"])
    md = rep["max_delay_min"]
    print("detected %d/%d, mean delay %s, max delay %s (limit %.1f min%s)" % (
        rep["detected"], n,
        "%.1f min" % rep["mean_delay_min"] if rep["mean_delay_min"] is not None else "-",
        "%.1f min" % md if md is not None else "-", rep["limits"]["max_delay_min"],
        ", or the label's" if rep["limits"]["label_delays"] and with_rules else ""))
    days = rep["fa_days"]
    print("false alerts: %d (%d firing lines) over %s = %.2f/day (limit %.2f)%s" % (
        rep["false_alert_count"], rep["false_alert_lines"],
        "%.2f days" % days if days else "? days", rep["fa_per_day"],
        rep["limits"]["max_fa_per_day"],
        "; %d more in the warm-up, not counted" % rep["warmup_alerts"]
        if rep["limits"]["exclude_warmup"] else ""))
    if rep["false_alerts_by_rule"] and len(rep["false_alerts_by_rule"]) > 1:
        print("  by rule: " + ", ".join("%s %d" % (k, v) for k, v in
                                        sorted(rep["false_alerts_by_rule"].items())))
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
    ap.add_argument("--ignore-label-delays", action="store_true",
                    help="use --max-delay-min for every incident, not the labels' max_delay_min")
    ap.add_argument("--exclude-warmup", action="store_true",
                    help="leave the labels' warmup_days out of the false-alert count and days")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    args = ap.parse_args(argv)

    labels, incidents, days = load_labels(args.labels)
    alerts, skipped, other = load_alerts(args.alerts)
    warmup_end, warmup_days = None, 0.0
    if args.exclude_warmup:
        wd = labels.get("warmup_days")
        start = labels.get("start")
        if isinstance(wd, (int, float)) and wd > 0 and isinstance(start, (int, float)):
            warmup_days = float(wd)
            warmup_end = start + wd * DAY_MS
    rep = score(incidents, alerts, days, args.max_delay_min, args.max_fa_per_day,
                args.ignore_label_delays, warmup_end, warmup_days)
    if args.json:
        rep["alert_lines"] = {"firing": len(alerts), "other": other, "unreadable": skipped}
        json.dump(rep, sys.stdout, indent=2, sort_keys=True)
        print()
    else:
        print_table(rep, len(alerts), skipped, other)
    return 0 if rep["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
