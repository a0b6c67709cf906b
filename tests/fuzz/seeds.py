#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: tests/fuzz/corpus/<target>/.

Seeds are small, meaningful inputs the fuzzer mutates from: the schema's
examples and edge cases (decode), the page-name test vectors (pagenorm), the
default config and every bad config (config), the alert-line fixtures
(notify). Run from anywhere; it rewrites only the files named "seed-*", so
regression inputs added by hand ("crash-*", "regress-*") stay.

    python3 tests/fuzz/seeds.py
"""
import gzip
import hashlib
import json
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CORPUS = os.path.join(ROOT, "tests", "fuzz", "corpus")


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def clear(target):
    d = os.path.join(CORPUS, target)
    if os.path.isdir(d):
        for n in os.listdir(d):
            if n.startswith("seed-"):
                os.unlink(os.path.join(d, n))


def ev(**kw):
    e = {"v": 1, "type": "view", "ts": 1762041601080, "page": "/product/48213"}
    e.update(kw)
    return json.dumps(e, separators=(",", ":"))


def decode_seeds():
    t = "decode"
    clear(t)
    # docs/schema.md's examples: one of each type.
    write(t, "view", ev(seg={"device": "mobile", "country": "DE", "browser": "chrome"},
                        vitals={"ttfb": 246.8, "fcp": 524.4, "lcp": 1535.3, "inp": 38.0, "cls": 0.0513},
                        view_id="v1", session_id="s1"))
    write(t, "error", ev(type="error", ts=1762041601900, page="/checkout", app="shop",
                         seg={"device": "desktop"}, error={"kind": "TypeError", "message": "..."}))
    write(t, "metric", ev(type="metric", ts=1762041602300, page="/checkout", app="shop",
                          seg={"device": "mobile"}, name="add_to_cart", value=1))
    write(t, "metric_bare", ev(type="metric", page="/search", name="search.results_ms"))
    write(t, "metric_neg", ev(type="metric", page="/cart", name="coupon:applied", value=-5.5e-3))
    # Real traffic: the first lines of the bundled sample.
    with gzip.open(os.path.join(ROOT, "data", "sample.ndjson.gz"), "rt") as f:
        kinds = {}
        for line in f:
            k = json.loads(line)["type"]
            if kinds.get(k, 0) < 2:
                kinds[k] = kinds.get(k, 0) + 1
                write(t, "sample_%s_%d" % (k, kinds[k]), line.rstrip("\n"))
            if len(kinds) == 3 and all(v >= 2 for v in kinds.values()):
                break
    # Edge cases.
    write(t, "huge_page", ev(page="/" + "a" * 600))
    write(t, "page_512", ev(page="/" + "b" * 511))
    write(t, "huge_seg", ev(seg={"device": "x" * 5000}))
    write(t, "huge_app", ev(app="A" * 200))
    write(t, "many_seg", ev(seg={"k%d" % i: "v%d" % i for i in range(20)}))
    write(t, "nan", '{"v":1,"type":"view","ts":1762041601080,"page":"/","vitals":{"lcp":NaN}}')
    write(t, "infinity", '{"v":1,"type":"metric","ts":1762041601080,"page":"/","name":"x","value":Infinity}')
    write(t, "neg_infinity", '{"v":1,"type":"view","ts":-Infinity,"page":"/"}')
    write(t, "overflow", '{"v":1,"type":"view","ts":1762041601080,"page":"/","vitals":{"lcp":1e999}}')
    write(t, "bigint", '{"v":1,"type":"view","ts":99999999999999999999,"page":"/"}')
    write(t, "deep_array", '{"v":1,"type":"view","ts":1762041601080,"page":"/","x":' + "[" * 3000 + "]" * 3000 + "}")
    write(t, "deep_object", '{"v":1,"type":"view","ts":1762041601080,"page":"/","x":' + '{"a":' * 2047 + "1" + "}" * 2047 + "}")
    write(t, "invalid_utf8", b'{"v":1,"type":"view","ts":1762041601080,"page":"/\xc3(\xff","seg":{"a":"\xed\xa0\x80"}}')
    write(t, "overlong_utf8", b'{"v":1,"type":"view","ts":1762041601080,"page":"/\xc0\xaf"}')
    write(t, "surrogates", '{"v":1,"type":"view","ts":1762041601080,"page":"/\\ud83d\\ude00","seg":{"a":"\\ud800"}}')
    write(t, "nul_escape", '{"v":1,"type":"view","ts":1762041601080,"page":"/a\\u0000b"}')
    write(t, "nul_after_number", b'{"v":1,"type":"view","ts":1762041601080\x00,"page":"/"}')
    write(t, "duplicate_key", '{"v":1,"type":"view","type":"view","ts":1762041601080,"page":"/"}')
    write(t, "escaped_keys", '{"\\u0076":1,"typ\\u0065":"view","ts":1762041601080,"p\\u0061ge":"/\\/x"}')
    write(t, "ts_seconds", ev(ts=1762041601))
    write(t, "ts_real", '{"v":1,"type":"view","ts":1.7620416010805e12,"page":"/"}')
    write(t, "url_page", ev(page="https://shop.example.com/de/cart/12?x=1#y"))
    write(t, "not_object", '[{"v":1}]')
    write(t, "truncated", ev()[:-7])
    write(t, "vital_bounds", ev(vitals={"lcp": 3600000, "cls": 100, "ttfb": -0.0, "inp": None}))
    write(t, "vital_bad", ev(vitals={"lcp": -1, "cls": "x"}))


PAGES = ["/product/48213", "/product/48213?ref=x#top", "https://shop.example.com/a/b/",
         "HTTP://Shop.Example.COM:8080/Cart", "http://user@host/p/12", "https://example.com?x=1",
         "/users/{userId}/orders", "/:lang/p/99", "/docs/[...slug]", "/x/*/12",
         "/order/550e8400-e29b-41d4-a716-446655440000", "/file/0123456789abcdef0123",
         "/café/١٢", "//a///b", "", "?x=1", "http:/x/1", "1http://h/x",
         "/blog/my-first-post", "/en/blog/my-post", "https://shop.example.com/de/cart/",
         "/static/js/app.3f9a1c.js", "/u/alice/orders/7", "/a/a/a/a", "/index.html",
         "/" + "p" * 511, "/" + "p" * 512, "https://h/" + "q" * 2000 + "?a=1"]


def pagenorm_seeds():
    t = "pagenorm"
    clear(t)
    # First byte: id mode (byte % 3) and rules on/off (bit 2).
    for i, p in enumerate(PAGES):
        for sel in ((0, 1, 2, 4) if i < 12 else (0, 4)):
            write(t, "%02d_%d" % (i, sel), bytes([sel]) + p.encode())
    write(t, "nul_inside", b"\x04/a/1\x00/b/2")
    write(t, "invalid_utf8", b"\x00/\xff\xfe/\xc3/12")


def config_seeds():
    t = "config"
    clear(t)
    write(t, "default", open(os.path.join(ROOT, "config", "rumwatch.conf"), "rb").read())
    bad = os.path.join(ROOT, "tests", "configs", "bad")
    for n in sorted(os.listdir(bad)):
        write(t, "bad_" + n, open(os.path.join(bad, n), "rb").read())
    write(t, "empty", "")
    write(t, "pipeline", """
