/* Alert line formatting. Not on the hot path: runs once per transition. */
#include "engine/alert.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/fnv.h"
#include "engine/metric.h"

static void utf8_trim(char *s);

uint64_t rw_alert_fingerprint(const char *rule, const char *app, size_t app_len, int ndims,
                              const char *const *names, const char *const *vals,
                              const size_t *lens)
{
    uint64_t h = RW_FNV_OFFSET;
    h = rw_fnv1a(h, rule, strlen(rule) + 1);
    h = rw_fnv1a(h, app, app_len);
    h = rw_fnv1a(h, "", 1);
    for (int i = 0; i < ndims; i++) {
        h = rw_fnv1a(h, names[i], strlen(names[i]));
        h = rw_fnv1a(h, "=", 1);
        h = rw_fnv1a(h, vals[i], lens[i]);
        h = rw_fnv1a(h, "", 1);
    }
    return h ? h : 1; /* 0 means "no parent" */
}

static const char *metric_label(int m)
{
    static const char *const labels[] = {"TTFB", "FCP", "LCP", "INP", "CLS",
                                         "error rate", "views", "errors", "custom"};
    return labels[m];
}

/* A custom metric's name is its scope's "metric" value. */
static void custom_name(const struct rw_alert_view *a, char *buf, size_t len)
{
    snprintf(buf, len, "metric");
    for (int i = 0; i < a->ndims; i++)
        if (strcmp(a->dim_names[i], "metric") == 0)
            snprintf(buf, len, "%.*s", (int)a->dim_lens[i], a->dim_vals[i]);
}

/* Human value: ms vitals in ms or s, CLS with 3 decimals, rates in percent. */
static void fmt_value(int metric, double x, char *buf, size_t len)
{
    if (isnan(x)) {
        snprintf(buf, len, "n/a");
    } else if (metric == RW_M_CLS) {
        snprintf(buf, len, "%.3f", x);
    } else if (rw_metric_is_vital(metric)) {
        if (fabs(x) >= 1000)
            snprintf(buf, len, "%.1f s", x / 1000.0);
        else
            snprintf(buf, len, "%.0f ms", x);
    } else if (metric == RW_M_ERROR_RATE) {
        if (x * 100 >= 10 || x == 0)
            snprintf(buf, len, "%.0f%%", x * 100);
        else if (x * 100 >= 1)
            snprintf(buf, len, "%.1f%%", x * 100);
        else
            snprintf(buf, len, "%.2f%%", x * 100);
    } else if (x != floor(x) && fabs(x) < 100) {
        snprintf(buf, len, "%.1f", x); /* a per-window average over a span */
    } else {
        snprintf(buf, len, "%.0f", x);
    }
}

/* The band without repeating the unit: "1.7–2.4 s", "180–240 ms"; a
 * one-sided band names the edge that fires: "alert above 2.4 s". */
static void fmt_band(int metric, double lo, double hi, char *buf, size_t len)
{
    char a[32], b[32];
    if (metric != RW_M_VIEWS && metric != RW_M_ERRORS && !isnan(lo) && lo < 0)
        lo = 0;
    if (isnan(lo) && isnan(hi)) {
        buf[0] = '\0';
    } else if (isnan(lo)) {
        fmt_value(metric, hi, b, sizeof b);
        snprintf(buf, len, " (alert above %s)", b);
    } else if (isnan(hi)) {
        fmt_value(metric, lo, a, sizeof a);
        snprintf(buf, len, " (alert below %s)", a);
    } else if (rw_metric_is_vital(metric) && metric != RW_M_CLS) {
        if (fabs(hi) >= 1000)
            snprintf(buf, len, " (%.1f–%.1f s)", lo / 1000.0, hi / 1000.0);
        else
            snprintf(buf, len, " (%.0f–%.0f ms)", lo, hi);
    } else {
        fmt_value(metric, lo, a, sizeof a);
        fmt_value(metric, hi, b, sizeof b);
        snprintf(buf, len, " (%s–%s)", a, b);
    }
}

void rw_alert_where(const struct rw_alert_view *a, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    if (!(a->app_len == 7 && memcmp(a->app, "default", 7) == 0))
        off += (size_t)snprintf(buf, len, "%.*s", (int)a->app_len, a->app);
    for (int i = 0; i < a->ndims && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%s=%.*s", off ? " · " : "",
                                strcmp(a->dim_names[i], "page") ? a->dim_names[i] : "page",
                                (int)a->dim_lens[i], a->dim_vals[i]);
    if (off >= len)
        return;
    /* Pages read better bare: "/checkout · device=mobile". */
    if (a->ndims == 0 && off == 0)
        snprintf(buf, len, "the whole site");
    utf8_trim(buf);
}

