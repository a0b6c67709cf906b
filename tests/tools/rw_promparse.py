#!/usr/bin/env python3
"""Strict parser of the Prometheus text exposition format, version 0.0.4.

    rw_promparse.py FILE      parse FILE ('-' = stdin); print the families as
                              JSON; exit 1 with "line N: what" on the first
                              violation

As a module: parse(text) -> {family: {"type", "help", "samples": [(name,
labels dict, value float)]}}, raising PromError.

Strict means every line is checked, not just read:
  - the text is UTF-8 and ends with a newline; no blank lines
  - "# HELP name text" / "# TYPE name type": at most one each per family,
    both before the family's first sample; HELP text escapes only \\\\ and \\n
  - every sample belongs to a family declared by # TYPE (no untyped strays),
    and a family's samples are contiguous
  - names match [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*
    (not __*), no label twice, label values escape only \\\\ \\" \\n
  - values parse as Go floats (NaN, +Inf, -Inf allowed); optional integer
    timestamp
  - counters: the name ends in _total, the value is >= 0 and not NaN
  - histograms: name_bucket with le, name_sum, name_count; buckets per label
    set are cumulative, end at le="+Inf", and +Inf equals _count
  - no sample (name + label set) twice
"""
import json
import math
import re
import sys

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class PromError(Exception):
    pass


def _value(s, where):
    if s in ("NaN", "+Inf", "-Inf", "Inf"):
        return float(s.replace("Inf", "inf").replace("NaN", "nan"))
    if not FLOAT.fullmatch(s):
        raise PromError(f"{where}: bad value {s!r}")
    return float(s)


def _unescape(s, allowed, where):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            if i + 1 >= len(s) or s[i + 1] not in allowed:
                raise PromError(f"{where}: bad escape in {s!r}")
            out.append({"\\": "\\", "n": "\n", '"': '"'}[s[i + 1]])
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _labels(s, i, where):
    """s[i] == '{'; returns (dict, index after '}')."""
    labels = {}
    i += 1
    while True:
        if i < len(s) and s[i] == "}":
            return labels, i + 1
        m = LABEL.match(s, i)
        if not m:
            raise PromError(f"{where}: bad label name at column {i + 1}")
        name = m.group(0)
        if name.startswith("__"):
            raise PromError(f"{where}: reserved label name {name!r}")
        if name in labels:
            raise PromError(f"{where}: label {name!r} twice")
        i = m.end()
        if s[i:i + 2] != '="':
            raise PromError(f"{where}: expected =\" after {name!r}")
        i += 2
        j = i
        while j < len(s) and s[j] != '"':
            j += 2 if s[j] == "\\" else 1
        if j >= len(s):
            raise PromError(f"{where}: unterminated label value")
        if "\n" in s[i:j]:
            raise PromError(f"{where}: raw newline in a label value")
        labels[name] = _unescape(s[i:j], '\\"n', where)
        i = j + 1
        if i < len(s) and s[i] == ",":
            i += 1
        elif i < len(s) and s[i] == "}":
            return labels, i + 1
        else:
            raise PromError(f"{where}: expected , or }} after a label")


def _family_of(name, fams):
    """The declared family a sample name belongs to, and its suffix."""
    if name in fams and fams[name]["type"] in ("counter", "gauge", "untyped", "summary"):
        return name, ""
    for suf in ("_bucket", "_sum", "_count"):
        if name.endswith(suf):
            base = name[: -len(suf)]
            f = fams.get(base)
            if f and (f["type"] == "histogram" or (f["type"] == "summary" and suf != "_bucket")):
                return base, suf
    if name in fams and fams[name]["type"] == "histogram":
        raise PromError(f"histogram sample {name!r} without _bucket/_sum/_count")
    return None, None


