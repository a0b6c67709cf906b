/* Fuzz target: alert lines -> AM alerts -> notifications -> every
 * receiver's request body (notifiers/alertmodel.h, notifiers/notifier.h).
 *
 * Alert lines come back from the outbox on disk, so the model must take any
 * JSON. The input is parsed as the delivery thread parses a line (jansson,
 * flags 0); an object is one alert line, an array up to 8 lines (one group).
 * Invariants: an object always gives an AM alert with the documented shape
 * (status, string labels, a fingerprint that matches the labels); every
 * notifier formats the notification (rc 0) into a body that is valid JSON
 * (so valid UTF-8) of exactly body_len bytes, a URL, and header lines
 * without CR/LF -- with and without sendTime, with and without a cap on the
 * alerts listed. */
#include <jansson.h>

#include "notifiers/alertmodel.h"
#include "notifiers/notifier.h"
#include "tests/fuzz/fuzz.h"

#define MAX_LINES 8

static const char *const types[] = {"webhook", "slack", "alertmanager", "pagerduty"};

static struct rw_notifier_cfg make_cfg(const char *type, int max_alerts)
{
    struct rw_notifier_cfg c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "fuzz");
    snprintf(c.type, sizeof c.type, "%s", type);
    snprintf(c.url, sizeof c.url, "%s",
             strcmp(type, "pagerduty") == 0 ? RW_PAGERDUTY_URL : "https://hooks.example.com/x");
    c.timeout = 5;
    c.backoff = 1;
    c.max_backoff = 60;
    c.send_resolved = 1;
    c.max_alerts = max_alerts;
    c.nheaders = 1;
    snprintf(c.headers[0].name, sizeof c.headers[0].name, "X-Team");
    snprintf(c.headers[0].value, sizeof c.headers[0].value, "web");
    c.nlinks = 2;
    snprintf(c.links[0].text, sizeof c.links[0].text, "Runbook");
    snprintf(c.links[0].url, sizeof c.links[0].url, "https://runbooks.example.com/rum?a=1&b=2");
    snprintf(c.links[1].text, sizeof c.links[1].text, "Dashboard <RUM> \xc3\xa9");
    snprintf(c.links[1].url, sizeof c.links[1].url, "https://grafana.example.com/d/rum");
    snprintf(c.routing_key, sizeof c.routing_key, "R0UTINGKEY0123456789abcdef012345");
    return c;
}

static void check_am(const json_t *am)
{
    const char *st = json_string_value(json_object_get(am, "status"));
    FUZZ_CHECK(st && (strcmp(st, "firing") == 0 || strcmp(st, "resolved") == 0), "status");
    const json_t *labels = json_object_get(am, "labels");
    FUZZ_CHECK(json_is_object(labels), "labels");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)labels, k, v)
        FUZZ_CHECK(json_is_string(v), "label %s is not a string", k);
    char fp[17];
    rw_am_fingerprint_hex(rw_am_fingerprint(labels), fp);
    const char *got = json_string_value(json_object_get(am, "fingerprint"));
    FUZZ_CHECK(got && strcmp(got, fp) == 0, "fingerprint %s, labels say %s", got ? got : "-", fp);
    FUZZ_CHECK(json_is_string(json_object_get(am, "startsAt")) &&
                   json_is_string(json_object_get(am, "endsAt")),
               "startsAt/endsAt");
}

static void check_format(const json_t *n)
{
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const struct rw_notifier *nt = rw_notifier_find(types[t]);
        FUZZ_CHECK(nt && nt->format, "notifier %s", types[t]);
        for (int max = 0; max <= 1; max++) {
            struct rw_notifier_cfg cfg = make_cfg(types[t], max);
            struct rw_http_req req;
            memset(&req, 0x5A, sizeof req);
            int rc = nt->format(&cfg, n, &req);
            FUZZ_CHECK(rc == 0, "%s: format failed: %d", types[t], rc);
            FUZZ_CHECK(req.url && req.body && req.content_type, "%s: empty request", types[t]);
            FUZZ_CHECK(strlen(req.body) == req.body_len, "%s: body_len %zu, strlen %zu",
                       types[t], req.body_len, strlen(req.body));
            json_error_t jerr;
            json_t *b = json_loadb(req.body, req.body_len, 0, &jerr);
            FUZZ_CHECK(b, "%s: body is not JSON: %s\n%s", types[t], jerr.text, req.body);
            json_decref(b);
            FUZZ_CHECK(req.nheaders >= 0 && req.nheaders <= RW_HTTP_MAX_HEADERS, "nheaders");
            for (int h = 0; h < req.nheaders; h++)
                FUZZ_CHECK(!strpbrk(req.headers[h], "\r\n"), "%s: CR/LF in header %s", types[t],
                           req.headers[h]);
            rw_http_req_clear(&req);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *in = json_loadb((const char *)data, size, 0, NULL);
    if (!in)
        return 0;
    const char *ext = (size & 1) ? "https://rw.example.com/" : NULL;
    json_t *lines[MAX_LINES];
    size_t nlines = 0;
    if (json_is_array(in)) {
        for (size_t i = 0; i < json_array_size(in) && nlines < MAX_LINES; i++)
            lines[nlines++] = json_array_get(in, i);
    } else {
        lines[nlines++] = in;
    }

    json_t *alerts = json_array();
    FUZZ_CHECK(alerts, "oom");
    for (size_t i = 0; i < nlines; i++) {
        json_t *am = rw_alert_to_am(lines[i], ext);
        FUZZ_CHECK(!am == !json_is_object(lines[i]), "an object must give an AM alert");
        if (!am)
            continue;
        check_am(am);
        json_array_append_new(alerts, am);
    }
    if (json_array_size(alerts) > 0) {
        const json_t *labels = json_object_get(json_array_get(alerts, 0), "labels");
        char *key = rw_am_group_key("{}", labels);
        FUZZ_CHECK(key, "group key");
        json_t *n = rw_notification_new("fuzz", key, labels, ext, json_incref(alerts));
        FUZZ_CHECK(n, "notification_new");
        check_format(n);
        json_object_set_new(n, "sendTime", json_integer(1762154940123));
        check_format(n);
        json_decref(n);
        free(key);

        json_t *single = rw_notification_single("fuzz", lines[0], ext);
        if (json_is_object(lines[0])) {
            FUZZ_CHECK(single, "notification_single");
            check_format(single);
        }
        json_decref(single);
    }
    json_decref(alerts);
    json_decref(in);
    return 0;
}