static void where_short(const struct rw_alert_view *a, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    if (!(a->app_len == 7 && memcmp(a->app, "default", 7) == 0))
        off += (size_t)snprintf(buf, len, "%.*s", (int)a->app_len, a->app);
    for (int i = 0; i < a->ndims && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, "%s%.*s", off ? " · " : "",
                                (int)a->dim_lens[i], a->dim_vals[i]);
    if (off == 0)
        snprintf(buf, len, "the whole site");
    utf8_trim(buf); /* a long value may have been cut inside a character */
}

void rw_alert_summary(const struct rw_alert_view *a, char *buf, size_t len)
{
    const struct rw_verdict *v = a->v;
    int m = a->rule->metric;
    char val[32], exp[32], band[80], where[600], pre[160];
    where_short(a, where, sizeof where);
    fmt_value(m, v->value, val, sizeof val);
    fmt_value(m, v->expected, exp, sizeof exp);
    fmt_band(m, v->low, v->high, band, sizeof band);
    const char *state = a->firing ? "" : "resolved: ";
    int threshold = a->rule->det == &rw_detector_threshold;
    double per_min = a->window_s > 0 ? 60.0 / a->window_s : 1;

    if (a->rule->det->flags & RW_DET_RATINGS) {
        /* value/expected are a share of views (poor, or NI+poor: v->what),
         * not the statistic */
        char hi[40] = "";
        if (isfinite(v->high))
            snprintf(hi, sizeof hi, " (alert above %.1f%%)", 100 * v->high);
        const char *what = v->what && strncmp(v->what, "NI+poor", 7) == 0 ? "NI+poor" : "poor";
        snprintf(buf, len, "%s%s %s share %.1f%% vs usual %.1f%%%s over %u views on %s", state,
                 what, metric_label(m), 100 * v->value, 100 * v->expected, hi, v->n, where);
    } else if (rw_metric_is_vital(m)) {
        snprintf(pre, sizeof pre, "%s%s %s %s", state, rw_stat_names[a->rule->stat],
                 metric_label(m), val);
        if (threshold)
            snprintf(buf, len, "%s %s the %s line over %u views on %s", pre,
                     v->value > v->expected ? "above" : "below", exp, v->n, where);
        else
            snprintf(buf, len, "%s vs usual %s%s over %u views on %s", pre, exp, band, v->n,
                     where);
    } else if (m == RW_M_ERROR_RATE) {
        snprintf(buf, len, "%serror rate %s vs usual %s over %u views on %s", state, val, exp,
                 v->n, where);
    } else if (m == RW_M_CUSTOM) {
        char name[80];
        const char *unit = a->window_s == 60 ? " a minute" : " a window";
        custom_name(a, name, sizeof name);
        int per_view = a->rule->stat == RW_S_PER_VIEW;
        snprintf(buf, len, "%s%s %s %s%s vs usual %s%s on %s", state, name,
                 per_view ? "per view" : rw_stat_names[a->rule->stat], val,
                 a->rule->stat == RW_S_MEAN || per_view ? "" : unit, exp, band, where);
    } else {
        const char *unit = a->window_s == 60 ? "a minute" : "a window";
        (void)per_min;
        if (m == RW_M_VIEWS && v->value == 0 && a->firing)
            snprintf(buf, len, "no views vs usual %s %s on %s", exp, unit, where);
        else
            snprintf(buf, len, "%s%s %s %s vs usual %s on %s", state, metric_label(m), val, unit,
                     exp, where);
    }
}

/* snprintf may cut a multi-byte character; jansson refuses invalid UTF-8. */
static void utf8_trim(char *s)
{
    size_t n = strlen(s), i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i > 0 && ((unsigned char)s[i - 1] & 0x80)) {
        unsigned char lead = (unsigned char)s[i - 1];
        size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
        if (n - (i - 1) < need)
            s[i - 1] = '\0';
    }
}

static json_t *num_or_null(double x)
{
    return isfinite(x) ? json_real(x) : json_null();
}

