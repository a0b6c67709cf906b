/* Slack incoming-webhook formatter (Block Kit).
 *
 * Payload: {"text": <notification fallback>, "blocks": [header, summary
 * section, fields section, optional grouped-children section, context]}.
 *
 * Every string comes from the alert line; any field may be missing, null or
 * of the wrong type and the message is still built from defaults. Slack's
 * limits are respected by construction: each text is clipped, counting
 * Unicode code points, to its limit with a trailing "…" (header 150, section
 * text 3000, field 2000, at most 10 fields and 50 blocks; we never emit more
 * than 6 fields and 5 blocks). mrkdwn text has &, < and > escaped as Slack
 * asks; plain_text (the header) is sent raw. Invalid UTF-8 (only possible in
 * objects not built by the jansson parser) becomes U+FFFD.
 *
 * Numbers are formatted from the metric name: Web Vitals timings in ms
 * ("246 ms", "4.1 s" from 1000 ms on), CLS unitless with 3 decimals, rates
 * (stat or metric containing "rate", given as a 0..1 fraction) as percent,
 * counts as integers.
 */
#include "notifiers/notifier.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SLACK_HEADER_MAX 150
#define SLACK_SECTION_MAX 3000
#define SLACK_FIELD_MAX 2000
#define SLACK_TEXT_MAX 3000 /* our own cap on the notification text */
#define SLACK_WHY_MAX 500
#define SLACK_CHILD_LINES 10
#define SLACK_CHILD_SCOPE_MAX 120
#define SLACK_CHILD_VALUE_MAX 150

/* ---- a tiny growable string ------------------------------------------- */

struct sb {
    char *p;
    size_t len, cap;
    int oom;
};

