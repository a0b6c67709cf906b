/* The dispatcher: which groups flush at which times with which alerts,
 * send_resolved, repeats, continue, caps, and muting at flush time by
 * silences, inhibition and time intervals. Time is explicit: no sleeps. */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notifiers/group.h"
#include "notifiers/inhibit.h"
#include "notifiers/route.h"
#include "notifiers/silence.h"
#include "tests/unit/check.h"

#define S 1000LL
#define M (60 * S)
#define H (60 * M)

/* An AM alert with rule/page/severity labels; fingerprint "fp" + name. */
static json_t *am(const char *fp, const char *rule, const char *page, const char *severity,
                  const char *status)
{
    json_t *l = json_pack("{s:s, s:s, s:s}", "alertname", rule, "rule", rule, "severity", severity);
    if (page)
        json_object_set_new(l, "page", json_string(page));
    json_t *a = json_pack("{s:s, s:o, s:{s:s}, s:s, s:s, s:s}", "status", status, "labels", l,
                          "annotations", "summary", rule, "startsAt", "2024-03-25T10:00:00.000Z",
                          "endsAt", "0001-01-01T00:00:00Z", "fingerprint", fp);
    CHECK(a != NULL);
    return a;
}

/* Add and drop our reference (the dispatcher keeps its own). */
static int add(struct rw_dispatch *d, json_t *a, int64_t now)
{
    int rc = rw_dispatch_add(d, a, now);
    json_decref(a);
    return rc;
}

/* Every notification the callback saw, as a line:
 * "<t> <receiver> <groupKey> <status> fp1+ fp2- ..." (+ firing, - resolved). */
struct rec {
    char lines[64][512];
    int n;
    int refuse;   /* answer non-zero this many times */
    json_t *last; /* the last notification, kept */
    int64_t now;
};

static int record(void *ud, const struct rw_flush *f)
{
    struct rec *r = ud;
    if (r->refuse > 0) {
        r->refuse--;
        return -1;
    }
    CHECK_STR(f->receiver, json_string_value(json_object_get(f->notification, "receiver")));
    CHECK_STR(f->status, json_string_value(json_object_get(f->notification, "status")));
    CHECK_STR(f->group_key, json_string_value(json_object_get(f->notification, "groupKey")));
    CHECK(json_equal((json_t *)f->group_labels, json_object_get(f->notification, "groupLabels")));
    json_t *alerts = json_object_get(f->notification, "alerts");
    CHECK_INT(json_array_size(alerts), f->nfiring + f->nresolved);
    if (r->n < 64) {
        char *line = r->lines[r->n++];
        snprintf(line, 512, "%lld %s %s %s", (long long)(r->now / S), f->receiver, f->group_key,
                 f->status);
        size_t i;
        json_t *a;
        json_array_foreach(alerts, i, a)
        {
            const char *st = json_string_value(json_object_get(a, "status"));
            snprintf(line + strlen(line), 512 - strlen(line), " %s%s",
                     json_string_value(json_object_get(a, "fingerprint")),
                     strcmp(st, "resolved") == 0 ? "-" : "+");
        }
    }
    json_decref(r->last);
    r->last = json_incref(f->notification);
    return 0;
}

static int due(struct rw_dispatch *d, struct rec *r, int64_t now)
{
    r->now = now;
    return rw_dispatch_due(d, now, record, r);
}

static const char *line(const struct rec *r, int i)
{
    return i < r->n ? r->lines[i] : "(none)";
}

static struct rw_route *simple_root(const char *receiver, const char *group_by, int send_resolved)
{
    char err[256];
    struct rw_route *root = rw_route_new(receiver);
    root->send_resolved = send_resolved;
    if (group_by) {
        const char *gb[] = {group_by};
        CHECK_INT(rw_route_set_group_by(root, gb, 1, err, sizeof err), 0);
    }
    CHECK_INT(rw_route_finalize(root, NULL, err, sizeof err), 0);
    return root;
}

