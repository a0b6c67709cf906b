/* The alert model: Prometheus fingerprint vectors, RFC 3339 times, alert
 * lines -> AM alerts -> notifications against tests/fixtures/notify/.
 *
 * RW_UPDATE_FIXTURES=1 rewrites the expected files from the code (review the
 * diff before committing); without it every mismatch fails. The notification
 * fixtures written here are the inputs of the formatter tests. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notifiers/alertmodel.h"
#include "tests/unit/check.h"
#include "tests/unit/fixture.h"

#define EXT_URL "https://rumwatch.example.com/"
#define SEND_TIME 1762156500000.0 /* a fixed "now" for formatters that need one */

static json_t *load(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, FIXTURE_NOTIFY_DIR "%s", name);
    return fixture_load_path(path);
}

/* Compare got with the fixture `name` (parsed, json_equal); or write it. */
static json_t *labels_of(const char *k1, ...)
{
    json_t *o = json_object();
    va_list ap;
    va_start(ap, k1);
    for (const char *k = k1; k; k = va_arg(ap, const char *))
        json_object_set_new(o, k, json_string(va_arg(ap, const char *)));
    va_end(ap);
    return o;
}

static void test_fingerprint(void)
{
    /* Vectors from prometheus/common model/signature_test.go: Alertmanager
     * computes these same numbers for the same label sets. */
    json_t *empty = json_object();
    CHECK(rw_am_fingerprint(empty) == 14695981039346656037ULL);
    json_t *a = labels_of("name", "garland, briggs", "fear", "love is not enough", NULL);
    CHECK(rw_am_fingerprint(a) == 5799056148416392346ULL);
    json_t *one = labels_of("first-label", "first-label-value", NULL);
    CHECK(rw_am_fingerprint(one) == 5146282821936882169ULL);
    json_t *two =
        labels_of("first-label", "first-label-value", "second-label", "second-label-value", NULL);
    CHECK(rw_am_fingerprint(two) == 3195800080984914717ULL);
    json_t *three = labels_of("third-label", "third-label-value", "first-label",
                              "first-label-value", "second-label", "second-label-value", NULL);
    CHECK(rw_am_fingerprint(three) == 13843036195897128121ULL);

    /* Order of insertion is irrelevant; any change of name or value matters. */
    json_t *b = labels_of("fear", "love is not enough", "name", "garland, briggs", NULL);
    CHECK(rw_am_fingerprint(a) == rw_am_fingerprint(b));
    json_t *c = labels_of("name", "garland, briggs", "fear", "love is not enough!", NULL);
    CHECK(rw_am_fingerprint(a) != rw_am_fingerprint(c));
    /* The separator keeps name/value boundaries apart: {ab: c} != {a: bc}. */
    json_t *d1 = labels_of("ab", "c", NULL), *d2 = labels_of("a", "bc", NULL);
    CHECK(rw_am_fingerprint(d1) != rw_am_fingerprint(d2));
    /* Non-string members are not labels. */
    json_object_set_new(b, "n", json_integer(3));
    CHECK(rw_am_fingerprint(a) == rw_am_fingerprint(b));
    CHECK(rw_am_fingerprint(NULL) == 14695981039346656037ULL);

    char hex[17];
    rw_am_fingerprint_hex(5799056148416392346ULL, hex);
    CHECK_STR(hex, "507a62d79ee76c9a");
    rw_am_fingerprint_hex(1, hex);
    CHECK_STR(hex, "0000000000000001");
    json_decref(empty);
    json_decref(a);
    json_decref(one);
    json_decref(two);
    json_decref(three);
    json_decref(b);
    json_decref(c);
    json_decref(d1);
    json_decref(d2);
}

