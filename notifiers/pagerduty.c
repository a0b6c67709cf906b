/* PagerDuty Events API v2: one event per notification, POSTed to
 * https://events.pagerduty.com/v2/enqueue (the receiver's url overrides it).
 *
 *   firing:   {"routing_key", "event_action": "trigger", "dedup_key",
 *              "payload": {"summary", "source", "severity", "timestamp",
 *                          "component", "group", "class", "custom_details"},
 *              "client": "rumwatch", "client_url", "links"}
 *   resolved: {"routing_key", "event_action": "resolve", "dedup_key"}
 *
 * dedup_key = SHA-256 hex of receiver name + "\n" + groupKey: the same for
 * every message of a group, so the resolve closes the incident the trigger
 * opened, across restarts. summary is clipped to PagerDuty's 1024
 * characters. severity is the highest firing one (critical, warning, info
 * map to themselves; PagerDuty's "error" is not used). custom_details lists
 * up to 50 alerts (or max_alerts) with their evidence, well under the 512 KB
 * event limit.
 *
 * PagerDuty answers 202 when it takes the event, 400 for an invalid one
 * (not retried), 429 and 5xx when it wants a retry: the shared
 * classification.
 */
#include "notifiers/notifier.h"
#include "notifiers/text.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notifiers/alertmodel.h"
#include "notifiers/sign.h"

#define PD_SUMMARY_MAX 1024
#define PD_DETAIL_ALERTS 50
#define PD_MAX_LINKS 10
#define PD_LINK_TEXT_MAX 100

static void put(json_t *obj, const char *key, json_t *v, int *bad)
{
    if (json_object_set_new(obj, key, v))
        *bad = 1;
}


/* At most max code points of s, ending in "…" when cut. s is valid UTF-8
 * (it came through jansson). malloc'd, NULL on OOM. */
static char *clip(const char *s, size_t max)
{
    size_t chars = 0, i = 0, cut = 0, n = strlen(s);
    for (; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) == 0x80)
            continue;
        if (chars == max - 1)
            cut = i; /* room for the ellipsis */
        if (chars == max)
            break;
        chars++;
    }
    if (i >= n) /* fits */
        return strdup(s);
    char *out = malloc(cut + 4);
    if (!out)
        return NULL;
    memcpy(out, s, cut);
    memcpy(out + cut, "\xE2\x80\xA6", 4);
    return out;
}

static int is_firing(const json_t *a)
{
    const char *st = json_string_value(json_object_get(a, "status"));
    return !st || strcmp(st, "resolved") != 0;
}

static json_t *detail_of(const json_t *a, int *bad)
{
    json_t *d = json_object();
    if (!d) {
        *bad = 1;
        return NULL;
    }
    static const char *const copy[] = {"status",      "labels",   "startsAt", "endsAt",
                                       "value",       "expected", "evidence", "generatorURL",
                                       "fingerprint", NULL};
    const json_t *ann = json_object_get(a, "annotations");
    for (int k = 0; copy[k]; k++) {
        const json_t *v = json_object_get(a, copy[k]);
        if (v)
            put(d, copy[k], json_deep_copy(v), bad);
        if (k == 1) { /* after labels: the words */
            const char *s = rw_json_str(ann, "summary", NULL), *desc = rw_json_str(ann, "description", NULL);
            if (s)
                put(d, "summary", json_string(s), bad);
            if (desc)
                put(d, "description", json_string(desc), bad);
        }
    }
    return d;
}

static void add_link(json_t *links, const char *href, const char *text, int *bad)
{
    if (!href || (strncmp(href, "https://", 8) && strncmp(href, "http://", 7)) ||
        json_array_size(links) >= PD_MAX_LINKS)
        return;
    json_t *l = json_object();
    char *t = clip(text && *text ? text : href, PD_LINK_TEXT_MAX);
    put(l, "href", json_string(href), bad);
    put(l, "text", t ? json_string(t) : NULL, bad);
    free(t);
    if (json_array_append_new(links, l))
        *bad = 1;
}

