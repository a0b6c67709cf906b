/* /api/alerts from a real engine: rw_engine_alerts_json (pending, firing,
 * grouped, the cap), the book's numbers from the alert lines, own alerts,
 * and the engine's per-scope keyspace counters. */
#include <stdlib.h>

#include "check.h"
#include "config/config.h"
#include "engine/alertbook.h"
#include "engine/engine.h"

#define T0 1762041600000LL /* a window boundary */

static struct rw_alertbook *book;
static int nlines;

static void emit(void *ctx, const char *line, int notify)
{
    (void)ctx;
    (void)notify;
    nlines++;
    rw_alertbook_note(book, line);
}

static void view(struct rw_engine *e, int64_t ts, const char *page, double lcp)
{
    char buf[256];
    snprintf(buf, sizeof buf,
             "{\"v\":1,\"type\":\"view\",\"ts\":%lld,\"page\":\"%s\",\"vitals\":{\"lcp\":%g}}",
             (long long)ts, page, lcp);
    CHECK_INT(rw_engine_ingest_json(e, buf, strlen(buf)), RW_OK);
}

/* One minute window of 5 views per page. */
static void window(struct rw_engine *e, int w, const char *const *pages, const double *lcp, int n)
{
    for (int i = 0; i < 5; i++)
        for (int p = 0; p < n; p++)
            view(e, T0 + w * 60000LL + i * 1000, pages[p], lcp[p]);
}

static json_t *find(json_t *arr, const char *rule, const char *page)
{
    size_t i;
    json_t *a;
    json_array_foreach(arr, i, a)
    {
        const char *pg = json_string_value(json_object_get(json_object_get(a, "scope"), "page"));
        if (strcmp(json_string_value(json_object_get(a, "rule")), rule) == 0 &&
            ((!page && !pg) || (page && pg && strcmp(pg, page) == 0)))
            return a;
    }
    return NULL;
}