static void test_time(void)
{
    char buf[RW_AM_TIME_MAX];
    CHECK_INT(rw_am_time(buf, sizeof buf, 1762045260000.0), 0);
    CHECK_STR(buf, "2025-11-02T01:01:00.000Z");
    CHECK_INT(rw_am_time(buf, sizeof buf, 1762045260123.0), 0);
    CHECK_STR(buf, "2025-11-02T01:01:00.123Z");
    CHECK_INT(rw_am_time(buf, sizeof buf, 1762045260123.9), 0); /* sub-ms: floored */
    CHECK_STR(buf, "2025-11-02T01:01:00.123Z");
    CHECK_INT(rw_am_time(buf, sizeof buf, 0), 0);
    CHECK_STR(buf, "1970-01-01T00:00:00.000Z");
    CHECK_INT(rw_am_time(buf, sizeof buf, -1), 0); /* 1 ms before the epoch */
    CHECK_STR(buf, "1969-12-31T23:59:59.999Z");
    CHECK_INT(rw_am_time(buf, sizeof buf, 951782400000.0), 0); /* leap day 2000 */
    CHECK_STR(buf, "2000-02-29T00:00:00.000Z");
    CHECK_INT(rw_am_time(buf, sizeof buf, 253402300799999.0), 0);
    CHECK_STR(buf, "9999-12-31T23:59:59.999Z");
    CHECK_INT(rw_am_time(buf, sizeof buf, -62135596800000.0), 0);
    CHECK_STR(buf, "0001-01-01T00:00:00.000Z"); /* padded, not "1-01-01" */
    CHECK_INT(rw_am_time(buf, sizeof buf, 253402300800000.0), -EINVAL);
    CHECK_STR(buf, RW_AM_ZERO_TIME);
    CHECK_INT(rw_am_time(buf, sizeof buf, NAN), -EINVAL);
    CHECK_STR(buf, RW_AM_ZERO_TIME);
    CHECK_INT(rw_am_time(buf, sizeof buf, INFINITY), -EINVAL);
    CHECK_INT(rw_am_time(NULL, 0, 0), -EINVAL);
}

