/* Webhook: Alertmanager's webhook body, version "4", so existing
 * Alertmanager webhook consumers work unchanged:
 *   {"receiver", "status", "alerts": [{"status", "labels", "annotations",
 *     "startsAt", "endsAt", "generatorURL", "fingerprint", "evidence"}],
 *    "groupLabels", "commonLabels", "commonAnnotations", "externalURL",
 *    "version": "4", "groupKey", "truncatedAlerts"}
 * "evidence" (rumwatch's numbers, docs/schema.md) is the one addition;
 * JSON readers ignore members they do not know.
 *
 * max_alerts > 0 keeps the first max_alerts alerts and adds the rest to
 * truncatedAlerts, as Alertmanager's own max_alerts does.
 */
#include "notifiers/notifier.h"

#include <errno.h>
#include <string.h>

#define WEBHOOK_VERSION "4"

static const char *const alert_fields[] = {"status",      "labels",   "annotations",
                                           "startsAt",    "endsAt",   "generatorURL",
                                           "fingerprint", "evidence", NULL};

/* Copy of member `key` of n, or `def` (a new reference) when it is missing. */
static json_t *copy_or(const json_t *n, const char *key, json_t *def)
{
    const json_t *v = json_object_get(n, key);
    if (v) {
        json_decref(def);
        return json_deep_copy(v);
    }
    return def;
}

static void put(json_t *obj, const char *key, json_t *v, int *bad)
{
    if (json_object_set_new(obj, key, v))
        *bad = 1;
}

static int webhook_format(const struct rw_notifier_cfg *cfg, const json_t *n,
                          struct rw_http_req *req)
{
    if (!cfg || !req)
        return -EINVAL;
    memset(req, 0, sizeof *req);
    if (!json_is_object(n))
        return -EINVAL;

    int bad = 0;
    json_t *root = json_object(), *alerts = json_array();
    if (!root || !alerts) {
        json_decref(root);
        json_decref(alerts);
        return -ENOMEM;
    }
    const json_t *in = json_object_get(n, "alerts");
    size_t total = json_array_size(in), keep = total;
    if (cfg->max_alerts > 0 && (size_t)cfg->max_alerts < total)
        keep = (size_t)cfg->max_alerts;
    for (size_t i = 0; i < keep; i++) {
        const json_t *a = json_array_get(in, i);
        json_t *o = json_object();
        if (!o) {
            bad = 1;
            break;
        }
        for (int k = 0; alert_fields[k]; k++) {
            const json_t *v = json_object_get(a, alert_fields[k]);
            if (v)
                put(o, alert_fields[k], json_deep_copy(v), &bad);
        }
        if (json_array_append_new(alerts, o))
            bad = 1;
    }
    json_int_t truncated = json_integer_value(json_object_get(n, "truncatedAlerts"));
    if (truncated < 0)
        truncated = 0;
    truncated += (json_int_t)(total - keep);

    /* cfg->name is a fixed array; bound the read even if unterminated. */
    put(root, "receiver", json_stringn(cfg->name, strnlen(cfg->name, sizeof cfg->name)), &bad);
    const char *st = json_string_value(json_object_get(n, "status"));
    put(root, "status", json_string(st && strcmp(st, "resolved") == 0 ? "resolved" : "firing"),
        &bad);
    put(root, "alerts", alerts, &bad);
    put(root, "groupLabels", copy_or(n, "groupLabels", json_object()), &bad);
    put(root, "commonLabels", copy_or(n, "commonLabels", json_object()), &bad);
    put(root, "commonAnnotations", copy_or(n, "commonAnnotations", json_object()), &bad);
    put(root, "externalURL", copy_or(n, "externalURL", json_string("")), &bad);
    put(root, "version", json_string(WEBHOOK_VERSION), &bad);
    put(root, "groupKey", copy_or(n, "groupKey", json_string("")), &bad);
    put(root, "truncatedAlerts", json_integer(truncated), &bad);

    int rc = bad ? -ENOMEM : rw_notifier_dump_body(root, req);
    if (rc == 0)
        rc = rw_notifier_finish_req(cfg, cfg->url, req);
    json_decref(root);
    if (rc)
        rw_http_req_clear(req);
    return rc;
}

const struct rw_notifier rw_notifier_webhook = {
    .type = "webhook",
    .format = webhook_format,
    .classify = rw_notifier_classify_http,
};