/* group_wait, group_interval, new alerts, resolution, repeat, deletion. */
static void test_timeline(void)
{
    struct rw_route *root = simple_root("slack", "rule", 1);
    struct rw_dispatch *d = rw_dispatch_new(root, NULL);
    struct rec r = {0};
    CHECK(rw_dispatch_next_deadline(d) == INT64_MAX);

    CHECK_INT(add(d, am("a", "lcp_jump", "/a", "warning", "firing"), 0), 1);
    CHECK_INT(add(d, am("c", "cls_jump", "/a", "warning", "firing"), 0), 1);
    CHECK_INT(add(d, am("b", "lcp_jump", "/b", "warning", "firing"), 10 * S), 1);
    CHECK_INT(rw_dispatch_next_deadline(d), 30 * S); /* group_wait from the first alert */
    CHECK_INT(due(d, &r, 30 * S - 1), 0);
    CHECK_INT(r.n, 0);

    CHECK_INT(due(d, &r, 30 * S), 2);
    CHECK_STR(line(&r, 0), "30 slack {}:{rule=\"lcp_jump\"} firing a+ b+");
    CHECK_STR(line(&r, 1), "30 slack {}:{rule=\"cls_jump\"} firing c+");
    /* the notification object, in full */
    json_t *n = r.last;
    CHECK_STR(json_string_value(json_object_get(n, "receiver")), "slack");
    CHECK_STR(json_string_value(json_object_get(json_object_get(n, "groupLabels"), "rule")),
              "cls_jump");
    CHECK_INT(json_object_size(json_object_get(n, "groupLabels")), 1);
    CHECK_STR(json_string_value(json_object_get(json_object_get(n, "commonLabels"), "page")), "/a");
    CHECK_STR(
        json_string_value(json_object_get(json_object_get(n, "commonAnnotations"), "summary")),
        "cls_jump");
    CHECK_STR(json_string_value(json_object_get(n, "externalURL")), "");
    CHECK_INT(json_integer_value(json_object_get(n, "truncatedAlerts")), 0);

    CHECK_INT(rw_dispatch_next_deadline(d), 30 * S + 5 * M);
    CHECK_INT(due(d, &r, 30 * S + 5 * M), 0); /* nothing changed: nothing sent */

    CHECK_INT(add(d, am("d", "lcp_jump", "/d", "warning", "firing"), 6 * M), 1);
    CHECK_INT(due(d, &r, 6 * M), 0); /* not due before the tick */
    CHECK_INT(due(d, &r, 30 * S + 10 * M), 1);
    CHECK_STR(line(&r, 2), "630 slack {}:{rule=\"lcp_jump\"} firing a+ b+ d+");
    /* commonLabels: only what every alert shares */
    CHECK(json_object_get(json_object_get(r.last, "commonLabels"), "page") == NULL);
    CHECK_STR(json_string_value(json_object_get(json_object_get(r.last, "commonLabels"), "rule")),
              "lcp_jump");

    /* b resolves: sent once, firing first, then dropped from the group */
    CHECK_INT(add(d, am("b", "lcp_jump", "/b", "warning", "resolved"), 11 * M), 1);
    CHECK_INT(due(d, &r, 30 * S + 15 * M), 1);
    CHECK_STR(line(&r, 3), "930 slack {}:{rule=\"lcp_jump\"} firing a+ d+ b-");
    struct rw_dispatch_stats st;
    rw_dispatch_stats(d, &st);
    CHECK_INT(st.groups, 2);
    CHECK_INT(st.alerts, 3); /* a, d, c */
    CHECK_INT(due(d, &r, 30 * S + 20 * M), 0);

    /* repeats: the cls group (last sent at 30s) at 4h00m30s, the lcp group
     * (last sent at 15m30s) at 4h15m30s: the first tick at or after
     * last + repeat_interval */
    int sent = 0;
    for (int64_t t = 30 * S + 25 * M; t < 30 * S + 15 * M + 4 * H; t += 5 * M)
        sent += due(d, &r, t);
    CHECK_INT(sent, 1);
    CHECK_STR(line(&r, 4), "14430 slack {}:{rule=\"cls_jump\"} firing c+");
    CHECK_INT(due(d, &r, 30 * S + 15 * M + 4 * H), 1);
    CHECK_STR(line(&r, 5), "15330 slack {}:{rule=\"lcp_jump\"} firing a+ d+");

    /* everything resolves: a resolved notification, then the group is gone */
    CHECK_INT(add(d, am("a", "lcp_jump", "/a", "warning", "resolved"), 4 * H + 16 * M), 1);
    CHECK_INT(add(d, am("d", "lcp_jump", "/d", "warning", "resolved"), 4 * H + 16 * M), 1);
    CHECK_INT(due(d, &r, 30 * S + 20 * M + 4 * H), 1);
    CHECK_STR(line(&r, 6), "15630 slack {}:{rule=\"lcp_jump\"} resolved a- d-");
    CHECK_STR(json_string_value(json_object_get(r.last, "status")), "resolved");
    rw_dispatch_stats(d, &st);
    CHECK_INT(st.groups, 1);
    CHECK_INT(st.alerts, 1);
    CHECK_INT(st.notifications, 7);
    CHECK_INT(st.received, 7);

    /* a resolution nobody holds is ignored */
    CHECK_INT(add(d, am("zz", "lcp_jump", "/z", "warning", "resolved"), 5 * H), 0);
    rw_dispatch_stats(d, &st);
    CHECK_INT(st.resolved_unknown, 1);
    CHECK_INT(st.groups, 1);

    json_t *groups = rw_dispatch_groups(d);
    CHECK_INT(json_array_size(groups), 1);
    CHECK_STR(json_string_value(json_object_get(json_array_get(groups, 0), "groupKey")),
              "{}:{rule=\"cls_jump\"}");
    CHECK_INT(json_integer_value(json_object_get(json_array_get(groups, 0), "firing")), 1);
    json_decref(groups);
    json_decref(r.last);
    rw_dispatch_destroy(&d);
    CHECK(d == NULL);
    rw_dispatch_destroy(&d);
    rw_route_free(&root);
}

