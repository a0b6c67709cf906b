/* Slack incoming-webhook formatter (Block Kit) for a notification.
 *
 * Payload: {"text": <notification text>, "blocks": [header],
 *           "attachments": [{"color": <state colour>, "fallback": <text>,
 *                            "blocks": [...]}]}
 * The header sits at the top level so `text` stays the push-notification
 * fallback and is not printed twice; everything else sits in one attachment,
 * whose bar carries the colour: firing critical red, warning orange, info
 * blue, resolved green.
 *
 * One alert: summary + why, fields (Observed, Expected, Affected traffic,
 * Score, Samples, Scope, Detector), grouped children, links, context.
 * Several: a line per state count and the group labels, one section per
 * alert (firing first; at most SLACK_GROUP_ALERTS or max_alerts), "…and N
 * more", links, context.
 *
 * Every string comes from the notification; any field may be missing, null
 * or of the wrong type and the message is still built from defaults. Slack's
 * limits hold by construction: each text is clipped, counting Unicode code
 * points, to its limit with a trailing "…" (header 150, section text 3000,
 * field 2000, context element 3000, at most 10 fields, 10 context elements
 * and 50 blocks; we send at most 25 blocks and keep the whole text under
 * 40,000 characters). mrkdwn text has &, < and > escaped as Slack asks;
 * plain_text (the header) is sent raw. Invalid UTF-8 (only possible in
 * objects not built by the jansson parser) becomes U+FFFD.
 */
#include "notifiers/notifier.h"
#include "notifiers/text.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "notifiers/alertmodel.h"

#define SLACK_HEADER_MAX 150
#define SLACK_SECTION_MAX 3000
#define SLACK_FIELD_MAX 2000
#define SLACK_TEXT_MAX 3000 /* our own cap on the notification text */
#define SLACK_WHY_MAX 500
#define SLACK_CHILD_LINES 10
#define SLACK_CHILD_SCOPE_MAX 120
#define SLACK_CHILD_VALUE_MAX 150
#define SLACK_GROUP_ALERTS 20     /* alert sections in a group message */
#define SLACK_ALERT_TEXT_MAX 1000 /* one alert's section in a group */
#define SLACK_LINK_TEXT_MAX 75

#define COLOR_CRITICAL "#D92D20"
#define COLOR_WARNING "#F79009"
#define COLOR_INFO "#2E90FA"
#define COLOR_RESOLVED "#12B76A"

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
    struct rw_sb b = {0};
    size_t used = 0;
    for (size_t i = 0; i < n;) {
        size_t il, ol, oc;
        const char *u = clip_unit(raw + i, n - i, escape, &il, &ol, &oc);
        if (used + oc > budget)
            break;
        rw_sb_addn(&b, u, ol);
        used += oc;
        i += il;
    }
    if (total > max_chars && max_chars > 0)
        rw_sb_add(&b, "\xE2\x80\xA6");
    return rw_sb_take(&b);
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
    if (!rw_json_num(alert, "score", &s)) {
        snprintf(buf, len, "n/a");
        return;
    }
    const char *kind = rw_json_str(alert, "score_kind", "");
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
    struct rw_sb b = {0};
    const char *key;
    json_t *val;
    int first = 1;
    if (json_is_object(scope)) {
        json_object_foreach((json_t *)scope, key, val)
        {
            if (!first)
                rw_sb_add(&b, " \xC2\xB7 ");
            first = 0;
            rw_sb_add(&b, key);
            rw_sb_add(&b, "=");
            if (json_is_string(val)) {
                rw_sb_addn(&b, json_string_value(val), json_string_length(val));
            } else {
                char *d = json_dumps(val, JSON_COMPACT | JSON_ENCODE_ANY);
                rw_sb_add(&b, d ? d : "?");
                free(d);
            }
        }
    }
    if (first)
        rw_sb_add(&b, "app-wide");
    return rw_sb_take(&b);
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
    struct rw_sb b = {0};
    rw_sb_printf(&b, "*%s*\n", label);
    rw_sb_add(&b, value);
    char *raw = rw_sb_take(&b);
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
    struct rw_sb b = {0};
    if (s) {
        rw_sb_add(&b, s);
        rw_sb_add(&b, sep);
        rw_sb_add(&b, w);
    }
    free(s);
    free(w);
    return s ? rw_sb_take(&b) : NULL;
}

