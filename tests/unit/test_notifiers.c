/* Notifier formatters, requests, classification and the receiver config,
 * without a network.
 *
 * Formatter fixtures: tests/fixtures/notify/<name>.notification.json (written
 * by test_alertmodel) -> <name>.<type>.json, compared as parsed JSON.
 * RW_UPDATE_FIXTURES=1 rewrites the expected bodies (review the diff). The
 * older alert-line fixtures tests/fixtures/alert_*.json feed the Slack
 * detail tests through rw_notification_single(). cwd is the source root. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"
#include "engine/log.h"
#include "notifiers/alertmodel.h"
#include "notifiers/notifier.h"
#include "notifiers/sign.h"
#include "tests/unit/check.h"
#include "tests/unit/fixture.h"

#define RKEY "R0UTINGKEY0123456789abcdef012345"

static struct rw_notifier_cfg test_cfg(const char *name, const char *type)
{
    struct rw_notifier_cfg c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "%s", name);
    snprintf(c.type, sizeof c.type, "%s", type);
    snprintf(c.url, sizeof c.url, "http://127.0.0.1:9/hook");
    c.timeout = 5;
    c.retries = 5;
    c.backoff = 1;
    c.max_backoff = 60;
    c.send_resolved = 1;
    snprintf(c.routing_key, sizeof c.routing_key, "%s", RKEY);
    return c;
}

/* The receiver every fixture body is made with. */
static struct rw_notifier_cfg fixture_cfg(const char *type)
{
    struct rw_notifier_cfg c = test_cfg("ops", type);
    if (strcmp(type, "webhook") == 0)
        snprintf(c.url, sizeof c.url, "https://hooks.example.com/rumwatch");
    else if (strcmp(type, "slack") == 0)
        snprintf(c.url, sizeof c.url, "https://hooks.slack.com/services/T000/B000/XXXX");
    else if (strcmp(type, "alertmanager") == 0)
        snprintf(c.url, sizeof c.url, "http://alertmanager.example:9093/");
    else
        c.url[0] = '\0'; /* pagerduty: the default endpoint */
    c.nheaders = 1;
    snprintf(c.headers[0].name, sizeof c.headers[0].name, "X-Team");
    snprintf(c.headers[0].value, sizeof c.headers[0].value, "web");
    if (strcmp(type, "slack") == 0 || strcmp(type, "pagerduty") == 0) {
        c.nlinks = 2;
        snprintf(c.links[0].text, sizeof c.links[0].text, "Runbook");
        snprintf(c.links[0].url, sizeof c.links[0].url, "https://runbooks.example.com/rum?a=1&b=2");
        snprintf(c.links[1].text, sizeof c.links[1].text, "Dashboard <RUM>");
        snprintf(c.links[1].url, sizeof c.links[1].url, "https://grafana.example.com/d/rum");
    }
    return c;
}

static json_t *fixture(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "tests/fixtures/%s", name);
    return fixture_load_path(path);
}

/* A one-alert notification from an old alert-line fixture. */
static json_t *single(const char *line_fixture)
{
    json_t *line = fixture(line_fixture);
    json_t *n = line ? rw_notification_single("s", line, "https://rw.example.com") : NULL;
    json_decref(line);
    return n;
}

static json_t *single_of(json_t *line_owned)
{
    json_t *n = rw_notification_single("s", line_owned, NULL);
    json_decref(line_owned);
    return n;
}

/* Format and parse the body back; NULL on any failure (counted). */
static json_t *format_cfg(const struct rw_notifier_cfg *cfg, const json_t *n,
                          struct rw_http_req *keep)
{
    const struct rw_notifier *nt = rw_notifier_find(cfg->type);
    CHECK(nt != NULL);
    if (!nt)
        return NULL;
    struct rw_http_req req;
    int rc = nt->format(cfg, n, &req);
    CHECK_INT(rc, 0);
    if (rc)
        return NULL;
    CHECK(req.url != NULL);
    CHECK_STR(req.content_type, "application/json");
    CHECK(req.body != NULL);
    CHECK_INT(strlen(req.body), req.body_len);
    json_error_t err;
    json_t *body = json_loadb(req.body, req.body_len, 0, &err);
    if (!body)
        fprintf(stderr, "body does not parse: %s\n", err.text);
    CHECK(body != NULL);
    if (keep) {
        *keep = req;
    } else {
        rw_http_req_clear(&req);
        CHECK(req.body == NULL && req.url == NULL && req.nheaders == 0);
    }
    return body;
}

static json_t *format_parse(const char *type, const json_t *n)
{
    struct rw_notifier_cfg cfg = test_cfg("s", type);
    return format_cfg(&cfg, n, NULL);
}

static size_t u8len(const char *s)
{
    size_t n = 0;
    if (!s)
        return 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static const char *ends_with_ellipsis(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return (n >= 3 && strcmp(s + n - 3, "\xE2\x80\xA6") == 0) ? s : NULL;
}

/* ---- Slack helpers -------------------------------------------------------------- */

static const json_t *att_blocks(const json_t *body)
{
    return json_object_get(json_array_get(json_object_get(body, "attachments"), 0), "blocks");
}

/* Slack's documented limits; returns the number of blocks. */
static size_t check_slack_limits(const json_t *body)
{
    const char *text = json_string_value(json_object_get(body, "text"));
    CHECK(text != NULL);
    CHECK(u8len(text) <= 3000);
    size_t chars = u8len(text);
    const json_t *top = json_object_get(body, "blocks");
    const json_t *atts = json_object_get(body, "attachments");
    CHECK(json_is_array(top) && json_array_size(top) == 1);
    CHECK(json_is_array(atts) && json_array_size(atts) == 1);
    const json_t *att = json_array_get(atts, 0);
    const char *color = json_string_value(json_object_get(att, "color"));
    CHECK(color && strlen(color) == 7 && color[0] == '#');
    CHECK_STR(json_string_value(json_object_get(att, "fallback")), text);
    const json_t *ab = json_object_get(att, "blocks");
    CHECK(json_is_array(ab));
    size_t nb = json_array_size(top) + json_array_size(ab);
    CHECK(nb >= 2 && nb <= 50);
    for (int pass = 0; pass < 2; pass++) {
        size_t i;
        const json_t *b;
        json_array_foreach(pass ? ab : top, i, b)
        {
            const char *type = json_string_value(json_object_get(b, "type"));
            CHECK(type != NULL);
            if (!type)
                continue;
            const json_t *t = json_object_get(b, "text");
            if (strcmp(type, "header") == 0) {
                CHECK(pass == 0);
                CHECK_STR(json_string_value(json_object_get(t, "type")), "plain_text");
                CHECK(u8len(json_string_value(json_object_get(t, "text"))) <= 150);
                CHECK(u8len(json_string_value(json_object_get(t, "text"))) >= 1);
                chars += u8len(json_string_value(json_object_get(t, "text")));
            } else if (strcmp(type, "section") == 0) {
                const json_t *f = json_object_get(b, "fields");
                CHECK(t || f);
                if (t) {
                    CHECK_STR(json_string_value(json_object_get(t, "type")), "mrkdwn");
                    CHECK(u8len(json_string_value(json_object_get(t, "text"))) <= 3000);
                    CHECK(u8len(json_string_value(json_object_get(t, "text"))) >= 1);
                    chars += u8len(json_string_value(json_object_get(t, "text")));
                }
                if (f) {
                    CHECK(json_array_size(f) >= 1 && json_array_size(f) <= 10);
                    size_t k;
                    const json_t *fe;
                    json_array_foreach(f, k, fe)
                    {
                        CHECK(u8len(json_string_value(json_object_get(fe, "text"))) <= 2000);
                        CHECK(u8len(json_string_value(json_object_get(fe, "text"))) >= 1);
                        chars += u8len(json_string_value(json_object_get(fe, "text")));
                    }
                }
            } else if (strcmp(type, "context") == 0) {
                const json_t *el = json_object_get(b, "elements");
                CHECK(json_array_size(el) >= 1 && json_array_size(el) <= 10);
                size_t k;
                const json_t *e;
                json_array_foreach(el, k, e)
                {
                    CHECK(u8len(json_string_value(json_object_get(e, "text"))) <= 3000);
                    chars += u8len(json_string_value(json_object_get(e, "text")));
                }
            } else {
                CHECK(!"unexpected block type");
            }
        }
    }
    CHECK(chars < 40000); /* Slack truncates messages beyond 40,000 characters */
    return nb;
}

static const char *header_text(const json_t *body)
{
    return json_string_value(json_object_get(
        json_object_get(json_array_get(json_object_get(body, "blocks"), 0), "text"), "text"));
}

/* Text of attachment section nth (sections with a text, in order). */
static const char *section_text(const json_t *body, int nth)
{
    size_t i;
    const json_t *b;
    json_array_foreach(att_blocks(body), i, b)
    {
        const json_t *t = json_object_get(b, "text");
        const char *type = json_string_value(json_object_get(b, "type"));
        if (type && strcmp(type, "section") == 0 && t && nth-- == 0)
            return json_string_value(json_object_get(t, "text"));
    }
    return NULL;
}

static int count_sections(const json_t *body)
{
    int n = 0;
    while (section_text(body, n))
        n++;
    return n;
}

/* Value of the field labelled `label` ("*Observed*\n4.1 s" -> "4.1 s"). */
static const char *field_value(const json_t *body, const char *label)
{
    static char out[4096];
    size_t i;
    const json_t *b;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "*%s*\n", label);
    json_array_foreach(att_blocks(body), i, b)
    {
        size_t k;
        const json_t *f;
        json_array_foreach(json_object_get(b, "fields"), k, f)
        {
            const char *t = json_string_value(json_object_get(f, "text"));
            if (t && strncmp(t, prefix, strlen(prefix)) == 0) {
                snprintf(out, sizeof out, "%s", t + strlen(prefix));
                return out;
            }
        }
    }
    return NULL;
}