static void test_send_resolved_off(void)
{
    struct rw_route *root = simple_root("pager", NULL, 0);
    struct rw_dispatch *d = rw_dispatch_new(root, NULL);
    struct rec r = {0};
    add(d, am("a", "x", "/a", "critical", "firing"), 0);
    add(d, am("b", "y", "/b", "critical", "firing"), 0);
    CHECK_INT(due(d, &r, 30 * S), 1);
    CHECK_STR(line(&r, 0), "30 pager {}:{} firing a+ b+");
    /* b resolves: not wanted, so no notification for it */
    add(d, am("b", "y", "/b", "critical", "resolved"), M);
    CHECK_INT(due(d, &r, 30 * S + 5 * M), 0);
    struct rw_dispatch_stats st;
    rw_dispatch_stats(d, &st);
    CHECK_INT(st.alerts, 1); /* but it is dropped */
    /* a new firing alert is news */
    add(d, am("c", "z", "/c", "critical", "firing"), 6 * M);
    CHECK_INT(due(d, &r, 30 * S + 10 * M), 1);
    CHECK_STR(line(&r, 1), "630 pager {}:{} firing a+ c+");
    /* all resolve: nothing is sent, the group goes away */
    add(d, am("a", "x", "/a", "critical", "resolved"), 11 * M);
    add(d, am("c", "z", "/c", "critical", "resolved"), 11 * M);
    CHECK_INT(due(d, &r, 30 * S + 15 * M), 0);
    rw_dispatch_stats(d, &st);
    CHECK_INT(st.groups, 0);
    CHECK(rw_dispatch_next_deadline(d) == INT64_MAX);
    CHECK_INT(r.n, 2);
    json_decref(r.last);
    rw_dispatch_destroy(&d);
    rw_route_free(&root);
}

/* Fired and resolved within group_wait: nothing to say, nothing sent. */
static void test_flap_in_wait(void)
{
    struct rw_route *root = simple_root("slack", "rule", 1);
    struct rw_dispatch *d = rw_dispatch_new(root, NULL);
    struct rec r = {0};
    add(d, am("a", "x", "/a", "warning", "firing"), 0);
    add(d, am("a", "x", "/a", "warning", "resolved"), 10 * S);
    CHECK_INT(due(d, &r, 30 * S), 0);
    CHECK_INT(r.n, 0);
    struct rw_dispatch_stats st;
    rw_dispatch_stats(d, &st);
    CHECK_INT(st.groups, 0);
    /* and fires again: a fresh group, a fresh group_wait */
    add(d, am("a", "x", "/a", "warning", "firing"), 40 * S);
    CHECK_INT(rw_dispatch_next_deadline(d), 70 * S);
    CHECK_INT(due(d, &r, 70 * S), 1);
    CHECK_STR(line(&r, 0), "70 slack {}:{rule=\"x\"} firing a+");
    json_decref(r.last);
    rw_dispatch_destroy(&d);
    rw_route_free(&root);
}

/* continue: one alert, two receivers, two groups with their own timers. */
static void test_continue(void)
{
    char err[256];
    struct rw_route *root = rw_route_new("slack");
    struct rw_route *pager = rw_route_new("pager"), *co = rw_route_new("checkout-team");
    rw_matchers_add(&pager->matchers, "severity=critical", err, sizeof err);
    pager->cont = 1;
    pager->group_wait_ms = 0;
    rw_matchers_add(&co->matchers, "page=~/checkout.*", err, sizeof err);
    const char *gb[] = {"page"};
    rw_route_set_group_by(co, gb, 1, err, sizeof err);
    rw_route_add_child(root, pager);
    rw_route_add_child(root, co);
    CHECK_INT(rw_route_finalize(root, NULL, err, sizeof err), 0);
    struct rw_dispatch_opts o = {.external_url = "https://rum.example.com"};
    struct rw_dispatch *d = rw_dispatch_new(root, &o);
    struct rec r = {0};
    CHECK_INT(add(d, am("a", "lcp_jump", "/checkout", "critical", "firing"), 0), 2);
    CHECK_INT(add(d, am("b", "lcp_jump", "/home", "warning", "firing"), 0), 1);
    CHECK_INT(rw_dispatch_next_deadline(d), 0); /* pager: group_wait 0 */
    CHECK_INT(due(d, &r, 0), 1);
    CHECK_STR(line(&r, 0), "0 pager {}/{severity=\"critical\"}:{} firing a+");
    CHECK_STR(json_string_value(json_object_get(r.last, "externalURL")), "https://rum.example.com");
    CHECK_INT(due(d, &r, 30 * S), 2);
    CHECK_STR(line(&r, 1),
              "30 checkout-team {}/{page=~\"/checkout.*\"}:{page=\"/checkout\"} firing a+");
    CHECK_STR(line(&r, 2), "30 slack {}:{} firing b+");
    json_decref(r.last);
    rw_dispatch_destroy(&d);
    rw_route_free(&root);
}

