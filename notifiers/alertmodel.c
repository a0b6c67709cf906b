/* The alert model: alert lines -> AM alerts -> notifications (see the header).
 *
 * Alert lines come from the engine, but also back from the outbox on disk,
 * so every field is read defensively: missing, null or of the wrong type
 * gives a default, never a failure. Only "not an object" and out of memory
 * fail.
 */
#include "notifiers/alertmodel.h"
#include "notifiers/text.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notifiers/notifier.h"

/* ---- fingerprint ----------------------------------------------------------- */

#define FNV64_OFFSET 14695981039346656037ULL
#define FNV64_PRIME 1099511628211ULL
#define LABEL_SEP 0xff /* Prometheus' model.SeparatorByte */

static uint64_t fnv_add(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= FNV64_PRIME;
    }
    return h;
}

static uint64_t fnv_byte(uint64_t h, unsigned char b)
{
    h ^= b;
    return h * FNV64_PRIME;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The object's keys in byte order (malloc'd array of borrowed strings). */
static const char **sorted_keys(const json_t *obj, size_t *n)
{
    *n = 0;
    size_t cap = json_object_size(obj);
    const char **keys = malloc((cap ? cap : 1) * sizeof *keys);
    if (!keys)
        return NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        if (*n < cap)
            keys[(*n)++] = k;
    }
    qsort(keys, *n, sizeof *keys, cmp_str);
    return keys;
}

uint64_t rw_am_fingerprint(const json_t *labels)
{
    uint64_t h = FNV64_OFFSET;
    if (!json_is_object(labels))
        return h;
    size_t n;
    const char **keys = sorted_keys(labels, &n);
    if (!keys)
        return h; /* out of memory: no better answer to give */
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(labels, keys[i]);
        if (!json_is_string(v))
            continue;
        h = fnv_add(h, keys[i], strlen(keys[i]));
        h = fnv_byte(h, LABEL_SEP);
        h = fnv_add(h, json_string_value(v), json_string_length(v));
        h = fnv_byte(h, LABEL_SEP);
    }
    free(keys);
    return h;
}

void rw_am_fingerprint_hex(uint64_t fp, char out[17])
{
    snprintf(out, 17, "%016llx", (unsigned long long)fp);
}

/* ---- time ------------------------------------------------------------------ */

#define MS_YEAR_1 (-62135596800000.0)    /* 0001-01-01T00:00:00Z */
#define MS_YEAR_9999 (253402300799999.0) /* 9999-12-31T23:59:59.999Z */

int rw_am_time(char *buf, size_t len, double ms)
{
    if (!buf || len == 0)
        return -EINVAL;
    snprintf(buf, len, "%s", RW_AM_ZERO_TIME);
    if (!isfinite(ms) || ms < MS_YEAR_1 || ms > MS_YEAR_9999)
        return -EINVAL;
    int64_t t = (int64_t)floor(ms);
    int64_t secs = t >= 0 ? t / 1000 : -((-t + 999) / 1000);
    int frac = (int)(t - secs * 1000);
    time_t tt = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&tt, &tm))
        return -EINVAL;
    /* By hand, not strftime: %Y does not pad years below 1000. */
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
    return 0;
}

/* ---- numbers in words ---------------------------------------------------- */

enum unit { U_PLAIN, U_MS, U_CLS, U_PCT, U_COUNT };

static int in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static enum unit unit_for(const char *metric, const char *stat, const char *detector)
{
    static const char *const ms_metrics[] = {"lcp",  "fcp", "inp", "ttfb", "fid", "tbt",
                                             "load", "dcl", "tti", "fp",   NULL};
    static const char *const count_metrics[] = {"views",  "pageviews", "sessions",
                                                "errors", "count",     NULL};
    metric = metric ? metric : "";
    stat = stat ? stat : "";
    /* rating_shift judges the share of "poor" views, whatever the vital. */
    if (detector && strcmp(detector, "rating_shift") == 0)
        return U_PCT;
    if (strcmp(metric, "cls") == 0)
        return U_CLS;
    if (strstr(stat, "rate") || strstr(metric, "rate"))
        return U_PCT;
    if (in_list(metric, ms_metrics) || ends_with(metric, "_ms"))
        return U_MS;
    if (strcmp(stat, "count") == 0 || in_list(metric, count_metrics))
        return U_COUNT;
    return U_PLAIN;
}