notifiers = ( { name = "hook"; type = "webhook"; url = "https://h.example/x";
                headers = { X-Team = "web"; }; max_alerts = 50; },
              { name = "chat"; type = "slack"; url = "https://hooks.slack.com/x";
                links = ( { text = "Runbook"; url = "https://rb.example/rum"; } ); },
              { name = "am"; type = "alertmanager"; url = "http://127.0.0.1:9093"; resend_interval = 30.0; },
              { name = "pd"; type = "pagerduty"; routing_key_env = "RW_FUZZ_UNSET"; } );
notify = { state_dir = "/tmp/rw-fuzz-state"; external_url = "https://rw.example.com"; };
route = { receiver = "hook"; group_by = ["rule", "page"]; group_wait = "10s";
          routes = ( { receiver = "chat"; matchers = ["severity=~\\"warning|critical\\""]; continue = true; },
                     { receiver = "pd"; matchers = ["severity=\\"critical\\""]; mute_time_intervals = ["nights"]; } ); };
inhibit_rules = ( { source_matchers = ["severity=\\"critical\\""]; target_matchers = ["severity=\\"warning\\""]; equal = ["page"]; } );
time_intervals = ( { name = "nights"; time_intervals = ( { times = ( { start_time = "22:00"; end_time = "24:00"; } );
                     weekdays = ["monday:friday"]; location = "Europe/Berlin"; } ); } );
""")
    write(t, "rewrite", """
pages = { ids = "strict"; rewrite = ( { match = "^/blog/[^/]+$"; replace = "/blog/:slug"; },
                                      { match = "^/(en|de)/(.*)$"; replace = "/\\\\2"; } ); };
scopes = ( { name = "page"; dims = ["page"]; max_series = 10; } );
rules = ( { name = "lcp"; metric = "lcp"; stat = "p75"; detector = "robust_z"; scopes = ["page"]; z = 4.0; },
          { name = "cart"; metric = "custom"; match = "add_to_*"; stat = "per_view"; detector = "traffic_drop"; } );
""")


def notify_seeds():
    t = "notify"
    clear(t)
    fx = os.path.join(ROOT, "tests", "fixtures")
    for d in (fx, os.path.join(fx, "notify")):
        for n in sorted(os.listdir(d)):
            if n.endswith(".json") and (d == fx or n.startswith("line_") or n.startswith("am_")):
                # compact: the fuzzer's max_len counts bytes
                j = json.load(open(os.path.join(d, n)))
                write(t, n[:-5], json.dumps(j, separators=(",", ":"), ensure_ascii=False))
    line = json.load(open(os.path.join(fx, "notify", "line_firing.json")))
    res = dict(line, state="resolved")
    write(t, "group_of_two", json.dumps([line, res], separators=(",", ":")))
    odd = dict(line, scope={"app": "other", "page": 5, "x": [1, {"a": None}]}, value=None,
               expected="x", ts=-1e300, severity=7, labels={"alertname": "y", "team": "web\n"},
               annotations={"summary": "\u0000 \u2028 " + "é" * 3000})
    write(t, "odd_types", json.dumps(odd, separators=(",", ":")))
    write(t, "empty_object", "{}")


def main():
    decode_seeds()
    pagenorm_seeds()
    config_seeds()
    notify_seeds()
    for t in sorted(os.listdir(CORPUS)):
        print(t, len(os.listdir(os.path.join(CORPUS, t))), "seeds", file=sys.stderr)


if __name__ == "__main__":
    main()
