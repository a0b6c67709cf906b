/* Shared notifier pieces: severity names, the notifier registry, request
 * cleanup and the one HTTP classification every receiver uses.
 *
 * Classification is deliberately conservative about duplicates: once a
 * receiver has answered 2xx the alert counts as delivered even if the
 * transfer then failed while reading the rest of the response, because a
 * retry would post the same alert twice.
 */
#include "notifiers/notifier.h"

#include <curl/curl.h>
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
    free(req->body);
    req->url = NULL;
    req->content_type = NULL;
    req->body = NULL;
    req->body_len = 0;
}

static const struct rw_notifier *const notifiers[] = {&rw_notifier_webhook, &rw_notifier_slack,
                                                      NULL};

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