/* Caps: groups, alerts per group, alerts overall; a storm stays bounded. */
static void test_caps(void)
{
    struct rw_route *root = simple_root("slack", "rule", 1);
    struct rw_dispatch_opts o = {.max_groups = 2, .max_alerts_per_group = 3, .max_alerts = 5};
    struct rw_dispatch *d = rw_dispatch_new(root, &o);
    char fp[32], rule[32];
    CHECK_INT(add(d, am("r1", "one", "/a", "warning", "firing"), 0), 1);
    CHECK_INT(add(d, am("r2", "two", "/a", "warning", "firing"), 0), 1);
    CHECK_INT(add(d, am("r3", "three", "/a", "warning", "firing"), 0), -ENOSPC);
    for (int i = 0; i < 4; i++) {
        snprintf(fp, sizeof fp, "one%d", i);
        CHECK_INT(add(d, am(fp, "one", "/p", "warning", "firing"), 0), i < 2 ? 1 : -ENOSPC);
    }
    struct rw_dispatch_stats st;
    rw_dispatch_stats(d, &st);
    CHECK_INT(st.groups, 2);
    CHECK_INT(st.alerts, 4);
    CHECK_INT(st.groups_dropped, 1);
    CHECK_INT(st.alerts_dropped, 2);
    /* the total cap (5) */
    CHECK_INT(add(d, am("two1", "two", "/p", "warning", "firing"), 0), 1);
    CHECK_INT(add(d, am("two2", "two", "/p", "warning", "firing"), 0), -ENOSPC);
    /* updates and resolutions of held alerts always fit */
    CHECK_INT(add(d, am("one0", "one", "/p", "warning", "resolved"), 0), 1);
    struct rec r = {0};
    CHECK_INT(due(d, &r, 30 * S), 2);
    /* the first notification of a group also reports what resolved meanwhile */
    CHECK_STR(line(&r, 0), "30 slack {}:{rule=\"one\"} firing r1+ one1+ one0-");
    rw_dispatch_stats(d, &st);
    CHECK_INT(st.alerts, 4);
    json_decref(r.last);
    rw_dispatch_destroy(&d);

    /* A storm of 50000 distinct alerts over 5000 rules with default-ish caps. */
    struct rw_dispatch_opts o2 = {
        .max_groups = 1000, .max_alerts_per_group = 20, .max_alerts = 10000};
    d = rw_dispatch_new(root, &o2);
    int refused = 0;
    for (int i = 0; i < 50000; i++) {
        snprintf(fp, sizeof fp, "%016x", i);
        snprintf(rule, sizeof rule, "rule%d", i % 5000);
        refused += add(d, am(fp, rule, "/p", "warning", "firing"), i) < 0;
    }
    rw_dispatch_stats(d, &st);
    CHECK_INT(st.groups, 1000);
    CHECK_INT(st.alerts, 10000);
    CHECK_INT(st.groups_dropped + st.alerts_dropped, refused);
    CHECK_INT(refused, 40000);
    CHECK_INT(st.received, 50000);
    struct rec r2 = {0};
    CHECK_INT(due(d, &r2, 50000 + 30 * S), 1000);
    json_decref(r2.last);
    rw_dispatch_destroy(&d);
    rw_route_free(&root);
}

static void test_bad_alerts(void)
{
    struct rw_route *root = simple_root("slack", NULL, 1);
    struct rw_dispatch *d = rw_dispatch_new(root, NULL);
    json_t *a = json_pack("{s:s}", "status", "firing");
    CHECK_INT(add(d, a, 0), -EINVAL);
    a = json_pack("{s:{s:i}}", "labels", "x", 1);
    CHECK_INT(add(d, a, 0), -EINVAL);
    a = json_pack("{s:{s:s}, s:i}", "labels", "x", "y", "fingerprint", 7);
    CHECK_INT(add(d, a, 0), -EINVAL);
    CHECK_INT(rw_dispatch_add(d, NULL, 0), -EINVAL);
    a = json_string("not an alert");
    CHECK_INT(add(d, a, 0), -EINVAL);
    /* No fingerprint, no status: derived from labels, taken as firing. */
    a = json_pack("{s:{s:s, s:s}}", "labels", "rule", "x", "page", "/a");
    CHECK_INT(add(d, a, 0), 1);
    a = json_pack("{s:{s:s, s:s}, s:s}", "labels", "page", "/a", "rule", "x", "status", "resolved");
    CHECK_INT(add(d, a, 1), 1); /* same labels, other order: same alert */
    struct rw_dispatch_stats st;
    rw_dispatch_stats(d, &st);
    CHECK_INT(st.invalid, 5);
    CHECK_INT(st.alerts, 1);
    CHECK(rw_dispatch_new(NULL, NULL) == NULL);
    rw_dispatch_destroy(&d);
    rw_route_free(&root);
}