/* Element `el` of context block nth. */
static const char *context_text(const json_t *body, int nth, int el)
{
    size_t i;
    const json_t *b;
    json_array_foreach(att_blocks(body), i, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        if (type && strcmp(type, "context") == 0 && nth-- == 0)
            return json_string_value(json_object_get(
                json_array_get(json_object_get(b, "elements"), (size_t)el), "text"));
    }
    return NULL;
}

/* The last context block's first element: the footer. */
static const char *footer_text(const json_t *body)
{
    const char *last = NULL, *t;
    for (int i = 0; (t = context_text(body, i, 0)); i++)
        last = t;
    return last;
}

static const char *att_color(const json_t *body)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(body, "attachments"), 0), "color"));
}

/* ---- registry, classification, requests -------------------------------------- */

static void test_registry(void)
{
    CHECK_STR(rw_severity_names[0], "info");
    CHECK_STR(rw_severity_names[2], "critical");
    CHECK(rw_severity_names[3] == NULL);
    CHECK_INT(rw_severity_parse("warning"), 1);
    CHECK_INT(rw_severity_parse("Critical"), -1);
    CHECK_INT(rw_severity_parse(NULL), -1);
    CHECK(rw_notifier_find("webhook") == &rw_notifier_webhook);
    CHECK(rw_notifier_find("slack") == &rw_notifier_slack);
    CHECK(rw_notifier_find("alertmanager") == &rw_notifier_alertmanager);
    CHECK(rw_notifier_find("pagerduty") == &rw_notifier_pagerduty);
    CHECK(rw_notifier_find("email") == NULL);
    CHECK(rw_notifier_find(NULL) == NULL);
    CHECK_STR(rw_notifier_type_list, "webhook, slack, alertmanager, pagerduty");
    struct rw_http_req req = {0};
    rw_http_req_clear(&req); /* empty is fine */
    rw_http_req_clear(NULL);
}

static void test_classify(void)
{
    static const struct {
        long status;
        int curl;
        enum rw_delivery_class want;
    } cases[] = {
        {200, CURLE_OK, RW_DELIVERY_OK},
        {202, CURLE_OK, RW_DELIVERY_OK}, /* PagerDuty's answer */
        {204, CURLE_OK, RW_DELIVERY_OK},
        {301, CURLE_OK, RW_DELIVERY_FAIL},
        {400, CURLE_OK, RW_DELIVERY_FAIL},
        {404, CURLE_OK, RW_DELIVERY_FAIL},
        {408, CURLE_OK, RW_DELIVERY_RETRY},
        {429, CURLE_OK, RW_DELIVERY_RETRY},
        {500, CURLE_OK, RW_DELIVERY_RETRY},
        {503, CURLE_OK, RW_DELIVERY_RETRY},
        {0, CURLE_OK, RW_DELIVERY_RETRY},
        {0, CURLE_COULDNT_CONNECT, RW_DELIVERY_RETRY},
        {0, CURLE_OPERATION_TIMEDOUT, RW_DELIVERY_RETRY},
        {0, CURLE_URL_MALFORMAT, RW_DELIVERY_FAIL},
        {0, CURLE_UNSUPPORTED_PROTOCOL, RW_DELIVERY_FAIL},
        {400, CURLE_RECV_ERROR, RW_DELIVERY_FAIL},
        {503, CURLE_RECV_ERROR, RW_DELIVERY_RETRY},
        {600, CURLE_OK, RW_DELIVERY_FAIL},
    };
    const struct rw_notifier *all[] = {&rw_notifier_webhook, &rw_notifier_slack,
                                       &rw_notifier_alertmanager, &rw_notifier_pagerduty};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_INT(rw_notifier_classify_http(cases[i].status, cases[i].curl), cases[i].want);
        for (int k = 0; k < 4; k++)
            CHECK_INT(all[k]->classify(cases[i].status, cases[i].curl), cases[i].want);
    }
}

static void test_req_headers(void)
{
    struct rw_http_req req;
    memset(&req, 0, sizeof req);
    CHECK_INT(rw_http_req_add_header(&req, "X-Team", "web"), 0);
    CHECK_STR(req.headers[0], "X-Team: web");
    /* A value with CR/LF would smuggle in a header of its own. */
    CHECK_INT(rw_http_req_add_header(&req, "X-Evil", "a\r\nX-Admin: 1"), -EINVAL);
    CHECK_INT(rw_http_req_add_header(&req, "X-Evil", "a\nb"), -EINVAL);
    CHECK_INT(rw_http_req_add_header(&req, "Bad Name", "x"), -EINVAL);
    CHECK_INT(rw_http_req_add_header(&req, "Bad:Name", "x"), -EINVAL);
    CHECK_INT(rw_http_req_add_header(&req, "", "x"), -EINVAL);
    CHECK_INT(rw_http_req_add_header(&req, "X-Empty", ""), 0);
    CHECK_INT(req.nheaders, 2);
    while (req.nheaders < RW_HTTP_MAX_HEADERS)
        CHECK_INT(rw_http_req_add_header(&req, "X-Fill", "1"), 0);
    CHECK_INT(rw_http_req_add_header(&req, "X-More", "1"), -ENOSPC);
    rw_http_req_clear(&req);
    CHECK_INT(req.nheaders, 0);

    /* A formatter carries the receiver's headers; a bad one fails the format. */
    struct rw_notifier_cfg cfg = fixture_cfg("webhook");
    json_t *n = single("alert_firing.json");
    struct rw_http_req r;
    json_t *body = format_cfg(&cfg, n, &r);
    CHECK_INT(r.nheaders, 1);
    CHECK_STR(r.headers[0], "X-Team: web");
    CHECK_STR(r.url, "https://hooks.example.com/rumwatch");
    rw_http_req_clear(&r);
    json_decref(body);
    snprintf(cfg.headers[0].value, sizeof cfg.headers[0].value, "x\r\ny");
    CHECK_INT(rw_notifier_webhook.format(&cfg, n, &r), -EINVAL);
    CHECK(r.body == NULL && r.url == NULL && r.nheaders == 0);
    json_decref(n);
}

