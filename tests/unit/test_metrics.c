/* Self-metrics: the Prometheus exposition writer (names, escaping, NaN/Inf,
 * label sets, the rules it enforces, histograms), the /metrics rendering of
 * a snapshot checked line by line against the 0.0.4 grammar, /healthz, the
 * evaluation histogram, and the config keys http / heartbeat /
 * input.stall_after (with the heartbeat's route). */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config/config.h"
#include "engine/httpd.h"
#include "engine/metrics.h"

static char *render(void (*fill)(struct rw_prom *), int *err)
{
    struct rw_prom p;
    rw_prom_init(&p);
    fill(&p);
    *err = p.err;
    return rw_prom_take(&p, NULL);
}

/* ---- values -------------------------------------------------------------- */

static void test_values(void)
{
    char b[40];
    struct {
        double v;
        const char *want;
    } cases[] = {
        {NAN, "NaN"},
        {INFINITY, "+Inf"},
        {-INFINITY, "-Inf"},
        {0.0, "0"},
        {-0.0, "0"},
        {1, "1"},
        {-3, "-3"},
        {1.5, "1.5"},
        {0.1, "0.1"},
        {1e-7, "9.9999999999999995e-08"},
        {9007199254740992.0, "9007199254740992"},
        {123456789012.0, "123456789012"},
        {1e300, "1.0000000000000001e+300"},
        {0.30000000000000004, "0.30000000000000004"},
        {2.5e-3, "0.0025"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        rw_prom_format_value(cases[i].v, b, sizeof b);
        if (isfinite(cases[i].v) && strcmp(b, cases[i].want) != 0) {
            /* any round-tripping shortest form is fine; these are glibc's */
            CHECK(strtod(b, NULL) == cases[i].v);
            CHECK(strlen(b) <= strlen(cases[i].want));
        } else {
            CHECK_STR(b, cases[i].want);
        }
    }
    /* every finite value round-trips exactly */
    double probe[] = {M_PI, -M_E, 1.0 / 3, 6.02214076e23, 5e-324, 1.7976931348623157e308};
    for (size_t i = 0; i < sizeof probe / sizeof probe[0]; i++) {
        rw_prom_format_value(probe[i], b, sizeof b);
        CHECK(strtod(b, NULL) == probe[i]);
    }
}

/* ---- escaping and label sets ------------------------------------------------ */

static void fill_escapes(struct rw_prom *p)
{
    rw_prom_family(p, "x_info", RW_PROM_GAUGE, "help with \\ backslash,\nnewline and \"quotes\"");
    struct rw_prom_label l[3] = {{"a", "back\\slash"}, {"b", "quote\"d"}, {"c", "new\nline"}};
    rw_prom_sample(p, "", l, 3, 1);
    struct rw_prom_label u[2] = {{"utf8", "caf\xC3\xA9 \xE2\x9C\x93"},
                                 {"bad", "a\xFF"
                                         "b\xC3"}};
    rw_prom_sample(p, "", u, 2, 2);
    rw_prom_sample(p, "", NULL, 0, NAN);
    struct rw_prom_label e[1] = {{"empty", ""}};
    rw_prom_sample(p, "", e, 1, INFINITY);
    struct rw_prom_label s[1] = {{"surrogate", "\xED\xA0\x80x"}}; /* UTF-8 of U+D800: invalid */
    rw_prom_sample(p, "", s, 1, -INFINITY);
}

static void test_escaping(void)
{
    int err;
    char *t = render(fill_escapes, &err);
    CHECK_INT(err, 0);
    CHECK_STR(t, "# HELP x_info help with \\\\ backslash,\\nnewline and \"quotes\"\n"
                 "# TYPE x_info gauge\n"
                 "x_info{a=\"back\\\\slash\",b=\"quote\\\"d\",c=\"new\\nline\"} 1\n"
                 "x_info{utf8=\"caf\xC3\xA9 \xE2\x9C\x93\",bad=\"a\xEF\xBF\xBD"
                 "b\xEF\xBF\xBD\"} 2\n"
                 "x_info NaN\n"
                 "x_info{empty=\"\"} +Inf\n"
                 "x_info{surrogate=\"\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDx\"} -Inf\n");
    free(t);
}

/* ---- what the writer refuses -------------------------------------------------- */

static void bad_counter_name(struct rw_prom *p)
{
    rw_prom_family(p, "events", RW_PROM_COUNTER, "h");
}
static void bad_metric_name(struct rw_prom *p)
{
    rw_prom_family(p, "9lives", RW_PROM_GAUGE, "h");
}
static void bad_metric_char(struct rw_prom *p)
{
    rw_prom_family(p, "a-b", RW_PROM_GAUGE, "h");
}
static void sample_first(struct rw_prom *p)
{
    rw_prom_sample(p, "", NULL, 0, 1);
}
static void family_twice(struct rw_prom *p)
{
    rw_prom_family(p, "g", RW_PROM_GAUGE, "h");
    rw_prom_sample(p, "", NULL, 0, 1);
    rw_prom_family(p, "g", RW_PROM_GAUGE, "h");
}
static void label_twice(struct rw_prom *p)
{
    rw_prom_family(p, "g", RW_PROM_GAUGE, "h");
    struct rw_prom_label l[2] = {{"a", "1"}, {"a", "2"}};
    rw_prom_sample(p, "", l, 2, 1);
}
static void label_bad(struct rw_prom *p)
{
    rw_prom_family(p, "g", RW_PROM_GAUGE, "h");
    rw_prom_sample(p, "", &(struct rw_prom_label){"a:b", "1"}, 1, 1);
}
static void label_reserved(struct rw_prom *p)
{
    rw_prom_family(p, "g", RW_PROM_GAUGE, "h");
    rw_prom_sample(p, "", &(struct rw_prom_label){"__name__", "1"}, 1, 1);
}
static void label_null(struct rw_prom *p)
{
    rw_prom_family(p, "g", RW_PROM_GAUGE, "h");
    rw_prom_sample(p, "", &(struct rw_prom_label){"a", NULL}, 1, 1);
}
static void counter_negative(struct rw_prom *p)
{
    rw_prom_family(p, "c_total", RW_PROM_COUNTER, "h");
    rw_prom_sample(p, "", NULL, 0, -1);
}
static void counter_nan(struct rw_prom *p)
{
    rw_prom_family(p, "c_total", RW_PROM_COUNTER, "h");
    rw_prom_sample(p, "", NULL, 0, NAN);
}
static void gauge_suffix(struct rw_prom *p)
{
    rw_prom_family(p, "g", RW_PROM_GAUGE, "h");
    rw_prom_sample(p, "_sum", NULL, 0, 1);
}
static void hist_plain(struct rw_prom *p)
{
    rw_prom_family(p, "h", RW_PROM_HISTOGRAM, "h");
    rw_prom_sample(p, "", NULL, 0, 1);
}
static void hist_le(struct rw_prom *p)
{
    static const double b[] = {1};
    static const uint64_t c[] = {1, 0};
    rw_prom_family(p, "h", RW_PROM_HISTOGRAM, "h");
    rw_prom_histogram(p, &(struct rw_prom_label){"le", "1"}, 1, b, c, 1, 1);
}
static void hist_bounds(struct rw_prom *p)
{
    static const double b[] = {1, 1};
    static const uint64_t c[] = {1, 0, 0};
    rw_prom_family(p, "h", RW_PROM_HISTOGRAM, "h");
    rw_prom_histogram(p, NULL, 0, b, c, 2, 1);
}
static void hist_name(struct rw_prom *p)
{
    rw_prom_family(p, "h_count", RW_PROM_HISTOGRAM, "h");
}
/* The first error sticks: a good family after it writes nothing. */
static void sticky(struct rw_prom *p)
{
    rw_prom_family(p, "bad name", RW_PROM_GAUGE, "h");
    rw_prom_family(p, "good", RW_PROM_GAUGE, "h");
    rw_prom_sample(p, "", NULL, 0, 1);
}

static void test_refusals(void)
{
    void (*cases[])(struct rw_prom *) = {
        bad_counter_name, bad_metric_name, bad_metric_char, sample_first, family_twice,
        label_twice,      label_bad,       label_reserved,  label_null,   counter_negative,
        counter_nan,      gauge_suffix,    hist_plain,      hist_le,      hist_bounds,
        hist_name,        sticky,
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int err = 0;
        char *t = render(cases[i], &err);
        CHECK_INT(err, -EINVAL);
        CHECK(t == NULL);
        free(t);
    }
    struct rw_prom p;
    rw_prom_init(&p);
    bad_counter_name(&p);
    CHECK(strstr(p.errmsg, "_total") != NULL);
    rw_prom_clear(&p);
}

/* ---- histograms and counters written right ------------------------------------ */

static void fill_hist(struct rw_prom *p)
{
    static const double b[] = {0.01, 0.1, 1};
    static const uint64_t c[] = {2, 0, 3, 1}; /* not cumulative; last: above 1 */
    rw_prom_family(p, "work_seconds", RW_PROM_HISTOGRAM, "Work");
    rw_prom_histogram(p, &(struct rw_prom_label){"job", "a"}, 1, b, c, 3, 4.25);
    rw_prom_family(p, "jobs_total", RW_PROM_COUNTER, "Jobs");
    rw_prom_sample_u64(p, "", NULL, 0, 18446744073709551615ull);
}

static void test_histogram(void)
{
    int err;
    char *t = render(fill_hist, &err);
    CHECK_INT(err, 0);
    CHECK_STR(t, "# HELP work_seconds Work\n"
                 "# TYPE work_seconds histogram\n"
                 "work_seconds_bucket{job=\"a\",le=\"0.01\"} 2\n"
                 "work_seconds_bucket{job=\"a\",le=\"0.1\"} 2\n"
                 "work_seconds_bucket{job=\"a\",le=\"1\"} 5\n"
                 "work_seconds_bucket{job=\"a\",le=\"+Inf\"} 6\n"
                 "work_seconds_sum{job=\"a\"} 4.25\n"
                 "work_seconds_count{job=\"a\"} 6\n"
                 "# HELP jobs_total Jobs\n"
                 "# TYPE jobs_total counter\n"
                 "jobs_total 18446744073709551615\n");
    free(t);

    struct rw_histogram h = {0};
    rw_histogram_observe(&h, 0.0005, 1); /* on a bound: that bucket (le is inclusive) */
    rw_histogram_observe(&h, 0.0006, 3);
    rw_histogram_observe(&h, 11, 1); /* beyond the last bound */
    rw_histogram_observe(&h, -1, 1); /* ignored */
    rw_histogram_observe(&h, NAN, 1);
    CHECK_INT(h.counts[0], 1);
    CHECK_INT(h.counts[1], 3);
    CHECK_INT(h.counts[RW_EVAL_NBOUNDS], 1);
    CHECK_INT(h.count, 5);
    CHECK_NEAR(h.sum, 0.0005 + 0.0018 + 11, 1e-12);
}

/* ---- the whole /metrics page ---------------------------------------------------- */

/* A line-by-line check of the 0.0.4 grammar (the integration test runs a
 * full parser): comments are HELP or TYPE, TYPE precedes the family's
 * samples, counters end in _total, samples are name{labels} value. */
static int valid_exposition(const char *text, int *nsamples)
{
    char fam[128] = "", type[16] = "";
    *nsamples = 0;
    for (const char *l = text; *l;) {
        const char *e = strchr(l, '\n');
        if (!e)
            return 0;
        char line[2048];
        size_t n = (size_t)(e - l);
        if (n >= sizeof line || n == 0)
            return 0;
        memcpy(line, l, n);
        line[n] = '\0';
        l = e + 1;
        if (line[0] == '#') {
            char kind[8], name[128];
            if (sscanf(line, "# %7s %127s", kind, name) != 2)
                return 0;
            if (strcmp(kind, "TYPE") == 0) {
                if (sscanf(line, "# TYPE %127s %15s", fam, type) != 2)
                    return 0;
                size_t fl = strlen(fam);
                if (strcmp(type, "counter") == 0 && (fl < 6 || strcmp(fam + fl - 6, "_total")))
                    return 0;
            } else if (strcmp(kind, "HELP") != 0) {
                return 0;
            }
            continue;
        }
        size_t fl = strlen(fam);
        if (!fl || strncmp(line, fam, fl) != 0)
            return 0; /* a sample outside its family */
        const char *rest = line + fl;
        if (strcmp(type, "histogram") == 0) {
            if (!strncmp(rest, "_bucket{", 8))
                rest += 7;
            else if (!strncmp(rest, "_sum", 4) || !strncmp(rest, "_count", 6))
                rest += rest[1] == 's' ? 4 : 6;
            else
                return 0;
        }
        if (*rest == '{') {
            const char *close = strstr(rest, "} ");
            if (!close)
                return 0;
            rest = close + 1;
        }
        if (*rest != ' ')
            return 0;
        rest++;
        char *end;
        if (strcmp(rest, "NaN") && strcmp(rest, "+Inf") && strcmp(rest, "-Inf")) {
            strtod(rest, &end);
            if (end == rest || *end)
                return 0;
        }
        (*nsamples)++;
    }
    return 1;
}

static void test_render(void)
{
    struct rw_metrics_snap *s = calloc(1, sizeof *s);
    s->wall_ms = 1762041600000;
    s->start_wall_ms = 1762041500000;
    s->engine.received = 107;
    s->engine.accepted = 100;
    s->engine.views = 90;
    s->engine.errors = 7;
    s->engine.metrics = 3;
    s->engine.rejected[RW_REJ_JSON] = 5;
    s->engine.rejected[RW_REJ_LATE] = 2;
    s->engine.windows_closed = 42;
    s->engine.watermark = s->wall_ms - 30000;
    s->engine.max_ts = s->wall_ms - 1000;
    s->nscopes = 2;
    snprintf(s->scopes[0].name, sizeof s->scopes[0].name, "page");
    s->scopes[0].max_series = 5000;
    s->scopes[0].st.series[0] = 12;
    s->scopes[0].st.folded[0] = 3;
    s->scopes[0].st.has_custom = 1;
    s->scopes[0].st.series[1] = 4;
    snprintf(s->scopes[1].name, sizeof s->scopes[1].name, "app");
    s->scopes[1].max_series = 20000;
    s->scopes[1].st.series[0] = 1;
    rw_histogram_observe(&s->eval, 0.002, 40);
    rw_histogram_observe(&s->eval, 0.2, 2);
    s->alerts.firing = 2;
    s->alerts.pending = 1;
    s->delivery_on = 1;
    s->delivery.sent = 9;
    s->delivery.pending = 4;
    s->rcvhwm = 1000;
    s->messages = 80;
    s->npubs = 2;
    snprintf(s->pubs[0].id, sizeof s->pubs[0].id, "collector-1");
    s->pubs[0].lost = 17;
    snprintf(s->pubs[1].id, sizeof s->pubs[1].id, RW_PUB_OTHER);
    s->stall_after = 120;
    s->watch.stalled = 1;
    s->watch.idle_s = 130;
    struct rw_metrics_now now = {s->wall_ms + 2000, 0.05, 10, 1048576, 4194304};
    size_t len = 0;
    char *t = rw_metrics_render(s, &now, &len);
    CHECK(t != NULL);
    if (!t) {
        free(s);
        return;
    }
    CHECK_INT(len, strlen(t));
    int n = 0;
    CHECK(valid_exposition(t, &n));
    CHECK(n > 80);
    static const char *const want[] = {
        "rumwatch_build_info{version=\"" RW_VERSION "\"} 1\n",
        "rumwatch_events_received_total 107\n",
        "rumwatch_events_accepted_total{type=\"view\"} 90\n",
        "rumwatch_events_accepted_total{type=\"metric\"} 3\n",
        "rumwatch_events_rejected_total{reason=\"json\"} 5\n",
        "rumwatch_events_rejected_total{reason=\"late\"} 2\n",
        "rumwatch_events_rejected_total{reason=\"future\"} 0\n",
        "rumwatch_series{scope=\"page\",kind=\"rum\"} 12\n",
        "rumwatch_series{scope=\"page\",kind=\"custom\"} 4\n",
        "rumwatch_series{scope=\"app\",kind=\"rum\"} 1\n",
        "rumwatch_series_limit{scope=\"page\",kind=\"rum\"} 5000\n",
        "rumwatch_series_folded_total{scope=\"page\",kind=\"rum\"} 3\n",
        "rumwatch_windows_closed_total 42\n",
        "rumwatch_watermark_lag_seconds 32\n",
        "rumwatch_newest_event_age_seconds 3\n",
        "rumwatch_window_evaluation_seconds_bucket{le=\"0.0025\"} 40\n",
        "rumwatch_window_evaluation_seconds_bucket{le=\"+Inf\"} 42\n",
        "rumwatch_window_evaluation_seconds_count 42\n",
        "rumwatch_alerts{state=\"pending\"} 1\n",
        "rumwatch_alerts{state=\"firing\"} 3\n", /* input_stall fires too */
        "rumwatch_notifications_sent_total 9\n",
        "rumwatch_outbox_depth 4\n",
        "rumwatch_input_rcvhwm 1000\n",
        "rumwatch_input_messages_total 80\n",
        "rumwatch_input_lost_messages_total{publisher=\"collector-1\"} 17\n",
        "rumwatch_input_lost_messages_total{publisher=\"(other)\"} 0\n",
        "rumwatch_input_stalled 1\n",
        "rumwatch_last_event_age_seconds 132\n",
        "rumwatch_snapshot_age_seconds NaN\n",
        "rumwatch_heartbeat_age_seconds NaN\n",
        "process_resident_memory_bytes 1048576\n",
        "process_start_time_seconds 1762041500\n",
        "# TYPE rumwatch_events_rejected_total counter\n",
        "# TYPE rumwatch_window_evaluation_seconds histogram\n",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(t, want[i])) {
            fprintf(stderr, "missing: %s", want[i]);
            CHECK(0);
        }
    free(t);
    s->snapshot_wall_ms = s->wall_ms - 60000;
    t = rw_metrics_render(s, &now, &len);
    CHECK(t && strstr(t, "rumwatch_snapshot_age_seconds 62\n"));
    free(t);
    free(s);
}

/* ---- /healthz ---------------------------------------------------------------------- */

static void test_health(void)
{
    struct rw_metrics_snap *s = calloc(1, sizeof *s);
    s->wall_ms = 1000000;
    s->stall_after = 120;
    struct rw_metrics_now now = {1000500, 0.1, 10, NAN, NAN};
    char *body = NULL;
    CHECK_INT(rw_metrics_health(s, &now, &body), 200);
    CHECK_STR(body, "ok\n");
    free(body);

    s->watch.stalled = 1;
    s->watch.idle_s = 125;
    CHECK_INT(rw_metrics_health(s, &now, &body), 503);
    json_t *j = body ? json_loads(body, 0, NULL) : NULL;
    CHECK(j != NULL);
    CHECK_STR(json_string_value(json_object_get(j, "status")), "unhealthy");
    CHECK_INT(json_array_size(json_object_get(j, "reasons")), 1);
    const char *r0 = json_string_value(json_array_get(json_object_get(j, "reasons"), 0));
    CHECK(r0 && strncmp(r0, "input stalled: no event accepted for 126 s", 42) == 0);
    CHECK_NEAR(json_number_value(json_object_get(j, "last_event_age_seconds")), 125.5, 1e-9);
    json_decref(j);
    free(body);

    now.tick_age_s = 11; /* and the engine loop stopped */
    CHECK_INT(rw_metrics_health(s, &now, &body), 503);
    j = body ? json_loads(body, 0, NULL) : NULL;
    CHECK_INT(json_array_size(json_object_get(j, "reasons")), 2);
    r0 = json_string_value(json_array_get(json_object_get(j, "reasons"), 0));
    CHECK(r0 && strncmp(r0, "engine loop stalled", 19) == 0);
    json_decref(j);
    free(body);

    now.tick_age_s = NAN; /* a clock read gone wrong is not healthy */
    s->watch.stalled = 0;
    CHECK_INT(rw_metrics_health(s, &now, &body), 503);
    free(body);

    now.tick_age_s = 0.1;
    CHECK_INT(rw_metrics_health(NULL, &now, &body), 503); /* nothing published yet */
    CHECK(body && strstr(body, "starting"));
    free(body);
    free(s);
}

/* ---- config ------------------------------------------------------------------------- */

static struct rw_config *load(const char *text, char *err, size_t errlen)
{
    err[0] = '\0';
    return rw_config_load_string(text, "m.conf", err, errlen);
}

#define HOOKS                                                                                      \
    "notifiers = ( { name = \"hook\"; type = \"webhook\"; url = \"http://127.0.0.1:9/h\"; },\n"    \
    "              { name = \"dms\"; type = \"webhook\"; url = \"http://127.0.0.1:9/d\"; } );\n"

static void expect_error(const char *text, const char *needle)
{
    char err[1024];
    struct rw_config *c = load(text, err, sizeof err);
    CHECK(c == NULL);
    if (!strstr(err, needle)) {
        fprintf(stderr, "error \"%s\" lacks \"%s\"\n", err, needle);
        CHECK(0);
    }
    rw_config_free(&c);
}

static void test_config(void)
{
    char err[1024];
    struct rw_config *c = load("", err, sizeof err);
    CHECK(c != NULL);
    if (c) {
        CHECK_STR(c->http.listen, ""); /* no group: off */
        CHECK_NEAR(c->input.stall_after, 120, 0);
        CHECK_STR(c->heartbeat.receiver, "");
    }
    rw_config_free(&c);
    c = load("http = {};\ninput = { stall_after = 0.0; };", err, sizeof err);
    CHECK(c != NULL);
    if (c) {
        CHECK_STR(c->http.listen, "127.0.0.1:9464"); /* the group: loopback by default */
        CHECK_NEAR(c->http.tick_timeout, 10, 0);
        CHECK_NEAR(c->input.stall_after, 0, 0);
    }
    rw_config_free(&c);
    c = load("http = { listen = \"\"; };", err, sizeof err);
    CHECK(c && c->http.listen[0] == '\0');
    rw_config_free(&c);

    expect_error("http = {\n listen = \"9464\"; };", "m.conf:2: http.listen: '9464': expects");
    expect_error("http = { listen = \"127.0.0.1:99999\"; };", "the port must be a number");
    expect_error("http = { listen = \"example.com:80\"; };", "is not a numeric IPv4 address");
    expect_error("http = { listen = \"[::1:80\"; };", "expects \"[IPv6]:PORT\"");
    expect_error("http = { port = 1; };",
                 "http.port: unknown key 'port' (known: listen, tick_timeout)");
    expect_error("input = { stall_after = -1.0; };", "input.stall_after");
    expect_error("input = { stall_after = \"2m\"; };", "input.stall_after");
    expect_error("heartbeat = { interval = 60.0; };", "heartbeat: needs a receiver");
    expect_error(HOOKS "heartbeat = {\n receiver = \"nope\"; };",
                 "m.conf:4: heartbeat.receiver: unknown receiver 'nope' (notifiers: hook, dms)");
    expect_error("notifiers = ( { name = \"dms\"; type = \"webhook\"; url = \"http://h/\"; "
                 "min_severity = \"warning\"; } );\nheartbeat = { receiver = \"dms\"; };",
                 "heartbeats (severity info) would never reach it");
    expect_error(HOOKS "heartbeat = { receiver = \"dms\"; interval = 0.5; };",
                 "heartbeat.interval");
    expect_error(
        "rules = ( { name = \"input_stall\"; metric = \"views\"; detector = \"threshold\"; "
        "below = 1.0; } );",
        "'input_stall' is reserved");

    struct sockaddr_storage ss;
    socklen_t sl;
    CHECK_INT(rw_httpd_parse_listen("[::1]:9464", &ss, &sl, err, sizeof err), 0);
    CHECK_INT(ss.ss_family, AF_INET6);
    CHECK_INT(rw_httpd_parse_listen("localhost:0", &ss, &sl, err, sizeof err), 0);
    CHECK_INT(ss.ss_family, AF_INET);
    CHECK(rw_httpd_parse_listen("::1:9464", &ss, &sl, err, sizeof err) < 0);
    CHECK(rw_httpd_parse_listen("127.0.0.1:", &ss, &sl, err, sizeof err) < 0);
    CHECK(rw_httpd_parse_listen("127.0.0.1:-1", &ss, &sl, err, sizeof err) < 0);

    /* heartbeat: its own route first, to its receiver only, whatever the tree */
    const char *trees[] = {
        "", /* implicit: every alert to every receiver */
        "route = { receiver = \"hook\"; group_by = [\"rule\"];\n"
        "  routes = ( { matchers = [\"severity=info\"]; receiver = \"hook\"; } ); };\n",
    };
    for (int i = 0; i < 2; i++) {
        char text[2048];
        snprintf(text, sizeof text, HOOKS "%sheartbeat = { receiver = \"dms\"; interval = 5.0; };",
                 trees[i]);
        c = load(text, err, sizeof err);
        CHECK(c != NULL);
        if (!c) {
            fprintf(stderr, "%s\n", err);
            continue;
        }
        const struct rw_route *root = c->pipeline.root;
        CHECK(root && root->nchildren >= 2);
        const struct rw_route *hb = root->children[0];
        CHECK_STR(hb->receiver, "dms");
        CHECK(!hb->cont);
        CHECK_INT(hb->group_wait_ms, 0);
        CHECK_INT(hb->group_interval_ms, 500);
        CHECK(hb->repeat_interval_ms > 10LL * 365 * 86400 * 1000);
        CHECK(hb->ngroup_by == 1 && strcmp(hb->group_by[0], "alertname") == 0);
        json_t *beat = json_pack("{s:s, s:s, s:s}", "alertname", "rumwatch_heartbeat", "severity",
                                 "info", "beat", "3");
        json_t *real = json_pack("{s:s, s:s}", "alertname", "lcp_slowdown", "severity", "info");
        const struct rw_route *m[8];
        CHECK_INT(rw_route_match(root, beat, m, 8), 1);
        CHECK(m[0] == hb);
        int nm = rw_route_match(root, real, m, 8);
        for (int k = 0; k < nm; k++)
            CHECK(m[k] != hb && (i == 0 || strcmp(m[k]->receiver, "dms") != 0));
        json_decref(beat);
        json_decref(real);
        for (int k = 0; k < root->nchildren; k++)
            CHECK_INT(root->children[k]->index, k);
        char *printed = NULL;
        size_t plen = 0;
        FILE *f = open_memstream(&printed, &plen);
        rw_config_print(c, f);
        fclose(f);
        CHECK(strstr(printed, "heartbeat = {\n  receiver = \"dms\";\n  interval = 5;\n};"));
        CHECK(strstr(printed, "stall_after = 120;"));
        CHECK(strstr(printed, "# http: off"));
        free(printed);
        rw_config_free(&c);
    }
}

int main(void)
{
    test_values();
    test_escaping();
    test_refusals();
    test_histogram();
    test_render();
    test_health();
    test_config();
    TEST_DONE();
}