/* Children listed on the alert line (grouped child series). */
static char *children_text(const json_t *line, const json_t *children, const char *metric,
                           const char *stat, const char *det)
{
    size_t count = json_array_size(children);
    double total_d;
    size_t total = count;
    if (rw_json_num(line, "children_total", &total_d) && total_d > (double)count && total_d < 1e12)
        total = (size_t)total_d;

    struct rw_sb b = {0};
    rw_sb_printf(&b, "*Grouped series (%zu)*", total);
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
        if (rw_json_num(c, "value", &v)) {
            rw_am_format_value(vbuf, sizeof vbuf, v, metric, stat, det);
            val = clip(vbuf, SLACK_CHILD_VALUE_MAX, 1);
        } else {
            const char *cs = rw_json_str(c, "summary", NULL);
            if (cs)
                val = clip(cs, SLACK_CHILD_VALUE_MAX, 1);
        }
        rw_sb_add(&b, "\n\xE2\x80\xA2 ");
        rw_sb_add(&b, scc ? scc : "?");
        if (val) {
            rw_sb_add(&b, " \xE2\x80\x94 ");
            rw_sb_add(&b, val);
        }
        free(scc);
        free(val);
        shown++;
    }
    if (total > shown)
        rw_sb_printf(&b,
                  "\n\xE2\x80\xA6"
                  "and %zu more",
                  total - shown);
    char *raw = rw_sb_take(&b);
    /* Pieces are escaped and bounded already (10 lines fit well in 3000);
     * the clip is a guard, without escaping again. */
    char *out = raw ? clip(raw, SLACK_SECTION_MAX, 0) : NULL;
    free(raw);
    return out;
}

/* ---- one alert of the notification ----------------------------------------- */

struct view {
    const json_t *am, *line, *labels;
    int firing;
    const char *severity, *rule, *metric, *stat, *det, *summary;
};

static void view_of(const json_t *am, struct view *v)
{
    v->am = am;
    v->line =
        json_is_object(json_object_get(am, "rumwatch")) ? json_object_get(am, "rumwatch") : am;
    v->labels = json_object_get(am, "labels");
    const char *st = rw_json_str(am, "status", rw_json_str(v->line, "state", "firing"));
    v->firing = strcmp(st, "resolved") != 0;
    v->severity = rw_json_str(v->labels, "severity", rw_json_str(v->line, "severity", "warning"));
    v->rule = rw_json_str(v->labels, "alertname", rw_json_str(v->line, "rule", "unnamed rule"));
    v->metric = rw_json_str(v->labels, "metric", rw_json_str(v->line, "metric", ""));
    v->stat = rw_json_str(v->labels, "stat", rw_json_str(v->line, "stat", ""));
    v->det = rw_json_str(v->line, "detector", NULL);
    v->summary =
        rw_json_str(json_object_get(am, "annotations"), "summary", rw_json_str(v->line, "summary", NULL));
}

static void fmt_num(char *buf, size_t len, const struct view *v, const char *key)
{
    double d;
    if (rw_json_num(v->line, key, &d))
        rw_am_format_value(buf, len, d, v->metric, v->stat, v->det);
    else
        snprintf(buf, len, "n/a");
}