/* A callback that cannot take the notification: nothing is lost. */
static void test_refused(void)
{
    struct rw_route *root = simple_root("slack", NULL, 1);
    struct rw_dispatch *d = rw_dispatch_new(root, NULL);
    struct rec r = {0};
    add(d, am("a", "x", "/a", "warning", "firing"), 0);
    r.refuse = 1;
    CHECK_INT(due(d, &r, 30 * S), 0);
    CHECK_INT(due(d, &r, 30 * S + 5 * M), 1);
    CHECK_STR(line(&r, 0), "330 slack {}:{} firing a+");
    add(d, am("a", "x", "/a", "warning", "resolved"), 6 * M);
    r.refuse = 2;
    CHECK_INT(due(d, &r, 30 * S + 10 * M), 0);
    CHECK_INT(due(d, &r, 30 * S + 15 * M), 0);
    CHECK_INT(due(d, &r, 30 * S + 20 * M), 1);
    CHECK_STR(line(&r, 1), "1230 slack {}:{} resolved a-");
    struct rw_dispatch_stats st;
    rw_dispatch_stats(d, &st);
    CHECK_INT(st.flush_failed, 3);
    CHECK_INT(st.notifications, 2);
    CHECK_INT(st.groups, 0);
    json_decref(r.last);
    rw_dispatch_destroy(&d);
    rw_route_free(&root);
}

static void test_early_flush(void)
{
    struct rw_route *root = simple_root("slack", NULL, 1);
    int64_t now;
    rw_time_parse("2024-03-25T10:05:00Z", &now); /* startsAt is 10:00, 5 minutes ago */
    struct rw_dispatch_opts o = {.early_flush = 1};
    struct rw_dispatch *d = rw_dispatch_new(root, &o);
    add(d, am("a", "x", "/a", "warning", "firing"), now);
    CHECK_INT(rw_dispatch_next_deadline(d), now);
    rw_dispatch_destroy(&d);
    d = rw_dispatch_new(root, NULL); /* off by default */
    add(d, am("a", "x", "/a", "warning", "firing"), now);
    CHECK_INT(rw_dispatch_next_deadline(d), now + 30 * S);
    rw_dispatch_destroy(&d);
    rw_route_free(&root);
}

/* ---- muting at flush time ------------------------------------------------ */

static void test_silenced(void)
{
    struct rw_route *root = simple_root("slack", NULL, 1);
    char err[256], warn[256], id[40];
    struct rw_silences *sil = rw_silences_open(NULL, NULL, 0, warn, sizeof warn, err, sizeof err);
    struct rw_silence_spec spec = {0};
    rw_matchers_add(&spec.matchers, "page=/checkout", err, sizeof err);
    spec.ends_ms = 2 * H;
    snprintf(spec.comment, sizeof spec.comment, "deploy");
    CHECK_INT(rw_silences_add(sil, &spec, 0, id, err, sizeof err), 0);
    rw_silence_spec_clear(&spec);
    struct rw_dispatch *d = rw_dispatch_new(root, NULL);
    rw_dispatch_set_mutes(d, sil, NULL);
    struct rec r = {0};
    add(d, am("co", "lcp_jump", "/checkout", "warning", "firing"), 0);
    add(d, am("ho", "lcp_jump", "/home", "warning", "firing"), 0);
    CHECK_INT(due(d, &r, 30 * S), 1);
    CHECK_STR(line(&r, 0), "30 slack {}:{} firing ho+");
    struct rw_dispatch_stats st;
    rw_dispatch_stats(d, &st);
    CHECK_INT(st.silenced, 1);
    /* expire the silence: the still-firing alert is news on the next tick */
    CHECK_INT(rw_silences_expire(sil, id, 6 * M, err, sizeof err), 0);
    CHECK_INT(due(d, &r, 30 * S + 5 * M), 0);
    CHECK_INT(due(d, &r, 30 * S + 10 * M), 1);
    CHECK_STR(line(&r, 1), "630 slack {}:{} firing co+ ho+");
    json_decref(r.last);
    rw_dispatch_destroy(&d);
    rw_silences_close(&sil);
    rw_route_free(&root);
}

static struct rw_inhibit_rule traffic_rule(const char *equal)
{
    struct rw_inhibit_rule rule;
    char err[256];
    memset(&rule, 0, sizeof rule);
    CHECK_INT(rw_matchers_add(&rule.source, "rule=traffic_drop_app", err, sizeof err), 0);
    CHECK_INT(rw_matchers_add(&rule.target, "rule=~.*_slowdown", err, sizeof err), 0);
    if (equal)
        CHECK_INT(rw_inhibit_rule_add_equal(&rule, equal), 0);
    return rule;
}