/* ---- every formatter against its fixtures --------------------------------------- */

static void test_fixtures(void)
{
    static const char *const notifs[] = {"single_firing", "single_resolved", "group",
                                         "group_resolved"};
    static const char *const types[] = {"webhook", "slack", "alertmanager", "pagerduty"};
    static const char *const urls[] = {
        "https://hooks.example.com/rumwatch", "https://hooks.slack.com/services/T000/B000/XXXX",
        "http://alertmanager.example:9093/api/v2/alerts", RW_PAGERDUTY_URL};
    for (size_t i = 0; i < 4; i++) {
        char path[256];
        snprintf(path, sizeof path, "tests/fixtures/notify/%s.notification.json", notifs[i]);
        json_t *n = fixture_load_path(path);
        if (!n)
            continue;
        json_t *before = json_deep_copy(n);
        for (size_t t = 0; t < 4; t++) {
            struct rw_notifier_cfg cfg = fixture_cfg(types[t]);
            struct rw_http_req req;
            json_t *body = format_cfg(&cfg, n, &req);
            CHECK(json_equal(n, before)); /* the notification is borrowed, untouched */
            if (!body)
                continue;
            CHECK_STR(req.url, urls[t]);
            CHECK_INT(req.nheaders, 1);
            CHECK_STR(req.headers[0], "X-Team: web");
            char name[256];
            snprintf(name, sizeof name, "%s.%s.json", notifs[i], types[t]);
            fixture_expect(body, name);
            if (strcmp(types[t], "slack") == 0)
                check_slack_limits(body);
            rw_http_req_clear(&req);
            json_decref(body);
        }
        json_decref(before);
        json_decref(n);
    }
}

/* ---- webhook ------------------------------------------------------------------------ */

static void test_webhook(void)
{
    json_t *n = fixture_load_path("tests/fixtures/notify/group.notification.json");
    struct rw_notifier_cfg cfg = test_cfg("hook", "webhook");
    struct rw_http_req req;
    json_t *body = format_cfg(&cfg, n, &req);
    if (body) {
        /* Exactly Alertmanager's v4 members. */
        static const char *const keys[] = {"receiver",
                                           "status",
                                           "alerts",
                                           "groupLabels",
                                           "commonLabels",
                                           "commonAnnotations",
                                           "externalURL",
                                           "version",
                                           "groupKey",
                                           "truncatedAlerts",
                                           NULL};
        CHECK_INT(json_object_size(body), 10);
        for (int k = 0; keys[k]; k++)
            CHECK(json_object_get(body, keys[k]) != NULL);
        CHECK_STR(json_string_value(json_object_get(body, "version")), "4");
        CHECK_STR(json_string_value(json_object_get(body, "receiver")),
                  "hook"); /* the cfg's name */
        CHECK_STR(json_string_value(json_object_get(body, "status")), "firing");
        CHECK_STR(json_string_value(json_object_get(body, "groupKey")),
                  "{}/{team=\"web\"}:{page=\"/product/?\"}");
        CHECK_INT(json_array_size(json_object_get(body, "alerts")), 4);
        const json_t *a = json_array_get(json_object_get(body, "alerts"), 2);
        CHECK_INT(json_object_size(a), 8); /* AM's 7 + evidence */
        CHECK(json_object_get(a, "rumwatch") == NULL);
        CHECK_NEAR(json_number_value(json_object_get(json_object_get(a, "evidence"), "observed")),
                   8351.96, 1e-9);
        CHECK_STR(json_string_value(json_object_get(a, "endsAt")), RW_AM_ZERO_TIME);
        /* Numbers keep their short form (not jansson's 17 digits). */
        CHECK(strstr(req.body, "\"observed\":8351.96,") != NULL);
        CHECK(strstr(req.body, "\"version\":\"4\"") != NULL);
        rw_http_req_clear(&req);
    }
    json_decref(body);

    /* max_alerts: the first N, the rest counted in truncatedAlerts. */
    cfg.max_alerts = 3;
    json_object_set_new(n, "truncatedAlerts", json_integer(5));
    body = format_cfg(&cfg, n, NULL);
    CHECK_INT(json_array_size(json_object_get(body, "alerts")), 3);
    CHECK_INT(json_integer_value(json_object_get(body, "truncatedAlerts")), 6);
    json_decref(body);
    cfg.max_alerts = 0;

    /* Odd input: not a notification / members of the wrong type. */
    CHECK_INT(rw_notifier_webhook.format(&cfg, NULL, &req), -EINVAL);
    CHECK(req.body == NULL);
    json_t *arr = json_array();
    CHECK_INT(rw_notifier_webhook.format(&cfg, arr, &req), -EINVAL);
    json_decref(arr);
    json_t *odd = json_pack("{s:i,s:s,s:[i,{}]}", "status", 7, "groupLabels", "x", "alerts", 1);
    body = format_cfg(&cfg, odd, NULL);
    CHECK_STR(json_string_value(json_object_get(body, "status")), "firing");
    CHECK_STR(json_string_value(json_object_get(body, "groupLabels")), "x"); /* copied as given */
    CHECK_INT(json_array_size(json_object_get(body, "alerts")), 2);
    CHECK_STR(json_string_value(json_object_get(body, "externalURL")), "");
    json_decref(body);
    json_decref(odd);
    json_decref(n);
}

/* ---- Slack ---------------------------------------------------------------------------- */