/* "2.0 s (1.7 s–2.4 s)", "2.0 s (≤ 2.5 s)", "100–900", "n/a". */
static void fmt_expected(char *out, size_t len, const struct view *v)
{
    char ebuf[64], lbuf[64], hbuf[64], band[160];
    double lo, hi, e;
    int has_lo = rw_json_num(v->line, "low", &lo), has_hi = rw_json_num(v->line, "high", &hi);
    if (has_lo)
        rw_am_format_value(lbuf, sizeof lbuf, lo, v->metric, v->stat, v->det);
    if (has_hi)
        rw_am_format_value(hbuf, sizeof hbuf, hi, v->metric, v->stat, v->det);
    if (has_lo && has_hi)
        snprintf(band, sizeof band, "%s\xE2\x80\x93%s", lbuf, hbuf);
    else if (has_lo)
        snprintf(band, sizeof band, "\xE2\x89\xA5 %s", lbuf);
    else if (has_hi)
        snprintf(band, sizeof band, "\xE2\x89\xA4 %s", hbuf);
    else
        band[0] = '\0';
    if (rw_json_num(v->line, "expected", &e)) {
        rw_am_format_value(ebuf, sizeof ebuf, e, v->metric, v->stat, v->det);
        if (band[0])
            snprintf(out, len, "%s (%s)", ebuf, band);
        else
            snprintf(out, len, "%s", ebuf);
    } else {
        snprintf(out, len, "%s", band[0] ? band : "n/a");
    }
}

/* "21.6% of app (1036 views/h)", "1036 views/h" or "" (unknown). */
static void fmt_traffic(char *out, size_t len, const struct view *v)
{
    const json_t *ev = json_object_get(v->am, "evidence");
    if (!json_is_object(ev))
        ev = json_object_get(v->line, "evidence");
    const json_t *tr = json_object_get(ev, "traffic");
    double vph, share;
    out[0] = '\0';
    if (!rw_json_num(tr, "views_per_hour", &vph))
        return;
    const char *per = strcmp(v->metric, "custom") == 0 ? "events/h" : "views/h";
    if (rw_json_num(tr, "share", &share)) {
        char pct[32];
        rw_am_format_value(pct, sizeof pct, share, "", "rate", NULL);
        snprintf(out, len, "%s of %s (%.0f %s)", pct, rw_json_str(tr, "parent", "parent"), vph, per);
    } else {
        snprintf(out, len, "%.0f %s", vph, per);
    }
}

/* "<url|text>" with the URL made safe for mrkdwn: &<>| and spaces would end
 * or break the link. text is escaped and clipped. */
static void add_link(struct rw_sb *b, const char *url, const char *text)
{
    rw_sb_add(b, "<");
    for (const char *p = url; *p; p++) {
        switch (*p) {
        case '&': rw_sb_add(b, "&amp;"); break;
        case '<': rw_sb_add(b, "%3C"); break;
        case '>': rw_sb_add(b, "%3E"); break;
        case '|': rw_sb_add(b, "%7C"); break;
        case ' ': rw_sb_add(b, "%20"); break;
        default: rw_sb_addn(b, p, 1);
        }
    }
    rw_sb_add(b, "|");
    char *t = clip(text, SLACK_LINK_TEXT_MAX, 1);
    rw_sb_add(b, t ? t : "link");
    free(t);
    rw_sb_add(b, ">");
}

static int is_http_url(const char *u)
{
    return u && (strncmp(u, "https://", 8) == 0 || strncmp(u, "http://", 7) == 0);
}

static char *context_text(const struct view *v)
{
    struct rw_sb b = {0};
    char iso[64];
    double t;
    const char *app = rw_json_str(v->labels, "app", rw_json_str(v->line, "app", NULL));
    const char *fp = rw_json_str(v->am, "fingerprint", rw_json_str(v->line, "fingerprint", NULL));
    const char *sep = "";
    if (app) {
        rw_sb_add(&b, "app ");
        rw_sb_add(&b, app);
        sep = " \xC2\xB7 ";
    }
    if (fp) {
        rw_sb_add(&b, sep);
        rw_sb_add(&b, "fingerprint `");
        rw_sb_add(&b, fp);
        rw_sb_add(&b, "`");
        sep = " \xC2\xB7 ";
    }
    if (rw_json_num(v->line, "ts", &t) && fmt_iso(iso, sizeof iso, t)) {
        rw_sb_add(&b, sep);
        rw_sb_add(&b, "window end ");
        rw_sb_add(&b, iso);
        sep = " \xC2\xB7 ";
    }
    if (rw_json_num(v->line, "since", &t) && fmt_iso(iso, sizeof iso, t)) {
        rw_sb_add(&b, sep);
        rw_sb_add(&b, v->firing ? "firing since " : "fired since ");
        rw_sb_add(&b, iso);
        sep = " \xC2\xB7 ";
    }
    if (!*sep)
        rw_sb_add(&b, "rumwatch");
    char *raw = rw_sb_take(&b);
    char *out = raw ? clip(raw, SLACK_SECTION_MAX, 1) : NULL;
    free(raw);
    return out;
}