static void test_inhibited(void)
{
    /* An app-wide traffic drop mutes slowdown alerts (equal = []). */
    struct rw_inhibit_rule rule = traffic_rule(NULL);
    struct rw_inhibitor *inh = rw_inhibitor_new(&rule, 1, 0);
    struct rw_route *root = simple_root("slack", "rule", 1);
    struct rw_dispatch *d = rw_dispatch_new(root, NULL);
    rw_dispatch_set_mutes(d, NULL, inh);
    struct rec r = {0};
    add(d, am("drop", "traffic_drop_app", NULL, "critical", "firing"), 0);
    add(d, am("slow1", "lcp_slowdown", "/checkout", "warning", "firing"), 0);
    add(d, am("slow2", "inp_slowdown", "/home", "warning", "firing"), 0);
    add(d, am("other", "error_rate", "/home", "warning", "firing"), 0);
    CHECK_INT(due(d, &r, 30 * S), 2);
    CHECK_STR(line(&r, 0), "30 slack {}:{rule=\"traffic_drop_app\"} firing drop+");
    CHECK_STR(line(&r, 1), "30 slack {}:{rule=\"error_rate\"} firing other+");
    struct rw_dispatch_stats st;
    rw_dispatch_stats(d, &st);
    CHECK_INT(st.inhibited, 2);
    /* the traffic drop ends: the slowdowns still firing get through */
    add(d, am("drop", "traffic_drop_app", NULL, "critical", "resolved"), M);
    CHECK_INT(due(d, &r, 30 * S + 5 * M), 3);
    CHECK_STR(line(&r, 2), "330 slack {}:{rule=\"traffic_drop_app\"} resolved drop-");
    CHECK_STR(line(&r, 3), "330 slack {}:{rule=\"lcp_slowdown\"} firing slow1+");
    CHECK_STR(line(&r, 4), "330 slack {}:{rule=\"inp_slowdown\"} firing slow2+");
    struct rw_inhibit_stats is;
    rw_inhibitor_stats(inh, &is);
    CHECK_INT(is.sources, 0);
    json_decref(r.last);
    rw_dispatch_destroy(&d);
    rw_route_free(&root);
    rw_inhibitor_destroy(&inh);
    rw_inhibit_rule_clear(&rule);

    /* equal = ["page"]: an app-wide drop has no page, so it mutes nothing;
     * a drop on /checkout mutes only /checkout's slowdowns. */
    rule = traffic_rule("page");
    inh = rw_inhibitor_new(&rule, 1, 0);
    json_t *drop_app = am("drop", "traffic_drop_app", NULL, "critical", "firing");
    json_t *drop_co = am("dropco", "traffic_drop_app", "/checkout", "critical", "firing");
    json_t *s1 = am("slow1", "lcp_slowdown", "/checkout", "warning", "firing");
    json_t *s2 = am("slow2", "inp_slowdown", "/home", "warning", "firing");
    const json_t *l1 = json_object_get(s1, "labels"), *l2 = json_object_get(s2, "labels");
    rw_inhibitor_observe(inh, drop_app);
    CHECK_INT(rw_inhibitor_mutes(inh, l1, "slow1", NULL, 0), 0);
    CHECK_INT(rw_inhibitor_mutes(inh, l2, "slow2", NULL, 0), 0);
    rw_inhibitor_observe(inh, drop_co);
    char by[40] = "";
    CHECK_INT(rw_inhibitor_mutes(inh, l1, "slow1", by, sizeof by), 1);
    CHECK_STR(by, "dropco");
    CHECK_INT(rw_inhibitor_mutes(inh, l2, "slow2", NULL, 0), 0);
    /* the source resolves: no more muting */
    json_object_set_new(drop_co, "status", json_string("resolved"));
    rw_inhibitor_observe(inh, drop_co);
    CHECK_INT(rw_inhibitor_mutes(inh, l1, "slow1", NULL, 0), 0);
    rw_inhibitor_stats(inh, &is);
    CHECK_INT(is.sources, 1);
    CHECK_INT(is.muted, 1);
    json_decref(drop_app);
    json_decref(drop_co);
    json_decref(s1);
    json_decref(s2);
    rw_inhibitor_destroy(&inh);
    rw_inhibit_rule_clear(&rule);

    /* Not itself, and not each other when both sides match. */
    char err[256];
    memset(&rule, 0, sizeof rule);
    rw_matchers_add(&rule.source, "severity=critical", err, sizeof err);
    rw_matchers_add(&rule.target, "severity=~critical|warning", err, sizeof err);
    inh = rw_inhibitor_new(&rule, 1, 2);
    json_t *x = am("x", "a", "/a", "critical", "firing"),
           *y = am("y", "b", "/b", "critical", "firing"),
           *w = am("w", "c", "/c", "warning", "firing"),
           *z = am("z", "d", "/d", "critical", "firing");
    rw_inhibitor_observe(inh, x);
    CHECK_INT(rw_inhibitor_mutes(inh, json_object_get(x, "labels"), "x", NULL, 0), 0);
    rw_inhibitor_observe(inh, y);
    CHECK_INT(rw_inhibitor_mutes(inh, json_object_get(x, "labels"), "x", NULL, 0), 0);
    CHECK_INT(rw_inhibitor_mutes(inh, json_object_get(y, "labels"), "y", NULL, 0), 0);
    CHECK_INT(rw_inhibitor_mutes(inh, json_object_get(w, "labels"), "w", NULL, 0), 1);
    /* max_sources = 2: a third source is not cached, and counted */
    rw_inhibitor_observe(inh, z);
    rw_inhibitor_stats(inh, &is);
    CHECK_INT(is.sources, 2);
    CHECK_INT(is.dropped, 1);
    json_decref(x);
    json_decref(y);
    json_decref(w);
    json_decref(z);
    rw_inhibitor_destroy(&inh);
    CHECK(inh == NULL);
    rw_inhibit_rule_clear(&rule);
    CHECK_INT(rw_inhibit_rule_add_equal(&rule, "bad-name"), -EINVAL);
}