static void test_values(void)
{
    char b[64];
    static const struct {
        const char *metric, *stat, *det;
        double v;
        const char *want;
    } cases[] = {
        {"lcp", "p75", "robust_z", 4100.5, "4.1 s"},
        {"lcp", "p75", NULL, 246.2, "246 ms"},
        {"inp", "p90", NULL, 999.7, "1.0 s"},
        {"cls", "p75", NULL, 0.2534, "0.253"},
        {"error_rate", "rate", NULL, 0.023, "2.3%"},
        {"js_errors", "rate", NULL, 0.0004, "0.04%"},
        {"views", "count", NULL, 1234, "1234"},
        {"custom", "mean", NULL, 3.14159, "3.14"},
        {"custom", "mean", NULL, 2.5e7, "2.5e+07"},
        {"lcp", "p75", "rating_shift", 0.619048, "61.9%"}, /* a share, not ms */
        {NULL, NULL, NULL, 7, "7"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rw_am_format_value(b, sizeof b, cases[i].v, cases[i].metric, cases[i].stat, cases[i].det);
        CHECK_STR(b, cases[i].want);
    }
    rw_am_format_value(b, sizeof b, NAN, "lcp", "p75", NULL);
    CHECK_STR(b, "n/a");
}

static void test_alert_fixtures(void)
{
    json_t *line = load("line_firing.json");
    json_t *before = json_deep_copy(line);
    json_t *am = rw_alert_to_am(line, EXT_URL);
    CHECK(json_equal(line, before)); /* borrowed line untouched */
    fixture_expect(am, "am_firing.json");
    if (am) {
        const json_t *l = json_object_get(am, "labels");
        CHECK_STR(json_string_value(json_object_get(am, "status")), "firing");
        CHECK_STR(json_string_value(json_object_get(l, "alertname")), "lcp_slowdown");
        CHECK_STR(json_string_value(json_object_get(l, "page")), "/product/?");
        CHECK_STR(json_string_value(json_object_get(l, "device")), "mobile");
        CHECK_STR(json_string_value(json_object_get(am, "startsAt")), "2025-11-03T07:27:00.000Z");
        CHECK_STR(json_string_value(json_object_get(am, "endsAt")), RW_AM_ZERO_TIME);
        char fp[17];
        rw_am_fingerprint_hex(rw_am_fingerprint(l), fp);
        CHECK_STR(json_string_value(json_object_get(am, "fingerprint")), fp);
        char gen[128];
        snprintf(gen, sizeof gen, "https://rumwatch.example.com/api/alerts?fingerprint=%s", fp);
        CHECK_STR(json_string_value(json_object_get(am, "generatorURL")), gen);
        CHECK(json_equal(json_object_get(am, "evidence"), json_object_get(line, "evidence")));
        CHECK(json_equal(json_object_get(am, "rumwatch"), line));
        CHECK_STR(
            json_string_value(json_object_get(json_object_get(am, "annotations"), "description")),
            "z=4.0 vs median of 60 windows. Observed 8.4 s, expected 4.5 s (normal up to "
            "7.7 s). Traffic: 641 views/h, 61.9% of page.");
    }

    json_t *rline = load("line_resolved.json");
    json_t *ram = rw_alert_to_am(rline, EXT_URL);
    fixture_expect(ram, "am_resolved.json");
    if (am && ram) {
        /* Firing and resolution of one series: one fingerprint. */
        CHECK_STR(json_string_value(json_object_get(ram, "fingerprint")),
                  json_string_value(json_object_get(am, "fingerprint")));
        CHECK_STR(json_string_value(json_object_get(ram, "status")), "resolved");
        CHECK_STR(json_string_value(json_object_get(ram, "startsAt")), "2025-11-03T07:27:00.000Z");
        CHECK_STR(json_string_value(json_object_get(ram, "endsAt")), "2025-11-03T07:54:00.000Z");
    }
    json_decref(am);
    json_decref(ram);
    json_decref(rline);
    json_decref(before);
    json_decref(line);
}

static void test_labels(void)
{
    json_t *line = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:{s:s,s:s,s:s,s:i,s:s},s:{s:s,s:s,s:i}}",
                             "state", "firing", "rule", "conv", "severity", "critical", "metric",
                             "custom", "stat", "per_view", "app", "shop", "scope", "page", "/cart",
                             "metric", "add_to_cart", "app", "shop", "shard", 7, "severity", "x",
                             "labels", "team", "web", "rule", "hijack", "n", 3);
    json_t *am = rw_alert_to_am(line, NULL);
    const json_t *l = json_object_get(am, "labels");
    CHECK_STR(json_string_value(json_object_get(l, "alertname")), "conv");
    CHECK_STR(json_string_value(json_object_get(l, "rule")), "conv"); /* custom cannot override */
    CHECK_STR(json_string_value(json_object_get(l, "severity")), "critical");
    CHECK_STR(json_string_value(json_object_get(l, "metric")), "custom");
    CHECK_STR(json_string_value(json_object_get(l, "scope_metric")), "add_to_cart");
    CHECK_STR(json_string_value(json_object_get(l, "scope_severity")), "x");
    CHECK(json_object_get(l, "scope_app") == NULL); /* same value as app: not repeated */
    CHECK_STR(json_string_value(json_object_get(l, "app")), "shop");
    CHECK_STR(json_string_value(json_object_get(l, "shard")), "7"); /* non-string as JSON text */
    CHECK_STR(json_string_value(json_object_get(l, "team")), "web");
    CHECK(json_object_get(l, "n") == NULL);
    CHECK_INT(json_object_size(l), 11);
    CHECK_STR(json_string_value(json_object_get(am, "generatorURL")), "");
    CHECK_STR(json_string_value(json_object_get(json_object_get(am, "annotations"), "summary")),
              "conv on page=/cart, metric=add_to_cart, app=shop, shard=?, severity=x");
    CHECK(json_is_null(json_object_get(am, "evidence")));
    CHECK(json_is_null(json_object_get(am, "value")));
    json_decref(am);
    json_decref(line);

    /* Almost nothing: defaults, still a valid alert. */
    json_t *empty = json_object();
    am = rw_alert_to_am(empty, "http://x/");
    l = json_object_get(am, "labels");
    CHECK_STR(json_string_value(json_object_get(l, "alertname")), "unnamed_rule");
    CHECK_STR(json_string_value(json_object_get(l, "severity")), "warning");
    CHECK_INT(json_object_size(l), 3);
    CHECK_STR(json_string_value(json_object_get(am, "status")), "firing");
    CHECK_STR(json_string_value(json_object_get(am, "startsAt")), RW_AM_ZERO_TIME);
    CHECK_STR(json_string_value(json_object_get(json_object_get(am, "annotations"), "summary")),
              "unnamed_rule app-wide");
    CHECK_STR(json_string_value(json_object_get(json_object_get(am, "annotations"), "description")),
              "");
    const char *gen = json_string_value(json_object_get(am, "generatorURL"));
    CHECK(gen && strncmp(gen, "http://x/api/alerts?fingerprint=", 32) == 0);
    json_decref(am);
    json_decref(empty);

    /* Custom annotations are merged (and may replace ours). */
    line = json_pack("{s:s,s:s,s:{s:s,s:s,s:i}}", "rule", "r", "summary", "S", "annotations",
                     "runbook_url", "https://rb/", "summary", "Custom", "bad", 1);
    am = rw_alert_to_am(line, NULL);
    const json_t *an = json_object_get(am, "annotations");
    CHECK_STR(json_string_value(json_object_get(an, "runbook_url")), "https://rb/");
    CHECK_STR(json_string_value(json_object_get(an, "summary")), "Custom");
    CHECK(json_object_get(an, "bad") == NULL);
    json_decref(am);
    json_decref(line);

    json_t *arr = json_array();
    CHECK(rw_alert_to_am(arr, NULL) == NULL);
    CHECK(rw_alert_to_am(NULL, NULL) == NULL);
    json_decref(arr);
}