/* Fallback summary: at least what and where. */
static char *summary_of(const struct view *v)
{
    if (v->summary)
        return strdup(v->summary);
    char *scope = scope_text(json_object_get(v->line, "scope"));
    struct rw_sb b = {0};
    rw_sb_add(&b, v->rule);
    rw_sb_add(&b, " on ");
    rw_sb_add(&b, scope ? scope : "app-wide");
    free(scope);
    return rw_sb_take(&b);
}

/* One alert of a group: state and rule, summary, numbers, link. */
static char *alert_line_text(const struct view *v)
{
    struct rw_sb b = {0};
    char *rule = clip(v->rule, 200, 1), *sev = clip(v->severity, 32, 1);
    rw_sb_add(&b, v->firing ? ":red_circle: *FIRING*" : ":large_green_circle: *RESOLVED*");
    rw_sb_add(&b, " \xC2\xB7 ");
    rw_sb_add(&b, sev ? sev : "");
    rw_sb_add(&b, " \xC2\xB7 *");
    rw_sb_add(&b, rule ? rule : "");
    rw_sb_add(&b, "*\n");
    free(rule);
    free(sev);
    char *sum = summary_of(v);
    char *sc = sum ? clip(sum, 500, 1) : NULL;
    rw_sb_add(&b, sc ? sc : "");
    free(sum);
    free(sc);
    char obs[64], exp[256], traffic[160];
    fmt_num(obs, sizeof obs, v, "value");
    fmt_expected(exp, sizeof exp, v);
    fmt_traffic(traffic, sizeof traffic, v);
    char *e = clip(exp, 200, 1), *t = clip(traffic, 200, 1), *o = clip(obs, 64, 1);
    rw_sb_add(&b, "\nObserved *");
    rw_sb_add(&b, o ? o : "");
    rw_sb_add(&b, "* \xC2\xB7 expected ");
    rw_sb_add(&b, e ? e : "");
    if (t && *t) {
        rw_sb_add(&b, " \xC2\xB7 traffic ");
        rw_sb_add(&b, t);
    }
    free(e);
    free(t);
    free(o);
    const char *url = rw_json_str(v->am, "generatorURL", NULL);
    if (is_http_url(url) && strlen(url) < 1500) {
        rw_sb_add(&b, " \xC2\xB7 ");
        add_link(&b, url, "details");
    }
    char *raw = rw_sb_take(&b);
    /* Pieces are escaped already; the clip only bounds the whole. A cut
     * inside the link loses the link, never the limit. */
    char *out = raw ? clip(raw, SLACK_ALERT_TEXT_MAX, 0) : NULL;
    free(raw);
    return out;
}

/* ---- the message ------------------------------------------------------------- */

struct msg {
    json_t *top;    /* top-level blocks */
    json_t *blocks; /* attachment blocks */
    int bad;
};

static void add_section(struct msg *m, char *mrkdwn_owned)
{
    push(m->blocks, section_text(mrkdwn_owned, &m->bad), &m->bad);
}

/* A context block of mrkdwn elements (at most 10, Slack's limit). */
static json_t *context_block(char **texts_owned, int n, int *bad)
{
    json_t *ctx = json_object(), *elems = json_array();
    for (int i = 0; i < n; i++)
        push(elems, text_obj("mrkdwn", texts_owned[i], bad), bad);
    put(ctx, "type", json_string("context"), bad);
    put(ctx, "elements", elems, bad);
    return ctx;
}