static void test_time_muted(void)
{
    char err[512];
    struct rw_timeints *tis = rw_timeints_new();
    struct rw_timeint *t = rw_timeints_add(tis, "nights");
    struct rw_time_interval *e = rw_timeint_add_entry(t);
    CHECK_INT(rw_ti_add_times(e, "22:00", "06:00", err, sizeof err), 0);
    CHECK_INT(rw_ti_add_weekdays(e, "monday:friday", err, sizeof err), 0);
    CHECK_INT(rw_ti_set_location(e, "Europe/Berlin", NULL, err, sizeof err), 0);
    struct rw_route *root = rw_route_new("slack"), *co = rw_route_new("checkout-team");
    rw_matchers_add(&co->matchers, "page=/checkout", err, sizeof err);
    rw_route_add_mute(co, "nights");
    rw_route_add_child(root, co);
    CHECK_INT(rw_route_finalize(root, tis, err, sizeof err), 0);
    struct rw_dispatch *d = rw_dispatch_new(root, NULL);
    struct rec r = {0};
    int64_t t0;
    rw_time_parse("2024-03-25T20:50:00Z", &t0); /* Monday 21:50 in Berlin */
    add(d, am("co", "lcp_jump", "/checkout", "warning", "firing"), t0);
    add(d, am("co2", "cls_jump", "/checkout", "warning", "firing"), t0);
    add(d, am("ho", "lcp_jump", "/home", "warning", "firing"), t0);
    CHECK_INT(due(d, &r, t0 + 30 * S), 2); /* 21:50:30: not yet night */
    CHECK_STR(line(&r, 0), "1711399830 checkout-team {}/{page=\"/checkout\"}:{} firing co+ co2+");
    CHECK_STR(line(&r, 1), "1711399830 slack {}:{} firing ho+");
    /* at night (22:00-06:00 local): new alerts and resolutions on the muted
     * route are held back; the other route carries on (and repeats) */
    int sent = 0;
    for (int64_t tick = t0 + 30 * S + 5 * M; tick < t0 + 9 * H; tick += 5 * M) {
        if (tick == t0 + 30 * S + 20 * M) { /* 22:10 local */
            add(d, am("co3", "inp_jump", "/checkout", "warning", "firing"), t0 + 20 * M);
            add(d, am("co2", "cls_jump", "/checkout", "warning", "resolved"), t0 + 20 * M);
            add(d, am("ho2", "inp_jump", "/home", "warning", "firing"), t0 + 20 * M);
        }
        sent += due(d, &r, tick);
    }
    CHECK_INT(sent, 4);
    CHECK_INT(r.n, 6);
    CHECK_STR(line(&r, 2), "1711401030 slack {}:{} firing ho+ ho2+");
    CHECK_STR(line(&r, 3), "1711415430 slack {}:{} firing ho+ ho2+"); /* 4h repeats */
    /* 06:00 local is 05:00Z: the first tick after it sends what fires now;
     * co2's resolution fell into the night and is not sent */
    CHECK_STR(line(&r, 4), "1711429230 checkout-team {}/{page=\"/checkout\"}:{} firing co+ co3+");
    CHECK_STR(line(&r, 5), "1711429830 slack {}:{} firing ho+ ho2+"); /* next repeat */
    struct rw_dispatch_stats st;
    rw_dispatch_stats(d, &st);
    CHECK_INT(st.muted_time, 96); /* ticks from 22:00:30 to 05:55:30 local */
    json_decref(r.last);
    rw_dispatch_destroy(&d);
    rw_route_free(&root);
    rw_timeints_free(&tis);
}

/* Journal: the records of a live dispatcher (alerts at their times, group
 * records after flushes) replayed into a fresh one give the same
 * behaviour: same timers, same log (no repeat before repeat_interval), the
 * same notification numbers; a snapshot does the same, resolved alerts
 * included; a changed group_by files the alerts anew. */
struct jlog {
    json_t *recs;
};

static int jput(void *ud, const json_t *rec)
{
    struct jlog *j = ud;
    return json_array_append(j->recs, (json_t *)rec) ? -ENOMEM : 0;
}

static int seq_seen;
static int64_t created_seen;
static int record_seq(void *ud, const struct rw_flush *f)
{
    seq_seen = (int)f->seq;
    created_seen = f->group_created_ms;
    return record(ud, f);
}