static void test_slack_single(void)
{
    json_t *n = single("alert_firing.json");
    json_t *body = n ? format_parse("slack", n) : NULL;
    if (body) {
        CHECK_INT(check_slack_limits(body), 5); /* header; summary, fields, links, context */
        CHECK_STR(json_string_value(json_object_get(body, "text")),
                  ":red_circle: [FIRING] p75 LCP 4.1 s vs usual 2.0 s (1.7\xE2\x80\x93"
                  "2.4) over 412 views on /checkout \xC2\xB7 mobile");
        CHECK_STR(header_text(body), "FIRING \xC2\xB7 warning \xC2\xB7 lcp_p75_jump");
        CHECK_STR(att_color(body), "#F79009");
        CHECK_STR(section_text(body, 0),
                  "p75 LCP 4.1 s vs usual 2.0 s (1.7\xE2\x80\x93"
                  "2.4) over 412 views on /checkout \xC2\xB7 mobile\n*Why:* z=5.2 vs median of 58 "
                  "windows");
        CHECK_STR(field_value(body, "Observed"), "4.1 s");
        CHECK_STR(field_value(body, "Expected"), "2.0 s (1.7 s\xE2\x80\x93"
                                                 "2.4 s)");
        CHECK_STR(field_value(body, "Affected traffic"), "n/a"); /* no evidence in this line */
        CHECK_STR(field_value(body, "Score"), "z=5.2");
        CHECK_STR(field_value(body, "Samples"), "412");
        CHECK_STR(field_value(body, "Scope"), "page=/checkout \xC2\xB7 device=mobile");
        CHECK_STR(field_value(body, "Detector"), "robust_z");
        const char *link = context_text(body, 0, 0);
        CHECK(link && strncmp(link, "<https://rw.example.com/api/alerts?fingerprint=", 47) == 0);
        CHECK(link && strstr(link, "|Alert details>") != NULL);
        const char *ctx = footer_text(body);
        CHECK(ctx && strncmp(ctx, "app default \xC2\xB7 fingerprint `", 28) == 0);
        CHECK(ctx && strstr(ctx, "` \xC2\xB7 window end 2025-11-02T01:01:00Z \xC2\xB7 firing "
                                 "since 2025-11-02T00:59:00Z") != NULL);
    }
    json_decref(body);
    json_decref(n);

    /* Resolved: green, past tense. */
    n = single("alert_resolved.json");
    body = n ? format_parse("slack", n) : NULL;
    if (body) {
        check_slack_limits(body);
        CHECK_STR(
            json_string_value(json_object_get(body, "text")),
            ":large_green_circle: [RESOLVED] p75 LCP back to 2.1 s (usual 2.0 s, 1.7\xE2\x80\x93"
            "2.4) over 380 views on /checkout \xC2\xB7 mobile");
        CHECK_STR(header_text(body), "RESOLVED \xC2\xB7 warning \xC2\xB7 lcp_p75_jump");
        CHECK_STR(att_color(body), "#12B76A");
        CHECK_STR(field_value(body, "Observed"), "2.1 s");
        CHECK(strstr(footer_text(body), "fired since 2025-11-02T00:59:00Z") != NULL);
    }
    json_decref(body);
    json_decref(n);

    /* With evidence: affected traffic from the evidence's share. */
    json_t *line = fixture("notify/line_firing.json");
    n = single_of(line);
    body = format_parse("slack", n);
    CHECK_STR(body ? field_value(body, "Affected traffic") : NULL, "61.9% of page (641 views/h)");
    json_decref(body);
    json_decref(n);

    /* Critical and info colours. */
    line = fixture("alert_firing.json");
    json_object_set_new(line, "severity", json_string("critical"));
    n = single_of(line);
    body = format_parse("slack", n);
    CHECK_STR(body ? att_color(body) : NULL, "#D92D20");
    json_decref(body);
    json_decref(n);
    line = fixture("alert_firing.json");
    json_object_set_new(line, "severity", json_string("info"));
    n = single_of(line);
    body = format_parse("slack", n);
    CHECK_STR(body ? att_color(body) : NULL, "#2E90FA");
    json_decref(body);
    json_decref(n);
}

static void test_slack_children(void)
{
    json_t *line = fixture("alert_children.json");
    json_object_set_new(line, "children_total", json_integer(45));
    json_t *n = single_of(line);
    json_t *body = n ? format_parse("slack", n) : NULL;
    if (body) {
        check_slack_limits(body);
        CHECK_STR(header_text(body), "FIRING \xC2\xB7 critical \xC2\xB7 inp_p75_jump");
        CHECK_STR(field_value(body, "Score"), "p=3.2e-20");
        const char *kids = section_text(body, 1);
        CHECK(kids != NULL);
        if (kids) {
            int lines = 1;
            for (const char *p = kids; *p; p++)
                lines += *p == '\n';
            CHECK_INT(lines, 12); /* title, 10 bullets, "more" */
            CHECK(strncmp(kids, "*Grouped series (45)*\n", 22) == 0);
            CHECK(
                strstr(kids,
                       "\n\xE2\x80\xA2 page=/p/00 \xC2\xB7 device=mobile \xE2\x80\x94 500 ms\n") !=
                NULL);
            CHECK(strstr(kids, "/p/10") == NULL);
            CHECK_STR(strrchr(kids, '\n'), "\n\xE2\x80\xA6"
                                           "and 35 more");
        }
    }
    json_decref(body);
    json_decref(n);
}

static void test_slack_minimal(void)
{
    json_t *n = single("alert_minimal.json");
    json_t *body = n ? format_parse("slack", n) : NULL;
    if (body) {
        check_slack_limits(body); /* "children":"oops" ignored */
        CHECK_STR(json_string_value(json_object_get(body, "text")),
                  ":red_circle: [FIRING] views_drop app-wide");
        CHECK_STR(header_text(body), "FIRING \xC2\xB7 warning \xC2\xB7 views_drop");
        CHECK_STR(field_value(body, "Observed"), "n/a");
        CHECK_STR(field_value(body, "Expected"), "n/a");
        CHECK_STR(field_value(body, "Score"), "n/a");
        CHECK_STR(field_value(body, "Samples"), "n/a");
        CHECK_STR(field_value(body, "Scope"), "app-wide");
        CHECK_STR(field_value(body, "Detector"), "n/a");
        CHECK_INT(count_sections(body), 1);
    }
    json_decref(body);
    json_decref(n);

    /* A notification made of nothing useful still gives a valid message. */
    json_t *odd = json_pack("{s:s,s:[i,s,{s:i,s:[]}]}", "status", "firing", "alerts", 1, "x",
                            "labels", 3, "annotations");
    body = format_parse("slack", odd);
    if (body) {
        check_slack_limits(body);
        CHECK_STR(header_text(body), "FIRING \xC2\xB7 warning \xC2\xB7 unnamed rule");
    }
    json_decref(body);
    json_decref(odd);
    json_t *empty = json_object();
    body = format_parse("slack", empty);
    if (body)
        check_slack_limits(body);
    json_decref(body);
    json_decref(empty);

    struct rw_notifier_cfg cfg = test_cfg("s", "slack");
    struct rw_http_req req;
    json_t *str = json_string("not an object");
    CHECK_INT(rw_notifier_slack.format(&cfg, str, &req), -EINVAL);
    CHECK(req.body == NULL);
    json_decref(str);
}

static void test_slack_long(void)
{
    json_t *n = single("alert_long.json");
    json_t *body = n ? format_parse("slack", n) : NULL;
    if (body) {
        check_slack_limits(body);
        const char *h = header_text(body);
        CHECK_INT(u8len(h), 150);
        CHECK(ends_with_ellipsis(h));
        const char *text = json_string_value(json_object_get(body, "text"));
        /* Cut on whole entities ("&amp;" is 5 chars), so up to 4 short of 3000. */
        CHECK(u8len(text) <= 3000 && u8len(text) >= 2996);
        CHECK(ends_with_ellipsis(text));
        CHECK(text &&
              strstr(text, "Slow &lt;checkout&gt; &amp; \xC3\xA9l\xC3\xA8ve \xF0\x9F\x9A\x80") !=
                  NULL);
        CHECK(text && strstr(text, "<checkout>") == NULL);
        const char *sum = section_text(body, 0);
        CHECK(u8len(sum) <= 3000 && u8len(sum) >= 2996);
        CHECK(sum && strstr(sum, "\n*Why:* www") != NULL);
        CHECK(ends_with_ellipsis(sum));
        const char *scope = field_value(body, "Scope");
        CHECK_INT(u8len(scope) + u8len("*Scope*\n"), 2000);
        CHECK(ends_with_ellipsis(scope));
        const char *det = field_value(body, "Detector");
        CHECK_INT(u8len(det) + u8len("*Detector*\n"), 2000);
        const char *kids = section_text(body, 1);
        CHECK(kids && strstr(kids, "*Grouped series (40)*") != NULL);
        CHECK(kids && strstr(kids, "\xE2\x80\xA6"
                                   "and 30 more") != NULL);
    }
    json_decref(body);
    json_decref(n);
}