/* Configured links (+ the alert's own link first, when given). */
static void add_links(struct msg *m, const struct rw_notifier_cfg *cfg, const char *alert_url)
{
    char *texts[RW_NOTIFIER_MAX_LINKS + 1];
    int n = 0;
    if (is_http_url(alert_url) && strlen(alert_url) < 2000) {
        struct rw_sb b = {0};
        add_link(&b, alert_url, "Alert details");
        texts[n++] = rw_sb_take(&b);
    }
    int nl = cfg->nlinks < 0                       ? 0
             : cfg->nlinks > RW_NOTIFIER_MAX_LINKS ? RW_NOTIFIER_MAX_LINKS
                                                   : cfg->nlinks;
    for (int i = 0; i < nl; i++) {
        const struct rw_link_cfg *l = &cfg->links[i];
        char url[sizeof l->url + 1], text[sizeof l->text + 1];
        snprintf(url, sizeof url, "%.*s", (int)strnlen(l->url, sizeof l->url), l->url);
        snprintf(text, sizeof text, "%.*s", (int)strnlen(l->text, sizeof l->text), l->text);
        if (!is_http_url(url))
            continue;
        struct rw_sb b = {0};
        add_link(&b, url, text[0] ? text : url);
        texts[n++] = rw_sb_take(&b);
    }
    if (n)
        push(m->blocks, context_block(texts, n, &m->bad), &m->bad);
}

static void add_header(struct msg *m, const char *status, const char *severity, const char *title)
{
    struct rw_sb h = {0};
    rw_sb_add(&h, status);
    rw_sb_add(&h, " \xC2\xB7 ");
    rw_sb_add(&h, severity);
    rw_sb_add(&h, " \xC2\xB7 ");
    rw_sb_add(&h, title);
    char *hraw = rw_sb_take(&h);
    json_t *header = json_object();
    put(header, "type", json_string("header"), &m->bad);
    put(header, "text",
        text_obj("plain_text", hraw ? clip(hraw, SLACK_HEADER_MAX, 0) : NULL, &m->bad), &m->bad);
    free(hraw);
    push(m->top, header, &m->bad);
}

static void single_alert(struct msg *m, const struct rw_notifier_cfg *cfg, const struct view *v,
                         const char *summary)
{
    add_header(m, v->firing ? "FIRING" : "RESOLVED", v->severity, v->rule);
    add_section(m, summary_text(summary, rw_json_str(v->line, "why", NULL)));

    char obs[64], exp[256], traffic[160], sbuf[64], nbuf[32];
    fmt_num(obs, sizeof obs, v, "value");
    fmt_expected(exp, sizeof exp, v);
    fmt_traffic(traffic, sizeof traffic, v);
    fmt_score(sbuf, sizeof sbuf, v->line);
    double n;
    if (rw_json_num(v->line, "n", &n) && fabs(n) < 1e15)
        snprintf(nbuf, sizeof nbuf, "%.0f", n);
    else
        snprintf(nbuf, sizeof nbuf, "n/a");
    char *scope = scope_text(json_object_get(v->line, "scope"));
    json_t *fields = json_array();
    push(fields, field("Observed", obs, &m->bad), &m->bad);
    push(fields, field("Expected", exp, &m->bad), &m->bad);
    push(fields, field("Affected traffic", traffic[0] ? traffic : "n/a", &m->bad), &m->bad);
    push(fields, field("Score", sbuf, &m->bad), &m->bad);
    push(fields, field("Samples", nbuf, &m->bad), &m->bad);
    push(fields, field("Scope", scope ? scope : "app-wide", &m->bad), &m->bad);
    push(fields, field("Detector", v->det ? v->det : "n/a", &m->bad), &m->bad);
    free(scope);
    json_t *fsec = json_object();
    put(fsec, "type", json_string("section"), &m->bad);
    put(fsec, "fields", fields, &m->bad);
    push(m->blocks, fsec, &m->bad);

    const json_t *children = json_object_get(v->line, "children");
    if (json_array_size(children) > 0)
        add_section(m, children_text(v->line, children, v->metric, v->stat, v->det));
    add_links(m, cfg, rw_json_str(v->am, "generatorURL", NULL));
    char *ctx = context_text(v);
    push(m->blocks, context_block(&ctx, 1, &m->bad), &m->bad);
}