/* "%.Nf" without trailing zeros ("2.30" -> "2.3", "4.00" -> "4"). */
static void fmt_trim(char *buf, size_t len, int decimals, double v)
{
    snprintf(buf, len, "%.*f", decimals, v);
    if (!strchr(buf, '.'))
        return;
    char *e = buf + strlen(buf) - 1;
    while (*e == '0')
        *e-- = '\0';
    if (*e == '.')
        *e = '\0';
    if (strcmp(buf, "-0") == 0)
        snprintf(buf, len, "0");
}

static void fmt_pct(char *buf, size_t len, double fraction)
{
    double pct = fraction * 100.0;
    fmt_trim(buf, len, fabs(pct) >= 10.0 ? 1 : 2, pct);
    size_t l = strlen(buf);
    if (l + 1 < len) {
        buf[l] = '%';
        buf[l + 1] = '\0';
    }
}

static void fmt_value(char *buf, size_t len, double v, enum unit u)
{
    switch (u) {
    case U_MS:
        /* Decide on the rounded value so 999.7 ms reads "1.0 s", not "1000 ms". */
        if (fabs(v) >= 999.5)
            snprintf(buf, len, "%.1f s", v / 1000.0);
        else
            snprintf(buf, len, "%.0f ms", v);
        return;
    case U_CLS: snprintf(buf, len, "%.3f", v); return;
    case U_PCT: fmt_pct(buf, len, v); return;
    case U_COUNT:
        if (fabs(v - nearbyint(v)) < 1e-9)
            snprintf(buf, len, "%.0f", v);
        else
            fmt_trim(buf, len, 1, v);
        return;
    case U_PLAIN:
    default:
        if (v != 0 && (fabs(v) >= 1e6 || fabs(v) < 1e-3))
            snprintf(buf, len, "%.3g", v);
        else
            fmt_trim(buf, len, 2, v);
        return;
    }
}

void rw_am_format_value(char *buf, size_t len, double v, const char *metric, const char *stat,
                        const char *detector)
{
    if (!buf || len == 0)
        return;
    if (!isfinite(v)) {
        snprintf(buf, len, "n/a");
        return;
    }
    fmt_value(buf, len, v, unit_for(metric, stat, detector));
}

/* ---- reading the alert line ------------------------------------------------ */



static const char *const reserved_labels[] = {"alertname", "rule", "severity", "metric",
                                              "stat",      "app",  NULL};

/* jansson steals v even on failure; a NULL v (failed allocation) just fails. */
static void put(json_t *obj, const char *key, json_t *v, int *bad)
{
    if (json_object_set_new(obj, key, v))
        *bad = 1;
}

/* Scope value as label text: strings as they are, anything else as JSON. */
static json_t *label_value(const json_t *v)
{
    if (json_is_string(v))
        return json_stringn(json_string_value(v), json_string_length(v));
    char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_t *s = json_string(d ? d : "");
    free(d);
    return s;
}