static void test_group_key(void)
{
    json_t *gl = labels_of("page", "/checkout", "alertname", "lcp \"slow\"\n\\", NULL);
    char *k = rw_am_group_key("{}/{team=\"web\"}", gl);
    CHECK_STR(k, "{}/{team=\"web\"}:{alertname=\"lcp \\\"slow\\\"\\n\\\\\", page=\"/checkout\"}");
    free(k);
    k = rw_am_group_key(NULL, NULL);
    CHECK_STR(k, "{}:{}");
    free(k);
    json_decref(gl);
}

/* The notification fixtures: written here, read by test_notifiers. */
static json_t *with_send_time(json_t *n)
{
    if (n)
        json_object_set_new(n, "sendTime", json_integer((json_int_t)SEND_TIME));
    return n;
}

static json_t *am_of(const char *fixture)
{
    json_t *line = load(fixture);
    json_t *am = rw_alert_to_am(line, EXT_URL);
    json_decref(line);
    return am;
}

static void test_notifications(void)
{
    json_t *line = load("line_firing.json");
    json_t *n = with_send_time(rw_notification_single("ops", line, EXT_URL));
    fixture_expect(n, "single_firing.notification.json");
    if (n) {
        CHECK_STR(json_string_value(json_object_get(n, "status")), "firing");
        CHECK_STR(json_string_value(json_object_get(n, "receiver")), "ops");
        CHECK_INT(json_array_size(json_object_get(n, "alerts")), 1);
        const json_t *a0 = json_array_get(json_object_get(n, "alerts"), 0);
        CHECK(json_equal(json_object_get(n, "groupLabels"), json_object_get(a0, "labels")));
        CHECK(json_equal(json_object_get(n, "commonLabels"), json_object_get(a0, "labels")));
        CHECK(json_equal(json_object_get(n, "commonAnnotations"),
                         json_object_get(a0, "annotations")));
        char *key = rw_am_group_key("{}", json_object_get(a0, "labels"));
        CHECK_STR(json_string_value(json_object_get(n, "groupKey")), key);
        free(key);
        CHECK_INT(json_integer_value(json_object_get(n, "truncatedAlerts")), 0);
        CHECK_STR(json_string_value(json_object_get(n, "externalURL")), EXT_URL);
    }
    json_decref(n);
    json_decref(line);

    line = load("line_resolved.json");
    n = with_send_time(rw_notification_single("ops", line, EXT_URL));
    fixture_expect(n, "single_resolved.notification.json");
    CHECK_STR(json_string_value(json_object_get(n, "status")), "resolved");
    json_decref(n);
    json_decref(line);

    /* A group by page: two rules firing, one resolved. */
    json_t *alerts = json_array();
    json_array_append_new(alerts, am_of("line_rating.json"));
    json_array_append_new(alerts, am_of("line_page.json"));
    json_array_append_new(alerts, am_of("line_firing.json"));
    json_array_append_new(alerts, am_of("line_regression_resolved.json"));
    json_t *gl = labels_of("page", "/product/?", NULL);
    char *key = rw_am_group_key("{}/{team=\"web\"}", gl);
    n = with_send_time(rw_notification_new("ops", key, gl, EXT_URL, alerts));
    fixture_expect(n, "group.notification.json");
    if (n) {
        CHECK_STR(json_string_value(json_object_get(n, "status")), "firing");
        const json_t *cl = json_object_get(n, "commonLabels");
        CHECK_INT(json_object_size(cl), 5);
        CHECK_STR(json_string_value(json_object_get(cl, "page")), "/product/?");
        CHECK_STR(json_string_value(json_object_get(cl, "metric")), "lcp");
        CHECK(json_object_get(cl, "alertname") == NULL);
        CHECK(json_object_get(cl, "device") == NULL); /* only one alert has it */
        CHECK_INT(json_object_size(json_object_get(n, "commonAnnotations")), 0);
        CHECK(json_equal(json_object_get(n, "groupLabels"), gl));
    }
    json_decref(n);
    free(key);
    json_decref(gl);

    /* Everything resolved. */
    alerts = json_array();
    json_array_append_new(alerts, am_of("line_page_resolved.json"));
    json_array_append_new(alerts, am_of("line_resolved.json"));
    gl = labels_of("alertname", "lcp_slowdown", NULL);
    key = rw_am_group_key("{}", gl);
    n = with_send_time(rw_notification_new("ops", key, gl, EXT_URL, alerts));
    fixture_expect(n, "group_resolved.notification.json");
    CHECK_STR(json_string_value(json_object_get(n, "status")), "resolved");
    CHECK_STR(json_string_value(json_object_get(json_object_get(n, "commonLabels"), "alertname")),
              "lcp_slowdown");
    json_decref(n);
    free(key);
    json_decref(gl);

    /* Empty and odd input. */
    n = rw_notification_new(NULL, NULL, NULL, NULL, json_array());
    CHECK(n != NULL);
    CHECK_STR(json_string_value(json_object_get(n, "status")), "resolved");
    CHECK_INT(json_object_size(json_object_get(n, "commonLabels")), 0);
    CHECK_STR(json_string_value(json_object_get(n, "receiver")), "");
    json_decref(n);
    CHECK(rw_notification_new("r", "k", NULL, NULL, json_object()) == NULL); /* stolen, freed */
    CHECK(rw_notification_new("r", "k", NULL, NULL, NULL) == NULL);
    json_t *s = json_string("x");
    CHECK(rw_notification_single("r", s, NULL) == NULL);
    json_decref(s);
    /* An alert without status counts as firing. */
    alerts = json_array();
    json_array_append_new(alerts, json_pack("{s:{s:s}}", "labels", "a", "b"));
    n = rw_notification_new("r", "k", NULL, NULL, alerts);
    CHECK_STR(json_string_value(json_object_get(n, "status")), "firing");
    json_decref(n);
}

int main(void)
{
    test_fingerprint();
    test_time();
    test_values();
    test_alert_fixtures();
    test_labels();
    test_group_key();
    test_notifications();
    if (fixture_updating())
        printf("fixtures rewritten: review `git diff tests/fixtures/notify`\n");
    TEST_DONE();
}
