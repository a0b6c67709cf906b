/* Notifier formatters and HTTP classification, without a network.
 * Fixtures live in tests/fixtures/alert_*.json (cwd is the source root). */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notifiers/notifier.h"
#include "tests/unit/check.h"

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
    return c;
}

static json_t *fixture(const char *name)
{
    char path[256];
    json_error_t err;
    snprintf(path, sizeof path, "tests/fixtures/%s", name);
    json_t *j = json_load_file(path, 0, &err);
    if (!j)
        fprintf(stderr, "cannot load %s: %s (line %d)\n", path, err.text, err.line);
    CHECK(j != NULL);
    return j;
}

/* Format and parse the body back; NULL on any failure (counted). */
static json_t *format_parse(const struct rw_notifier *nt, const char *cfgname, const json_t *alert)
{
    struct rw_notifier_cfg cfg = test_cfg(cfgname, nt->type);
    struct rw_http_req req;
    int rc = nt->format(&cfg, alert, &req);
    CHECK_INT(rc, 0);
    if (rc)
        return NULL;
    CHECK(req.url == cfg.url || strcmp(req.url, cfg.url) == 0);
    CHECK_STR(req.content_type, "application/json");
    CHECK(req.body != NULL);
    CHECK_INT(strlen(req.body), req.body_len);
    json_error_t err;
    json_t *body = json_loadb(req.body, req.body_len, 0, &err);
    if (!body)
        fprintf(stderr, "body does not parse: %s\n", err.text);
    CHECK(body != NULL);
    rw_http_req_clear(&req);
    CHECK(req.body == NULL);
    CHECK_INT(req.body_len, 0);
    return body;
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

/* Slack Block Kit limits we promise; returns the number of blocks. */
static size_t check_slack_limits(const json_t *body)
{
    const char *text = json_string_value(json_object_get(body, "text"));
    CHECK(text != NULL);
    CHECK(u8len(text) <= 3000);
    const json_t *blocks = json_object_get(body, "blocks");
    CHECK(json_is_array(blocks));
    size_t nb = json_array_size(blocks);
    CHECK(nb >= 1 && nb <= 50);
    size_t i;
    const json_t *b;
    json_array_foreach(blocks, i, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        CHECK(type != NULL);
        if (!type)
            continue;
        const json_t *t = json_object_get(b, "text");
        if (strcmp(type, "header") == 0) {
            CHECK_STR(json_string_value(json_object_get(t, "type")), "plain_text");
            CHECK(u8len(json_string_value(json_object_get(t, "text"))) <= 150);
            CHECK(u8len(json_string_value(json_object_get(t, "text"))) >= 1);
        } else if (strcmp(type, "section") == 0) {
            const json_t *f = json_object_get(b, "fields");
            CHECK(t || f);
            if (t) {
                CHECK_STR(json_string_value(json_object_get(t, "type")), "mrkdwn");
                CHECK(u8len(json_string_value(json_object_get(t, "text"))) <= 3000);
                CHECK(u8len(json_string_value(json_object_get(t, "text"))) >= 1);
            }
            if (f) {
                CHECK(json_array_size(f) >= 1 && json_array_size(f) <= 10);
                size_t k;
                const json_t *fe;
                json_array_foreach(f, k, fe)
                {
                    CHECK(u8len(json_string_value(json_object_get(fe, "text"))) <= 2000);
                    CHECK(u8len(json_string_value(json_object_get(fe, "text"))) >= 1);
                }
            }
        } else if (strcmp(type, "context") == 0) {
            const json_t *el = json_object_get(b, "elements");
            CHECK(json_array_size(el) >= 1 && json_array_size(el) <= 10);
            size_t k;
            const json_t *e;
            json_array_foreach(el, k, e)
                CHECK(u8len(json_string_value(json_object_get(e, "text"))) <= 3000);
        } else {
            CHECK(!"unexpected block type");
        }
    }
    return nb;
}

static const json_t *block_of(const json_t *body, const char *type, int nth)
{
    size_t i;
    const json_t *b;
    json_array_foreach(json_object_get(body, "blocks"), i, b)
    {
        const char *t = json_string_value(json_object_get(b, "type"));
        if (t && strcmp(t, type) == 0 && nth-- == 0)
            return b;
    }
    return NULL;
}

static const char *header_text(const json_t *body)
{
    return json_string_value(
        json_object_get(json_object_get(block_of(body, "header", 0), "text"), "text"));
}

/* Text of section nth (0 = summary, 1 = children if present). */
static const char *section_text(const json_t *body, int nth)
{
    size_t i;
    const json_t *b;
    json_array_foreach(json_object_get(body, "blocks"), i, b)
    {
        const json_t *t = json_object_get(b, "text");
        const char *type = json_string_value(json_object_get(b, "type"));
        if (type && strcmp(type, "section") == 0 && t && nth-- == 0)
            return json_string_value(json_object_get(t, "text"));
    }
    return NULL;
}

/* Value of the field labelled `label` ("*Observed*\n4.1 s" -> "4.1 s"). */
static const char *field_value(const json_t *body, const char *label)
{
    static char out[4096];
    size_t i;
    const json_t *b;
    char prefix[64];
    snprintf(prefix, sizeof prefix, "*%s*\n", label);
    json_array_foreach(json_object_get(body, "blocks"), i, b)
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

static const char *context_text(const json_t *body)
{
    return json_string_value(json_object_get(
        json_array_get(json_object_get(block_of(body, "context", 0), "elements"), 0), "text"));
}

static void test_registry(void)
{
    CHECK_STR(rw_severity_names[0], "info");
    CHECK_STR(rw_severity_names[1], "warning");
    CHECK_STR(rw_severity_names[2], "critical");
    CHECK(rw_severity_names[3] == NULL);
    CHECK_INT(rw_severity_parse("info"), 0);
    CHECK_INT(rw_severity_parse("warning"), 1);
    CHECK_INT(rw_severity_parse("critical"), 2);
    CHECK_INT(rw_severity_parse("Critical"), -1);
    CHECK_INT(rw_severity_parse(""), -1);
    CHECK_INT(rw_severity_parse(NULL), -1);
    CHECK(rw_notifier_find("webhook") == &rw_notifier_webhook);
    CHECK(rw_notifier_find("slack") == &rw_notifier_slack);
    CHECK(rw_notifier_find("email") == NULL);
    CHECK(rw_notifier_find(NULL) == NULL);
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
        {0, CURLE_COULDNT_RESOLVE_HOST, RW_DELIVERY_RETRY},
        {0, CURLE_URL_MALFORMAT, RW_DELIVERY_FAIL},
        {0, CURLE_UNSUPPORTED_PROTOCOL, RW_DELIVERY_FAIL},
        /* a status line arrived: it decides even if the body was cut */
        {400, CURLE_RECV_ERROR, RW_DELIVERY_FAIL},
        {404, CURLE_PARTIAL_FILE, RW_DELIVERY_FAIL},
        {503, CURLE_RECV_ERROR, RW_DELIVERY_RETRY},
        {600, CURLE_OK, RW_DELIVERY_FAIL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_INT(rw_notifier_classify_http(cases[i].status, cases[i].curl), cases[i].want);
        CHECK_INT(rw_notifier_webhook.classify(cases[i].status, cases[i].curl), cases[i].want);
        CHECK_INT(rw_notifier_slack.classify(cases[i].status, cases[i].curl), cases[i].want);
    }
}

static void test_webhook(void)
{
    const char *names[] = {"alert_firing.json", "alert_resolved.json", "alert_children.json",
                           "alert_minimal.json", "alert_long.json"};
    const char *status[] = {"firing", "resolved", "firing", "firing", "firing"};
    for (int i = 0; i < 5; i++) {
        json_t *alert = fixture(names[i]);
        if (!alert)
            continue;
        json_t *before = json_deep_copy(alert);
        json_t *body = format_parse(&rw_notifier_webhook, "ops-hook", alert);
        CHECK(json_equal(alert, before)); /* borrowed alert untouched */
        if (body) {
            CHECK_INT(json_object_size(body), 4);
            CHECK_STR(json_string_value(json_object_get(body, "version")), "rumwatch.v1");
            CHECK_STR(json_string_value(json_object_get(body, "receiver")), "ops-hook");
            CHECK_STR(json_string_value(json_object_get(body, "status")), status[i]);
            CHECK(json_equal(json_object_get(body, "alert"), alert));
        }
        json_decref(body);
        json_decref(before);
        json_decref(alert);
    }

    /* Numbers keep their short form (not jansson's 17 digits). */
    json_t *alert = fixture("alert_firing.json");
    struct rw_notifier_cfg wcfg = test_cfg("h", "webhook");
    struct rw_http_req wreq;
    CHECK_INT(rw_notifier_webhook.format(&wcfg, alert, &wreq), 0);
    CHECK(wreq.body && strstr(wreq.body, "\"score\":5.2,") != NULL);
    CHECK(wreq.body && strstr(wreq.body, "\"value\":4100.5,") != NULL);
    CHECK(wreq.body &&
          strncmp(wreq.body, "{\"version\":\"rumwatch.v1\",\"receiver\":\"h\",", 40) == 0);
    rw_http_req_clear(&wreq);
    json_decref(alert);

    alert = fixture("alert_children.json");
    json_t *body = format_parse(&rw_notifier_webhook, "h", alert);
    CHECK_STR(json_string_value(json_object_get(json_object_get(body, "alert"), "rule")),
              "inp_p75_jump");
    CHECK_INT(json_array_size(json_object_get(json_object_get(body, "alert"), "children")), 30);
    json_decref(body);
    json_decref(alert);

    /* Odd input. */
    struct rw_notifier_cfg cfg = test_cfg("h", "webhook");
    struct rw_http_req req;
    json_t *arr = json_array();
    CHECK_INT(rw_notifier_webhook.format(&cfg, arr, &req), -EINVAL);
    CHECK(req.body == NULL);
    CHECK_INT(rw_notifier_webhook.format(&cfg, NULL, &req), -EINVAL);
    CHECK(req.body == NULL);
    json_decref(arr);
    json_t *odd = json_pack("{s:i}", "state", 7);
    body = format_parse(&rw_notifier_webhook, "h", odd);
    CHECK_STR(json_string_value(json_object_get(body, "status")), "firing");
    json_decref(body);
    json_decref(odd);
}

static void test_slack_firing(void)
{
    json_t *alert = fixture("alert_firing.json");
    json_t *body = format_parse(&rw_notifier_slack, "slack-ops", alert);
    if (!body) {
        json_decref(alert);
        return;
    }
    CHECK_INT(check_slack_limits(body), 4);
    CHECK_STR(json_string_value(json_object_get(body, "text")),
              ":red_circle: [FIRING] p75 LCP 4.1 s vs usual 2.0 s (1.7\xE2\x80\x93"
              "2.4) over 412 views on /checkout \xC2\xB7 mobile");
    CHECK_STR(header_text(body), "FIRING \xC2\xB7 warning \xC2\xB7 lcp_p75_jump");
    CHECK_STR(
        section_text(body, 0),
        "p75 LCP 4.1 s vs usual 2.0 s (1.7\xE2\x80\x93"
        "2.4) over 412 views on /checkout \xC2\xB7 mobile\n*Why:* z=5.2 vs median of 58 windows");
    CHECK_STR(field_value(body, "Observed"), "4.1 s");
    CHECK_STR(field_value(body, "Expected"), "2.0 s (1.7 s\xE2\x80\x93"
                                             "2.4 s)");
    CHECK_STR(field_value(body, "Score"), "z=5.2");
    CHECK_STR(field_value(body, "Samples"), "412");
    CHECK_STR(field_value(body, "Scope"), "page=/checkout \xC2\xB7 device=mobile");
    CHECK_STR(field_value(body, "Detector"), "robust_z");
    CHECK_STR(context_text(body),
              "app default \xC2\xB7 fingerprint `9f2c4e1a0b7d3e55` \xC2\xB7 window end "
              "2025-11-02T01:01:00Z \xC2\xB7 firing since 2025-11-02T00:59:00Z");
    /* Block order: header, summary, fields, context. */
    const json_t *blocks = json_object_get(body, "blocks");
    CHECK_STR(json_string_value(json_object_get(json_array_get(blocks, 0), "type")), "header");
    CHECK_STR(json_string_value(json_object_get(json_array_get(blocks, 3), "type")), "context");
    CHECK_INT(json_array_size(json_object_get(json_array_get(blocks, 2), "fields")), 6);
    json_decref(body);
    json_decref(alert);
}

static void test_slack_resolved(void)
{
    json_t *alert = fixture("alert_resolved.json");
    json_t *body = format_parse(&rw_notifier_slack, "slack-ops", alert);
    if (!body) {
        json_decref(alert);
        return;
    }
    check_slack_limits(body);
    CHECK_STR(json_string_value(json_object_get(body, "text")),
              ":large_green_circle: [RESOLVED] p75 LCP back to 2.1 s (usual 2.0 s, 1.7\xE2\x80\x93"
              "2.4) over 380 views on /checkout \xC2\xB7 mobile");
    CHECK_STR(header_text(body), "RESOLVED \xC2\xB7 warning \xC2\xB7 lcp_p75_jump");
    CHECK_STR(field_value(body, "Observed"), "2.1 s");
    CHECK_STR(field_value(body, "Score"), "z=0.4");
    CHECK_STR(field_value(body, "Samples"), "380");
    CHECK(strstr(context_text(body), "fired since 2025-11-02T00:59:00Z") != NULL);
    CHECK(strstr(context_text(body), "window end 2025-11-02T01:06:00Z") != NULL);
    json_decref(body);
    json_decref(alert);
}

static void test_slack_children(void)
{
    json_t *alert = fixture("alert_children.json");
    json_t *body = format_parse(&rw_notifier_slack, "s", alert);
    if (!body) {
        json_decref(alert);
        return;
    }
    CHECK_INT(check_slack_limits(body), 5);
    CHECK_STR(header_text(body), "FIRING \xC2\xB7 critical \xC2\xB7 inp_p75_jump");
    CHECK_STR(field_value(body, "Observed"), "612 ms");
    CHECK_STR(field_value(body, "Expected"), "180 ms (150 ms\xE2\x80\x93"
                                             "230 ms)");
    CHECK_STR(field_value(body, "Score"), "p=3.2e-20");
    CHECK_STR(field_value(body, "Samples"), "2210");
    CHECK_STR(field_value(body, "Scope"), "device=mobile");
    CHECK_STR(field_value(body, "Detector"), "mann_whitney");

    const char *kids = section_text(body, 1);
    CHECK(kids != NULL);
    if (kids) {
        /* Title line, 10 bullets, the "more" line. */
        int lines = 1;
        for (const char *p = kids; *p; p++)
            lines += *p == '\n';
        CHECK_INT(lines, 12);
        CHECK(strncmp(kids, "*Grouped series (30)*\n", 22) == 0);
        CHECK(strstr(kids,
                     "\n\xE2\x80\xA2 page=/p/00 \xC2\xB7 device=mobile \xE2\x80\x94 500 ms\n") !=
              NULL);
        CHECK(strstr(kids, "page=/p/09 \xC2\xB7 device=mobile \xE2\x80\x94 590 ms\n") != NULL);
        CHECK(strstr(kids, "/p/10") == NULL);
        const char *more = strrchr(kids, '\n');
        CHECK_STR(more, "\n\xE2\x80\xA6"
                        "and 20 more");
    }
    json_decref(body);

    /* children_total beyond the list. */
    json_object_set_new(alert, "children_total", json_integer(45));
    body = format_parse(&rw_notifier_slack, "s", alert);
    kids = section_text(body, 1);
    CHECK(kids && strstr(kids, "*Grouped series (45)*") != NULL);
    CHECK(kids && strstr(kids, "\xE2\x80\xA6"
                               "and 35 more") != NULL);
    json_decref(body);
    json_decref(alert);
}

static void test_slack_minimal(void)
{
    json_t *alert = fixture("alert_minimal.json");
    json_t *body = format_parse(&rw_notifier_slack, "s", alert);
    if (body) {
        CHECK_INT(check_slack_limits(body), 4); /* "children":"oops" ignored */
        CHECK_STR(json_string_value(json_object_get(body, "text")),
                  ":red_circle: [FIRING] views_drop on app-wide");
        CHECK_STR(header_text(body), "FIRING \xC2\xB7 warning \xC2\xB7 views_drop");
        CHECK_STR(section_text(body, 0), "views_drop on app-wide");
        CHECK_STR(field_value(body, "Observed"), "n/a");
        CHECK_STR(field_value(body, "Expected"), "n/a");
        CHECK_STR(field_value(body, "Score"), "n/a");
        CHECK_STR(field_value(body, "Samples"), "n/a");
        CHECK_STR(field_value(body, "Scope"), "app-wide");
        CHECK_STR(field_value(body, "Detector"), "n/a");
        CHECK_STR(context_text(body), "rumwatch");
    }
    json_decref(body);
    json_decref(alert);

    /* Completely empty object and wrong types everywhere. */
    json_t *empty = json_object();
    body = format_parse(&rw_notifier_slack, "s", empty);
    if (body) {
        check_slack_limits(body);
        CHECK_STR(header_text(body), "FIRING \xC2\xB7 warning \xC2\xB7 unnamed rule");
    }
    json_decref(body);
    json_decref(empty);

    json_t *odd = json_pack("{s:i,s:[],s:i,s:s,s:s,s:{s:[i]},s:[s,i,{}],s:s}", "state", 1, "rule",
                            "severity", 3, "value", "x", "ts", "yesterday", "scope", "page", 1,
                            "children", "a", 2, "children_total", "many");
    body = format_parse(&rw_notifier_slack, "s", odd);
    if (body) {
        check_slack_limits(body);
        CHECK_STR(field_value(body, "Scope"), "page=[1]");
        const char *kids = section_text(body, 1);
        CHECK(kids && strstr(kids, "*Grouped series (3)*") != NULL);
        CHECK(kids && strstr(kids, "\xE2\x80\xA2 app-wide") != NULL);
        CHECK(kids && strstr(kids, "and 2 more") != NULL); /* 2 non-objects not shown */
    }
    json_decref(body);
    json_decref(odd);

    struct rw_notifier_cfg cfg = test_cfg("s", "slack");
    struct rw_http_req req;
    json_t *str = json_string("not an object");
    CHECK_INT(rw_notifier_slack.format(&cfg, str, &req), -EINVAL);
    CHECK(req.body == NULL);
    json_decref(str);
}

static void test_slack_long(void)
{
    json_t *alert = fixture("alert_long.json");
    json_t *body = format_parse(&rw_notifier_slack, "s", alert);
    if (!body) {
        json_decref(alert);
        return;
    }
    CHECK_INT(check_slack_limits(body), 5);
    const char *h = header_text(body);
    CHECK_INT(u8len(h), 150);
    CHECK(ends_with_ellipsis(h));
    const char *text = json_string_value(json_object_get(body, "text"));
    /* Cut on whole entities ("&amp;" is 5 chars), so up to 4 short of 3000. */
    CHECK(u8len(text) <= 3000 && u8len(text) >= 2996);
    CHECK(ends_with_ellipsis(text));
    /* mrkdwn escaping of & < > */
    CHECK(text &&
          strstr(text, "Slow &lt;checkout&gt; &amp; \xC3\xA9l\xC3\xA8ve \xF0\x9F\x9A\x80") != NULL);
    CHECK(text && strstr(text, "<checkout>") == NULL);
    const char *sum = section_text(body, 0);
    CHECK(u8len(sum) <= 3000 && u8len(sum) >= 2996);
    CHECK(sum && strstr(sum, "\n*Why:* www") != NULL);
    CHECK(ends_with_ellipsis(sum)); /* the why part (800 w) is clipped to 500 */
    const char *scope = field_value(body, "Scope");
    CHECK_INT(u8len(scope) + u8len("*Scope*\n"), 2000);
    CHECK(ends_with_ellipsis(scope));
    const char *det = field_value(body, "Detector");
    CHECK_INT(u8len(det) + u8len("*Detector*\n"), 2000);
    CHECK(ends_with_ellipsis(det));
    const char *kids = section_text(body, 1);
    CHECK(kids && strstr(kids, "*Grouped series (40)*") != NULL);
    CHECK(kids && strstr(kids, "\xE2\x80\xA6"
                               "and 30 more") != NULL);
    json_decref(body);
    json_decref(alert);
}

/* Number formatting per metric kind, through the Observed / Score fields. */
static void check_obs(const char *metric, const char *stat, double v, const char *want)
{
    json_t *a =
        json_pack("{s:s,s:s,s:s,s:f}", "rule", "r", "metric", metric, "stat", stat, "value", v);
    json_t *body = format_parse(&rw_notifier_slack, "s", a);
    const char *got = body ? field_value(body, "Observed") : NULL;
    if (!got || strcmp(got, want) != 0)
        fprintf(stderr, "  metric=%s stat=%s value=%g\n", metric, stat, v);
    CHECK_STR(got, want);
    json_decref(body);
    json_decref(a);
}

static void check_score(const char *kind, double s, const char *want)
{
    json_t *a = json_pack("{s:s,s:f}", "score_kind", kind, "score", s);
    json_t *body = format_parse(&rw_notifier_slack, "s", a);
    CHECK_STR(body ? field_value(body, "Score") : NULL, want);
    json_decref(body);
    json_decref(a);
}

static void test_numbers(void)
{
    check_obs("lcp", "p75", 4100.5, "4.1 s");
    check_obs("lcp", "p75", 246.2, "246 ms");
    check_obs("inp", "p90", 999.7, "1.0 s");
    check_obs("ttfb", "p75", 12345, "12.3 s");
    check_obs("cls", "p75", 0.2534, "0.253");
    check_obs("cls", "p75", 0, "0.000");
    check_obs("errors", "rate", 0.023, "2.3%");
    check_obs("error_rate", "mean", 0.125, "12.5%");
    check_obs("js_errors", "rate", 0.0004, "0.04%");
    check_obs("views", "count", 1234, "1234");
    check_obs("custom", "mean", 3.14159, "3.14");
    check_obs("custom", "mean", 2.5e7, "2.5e+07");

    check_score("z", 5.24, "z=5.2");
    check_score("z", -4.31, "z=-4.3");
    check_score("p", 3.2e-20, "p=3.2e-20");
    check_score("p", 1e-5, "p=1.0e-5");
    check_score("p", 0.012, "p=0.012");
    check_score("ratio", 2.054, "ratio=2.05");

    /* One-sided bands and a band without expectation. */
    json_t *a = json_pack("{s:s,s:f,s:f}", "metric", "lcp", "expected", 2000.0, "high", 2500.0);
    json_t *body = format_parse(&rw_notifier_slack, "s", a);
    CHECK_STR(body ? field_value(body, "Expected") : NULL, "2.0 s (\xE2\x89\xA4 2.5 s)");
    json_decref(body);
    json_decref(a);
    a = json_pack("{s:s,s:f,s:f}", "metric", "views", "low", 100.0, "high", 900.0);
    body = format_parse(&rw_notifier_slack, "s", a);
    CHECK_STR(body ? field_value(body, "Expected") : NULL, "100\xE2\x80\x93"
                                                           "900");
    json_decref(body);
    json_decref(a);
    a = json_pack("{s:s,s:f,s:f}", "metric", "views", "low", 100.0, "ts", 1762045260123.0);
    body = format_parse(&rw_notifier_slack, "s", a);
    CHECK_STR(body ? field_value(body, "Expected") : NULL, "\xE2\x89\xA5 100");
    CHECK_STR(body ? context_text(body) : NULL, "window end 2025-11-02T01:01:00.123Z");
    json_decref(body);
    json_decref(a);
}

int main(void)
{
    test_registry();
    test_classify();
    test_webhook();
    test_slack_firing();
    test_slack_resolved();
    test_slack_children();
    test_slack_minimal();
    test_slack_long();
    test_numbers();
    TEST_DONE();
}