/* A group of `count` alerts of rule r on pages /p/0..; every 3rd resolved. */
static json_t *big_group(size_t count, const char *summary_pad)
{
    json_t *alerts = json_array();
    for (size_t i = 0; i < count; i++) {
        char page[32], summary[4096];
        snprintf(page, sizeof page, "/p/%zu", i);
        snprintf(summary, sizeof summary, "p75 LCP slow on %s %s", page, summary_pad);
        json_t *line =
            json_pack("{s:i,s:s,s:s,s:s,s:s,s:s,s:{s:s},s:f,s:f,s:f,s:s,s:I,s:s,s:s,"
                      "s:{s:{s:f,s:s,s:f}}}",
                      "ts", 1762045260000LL, "state", i % 3 == 2 ? "resolved" : "firing", "rule",
                      "lcp_slowdown", "metric", "lcp", "stat", "p75", "app", "shop", "scope",
                      "page", page, "value", 4000.0 + (double)i, "expected", 2000.0, "high", 2600.0,
                      "severity", i == 7 ? "critical" : "warning", "since",
                      (json_int_t)1762045140000LL, "summary", summary, "why", "z=9", "evidence",
                      "traffic", "views_per_hour", 100.0, "parent", "app", "share", 0.01);
        json_array_append_new(alerts, rw_alert_to_am(line, "https://rw.example.com"));
        json_decref(line);
    }
    json_t *gl = json_pack("{s:s}", "alertname", "lcp_slowdown");
    char *key = rw_am_group_key("{}", gl);
    json_t *n = rw_notification_new("s", key, gl, "https://rw.example.com", alerts);
    free(key);
    json_decref(gl);
    return n;
}

static void test_slack_group_limits(void)
{
    json_t *n = big_group(500, "");
    struct rw_notifier_cfg cfg = test_cfg("s", "slack");
    json_t *body = format_cfg(&cfg, n, NULL);
    if (body) {
        size_t nb = check_slack_limits(body);
        CHECK_INT(nb, 1 + 1 + 20 + 1 + 1); /* header; intro, 20 alerts, more, footer */
        CHECK_STR(header_text(body), "FIRING:334 \xC2\xB7 critical \xC2\xB7 lcp_slowdown");
        CHECK_STR(att_color(body), "#D92D20");
        CHECK_STR(section_text(body, 0), "*500 alerts:* 334 firing, 166 resolved\n*Group:* "
                                         "alertname=lcp_slowdown");
        const char *more = section_text(body, 21);
        CHECK_STR(more, "\xE2\x80\xA6"
                        "and 480 more");
        /* Firing ones first, in order. */
        const char *a0 = section_text(body, 1);
        CHECK(a0 && strncmp(a0,
                            ":red_circle: *FIRING* \xC2\xB7 warning \xC2\xB7 *lcp_slowdown*\n"
                            "p75 LCP slow on /p/0 \nObserved *4.0 s* \xC2\xB7 expected 2.0 s "
                            "(\xE2\x89\xA4 2.6 s) \xC2\xB7 traffic 1% of app (100 views/h) "
                            "\xC2\xB7 <https://rw.example.com/api/alerts?fingerprint=",
                            200) == 0);
        CHECK(a0 && strstr(a0, "|details>") != NULL);
        const char *a1 = section_text(body, 2);
        CHECK(a1 && strstr(a1, "/p/1 ") != NULL);
        const char *text = json_string_value(json_object_get(body, "text"));
        CHECK(text && strncmp(text,
                              ":red_circle: [FIRING:334] lcp_slowdown \xC2\xB7 p75 LCP slow on "
                              "/p/0  (+499 more)",
                              200) == 0);
        CHECK_STR(footer_text(body), "rumwatch \xC2\xB7 <https://rw.example.com|open>");
    }
    json_decref(body);

    /* max_alerts caps the list; long summaries keep each section bounded. */
    json_decref(n);
    char pad[3001];
    memset(pad, 'x', 3000);
    pad[3000] = '\0';
    n = big_group(60, pad);
    cfg.max_alerts = 5;
    body = format_cfg(&cfg, n, NULL);
    if (body) {
        check_slack_limits(body);
        CHECK_INT(count_sections(body), 1 + 5 + 1);
        CHECK_STR(section_text(body, 6), "\xE2\x80\xA6"
                                         "and 55 more");
        CHECK(u8len(section_text(body, 1)) <= 1000);
    }
    json_decref(body);
    json_decref(n);

    /* truncatedAlerts from the grouper count as "more" too. */
    n = big_group(3, "");
    json_object_set_new(n, "truncatedAlerts", json_integer(10));
    cfg.max_alerts = 0;
    body = format_cfg(&cfg, n, NULL);
    if (body) {
        check_slack_limits(body);
        CHECK_STR(section_text(body, 0), "*13 alerts:* 2 firing, 1 resolved, 10 not listed\n"
                                         "*Group:* alertname=lcp_slowdown");
        CHECK_STR(section_text(body, 4), "\xE2\x80\xA6"
                                         "and 10 more");
    }
    json_decref(body);
    json_decref(n);

    /* All resolved: green, no count in the header. */
    n = fixture_load_path("tests/fixtures/notify/group_resolved.notification.json");
    body = n ? format_cfg(&cfg, n, NULL) : NULL;
    if (body) {
        CHECK_STR(header_text(body), "RESOLVED \xC2\xB7 warning \xC2\xB7 lcp_slowdown");
        CHECK_STR(att_color(body), "#12B76A");
    }
    json_decref(body);
    json_decref(n);
}

static void test_slack_links(void)
{
    struct rw_notifier_cfg cfg = fixture_cfg("slack");
    /* A link text with mrkdwn characters and a URL with | and > in it. */
    snprintf(cfg.links[1].url, sizeof cfg.links[1].url, "https://x.example/a|b>c d");
    json_t *n = single("alert_firing.json");
    json_t *body = format_cfg(&cfg, n, NULL);
    if (body) {
        CHECK_STR(context_text(body, 0, 1),
                  "<https://runbooks.example.com/rum?a=1&amp;b=2|Runbook>");
        CHECK_STR(context_text(body, 0, 2),
                  "<https://x.example/a%7Cb%3Ec%20d|Dashboard &lt;RUM&gt;>");
    }
    json_decref(body);
    /* A link that is not http(s) is left out. */
    snprintf(cfg.links[1].url, sizeof cfg.links[1].url, "javascript:alert(1)");
    body = format_cfg(&cfg, n, NULL);
    CHECK(body && context_text(body, 0, 2) == NULL);
    json_decref(body);
    json_decref(n);
}

/* Number formatting per metric kind, through the Observed / Score fields. */
static void check_obs(const char *metric, const char *stat, double v, const char *want)
{
    json_t *a =
        json_pack("{s:s,s:s,s:s,s:f}", "rule", "r", "metric", metric, "stat", stat, "value", v);
    json_t *n = single_of(a);
    json_t *body = format_parse("slack", n);
    const char *got = body ? field_value(body, "Observed") : NULL;
    if (!got || strcmp(got, want) != 0)
        fprintf(stderr, "  metric=%s stat=%s value=%g\n", metric, stat, v);
    CHECK_STR(got, want);
    json_decref(body);
    json_decref(n);
}

static void check_score(const char *kind, double s, const char *want)
{
    json_t *n = single_of(json_pack("{s:s,s:f}", "score_kind", kind, "score", s));
    json_t *body = format_parse("slack", n);
    CHECK_STR(body ? field_value(body, "Score") : NULL, want);
    json_decref(body);
    json_decref(n);
}

