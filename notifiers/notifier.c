/* Shared notifier pieces: severity names, the notifier registry, requests
 * (body, url, headers) and the one HTTP classification every receiver uses.
 *
 * Classification is deliberately conservative about duplicates: once a
 * receiver has answered 2xx the alert counts as delivered even if the
 * transfer then failed while reading the rest of the response, because a
 * retry would post the same alert twice.
 */
#include "notifiers/notifier.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const rw_severity_names[] = {"info", "warning", "critical", NULL};

int rw_severity_parse(const char *s)
{
    if (!s)
        return -1;
    for (int i = 0; rw_severity_names[i]; i++)
        if (strcmp(rw_severity_names[i], s) == 0)
            return i;
    return -1;
}

void rw_http_req_clear(struct rw_http_req *req)
{
    if (!req)
        return;
    free(req->url);
    free(req->body);
    for (int i = 0; i < req->nheaders && i < RW_HTTP_MAX_HEADERS; i++)
        free(req->headers[i]);
    memset(req, 0, sizeof *req);
}

/* RFC 9110 token characters: what a header name may be made of. */
static int is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

int rw_http_req_add_header(struct rw_http_req *req, const char *name, const char *value)
{
    if (!req || !name || !*name || !value)
        return -EINVAL;
    for (const char *p = name; *p; p++)
        if (!is_tchar((unsigned char)*p))
            return -EINVAL;
    /* CR or LF would let a value start a header of its own. */
    if (strpbrk(value, "\r\n"))
        return -EINVAL;
    if (req->nheaders < 0 || req->nheaders >= RW_HTTP_MAX_HEADERS)
        return -ENOSPC;
    size_t n = strlen(name) + 2 + strlen(value) + 1;
    char *h = malloc(n);
    if (!h)
        return -ENOMEM;
    snprintf(h, n, "%s: %s", name, value);
    req->headers[req->nheaders++] = h;
    return 0;
}

static const struct rw_notifier *const notifiers[] = {&rw_notifier_webhook, &rw_notifier_slack,
                                                      &rw_notifier_alertmanager,
                                                      &rw_notifier_pagerduty, NULL};

const char rw_notifier_type_list[] = "webhook, slack, alertmanager, pagerduty";

const struct rw_notifier *rw_notifier_find(const char *type)
{
    if (!type)
        return NULL;
    for (int i = 0; notifiers[i]; i++)
        if (strcmp(notifiers[i]->type, type) == 0)
            return notifiers[i];
    return NULL;
}

enum rw_delivery_class rw_notifier_classify_http(long http_status, int curl_code)
{
    if (http_status >= 200 && http_status <= 299)
        return RW_DELIVERY_OK;
    /* A URL curl cannot parse or a scheme it will not speak stays broken. */
    if (curl_code == CURLE_URL_MALFORMAT || curl_code == CURLE_UNSUPPORTED_PROTOCOL)
        return RW_DELIVERY_FAIL;
    /* A status line arrived: it decides, whatever happened to the body
     * (a 404 with a cut body is still a 404). */
    if (http_status != 0)
        return (http_status == 408 || http_status == 429 ||
                (http_status >= 500 && http_status <= 599))
                   ? RW_DELIVERY_RETRY
                   : RW_DELIVERY_FAIL;
    /* No answer: refused, reset, timed out, DNS... */
    return RW_DELIVERY_RETRY;
}

/* Serialise into a buffer we malloc ourselves so rw_http_req_clear's free()
 * matches whatever allocator jansson was configured with. 15 significant
 * digits: the alert line's numbers (6 digits) come out exactly as they went
 * in, instead of jansson's default 17 ("5.2000000000000002"). */
#define DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))
int rw_notifier_dump_body(const json_t *root, struct rw_http_req *req)
{
    size_t need = json_dumpb(root, NULL, 0, DUMP_FLAGS);
    if (need == 0)
        return -EINVAL;
    char *buf = malloc(need + 1);
    if (!buf)
        return -ENOMEM;
    if (json_dumpb(root, buf, need, DUMP_FLAGS) != need) {
        free(buf);
        return -EINVAL;
    }
    buf[need] = '\0';
    free(req->body);
    req->body = buf;
    req->body_len = need;
    return 0;
}

int rw_notifier_finish_req(const struct rw_notifier_cfg *cfg, const char *url,
                           struct rw_http_req *req)
{
    char *u = strdup(url ? url : "");
    if (!u)
        return -ENOMEM;
    free(req->url);
    req->url = u;
    req->content_type = "application/json";
    int n = cfg->nheaders < 0 ? 0 : cfg->nheaders;
    if (n > RW_NOTIFIER_MAX_HEADERS)
        n = RW_NOTIFIER_MAX_HEADERS;
    for (int i = 0; i < n; i++) {
        const struct rw_header_cfg *h = &cfg->headers[i];
        /* The arrays are fixed-size: bound the reads even if unterminated. */
        char name[sizeof h->name + 1], value[sizeof h->value + 1];
        snprintf(name, sizeof name, "%.*s", (int)strnlen(h->name, sizeof h->name), h->name);
        snprintf(value, sizeof value, "%.*s", (int)strnlen(h->value, sizeof h->value), h->value);
        int rc = rw_http_req_add_header(req, name, value);
        if (rc)
            return rc;
    }
    return 0;
}