static json_t *make_labels(const json_t *line, int *bad)
{
    json_t *labels = json_object();
    if (!labels) {
        *bad = 1;
        return NULL;
    }
    const char *rule = rw_json_str(line, "rule", "unnamed_rule");
    const char *sev = json_string_value(json_object_get(line, "severity"));
    if (rw_severity_parse(sev) < 0)
        sev = "warning"; /* what delivery filters have always assumed */
    put(labels, "alertname", json_string(rule), bad);
    put(labels, "rule", json_string(rule), bad);
    put(labels, "severity", json_string(sev), bad);
    static const char *const optional[] = {"metric", "stat", "app", NULL};
    for (int i = 0; optional[i]; i++) {
        const char *v = rw_json_str(line, optional[i], NULL);
        if (v)
            put(labels, optional[i], json_string(v), bad);
    }

    const json_t *scope = json_object_get(line, "scope");
    const char *k;
    json_t *v;
    if (json_is_object(scope)) {
        json_object_foreach((json_t *)scope, k, v)
        {
            json_t *lv = label_value(v);
            if (!lv) {
                *bad = 1;
                continue;
            }
            if (!in_list(k, reserved_labels)) {
                put(labels, k, lv, bad);
                continue;
            }
            const json_t *have = json_object_get(labels, k);
            if (have && json_equal(have, lv)) {
                json_decref(lv);
                continue;
            }
            char renamed[300];
            snprintf(renamed, sizeof renamed, "scope_%s", k);
            put(labels, renamed, lv, bad);
        }
    }
    const json_t *custom = json_object_get(line, "labels");
    if (json_is_object(custom)) {
        json_object_foreach((json_t *)custom, k, v)
        {
            if (json_is_string(v) && !in_list(k, reserved_labels))
                put(labels, k, json_stringn(json_string_value(v), json_string_length(v)), bad);
        }
    }
    return labels;
}

/* "z=4.5 vs median of 60 windows. Observed 7.7 s, expected 4.1 s (normal up
 * to 6.7 s). Traffic: 1036 views/h, 21.6% of app." */
static char *description(const json_t *line)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    const char *metric = rw_json_str(line, "metric", NULL), *stat = rw_json_str(line, "stat", NULL);
    const char *det = rw_json_str(line, "detector", NULL);
    const char *sep = "";
    const char *why = rw_json_str(line, "why", NULL);
    if (why) {
        size_t wl = strlen(why);
        fprintf(f, "%s%s", why, (wl && strchr(".!?", why[wl - 1])) ? "" : ".");
        sep = " ";
    }
    double v, e, lo, hi;
    char a[64], b[64];
    int has_v = rw_json_num(line, "value", &v), has_e = rw_json_num(line, "expected", &e);
    int has_lo = rw_json_num(line, "low", &lo), has_hi = rw_json_num(line, "high", &hi);
    if (has_v || has_e) {
        fputs(sep, f);
        if (has_v) {
            rw_am_format_value(a, sizeof a, v, metric, stat, det);
            fprintf(f, "Observed %s", a);
        }
        if (has_e) {
            rw_am_format_value(a, sizeof a, e, metric, stat, det);
            fprintf(f, "%s %s", has_v ? ", expected" : "Expected", a);
        }
        if (has_lo && has_hi) {
            rw_am_format_value(a, sizeof a, lo, metric, stat, det);
            rw_am_format_value(b, sizeof b, hi, metric, stat, det);
            fprintf(f, " (normal %s\xE2\x80\x93%s)", a, b);
        } else if (has_hi) {
            rw_am_format_value(a, sizeof a, hi, metric, stat, det);
            fprintf(f, " (normal up to %s)", a);
        } else if (has_lo) {
            rw_am_format_value(a, sizeof a, lo, metric, stat, det);
            fprintf(f, " (normal from %s)", a);
        }
        fputc('.', f);
        sep = " ";
    }
    const json_t *tr = json_object_get(json_object_get(line, "evidence"), "traffic");
    double vph, share;
    if (rw_json_num(tr, "views_per_hour", &vph)) {
        int custom = metric && strcmp(metric, "custom") == 0;
        fprintf(f, "%sTraffic: %.0f %s/h", sep, vph, custom ? "events" : "views");
        if (rw_json_num(tr, "share", &share)) {
            fmt_pct(a, sizeof a, share);
            fprintf(f, ", %s of %s", a, rw_json_str(tr, "parent", "the parent scope"));
        }
        fputc('.', f);
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static json_t *make_annotations(const json_t *line, const json_t *labels, int *bad)
{
    json_t *ann = json_object();
    if (!ann) {
        *bad = 1;
        return NULL;
    }
    const char *summary = rw_json_str(line, "summary", NULL);
    if (summary) {
        put(ann, "summary", json_string(summary), bad);
    } else { /* at least what and where */
        char *s = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&s, &len);
        if (f) {
            fprintf(f, "%s", json_string_value(json_object_get(labels, "alertname")));
            const json_t *scope = json_object_get(line, "scope");
            const char *k;
            json_t *v;
            const char *sep = " on ";
            json_object_foreach((json_t *)scope, k, v)
            {
                fprintf(f, "%s%s=%s", sep, k, json_is_string(v) ? json_string_value(v) : "?");
                sep = ", ";
            }
            if (strcmp(sep, " on ") == 0)
                fprintf(f, " app-wide");
            if (fclose(f) != 0) {
                free(s);
                s = NULL;
            }
        }
        put(ann, "summary", s ? json_string(s) : NULL, bad);
        free(s);
    }
    char *d = description(line);
    put(ann, "description", d ? json_string(d) : NULL, bad);
    free(d);
    const json_t *custom = json_object_get(line, "annotations");
    const char *k;
    json_t *v;
    if (json_is_object(custom)) {
        json_object_foreach((json_t *)custom, k, v)
        {
            if (json_is_string(v))
                put(ann, k, json_stringn(json_string_value(v), json_string_length(v)), bad);
        }
    }
    return ann;
}