static void test_slack_numbers(void)
{
    check_obs("lcp", "p75", 4100.5, "4.1 s");
    check_obs("lcp", "p75", 246.2, "246 ms");
    check_obs("inp", "p90", 999.7, "1.0 s");
    check_obs("cls", "p75", 0.2534, "0.253");
    check_obs("errors", "rate", 0.023, "2.3%");
    check_obs("views", "count", 1234, "1234");
    check_obs("custom", "mean", 2.5e7, "2.5e+07");
    check_score("z", 5.24, "z=5.2");
    check_score("p", 3.2e-20, "p=3.2e-20");
    check_score("p", 1e-5, "p=1.0e-5");
    check_score("p", 0.012, "p=0.012");
    check_score("ratio", 2.054, "ratio=2.05");

    json_t *n =
        single_of(json_pack("{s:s,s:f,s:f}", "metric", "lcp", "expected", 2000.0, "high", 2500.0));
    json_t *body = format_parse("slack", n);
    CHECK_STR(body ? field_value(body, "Expected") : NULL, "2.0 s (\xE2\x89\xA4 2.5 s)");
    json_decref(body);
    json_decref(n);
    n = single_of(
        json_pack("{s:s,s:f,s:f}", "metric", "views", "low", 100.0, "ts", 1762045260123.0));
    body = format_parse("slack", n);
    CHECK_STR(body ? field_value(body, "Expected") : NULL, "\xE2\x89\xA5 100");
    CHECK(body && strstr(footer_text(body), "window end 2025-11-02T01:01:00.123Z") != NULL);
    json_decref(body);
    json_decref(n);
    /* A rating share is a percentage, not milliseconds. */
    n = single_of(fixture("notify/line_rating.json"));
    body = format_parse("slack", n);
    CHECK_STR(body ? field_value(body, "Observed") : NULL, "61.9%");
    CHECK_STR(body ? field_value(body, "Expected") : NULL, "26.2% (\xE2\x89\xA4 46.7%)");
    json_decref(body);
    json_decref(n);
}

/* ---- Alertmanager ------------------------------------------------------------------ */

static void test_alertmanager(void)
{
    json_t *n = fixture_load_path("tests/fixtures/notify/group.notification.json");
    struct rw_notifier_cfg cfg = test_cfg("am", "alertmanager");
    snprintf(cfg.url, sizeof cfg.url, "http://127.0.0.1:9093");
    struct rw_http_req req;
    json_t *body = n ? format_cfg(&cfg, n, &req) : NULL;
    if (body) {
        CHECK_STR(req.url, "http://127.0.0.1:9093/api/v2/alerts");
        rw_http_req_clear(&req);
        CHECK(json_is_array(body));
        CHECK_INT(json_array_size(body), 4);
        /* sendTime 2025-11-03T07:55:00Z + 4 x 60 s */
        const json_t *f = json_array_get(body, 0);
        CHECK_STR(json_string_value(json_object_get(f, "endsAt")), "2025-11-03T07:59:00.000Z");
        CHECK_STR(json_string_value(json_object_get(f, "startsAt")), "2025-11-03T07:27:00.000Z");
        CHECK_INT(json_object_size(f), 5);
        const json_t *r = json_array_get(body, 3);
        CHECK_STR(json_string_value(json_object_get(r, "endsAt")), "2025-11-03T08:03:00.000Z");
        CHECK(json_object_get(f, "evidence") == NULL && json_object_get(f, "fingerprint") == NULL);
    }
    json_decref(body);

    /* resend_interval sets the horizon. */
    cfg.resend_interval = 30;
    body = format_cfg(&cfg, n, NULL);
    CHECK_STR(json_string_value(json_object_get(json_array_get(body, 0), "endsAt")),
              "2025-11-03T07:57:00.000Z");
    json_decref(body);
    /* No sendTime: the wall clock. */
    json_object_del(n, "sendTime");
    int64_t t0 = rw_wall_ms();
    body = format_cfg(&cfg, n, NULL);
    const char *ends = json_string_value(json_object_get(json_array_get(body, 0), "endsAt"));
    char lo[RW_AM_TIME_MAX], hi[RW_AM_TIME_MAX];
    rw_am_time(lo, sizeof lo, (double)t0 + 120000.0);
    rw_am_time(hi, sizeof hi, (double)rw_wall_ms() + 120000.0);
    CHECK(ends && strcmp(ends, lo) >= 0 && strcmp(ends, hi) <= 0);
    json_decref(body);
    json_decref(n);

    /* Label names Alertmanager accepts; empty values left out; trailing slashes. */
    json_t *line = json_pack("{s:s,s:s,s:{s:s,s:s,s:s,s:s},s:{s:s}}", "rule", "r", "state",
                             "resolved", "scope", "user-agent", "x", "1st", "y", "a.b", "", "a_b",
                             "first", "annotations", "run-book", "https://rb/");
    n = rw_notification_single("am", line, NULL);
    snprintf(cfg.url, sizeof cfg.url, "https://am.example//");
    body = format_cfg(&cfg, n, &req);
    if (body) {
        CHECK_STR(req.url, "https://am.example/api/v2/alerts");
        rw_http_req_clear(&req);
        const json_t *a = json_array_get(body, 0);
        const json_t *l = json_object_get(a, "labels");
        CHECK_STR(json_string_value(json_object_get(l, "user_agent")), "x");
        CHECK_STR(json_string_value(json_object_get(l, "_1st")), "y");
        CHECK_STR(json_string_value(json_object_get(l, "a_b")), "first");
        CHECK(json_object_get(l, "a.b") == NULL);
        CHECK_STR(json_string_value(json_object_get(json_object_get(a, "annotations"), "run_book")),
                  "https://rb/");
        CHECK(json_object_get(json_object_get(a, "annotations"), "description") == NULL); /* "" */
        /* Resolved without a time: resolved now. No startsAt, no generatorURL. */
        CHECK(json_object_get(a, "startsAt") == NULL);
        CHECK(json_object_get(a, "generatorURL") == NULL);
        const char *e = json_string_value(json_object_get(a, "endsAt"));
        CHECK(e && strcmp(e, "2020-01-01") > 0 && strcmp(e, RW_AM_ZERO_TIME) != 0);
    }
    json_decref(body);
    json_decref(n);
    json_decref(line);
    CHECK_INT(rw_notifier_alertmanager.format(&cfg, NULL, &req), -EINVAL);
}

/* ---- PagerDuty ----------------------------------------------------------------------- */

static const char *dedup_of(const json_t *body)
{
    return json_string_value(json_object_get(body, "dedup_key"));
}