static void sb_addn(struct sb *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_add(struct sb *b, const char *s)
{
    sb_addn(b, s, strlen(s));
}

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
sb_printf(struct sb *b, const char *fmt, ...)
{
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    sb_addn(b, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* Hand the string over (NULL after OOM); b is reset. */
static char *sb_take(struct sb *b)
{
    char *p = b->p;
    if (b->oom) {
        free(p);
        p = NULL;
    } else if (!p) {
        p = calloc(1, 1);
    }
    b->p = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
    return p;
}

/* ---- UTF-8 aware clipping and escaping --------------------------------- */

/* Length in bytes of the valid UTF-8 sequence at s (n bytes left), or 0 if
 * the bytes there are not valid UTF-8. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* One output unit of clip(): the bytes for one input code point. */
static const char *clip_unit(const char *s, size_t left, int escape, size_t *in_len,
                             size_t *out_len, size_t *out_chars)
{
    static const char replacement[] = "\xEF\xBF\xBD";
    size_t k = utf8_seq((const unsigned char *)s, left);
    *out_chars = 1;
    if (k == 0) {
        *in_len = 1;
        *out_len = 3;
        return replacement;
    }
    *in_len = k;
    if (escape && k == 1) {
        const char *ent = NULL;
        if (*s == '&')
            ent = "&amp;";
        else if (*s == '<')
            ent = "&lt;";
        else if (*s == '>')
            ent = "&gt;";
        if (ent) {
            *out_len = *out_chars = strlen(ent);
            return ent;
        }
    }
    *out_len = k;
    return s;
}

/* Copy raw into a new string of at most max_chars code points (escaping
 * &<> when asked); if it does not fit, cut at a unit boundary (never inside
 * a code point or an entity) and end with "…". NULL only on OOM. */
static char *clip(const char *raw, size_t max_chars, int escape)
{
    if (!raw)
        raw = "";
    size_t n = strlen(raw), total = 0;
    for (size_t i = 0; i < n;) {
        size_t il, ol, oc;
        clip_unit(raw + i, n - i, escape, &il, &ol, &oc);
        total += oc;
        i += il;
    }
    size_t budget = total <= max_chars ? total : (max_chars ? max_chars - 1 : 0);
    struct sb b = {0};
    size_t used = 0;
    for (size_t i = 0; i < n;) {
        size_t il, ol, oc;
        const char *u = clip_unit(raw + i, n - i, escape, &il, &ol, &oc);
        if (used + oc > budget)
            break;
        sb_addn(&b, u, ol);
        used += oc;
        i += il;
    }
    if (total > max_chars && max_chars > 0)
        sb_add(&b, "\xE2\x80\xA6");
    return sb_take(&b);
}

static size_t utf8_chars(const char *s)
{
    size_t c = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            c++;
    return c;
}

/* ---- reading the alert -------------------------------------------------- */

static const char *str_or(const json_t *o, const char *key, const char *def)
{
    const char *s = json_string_value(json_object_get(o, key));
    return (s && *s) ? s : def;
}

/* 1 and *out if key holds a finite number. */
static int num(const json_t *o, const char *key, double *out)
{
    const json_t *v = json_object_get(o, key);
    if (!json_is_number(v))
        return 0;
    double d = json_number_value(v);
    if (!isfinite(d))
        return 0;
    *out = d;
    return 1;
}

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

static enum unit unit_for(const char *metric, const char *stat)
{
    static const char *const ms_metrics[] = {"lcp",  "fcp", "inp", "ttfb", "fid", "tbt",
                                             "load", "dcl", "tti", "fp",   NULL};
    static const char *const count_metrics[] = {"views",  "pageviews", "sessions",
                                                "errors", "count",     NULL};
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
    case U_PCT: {
        double pct = v * 100.0;
        fmt_trim(buf, len, fabs(pct) >= 10.0 ? 1 : 2, pct);
        size_t l = strlen(buf);
        if (l + 1 < len) {
            buf[l] = '%';
            buf[l + 1] = '\0';
        }
        return;
    }
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

/* "p=3.2e-20": one decimal, exponent without padding zeros. */
static void fmt_p(char *buf, size_t len, double p)
{
    if (p <= 0) {
        snprintf(buf, len, "p=0");
        return;
    }
    if (p >= 0.001) {
        snprintf(buf, len, "p=%.3g", p);
        return;
    }
    char tmp[48];
    snprintf(tmp, sizeof tmp, "%.1e", p);
    char *e = strchr(tmp, 'e');
    if (e) {
        char *d = e + 1;
        if (*d == '+' || *d == '-')
            d++;
        char *z = d;
        while (*z == '0' && z[1])
            z++;
        memmove(d, z, strlen(z) + 1);
        if (e[1] == '+')
            memmove(e + 1, e + 2, strlen(e + 2) + 1);
    }
    snprintf(buf, len, "p=%s", tmp);
}

static void fmt_score(char *buf, size_t len, const json_t *alert)
{
    double s;
    if (!num(alert, "score", &s)) {
        snprintf(buf, len, "n/a");
        return;
    }
    const char *kind = str_or(alert, "score_kind", "");
    if (strcmp(kind, "z") == 0)
        snprintf(buf, len, "z=%.1f", s);
    else if (strcmp(kind, "p") == 0)
        fmt_p(buf, len, s);
    else if (strcmp(kind, "ratio") == 0)
        snprintf(buf, len, "ratio=%.2f", s);
    else
        snprintf(buf, len, "%.3g", s);
}

/* Epoch ms -> "2025-11-02T01:01:00Z" (".123" only when not whole seconds). */
static int fmt_iso(char *buf, size_t len, double ms)
{
    if (!(fabs(ms) < 1e16))
        return 0;
    int64_t t = (int64_t)floor(ms);
    int64_t secs = t >= 0 ? t / 1000 : -((-t + 999) / 1000);
    int frac = (int)(t - secs * 1000);
    time_t tt = (time_t)secs;
    struct tm tm;
    if (!gmtime_r(&tt, &tm))
        return 0;
    char base[48];
    if (!strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm))
        return 0;
    if (frac)
        snprintf(buf, len, "%s.%03dZ", base, frac);
    else
        snprintf(buf, len, "%sZ", base);
    return 1;
}

/* "page=/checkout · device=mobile", or "app-wide" for {} / missing. */
static char *scope_text(const json_t *scope)
{
    struct sb b = {0};
    const char *key;
    json_t *val;
    int first = 1;
    if (json_is_object(scope)) {
        json_object_foreach((json_t *)scope, key, val)
        {
            if (!first)
                sb_add(&b, " \xC2\xB7 ");
            first = 0;
            sb_add(&b, key);
            sb_add(&b, "=");
            if (json_is_string(val)) {
                sb_addn(&b, json_string_value(val), json_string_length(val));
            } else {
                char *d = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
                sb_add(&b, d ? d : "?");
                free(d);
            }
        }
    }
    if (first)
        sb_add(&b, "app-wide");
    return sb_take(&b);
}

/* ---- building the blocks ------------------------------------------------ */

/* jansson steals v even on failure; a NULL v (failed allocation) just fails. */
static void put(json_t *obj, const char *key, json_t *v, int *bad)
{
    if (json_object_set_new(obj, key, v))
        *bad = 1;
}

static void push(json_t *arr, json_t *v, int *bad)
{
    if (json_array_append_new(arr, v))
        *bad = 1;
}

/* A json string from a malloc'd C string, which is freed. */
static json_t *jtake(char *s)
{
    json_t *j = s ? json_string(s) : NULL;
    free(s);
    return j;
}

static json_t *text_obj(const char *type, char *text_owned, int *bad)
{
    json_t *o = json_object();
    if (!o) {
        free(text_owned);
        *bad = 1;
        return NULL;
    }
    put(o, "type", json_string(type), bad);
    put(o, "text", jtake(text_owned), bad);
    if (strcmp(type, "plain_text") == 0)
        put(o, "emoji", json_true(), bad);
    return o;
}

static json_t *field(const char *label, const char *value, int *bad)
{
    struct sb b = {0};
    sb_printf(&b, "*%s*\n", label);
    sb_add(&b, value);
    char *raw = sb_take(&b);
    json_t *f = raw ? text_obj("mrkdwn", clip(raw, SLACK_FIELD_MAX, 1), bad) : NULL;
    free(raw);
    if (!f)
        *bad = 1;
    return f;
}

static json_t *section_text(char *mrkdwn_owned, int *bad)
{
    json_t *s = json_object();
    if (!s) {
        free(mrkdwn_owned);
        *bad = 1;
        return NULL;
    }
    put(s, "type", json_string("section"), bad);
    put(s, "text", text_obj("mrkdwn", mrkdwn_owned, bad), bad);
    return s;
}

static char *summary_text(const char *summary, const char *why)
{
    if (!why)
        return clip(summary, SLACK_SECTION_MAX, 1);
    static const char sep[] = "\n*Why:* ";
    char *w = clip(why, SLACK_WHY_MAX, 1);
    if (!w)
        return NULL;
    size_t used = utf8_chars(w) + utf8_chars(sep);
    char *s = clip(summary, SLACK_SECTION_MAX - used, 1);
    struct sb b = {0};
    if (s) {
        sb_add(&b, s);
        sb_add(&b, sep);
        sb_add(&b, w);
    }
    free(s);
    free(w);
    return s ? sb_take(&b) : NULL;
}

static char *children_text(const json_t *alert, const json_t *children, enum unit u)
{
    size_t count = json_array_size(children);
    double total_d;
    size_t total = count;
    if (num(alert, "children_total", &total_d) && total_d > (double)count && total_d < 1e12)
        total = (size_t)total_d;

    struct sb b = {0};
    sb_printf(&b, "*Grouped series (%zu)*", total);
    size_t shown = 0;
    for (size_t i = 0; i < count && shown < SLACK_CHILD_LINES; i++) {
        const json_t *c = json_array_get(children, i);
        if (!json_is_object(c))
            continue;
        char *sc = scope_text(json_object_get(c, "scope"));
        char *scc = sc ? clip(sc, SLACK_CHILD_SCOPE_MAX, 1) : NULL;
        free(sc);
        char vbuf[64];
        double v;
        char *val = NULL;
        if (num(c, "value", &v)) {
            fmt_value(vbuf, sizeof vbuf, v, u);
            val = clip(vbuf, SLACK_CHILD_VALUE_MAX, 1);
        } else {
            const char *cs = str_or(c, "summary", NULL);
            if (cs)
                val = clip(cs, SLACK_CHILD_VALUE_MAX, 1);
        }
        sb_add(&b, "\n\xE2\x80\xA2 ");
        sb_add(&b, scc ? scc : "?");
        if (val) {
            sb_add(&b, " \xE2\x80\x94 ");
            sb_add(&b, val);
        }
        free(scc);
        free(val);
        shown++;
    }
    if (total > shown)
        sb_printf(&b,
                  "\n\xE2\x80\xA6"
                  "and %zu more",
                  total - shown);
    char *raw = sb_take(&b);
    /* Pieces are escaped and bounded already (10 lines fit well in 3000);
     * the clip is a guard, without escaping again. */
    char *out = raw ? clip(raw, SLACK_SECTION_MAX, 0) : NULL;
    free(raw);
    return out;
}

static char *context_text(const json_t *alert, int firing)
{
    struct sb b = {0};
    char iso[64];
    double t;
    const char *app = str_or(alert, "app", NULL);
    const char *fp = str_or(alert, "fingerprint", NULL);
    const char *sep = "";
    if (app) {
        sb_add(&b, "app ");
        sb_add(&b, app);
        sep = " \xC2\xB7 ";
    }
    if (fp) {
        sb_add(&b, sep);
        sb_add(&b, "fingerprint `");
        sb_add(&b, fp);
        sb_add(&b, "`");
        sep = " \xC2\xB7 ";
    }
    if (num(alert, "ts", &t) && fmt_iso(iso, sizeof iso, t)) {
        sb_add(&b, sep);
        sb_add(&b, "window end ");
        sb_add(&b, iso);
        sep = " \xC2\xB7 ";
    }
    if (num(alert, "since", &t) && fmt_iso(iso, sizeof iso, t)) {
        sb_add(&b, sep);
        sb_add(&b, firing ? "firing since " : "fired since ");
        sb_add(&b, iso);
        sep = " \xC2\xB7 ";
    }
    if (!*sep)
        sb_add(&b, "rumwatch");
    char *raw = sb_take(&b);
    char *out = raw ? clip(raw, SLACK_SECTION_MAX, 1) : NULL;
    free(raw);
    return out;
}

static int dump_body(const json_t *root, struct rw_http_req *req)
{
    size_t need = json_dumpb(root, NULL, 0, JSON_COMPACT);
    if (need == 0)
        return -EINVAL;
    char *buf = malloc(need + 1);
    if (!buf)
        return -ENOMEM;
    if (json_dumpb(root, buf, need, JSON_COMPACT) != need) {
        free(buf);
        return -EINVAL;
    }
    buf[need] = '\0';
    req->body = buf;
    req->body_len = need;
    return 0;
}

static int slack_format(const struct rw_notifier_cfg *cfg, const json_t *alert,
                        struct rw_http_req *req)
{
    if (!cfg || !req)
        return -EINVAL;
    memset(req, 0, sizeof *req);
    if (!json_is_object(alert))
        return -EINVAL;

    int bad = 0;
    const char *state = str_or(alert, "state", "firing");
    int firing = strcmp(state, "resolved") != 0;
    const char *severity = str_or(alert, "severity", "warning");
    const char *rule = str_or(alert, "rule", "unnamed rule");
    const char *metric = str_or(alert, "metric", "");
    const char *stat = str_or(alert, "stat", "");
    enum unit u = unit_for(metric, stat);
    const json_t *children = json_object_get(alert, "children");

    char *scope = scope_text(json_object_get(alert, "scope"));
    const char *summary = str_or(alert, "summary", NULL);
    struct sb fb = {0};
    if (!summary) { /* say at least what and where */
        sb_add(&fb, rule);
        sb_add(&fb, " on ");
        sb_add(&fb, scope ? scope : "app-wide");
    }
    char *fallback = sb_take(&fb);
    if (!summary)
        summary = fallback ? fallback : rule;

    json_t *root = json_object();
    json_t *blocks = json_array();
    json_t *fields = json_array();
    if (!root || !blocks || !fields || !scope) {
        bad = 1;
        goto out;
    }

    /* Notification / fallback text. */
    struct sb t = {0};
    sb_add(&t, firing ? ":red_circle: [FIRING] " : ":large_green_circle: [RESOLVED] ");
    sb_add(&t, summary);
    char *traw = sb_take(&t);
    put(root, "text", jtake(traw ? clip(traw, SLACK_TEXT_MAX, 1) : NULL), &bad);
    free(traw);

    /* Header. */
    struct sb h = {0};
    sb_add(&h, firing ? "FIRING" : "RESOLVED");
    sb_add(&h, " \xC2\xB7 ");
    sb_add(&h, severity);
    sb_add(&h, " \xC2\xB7 ");
    sb_add(&h, rule);
    char *hraw = sb_take(&h);
    json_t *header = json_object();
    put(header, "type", json_string("header"), &bad);
    put(header, "text", text_obj("plain_text", hraw ? clip(hraw, SLACK_HEADER_MAX, 0) : NULL, &bad),
        &bad);
    free(hraw);
    push(blocks, header, &bad);

    /* Summary (+ why). */
    push(blocks, section_text(summary_text(summary, str_or(alert, "why", NULL)), &bad), &bad);

    /* Fields. */
    char vbuf[64], ebuf[64], lbuf[64], hbuf[64], band[160], expbuf[256];
    double v, lo, hi, e;
    if (num(alert, "value", &v))
        fmt_value(vbuf, sizeof vbuf, v, u);
    else
        snprintf(vbuf, sizeof vbuf, "n/a");
    int has_lo = num(alert, "low", &lo), has_hi = num(alert, "high", &hi);
    if (has_lo)
        fmt_value(lbuf, sizeof lbuf, lo, u);
    if (has_hi)
        fmt_value(hbuf, sizeof hbuf, hi, u);
    if (has_lo && has_hi)
        snprintf(band, sizeof band, "%s\xE2\x80\x93%s", lbuf, hbuf);
    else if (has_lo)
        snprintf(band, sizeof band, "\xE2\x89\xA5 %s", lbuf);
    else if (has_hi)
        snprintf(band, sizeof band, "\xE2\x89\xA4 %s", hbuf);
    else
        band[0] = '\0';
    if (num(alert, "expected", &e)) {
        fmt_value(ebuf, sizeof ebuf, e, u);
        if (band[0])
            snprintf(expbuf, sizeof expbuf, "%s (%s)", ebuf, band);
        else
            snprintf(expbuf, sizeof expbuf, "%s", ebuf);
    } else {
        snprintf(expbuf, sizeof expbuf, "%s", band[0] ? band : "n/a");
    }
    char sbuf[64], nbuf[32];
    fmt_score(sbuf, sizeof sbuf, alert);
    double n;
    if (num(alert, "n", &n) && fabs(n) < 1e15)
        snprintf(nbuf, sizeof nbuf, "%.0f", n);
    else
        snprintf(nbuf, sizeof nbuf, "n/a");

    push(fields, field("Observed", vbuf, &bad), &bad);
    push(fields, field("Expected", expbuf, &bad), &bad);
    push(fields, field("Score", sbuf, &bad), &bad);
    push(fields, field("Samples", nbuf, &bad), &bad);
    push(fields, field("Scope", scope, &bad), &bad);
    push(fields, field("Detector", str_or(alert, "detector", "n/a"), &bad), &bad);
    json_t *fsec = json_object();
    put(fsec, "type", json_string("section"), &bad);
    put(fsec, "fields", fields, &bad);
    fields = NULL;
    push(blocks, fsec, &bad);

    /* Grouped children. */
    if (json_array_size(children) > 0)
        push(blocks, section_text(children_text(alert, children, u), &bad), &bad);

    /* Context. */
    json_t *ctx = json_object();
    json_t *elems = json_array();
    push(elems, text_obj("mrkdwn", context_text(alert, firing), &bad), &bad);
    put(ctx, "type", json_string("context"), &bad);
    put(ctx, "elements", elems, &bad);
    push(blocks, ctx, &bad);

    put(root, "blocks", blocks, &bad);
    blocks = NULL;

out:;
    int rc = bad ? -ENOMEM : dump_body(root, req);
    if (rc == 0) {
        req->url = cfg->url;
        req->content_type = "application/json";
    }
    json_decref(fields);
    json_decref(blocks);
    json_decref(root);
    free(scope);
    free(fallback);
    return rc;
}

const struct rw_notifier rw_notifier_slack = {
    .type = "slack",
    .format = slack_format,
    .classify = rw_notifier_classify_http,
};