static int pd_format(const struct rw_notifier_cfg *cfg, const json_t *n, struct rw_http_req *req)
{
    if (!cfg || !req)
        return -EINVAL;
    memset(req, 0, sizeof *req);
    size_t klen = strnlen(cfg->routing_key, sizeof cfg->routing_key);
    if (!json_is_object(n) || klen == 0 || klen == sizeof cfg->routing_key)
        return -EINVAL;

    int bad = 0;
    const json_t *alerts = json_object_get(n, "alerts");
    const json_t *common = json_object_get(n, "commonLabels");
    size_t nalerts = json_array_size(alerts), nfiring = 0;
    const json_t *first_firing = NULL;
    const char *earliest = NULL;
    int top_sev = -1;
    for (size_t i = 0; i < nalerts; i++) {
        const json_t *a = json_array_get(alerts, i);
        if (!json_is_object(a) || !is_firing(a))
            continue;
        nfiring++;
        if (!first_firing)
            first_firing = a;
        int sev = rw_severity_parse(rw_json_str(json_object_get(a, "labels"), "severity", NULL));
        if (sev < 0)
            sev = 1;
        if (sev > top_sev)
            top_sev = sev;
        /* Same fixed-width RFC 3339 form everywhere: text order = time order. */
        const char *s = rw_json_str(a, "startsAt", NULL);
        if (s && strcmp(s, RW_AM_ZERO_TIME) && (!earliest || strcmp(s, earliest) < 0))
            earliest = s;
    }
    const char *status = rw_json_str(n, "status", nfiring ? "firing" : "resolved");
    int trigger = nfiring > 0 || (nalerts == 0 && strcmp(status, "resolved") != 0);

    /* dedup_key: receiver + group, hashed (PagerDuty allows 255 chars). */
    char dedup[65];
    {
        const char *gk = rw_json_str(n, "groupKey", "");
        size_t nl = strnlen(cfg->name, sizeof cfg->name), gl = strlen(gk);
        char *buf = malloc(nl + 1 + gl + 1);
        if (!buf)
            return -ENOMEM;
        memcpy(buf, cfg->name, nl);
        buf[nl] = '\n';
        memcpy(buf + nl + 1, gk, gl);
        rw_sign_sha256_hex(buf, nl + 1 + gl, dedup);
        free(buf);
    }

    json_t *root = json_object();
    if (!root)
        return -ENOMEM;
    put(root, "routing_key", json_stringn(cfg->routing_key, klen), &bad);
    put(root, "event_action", json_string(trigger ? "trigger" : "resolve"), &bad);
    put(root, "dedup_key", json_string(dedup), &bad);

    if (trigger) {
        const json_t *fa = first_firing ? first_firing : json_array_get(alerts, 0);
        const char *alertname = rw_json_str(common, "alertname", NULL);
        const char *first_sum =
            rw_json_str(json_object_get(fa, "annotations"), "summary",
                   rw_json_str(json_object_get(fa, "labels"), "alertname", "rumwatch alert"));
        char *sum = NULL;
        size_t slen = 0;
        FILE *f = open_memstream(&sum, &slen);
        if (!f) {
            json_decref(root);
            return -ENOMEM;
        }
        if (nalerts > 1) {
            /* What the group is: its alertname, else its group labels. */
            fprintf(f, "[FIRING:%zu] ", nfiring);
            if (alertname) {
                fprintf(f, "%s: ", alertname);
            } else {
                const char *k;
                json_t *v;
                const char *sep = "";
                json_object_foreach(json_object_get(n, "groupLabels"), k, v)
                {
                    if (json_is_string(v)) {
                        fprintf(f, "%s%s=%s", sep, k, json_string_value(v));
                        sep = ", ";
                    }
                }
                if (*sep)
                    fputs(": ", f);
            }
            fprintf(f, "%s (+%zu more)", first_sum, nalerts - 1);
        } else
            fprintf(f, "%s", first_sum);
        if (fclose(f) != 0) {
            free(sum);
            json_decref(root);
            return -ENOMEM;
        }
        char *summary = clip(sum, PD_SUMMARY_MAX);
        free(sum);

        json_t *payload = json_object();
        put(payload, "summary", summary ? json_string(summary) : NULL, &bad);
        free(summary);
        put(payload, "source", json_string(rw_json_str(common, "app", "rumwatch")), &bad);
        put(payload, "severity", json_string(rw_severity_names[top_sev < 0 ? 1 : top_sev]), &bad);
        if (earliest)
            put(payload, "timestamp", json_string(earliest), &bad);
        const char *page = rw_json_str(common, "page", NULL);
        if (page)
            put(payload, "component", json_string(page), &bad);
        if (alertname)
            put(payload, "group", json_string(alertname), &bad);
        const char *metric = rw_json_str(common, "metric", NULL), *stat = rw_json_str(common, "stat", NULL);
        if (metric) {
            char cls[160];
            snprintf(cls, sizeof cls, "%s%s%s", metric, stat ? " " : "", stat ? stat : "");
            put(payload, "class", json_string(cls), &bad);
        }

        json_t *details = json_object(), *list = json_array();
        size_t cap = PD_DETAIL_ALERTS;
        if (cfg->max_alerts > 0 && (size_t)cfg->max_alerts < cap)
            cap = (size_t)cfg->max_alerts;
        /* Firing ones first: they are what the incident is about. */
        for (int pass = 0; pass < 2; pass++)
            for (size_t i = 0; i < nalerts; i++) {
                const json_t *a = json_array_get(alerts, i);
                if (!json_is_object(a) || is_firing(a) != (pass == 0) ||
                    json_array_size(list) >= cap)
                    continue;
                if (json_array_append_new(list, detail_of(a, &bad)))
                    bad = 1;
            }
        json_int_t trunc = json_integer_value(json_object_get(n, "truncatedAlerts"));
        size_t not_listed = nalerts - json_array_size(list) + (trunc > 0 ? (size_t)trunc : 0);
        put(details, "firing", json_integer((json_int_t)nfiring), &bad);
        put(details, "resolved", json_integer((json_int_t)(nalerts - nfiring)), &bad);
        put(details, "not_listed", json_integer((json_int_t)not_listed), &bad);
        const json_t *gl = json_object_get(n, "groupLabels");
        put(details, "groupLabels", json_is_object(gl) ? json_deep_copy(gl) : json_object(), &bad);
        put(details, "alerts", list, &bad);
        put(payload, "custom_details", details, &bad);
        put(root, "payload", payload, &bad);

        put(root, "client", json_string("rumwatch"), &bad);
        const char *ext = rw_json_str(n, "externalURL", NULL);
        if (ext && (!strncmp(ext, "https://", 8) || !strncmp(ext, "http://", 7)))
            put(root, "client_url", json_string(ext), &bad);
        json_t *links = json_array();
        int nl = cfg->nlinks < 0                       ? 0
                 : cfg->nlinks > RW_NOTIFIER_MAX_LINKS ? RW_NOTIFIER_MAX_LINKS
                                                       : cfg->nlinks;
        for (int i = 0; i < nl; i++) {
            char url[sizeof cfg->links[i].url + 1], text[sizeof cfg->links[i].text + 1];
            snprintf(url, sizeof url, "%.*s",
                     (int)strnlen(cfg->links[i].url, sizeof cfg->links[i].url), cfg->links[i].url);
            snprintf(text, sizeof text, "%.*s",
                     (int)strnlen(cfg->links[i].text, sizeof cfg->links[i].text),
                     cfg->links[i].text);
            add_link(links, url, text, &bad);
        }
        for (size_t i = 0; i < nalerts && links; i++) {
            const json_t *a = json_array_get(alerts, i);
            if (is_firing(a))
                add_link(links, rw_json_str(a, "generatorURL", NULL),
                         rw_json_str(json_object_get(a, "annotations"), "summary", "alert"), &bad);
        }
        if (json_array_size(links))
            put(root, "links", links, &bad);
        else
            json_decref(links);
    }

    char url[RW_URL_MAX + 1];
    snprintf(url, sizeof url, "%.*s", (int)strnlen(cfg->url, sizeof cfg->url), cfg->url);
    int rc = bad ? -ENOMEM : rw_notifier_dump_body(root, req);
    if (rc == 0)
        rc = rw_notifier_finish_req(cfg, url[0] ? url : RW_PAGERDUTY_URL, req);
    json_decref(root);
    if (rc)
        rw_http_req_clear(req);
    return rc;
}

const struct rw_notifier rw_notifier_pagerduty = {
    .type = "pagerduty",
    .format = pd_format,
    .classify = rw_notifier_classify_http,
};