static void test_pagerduty(void)
{
    struct rw_notifier_cfg cfg = test_cfg("pd", "pagerduty");
    cfg.url[0] = '\0';
    json_t *nf = fixture_load_path("tests/fixtures/notify/single_firing.notification.json");
    json_t *nr = fixture_load_path("tests/fixtures/notify/single_resolved.notification.json");
    struct rw_http_req req;
    json_t *bf = nf ? format_cfg(&cfg, nf, &req) : NULL;
    if (bf) {
        CHECK_STR(req.url, RW_PAGERDUTY_URL);
        rw_http_req_clear(&req);
    }
    json_t *br = nr ? format_cfg(&cfg, nr, NULL) : NULL;
    if (bf && br) {
        CHECK_STR(json_string_value(json_object_get(bf, "event_action")), "trigger");
        CHECK_STR(json_string_value(json_object_get(br, "event_action")), "resolve");
        CHECK_STR(json_string_value(json_object_get(bf, "routing_key")), RKEY);
        /* Trigger and resolve of one group share the key: the resolve closes it. */
        CHECK_STR(dedup_of(bf), dedup_of(br));
        CHECK_INT(strlen(dedup_of(bf)), 64);
        char want[65], buf[2048];
        snprintf(buf, sizeof buf, "pd\n%s", json_string_value(json_object_get(nf, "groupKey")));
        rw_sign_sha256_hex(buf, strlen(buf), want);
        CHECK_STR(dedup_of(bf), want);
        /* A resolve carries only what PagerDuty reads. */
        CHECK_INT(json_object_size(br), 3);
        const json_t *p = json_object_get(bf, "payload");
        CHECK_STR(json_string_value(json_object_get(p, "severity")), "warning");
        CHECK_STR(json_string_value(json_object_get(p, "source")), "default");
        CHECK_STR(json_string_value(json_object_get(p, "component")), "/product/?");
        CHECK_STR(json_string_value(json_object_get(p, "group")), "lcp_slowdown");
        CHECK_STR(json_string_value(json_object_get(p, "class")), "lcp p75");
        CHECK_STR(json_string_value(json_object_get(p, "timestamp")), "2025-11-03T07:27:00.000Z");
        CHECK_STR(json_string_value(json_object_get(p, "summary")),
                  "p75 LCP 8.4 s vs usual 4.5 s (alert above 7.7 s) over 33 views on /product/? "
                  "\xC2\xB7 mobile");
        const json_t *cd = json_object_get(p, "custom_details");
        CHECK_INT(json_array_size(json_object_get(cd, "alerts")), 1);
        CHECK(json_object_get(json_array_get(json_object_get(cd, "alerts"), 0), "evidence") !=
              NULL);
    }
    /* Another receiver or another group: another incident. */
    struct rw_notifier_cfg cfg2 = test_cfg("pd-2", "pagerduty");
    json_t *b2 = format_cfg(&cfg2, nf, NULL);
    CHECK(b2 && bf && strcmp(dedup_of(b2), dedup_of(bf)) != 0);
    json_decref(b2);
    json_object_set_new(nf, "groupKey", json_string("{}:{page=\"/other\"}"));
    b2 = format_cfg(&cfg, nf, NULL);
    CHECK(b2 && bf && strcmp(dedup_of(b2), dedup_of(bf)) != 0);
    json_decref(b2);
    /* The same notification formatted again (a restart): the same key. */
    json_object_set_new(nf, "groupKey", json_copy(json_object_get(nr, "groupKey")));
    b2 = format_cfg(&cfg, nf, NULL);
    CHECK(b2 && bf && strcmp(dedup_of(b2), dedup_of(bf)) == 0);
    json_decref(b2);
    json_decref(bf);
    json_decref(br);
    json_decref(nf);
    json_decref(nr);

    /* A big group: summary clipped to 1024 characters, highest severity, 50 details. */
    char pad[2001];
    memset(pad, 'y', 2000);
    pad[2000] = '\0';
    json_t *n = big_group(120, pad);
    json_t *b = format_cfg(&cfg, n, NULL);
    if (b) {
        const json_t *p = json_object_get(b, "payload");
        const char *s = json_string_value(json_object_get(p, "summary"));
        CHECK_INT(u8len(s), 1024);
        CHECK(ends_with_ellipsis(s));
        CHECK(s && strncmp(s, "[FIRING:80] lcp_slowdown: p75 LCP slow on /p/0 yyy", 50) == 0);
        CHECK_STR(json_string_value(json_object_get(p, "severity")), "critical");
        const json_t *cd = json_object_get(p, "custom_details");
        CHECK_INT(json_array_size(json_object_get(cd, "alerts")), 50);
        CHECK_INT(json_integer_value(json_object_get(cd, "firing")), 80);
        CHECK_INT(json_integer_value(json_object_get(cd, "resolved")), 40);
        CHECK_INT(json_integer_value(json_object_get(cd, "not_listed")), 70);
        CHECK(json_object_get(p, "component") == NULL); /* pages differ */
        CHECK_INT(json_array_size(json_object_get(b, "links")), 10);
        CHECK_STR(json_string_value(json_object_get(b, "client_url")), "https://rw.example.com");
    }
    json_decref(b);
    cfg.max_alerts = 7;
    b = format_cfg(&cfg, n, NULL);
    CHECK_INT(json_array_size(json_object_get(
                  json_object_get(json_object_get(b, "payload"), "custom_details"), "alerts")),
              7);
    json_decref(b);
    json_decref(n);

    /* No routing key: the receiver cannot send. */
    cfg.routing_key[0] = '\0';
    n = single("alert_firing.json");
    CHECK_INT(rw_notifier_pagerduty.format(&cfg, n, &req), -EINVAL);
    CHECK(req.body == NULL);
    json_decref(n);
}

/* ---- receiver config ------------------------------------------------------------------ */

static struct rw_config *load_cfg(const char *notifiers, char *err, size_t errlen)
{
    char text[8192];
    snprintf(text, sizeof text, "notifiers = (\n%s\n);\n", notifiers);
    return rw_config_load_string(text, "n.conf", err, errlen);
}

static void expect_err(const char *notifiers, const char *want)
{
    char err[1024] = "";
    struct rw_config *c = load_cfg(notifiers, err, sizeof err);
    CHECK(c == NULL);
    if (!strstr(err, want)) {
        fprintf(stderr, "expected \"%s\" in \"%s\"\n", want, err);
        CHECK(0);
    }
    rw_config_free(&c);
}

static char *print_to_string(const struct rw_config *c)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    rw_config_print(c, f);
    fclose(f);
    return buf;
}