static json_t *time_str(double ms)
{
    char buf[RW_AM_TIME_MAX];
    rw_am_time(buf, sizeof buf, ms);
    return json_string(buf);
}

static json_t *num_or_null(const json_t *line, const char *key)
{
    double d;
    return rw_json_num(line, key, &d) ? json_real(d) : json_null();
}

json_t *rw_alert_to_am(const json_t *line, const char *external_url)
{
    if (!json_is_object(line))
        return NULL;
    int bad = 0;
    json_t *am = json_object();
    if (!am)
        return NULL;
    const char *state = json_string_value(json_object_get(line, "state"));
    int resolved = state && strcmp(state, "resolved") == 0;
    json_t *labels = make_labels(line, &bad);
    json_t *ann = labels ? make_annotations(line, labels, &bad) : NULL;
    uint64_t fp = rw_am_fingerprint(labels);
    char fph[17];
    rw_am_fingerprint_hex(fp, fph);

    double ts = NAN, since = NAN;
    rw_json_num(line, "ts", &ts);
    if (!rw_json_num(line, "since", &since))
        since = ts;

    put(am, "status", json_string(resolved ? "resolved" : "firing"), &bad);
    put(am, "labels", labels, &bad);
    put(am, "annotations", ann, &bad);
    put(am, "startsAt", time_str(since), &bad);
    put(am, "endsAt", resolved ? time_str(ts) : json_string(RW_AM_ZERO_TIME), &bad);

    char gen[RW_URL_MAX + 64] = "";
    if (external_url && *external_url) {
        size_t n = strlen(external_url);
        while (n > 0 && external_url[n - 1] == '/')
            n--;
        snprintf(gen, sizeof gen, "%.*s/api/alerts?fingerprint=%s",
                 (int)(n < RW_URL_MAX ? n : RW_URL_MAX), external_url, fph);
    }
    put(am, "generatorURL", json_string(gen), &bad);
    put(am, "fingerprint", json_string(fph), &bad);
    const json_t *ev = json_object_get(line, "evidence");
    put(am, "evidence", ev ? json_deep_copy(ev) : json_null(), &bad);
    put(am, "value", num_or_null(line, "value"), &bad);
    put(am, "expected", num_or_null(line, "expected"), &bad);
    put(am, "rumwatch", json_deep_copy(line), &bad);
    if (bad) {
        json_decref(am);
        return NULL;
    }
    return am;
}

