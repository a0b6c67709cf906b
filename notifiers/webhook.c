/* Generic JSON webhook: POSTs
 *   {"version":"rumwatch.v1","receiver":<cfg name>,"status":"firing"|"resolved",
 *    "alert":<the alert line object, unchanged, children included>}
 * The alert is deep-copied so the caller's object is never touched (it is
 * borrowed and const). "status" is "resolved" only when the alert says so;
 * anything else (missing, odd) is reported as "firing".
 */
#include "notifiers/notifier.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define WEBHOOK_VERSION "rumwatch.v1"

/* Serialise into a buffer we malloc ourselves so rw_http_req_clear's free()
 * matches whatever allocator jansson was configured with. 15 significant
 * digits: the alert line's numbers (6 digits) come out exactly as they went
 * in, instead of jansson's default 17 ("5.2000000000000002"). */
#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))
static int dump_body(const json_t *root, struct rw_http_req *req)
{
    size_t need = json_dumpb(root, NULL, 0, DUMP_FLAGS);
    if (need == 0)
        return -EINVAL;
    char *buf = malloc(need + 1);
    if (!buf)
        return -ENOMEM;
    size_t got = json_dumpb(root, buf, need, DUMP_FLAGS);
    if (got != need) {
        free(buf);
        return -EINVAL;
    }
    buf[need] = '\0';
    req->body = buf;
    req->body_len = need;
    return 0;
}

static int webhook_format(const struct rw_notifier_cfg *cfg, const json_t *alert,
                          struct rw_http_req *req)
{
    if (!cfg || !req)
        return -EINVAL;
    memset(req, 0, sizeof *req);
    if (!json_is_object(alert))
        return -EINVAL;

    const char *state = json_string_value(json_object_get(alert, "state"));
    const char *status = (state && strcmp(state, "resolved") == 0) ? "resolved" : "firing";

    json_t *copy = json_deep_copy(alert);
    json_t *root = json_object();
    int rc = -ENOMEM;
    if (!copy || !root)
        goto fail;
    /* cfg->name is a fixed array; bound the read even if unterminated. */
    json_t *receiver = json_stringn(cfg->name, strnlen(cfg->name, sizeof cfg->name));
    if (!receiver)
        receiver = json_string("");
    if (json_object_set_new(root, "version", json_string(WEBHOOK_VERSION)) ||
        json_object_set_new(root, "receiver", receiver) ||
        json_object_set_new(root, "status", json_string(status)))
        goto fail;
    rc = json_object_set_new(root, "alert", copy);
    copy = NULL; /* stolen, even on failure */
    if (rc) {
        rc = -ENOMEM;
        goto fail;
    }
    rc = dump_body(root, req);
    if (rc)
        goto fail;
    req->url = cfg->url;
    req->content_type = "application/json";
    json_decref(root);
    return 0;
fail:
    json_decref(copy);
    json_decref(root);
    rw_http_req_clear(req);
    return rc;
}

const struct rw_notifier rw_notifier_webhook = {
    .type = "webhook",
    .format = webhook_format,
    .classify = rw_notifier_classify_http,
};