static void test_journal_replay(void)
{
    struct rw_route *root = simple_root("slack", "rule", 1);
    struct rw_dispatch *d = rw_dispatch_new(root, NULL);
    struct jlog j = {json_array()};
    rw_dispatch_set_journal(d, jput, &j);
    struct rec r = {0};
    json_t *a1 = am("a", "lcp", "/a", "warning", "firing");
    json_t *a2 = am("b", "lcp", "/b", "warning", "firing");
    json_array_append_new(
        j.recs, json_pack("{s:s, s:I, s:O}", "t", "a", "at", (json_int_t)(5 * S), "alert", a1));
    CHECK_INT(add(d, a1, 5 * S), 1);
    r.now = 35 * S;
    CHECK_INT(rw_dispatch_due(d, 35 * S, record_seq, &r), 1);
    CHECK_INT(seq_seen, 1);
    CHECK_INT(created_seen, 5 * S);
    json_array_append_new(
        j.recs, json_pack("{s:s, s:I, s:O}", "t", "a", "at", (json_int_t)(40 * S), "alert", a2));
    CHECK_INT(add(d, a2, 40 * S), 1);
    CHECK_INT(json_array_size(j.recs), 3); /* a, g (after the flush), a */

    /* replay into a fresh dispatcher ("kill -9" at 60 s) */
    struct rw_dispatch *d2 = rw_dispatch_new(root, NULL);
    size_t i;
    json_t *rec;
    json_array_foreach(j.recs, i, rec)
    {
        const char *t = json_string_value(json_object_get(rec, "t"));
        if (strcmp(t, "a") == 0)
            CHECK(rw_dispatch_add(d2, json_object_get(rec, "alert"),
                                  json_integer_value(json_object_get(rec, "at"))) >= 0);
        else
            CHECK_INT(rw_dispatch_restore(d2, rec, 60 * S), 1);
    }
    /* the group flushed at 35 s: next tick 35 s + 5 min, as in the original */
    CHECK_INT(rw_dispatch_next_deadline(d2), rw_dispatch_next_deadline(d));
    CHECK_INT(rw_dispatch_next_deadline(d2), 35 * S + 5 * M);
    struct rec r2 = {0};
    r2.now = 35 * S + 5 * M;
    CHECK_INT(rw_dispatch_due(d2, 35 * S + 5 * M, record_seq, &r2), 1);
    CHECK_STR(line(&r2, 0), "335 slack {}:{rule=\"lcp\"} firing a+ b+");
    CHECK_INT(seq_seen, 2);
    CHECK_INT(created_seen, 5 * S);

    /* a snapshot of d2 with a resolved alert waiting: restored in full */
    CHECK_INT(add(d2, am("a", "lcp", "/a", "warning", "resolved"), 400 * S), 1);
    struct jlog snap = {json_array()};
    CHECK_INT(rw_dispatch_snapshot(d2, jput, &snap), 1);
    struct rw_dispatch *d3 = rw_dispatch_new(root, NULL);
    CHECK_INT(rw_dispatch_restore(d3, json_array_get(snap.recs, 0), 500 * S), 2);
    struct rec r3 = {0};
    r3.now = 35 * S + 10 * M;
    CHECK_INT(rw_dispatch_due(d3, 35 * S + 10 * M, record_seq, &r3), 1);
    CHECK_STR(line(&r3, 0), "635 slack {}:{rule=\"lcp\"} firing b+ a-");
    CHECK_INT(seq_seen, 3);

    /* group_by changed: the alerts are filed anew (group_wait from now) */
    struct rw_route *root2 = simple_root("slack", "page", 1);
    struct rw_dispatch *d4 = rw_dispatch_new(root2, NULL);
    CHECK_INT(rw_dispatch_restore(d4, json_array_get(snap.recs, 0), 500 * S), 0);
    struct rw_dispatch_stats ds;
    rw_dispatch_stats(d4, &ds);
    CHECK_INT(ds.restore_rerouted, 1); /* the firing one; the resolved one is unknown there */
    CHECK_INT(ds.groups, 1);
    CHECK_INT(rw_dispatch_next_deadline(d4), 530 * S);
    /* bad records */
    json_t *bad = json_pack("{s:s}", "t", "g");
    CHECK_INT(rw_dispatch_restore(d4, bad, 0), -EINVAL);
    json_decref(bad);
    rw_dispatch_destroy(&d4);
    rw_dispatch_destroy(&d3);
    rw_dispatch_destroy(&d2);
    rw_dispatch_destroy(&d);
    json_decref(j.recs);
    json_decref(snap.recs);
    json_decref(r.last);
    json_decref(r2.last);
    json_decref(r3.last);
    rw_route_free(&root);
    rw_route_free(&root2);
}

int main(void)
{
    test_journal_replay();
    test_timeline();
    test_send_resolved_off();
    test_flap_in_wait();
    test_continue();
    test_caps();
    test_bad_alerts();
    test_refused();
    test_early_flush();
    test_silenced();
    test_inhibited();
    test_time_muted();
    TEST_DONE();
}