def parse(text):
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as e:
            raise PromError(f"not UTF-8: {e}")
    if text and not text.endswith("\n"):
        raise PromError("the last line does not end with a newline")
    fams = {}
    order = []
    current = None
    closed = set()
    seen = set()
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = f"line {n}"
        if line == "":
            raise PromError(f"{where}: blank line")
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                kind, name = parts[1], parts[2]
                if not NAME.fullmatch(name):
                    raise PromError(f"{where}: bad metric name {name!r}")
                f = fams.setdefault(name, {"type": None, "help": None, "samples": []})
                if name not in order:
                    order.append(name)
                if f["samples"]:
                    raise PromError(f"{where}: # {kind} {name} after its samples")
                rest = parts[3] if len(parts) > 3 else ""
                if kind == "HELP":
                    if f["help"] is not None:
                        raise PromError(f"{where}: second # HELP for {name}")
                    f["help"] = _unescape(rest, "\\n", where)
                else:
                    if f["type"] is not None:
                        raise PromError(f"{where}: second # TYPE for {name}")
                    if rest not in TYPES:
                        raise PromError(f"{where}: unknown type {rest!r}")
                    if rest == "counter" and not name.endswith("_total"):
                        raise PromError(f"{where}: counter {name} does not end in _total")
                    f["type"] = rest
                if current and current != name:
                    closed.add(current)
                current = name
            continue  # another comment
        m = NAME.match(line)
        if not m:
            raise PromError(f"{where}: bad metric name")
        name, i = m.group(0), m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = _labels(line, i, where)
        if i >= len(line) or line[i] != " ":
            raise PromError(f"{where}: expected a space before the value")
        fields = line[i + 1:].split(" ")
        if len(fields) not in (1, 2) or "" in fields:
            raise PromError(f"{where}: expected 'value [timestamp]'")
        value = _value(fields[0], where)
        if len(fields) == 2 and not re.fullmatch(r"-?[0-9]+", fields[1]):
            raise PromError(f"{where}: bad timestamp {fields[1]!r}")
        fam, suf = _family_of(name, fams)
        if fam is None or fams[fam]["type"] is None:
            raise PromError(f"{where}: sample {name} before (or without) its # TYPE")
        if fam in closed:
            raise PromError(f"{where}: samples of {fam} are not contiguous")
        if current and current != fam:
            closed.add(current)
        current = fam
        t = fams[fam]["type"]
        if t == "counter" and (math.isnan(value) or value < 0):
            raise PromError(f"{where}: counter {name} = {value}")
        if t == "histogram" and (suf == "_bucket") != ("le" in labels):
            raise PromError(f"{where}: 'le' belongs on _bucket samples only")
        if t == "summary" and suf == "" and "quantile" not in labels:
            raise PromError(f"{where}: summary sample without quantile")
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            raise PromError(f"{where}: sample {name}{labels} twice")
        seen.add(key)
        fams[fam]["samples"].append((name, labels, value))
    for name, f in fams.items():
        if f["type"] == "histogram":
            _check_histogram(name, f["samples"])
    return {k: fams[k] for k in order}


def _check_histogram(name, samples):
    series = {}
    for sname, labels, v in samples:
        rest = tuple(sorted((k, x) for k, x in labels.items() if k != "le"))
        s = series.setdefault(rest, {"buckets": [], "count": None, "sum": None})
        if sname.endswith("_bucket"):
            s["buckets"].append((_value(labels["le"], name), v))
        elif sname.endswith("_count"):
            s["count"] = v
        else:
            s["sum"] = v
    for rest, s in series.items():
        b = s["buckets"]
        if not b or b[-1][0] != math.inf:
            raise PromError(f"histogram {name}{dict(rest)}: no le=\"+Inf\" bucket last")
        for (l0, c0), (l1, c1) in zip(b, b[1:]):
            if not l1 > l0 or c1 < c0:
                raise PromError(f"histogram {name}{dict(rest)}: buckets not cumulative")
        if s["count"] is None or s["sum"] is None or s["count"] != b[-1][1]:
            raise PromError(f"histogram {name}{dict(rest)}: _count/_sum missing or != +Inf bucket")


def value(fams, family, sample=None, **labels):
    """The value of one sample (family's own name unless `sample`), labels matching exactly."""
    name = sample or family
    found = [v for n, l, v in fams[family]["samples"] if n == name and l == labels]
    if len(found) != 1:
        raise KeyError(f"{name}{labels}: {len(found)} samples")
    return found[0]


if __name__ == "__main__":
    data = sys.stdin.buffer.read() if sys.argv[1:] in ([], ["-"]) else open(sys.argv[1], "rb").read()
    try:
        fams = parse(data)
    except PromError as e:
        print(f"rw_promparse: {e}", file=sys.stderr)
        sys.exit(1)
    json.dump(fams, sys.stdout, indent=1, default=str)
    print()