static void test_alerts(void)
{
    char err[512];
    struct rw_config *cfg = rw_config_load_string(
        "engine = { window = 60.0; lateness = 0.0; max_future = 60.0; };\n"
        "scopes = ( { name = \"app\"; dims = []; }, { name = \"page\"; dims = [\"page\"]; "
        "max_series = 2; } );\n"
        "rules = ( { name = \"fast_high\"; metric = \"lcp\"; stat = \"p75\"; detector = "
        "\"threshold\";\n"
        "            scopes = [\"page\"]; above = 3000.0; min_n = 3; for = 1; recover = 1; },\n"
        "          { name = \"slow_high\"; metric = \"lcp\"; stat = \"p75\"; detector = "
        "\"threshold\";\n"
        "            scopes = [\"page\"]; above = 3000.0; min_n = 3; for = 3; recover = 1;\n"
        "            severity = \"critical\"; } );\n",
        "ab.conf", err, sizeof err);
    CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "%s\n", err);
        return;
    }
    book = rw_alertbook_new(100);
    struct rw_alert_sink sink = {emit, NULL};
    struct rw_engine *e = rw_engine_new(cfg, &sink, err, sizeof err);
    static const char *const pages[] = {"/a", "/b", "/c"};
    const double slow[] = {5000, 1000, 1000};
    window(e, 0, pages, slow, 3); /* /c folds into (other): page holds 2 series */
    window(e, 1, pages, slow, 3);
    rw_engine_advance(e, T0 + 2 * 60000);

    struct rw_engine_alert_counts n;
    json_t *arr = rw_engine_alerts_json(e, 100, &n);
    /* fast_high fired on /a at the end of window 0; slow_high waits for a third window */
    json_t *a = find(arr, "fast_high", "/a");
    CHECK(a != NULL);
    CHECK_STR(json_string_value(json_object_get(a, "state")), "firing");
    CHECK_STR(json_string_value(json_object_get(a, "scope_name")), "page");
    CHECK_STR(json_string_value(json_object_get(a, "app")), "default");
    CHECK_STR(json_string_value(json_object_get(a, "metric")), "lcp");
    CHECK_INT(json_integer_value(json_object_get(a, "since")), T0 + 60000);
    json_t *p = find(arr, "slow_high", "/a");
    CHECK(p != NULL);
    CHECK_STR(json_string_value(json_object_get(p, "state")), "pending");
    CHECK_STR(json_string_value(json_object_get(p, "severity")), "critical");
    CHECK_INT(n.firing, 1);
    CHECK_INT(n.pending, 1);
    CHECK_INT(n.truncated, 0);
    CHECK_INT(json_array_size(arr), 2);
    char fp[17];
    snprintf(fp, sizeof fp, "%s", json_string_value(json_object_get(a, "fingerprint")));

    /* joined with the book: the firing one has its line's numbers, the pending one none */
    CHECK_INT(rw_alertbook_size(book), 1);
    json_t *own = json_array();
    json_array_append_new(
        own, json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:o, s:f, s:f, s:s, s:s, s:I}", "ts",
                       (json_int_t)(T0 + 130000), "state", "firing", "rule", "input_stall",
                       "metric", "events", "stat", "idle_seconds", "severity", "critical", "scope",
                       json_object(), "value", 130.0, "expected", 120.0, "summary", "no events",
                       "fingerprint", "00000000000000aa", "since", (json_int_t)T0));
    char *text = rw_alertbook_render(book, json_deep_copy(arr), own, 0, T0 + 200000);
    json_t *doc = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    CHECK(doc != NULL);
    CHECK_INT(json_integer_value(json_object_get(doc, "firing")), 2);
    CHECK_INT(json_integer_value(json_object_get(doc, "pending")), 1);
    CHECK_INT(json_integer_value(json_object_get(doc, "generated")), T0 + 200000);
    json_t *list = json_object_get(doc, "alerts");
    CHECK_INT(json_array_size(list), 3);
    json_t *s0 = json_array_get(list, 0);
    CHECK_STR(json_string_value(json_object_get(s0, "rule")), "input_stall");
    CHECK_NEAR(json_number_value(json_object_get(s0, "value")), 130, 0);
    CHECK(json_is_null(json_object_get(s0, "scope_name")));
    json_t *f = find(list, "fast_high", "/a");
    CHECK(f != NULL);
    CHECK_NEAR(json_number_value(json_object_get(f, "value")), 5000, 0);
    CHECK_NEAR(json_number_value(json_object_get(f, "expected")), 3000, 0);
    const char *sum = json_string_value(json_object_get(f, "summary"));
    CHECK(sum && strstr(sum, "/a"));
    CHECK_STR(json_string_value(json_object_get(f, "since_time")), "2025-11-02T00:01:00.000Z");
    CHECK_STR(json_string_value(json_object_get(f, "fingerprint")), fp);
    CHECK_INT(json_integer_value(json_object_get(f, "updated")), T0 + 60000); /* its firing line */
    CHECK(json_is_false(json_object_get(f, "flapping")));
    /* the documented field order */
    static const char *const order[] = {"rule",    "state",       "severity",   "metric",
                                        "stat",    "app",         "scope_name", "scope",
                                        "since",   "since_time",  "value",      "expected",
                                        "summary", "fingerprint", "flapping",   "updated"};
    const char *k;
    json_t *v;
    size_t i = 0;
    json_object_foreach(f, k, v)
    {
        CHECK(i < sizeof order / sizeof order[0] && strcmp(k, order[i]) == 0);
        i++;
    }
    json_t *pd = find(list, "slow_high", "/a");
    CHECK(pd && json_is_null(json_object_get(pd, "value")) &&
          json_is_null(json_object_get(pd, "summary")));
    json_decref(doc);
    json_decref(own);
    json_decref(arr);

    /* the cap: counts stay whole, the list is cut */
    arr = rw_engine_alerts_json(e, 1, &n);
    CHECK_INT(json_array_size(arr), 1);
    CHECK_INT(n.truncated, 1);
    CHECK_INT(n.firing + n.pending, 2);
    json_decref(arr);

    /* keyspace counters: /c went to (other) five times a window */
    struct rw_engine_scope_stats ss;
    rw_engine_scope_stats(e, 1, &ss);
    CHECK_INT(ss.series[0], 3); /* /a, /b and (other) */
    CHECK_INT(ss.created[0], 3);
    CHECK_INT(ss.folded[0], 10);
    CHECK_INT(ss.has_custom, 0);
    rw_engine_scope_stats(e, 0, &ss);
    CHECK_INT(ss.series[0], 1);
    rw_engine_scope_stats(e, 7, &ss);
    CHECK_INT(ss.series[0], 0);

    /* /a calm: both alerts end; the book forgets the resolved line */
    const double calm[] = {1000, 1000, 1000};
    window(e, 2, pages, calm, 3);
    rw_engine_advance(e, T0 + 3 * 60000);
    arr = rw_engine_alerts_json(e, 100, &n);
    CHECK_INT(json_array_size(arr), 0);
    CHECK_INT(n.firing + n.pending, 0);
    CHECK_INT(rw_alertbook_size(book), 0);
    json_decref(arr);
    rw_alertbook_note(book, "not json");
    rw_alertbook_note(book, "{\"state\":\"firing\"}");
    CHECK_INT(rw_alertbook_size(book), 0);

    rw_engine_destroy(&e);
    rw_alertbook_destroy(&book);
    rw_config_free(&cfg);
}

/* The book is bounded: lines beyond `max` are not kept. */
static void test_book_cap(void)
{
    struct rw_alertbook *b = rw_alertbook_new(2);
    for (int i = 0; i < 5; i++) {
        char line[160];
        snprintf(line, sizeof line,
                 "{\"state\":\"firing\",\"fingerprint\":\"%016x\",\"value\":%d,\"ts\":1}", i, i);
        rw_alertbook_note(b, line);
    }
    CHECK_INT(rw_alertbook_size(b), 2);
    rw_alertbook_note(b, "{\"state\":\"firing\",\"fingerprint\":\"0000000000000001\",\"value\":9}");
    CHECK_INT(rw_alertbook_size(b), 2); /* an update of a kept one still fits */
    rw_alertbook_note(b, "{\"state\":\"resolved\",\"fingerprint\":\"0000000000000000\"}");
    CHECK_INT(rw_alertbook_size(b), 1);
    rw_alertbook_destroy(&b);
    CHECK(b == NULL);
}

int main(void)
{
    test_alerts();
    test_book_cap();
    TEST_DONE();
}