static void test_config(void)
{
    char err[1024] = "";
    char secret_path[] = "/tmp/rw_test_secret_XXXXXX";
    int fd = mkstemp(secret_path);
    CHECK(fd >= 0);
    const char *sec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n";
    CHECK(write(fd, sec, strlen(sec)) == (ssize_t)strlen(sec));
    close(fd);
    setenv("RW_T_TOKEN", "Bearer abc", 1);
    setenv("RW_T_PD", "  " RKEY "\n", 1); /* surrounding spaces are not part of it */
    setenv("RW_T_PD", RKEY "\n", 1);

    char conf[4096];
    snprintf(conf, sizeof conf,
             "{ name = \"hook\"; type = \"webhook\"; url = \"https://h.example/x\";\n"
             "  headers = { X-Team = \"web\"; X-Env = \"prod\"; }; secret_file = \"%s\"; "
             "max_alerts = 50; },\n"
             "{ name = \"hook2\"; type = \"webhook\"; url = \"https://h.example/y\"; tls_verify = "
             "false;\n"
             "  headers = ( { name = \"Authorization\"; value_env = \"RW_T_TOKEN\"; } ); },\n"
             "{ name = \"chat\"; type = \"slack\"; url = \"https://hooks.slack.com/x\";\n"
             "  links = ( { text = \"Runbook\"; url = \"https://rb.example/rum\"; } ); },\n"
             "{ name = \"am\"; type = \"alertmanager\"; url = \"http://127.0.0.1:9093\"; "
             "resend_interval = 30.0; },\n"
             "{ name = \"pd\"; type = \"pagerduty\"; routing_key_env = \"RW_T_PD\"; }",
             secret_path);
    struct rw_config *c = load_cfg(conf, err, sizeof err);
    CHECK(c != NULL);
    if (!c) {
        fprintf(stderr, "%s\n", err);
    } else {
        CHECK_INT(c->nnotifiers, 5);
        const struct rw_notifier_cfg *h = &c->notifiers[0];
        CHECK_INT(h->nheaders, 2);
        CHECK_STR(h->headers[0].name, "X-Team");
        CHECK_STR(h->headers[0].value, "web");
        CHECK_INT(h->secret_len, 24);
        CHECK_INT(h->max_alerts, 50);
        CHECK_INT(h->tls_insecure, 0);
        CHECK_STR(h->missing, "");
        const struct rw_notifier_cfg *h2 = &c->notifiers[1];
        CHECK_INT(h2->tls_insecure, 1);
        CHECK_STR(h2->headers[0].value, "Bearer abc");
        CHECK_STR(h2->headers[0].value_env, "RW_T_TOKEN");
        CHECK_INT(h2->secret_len, 0);
        CHECK_INT(c->notifiers[2].nlinks, 1);
        CHECK_STR(c->notifiers[2].links[0].url, "https://rb.example/rum");
        CHECK_NEAR(c->notifiers[3].resend_interval, 30, 0);
        CHECK_NEAR(c->notifiers[0].resend_interval, 60, 0);
        CHECK_STR(c->notifiers[4].routing_key, RKEY);
        CHECK_STR(c->notifiers[4].url, RW_PAGERDUTY_URL);
        char *p = print_to_string(c);
        CHECK(strstr(p, "Bearer") == NULL);  /* env values stay in the env */
        CHECK(strstr(p, RKEY) == NULL);      /* keys are never printed */
        CHECK(strstr(p, "MfKQ9r8") == NULL); /* nor secrets */
        CHECK(strstr(p, "value_env = \"RW_T_TOKEN\"") != NULL);
        CHECK(strstr(p, "tls_verify = false;") != NULL);
        CHECK(strstr(p, "{ text = \"Runbook\"; url = \"https://rb.example/rum\"; }") != NULL);
        /* The printed config loads again. */
        struct rw_config *c2 = rw_config_load_string(p, "printed.conf", err, sizeof err);
        if (!c2)
            fprintf(stderr, "reload: %s\n", err);
        CHECK(c2 != NULL);
        if (c2) {
            CHECK_INT(c2->nnotifiers, 5);
            CHECK_INT(c2->notifiers[0].secret_len, 24);
            CHECK_INT(c2->notifiers[1].tls_insecure, 1);
        }
        rw_config_free(&c2);
        free(p);
    }
    rw_config_free(&c);

    /* A secret that is not there: loadable, but the receiver says why it cannot send. */
    unsetenv("RW_T_MISSING");
    c = load_cfg(
        "{ name = \"h\"; type = \"webhook\"; url = \"https://h/\"; secret_env = \"RW_T_MISSING\"; "
        "},\n"
        "{ name = \"p\"; type = \"pagerduty\"; routing_key_file = \"/nonexistent/rw/key\"; },\n"
        "{ name = \"t\"; type = \"webhook\"; url = \"https://h/\"; headers = ( { name = \"A\"; "
        "value_env = \"RW_T_MISSING\"; } ); }",
        err, sizeof err);
    CHECK(c != NULL);
    if (c) {
        CHECK_STR(c->notifiers[0].missing, "secret_env: $RW_T_MISSING is not set");
        CHECK_STR(c->notifiers[1].missing, "routing_key_file: cannot read /nonexistent/rw/key");
        CHECK_STR(c->notifiers[2].missing, "headers: $RW_T_MISSING is not set");
    }
    rw_config_free(&c);

    /* Errors name file, line and key. */
    expect_err("{ name = \"x\"; type = \"email\"; url = \"http://h/\"; }",
               "n.conf:2: notifiers[0]: unknown notifier type 'email' (known: webhook, slack, "
               "alertmanager, pagerduty)");
    expect_err(
        "{ name = \"x\"; type = \"webhook\"; url = \"http://h/\";\n headers = { Content-Type = "
        "\"text/plain\"; }; }",
        "n.conf:3: notifiers[0].headers.Content-Type: header 'Content-Type' is set by rumwatch");
    expect_err(
        "{ name = \"x\"; type = \"webhook\"; url = \"http://h/\";\n headers = { X-A = 5; }; }",
        "n.conf:3: notifiers[0].headers.X-A: a header value must be a string");
    expect_err("{ name = \"x\"; type = \"webhook\"; url = \"http://h/\";\n headers = ( { name = "
               "\"X A\"; value = \"1\"; } ); }",
               "n.conf:3: notifiers[0].headers[0]: header name 'X A' may only use");
    expect_err("{ name = \"x\"; type = \"webhook\"; url = \"http://h/\";\n headers = ( { name = "
               "\"X-A\"; value = \"1\"; value_env = \"E\"; } ); }",
               "needs either value or value_env");
    expect_err("{ name = \"x\"; type = \"webhook\"; url = \"http://h/\";\n headers = ( { name = "
               "\"X-A\"; valu = \"1\"; } ); }",
               "n.conf:3: notifiers[0].headers[0].valu: unknown key 'valu'");
    expect_err(
        "{ name = \"x\"; type = \"webhook\"; url = \"http://h/\";\n links = ( { text = \"a\"; url "
        "= \"https://b/\"; } ); }",
        "n.conf:3: notifiers[0].links: links are shown by slack and pagerduty receivers only");
    expect_err("{ name = \"x\"; type = \"slack\"; url = \"http://h/\";\n links = ( { text = \"a\"; "
               "url = \"ftp://b/\"; } ); }",
               "n.conf:3: notifiers[0].links[0].url: must start with http:// or https://");
    expect_err("{ name = \"x\"; type = \"slack\"; url = \"http://h/\";\n links = ( { url = "
               "\"https://b/\"; } ); }",
               "missing 'text'");
    expect_err("{ name = \"x\"; type = \"pagerduty\"; }",
               "n.conf:2: notifiers[0]: pagerduty needs routing_key_env or routing_key_file");
    expect_err(
        "{ name = \"x\"; type = \"webhook\"; url = \"http://h/\";\n routing_key_env = \"K\"; }",
        "n.conf:3: notifiers[0].routing_key_env: routing keys are for pagerduty receivers only");
    expect_err("{ name = \"x\"; type = \"webhook\"; url = \"http://h/\";\n tls_verify = 0; }",
               "n.conf:3: notifiers[0].tls_verify: expects true or false");
    expect_err("{ name = \"x\"; type = \"webhook\"; url = \"http://h/\";\n secret_env = \"A\"; "
               "secret_file = \"/b\"; }",
               "set either secret_env or secret_file, not both");
    setenv("RW_T_BADSECRET", "whsec_***", 1);
    expect_err("{ name = \"x\"; type = \"webhook\"; url = \"http://h/\";\n secret_env = "
               "\"RW_T_BADSECRET\"; }",
               "n.conf:3: notifiers[0].secret_env: secret starts with whsec_ but the rest is not "
               "valid base64");
    setenv("RW_T_BADSECRET", "short", 1);
    expect_err("{ name = \"x\"; type = \"webhook\"; url = \"http://h/\";\n secret_env = "
               "\"RW_T_BADSECRET\"; }",
               "secret is 5 bytes, at least 16 are needed");
    setenv("RW_T_BADKEY", "has space", 1);
    expect_err("{ name = \"x\"; type = \"pagerduty\";\n routing_key_env = \"RW_T_BADKEY\"; }",
               "n.conf:3: notifiers[0].routing_key_env: the routing key holds a space");
    expect_err("{ name = \"x\"; type = \"webhook\"; url = \"http://h/\"; max_alerts = -1; }",
               "notifiers[0].max_alerts");
    unsetenv("RW_T_BADSECRET");
    unsetenv("RW_T_BADKEY");
    unsetenv("RW_T_TOKEN");
    unsetenv("RW_T_PD");
    unlink(secret_path);
}

int main(void)
{
    test_registry();
    test_classify();
    test_req_headers();
    test_fixtures();
    test_webhook();
    test_slack_single();
    test_slack_children();
    test_slack_minimal();
    test_slack_long();
    test_slack_group_limits();
    test_slack_links();
    test_slack_numbers();
    test_alertmanager();
    test_pagerduty();
    test_config();
    if (fixture_updating())
        printf("fixtures rewritten: review `git diff tests/fixtures/notify`\n");
    TEST_DONE();
}