/* "page=/checkout · device=mobile" from an object of strings ("" for none). */
static char *labels_text(const json_t *labels)
{
    struct rw_sb b = {0};
    const char *k;
    json_t *val;
    int first = 1;
    json_object_foreach((json_t *)labels, k, val)
    {
        if (!json_is_string(val))
            continue;
        if (!first)
            rw_sb_add(&b, " \xC2\xB7 ");
        first = 0;
        rw_sb_add(&b, k);
        rw_sb_add(&b, "=");
        rw_sb_addn(&b, json_string_value(val), json_string_length(val));
    }
    return rw_sb_take(&b);
}

static void group_alerts(struct msg *m, const struct rw_notifier_cfg *cfg, const json_t *n,
                         struct view *views, size_t count, size_t hidden, int firing,
                         size_t nfiring, const char *severity, const char *title)
{
    char status[32];
    if (firing)
        snprintf(status, sizeof status, "FIRING:%zu", nfiring);
    else
        snprintf(status, sizeof status, "RESOLVED");
    add_header(m, status, severity, title);

    size_t total = count + hidden;
    size_t nresolved = count - nfiring; /* of the listed ones; hidden counted apart */
    struct rw_sb b = {0};
    rw_sb_printf(&b, "*%zu alerts:* %zu firing, %zu resolved", total, nfiring, nresolved);
    if (hidden)
        rw_sb_printf(&b, ", %zu not listed", hidden);
    char *gl = labels_text(json_object_get(n, "groupLabels"));
    if (gl && *gl) {
        char *glc = clip(gl, 1000, 1);
        rw_sb_add(&b, "\n*Group:* ");
        rw_sb_add(&b, glc ? glc : "");
        free(glc);
    }
    free(gl);
    char *intro = rw_sb_take(&b);
    add_section(m, intro ? clip(intro, SLACK_SECTION_MAX, 0) : NULL);
    free(intro);

    size_t cap = SLACK_GROUP_ALERTS;
    if (cfg->max_alerts > 0 && (size_t)cfg->max_alerts < cap)
        cap = (size_t)cfg->max_alerts;
    size_t shown = count < cap ? count : cap;
    for (size_t i = 0; i < shown; i++)
        add_section(m, alert_line_text(&views[i]));
    size_t more = total - shown;
    if (more) {
        struct rw_sb mb = {0};
        rw_sb_printf(&mb,
                  "\xE2\x80\xA6"
                  "and %zu more",
                  more);
        add_section(m, rw_sb_take(&mb));
    }
    add_links(m, cfg, NULL);

    struct rw_sb cb = {0};
    const char *ext = rw_json_str(n, "externalURL", NULL);
    rw_sb_add(&cb, "rumwatch");
    if (is_http_url(ext) && strlen(ext) < 2000) {
        rw_sb_add(&cb, " \xC2\xB7 ");
        add_link(&cb, ext, "open");
    }
    char *ctx = rw_sb_take(&cb);
    push(m->blocks, context_block(&ctx, 1, &m->bad), &m->bad);
}

static int sev_rank(const char *s)
{
    int r = rw_severity_parse(s);
    return r < 0 ? 1 : r;
}