json_t *rw_alert_json(const struct rw_alert_view *a)
{
    static const char *const score_kinds[] = {"ratio", "z", "p"};
    char fp[17], summary[1024];
    json_t *o = json_object();
    json_t *scope = json_object();
    json_object_set_new(o, "ts", json_integer(a->ts));
    json_object_set_new(o, "state", json_string(a->firing ? "firing" : "resolved"));
    json_object_set_new(o, "rule", json_string(a->rule->name));
    json_object_set_new(o, "metric", json_string(rw_metric_names[a->rule->metric]));
    json_object_set_new(o, "stat", json_string(rw_stat_names[a->rule->stat]));
    json_object_set_new(o, "app", json_stringn(a->app, a->app_len));
    for (int i = 0; i < a->ndims; i++)
        json_object_set_new(scope, a->dim_names[i], json_stringn(a->dim_vals[i], a->dim_lens[i]));
    json_object_set_new(o, "scope", scope);
    json_object_set_new(o, "value", num_or_null(a->v->value));
    json_object_set_new(o, "expected", num_or_null(a->v->expected));
    json_object_set_new(o, "low", num_or_null(a->v->low));
    json_object_set_new(o, "high", num_or_null(a->v->high));
    json_object_set_new(o, "score", num_or_null(a->v->score));
    json_object_set_new(o, "score_kind", json_string(score_kinds[a->v->score_kind]));
    json_object_set_new(o, "n", json_integer(a->v->n));
    json_object_set_new(o, "severity", json_string(rw_severity_names[a->rule->severity]));
    json_object_set_new(o, "detector", json_string(a->rule->det->name));
    snprintf(fp, sizeof fp, "%016llx", (unsigned long long)a->fingerprint);
    json_object_set_new(o, "fingerprint", json_string(fp));
    json_object_set_new(o, "since", json_integer(a->since));
    rw_alert_summary(a, summary, sizeof summary);
    size_t sl = strlen(summary);
    if (a->flapping)
        snprintf(summary + sl, sizeof summary - sl, " (flapping: changes held until it settles)");
    else if (a->nodata)
        snprintf(summary + sl, sizeof summary - sl, " (no data)");
    utf8_trim(summary);
    json_object_set_new(o, "summary", json_string(summary));
    json_object_set_new(o, "why", json_string(a->v->why));
    if (a->parent) {
        snprintf(fp, sizeof fp, "%016llx", (unsigned long long)a->parent);
        json_object_set_new(o, "parent", json_string(fp));
    }
    /* Why it fired, in numbers (docs/schema.md "evidence"). */
    const struct rw_verdict *v = a->v;
    json_t *ev = json_object();
    if (v->test)
        json_object_set_new(ev, "test", json_string(v->test));
    if (v->what)
        json_object_set_new(ev, "quantity", json_string(v->what));
    json_object_set_new(ev, "observed", num_or_null(v->value));
    json_object_set_new(ev, "expected", num_or_null(v->expected));
    json_t *band = json_array();
    json_array_append_new(band, num_or_null(v->low));
    json_array_append_new(band, num_or_null(v->high));
    json_object_set_new(ev, "band", band);
    double abs_eff = v->value - v->expected;
    json_object_set_new(ev, "effect", num_or_null(abs_eff));
    json_object_set_new(ev, "effect_rel",
                        num_or_null(v->expected != 0 ? abs_eff / fabs(v->expected) : NAN));
    if (v->score_kind == RW_SCORE_Z)
        json_object_set_new(ev, "z", num_or_null(v->score));
    json_object_set_new(ev, "p", num_or_null(v->p));
    if (a->family) {
        json_object_set_new(ev, "q", num_or_null(a->q));
        json_object_set_new(ev, "family", json_integer(a->family));
    }
    json_object_set_new(ev, "n", json_integer(v->n));
    json_t *base = json_object();
    json_object_set_new(base, "desc", json_string(v->base));
    json_object_set_new(base, "windows", json_integer(v->base_windows));
    json_object_set_new(base, "shrunk", json_boolean(v->shrunk));
    json_object_set_new(ev, "baseline", base);
    json_t *tr = json_object();
    json_object_set_new(tr, "views_per_hour", num_or_null(a->views_per_hour));
    if (a->parent_scope) {
        json_object_set_new(tr, "parent", json_string(a->parent_scope));
        json_object_set_new(tr, "parent_views_per_hour", num_or_null(a->parent_views_per_hour));
        json_object_set_new(tr, "share",
                            num_or_null(a->parent_views_per_hour > 0
                                            ? a->views_per_hour / a->parent_views_per_hour
                                            : NAN));
    }
    json_object_set_new(ev, "traffic", tr);
    json_object_set_new(o, "evidence", ev);
    if (a->flapping)
        json_object_set_new(o, "flapping", json_true());
    if (a->settled)
        json_object_set_new(o, "flapping_settled", json_true());
    if (a->nodata)
        json_object_set_new(o, "nodata", json_true());
    return o;
}

char *rw_alert_dumps(const json_t *line)
{
    return json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(6));
}
