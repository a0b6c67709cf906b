/* Alertmanager receiver: pushes the notification's alerts into an existing
 * Alertmanager with POST <url>/api/v2/alerts, body a JSON array of
 * postable alerts {labels, annotations, startsAt, endsAt, generatorURL}.
 *
 * Alertmanager resolves an alert by itself once endsAt has passed, so:
 *   - firing alerts carry endsAt = now + 4 x resend_interval (what
 *     Prometheus does), and the delivery side must re-post every firing
 *     alert every resend_interval (default 60 s) while it fires;
 *   - resolved alerts carry endsAt = the resolution time.
 * "now" is the notification's "sendTime" (epoch ms) when present, else the
 * wall clock: a retried request must be formatted again, not replayed.
 *
 * Alertmanager refuses the whole batch (400) if one label name is not
 * [a-zA-Z_][a-zA-Z0-9_]*, so names are made valid here: other characters
 * become '_', a leading digit gets a '_' in front; the first of two names
 * that end up equal wins. Empty values are left out (in Alertmanager an empty
 * label is no label). max_alerts is not applied: an alert left out would
 * expire there and look resolved.
 */
#include "notifiers/notifier.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/log.h"
#include "notifiers/alertmodel.h"

#define API_PATH "/api/v2/alerts"
#define DEFAULT_RESEND_S 60.0

static void put(json_t *obj, const char *key, json_t *v, int *bad)
{
    if (json_object_set_new(obj, key, v))
        *bad = 1;
}

/* Copy an object of strings with Prometheus-valid names. */
static json_t *valid_set(const json_t *in, int *bad)
{
    json_t *out = json_object();
    if (!out) {
        *bad = 1;
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)in, k, v)
    {
        if (!json_is_string(v) || json_string_length(v) == 0 || !*k)
            continue;
        char name[256];
        size_t o = 0;
        if (*k >= '0' && *k <= '9')
            name[o++] = '_';
        for (const char *p = k; *p && o + 1 < sizeof name; p++) {
            char c = *p;
            int ok = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                     (c >= '0' && c <= '9');
            name[o++] = ok ? c : '_';
        }
        name[o] = '\0';
        if (json_object_get(out, name))
            continue;
        put(out, name, json_stringn(json_string_value(v), json_string_length(v)), bad);
    }
    return out;
}

static int is_set(const char *t)
{
    return t && *t && strcmp(t, RW_AM_ZERO_TIME) != 0;
}

static int am_format(const struct rw_notifier_cfg *cfg, const json_t *n, struct rw_http_req *req)
{
    if (!cfg || !req)
        return -EINVAL;
    memset(req, 0, sizeof *req);
    if (!json_is_object(n))
        return -EINVAL;

    double now_ms;
    const json_t *st = json_object_get(n, "sendTime");
    now_ms = json_is_number(st) && isfinite(json_number_value(st)) ? json_number_value(st)
                                                                   : (double)rw_wall_ms();
    double resend = cfg->resend_interval > 0 ? cfg->resend_interval : DEFAULT_RESEND_S;
    char now_s[RW_AM_TIME_MAX], ends_s[RW_AM_TIME_MAX];
    rw_am_time(now_s, sizeof now_s, now_ms);
    rw_am_time(ends_s, sizeof ends_s, now_ms + 4.0 * resend * 1000.0);

    int bad = 0;
    json_t *arr = json_array();
    if (!arr)
        return -ENOMEM;
    size_t i;
    const json_t *a;
    json_array_foreach(json_object_get(n, "alerts"), i, a)
    {
        if (!json_is_object(a))
            continue;
        json_t *o = json_object();
        if (!o) {
            bad = 1;
            break;
        }
        put(o, "labels", valid_set(json_object_get(a, "labels"), &bad), &bad);
        put(o, "annotations", valid_set(json_object_get(a, "annotations"), &bad), &bad);
        const char *starts = json_string_value(json_object_get(a, "startsAt"));
        const char *ends = json_string_value(json_object_get(a, "endsAt"));
        const char *status = json_string_value(json_object_get(a, "status"));
        int resolved = status && strcmp(status, "resolved") == 0;
        if (is_set(starts))
            put(o, "startsAt", json_string(starts), &bad);
        if (resolved)
            put(o, "endsAt", json_string(is_set(ends) ? ends : now_s), &bad);
        else
            put(o, "endsAt", json_string(ends_s), &bad);
        const char *gen = json_string_value(json_object_get(a, "generatorURL"));
        if (gen && *gen)
            put(o, "generatorURL", json_string(gen), &bad);
        if (json_array_append_new(arr, o))
            bad = 1;
    }

    char url[RW_URL_MAX + sizeof API_PATH];
    size_t ul = strnlen(cfg->url, sizeof cfg->url);
    while (ul > 0 && cfg->url[ul - 1] == '/')
        ul--;
    snprintf(url, sizeof url, "%.*s%s", (int)ul, cfg->url, API_PATH);

    int rc = bad ? -ENOMEM : rw_notifier_dump_body(arr, req);
    if (rc == 0)
        rc = rw_notifier_finish_req(cfg, url, req);
    json_decref(arr);
    if (rc)
        rw_http_req_clear(req);
    return rc;
}

const struct rw_notifier rw_notifier_alertmanager = {
    .type = "alertmanager",
    .format = am_format,
    .classify = rw_notifier_classify_http,
};