static int slack_format(const struct rw_notifier_cfg *cfg, const json_t *n, struct rw_http_req *req)
{
    if (!cfg || !req)
        return -EINVAL;
    memset(req, 0, sizeof *req);
    if (!json_is_object(n))
        return -EINVAL;

    const json_t *alerts = json_object_get(n, "alerts");
    size_t count = 0, nfiring = 0;
    size_t total = json_array_size(alerts);
    struct view *views = calloc(total ? total : 1, sizeof *views);
    if (!views)
        return -ENOMEM;
    /* Firing first, each state in the notification's order. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < total; i++) {
            const json_t *a = json_array_get(alerts, i);
            if (!json_is_object(a))
                continue;
            struct view v;
            view_of(a, &v);
            if (v.firing == (pass == 0))
                views[count++] = v;
        }
    int top_sev = -1;
    for (size_t i = 0; i < count; i++)
        if (views[i].firing) {
            nfiring++;
            if (sev_rank(views[i].severity) > top_sev)
                top_sev = sev_rank(views[i].severity);
        }
    json_int_t trunc = json_integer_value(json_object_get(n, "truncatedAlerts"));
    size_t hidden = trunc > 0 ? (size_t)trunc : 0;
    int firing = nfiring > 0 || (count == 0 && strcmp(rw_json_str(n, "status", "firing"), "resolved"));
    if (top_sev < 0) { /* nothing fires: the highest severity listed */
        for (size_t i = 0; i < count; i++)
            if (sev_rank(views[i].severity) > top_sev)
                top_sev = sev_rank(views[i].severity);
        if (top_sev < 0)
            top_sev = 1;
    }
    const char *severity = rw_severity_names[top_sev];
    const char *color = !firing        ? COLOR_RESOLVED
                        : top_sev == 2 ? COLOR_CRITICAL
                        : top_sev == 1 ? COLOR_WARNING
                                       : COLOR_INFO;

    /* Title: the common alertname, else the group labels, else a count. */
    const json_t *common = json_object_get(n, "commonLabels");
    char *gl = labels_text(json_object_get(n, "groupLabels"));
    char title[512];
    const char *alertname = rw_json_str(common, "alertname", NULL);
    if (count == 1 && hidden == 0)
        snprintf(title, sizeof title, "%s", views[0].rule);
    else if (alertname)
        snprintf(title, sizeof title, "%s", alertname);
    else if (gl && *gl)
        snprintf(title, sizeof title, "%s", gl);
    else
        snprintf(title, sizeof title, "%zu alerts", count + hidden);
    free(gl);

    struct msg m = {json_array(), json_array(), 0};
    json_t *root = json_object(), *att = json_object(), *atts = json_array();
    char *first_summary = count ? summary_of(&views[0]) : strdup(title);
    if (!m.top || !m.blocks || !root || !att || !atts || !first_summary) {
        m.bad = 1;
        goto out;
    }

    /* Notification text: what a phone shows. */
    struct rw_sb t = {0};
    rw_sb_add(&t, firing ? ":red_circle: [FIRING" : ":large_green_circle: [RESOLVED");
    if (count + hidden > 1) {
        if (firing)
            rw_sb_printf(&t, ":%zu] ", nfiring);
        else
            rw_sb_add(&t, "] ");
        rw_sb_add(&t, title);
        rw_sb_add(&t, " \xC2\xB7 ");
        rw_sb_add(&t, first_summary);
        rw_sb_printf(&t, " (+%zu more)", count + hidden - 1);
    } else {
        rw_sb_add(&t, "] ");
        rw_sb_add(&t, first_summary);
    }
    char *traw = rw_sb_take(&t);
    char *text = traw ? clip(traw, SLACK_TEXT_MAX, 1) : NULL;
    free(traw);
    put(root, "text", text ? json_string(text) : NULL, &m.bad);

    if (count == 1 && hidden == 0)
        single_alert(&m, cfg, &views[0], first_summary);
    else
        group_alerts(&m, cfg, n, views, count, hidden, firing, nfiring, severity, title);

    put(root, "blocks", m.top, &m.bad);
    m.top = NULL;
    put(att, "color", json_string(color), &m.bad);
    put(att, "fallback", text ? json_string(text) : NULL, &m.bad);
    put(att, "blocks", m.blocks, &m.bad);
    m.blocks = NULL;
    push(atts, att, &m.bad);
    att = NULL;
    put(root, "attachments", atts, &m.bad);
    atts = NULL;
    free(text);

out:;
    int rc = m.bad ? -ENOMEM : rw_notifier_dump_body(root, req);
    if (rc == 0)
        rc = rw_notifier_finish_req(cfg, cfg->url, req);
    if (rc)
        rw_http_req_clear(req);
    json_decref(m.top);
    json_decref(m.blocks);
    json_decref(att);
    json_decref(atts);
    json_decref(root);
    free(first_summary);
    free(views);
    return rc;
}

const struct rw_notifier rw_notifier_slack = {
    .type = "slack",
    .format = slack_format,
    .classify = rw_notifier_classify_http,
};