/* ---- notifications --------------------------------------------------------- */

/* Go's %q for the characters a label value can hold. */
static void quote(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c == '\r')
            fputs("\\r", f);
        else if (c < 0x20 || c == 0x7f)
            fprintf(f, "\\x%02x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

char *rw_am_group_key(const char *route, const json_t *group_labels)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return NULL;
    fprintf(f, "%s:{", route ? route : "{}");
    size_t n = 0;
    const char **keys = json_is_object(group_labels) ? sorted_keys(group_labels, &n) : NULL;
    int first = 1, bad = json_is_object(group_labels) && !keys;
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(group_labels, keys[i]);
        if (!json_is_string(v))
            continue;
        fprintf(f, "%s%s=", first ? "" : ", ", keys[i]);
        quote(f, json_string_value(v));
        first = 0;
    }
    free(keys);
    fputc('}', f);
    if (fclose(f) != 0 || bad) {
        free(text);
        return NULL;
    }
    return text;
}

/* Members of `field` (an object in every alert) with one value across all. */
static json_t *common(const json_t *alerts, const char *field)
{
    json_t *out = json_object();
    if (!out)
        return NULL;
    const json_t *first = json_object_get(json_array_get(alerts, 0), field);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)first, k, v)
    {
        if (!json_is_string(v))
            continue;
        int same = 1;
        for (size_t i = 1; i < json_array_size(alerts) && same; i++) {
            const json_t *o = json_object_get(json_object_get(json_array_get(alerts, i), field), k);
            same = o && json_equal(o, v);
        }
        if (same && json_object_set_new(out, k, json_deep_copy(v))) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

json_t *rw_notification_new(const char *receiver, const char *group_key, const json_t *group_labels,
                            const char *external_url, json_t *alerts)
{
    if (!json_is_array(alerts)) {
        json_decref(alerts);
        return NULL;
    }
    int bad = 0, firing = 0;
    size_t i;
    json_t *a;
    json_array_foreach(alerts, i, a)
    {
        const char *st = json_string_value(json_object_get(a, "status"));
        if (!st || strcmp(st, "resolved") != 0)
            firing = 1;
    }
    /* Before `alerts` is handed over: a failed set would free it. */
    json_t *cl = common(alerts, "labels"), *ca = common(alerts, "annotations");
    json_t *n = json_object();
    if (!n) {
        json_decref(cl);
        json_decref(ca);
        json_decref(alerts);
        return NULL;
    }
    put(n, "receiver", json_string(receiver ? receiver : ""), &bad);
    put(n, "status", json_string(firing ? "firing" : "resolved"), &bad);
    put(n, "alerts", alerts, &bad);
    put(n, "groupLabels",
        json_is_object(group_labels) ? json_deep_copy(group_labels) : json_object(), &bad);
    put(n, "commonLabels", cl, &bad);
    put(n, "commonAnnotations", ca, &bad);
    put(n, "externalURL", json_string(external_url ? external_url : ""), &bad);
    put(n, "groupKey", json_string(group_key ? group_key : ""), &bad);
    put(n, "truncatedAlerts", json_integer(0), &bad);
    if (bad) {
        json_decref(n);
        return NULL;
    }
    return n;
}

json_t *rw_notification_single(const char *receiver, const json_t *alert_line,
                               const char *external_url)
{
    json_t *am = rw_alert_to_am(alert_line, external_url);
    if (!am)
        return NULL;
    json_t *labels = json_object_get(am, "labels");
    char *key = rw_am_group_key("{}", labels);
    json_t *alerts = json_array();
    json_t *n = NULL;
    if (key && alerts && json_array_append(alerts, am) == 0) {
        n = rw_notification_new(receiver, key, labels, external_url, alerts);
        alerts = NULL; /* stolen */
    }
    json_decref(alerts);
    json_decref(am);
    free(key);
    return n;
}
